// Status codes: how every fallible C++ function reports failure. The scoring
// path never throws; the Python binding turns a non-ok Status into an
// exception that carries the message.
#pragma once

#include <string>
#include <utility>

namespace ebgan {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument = 1,  // the caller passed something unusable
  kInvalidModel = 2,     // a model file is damaged or not a model file
  kUnsupported = 3,      // a valid file this build cannot run (newer, other precision)
  kIoError = 4,          // the file could not be read
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace ebgan
