// Record kernels (one-hot fields as column lookups) against dense scoring of
// the same records, and fp16 kernels against fp32 kernels on the widened
// weights. Both are promised equal, not close, so the checks are exact: a
// record kernel or an fp16 kernel that reorders a single sum fails here.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "ebgan/records.h"
#include "harness.h"
#include "random_model.h"

namespace {

using ebgan::Engine;
using ebgan::Isa;
using ebgan::kCategoricalCount;
using ebgan::kFeatureCount;
using ebgan::kRecordStride;
using ebgan::Precision;

constexpr size_t kBatchSizes[] = {0, 1, 2, 3, 7, 8, 9, 16, 17, 33, 300};

std::unique_ptr<Engine> MakeEngine(const ebgan::ModelData& model, Isa isa) {
  std::unique_ptr<Engine> engine;
  const ebgan::Status s = Engine::Create(model, ebgan::IsaName(isa), &engine);
  if (!s.ok()) ebgan_test::Fail(__FILE__, __LINE__, "Engine::Create: " + s.message());
  return engine;
}

std::vector<Isa> IsasFor(Precision precision) {
  std::vector<Isa> out;
  for (Isa isa : ebgan::UsableIsas())
    if (ebgan::HasKernel(precision, isa)) out.push_back(isa);
  return out;
}

// Records as EncodeRecordRows leaves them: numeric features in [0, 1], with
// exact 0s and 1s (clipped values) among them, and hot columns from each
// block or -1 for an unknown category.
struct Records {
  std::vector<float> numeric;
  std::vector<int16_t> hot;
  ebgan::RecordRows rows() const { return {numeric.data(), hot.data()}; }
};

Records RandomRecords(size_t rows, uint32_t seed) {
  static constexpr int kOffsets[kCategoricalCount] = {ebgan::kProtocolTypeOffset,
                                                      ebgan::kServiceOffset, ebgan::kFlagOffset};
  static constexpr int kSizes[kCategoricalCount] = {ebgan::kProtocolTypeCount, ebgan::kServiceCount,
                                                    ebgan::kFlagCount};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Records r;
  r.numeric.assign(rows * kRecordStride, 0.0f);
  r.hot.assign(rows * kCategoricalCount, -1);
  for (size_t i = 0; i < rows; ++i) {
    for (int k = 0; k < ebgan::kNumericFeatureCount; ++k) {
      const float p = unit(rng);
      r.numeric[i * kRecordStride + k] = p < 0.3f ? 0.0f : p > 0.9f ? 1.0f : unit(rng);
    }
    // Every fifth row is all zero: with every category unknown as well, the
    // int8 quantiser sees a zero row.
    if (i % 5 == 4) std::fill_n(r.numeric.begin() + i * kRecordStride, kRecordStride, 0.0f);
    for (int c = 0; c < kCategoricalCount; ++c) {
      const bool unknown = (i % 5 == 4) || unit(rng) < 0.1f;
      const int index = std::uniform_int_distribution<int>(0, kSizes[c] - 1)(rng);
      r.hot[i * kCategoricalCount + c] = int16_t(unknown ? -1 : kOffsets[c] + index);
    }
  }
  return r;
}

ebgan::ModelData ModelOf(Precision precision, uint32_t seed) {
  switch (precision) {
    case Precision::kInt8:
      return ebgan_test::RandomInt8Model(seed, 1.0f / (127.0f * 16.0f));
    case Precision::kFp16:
      return ebgan_test::RandomFp16Model(seed);
    default:
      return ebgan_test::RandomModel(seed);
  }
}

void ExpectSameFloats(const std::vector<float>& got, const std::vector<float>& want,
                      const std::string& what) {
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!(got[i] == want[i]) && !(std::isnan(got[i]) && std::isnan(want[i]))) {
      ebgan_test::Fail(__FILE__, __LINE__,
                       what + " differs at " + std::to_string(i) + ": " + ebgan_test::Show(got[i]) +
                           " against " + ebgan_test::Show(want[i]));
      return;
    }
  }
}

void CheckRecordsEqualDense(Precision precision) {
  const ebgan::ModelData model = ModelOf(precision, 11);
  for (Isa isa : IsasFor(precision)) {
    const std::unique_ptr<Engine> engine = MakeEngine(model, isa);
    if (!engine) return;
    for (size_t rows : kBatchSizes) {
      const Records records = RandomRecords(rows, uint32_t(rows) + 5);
      std::vector<float> dense(rows * kFeatureCount);
      ebgan::ExpandRecordRows(records.rows(), rows, dense.data());
      std::vector<float> want(rows), want_recon(rows * kFeatureCount);
      engine->Score(dense.data(), rows, want.data(), want_recon.data());
      std::vector<float> got(rows), got_recon(rows * kFeatureCount);
      engine->ScoreRecords(records.rows(), rows, got.data(), got_recon.data());
      const std::string where = std::string(ebgan::PrecisionName(precision)) + " " +
                                ebgan::IsaName(isa) + ", batch " + std::to_string(rows);
      ExpectSameFloats(got, want, where + ": record score");
      ExpectSameFloats(got_recon, want_recon, where + ": record reconstruction");
      // Threads split the batch; no row may change.
      std::vector<float> threaded(rows);
      engine->ScoreRecords(records.rows(), rows, threaded.data(), nullptr, 3);
      ExpectSameFloats(threaded, want, where + ": record score with 3 threads");
    }
  }
}

