#include "ebgan/records.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace ebgan {
namespace {

constexpr int kCategoricalFields[kCategoricalCount] = {kProtocolTypeField, kServiceField,
                                                       kFlagField};
constexpr int kVocabularySizes[kCategoricalCount] = {kProtocolTypeCount, kServiceCount, kFlagCount};
const char* const* const kVocabularies[kCategoricalCount] = {kProtocolTypes, kServices, kFlags};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The numeric feature index of each raw field, or -1 (categorical, dropped,
// label, difficulty).
constexpr std::array<int, kRawFieldCount> NumericSlots() {
  std::array<int, kRawFieldCount> slots{};
  for (int& s : slots) s = -1;
  for (int i = 0; i < kNumericFeatureCount; ++i) slots[kNumericFeatureFields[i]] = i;
  return slots;
}
constexpr std::array<int, kRawFieldCount> kNumericSlot = NumericSlots();

bool PrintableAscii(std::string_view s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// A field for an error message: long values are cut (a 10 MB field should
// not become a 10 MB message) and bytes outside printable ASCII are escaped,
// so the message is valid UTF-8 whatever the input held.
std::string Quoted(std::string_view s) {
  constexpr size_t kShown = 40;
  std::string out = "'";
  for (char c : s.substr(0, kShown)) {
    if (c >= 0x20 && c <= 0x7e && c != '\\') {
      out += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", unsigned(uint8_t(c)));
      out += escaped;
    }
  }
  out += s.size() > kShown ? "...'" : "'";
  return out;
}

bool ParseNumber(std::string_view text, double* value, std::string* problem) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *value);
  if (s.empty() || ec == std::errc::invalid_argument || ptr != end) {
    *problem = Quoted(text) + " is not a number";
    return false;
  }
  if (ec == std::errc::result_out_of_range || !std::isfinite(*value)) {
    *problem = Quoted(text) + " is not a finite number";
    return false;
  }
  if (*value < 0) {
    *problem = "negative value " + Quoted(text);
    return false;
  }
  return true;
}

}  // namespace

int CategoryIndex(int categorical, std::string_view value) {
  for (int i = 0; i < kVocabularySizes[categorical]; ++i)
    if (value == kVocabularies[categorical][i]) return i;
  return -1;
}

namespace {

constexpr int kMaxFields = 43;

// Parses one non-blank line into record `out->rows`, or fills `issue` and
// returns false, leaving `out` as it was.
bool ParseRecord(std::string_view record, uint64_t line, ParsedRecords* out, RecordIssue* issue) {
  auto fail = [&](int field, std::string problem) {
    *issue = RecordIssue{line, field, std::move(problem)};
    return false;
  };

  std::string_view fields[kMaxFields + 1];
  int count = 0;
  size_t start = 0;
  while (true) {
    const size_t comma = record.find(',', start);
    if (count <= kMaxFields) fields[count] = record.substr(start, comma - start);
    ++count;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (count < 41 || count > kMaxFields)
    return fail(-1, "has " + std::to_string(count) + " fields, expected 41, 42 or 43");
  if (out->fields != 0 && count != out->fields) {
    return fail(-1, "has " + std::to_string(count) + " fields, earlier rows had " +
                        std::to_string(out->fields));
  }

  // Everything is checked before anything is stored, so a refused record
  // leaves `out` holding whole records only.
  double numeric[kNumericFeatureCount];
  std::string problem;
  for (int f = 0; f < kRawFieldCount; ++f) {
    if (f == kProtocolTypeField || f == kServiceField || f == kFlagField) continue;
    double value;
    if (!ParseNumber(fields[f], &value, &problem)) return fail(f, problem);
    if (kNumericSlot[f] >= 0) numeric[kNumericSlot[f]] = value;
  }
  std::string_view categories[kCategoricalCount];
  for (int c = 0; c < kCategoricalCount; ++c) {
    const std::string_view value = Trim(fields[kCategoricalFields[c]]);
    if (value.empty()) return fail(kCategoricalFields[c], "is empty");
    if (!PrintableAscii(value))
      return fail(kCategoricalFields[c], Quoted(value) + " has bytes that are not printable ASCII");
    categories[c] = value;
  }
  const std::string_view label = count >= 42 ? Trim(fields[41]) : std::string_view();
  if (!PrintableAscii(label))
    return fail(41, Quoted(label) + " has bytes that are not printable ASCII");
  int32_t level = 0;
  if (count == 43) {
    const std::string_view d = Trim(fields[42]);
    auto [ptr, ec] = std::from_chars(d.data(), d.data() + d.size(), level);
    if (d.empty() || ec != std::errc() || ptr != d.data() + d.size())
      return fail(42, Quoted(fields[42]) + " is not an integer");
  }

  if (out->fields == 0) out->fields = count;
  out->numeric.insert(out->numeric.end(), numeric, numeric + kNumericFeatureCount);
  for (int c = 0; c < kCategoricalCount; ++c) {
    const int index = CategoryIndex(c, categories[c]);
    out->category.push_back(int16_t(index));
    out->unknown_values.emplace_back(index < 0 ? categories[c] : std::string_view());
  }
  if (count >= 42) out->labels.emplace_back(label);
  if (count == 43) out->difficulty.push_back(level);
  out->lines.push_back(line);
  ++out->rows;
  return true;
}

}  // namespace

Status ParseRecords(std::string_view text, uint64_t first_line, ParsedRecords* out,
                    RecordIssue* issue, std::vector<RecordIssue>* skipped) {
  uint64_t line = first_line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view record = text.substr(pos, eol - pos);
    pos = eol + 1;
    const uint64_t this_line = line++;
    if (Trim(record).empty()) continue;
    RecordIssue refused;
    if (ParseRecord(record, this_line, out, &refused)) continue;
    if (!skipped) {
      *issue = refused;
      return Status(StatusCode::kInvalidArgument, issue->problem);
    }
    skipped->push_back(std::move(refused));
  }
  return Status::Ok();
}

