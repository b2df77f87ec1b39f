// The NEON (Advanced SIMD) float kernels for aarch64, where it is part of
// the baseline: built without extra flags, called when IsaUsable(Isa::kNeon).
// One template serves four kernels: fp32 or fp16 weights by dense or record
// rows (kernel.h). fp16 weights are widened to fp32 by FCVTL as they are
// loaded (baseline on aarch64, exact), so every variant does the fp32
// kernel's arithmetic in the fp32 kernel's order and returns equal results.
//
// Shape. Rows are scored in tiles of kTileRows; a tile's activations live in
// two stack buffers (24 KiB) and stay in L1/L2 from one layer to the next,
// so only the weights stream from the outer caches, once per tile. Each layer
// is a sequence of register-blocked outer products: a block of R rows by V
// output vectors of 4 floats is held in R*V accumulators. NEON multiplies by
// a lane of a register, so instead of broadcasting x[r][k] the kernel loads
// x[r][k..k+3] once and issues, for each of the four k, V weight loads and
// R*V lane FMAs (FMLA by element). The largest block is R = 4 by V = 5: 20
// accumulators, 4 input and 5 weight registers of the 32. Two such blocks
// share each weight panel, which then comes from L1 for the second. A batch
// smaller than 4 rows takes the same code with R equal to its size and V as
// large as the register file allows (16 for one row): one row then reads
// every weight exactly once, in long contiguous runs.
//
// Numerics (kernel.h fixes the order; this is how this kernel meets it):
// - FMA contraction: every output starts from its bias and accumulates
//   fma(x[r][k], W[k][j], acc) for k = 0, 1, ..., in-1 (FMLA rounds once),
//   one rounding per term where the scalar oracle has two. The blocking
//   changes which register holds an output, never the order of its terms, so
//   a row scores bit for bit the same alone or anywhere in a batch.
// - The anomaly score is fused into the last layer: lane i of a per-row
//   accumulator collects (y[f] - x[f])^2, by FMA, for f = i, i + 4, ..., in
//   ascending f; the lanes past feature 120 add exactly 0. The 4 lanes are
//   then folded as (i, i+2), (i, i+1), and the total is divided by 121.
// - Record rows: the first layer does the 37 numeric FMAs exactly as the
//   dense kernel does and then adds each hot column's weight row (1 * w is
//   exact, and the skipped terms are x * w with x = 0, which leave a sum
//   unchanged); the score forms x of the one-hot features in registers from
//   the hot indices. Both are the dense kernel's values, not approximations.
// - No FTZ/DAZ: FPCR is left as the caller set it (Linux starts threads with
//   flushing off). Trained weights and inputs in [0, 1] are far from the
//   denormal range, so flushing would buy nothing.
// Measured agreement with the scalar oracle under qemu-aarch64 (cpp/tests):
// largest relative score error 6.9e-7 on random N(0, 1/fan_in) models with
// inputs in [0, 1], 7.8e-7 on the shipped model. Like the x86 kernels, its
// absolute error grows like sqrt(score), so rows the model reconstructs very
// well come closest to kFp32RelativeBound (see kernel_avx512.cpp).
// Speed was never measured on ARM hardware: the block shape follows from
// the register count, not from timing.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "ebgan/kernel.h"

namespace ebgan {
namespace {

#define EBGAN_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 4;
static_assert(kPackWidth % kLanes == 0, "packed rows must fill whole q registers");

// Rows of the largest register block, and rows per tile (two blocks).
constexpr int kBlockRows = 4;
constexpr int kTileRows = 8;
// Row strides of the two activation buffers: a holds the 512-, 112- and
// 256-wide outputs (layers 0, 2, 4), b the 256- and 128-wide ones (1, 3).
constexpr size_t kStrideA = kMaxPaddedWidth;
constexpr size_t kStrideB = 256;
static_assert(kPaddedWidths[2] <= int(kStrideB) && kPaddedWidths[4] <= int(kStrideB),
              "buffer b holds the outputs of layers 1 and 3");
// Accumulators: 32 registers minus R inputs and V weights.
constexpr int kAccumulatorRegs = 20;

constexpr int MaxVectors(int rows) {
  return std::min(16, kAccumulatorRegs / rows);
}

// fp32 weights are loaded as they are; binary16 ones (fp16 models) are
// widened in registers by FCVTL, which is exact, so every product and sum
// after it is the fp32 kernel's.
EBGAN_INLINE float32x4_t LoadWeights(const float* w) {
  return vld1q_f32(w);
}
EBGAN_INLINE float32x4_t LoadWeights(const uint16_t* w) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w)));
}

