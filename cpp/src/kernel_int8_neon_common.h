// What the two NEON int8 kernels share: quantisation, the float epilogue,
// the score, the record rows' first layer and the driver. Only the integer
// micro-kernel differs (smull/smlal + sadalp in kernel_int8_neon.cpp, sdot
// in kernel_int8_neon_dotprod.cpp); each file passes its own as `Kernel`:
//
//   struct Kernel {
//     static constexpr int kMaxUnits;            // widest panel, in units
//     static constexpr int UnitsFor(int rows);   // panel width for a tile
//     template <int R, int V>                    // exact int32 dot products
//     static void Accumulate(const int8_t* q, const int8_t* w, size_t w_step,
//                            int groups, int32x4_t (&sum)[R][V]);
//   };
//
// Everything here is in an anonymous namespace on purpose: the dot-product
// file is compiled for ARMv8.2 and the other for ARMv8.0, so each must get
// its own copy of these functions. With external linkage the linker could
// keep the ARMv8.2 copy of an inline function for both, and a Cortex-A53
// would then fault on it.
//
// Shape. Rows are scored in blocks of kBlockRows, layer by layer, with the
// block's activations in stack buffers (about 56 KiB). A layer quantises
// each input row to signed bytes, then walks its outputs in panels of V
// units of 4 outputs (16 packed weight bytes per group of 4 inputs); for
// each panel a register-blocked micro-kernel runs over tiles of R rows, so
// the panel's weights stay in L1 while the block's tiles reuse them.
//
// Floating-point steps, each one intrinsic with one rounding, in the order
// of kernel_int8.h; both files are built with -ffp-contract=off, which keeps
// vmulq and vaddq from fusing:
// - Quantisation: m = (m < |a|) ? |a| : m by compare and select, which
//   keeps m when |a| is NaN exactly like std::max(m, |a|) (fmax and fmaxnm
//   would not: one propagates the NaN, the other is not this expression).
//   127 / m and m / 127 are scalar divisions. The clamp is written the same
//   way as the oracle's std::min(127, std::max(-127, r)) and maps NaN to
//   -127; clamping before rounding equals clamping after, the bounds being
//   integers. frinti (vrndiq_f32) rounds in the FPCR mode as nearbyint
//   does: half to even by default, and the same under any mode the caller
//   sets; the conversion after it is exact.
// - Record rows: m is the numeric features' largest magnitude, raised to 1
//   if any column is hot (the dense row's maximum); a hot column's q_x is
//   the same clamp and rounding of 1 * (127 / m). Groups 0..9 (features
//   0..39, the numeric ones and zero bytes) go through the micro-kernel;
//   then q_x * w[j][hot] of each hot column is added to the int32 sums.
//   Integer sums are exact in any order, so they equal the dense row's.
// - Epilogue: float(acc) * (scale_x * scale_w[j]), then + bias[j], then
//   LeakyReLU as a compare (y < 0, false for NaN) and a select of y * 0.2f.
// - Score: 16 lanes in four vectors, lane i taking (y[f] - x[f])^2 for
//   f = i, i + 16, ... in order from 0; f >= 121 adds exactly 0 and the
//   input row is never read past its end (record rows' one-hot features are
//   formed in registers). Folds (i, i+8), (i, i+4), (i, i+2), (i, i+1),
//   then / 121.
// No flush-to-zero is set (FPCR.FZ stays as the caller left it, off by
// default): subnormals are handled per IEEE, like the oracle.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "ebgan/kernel_int8.h"

