// The NEON int8 kernels (dense and record rows) with the ARMv8.2
// dot-product instructions (built with -march=armv8.2-a+dotprod
// -ffp-contract=off; called only when IsaUsable(Isa::kNeonDotprod) holds,
// i.e. the kernel reports HWCAP_ASIMDDP: a Cortex-A53 has no sdot and would
// fault). Their results are bit-identical to the scalar int8 kernels:
// kernel_int8.h lists the steps, kernel_int8_neon_common.h says how the
// float steps and the driver meet them. This file holds only the integer
// micro-kernel; kernel_int8_neon.cpp has the ARMv8.0 one and is kept apart
// because only this file may contain ARMv8.2 instructions.
//
// Micro-kernel. It loads 16 activation bytes of a row (4 groups) at once and
// feeds them to sdot by element index (vdotq_laneq_s32), so no instruction
// is spent on broadcasts: R = 4 rows by V = 4 units is 16 accumulators,
// 4 weight and 4 activation registers of the 32.
//
// Integer hazards. sdot multiplies signed bytes by signed bytes and adds
// each lane's four products to an int32 lane, exactly: a group's sum is at
// most 4 * 127 * 127 = 64,516 in magnitude (weights are never -128 and
// activations are clamped to [-127, 127]; even (-128)^2 * 4 = 65,536 would
// fit), with no intermediate narrowing and no saturation. Accumulators:
// |acc| <= 127 * 127 * 512 = 8,258,048 < 2^24 for the widest fan-in, far
// inside int32 and exactly convertible to float. Padded inputs have zero
// weights and q_x = 0; padded outputs zero weights, scales and biases.
#include <arm_neon.h>

#include "kernel_int8_neon_common.h"

namespace ebgan {
namespace {

struct SdotKernel {
  static constexpr int kMaxUnits = 8;
  // Units per tile of R rows: R * V accumulators, V weights and R activation
  // registers within the 32 vector registers; one or two rows take 8 units,
  // so that even a single row keeps 8 independent sdot chains in flight.
  static constexpr int UnitsFor(int rows) { return rows <= 2 ? 8 : 4; }

  // One group of 4 inputs: activation element L of x[r] against V weight
  // vectors of 4 outputs x 4 inputs.
  template <int L, int R, int V>
  static EBGAN_INT8_INLINE void Group(int32x4_t (&acc)[R][V], const int8_t* w,
                                      const int8x16_t (&x)[R]) {
    int8x16_t wv[V];
    for (int v = 0; v < V; ++v) wv[v] = vld1q_s8(w + v * 16);
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = vdotq_laneq_s32(acc[r][v], wv[v], x[r], L);
  }

  // acc[r][v] = the exact dot products of row r with outputs j..j+3 of unit
  // v over `groups` groups.
  template <int R, int V>
  static EBGAN_INT8_INLINE void Accumulate(const int8_t* q, const int8_t* w, size_t w_step,
                                           int groups, int32x4_t (&acc)[R][V]) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = vdupq_n_s32(0);

    int g = 0;
    for (; g + 4 <= groups; g += 4, w += 4 * w_step) {
      int8x16_t x[R];
      for (int r = 0; r < R; ++r) x[r] = vld1q_s8(q + r * kStrideQ + g * kInt8Group);
      Group<0>(acc, w, x);
      Group<1>(acc, w + w_step, x);
      Group<2>(acc, w + 2 * w_step, x);
      Group<3>(acc, w + 3 * w_step, x);
    }
    for (; g < groups; ++g, w += w_step) {  // the last 1 to 3 groups
      int8x16_t x[R];
      for (int r = 0; r < R; ++r) x[r] = Broadcast4(q + r * kStrideQ + g * kInt8Group);
      Group<0>(acc, w, x);
    }
  }
};

}  // namespace

// NeonDotprodInt8Kernels(): the shared driver with the sdot micro-kernel.
void ScoreInt8NeonDotprod(const PackedInt8Model& model, const float* input, size_t rows,
                          float* scores, float* reconstruction) {
  ScoreInt8Rows<SdotKernel>(model, DenseInput{input}, rows, scores, reconstruction);
}

void ScoreInt8RecordsNeonDotprod(const PackedInt8Model& model, const RecordRows& input, size_t rows,
                                 float* scores, float* reconstruction) {
  ScoreInt8Rows<SdotKernel>(model, RecordInput{input.numeric, input.hot}, rows, scores,
                            reconstruction);
}

Int8Kernels NeonDotprodInt8Kernels() {
  return {ScoreInt8NeonDotprod, ScoreInt8RecordsNeonDotprod};
}

}  // namespace ebgan
