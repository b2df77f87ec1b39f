// Fuzz target: ebgan::ParseRecords on arbitrary text, then EncodeRecords on
// what it accepted, with fixed statistics that include the awkward cases (a
// constant feature, a tiny span, a huge span, a negative minimum).
//
// Beyond "no crash", the harness checks the parser's contract: accepted
// values are finite and non-negative, categories lie in their vocabulary,
// line numbers point into the text, a refusal names a line inside it and a
// field that exists, and every encoded feature lies in [0, 1] with at most
// one category set per one-hot block.
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ebgan/records.h"
#include "ebgan/schema.h"
#include "fuzz_check.h"

namespace {

struct Statistics {
  std::array<float, ebgan::kNumericFeatureCount> minimum;
  std::array<float, ebgan::kNumericFeatureCount> maximum;
};

Statistics FixedStatistics() {
  Statistics s;
  for (int i = 0; i < ebgan::kNumericFeatureCount; ++i) {
    s.minimum[i] = 0.0f;
    s.maximum[i] = float(1 + i * 100);
  }
  s.maximum[0] = 0.0f;    // constant feature: span taken as 1
  s.minimum[1] = 1e-38f;  // a span near the smallest normal float
  s.maximum[1] = 2e-38f;
  s.maximum[2] = 3.4e38f;   // a span near the largest float
  s.minimum[3] = -3.4e38f;  // and a negative minimum
  s.maximum[3] = 3.4e38f;
  s.minimum[4] = 1e-45f;  // denormal bounds
  s.maximum[4] = 1e-45f;
  return s;
}

constexpr int kVocabularySizes[ebgan::kCategoricalCount] = {
    ebgan::kProtocolTypeCount, ebgan::kServiceCount, ebgan::kFlagCount};
constexpr int kBlockOffsets[ebgan::kCategoricalCount] = {ebgan::kProtocolTypeOffset,
                                                         ebgan::kServiceOffset, ebgan::kFlagOffset};

void CheckParsed(const ebgan::ParsedRecords& p, uint64_t line_count) {
  const size_t n = p.rows;
  FUZZ_CHECK(p.lines.size() == n);
  FUZZ_CHECK(p.numeric.size() >= n * ebgan::kNumericFeatureCount);
  FUZZ_CHECK(p.category.size() >= n * ebgan::kCategoricalCount);
  FUZZ_CHECK(p.unknown_values.size() >= n * ebgan::kCategoricalCount);
  FUZZ_CHECK(n == 0 || p.fields == 41 || p.fields == 42 || p.fields == 43);
  // Whole records only, also after a refusal (test_records_partial.cpp).
  FUZZ_CHECK(p.labels.size() == (p.fields >= 42 ? n : 0));
  FUZZ_CHECK(p.difficulty.size() == (p.fields == 43 ? n : 0));
  for (size_t r = 0; r < n; ++r) {
    FUZZ_CHECK(p.lines[r] >= 1 && p.lines[r] <= line_count);
    FUZZ_CHECK(r == 0 || p.lines[r] > p.lines[r - 1]);
    for (int i = 0; i < ebgan::kNumericFeatureCount; ++i) {
      const double v = p.numeric[r * ebgan::kNumericFeatureCount + i];
      FUZZ_CHECK(std::isfinite(v) && v >= 0.0);
    }
    for (int c = 0; c < ebgan::kCategoricalCount; ++c) {
      const int index = p.category[r * ebgan::kCategoricalCount + c];
      FUZZ_CHECK(index >= -1 && index < kVocabularySizes[c]);
      FUZZ_CHECK((index < 0) == !p.unknown_values[r * ebgan::kCategoricalCount + c].empty());
    }
  }
}

void CheckEncoded(const ebgan::ParsedRecords& p) {
  static const Statistics stats = FixedStatistics();
  std::vector<float> x(p.rows * ebgan::kFeatureCount);
  ebgan::EncodeStats counts;
  ebgan::EncodeRecords(p.numeric.data(), p.category.data(), p.rows, stats.minimum.data(),
                       stats.maximum.data(), x.data(), &counts);
  for (size_t r = 0; r < p.rows; ++r) {
    const float* row = x.data() + r * ebgan::kFeatureCount;
    for (int f = 0; f < ebgan::kFeatureCount; ++f)
      FUZZ_CHECK(std::isfinite(row[f]) && row[f] >= 0.0f && row[f] <= 1.0f);
    for (int c = 0; c < ebgan::kCategoricalCount; ++c) {
      float set = 0.0f;
      for (int k = 0; k < kVocabularySizes[c]; ++k) set += row[kBlockOffsets[c] + k];
      FUZZ_CHECK(set == (p.category[r * ebgan::kCategoricalCount + c] < 0 ? 0.0f : 1.0f));
    }
  }
  uint64_t unknown = 0;
  for (uint64_t u : counts.unknown) unknown += u;
  uint64_t expected = 0;
  for (size_t i = 0; i < p.rows * ebgan::kCategoricalCount; ++i) expected += p.category[i] < 0;
  FUZZ_CHECK(unknown == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t line_count = 1;
  for (char c : text) line_count += c == '\n';

  ebgan::ParsedRecords parsed;
  ebgan::RecordIssue refusal;
  const ebgan::Status s = ebgan::ParseRecords(text, 1, &parsed, &refusal);
  if (!s.ok()) {
    FUZZ_CHECK(refusal.line >= 1 && refusal.line <= line_count);
    FUZZ_CHECK(refusal.field >= -1 && refusal.field <= 42);
    // A refusal quotes at most 40 bytes of the field, each escaped to at
    // most 4 characters: the message stays short whatever the line held.
    FUZZ_CHECK(!refusal.problem.empty() && refusal.problem.size() < 256);
    for (char c : refusal.problem) FUZZ_CHECK(c >= 0x20 && c <= 0x7e);
  }
  CheckParsed(parsed, line_count);
  CheckEncoded(parsed);

  // Skipping bad records: every record is either parsed or listed, in line
  // order, and the parsed ones start with those parsed before a refusal.
  ebgan::ParsedRecords kept;
  std::vector<ebgan::RecordIssue> skipped;
  FUZZ_CHECK(ebgan::ParseRecords(text, 1, &kept, &refusal, &skipped).ok());
  CheckParsed(kept, line_count);
  FUZZ_CHECK(kept.rows >= parsed.rows);
  for (size_t r = 0; r < parsed.rows; ++r) FUZZ_CHECK(kept.lines[r] == parsed.lines[r]);
  FUZZ_CHECK(skipped.empty() == s.ok());
  if (!s.ok()) FUZZ_CHECK(skipped.front().line == refusal.line);
  for (size_t i = 1; i < skipped.size(); ++i) FUZZ_CHECK(skipped[i - 1].line < skipped[i].line);
  return 0;
}