// A layer's input rows: dense model input (stride kFeatureCount) or the
// previous layer's activations.
struct Activations {
  const float* x;
  size_t stride;  // floats between rows of x

  Activations Advance(size_t rows) const { return {x + rows * stride, stride}; }
};

// Record rows (kernel.h, RecordRows) as the first layer and the score read them.
struct Records {
  const float* numeric;  // stride kRecordStride
  const int16_t* hot;    // stride kCategoricalCount

  Records Advance(size_t rows) const {
    return {numeric + rows * kRecordStride, hot + rows * kCategoricalCount};
  }
};

// Where a block's outputs go: stored (after LeakyReLU if the layer has one)
// to the next layer's input, or folded into the score.
struct HiddenOut {
  float* y;
  size_t stride;  // floats between rows of y
  bool leaky;

  HiddenOut Advance(int rows) const { return {y + rows * stride, stride, leaky}; }
};

template <typename Input>
struct ScoreOut {
  Input input;            // the block's first input row
  float32x4_t* sse;       // per row: lane-wise sum of squared errors so far
  float* reconstruction;  // the block's first output row, or null

  ScoreOut Advance(int rows) const {
    return {input.Advance(rows), sse + rows,
            reconstruction ? reconstruction + rows * kFeatureCount : nullptr};
  }
};

// acc[r][v] += x[r][k + lane] * W[k + lane][v], for lane = L.
template <int R, int V, int L, typename W>
EBGAN_INLINE void Step(const W* wk, const float32x4_t (&xq)[R], float32x4_t (&acc)[R][V]) {
  float32x4_t wv[V];
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) wv[v] = LoadWeights(wk + v * kLanes);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) acc[r][v] = vfmaq_laneq_f32(acc[r][v], wv[v], xq[r], L);
}

template <int R, int V, typename W>
EBGAN_INLINE void Accumulate(const Activations& in, const W* w, size_t w_stride, const float* bias,
                             int width, float32x4_t (&acc)[R][V]) {
  const float* x = in.x;
  const size_t x_stride = in.stride;
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) {
    const float32x4_t b = vld1q_f32(bias + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  // Four inputs per step, read as one vector per row: never past x[r][width-1].
  int k = 0;
  for (; k + kLanes <= width; k += kLanes) {
    float32x4_t xq[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) xq[r] = vld1q_f32(x + r * x_stride + k);
    const W* wk = w + size_t(k) * w_stride;
    Step<R, V, 0>(wk, xq, acc);
    Step<R, V, 1>(wk + w_stride, xq, acc);
    Step<R, V, 2>(wk + 2 * w_stride, xq, acc);
    Step<R, V, 3>(wk + 3 * w_stride, xq, acc);
  }
  for (; k < width; ++k) {  // 121 and 37 inputs leave one
    const W* wk = w + size_t(k) * w_stride;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float xk = x[r * x_stride + k];
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v)
        acc[r][v] = vfmaq_n_f32(acc[r][v], LoadWeights(wk + v * kLanes), xk);
    }
  }
}

// The first layer on record rows: the dense order with the one-hot blocks'
// zero terms left out. The 37 numeric FMAs run exactly as above; then each
// hot column's weight row is added (1 * w is exact, so the add equals the
// dense FMA), in ascending column order as the dense loop meets them.
template <int R, int V, typename W>
EBGAN_INLINE void Accumulate(const Records& in, const W* w, size_t w_stride, const float* bias,
                             int /*width*/, float32x4_t (&acc)[R][V]) {
  Accumulate<R, V>(Activations{in.numeric, kRecordStride}, w, w_stride, bias, kNumericFeatureCount,
                   acc);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < kCategoricalCount; ++c) {
      const int hot = in.hot[r * kCategoricalCount + c];
      if (hot < 0) continue;
      const W* wk = w + size_t(hot) * w_stride;
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] = vaddq_f32(acc[r][v], LoadWeights(wk + v * kLanes));
    }
  }
}

template <int R, int V>
EBGAN_INLINE void Finish(float32x4_t (&acc)[R][V], int j, const HiddenOut& out) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      float32x4_t a = acc[r][v];
      if (out.leaky) a = vbslq_f32(vcltq_f32(a, zero), vmulq_n_f32(a, kLeakySlope), a);
      vst1q_f32(out.y + r * out.stride + j + v * kLanes, a);
    }
  }
}

