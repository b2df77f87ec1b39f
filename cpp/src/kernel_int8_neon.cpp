// The NEON int8 kernels (dense and record rows) for ARMv8.0 (Advanced SIMD,
// no dot product; built with -ffp-contract=off and no -march flag, so they
// run on a Cortex-A53). Their results are bit-identical to the scalar int8
// kernels: kernel_int8.h lists the steps, kernel_int8_neon_common.h says how
// the float steps and the driver meet them. This file holds only the integer
// micro-kernel; kernel_int8_neon_dotprod.cpp has the sdot one and is kept
// apart because it is compiled for ARMv8.2.
//
// Integer hazards. Without sdot, the products come from smull (8 x 8 ->
// 16 bits) against the row's 4 activations duplicated across the vector.
// An int8 product always fits int16 (the extreme, (-128) * (-128) = 16,384,
// cannot occur here: weights are never -128 and activations are clamped to
// [-127, 127], so |product| <= 127 * 127 = 16,129). Two products may be
// summed in int16 (2 * 16,129 = 32,258 <= 32,767) but three may not
// (48,387), so each int16 lane takes exactly two: smull for group g, smlal
// for group g + 1 at the same position. sadalp then widens adjacent lanes
// pairwise into the int32 accumulators (lanes (j, k 0-1), (j, k 2-3),
// (j+1, ...)), and one addp per 4 outputs at the end joins each output's
// two partial sums. Per multiply of 16 products: smull, smlal, sadalp, 3
// instructions, against 4 for smull + sadalp per group. Accumulators:
// |acc| <= 127 * 127 * 512 = 8,258,048 < 2^24 for the widest fan-in, far
// inside int32 and exactly convertible to float. Padded inputs have zero
// weights and q_x = 0; padded outputs zero weights, scales and biases.
#include <arm_neon.h>

#include "kernel_int8_neon_common.h"

namespace ebgan {
namespace {

struct SmullKernel {
  static constexpr int kMaxUnits = 4;
  // Units per tile of R rows: 2 * R * V accumulators, 2 * V weights, 2 * R
  // activations and 2 products in the 32 vector registers.
  static constexpr int UnitsFor(int rows) { return rows <= 2 ? 4 : 2; }

  // sum[r][v] = the exact dot products of rows r with outputs j..j+3 of unit
  // v over `groups` groups. While accumulating, acc[r][v][0] holds outputs
  // j, j+1 and acc[r][v][1] outputs j+2, j+3, two partial sums each.
  template <int R, int V>
  static EBGAN_INT8_INLINE void Accumulate(const int8_t* q, const int8_t* w, size_t w_step,
                                           int groups, int32x4_t (&sum)[R][V]) {
    int32x4_t acc[R][V][2];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v][0] = acc[r][v][1] = vdupq_n_s32(0);

    int g = 0;
    for (; g + 2 <= groups; g += 2, w += 2 * w_step) {
      int8x16_t w0[V], w1[V];
      for (int v = 0; v < V; ++v) {
        w0[v] = vld1q_s8(w + v * 16);
        w1[v] = vld1q_s8(w + w_step + v * 16);
      }
      for (int r = 0; r < R; ++r) {
        const int8x16_t x0 = Broadcast4(q + r * kStrideQ + g * kInt8Group);
        const int8x16_t x1 = Broadcast4(q + r * kStrideQ + (g + 1) * kInt8Group);
        for (int v = 0; v < V; ++v) {
          // Two products per int16 lane, <= 32,258: see the bound above.
          int16x8_t lo = vmull_s8(vget_low_s8(w0[v]), vget_low_s8(x0));
          int16x8_t hi = vmull_high_s8(w0[v], x0);
          lo = vmlal_s8(lo, vget_low_s8(w1[v]), vget_low_s8(x1));
          hi = vmlal_high_s8(hi, w1[v], x1);
          acc[r][v][0] = vpadalq_s16(acc[r][v][0], lo);
          acc[r][v][1] = vpadalq_s16(acc[r][v][1], hi);
        }
      }
    }
    if (g < groups) {  // an odd number of groups: the last one alone
      for (int r = 0; r < R; ++r) {
        const int8x16_t x0 = Broadcast4(q + r * kStrideQ + g * kInt8Group);
        for (int v = 0; v < V; ++v) {
          const int8x16_t w0 = vld1q_s8(w + v * 16);
          acc[r][v][0] = vpadalq_s16(acc[r][v][0], vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
          acc[r][v][1] = vpadalq_s16(acc[r][v][1], vmull_high_s8(w0, x0));
        }
      }
    }

    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) sum[r][v] = vpaddq_s32(acc[r][v][0], acc[r][v][1]);
  }
};

}  // namespace

// NeonInt8Kernels(): the shared driver with the smull/smlal micro-kernel.
void ScoreInt8Neon(const PackedInt8Model& model, const float* input, size_t rows, float* scores,
                   float* reconstruction) {
  ScoreInt8Rows<SmullKernel>(model, DenseInput{input}, rows, scores, reconstruction);
}

void ScoreInt8RecordsNeon(const PackedInt8Model& model, const RecordRows& input, size_t rows,
                          float* scores, float* reconstruction) {
  ScoreInt8Rows<SmullKernel>(model, RecordInput{input.numeric, input.hot}, rows, scores,
                             reconstruction);
}

Int8Kernels NeonInt8Kernels() {
  return {ScoreInt8Neon, ScoreInt8RecordsNeon};
}

}  // namespace ebgan