namespace ebgan {
namespace {

#define EBGAN_INT8_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 4;
constexpr int kUnit = 4;  // outputs per unit: 16 weight bytes per group
constexpr int kBlockRows = 16;
constexpr int kTileRows = 4;
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
// A record row's numeric features are quantised as whole groups of 4.
constexpr int kRecordGroups = kRecordStride / kInt8Group;
static_assert(kRecordStride % kInt8Group == 0 && kRecordStride <= kStrideQ,
              "record rows fill whole groups");

// The first `count` floats at a (all 4 if count >= 4), zeros after them;
// never reads past a[count - 1].
EBGAN_INT8_INLINE float32x4_t LoadPart(const float* a, int count) {
  if (count >= kLanes) return vld1q_f32(a);
  float part[kLanes] = {};
  for (int i = 0; i < count; ++i) part[i] = a[i];
  return vld1q_f32(part);
}

EBGAN_INT8_INLINE uint32x4_t LaneBelow(int count) {
  const int32_t index[kLanes] = {0, 1, 2, 3};
  return vcltq_s32(vld1q_s32(index), vdupq_n_s32(count));
}

// The largest |a[k]| for k < width, NaNs skipped as std::max skips them.
EBGAN_INT8_INLINE float MaxAbs(const float* a, int width) {
  float32x4_t m = vdupq_n_f32(0.0f);
  for (int k = 0; k < width; k += kLanes) {
    const float32x4_t v = vabsq_f32(LoadPart(a + k, width - k));
    m = vbslq_f32(vcltq_f32(m, v), v, m);
  }
  return vmaxvq_f32(m);  // no lane holds a NaN
}

// clamp(nearbyint(v * inverse), -127, 127) per lane.
EBGAN_INT8_INLINE int32x4_t QuantizeLanes(float32x4_t v, float32x4_t inverse) {
  const float32x4_t low = vdupq_n_f32(-127.0f);
  const float32x4_t high = vdupq_n_f32(127.0f);
  const float32x4_t r = vmulq_f32(v, inverse);
  float32x4_t t = vbslq_f32(vcltq_f32(low, r), r, low);
  t = vbslq_f32(vcltq_f32(t, high), t, high);
  return vcvtq_s32_f32(vrndiq_f32(t));
}

// Quantises `width` floats with 127 / m = inverse to q_x over whole runs of
// 16 (bytes past `width` hold 0).
EBGAN_INT8_INLINE void QuantizeWith(const float* a, int width, float inverse, int8_t* q) {
  const float32x4_t inv = vdupq_n_f32(inverse);
  for (int k = 0; k < width; k += 4 * kLanes) {
    int32x4_t part[4];
    for (int p = 0; p < 4; ++p) {
      const int count = width - k - p * kLanes;
      if (count <= 0) {
        part[p] = vdupq_n_s32(0);
        continue;
      }
      const int32x4_t i = QuantizeLanes(LoadPart(a + k + p * kLanes, count), inv);
      part[p] = vandq_s32(i, vreinterpretq_s32_u32(LaneBelow(count)));
    }
    const int16x8_t h0 = vcombine_s16(vmovn_s32(part[0]), vmovn_s32(part[1]));
    const int16x8_t h1 = vcombine_s16(vmovn_s32(part[2]), vmovn_s32(part[3]));
    vst1q_s8(q + k, vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
  }
}

// Quantises one row of `width` floats (QuantizeRow in kernel_int8.h);
// returns scale_x.
EBGAN_INT8_INLINE float QuantizeRow16(const float* a, int width, int8_t* q) {
  const float max_abs = MaxAbs(a, width);
  if (max_abs == 0.0f) {
    std::memset(q, 0, size_t(PaddedWidth(width)));
    return 0.0f;
  }
  QuantizeWith(a, width, 127.0f / max_abs, q);
  return max_abs / 127.0f;
}

// Quantises one record row as its dense row would be: the numeric features
// to q[0..39] (37..39 are 0), and the hot columns' 1 to *q_hot; returns
// scale_x. A row with no hot column has *q_hot = 0.
EBGAN_INT8_INLINE float QuantizeRecord(const float* numeric, const int16_t* hot, int8_t* q,
                                       int32_t* q_hot) {
  float max_abs = MaxAbs(numeric, kNumericFeatureCount);
  bool any_hot = false;
  for (int c = 0; c < kCategoricalCount; ++c) any_hot |= hot[c] >= 0;
  if (any_hot && max_abs < 1.0f) max_abs = 1.0f;  // std::max(m, 1.0f); m is no NaN
  *q_hot = 0;
  if (max_abs == 0.0f) {
    std::memset(q, 0, size_t(PaddedWidth(kNumericFeatureCount)));
    return 0.0f;
  }
  const float inverse = 127.0f / max_abs;
  QuantizeWith(numeric, kNumericFeatureCount, inverse, q);
  if (any_hot) *q_hot = vgetq_lane_s32(QuantizeLanes(vdupq_n_f32(1.0f), vdupq_n_f32(inverse)), 0);
  return max_abs / 127.0f;
}

struct LayerArgs {
  const PackedInt8Layer* layer;
  const int8_t* q;       // the tile's first quantised row, stride kStrideQ
  const float* scale_x;  // the tile's first row's scale_x
  float* y;              // the tile's first output row
  int y_stride;
  int j0;      // first output of the panel
  int groups;  // groups of 4 inputs in q
  // Record rows only (else null): the tile's first row's hot columns
  // (stride kCategoricalCount) and their q_x.
  const int16_t* hot;
  const int32_t* q_hot;
};

// The row's 4 activations of one group in every 32-bit lane.
EBGAN_INT8_INLINE int8x16_t Broadcast4(const int8_t* q) {
  int32_t four;
  std::memcpy(&four, q, sizeof(four));
  return vreinterpretq_s8_s32(vdupq_n_s32(four));
}

// sum[r][v] += q_hot[r] * w[j][hot] for each hot column of row r, j the 4
// outputs of unit v. Weight w[j][k] is byte k % 4 of the 32-bit lane j of
// its group's 16 bytes: shifted to the top and back, sign-extended. Exact:
// |q * w| <= 127 * 127, three columns at most, far inside int32.
template <int R, int V>
EBGAN_INT8_INLINE void AddHotColumns(const LayerArgs& args, int32x4_t (&sum)[R][V]) {
  const PackedInt8Layer& layer = *args.layer;
  const size_t w_step = size_t(PaddedWidth(layer.out)) * kInt8Group;
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kCategoricalCount; ++c) {
      const int hot = args.hot[r * kCategoricalCount + c];
      if (hot < 0) continue;
      const int8_t* w =
          layer.weight + size_t(hot / kInt8Group) * w_step + size_t(args.j0) * kInt8Group;
      const int32x4_t up = vdupq_n_s32(8 * (kInt8Group - 1 - hot % kInt8Group));
      for (int v = 0; v < V; ++v) {
        const int32x4_t four = vreinterpretq_s32_s8(vld1q_s8(w + v * 16));
        const int32x4_t weight = vshrq_n_s32(vshlq_s32(four, up), 24);
        sum[r][v] = vmlaq_n_s32(sum[r][v], weight, args.q_hot[r]);
      }
    }
  }
}

// R rows by V units of 4 outputs: the micro-kernel's exact sums, then the
// float steps 1-3 of kernel_int8.h.
template <typename Kernel, int R, int V>
void Tile(const LayerArgs& args) {
  const PackedInt8Layer& layer = *args.layer;
  const size_t w_step = size_t(PaddedWidth(layer.out)) * kInt8Group;

  int32x4_t sum[R][V];
  Kernel::template Accumulate<R, V>(args.q, layer.weight + size_t(args.j0) * kInt8Group, w_step,
                                    args.groups, sum);
  if (args.hot) AddHotColumns<R, V>(args, sum);

  const float32x4_t zero = vdupq_n_f32(0.0f);
  const float32x4_t slope = vdupq_n_f32(kLeakySlope);
  for (int v = 0; v < V; ++v) {
    const int j = args.j0 + v * kUnit;
    const float32x4_t scale_w = vld1q_f32(layer.weight_scale + j);
    const float32x4_t bias = vld1q_f32(layer.bias + j);
    for (int r = 0; r < R; ++r) {
      const float32x4_t scale = vmulq_f32(vdupq_n_f32(args.scale_x[r]), scale_w);
      float32x4_t y = vmulq_f32(vcvtq_f32_s32(sum[r][v]), scale);
      y = vaddq_f32(y, bias);
      if (layer.leaky_relu) y = vbslq_f32(vcltq_f32(y, zero), vmulq_f32(y, slope), y);
      vst1q_f32(args.y + r * args.y_stride + j, y);
    }
  }
}

using TileFn = void (*)(const LayerArgs&);

template <typename Kernel, int R, int... V>
constexpr std::array<TileFn, Kernel::kMaxUnits> TilesFor(std::integer_sequence<int, V...>) {
  // Entries past UnitsFor(R) are never called; they point at the widest.
  return {&Tile<Kernel, R, std::min(V + 1, Kernel::UnitsFor(R))>...};
}

template <typename Kernel, int... R>
constexpr std::array<std::array<TileFn, Kernel::kMaxUnits>, kTileRows> MakeTiles(
    std::integer_sequence<int, R...>) {
  return {TilesFor<Kernel, R + 1>(std::make_integer_sequence<int, Kernel::kMaxUnits>())...};
}

template <typename Kernel>
constexpr auto kTiles = MakeTiles<Kernel>(std::make_integer_sequence<int, kTileRows>());

// One layer's outputs for `rows` quantised rows: panels of outputs by tiles
// of rows. `hot` and `q_hot` are null except for record rows.
template <typename Kernel>
void Panels(const PackedInt8Layer& layer, int rows, int groups, const int8_t* q,
            const float* scale_x, const int16_t* hot, const int32_t* q_hot, float* y,
            int y_stride) {
  const int units = PaddedWidth(layer.out) / kUnit;
  const int panel = Kernel::UnitsFor(std::min(rows, kTileRows));
  for (int v0 = 0; v0 < units; v0 += panel) {
    const int nv = std::min(panel, units - v0);
    for (int r0 = 0; r0 < rows; r0 += kTileRows) {
      const int nr = std::min(kTileRows, rows - r0);
      const LayerArgs args{&layer,
                           q + r0 * kStrideQ,
                           scale_x + r0,
                           y + size_t(r0) * y_stride,
                           y_stride,
                           v0 * kUnit,
                           groups,
                           hot ? hot + r0 * kCategoricalCount : nullptr,
                           q_hot ? q_hot + r0 : nullptr};
      kTiles<Kernel>[nr - 1][std::min(nv, Kernel::UnitsFor(nr)) - 1](args);
    }
  }
}

// Block scratch: activations, quantised rows and their scales.
struct Scratch {
  alignas(64) float a[kBlockRows * kStrideA];
  alignas(64) float b[kBlockRows * kStrideB];
  alignas(64) int8_t q[kBlockRows * kStrideQ];
  float scale_x[kBlockRows];
  int32_t q_hot[kBlockRows];
};

// One layer for `rows` rows: quantise, then the integer and float steps.
template <typename Kernel>
void Dense(const PackedInt8Layer& layer, const float* a, int a_stride, int rows, Scratch& s,
           float* y, int y_stride) {
  for (int r = 0; r < rows; ++r)
    s.scale_x[r] = QuantizeRow16(a + size_t(r) * a_stride, layer.in, s.q + r * kStrideQ);
  Panels<Kernel>(layer, rows, PaddedDepth(layer.in) / kInt8Group, s.q, s.scale_x, nullptr, nullptr,
                 y, y_stride);
}

// Dense model input: rows of kFeatureCount floats.
struct DenseInput {
  const float* x;

