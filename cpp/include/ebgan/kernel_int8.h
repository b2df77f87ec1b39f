// The int8 scoring kernels and the packed layout they share.
//
// Scheme (chosen by measurement, see docs/quantization.md):
// - Weights: symmetric int8 per output channel, w[j][k] ~= q[j][k] * scale[j]
//   with q in [-127, 127] (never -128, so negating a weight cannot overflow).
// - Activations: symmetric int8 per row, quantised dynamically before each
//   layer from the row's own largest magnitude m: scale_x = m / 127 and
//   q_x = clamp(nearbyint(a * (127 / m)), -127, 127); a row of zeros gives
//   scale_x = 0 and q_x = 0.
// - Accumulation: exact int32 dot products. |q_x * q_w| <= 127 * 127 and the
//   widest fan-in is 512, so |acc| <= 8,258,048 < 2^24: the conversion of an
//   accumulator to float32 is exact too.
//
// Bit-identical scores on every CPU. The integer part is exact by
// construction; every floating-point step after it is an IEEE operation
// with one rounding, done in the same order by every kernel, and no kernel
// contracts a multiply and an add into an FMA:
//   1. y = float(acc) * (scale_x * scale_w[j])   (the product of scales first)
//   2. y = y + bias[j]
//   3. LeakyReLU: y < 0 ? y * 0.2f : y
//   4. requantise for the next layer as above (max is exact; 127 / m and
//      m / 127 are single divisions; nearbyint rounds half to even)
//   5. score: d = y[f] - x[f], e = d * d for f < 121 (e = 0 for the padded
//      f = 121..127), summed in 16 lanes, lane i taking f = i, i+16, ...,
//      i+112 in that order; then lanes are folded as l[i] += l[i+8],
//      l[i] += l[i+4], l[i] += l[i+2], l[i] += l[i+1]; score = l[0] / 121.
// Denormals: no kernel changes the floating-point environment, and every
// supported ISA handles subnormals per IEEE by default (x86 SSE/AVX with
// FTZ/DAZ off, aarch64 with FPCR.FZ off), so they cannot split results.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ebgan/kernel.h"

namespace ebgan {

// Inputs are packed in groups of 4 along k: the unit of VNNI's vpdpbusd and
// NEON's sdot, and two units of AVX2's vpmaddubsw.
inline constexpr int kInt8Group = 4;

constexpr int PaddedDepth(int width) {
  return (width + kInt8Group - 1) / kInt8Group * kInt8Group;
}

struct PackedInt8Layer {
  // [PaddedDepth(in) / 4][PaddedWidth(out)][4]: the 4 weights of inputs
  // 4g..4g+3 for output j are contiguous, zero past `in` and `out`.
  const int8_t* weight;
  const int32_t* column_sum;  // sum over k of weight[k][j]; for offset tricks
  const float* weight_scale;  // [PaddedWidth(out)], zero past `out`
  const float* bias;          // [PaddedWidth(out)], zero past `out`
  int in;
  int out;
  bool leaky_relu;
};

struct PackedInt8Model {
  PackedInt8Layer layers[kLayerCount];
};

// Same contract as Fp32Kernel: no allocation, no exceptions, no locks.
using Int8Kernel = void (*)(const PackedInt8Model& model, const float* input, size_t rows,
                            float* scores, float* reconstruction);

// Records without their one-hot blocks (see RecordRows in kernel.h). The
// first layer quantises a record row exactly as the dense row would be: its
// largest magnitude is the larger of the numeric ones and 1 if any column is
// hot, and a hot column's q_x is clamp(nearbyint(1 * (127 / m))). The
// integer accumulator then gets q_x * q_w of each hot column added to the
// numeric dot product, which is exact, so a record kernel returns scores and
// reconstructions equal (==) to the dense int8 kernels, on every CPU.
using Int8RecordKernel = void (*)(const PackedInt8Model& model, const RecordRows& input,
                                  size_t rows, float* scores, float* reconstruction);

// The int8 kernels of one instruction-set path, each file's only export;
// a path with int8 kernels has both.
struct Int8Kernels {
  Int8Kernel dense = nullptr;
  Int8RecordKernel records = nullptr;
};

Int8Kernels ScalarInt8Kernels();
#if defined(EBGAN_BUILD_INT8_AVX2)
Int8Kernels Avx2Int8Kernels();
#endif
#if defined(EBGAN_BUILD_AVX512_VNNI)
Int8Kernels Avx512VnniInt8Kernels();
#endif
#if defined(EBGAN_BUILD_INT8_NEON)
Int8Kernels NeonInt8Kernels();
#endif
#if defined(EBGAN_BUILD_NEON_DOTPROD)
Int8Kernels NeonDotprodInt8Kernels();
#endif

// The steps every int8 kernel shares, in scalar form. SIMD kernels must
// produce exactly these values.
float QuantizeRow(const float* a, int width, int8_t* q);  // returns scale_x
float SumSquaredErrorInLanes(const float* y, const float* x);

}  // namespace ebgan
