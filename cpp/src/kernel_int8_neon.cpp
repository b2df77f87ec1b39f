// The NEON int8 kernel for ARMv8.0 (Advanced SIMD, no dot product; built
// with -ffp-contract=off and no -march flag, so it runs on a Cortex-A53).
// Its results are bit-identical to ScoreInt8Scalar: kernel_int8.h lists the
// steps, the comments below say how each one is met. The float steps and
// the driver are the same as in kernel_int8_neon_dotprod.cpp, which differs
// only in its micro-kernel; the two are kept as separate files because the
// other one is compiled for ARMv8.2.
//
// Shape. Rows are scored in blocks of kBlockRows, layer by layer, with the
// block's activations in stack buffers (about 56 KiB). A layer quantises
// each input row to signed bytes, then walks its outputs in panels of V
// units of 4 outputs (16 packed weight bytes per group of 4 inputs); for
// each panel a register-blocked micro-kernel runs over tiles of R rows, so
// the panel's weights stay in L1 while the block's tiles reuse them.
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
//
// Floating-point steps, each one intrinsic with one rounding, in the order
// of kernel_int8.h; -ffp-contract=off keeps vmulq and vaddq from fusing:
// - Quantisation: m = (m < |a|) ? |a| : m by compare and select, which
//   keeps m when |a| is NaN exactly like std::max(m, |a|) (fmax and fmaxnm
//   would not: one propagates the NaN, the other is not this expression).
//   127 / m and m / 127 are scalar divisions. The clamp is written the same
//   way as the oracle's std::min(127, std::max(-127, r)) and maps NaN to
//   -127; clamping before rounding equals clamping after, the bounds being
//   integers. frinti (vrndiq_f32) rounds in the FPCR mode as nearbyint
//   does: half to even by default, and the same under any mode the caller
//   sets; the conversion after it is exact.
// - Epilogue: float(acc) * (scale_x * scale_w[j]), then + bias[j], then
//   LeakyReLU as a compare (y < 0, false for NaN) and a select of y * 0.2f.
// - Score: 16 lanes in four vectors, lane i taking (y[f] - x[f])^2 for
//   f = i, i + 16, ... in order from 0; f >= 121 adds exactly 0 and the
//   input row is never read past its end. Folds (i, i+8), (i, i+4),
//   (i, i+2), (i, i+1), then / 121.
// No flush-to-zero is set (FPCR.FZ stays as the caller left it, off by
// default): subnormals are handled per IEEE, like the oracle.
#include <arm_neon.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "ebgan/kernel_int8.h"

namespace ebgan {
namespace {

constexpr int kLanes = 4;
constexpr int kUnit = 4;  // outputs per unit: 16 weight bytes per group
constexpr int kBlockRows = 16;
constexpr int kTileRows = 4;
constexpr int kMaxUnits = 4;
// Units per tile of R rows: 2 * R * V accumulators, 2 * V weights, 2 * R
// activations and 2 products in the 32 vector registers.
constexpr int UnitsFor(int rows) {
  return rows <= 2 ? 4 : 2;
}
static_assert(kBlockRows % kTileRows == 0, "a block is a whole number of tiles");

// Row strides: buffer a holds layers 0, 2 and 4's outputs (512, 112, 256
// wide), b layers 1, 3 and 5's (256, 128, 128 wide).
constexpr int kStrideA = kMaxPaddedWidth;
constexpr int kStrideB = 256;
constexpr int kStrideQ = kMaxPaddedWidth;
static_assert(kPaddedWidths[2] <= kStrideB && kPaddedWidths[4] <= kStrideB &&
                  kPaddedWidths[6] <= kStrideB,
              "buffer b holds the outputs of layers 1, 3 and 5");
static_assert(kPaddedWidths[kLayerCount] % 16 == 0, "the score takes 16 lanes at a time");

// The first `count` floats at a (all 4 if count >= 4), zeros after them;
// never reads past a[count - 1].
inline float32x4_t LoadPart(const float* a, int count) {
  if (count >= kLanes) return vld1q_f32(a);
  float part[kLanes] = {};
  for (int i = 0; i < count; ++i) part[i] = a[i];
  return vld1q_f32(part);
}

inline uint32x4_t LaneBelow(int count) {
  const int32_t index[kLanes] = {0, 1, 2, 3};
  return vcltq_s32(vld1q_s32(index), vdupq_n_s32(count));
}

// Quantises one row of `width` floats to q_x over whole runs of 16 (bytes
// past `width` hold 0); returns scale_x.
float QuantizeRow16(const float* a, int width, int8_t* q) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int k = 0; k < width; k += kLanes) {
    const float32x4_t v = vabsq_f32(LoadPart(a + k, width - k));
    m = vbslq_f32(vcltq_f32(m, v), v, m);
  }
  const float max_abs = vmaxvq_f32(m);
  if (max_abs == 0.0f) {
    std::memset(q, 0, size_t(PaddedWidth(width)));
    return 0.0f;
  }