EBGAN_TEST(records_fp32_equal_dense_scoring) {
  CheckRecordsEqualDense(Precision::kFp32);
}

EBGAN_TEST(records_fp16_equal_dense_scoring) {
  CheckRecordsEqualDense(Precision::kFp16);
}

EBGAN_TEST(records_int8_equal_dense_scoring) {
  CheckRecordsEqualDense(Precision::kInt8);
}

// The encoder's two forms agree: EncodeRecords' dense rows are what
// ExpandRecordRows makes of EncodeRecordRows' output, counts included.
EBGAN_TEST(records_encoded_forms_agree) {
  constexpr size_t kRows = 50;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> value(-5.0, 300.0);
  std::vector<double> numeric(kRows * ebgan::kNumericFeatureCount);
  for (double& v : numeric) v = value(rng);
  std::vector<int16_t> category(kRows * kCategoricalCount);
  for (size_t i = 0; i < category.size(); ++i) category[i] = int16_t(i % 7 == 0 ? -1 : i % 3);
  std::vector<float> minimum(ebgan::kNumericFeatureCount, 0.0f);
  std::vector<float> maximum(ebgan::kNumericFeatureCount, 100.0f);
  maximum[5] = 0.0f;  // max == min: span 1

  std::vector<float> dense(kRows * kFeatureCount);
  ebgan::EncodeStats dense_stats;
  ebgan::EncodeRecords(numeric.data(), category.data(), kRows, minimum.data(), maximum.data(),
                       dense.data(), &dense_stats);
  Records records;
  records.numeric.assign(kRows * kRecordStride, -1.0f);
  records.hot.assign(kRows * kCategoricalCount, 0);
  ebgan::EncodeStats stats;
  ebgan::EncodeRecordRows(numeric.data(), category.data(), kRows, minimum.data(), maximum.data(),
                          records.numeric.data(), records.hot.data(), &stats);
  std::vector<float> expanded(kRows * kFeatureCount);
  ebgan::ExpandRecordRows(records.rows(), kRows, expanded.data());
  ExpectSameFloats(expanded, dense, "expanded record rows");
  EXPECT_TRUE(dense_stats.clipped == stats.clipped);
  EXPECT_TRUE(dense_stats.unknown == stats.unknown);
  for (size_t i = 0; i < kRows; ++i)
    for (int k = ebgan::kNumericFeatureCount; k < kRecordStride; ++k)
      EXPECT_EQ(records.numeric[i * kRecordStride + k], 0.0f);
}

// fp16 models: equal to the fp32 model holding the same (widened) weights,
// on every path. Where a path has an fp16 kernel its packed weights take
// half the bytes.
EBGAN_TEST(fp16_equal_fp32_on_widened_weights) {
  const ebgan::ModelData half = ebgan_test::RandomFp16Model(21);
  ebgan::ModelData widened = ebgan_test::RandomModel(21);
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    for (size_t i = 0; i < widened.layers[l].weight_fp32.size(); ++i) {
      const uint16_t h = half.layers[l].weight_fp16[i];
      const int exponent = (h >> 10) & 0x1f;
      const float magnitude = exponent == 0 ? std::ldexp(float(h & 0x3ff), -24)
                                            : std::ldexp(float((h & 0x3ff) | 0x400), exponent - 25);
      widened.layers[l].weight_fp32[i] = (h & 0x8000) ? -magnitude : magnitude;
    }
  }
  for (Isa isa : IsasFor(Precision::kFp16)) {
    const std::unique_ptr<Engine> fp16 = MakeEngine(half, isa);
    const std::unique_ptr<Engine> fp32 = MakeEngine(widened, isa);
    if (!fp16 || !fp32) return;
    // Weights in half the bytes; biases stay fp32.
    if (fp16->native_fp16()) EXPECT_LE(fp16->weight_bytes(), fp32->weight_bytes() * 51 / 100);
    for (size_t rows : kBatchSizes) {
      const std::vector<float> x = ebgan_test::RandomInput(rows, uint32_t(rows) + 9);
      std::vector<float> want(rows), want_recon(rows * kFeatureCount);
      fp32->Score(x.data(), rows, want.data(), want_recon.data());
      std::vector<float> got(rows), got_recon(rows * kFeatureCount);
      fp16->Score(x.data(), rows, got.data(), got_recon.data());
      const std::string where = std::string(ebgan::IsaName(isa)) +
                                (fp16->native_fp16() ? "" : " (widened at load)") + ", batch " +
                                std::to_string(rows);
      ExpectSameFloats(got, want, where + ": fp16 score");
      ExpectSameFloats(got_recon, want_recon, where + ": fp16 reconstruction");
    }
  }
}

}  // namespace
