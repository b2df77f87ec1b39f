// The AVX-512 float kernels: fp32 and fp16 weights, each on dense rows and
// on records (built with -mavx512f/dq/bw/vl -mfma; called only when
// IsaUsable(Isa::kAvx512) says the CPU and the OS support it).
//
// Kernels. One register-blocked tile driver (ScoreTiles) is instantiated
// over the weight type (float, or uint16_t holding binary16) and the input
// form (dense rows of 121 floats, or RecordRows), giving the four kernels
// of Avx512FloatKernels. Only two steps differ between them: how a vector of
// 16 weights is loaded (LoadWeights) and how the first layer and the score
// read the input (Accumulate and InputFeatures on RecordIn).
//
// Shape. Rows are scored in tiles of kTileRows; a tile's activations live in
// two stack buffers (24 KiB in all) and stay in L1/L2 from one layer to
// the next, so only the weights stream from the outer caches, once per tile.
// Each layer is a sequence of register-blocked outer products: a block of R
// rows by V output vectors of 16 floats is held in R*V zmm accumulators, and
// for every input k the kernel loads the V vectors of W[k][...], broadcasts
// x[r][k] and issues R*V FMAs. With R = 8 and V = 3 that is 24 FMAs for 3
// weight loads and 8 broadcasts, and each weight byte fetched from L2/L3
// serves 8 rows. A batch smaller than 8 rows takes the same code with R equal
// to its size and V as large as the register file allows (16 for one row):
// one row then reads every weight exactly once, in long contiguous runs,
// which is what bounds the latency of a single record.
//
// Numerics (kernel.h fixes the order; this is how this kernel meets it):
// - FMA contraction: every output starts from its bias and accumulates
//   fma(x[r][k], W[k][j], acc) for k = 0, 1, ..., in-1, one rounding per term
//   where the scalar oracle has two. The blocking (R, V, the tile) changes
//   which register holds an output, never the order of its terms, so a row
//   scores bit for bit the same alone or anywhere in a batch of any size.
// - The anomaly score is fused into the last layer: lane i of a per-row
//   accumulator collects (y[f] - x[f])^2, by FMA, for f = i, i + 16, ...,
//   in ascending f; past feature 120 both the padded output and the masked
//   input are 0, so those lanes add exactly 0. The 16 lanes are then folded
//   in a fixed tree, (i, i+8), (i, i+4), (i, i+2), (i, i+1), and the total is
//   divided by 121.
// - No FTZ/DAZ: MXCSR is left as the caller set it. Trained weights and
//   inputs in [0, 1] are far from the denormal range, so flushing would buy
//   nothing and would change the caller's floating-point environment.
// - Records: equal (==) to the dense kernel on ExpandRecordRows' output, in
//   scores and reconstructions. The first layer starts from the bias, does
//   the 37 numeric FMAs in ascending k exactly as the dense kernel does, and
//   then adds the packed row W[h] of each hot column h >= 0, in ascending h,
//   with a plain add: fma(1, w, acc) rounds w + acc once, as the add does.
//   The dense kernel's remaining terms are fma(0, w, acc) with finite w,
//   which return acc (only an exact zero sum could change its sign, and
//   -0 == +0), so skipping them changes no value. In the score, the input
//   vector for features f..f+15 is formed in registers: a masked load of
//   the numeric features below 37 from the 40-float row (its 3 zero pads
//   are not features 37..39, which are one-hot), 1 in the hot lanes and 0
//   elsewhere: the values the dense row holds, so the same subtraction and
//   FMA give the same bits. The first layer does 37 FMAs and up to 3 adds
//   per output instead of 121 FMAs, 14% fewer multiply-adds per row.
// - fp16: the weights stay binary16 in memory and are widened by vcvtph2ps
//   as each vector is loaded. Every binary16 is exactly a binary32, so each
//   FMA gets the same operands as the fp32 kernel on the widened weights
//   and the results are equal (==) to it, with half the weight bytes
//   (0.6 MB instead of 1.2 MB) to stream.
// Measured agreement with the scalar oracle: largest relative score error
// 6.5e-7 on random N(0, 1/fan_in) models with inputs in [0, 1] (cpp/tests),
// but 8.6e-6 on the 25,192 rows of the NSL-KDD training file scored by the
// shipped model, whose best-reconstructed rows score 6e-5. A score is a
// mean of squares of d = y - x, differences of numbers near 1, so its
// absolute error grows like sqrt(score) (measured: at most 5.4e-7 *
// sqrt(score), a few ulp(1)), which is why the bound (Fp32ScoreTolerance in
// kernel.h) has a sqrt(score) term as well as a relative one.
// Reconstructions agree within 6.9e-7 of max(|y|, 1).
// Speed, one core of a shared Zen 5 (batch 4096): about 190 GFLOP/s, 85% of
// the measured zmm FMA peak; batch 1 about 11 us, near the time to stream
// the 1.19 MB of weights from L2/L3. The four kernels timed in turn on a
// loaded machine (bench_kernels --precision both --input both, medians;
// GFLOP/s counts the dense network's work): batch 1 fp32 12 us, fp32
// records 9.2 us, fp16 5.4 us, fp16 records 4.5 us (the 0.6 MB of binary16
// weights stay in the 1 MB L2); batch 4096 182, 218, 205 and 234 GFLOP/s.
#include <immintrin.h>

