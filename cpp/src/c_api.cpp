// The C API over ebgan::Engine. No exception crosses this boundary.
#include <cstring>
#include <new>
#include <string>

#include "ebgan/ebgan.h"
#include "ebgan/engine.h"

struct ebgan_model {
  std::unique_ptr<ebgan::Engine> engine;
};

namespace {

int Report(const ebgan::Status& s, char* error, size_t error_size) {
  if (error && error_size > 0) {
    const std::string& m = s.message();
    const size_t n = std::min(m.size(), error_size - 1);
    std::memcpy(error, m.data(), n);
    error[n] = '\0';
  }
  return int(s.code());
}

int Finish(const ebgan::ModelData& data, const char* kernel, ebgan_model** out, char* error,
           size_t error_size) {
  auto* model = new (std::nothrow) ebgan_model();
  if (!model)
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  ebgan::Status s = ebgan::Engine::Create(data, kernel ? kernel : "", &model->engine);
  if (!s.ok()) {
    delete model;
    return Report(s, error, error_size);
  }
  *out = model;
  return EBGAN_OK;
}

}  // namespace

extern "C" {

int ebgan_load_file(const char* path, const char* kernel, ebgan_model** out, char* error,
                    size_t error_size) {
  if (!path || !out)
    return Report({ebgan::StatusCode::kInvalidArgument, "path and out must not be null"}, error,
                  error_size);
  *out = nullptr;
  try {
    ebgan::ModelData data;
    ebgan::Status s = ebgan::ReadModelFile(path, &data);
    if (!s.ok()) return Report(s, error, error_size);
    return Finish(data, kernel, out, error, error_size);
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

int ebgan_load_buffer(const void* data, size_t size, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size) {
  if (!data || !out)
    return Report({ebgan::StatusCode::kInvalidArgument, "data and out must not be null"}, error,
                  error_size);
  *out = nullptr;
  try {
    ebgan::ModelData model;
    ebgan::Status s = ebgan::ReadModel(static_cast<const uint8_t*>(data), size, &model);
    if (!s.ok()) return Report(s, error, error_size);
    return Finish(model, kernel, out, error, error_size);
  } catch (const std::bad_alloc&) {
    return Report({ebgan::StatusCode::kInvalidArgument, "out of memory"}, error, error_size);
  }
}

int ebgan_score(const ebgan_model* model, const float* input, size_t rows, float* scores,
                char* error, size_t error_size) {
  if (!model || (rows > 0 && (!input || !scores)))
    return Report({ebgan::StatusCode::kInvalidArgument, "model, input and scores must not be null"},
                  error, error_size);
  size_t row, column;
  if (ebgan::FindNonFinite(input, rows, &row, &column)) {
    return Report({ebgan::StatusCode::kInvalidArgument, "input has a non-finite value at row " +
                                                            std::to_string(row) + ", column " +
                                                            std::to_string(column)},
                  error, error_size);
  }
  model->engine->Score(input, rows, scores, nullptr);
  return EBGAN_OK;
}

float ebgan_threshold(const ebgan_model* model) {
  return model ? model->engine->model().threshold : 0.0f;
}

const char* ebgan_kernel(const ebgan_model* model) {
  return model ? ebgan::IsaName(model->engine->isa()) : "";
}

void ebgan_free(ebgan_model* model) {
  delete model;
}

}  // extern "C"
