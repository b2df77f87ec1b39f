// The fp32 scoring kernels and the packed weight layout they share.
//
// Layout. Each layer's weights are packed at load time k-major, W[k][j] for
// input k and output j, with the output dimension zero-padded to a multiple
// of kPackWidth floats and every layer 64-byte aligned. A kernel computes a
// tile of rows at a time as a sum of outer products: for each input k it
// broadcasts x[r][k] and multiplies it into a contiguous run of W[k][...],
// which is a full SIMD register on every instruction set here (4, 8 or 16
// floats). Padded outputs have zero weights and zero bias, so they stay
// exactly zero through LeakyReLU and the next layer never reads a padded
// input (its k loop runs over the true width).
//
// Numerics, the same in every kernel:
// - Summation order: each output starts from its bias and adds x[k] * W[k][j]
//   for k = 0, 1, ..., in-1. The scalar kernel rounds each product and each
//   sum (built with -ffp-contract=off); SIMD kernels fuse them with FMA,
//   which differs from it by at most one rounding per term.
// - The score is the sum over the 121 features of (reconstruction - input)^2,
//   divided by 121. The scalar kernel sums features in order; SIMD kernels
//   sum lanes and then the lanes' partial sums.
// - Denormals are left to the CPU's default mode (no FTZ/DAZ is set, so a
//   kernel never changes the caller's floating-point environment); weights
//   trained here are far from the denormal range, and a denormal input only
//   costs speed, not correctness.
// Agreement of every SIMD kernel with the scalar one: see Fp32ScoreTolerance.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ebgan/model.h"