#include <algorithm>

#include "ebgan/kernel.h"

namespace ebgan {
namespace {

#define EBGAN_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 16;
static_assert(kPackWidth % kLanes == 0, "packed rows must fill whole zmm registers");

// Rows of the largest register block, and rows per tile. On the machine this
// was tuned on (Zen 5, two 512-bit FMA pipes) tiles of 8 x 1, 6 x 1, 12 x 1
// and 6 x 2 rows all ran within noise of each other at 85-95% of the FMA
// peak; 8 x 1 has the smallest scratch of them that keeps 24 accumulators.
constexpr int kBlockRows = 8;
constexpr int kTileRows = 8;
// Row strides of the two activation buffers: a holds the 512-, 112- and
// 256-wide outputs (layers 0, 2, 4), b the 256- and 128-wide ones (1, 3).
constexpr size_t kStrideA = kMaxPaddedWidth;
constexpr size_t kStrideB = 256;
static_assert(kPaddedWidths[2] <= int(kStrideB) && kPaddedWidths[4] <= int(kStrideB),
              "buffer b holds the outputs of layers 1 and 3");
// zmm registers for accumulators: 32 minus weights and a broadcast.
constexpr int kAccumulatorRegs = 28;

constexpr int MaxVectors(int rows) {
  return std::min(16, kAccumulatorRegs / rows);
}

// What a layer reads. Activations and dense input rows are floats at a
// compile-time row stride; record rows are numeric floats plus the feature
// indices of their hot columns (kernel.h, RecordRows).
template <size_t kStride>
struct FloatRows {
  const float* x;

  FloatRows Advance(size_t rows) const { return {x + rows * kStride}; }
};

struct RecordIn {
  const float* numeric;  // row stride kRecordStride
  const int16_t* hot;    // row stride kCategoricalCount, index or -1

  RecordIn Advance(size_t rows) const {
    return {numeric + rows * kRecordStride, hot + rows * kCategoricalCount};
  }
};

using DenseIn = FloatRows<kFeatureCount>;

// Where a block's outputs go: stored (after LeakyReLU if the layer has one)
// to the next layer's input, or folded into the score.
struct HiddenOut {
  float* y;
  size_t stride;  // floats between rows of y
  bool leaky;

  HiddenOut Advance(int rows) const { return {y + rows * stride, stride, leaky}; }
};

template <typename In>
struct ScoreOut {
  In input;               // the block's first input row
  __m512* sse;            // per row: lane-wise sum of squared errors so far
  float* reconstruction;  // the block's first output row, or null

  ScoreOut Advance(int rows) const {
    return {input.Advance(rows), sse + rows,
            reconstruction ? reconstruction + rows * kFeatureCount : nullptr};
  }
};

// 16 weights W[k][j..j+15] as fp32. Halves widen exactly (every binary16 is
// a binary32), so what follows cannot tell the two weight types apart.
EBGAN_INLINE __m512 LoadWeights(const float* w) {
  return _mm512_load_ps(w);
}
EBGAN_INLINE __m512 LoadWeights(const uint16_t* w) {
  // The zero-masked form with every lane selected is the plain conversion;
  // GCC 12's _mm512_cvtph_ps warns about its own undefined pass-through.
  return _mm512_maskz_cvtph_ps(__mmask16(0xffff),
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(w)));
}

template <int R, int V, size_t kStride, typename Weight>
EBGAN_INLINE void Accumulate(const FloatRows<kStride>& in, const Weight* w, size_t w_stride,
                             const float* bias, int depth, __m512 (&acc)[R][V]) {
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) {
    const __m512 b = _mm512_load_ps(bias + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
#pragma GCC unroll 2
  for (int k = 0; k < depth; ++k) {
    const Weight* wk = w + size_t(k) * w_stride;
    __m512 wv[V];
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) wv[v] = LoadWeights(wk + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 xb = _mm512_set1_ps(in.x[r * kStride + k]);
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
}

// The first layer on record rows: the numeric terms in order, as the dense
// first layer adds them, then each hot column's weight row with a plain
// add, which is fma(1, w, acc); the dense layer's fma(0, w, acc) terms of
// the cold columns leave a sum unchanged and are skipped.
template <int R, int V, typename Weight>
EBGAN_INLINE void Accumulate(const RecordIn& in, const Weight* w, size_t w_stride,
                             const float* bias, int /*depth*/, __m512 (&acc)[R][V]) {
  Accumulate<R, V>(FloatRows<kRecordStride>{in.numeric}, w, w_stride, bias, kNumericFeatureCount,
                   acc);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < kCategoricalCount; ++c) {
      const int k = in.hot[r * kCategoricalCount + c];
      if (k < 0) continue;
      const Weight* wk = w + size_t(k) * w_stride;
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v)
        acc[r][v] = _mm512_add_ps(acc[r][v], LoadWeights(wk + v * kLanes));
    }
  }
}

