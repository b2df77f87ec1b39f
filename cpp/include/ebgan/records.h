// Raw NSL-KDD records: parsing CSV text and the 121-feature encoding.
//
// This is the one implementation of both; the Python package calls it
// through ebgan_edge._core. The policy (see python/ebgan_edge/features.py):
// numeric values outside the training [minimum, maximum] are clipped to
// [0, 1] after normalisation and counted per feature; an unknown category
// encodes as an all-zero block and is counted per field.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ebgan/kernel.h"
#include "ebgan/schema.h"
#include "ebgan/status.h"

namespace ebgan {

struct ParsedRecords {
  size_t rows = 0;
  int fields = 0;                           // 41, 42 (with label) or 43 (and difficulty)
  std::vector<double> numeric;              // rows x kNumericFeatureCount, raw values
  std::vector<int16_t> category;            // rows x 3 vocabulary indices, -1 if unknown
  std::vector<std::string> unknown_values;  // rows x 3, set where category is -1
  std::vector<std::string> labels;          // when fields >= 42
  std::vector<int32_t> difficulty;          // when fields == 43
  std::vector<uint64_t> lines;              // 1-based line of each record
};

// Where and why a record could not be read.
struct RecordIssue {
  uint64_t line = 0;
  int field = -1;  // raw field index 0..40, 41 label, 42 difficulty; -1 none
  std::string problem;
};

// Parses comma-separated records, one per line. Blank lines are skipped but
// counted, so `lines` and issues refer to the text's own line numbers;
// `first_line` is the number of the text's first line. Numbers are decimal
// (optional sign, fraction, exponent; spaces around them allowed) and must
// be finite and non-negative. On a bad record returns kInvalidArgument and
// fills `issue`; `out` then holds the records before the bad one. If
// `skipped` is given, bad records are left out and listed there instead, and
// parsing goes on (the first record sets the field count the others need).
Status ParseRecords(std::string_view text, uint64_t first_line, ParsedRecords* out,
                    RecordIssue* issue, std::vector<RecordIssue>* skipped = nullptr);

// Counts of what the encoding had to bend.
struct EncodeStats {
  std::array<uint64_t, kNumericFeatureCount> clipped{};
  std::array<uint64_t, kCategoricalCount> unknown{};
};

// Encodes `rows` records into `out` (rows x 121 float32):
// x' = float((x - min) / span) in double, span = max - min or 1 where
// max == min, then clipped to [0, 1]; one-hot blocks from `category`.
void EncodeRecords(const double* numeric, const int16_t* category, size_t rows,
                   const float* minimum, const float* maximum, float* out, EncodeStats* stats);

// Encodes `rows` records the same way into the form the record kernels read
// (RecordRows in kernel.h): out_numeric is rows x kRecordStride floats, out_hot
// rows x 3 feature indices. ExpandRecordRows turns that form into the dense
// rows x 121 encoding, equal to EncodeRecords' output.
void EncodeRecordRows(const double* numeric, const int16_t* category, size_t rows,
                      const float* minimum, const float* maximum, float* out_numeric,
                      int16_t* out_hot, EncodeStats* stats);
void ExpandRecordRows(const RecordRows& input, size_t rows, float* out);

// Index of a category value in its vocabulary, or -1.
int CategoryIndex(int categorical, std::string_view value);

}  // namespace ebgan