// Input features f..f+3 of row r, zero past feature 120 (`valid` of them
// are real); never reads past the row's last feature.
EBGAN_INLINE float32x4_t Features(const Activations& in, int r, int f, int valid) {
  const float* xr = in.x + r * in.stride + f;
  if (valid == kLanes) return vld1q_f32(xr);
  float tail[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
  std::memcpy(tail, xr, valid * sizeof(float));
  return vld1q_f32(tail);
}

// The same features of a record row, formed in registers: the numeric value
// for f < 37 (the row's pads past feature 36 are not read as features
// 37..39, which are one-hot), 1.0 where f is one of the row's hot columns,
// else 0.
EBGAN_INLINE float32x4_t Features(const Records& in, int r, int f, int /*valid*/) {
  float32x4_t x = vdupq_n_f32(0.0f);
  const int32x4_t index = vaddq_s32(vdupq_n_s32(f), int32x4_t{0, 1, 2, 3});
  if (f < kNumericFeatureCount) {
    const uint32x4_t numeric = vcltq_s32(index, vdupq_n_s32(kNumericFeatureCount));
    x = vbslq_f32(numeric, vld1q_f32(in.numeric + r * kRecordStride + f), x);
  }
  if (f + kLanes > kNumericFeatureCount) {
    const int16_t* hot = in.hot + r * kCategoricalCount;
    uint32x4_t is_hot = vceqq_s32(index, vdupq_n_s32(hot[0]));
    for (int c = 1; c < kCategoricalCount; ++c)
      is_hot = vorrq_u32(is_hot, vceqq_s32(index, vdupq_n_s32(hot[c])));
    x = vbslq_f32(is_hot, vdupq_n_f32(1.0f), x);
  }
  return x;
}

template <int R, int V, typename Input>
EBGAN_INLINE void Finish(float32x4_t (&acc)[R][V], int j, const ScoreOut<Input>& out) {
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) {
    const int f = j + v * kLanes;
    const int valid = std::min(kLanes, kFeatureCount - f);
    if (valid <= 0) break;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      float* rec = out.reconstruction ? out.reconstruction + r * kFeatureCount + f : nullptr;
      const float32x4_t x = Features(out.input, r, f, valid);
      if (rec) {
        if (valid == kLanes) {
          vst1q_f32(rec, acc[r][v]);
        } else {
          // The row's last feature: nothing past feature 120 is written.
          float tail[kLanes];
          vst1q_f32(tail, acc[r][v]);
          std::memcpy(rec, tail, valid * sizeof(float));
        }
      }
      const float32x4_t d = vsubq_f32(acc[r][v], x);
      out.sse[r] = vfmaq_f32(out.sse[r], d, d);
    }
  }
}

// One layer for M blocks of R rows. The output vectors split into blocks of
// nearly equal size, no larger than the register file allows, in ascending
// order; each block of weights (in x V vectors) is used by all M row blocks
// in turn, so it is fetched from L2 once and then read from L1.
template <int L, int R, int M, typename Layer, typename Input, typename Out>
void LayerRows(const Layer& layer, const Input& in, const Out& out) {
  // The widths are the architecture's, compile-time facts: the model reader
  // refuses other shapes, so layer.in and layer.out always equal them.
  constexpr int kIn = kLayerWidths[L];
  constexpr int kVectors = kPaddedWidths[L + 1] / kLanes;
  constexpr int kBlocks = (kVectors + MaxVectors(R) - 1) / MaxVectors(R);
  constexpr int kV = (kVectors + kBlocks - 1) / kBlocks;
  constexpr int kFull = kVectors / kV;
  constexpr int kRest = kVectors % kV;
  const size_t w_stride = kPaddedWidths[L + 1];

  for (int b = 0; b < kFull; ++b) {
    const int j = b * kV * kLanes;
    for (int m = 0; m < M; ++m) {
      float32x4_t acc[R][kV];
      Accumulate<R, kV>(in.Advance(m * R), layer.weight + j, w_stride, layer.bias + j, kIn, acc);
      Finish<R, kV>(acc, j, out.Advance(m * R));
    }
  }
  if constexpr (kRest > 0) {
    const int j = kFull * kV * kLanes;
    for (int m = 0; m < M; ++m) {
      float32x4_t acc[R][kRest];
      Accumulate<R, kRest>(in.Advance(m * R), layer.weight + j, w_stride, layer.bias + j, kIn, acc);
      Finish<R, kRest>(acc, j, out.Advance(m * R));
    }
  }
}

// A run of rows through all six layers, with the scratch they use. Model is
// PackedFp32Model or PackedFp16Model, Input Activations (dense rows) or
// Records.
template <typename Model, typename Input>
struct Rows {
  const Model* model;
  Input input;
  float* a;  // activations, row stride kStrideA
  float* b;  // activations, row stride kStrideB
  float32x4_t* sse;
  float* reconstruction;  // or null

  Rows Advance(int n) const {
    return {model,
            input.Advance(n),
            a + n * kStrideA,
            b + n * kStrideB,
            sse + n,
            reconstruction ? reconstruction + n * kFeatureCount : nullptr};
  }
};