// Input features f..f+15 of row r, zero past feature 120 (`valid` lanes).
EBGAN_INLINE __m512 InputFeatures(const DenseIn& in, int r, int f, __mmask16 valid) {
  return _mm512_maskz_loadu_ps(valid, in.x + r * kFeatureCount + f);
}

// The same vector as the dense row holds, built from a record row: numeric
// values below feature 37, 1 in the hot lanes, 0 elsewhere.
EBGAN_INLINE __m512 InputFeatures(const RecordIn& in, int r, int f, __mmask16 /*valid*/) {
  __m512 x = _mm512_setzero_ps();
  if (f < kNumericFeatureCount) {
    const int numeric = std::min(kLanes, kNumericFeatureCount - f);
    x = _mm512_maskz_loadu_ps(__mmask16((1u << numeric) - 1), in.numeric + r * kRecordStride + f);
  }
  unsigned hot = 0;
#pragma GCC unroll 4
  for (int c = 0; c < kCategoricalCount; ++c) {
    const unsigned lane = unsigned(in.hot[r * kCategoricalCount + c] - f);
    if (lane < unsigned(kLanes)) hot |= 1u << lane;
  }
  return _mm512_mask_blend_ps(__mmask16(hot), x, _mm512_set1_ps(1.0f));
}

template <int R, int V>
EBGAN_INLINE void Finish(__m512 (&acc)[R][V], int j, const HiddenOut& out) {
  const __m512 slope = _mm512_set1_ps(kLeakySlope);
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      __m512 a = acc[r][v];
      if (out.leaky) {
        const __mmask16 negative = _mm512_cmp_ps_mask(a, zero, _CMP_LT_OQ);
        a = _mm512_mask_mul_ps(a, negative, a, slope);
      }
      _mm512_store_ps(out.y + r * out.stride + j + v * kLanes, a);
    }
  }
}

template <int R, int V, typename In>
EBGAN_INLINE void Finish(__m512 (&acc)[R][V], int j, const ScoreOut<In>& out) {
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) {
    const int f = j + v * kLanes;
    const int valid = std::min(kLanes, kFeatureCount - f);
    if (valid <= 0) break;
    // Masked so that the last row's tail is never read or written past 121.
    const __mmask16 mask = __mmask16((1u << valid) - 1);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 x = InputFeatures(out.input, r, f, mask);
      const __m512 d = _mm512_sub_ps(acc[r][v], x);
      out.sse[r] = _mm512_fmadd_ps(d, d, out.sse[r]);
      if (out.reconstruction)
        _mm512_mask_storeu_ps(out.reconstruction + r * kFeatureCount + f, mask, acc[r][v]);
    }
  }
}

// One layer for M blocks of R rows. The output vectors split into blocks of
// nearly equal size, no larger than the register file allows, in ascending
// order; each block of weights (in x V vectors) is used by all M row blocks
// in turn, so it is fetched from L2/L3 once and then read from L1. Forced
// inline so that each Forward is one function: left to itself, GCC outlines
// some layers once the file holds four kernels (in the AVX2 file, where CI
// counts instructions, the calls and spills cost 1.7% more).
template <int L, int R, int M, typename Layer, typename In, typename Out>
EBGAN_INLINE void LayerRows(const Layer& layer, const In& in, const Out& out) {
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
      __m512 acc[R][kV];
      Accumulate<R, kV>(in.Advance(m * R), layer.weight + j, w_stride, layer.bias + j, kIn, acc);
      Finish<R, kV>(acc, j, out.Advance(m * R));
    }
  }
  if constexpr (kRest > 0) {
    const int j = kFull * kV * kLanes;
    for (int m = 0; m < M; ++m) {
      __m512 acc[R][kRest];
      Accumulate<R, kRest>(in.Advance(m * R), layer.weight + j, w_stride, layer.bias + j, kIn, acc);
      Finish<R, kRest>(acc, j, out.Advance(m * R));
    }
  }
}