namespace ebgan {

inline constexpr int kPackWidth = 16;

constexpr int PaddedWidth(int width) {
  return (width + kPackWidth - 1) / kPackWidth * kPackWidth;
}

inline constexpr std::array<int, kLayerCount + 1> kPaddedWidths = {
    PaddedWidth(kLayerWidths[0]), PaddedWidth(kLayerWidths[1]), PaddedWidth(kLayerWidths[2]),
    PaddedWidth(kLayerWidths[3]), PaddedWidth(kLayerWidths[4]), PaddedWidth(kLayerWidths[5]),
    PaddedWidth(kLayerWidths[6])};

constexpr bool AllPadded() {
  for (int w : kPaddedWidths)
    if (w % 16 != 0) return false;
  return true;
}
static_assert(AllPadded(), "padded widths must fill whole 4-, 8- and 16-float registers");

// The widest activation row a kernel holds between layers.
inline constexpr int kMaxPaddedWidth = 512;

// How far an fp32 score may be from the scalar kernel's (and the scalar
// kernel's from the torch reference's):
//   |s - s_ref| <= kFp32RelativeBound * s_ref + kFp32SqrtBound * sqrt(s_ref).
// Why two terms: a score is a mean of squares of d = y - x, differences of
// numbers near 1, so rounding in y (a few ulp(1)) gives an absolute error
// that grows like |d| ~ sqrt(score), not like the score; for well
// reconstructed rows (scores near 6e-5 with the shipped model) a purely
// relative bound would shrink below the arithmetic. Measured on the 25,192
// rows of the NSL-KDD training file: kernels against scalar at most
// 5.4e-7 * sqrt(s), scalar against torch at most 7.0e-7 * sqrt(s); random
// models at most 7e-7 relative. At scores near the decision threshold
// (about 1e-2) the bound is 2e-5 relative.
inline constexpr float kFp32RelativeBound = 1e-5f;
inline constexpr float kFp32SqrtBound = 1e-6f;

inline float Fp32ScoreTolerance(float reference) {
  return kFp32RelativeBound * reference + kFp32SqrtBound * __builtin_sqrtf(reference);
}

struct PackedLayer {
  const float* weight;  // [in][PaddedWidth(out)], 64-byte aligned
  const float* bias;    // [PaddedWidth(out)], zero past `out`
  int in;
  int out;
  bool leaky_relu;
};

struct PackedFp32Model {
  PackedLayer layers[kLayerCount];
};

// Scores `rows` rows of `input` (row stride kFeatureCount floats) into
// `scores`. If `reconstruction` is not null, also writes the (rows, 121)
// reconstruction there. Never allocates, throws or locks; the scratch it
// needs lives on its stack.
using Fp32Kernel = void (*)(const PackedFp32Model& model, const float* input, size_t rows,
                            float* scores, float* reconstruction);

// Records without their one-hot blocks, as the record kernels read them.
// A row is its 37 numeric features, normalised and clipped as EncodeRecords
// does, in kRecordStride floats (the 3 past feature 36 are zero), and the
// feature index (37..120) of the hot column of each categorical field, or
// -1 where the category is unknown and its block is all zero. Indices are in
// ascending field order, so a row's hot columns ascend too.
//
// A record kernel computes what its dense kernel computes on the same rows
// encoded densely, and returns equal scores and reconstructions (==): the
// first layer adds the numeric terms in order and then each hot column's
// weights, which is the dense order with its zero terms skipped (x * 0
// added to a sum leaves it unchanged, and 1 * w is exact), and the score's
// differences against the one-hot part are formed in registers from the hot
// indices, never stored. The first layer does 37 multiply-adds and up to 3
// adds per output instead of 121 multiply-adds.
inline constexpr int kRecordStride = 40;
static_assert(kRecordStride >= kNumericFeatureCount && kRecordStride % 4 == 0,
              "a record row holds the numeric features in whole 4-float groups");

struct RecordRows {
  const float* numeric;  // [rows][kRecordStride]
  const int16_t* hot;    // [rows][kCategoricalCount], feature index or -1
};

// Feature f (0..120) of record row r, as the dense encoding holds it.
inline float RecordFeature(const RecordRows& input, size_t r, int f) {
  if (f < kNumericFeatureCount) return input.numeric[r * kRecordStride + f];
  const int16_t* hot = input.hot + r * kCategoricalCount;
  for (int c = 0; c < kCategoricalCount; ++c)
    if (hot[c] == f) return 1.0f;
  return 0.0f;
}

using Fp32RecordKernel = void (*)(const PackedFp32Model& model, const RecordRows& input,
                                  size_t rows, float* scores, float* reconstruction);

// fp16 models keep their weights in binary16, in the fp32 layout above
// (k-major, outputs padded to kPackWidth), and widen them to fp32 in
// registers as they are used; biases are fp32. Widening is exact, so an fp16
// kernel returns scores and reconstructions equal (==) to its instruction
// set's fp32 kernel run on the widened weights, with half the weight bytes
// to stream.
struct PackedHalfLayer {
  const uint16_t* weight;  // [in][PaddedWidth(out)], 64-byte aligned
  const float* bias;       // [PaddedWidth(out)], zero past `out`
  int in;
  int out;
  bool leaky_relu;
};

struct PackedFp16Model {
  PackedHalfLayer layers[kLayerCount];
};

using Fp16Kernel = void (*)(const PackedFp16Model& model, const float* input, size_t rows,
                            float* scores, float* reconstruction);
using Fp16RecordKernel = void (*)(const PackedFp16Model& model, const RecordRows& input,
                                  size_t rows, float* scores, float* reconstruction);

// A path may have kernels for some precisions only: fp32 runs on kAvx512
// code under kAvx512Vnni and on kNeon code under kNeonDotprod, whose extra
// instructions only int8 uses. kAvx2Fma includes F16C (every AVX2 CPU has
// it); fp16 weights are widened with it.
enum class Isa : int {
  kScalar = 0,
  kAvx2Fma = 1,
  kAvx512 = 2,
  kAvx512Vnni = 3,
  kNeon = 4,
  kNeonDotprod = 5,
};
inline constexpr int kIsaCount = 6;
const char* IsaName(Isa isa);

// The fp32 and fp16 kernels of one instruction-set path, each file's only
// export. Every path has both fp32 kernels; a path without fp16 kernels
// (null entries; the scalar one) runs fp16 models on its fp32 kernels with
// the weights widened at load.
struct FloatKernels {
  Fp32Kernel fp32 = nullptr;
  Fp32RecordKernel fp32_records = nullptr;
  Fp16Kernel fp16 = nullptr;
  Fp16RecordKernel fp16_records = nullptr;
};

FloatKernels ScalarFloatKernels();
#if defined(EBGAN_BUILD_AVX2)
FloatKernels Avx2FmaFloatKernels();
#endif
#if defined(EBGAN_BUILD_AVX512)
FloatKernels Avx512FloatKernels();
#endif
#if defined(EBGAN_BUILD_NEON)
FloatKernels NeonFloatKernels();
#endif

}  // namespace ebgan