namespace {

// The min-max constants of EncodeRecords: x' = (x - low) / span in double.
struct Scaling {
  double low[kNumericFeatureCount];
  double span[kNumericFeatureCount];

  Scaling(const float* minimum, const float* maximum) {
    for (int i = 0; i < kNumericFeatureCount; ++i) {
      low[i] = minimum[i];
      span[i] = double(maximum[i]) - double(minimum[i]);
      if (span[i] == 0) span[i] = 1;
    }
  }
};

constexpr int kBlockOffsets[kCategoricalCount] = {kProtocolTypeOffset, kServiceOffset, kFlagOffset};

// One record's numeric features into x[0..36] and the feature index of each
// hot column (or -1) into hot[0..2], counting what the policy bends.
void EncodeRow(const double* numeric, const int16_t* category, const Scaling& scaling, float* x,
               int16_t* hot, EncodeStats* stats) {
  for (int i = 0; i < kNumericFeatureCount; ++i) {
    const float v = float((numeric[i] - scaling.low[i]) / scaling.span[i]);
    if (v < 0.0f || v > 1.0f) {
      ++stats->clipped[i];
      x[i] = v < 0.0f ? 0.0f : 1.0f;
    } else {
      x[i] = v;
    }
  }
  for (int c = 0; c < kCategoricalCount; ++c) {
    const int index = category[c];
    if (index < 0) ++stats->unknown[c];
    hot[c] = int16_t(index < 0 ? -1 : kBlockOffsets[c] + index);
  }
}

}  // namespace

void EncodeRecords(const double* numeric, const int16_t* category, size_t rows,
                   const float* minimum, const float* maximum, float* out, EncodeStats* stats) {
  const Scaling scaling(minimum, maximum);
  for (size_t r = 0; r < rows; ++r) {
    float* y = out + r * kFeatureCount;
    std::memset(y, 0, sizeof(float) * kFeatureCount);
    int16_t hot[kCategoricalCount];
    EncodeRow(numeric + r * kNumericFeatureCount, category + r * kCategoricalCount, scaling, y, hot,
              stats);
    for (int16_t h : hot)
      if (h >= 0) y[h] = 1.0f;
  }
}

void EncodeRecordRows(const double* numeric, const int16_t* category, size_t rows,
                      const float* minimum, const float* maximum, float* out_numeric,
                      int16_t* out_hot, EncodeStats* stats) {
  const Scaling scaling(minimum, maximum);
  for (size_t r = 0; r < rows; ++r) {
    float* x = out_numeric + r * kRecordStride;
    std::fill(x + kNumericFeatureCount, x + kRecordStride, 0.0f);
    EncodeRow(numeric + r * kNumericFeatureCount, category + r * kCategoricalCount, scaling, x,
              out_hot + r * kCategoricalCount, stats);
  }
}

void ExpandRecordRows(const RecordRows& input, size_t rows, float* out) {
  for (size_t r = 0; r < rows; ++r) {
    float* y = out + r * kFeatureCount;
    std::memset(y, 0, sizeof(float) * kFeatureCount);
    std::copy(input.numeric + r * kRecordStride,
              input.numeric + r * kRecordStride + kNumericFeatureCount, y);
    for (int c = 0; c < kCategoricalCount; ++c) {
      const int16_t h = input.hot[r * kCategoricalCount + c];
      if (h >= 0) y[h] = 1.0f;
    }
  }
}

}  // namespace ebgan