// A run of rows through all six layers, with the scratch they use. Model is
// PackedFp32Model or PackedFp16Model, In is DenseIn or RecordIn.
template <typename Model, typename In>
struct Rows {
  const Model* model;
  In input;
  float* a;  // activations, row stride kStrideA
  float* b;  // activations, row stride kStrideB
  __m512* sse;
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

template <int R, int M, typename Model, typename In>
void Forward(const Rows<Model, In>& t) {
  const auto* layer = t.model->layers;
  const auto to_a = [&](int l) { return HiddenOut{t.a, kStrideA, layer[l].leaky_relu}; };
  const auto to_b = [&](int l) { return HiddenOut{t.b, kStrideB, layer[l].leaky_relu}; };
  const FloatRows<kStrideA> from_a{t.a};
  const FloatRows<kStrideB> from_b{t.b};
  LayerRows<0, R, M>(layer[0], t.input, to_a(0));
  LayerRows<1, R, M>(layer[1], from_a, to_b(1));
  LayerRows<2, R, M>(layer[2], from_b, to_a(2));
  LayerRows<3, R, M>(layer[3], from_a, to_b(3));
  LayerRows<4, R, M>(layer[4], from_b, to_a(4));
  LayerRows<5, R, M>(layer[5], from_a, ScoreOut<In>{t.input, t.sse, t.reconstruction});
}

// Forward<kBlockRows, m> for a run-time m in [1, M].
template <int M, typename Model, typename In>
void ForwardBlocks(int m, const Rows<Model, In>& t) {
  if constexpr (M > 0) {
    if (m == M) return Forward<kBlockRows, M>(t);
    ForwardBlocks<M - 1>(m, t);
  }
}

// Forward<r, 1> for a run-time r in [1, R].
template <int R, typename Model, typename In>
void ForwardRows(int r, const Rows<Model, In>& t) {
  if constexpr (R > 0) {
    if (r == R) return Forward<R, 1>(t);
    ForwardRows<R - 1>(r, t);
  }
}

// Folds 16 lanes in the fixed order the header comment gives. Once per row,
// so plain scalar adds cost nothing measurable.
EBGAN_INLINE float SumLanes(__m512 v) {
  alignas(64) float lane[kLanes];
  _mm512_store_ps(lane, v);
  for (int half = kLanes / 2; half > 0; half /= 2)
    for (int i = 0; i < half; ++i) lane[i] += lane[i + half];
  return lane[0];
}

// The tile driver every kernel of this file shares.
template <typename Model, typename In>
void ScoreTiles(const Model& model, const In& input, size_t rows, float* scores,
                float* reconstruction) {
  // Every layer writes whole 64-byte lines at 64-byte row strides, so the
  // stores are aligned.
  alignas(64) float a[kTileRows * kStrideA];
  alignas(64) float b[kTileRows * kStrideB];
  __m512 sse[kTileRows];
  static_assert(sizeof(a) + sizeof(b) + sizeof(sse) <= 32 * 1024, "keep the stack small");

  for (size_t start = 0; start < rows; start += kTileRows) {
    const int n = int(std::min<size_t>(kTileRows, rows - start));
    float* recon = reconstruction ? reconstruction + start * kFeatureCount : nullptr;
    const Rows<Model, In> tile{&model, input.Advance(start), a, b, sse, recon};
    for (int r = 0; r < n; ++r) sse[r] = _mm512_setzero_ps();

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

void ScoreFp32Avx512(const PackedFp32Model& model, const float* input, size_t rows, float* scores,
                     float* reconstruction) {
  ScoreTiles(model, DenseIn{input}, rows, scores, reconstruction);
}

void ScoreFp32RecordsAvx512(const PackedFp32Model& model, const RecordRows& input, size_t rows,
                            float* scores, float* reconstruction) {
  ScoreTiles(model, RecordIn{input.numeric, input.hot}, rows, scores, reconstruction);
}

void ScoreFp16Avx512(const PackedFp16Model& model, const float* input, size_t rows, float* scores,
                     float* reconstruction) {
  ScoreTiles(model, DenseIn{input}, rows, scores, reconstruction);
}

void ScoreFp16RecordsAvx512(const PackedFp16Model& model, const RecordRows& input, size_t rows,
                            float* scores, float* reconstruction) {
  ScoreTiles(model, RecordIn{input.numeric, input.hot}, rows, scores, reconstruction);
}

FloatKernels Avx512FloatKernels() {
  return {ScoreFp32Avx512, ScoreFp32RecordsAvx512, ScoreFp16Avx512, ScoreFp16RecordsAvx512};
}

}  // namespace ebgan