  const float32x4_t inverse = vdupq_n_f32(127.0f / max_abs);
  const float32x4_t low = vdupq_n_f32(-127.0f);
  const float32x4_t high = vdupq_n_f32(127.0f);
  for (int k = 0; k < width; k += 4 * kLanes) {
    int32x4_t part[4];
    for (int p = 0; p < 4; ++p) {
      const int count = width - k - p * kLanes;
      if (count <= 0) {
        part[p] = vdupq_n_s32(0);
        continue;
      }
      const float32x4_t r = vmulq_f32(LoadPart(a + k + p * kLanes, count), inverse);
      float32x4_t t = vbslq_f32(vcltq_f32(low, r), r, low);
      t = vbslq_f32(vcltq_f32(t, high), t, high);
      const int32x4_t i = vcvtq_s32_f32(vrndiq_f32(t));
      part[p] = vandq_s32(i, vreinterpretq_s32_u32(LaneBelow(count)));
    }
    const int16x8_t h0 = vcombine_s16(vmovn_s32(part[0]), vmovn_s32(part[1]));
    const int16x8_t h1 = vcombine_s16(vmovn_s32(part[2]), vmovn_s32(part[3]));
    vst1q_s8(q + k, vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
  }
  return max_abs / 127.0f;
}

struct LayerArgs {
  const PackedInt8Layer* layer;
  const int8_t* q;       // the tile's first quantised row, stride kStrideQ
  const float* scale_x;  // the tile's first row's scale_x
  float* y;              // the tile's first output row
  int y_stride;
  int j0;  // first output of the panel
};

inline int8x16_t Broadcast4(const int8_t* q) {
  int32_t four;
  std::memcpy(&four, q, sizeof(four));
  return vreinterpretq_s8_s32(vdupq_n_s32(four));
}

// R rows by V units of 4 outputs; acc[r][v][0] holds outputs j, j+1 and
// acc[r][v][1] outputs j+2, j+3, two partial sums each.
template <int R, int V>
void Tile(const LayerArgs& args) {
  const PackedInt8Layer& layer = *args.layer;
  const int out_padded = PaddedWidth(layer.out);
  const int groups = PaddedDepth(layer.in) / kInt8Group;

  int32x4_t acc[R][V][2];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v][0] = acc[r][v][1] = vdupq_n_s32(0);