  DenseInput Advance(size_t rows) const { return {x + rows * kFeatureCount}; }
  EBGAN_INT8_INLINE float32x4_t Features(int r, int f, int count) const {
    return LoadPart(x + size_t(r) * kFeatureCount + f, count);
  }
};

// Record rows (kernel.h, RecordRows).
struct RecordInput {
  const float* numeric;  // stride kRecordStride
  const int16_t* hot;    // stride kCategoricalCount

  RecordInput Advance(size_t rows) const {
    return {numeric + rows * kRecordStride, hot + rows * kCategoricalCount};
  }
  // Features f..f+3 of row r formed in registers, zero past `count`: the
  // numeric value for f < 37 (the pads past feature 36 are not features
  // 37..39, which are one-hot), 1 at the row's hot columns, else 0.
  EBGAN_INT8_INLINE float32x4_t Features(int r, int f, int /*count*/) const {
    const int32x4_t index = vaddq_s32(vdupq_n_s32(f), int32x4_t{0, 1, 2, 3});
    float32x4_t x = vdupq_n_f32(0.0f);
    if (f < kNumericFeatureCount) {
      const uint32x4_t numeric_lane = vcltq_s32(index, vdupq_n_s32(kNumericFeatureCount));
      x = vbslq_f32(numeric_lane, vld1q_f32(numeric + size_t(r) * kRecordStride + f), x);
    }
    if (f + kLanes > kNumericFeatureCount) {
      const int16_t* h = hot + size_t(r) * kCategoricalCount;
      uint32x4_t is_hot = vceqq_s32(index, vdupq_n_s32(h[0]));
      for (int c = 1; c < kCategoricalCount; ++c)
        is_hot = vorrq_u32(is_hot, vceqq_s32(index, vdupq_n_s32(h[c])));
      x = vbslq_f32(is_hot, vdupq_n_f32(1.0f), x);
    }
    return x;  // zero past `count`: hot columns are at most feature 120
  }
};

template <typename Kernel>
void FirstLayer(const PackedInt8Layer& layer, const DenseInput& in, int rows, Scratch& s) {
  Dense<Kernel>(layer, in.x, kFeatureCount, rows, s, s.a, kStrideA);
}

template <typename Kernel>
void FirstLayer(const PackedInt8Layer& layer, const RecordInput& in, int rows, Scratch& s) {
  for (int r = 0; r < rows; ++r)
    s.scale_x[r] = QuantizeRecord(in.numeric + size_t(r) * kRecordStride,
                                  in.hot + r * kCategoricalCount, s.q + r * kStrideQ, s.q_hot + r);
  Panels<Kernel>(layer, rows, kRecordGroups, s.q, s.scale_x, in.hot, s.q_hot, s.a, kStrideA);
}

// kernel_int8.h step 5 on row r; y holds the 128 padded outputs.
template <typename Input>
float Score(const float* y, const Input& in, int r) {
  float32x4_t lane[4];
  for (float32x4_t& l : lane) l = vdupq_n_f32(0.0f);
  for (int f = 0; f < kPaddedWidths[kLayerCount]; f += 4 * kLanes) {
    for (int p = 0; p < 4; ++p) {
      const int g = f + p * kLanes;
      const int count = kFeatureCount - g;
      const float32x4_t d = count <= 0
                                ? vdupq_n_f32(0.0f)
                                : vsubq_f32(LoadPart(y + g, count), in.Features(r, g, count));
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

// The whole model on `rows` rows of dense or record input.
template <typename Kernel, typename Input>
void ScoreInt8Rows(const PackedInt8Model& model, const Input& input, size_t rows, float* scores,
                   float* reconstruction) {
  Scratch s;
  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const Input in = input.Advance(start);
    FirstLayer<Kernel>(model.layers[0], in, n, s);
    Dense<Kernel>(model.layers[1], s.a, kStrideA, n, s, s.b, kStrideB);
    Dense<Kernel>(model.layers[2], s.b, kStrideB, n, s, s.a, kStrideA);
    Dense<Kernel>(model.layers[3], s.a, kStrideA, n, s, s.b, kStrideB);
    Dense<Kernel>(model.layers[4], s.b, kStrideB, n, s, s.a, kStrideA);
    Dense<Kernel>(model.layers[5], s.a, kStrideA, n, s, s.b, kStrideB);

    for (int r = 0; r < n; ++r) {
      const float* y = s.b + r * kStrideB;
      scores[start + r] = Score(y, in, r);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

}  // namespace
}  // namespace ebgan