template <int R, int M, typename Model, typename Input>
void Forward(const Rows<Model, Input>& t) {
  const auto* layer = t.model->layers;
  const auto to_a = [&](int l) { return HiddenOut{t.a, kStrideA, layer[l].leaky_relu}; };
  const auto to_b = [&](int l) { return HiddenOut{t.b, kStrideB, layer[l].leaky_relu}; };
  const Activations from_a{t.a, kStrideA};
  const Activations from_b{t.b, kStrideB};
  LayerRows<0, R, M>(layer[0], t.input, to_a(0));
  LayerRows<1, R, M>(layer[1], from_a, to_b(1));
  LayerRows<2, R, M>(layer[2], from_b, to_a(2));
  LayerRows<3, R, M>(layer[3], from_a, to_b(3));
  LayerRows<4, R, M>(layer[4], from_b, to_a(4));
  LayerRows<5, R, M>(layer[5], from_a, ScoreOut<Input>{t.input, t.sse, t.reconstruction});
}

// Forward<kBlockRows, m> for a run-time m in [1, M].
template <int M, typename Tile>
void ForwardBlocks(int m, const Tile& t) {
  if constexpr (M > 0) {
    if (m == M) return Forward<kBlockRows, M>(t);
    ForwardBlocks<M - 1>(m, t);
  }
}

// Forward<r, 1> for a run-time r in [1, R].
template <int R, typename Tile>
void ForwardRows(int r, const Tile& t) {
  if constexpr (R > 0) {
    if (r == R) return Forward<R, 1>(t);
    ForwardRows<R - 1>(r, t);
  }
}

// Folds 4 lanes in the fixed order the header comment gives.
EBGAN_INLINE float SumLanes(float32x4_t v) {
  const float32x2_t pair = vadd_f32(vget_low_f32(v), vget_high_f32(v));  // (0+2, 1+3)
  return vget_lane_f32(pair, 0) + vget_lane_f32(pair, 1);
}

// Every kernel of this file: fp32 or fp16 weights, dense or record rows.
template <typename Model, typename Input>
void Score(const Model& model, const Input& input, size_t rows, float* scores,
           float* reconstruction) {
  alignas(64) float a[kTileRows * kStrideA];
  alignas(64) float b[kTileRows * kStrideB];
  float32x4_t sse[kTileRows];
  static_assert(sizeof(a) + sizeof(b) + sizeof(sse) <= 32 * 1024, "keep the stack small");

  for (size_t start = 0; start < rows; start += kTileRows) {
    const int n = int(std::min<size_t>(kTileRows, rows - start));
    float* recon = reconstruction ? reconstruction + start * kFeatureCount : nullptr;
    const Rows<Model, Input> tile{&model, input.Advance(start), a, b, sse, recon};
    for (int r = 0; r < n; ++r) sse[r] = vdupq_n_f32(0.0f);

    // Whole blocks share each weight panel; the leftover rows (and batches
    // smaller than a block) run as one block of their own size.
    const int blocks = n / kBlockRows;
    const int rest = n % kBlockRows;
    ForwardBlocks<kTileRows / kBlockRows>(blocks, tile);
    ForwardRows<kBlockRows - 1>(rest, tile.Advance(blocks * kBlockRows));
    for (int r = 0; r < n; ++r) scores[start + r] = SumLanes(sse[r]) / float(kFeatureCount);
  }
}

}  // namespace

// The four kernels of NeonFloatKernels(): one template, instantiated for
// fp32 or binary16 weights and dense or record rows.
void ScoreFp32Neon(const PackedFp32Model& model, const float* input, size_t rows, float* scores,
                   float* reconstruction) {
  Score(model, Activations{input, kFeatureCount}, rows, scores, reconstruction);
}

void ScoreFp32RecordsNeon(const PackedFp32Model& model, const RecordRows& input, size_t rows,
                          float* scores, float* reconstruction) {
  Score(model, Records{input.numeric, input.hot}, rows, scores, reconstruction);
}

void ScoreFp16Neon(const PackedFp16Model& model, const float* input, size_t rows, float* scores,
                   float* reconstruction) {
  Score(model, Activations{input, kFeatureCount}, rows, scores, reconstruction);
}

void ScoreFp16RecordsNeon(const PackedFp16Model& model, const RecordRows& input, size_t rows,
                          float* scores, float* reconstruction) {
  Score(model, Records{input.numeric, input.hot}, rows, scores, reconstruction);
}

FloatKernels NeonFloatKernels() {
  return {ScoreFp32Neon, ScoreFp32RecordsNeon, ScoreFp16Neon, ScoreFp16RecordsNeon};
}

}  // namespace ebgan