  const int8_t* w = layer.weight + size_t(args.j0) * kInt8Group;
  const size_t w_step = size_t(out_padded) * kInt8Group;
  int g = 0;
  for (; g + 2 <= groups; g += 2, w += 2 * w_step) {
    int8x16_t w0[V], w1[V];
    for (int v = 0; v < V; ++v) {
      w0[v] = vld1q_s8(w + v * 16);
      w1[v] = vld1q_s8(w + w_step + v * 16);
    }
    for (int r = 0; r < R; ++r) {
      const int8x16_t x0 = Broadcast4(args.q + r * kStrideQ + g * kInt8Group);
      const int8x16_t x1 = Broadcast4(args.q + r * kStrideQ + (g + 1) * kInt8Group);
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
      const int8x16_t x0 = Broadcast4(args.q + r * kStrideQ + g * kInt8Group);
      for (int v = 0; v < V; ++v) {
        const int8x16_t w0 = vld1q_s8(w + v * 16);
        acc[r][v][0] = vpadalq_s16(acc[r][v][0], vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
        acc[r][v][1] = vpadalq_s16(acc[r][v][1], vmull_high_s8(w0, x0));
      }
    }
  }

  const float32x4_t zero = vdupq_n_f32(0.0f);
  const float32x4_t slope = vdupq_n_f32(kLeakySlope);
  for (int v = 0; v < V; ++v) {
    const int j = args.j0 + v * kUnit;
    const float32x4_t scale_w = vld1q_f32(layer.weight_scale + j);
    const float32x4_t bias = vld1q_f32(layer.bias + j);
    for (int r = 0; r < R; ++r) {
      const int32x4_t sum = vpaddq_s32(acc[r][v][0], acc[r][v][1]);
      const float32x4_t scale = vmulq_f32(vdupq_n_f32(args.scale_x[r]), scale_w);
      float32x4_t y = vmulq_f32(vcvtq_f32_s32(sum), scale);
      y = vaddq_f32(y, bias);
      if (layer.leaky_relu) y = vbslq_f32(vcltq_f32(y, zero), vmulq_f32(y, slope), y);
      vst1q_f32(args.y + r * args.y_stride + j, y);
    }
  }
}

using TileFn = void (*)(const LayerArgs&);

template <int R, int... V>
constexpr std::array<TileFn, kMaxUnits> TilesFor(std::integer_sequence<int, V...>) {
  // Entries past UnitsFor(R) are never called; they point at the widest.
  return {&Tile<R, std::min(V + 1, UnitsFor(R))>...};
}

template <int... R>
constexpr std::array<std::array<TileFn, kMaxUnits>, kTileRows> MakeTiles(
    std::integer_sequence<int, R...>) {
  return {TilesFor<R + 1>(std::make_integer_sequence<int, kMaxUnits>())...};
}

constexpr auto kTiles = MakeTiles(std::make_integer_sequence<int, kTileRows>());

// One layer for `rows` rows: quantise, then panels of outputs by tiles of rows.
void Dense(const PackedInt8Layer& layer, const float* a, int a_stride, int rows, int8_t* q,
           float* scale_x, float* y, int y_stride) {
  for (int r = 0; r < rows; ++r)
    scale_x[r] = QuantizeRow16(a + size_t(r) * a_stride, layer.in, q + r * kStrideQ);

  const int units = PaddedWidth(layer.out) / kUnit;
  const int panel = UnitsFor(std::min(rows, kTileRows));
  for (int v0 = 0; v0 < units; v0 += panel) {
    const int nv = std::min(panel, units - v0);
    for (int r0 = 0; r0 < rows; r0 += kTileRows) {
      const int nr = std::min(kTileRows, rows - r0);
      const LayerArgs args{&layer,   q + r0 * kStrideQ, scale_x + r0, y + size_t(r0) * y_stride,
                           y_stride, v0 * kUnit};
      kTiles[nr - 1][std::min(nv, UnitsFor(nr)) - 1](args);
    }
  }
}

// kernel_int8.h step 5 on one row; y holds the 128 padded outputs.
float Score(const float* y, const float* x) {
  float32x4_t lane[4];
  for (float32x4_t& l : lane) l = vdupq_n_f32(0.0f);
  for (int f = 0; f < kPaddedWidths[kLayerCount]; f += 4 * kLanes) {
    for (int p = 0; p < 4; ++p) {
      const int count = kFeatureCount - f - p * kLanes;
      const float32x4_t d = count <= 0 ? vdupq_n_f32(0.0f)
                                       : vsubq_f32(LoadPart(y + f + p * kLanes, count),
                                                   LoadPart(x + f + p * kLanes, count));
      lane[p] = vaddq_f32(lane[p], vmulq_f32(d, d));
    }
  }
  const float32x4_t l8a = vaddq_f32(lane[0], lane[2]);
  const float32x4_t l8b = vaddq_f32(lane[1], lane[3]);
  const float32x4_t l4 = vaddq_f32(l8a, l8b);
  const float32x2_t l2 = vadd_f32(vget_low_f32(l4), vget_high_f32(l4));
  const float l1 = vget_lane_f32(l2, 0) + vget_lane_f32(l2, 1);
  return l1 / float(kFeatureCount);
}

}  // namespace

void ScoreInt8Neon(const PackedInt8Model& model, const float* input, size_t rows, float* scores,
                   float* reconstruction) {
  alignas(64) float a[kBlockRows * kStrideA];
  alignas(64) float b[kBlockRows * kStrideB];
  alignas(64) int8_t q[kBlockRows * kStrideQ];
  float scale_x[kBlockRows];

  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const float* x = input + start * kFeatureCount;
    Dense(model.layers[0], x, kFeatureCount, n, q, scale_x, a, kStrideA);
    Dense(model.layers[1], a, kStrideA, n, q, scale_x, b, kStrideB);
    Dense(model.layers[2], b, kStrideB, n, q, scale_x, a, kStrideA);
    Dense(model.layers[3], a, kStrideA, n, q, scale_x, b, kStrideB);
    Dense(model.layers[4], b, kStrideB, n, q, scale_x, a, kStrideA);
    Dense(model.layers[5], a, kStrideA, n, q, scale_x, b, kStrideB);

    for (int r = 0; r < n; ++r) {
      const float* y = b + r * kStrideB;
      scores[start + r] = Score(y, x + size_t(r) * kFeatureCount);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

Int8Kernels NeonInt8Kernels() {
  return {ScoreInt8Neon, nullptr};
}

}  // namespace ebgan
