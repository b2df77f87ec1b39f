// The AVX2+FMA float kernels: fp32 and fp16 weights, each on dense rows and
// on records (built with -mavx2 -mfma -mf16c; called only when
// IsaUsable(Isa::kAvx2Fma) says the CPU and the OS support it; every AVX2
// CPU has F16C).
//
// Kernels. One register-blocked tile driver (ScoreTiles) is instantiated
// over the weight type (float, or uint16_t holding binary16) and the input
// form (dense rows of 121 floats, or RecordRows), giving the four kernels
// of Avx2FmaFloatKernels. Only two steps differ between them: how a vector
// of 8 weights is loaded (LoadWeights) and how the first layer and the
// score read the input (Accumulate and InputFeatures on RecordIn).
//
// Shape. Rows are scored in tiles of kTileRows; a tile's activations live in
// two stack buffers (24 KiB in all) and stay in L1/L2 from one layer to the
// next, so only the weights stream from the outer caches, once per tile.
// Each layer is a sequence of register-blocked outer products: a block of R
// rows by V output vectors of 8 floats is held in R*V ymm accumulators, and
// for every input k the kernel loads the V vectors of W[k][...], broadcasts
// x[r][k] and issues R*V FMAs. With 16 ymm registers the largest block is
// R = 4 by V = 3: 12 FMAs for 3 weight loads and 4 broadcasts. Four rows are
// too few to pay for fetching the weights from L3 (1.19 MB do not fit in a
// 1 MiB L2), so a tile is two such blocks that take turns on each panel of
// weights, the second reading it from L1. A batch smaller than 4 rows takes
// the same code with R equal to its size and V as large as the register
// file allows (12 for one row): one row then reads every weight exactly
// once, in long contiguous runs, which is what bounds the latency of a
// single record.
//
// Numerics (kernel.h fixes the order; this is how this kernel meets it):
// - FMA contraction: every output starts from its bias and accumulates
//   fma(x[r][k], W[k][j], acc) for k = 0, 1, ..., in-1, one rounding per term
//   where the scalar oracle has two. The blocking (R, V, the tile) changes
//   which register holds an output, never the order of its terms, so a row
//   scores bit for bit the same alone or anywhere in a batch of any size.
// - The anomaly score is fused into the last layer: lane i of a per-row
//   accumulator collects (y[f] - x[f])^2, by FMA, for f = i, i + 8, ..., in
//   ascending f; past feature 120 both the padded output and the masked
//   input are 0, so those lanes add exactly 0. The 8 lanes are then folded
//   in a fixed tree, (i, i+4), (i, i+2), (i, i+1), and the total is divided
//   by 121.
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
//   vector for features f..f+7 is formed in registers: a masked load of the
//   numeric features below 37 from the 40-float row (its 3 zero pads are
//   not features 37..39, which are one-hot), 1 in the hot lanes and 0
//   elsewhere: the values the dense row holds, so the same subtraction and
//   FMA give the same bits. The first layer does 37 FMAs and up to 3 adds
//   per output instead of 121 FMAs, 14% fewer multiply-adds per row.
// - fp16: the weights stay binary16 in memory and are widened by vcvtph2ps
//   (F16C) as each vector is loaded. Every binary16 is exactly a binary32,
//   so each FMA gets the same operands as the fp32 kernel on the widened
//   weights and the results are equal (==) to it, with half the weight
//   bytes (0.6 MB instead of 1.2 MB) to stream.
// Measured agreement with the scalar oracle: largest relative score error
// 6.9e-7 on random N(0, 1/fan_in) models with inputs in [0, 1] (cpp/tests),
// but 8.6e-6 on the 25,192 rows of the NSL-KDD training file scored by the
// shipped model, whose best-reconstructed rows score 6e-5. A score is a
// mean of squares of d = y - x, differences of numbers near 1, so its
// absolute error grows like sqrt(score) (measured: at most 5.4e-7 *
// sqrt(score), a few ulp(1)), which is why the bound (Fp32ScoreTolerance in
// kernel.h) has a sqrt(score) term as well as a relative one.
// Reconstructions agree within 6.9e-7 of max(|y|, 1).
// Speed, one core of a shared Zen 5 (batch 4096): about 105 GFLOP/s, 95% of
// the measured ymm FMA peak; batch 1 about 13 us. The four kernels timed in
// turn on a loaded machine (bench_kernels --precision both --input both,
// medians; GFLOP/s counts the dense network's work): batch 1 fp32 15 us,
// fp32 records 11.3 us, fp16 11.6 us, fp16 records 9.9 us; batch 4096 93,
// 106, 97 and 112 GFLOP/s. fp16 gains less at batch 1 than with zmm registers,
// probably because the widenings bound it: a ymm vcvtph2ps widens 8
// weights where a zmm one widens 16, and one row does only one FMA per
// widened vector.
#include <immintrin.h>

#include <algorithm>

#include "ebgan/kernel.h"

namespace ebgan {
namespace {

#define EBGAN_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 8;
static_assert(kPackWidth % kLanes == 0, "packed rows must fill whole ymm registers");

// Rows of the largest register block, and rows per tile: two blocks share
// each weight panel. Measured at batch 4096: 4 x 1 rows reached 75% of the
// ymm FMA peak (its weights stream from L3 every 4 rows), 6 x 1 85%, 4 x 2
// and 4 x 3 95%; 4 x 2 needs the smaller scratch.
constexpr int kBlockRows = 4;
constexpr int kTileRows = 8;
// Row strides of the two activation buffers: a holds the 512-, 112- and
// 256-wide outputs (layers 0, 2, 4), b the 256- and 128-wide ones (1, 3).
constexpr size_t kStrideA = kMaxPaddedWidth;
constexpr size_t kStrideB = 256;
static_assert(kPaddedWidths[2] <= int(kStrideB) && kPaddedWidths[4] <= int(kStrideB),
              "buffer b holds the outputs of layers 1 and 3");
// ymm registers for accumulators: 16 minus weights and a broadcast.
constexpr int kAccumulatorRegs = 12;

constexpr int MaxVectors(int rows) {
  return kAccumulatorRegs / rows;
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
  __m256* sse;            // per row: lane-wise sum of squared errors so far
  float* reconstruction;  // the block's first output row, or null

  ScoreOut Advance(int rows) const {
    return {input.Advance(rows), sse + rows,
            reconstruction ? reconstruction + rows * kFeatureCount : nullptr};
  }
};

// 8 weights W[k][j..j+7] as fp32. Halves widen exactly (every binary16 is a
// binary32), so what follows cannot tell the two weight types apart.
EBGAN_INLINE __m256 LoadWeights(const float* w) {
  return _mm256_load_ps(w);
}
EBGAN_INLINE __m256 LoadWeights(const uint16_t* w) {
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(w)));
}

template <int R, int V, size_t kStride, typename Weight>
EBGAN_INLINE void Accumulate(const FloatRows<kStride>& in, const Weight* w, size_t w_stride,
                             const float* bias, int depth, __m256 (&acc)[R][V]) {
#pragma GCC unroll 12
  for (int v = 0; v < V; ++v) {
    const __m256 b = _mm256_load_ps(bias + v * kLanes);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
#pragma GCC unroll 2
  for (int k = 0; k < depth; ++k) {
    const Weight* wk = w + size_t(k) * w_stride;
    __m256 wv[V];
#pragma GCC unroll 12
    for (int v = 0; v < V; ++v) wv[v] = LoadWeights(wk + v * kLanes);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m256 xb = _mm256_set1_ps(in.x[r * kStride + k]);
#pragma GCC unroll 12
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
    }
  }
}

// The first layer on record rows: the numeric terms in order, as the dense
// first layer adds them, then each hot column's weight row with a plain
// add, which is fma(1, w, acc); the dense layer's fma(0, w, acc) terms of
// the cold columns leave a sum unchanged and are skipped.
template <int R, int V, typename Weight>
EBGAN_INLINE void Accumulate(const RecordIn& in, const Weight* w, size_t w_stride,
                             const float* bias, int /*depth*/, __m256 (&acc)[R][V]) {
  Accumulate<R, V>(FloatRows<kRecordStride>{in.numeric}, w, w_stride, bias, kNumericFeatureCount,
                   acc);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < kCategoricalCount; ++c) {
      const int k = in.hot[r * kCategoricalCount + c];
      if (k < 0) continue;
      const Weight* wk = w + size_t(k) * w_stride;
#pragma GCC unroll 12
      for (int v = 0; v < V; ++v)
        acc[r][v] = _mm256_add_ps(acc[r][v], LoadWeights(wk + v * kLanes));
    }
  }
}

// Input features f..f+7 of row r, zero past feature 120 (`valid` lanes).
EBGAN_INLINE __m256 InputFeatures(const DenseIn& in, int r, int f, __m256i valid) {
  return _mm256_maskload_ps(in.x + r * kFeatureCount + f, valid);
}

// The same vector as the dense row holds, built from a record row: numeric
// values below feature 37, 1 in the hot lanes, 0 elsewhere.
EBGAN_INLINE __m256 InputFeatures(const RecordIn& in, int r, int f, __m256i /*valid*/) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256 x = _mm256_setzero_ps();
  if (f < kNumericFeatureCount) {
    const __m256i numeric = _mm256_cmpgt_epi32(_mm256_set1_epi32(kNumericFeatureCount - f), lane);
    x = _mm256_maskload_ps(in.numeric + r * kRecordStride + f, numeric);
  }
  const __m256i feature = _mm256_add_epi32(lane, _mm256_set1_epi32(f));
  __m256i hot = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int c = 0; c < kCategoricalCount; ++c) {
    const __m256i column = _mm256_set1_epi32(in.hot[r * kCategoricalCount + c]);
    hot = _mm256_or_si256(hot, _mm256_cmpeq_epi32(feature, column));
  }
  return _mm256_blendv_ps(x, _mm256_set1_ps(1.0f), _mm256_castsi256_ps(hot));
}

template <int R, int V>
EBGAN_INLINE void Finish(__m256 (&acc)[R][V], int j, const HiddenOut& out) {
  const __m256 slope = _mm256_set1_ps(kLeakySlope);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 12
    for (int v = 0; v < V; ++v) {
      __m256 a = acc[r][v];
      // max(a, 0.2a) is a for a >= 0 and 0.2a below: LeakyReLU, same rounding.
      if (out.leaky) a = _mm256_max_ps(a, _mm256_mul_ps(a, slope));
      _mm256_store_ps(out.y + r * out.stride + j + v * kLanes, a);
    }
  }
}

template <int R, int V, typename In>
EBGAN_INLINE void Finish(__m256 (&acc)[R][V], int j, const ScoreOut<In>& out) {
#pragma GCC unroll 12
  for (int v = 0; v < V; ++v) {
    const int f = j + v * kLanes;
    const int valid = std::min(kLanes, kFeatureCount - f);
    if (valid <= 0) break;
    // Masked so that the last row's tail is never read or written past 121.
    const __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m256 x = InputFeatures(out.input, r, f, mask);
      const __m256 d = _mm256_sub_ps(acc[r][v], x);
      out.sse[r] = _mm256_fmadd_ps(d, d, out.sse[r]);
      if (out.reconstruction)
        _mm256_maskstore_ps(out.reconstruction + r * kFeatureCount + f, mask, acc[r][v]);
    }
  }
}

// One layer for M blocks of R rows. The output vectors split into blocks of
// nearly equal size, no larger than the register file allows, in ascending
// order; each block of weights (in x V vectors) is used by all M row blocks
// in turn, so it is fetched from L2/L3 once and then read from L1. Forced
// inline so that each Forward is one function: left to itself, GCC outlines
// some layers once the file holds four kernels, and the calls and spills
// that adds cost the fp32 kernel about 1.7% more instructions (measured).
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
      __m256 acc[R][kV];
      Accumulate<R, kV>(in.Advance(m * R), layer.weight + j, w_stride, layer.bias + j, kIn, acc);
      Finish<R, kV>(acc, j, out.Advance(m * R));
    }
  }
  if constexpr (kRest > 0) {
    const int j = kFull * kV * kLanes;
    for (int m = 0; m < M; ++m) {
      __m256 acc[R][kRest];
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
  __m256* sse;
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

// Folds 8 lanes in the fixed order the header comment gives.
EBGAN_INLINE float SumLanes(__m256 v) {
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1)));
}

// The tile driver every kernel of this file shares.
template <typename Model, typename In>
void ScoreTiles(const Model& model, const In& input, size_t rows, float* scores,
                float* reconstruction) {
  // Every layer writes whole 64-byte lines at 64-byte row strides, so the
  // stores are aligned.
  alignas(64) float a[kTileRows * kStrideA];
  alignas(64) float b[kTileRows * kStrideB];
  __m256 sse[kTileRows];
  static_assert(sizeof(a) + sizeof(b) + sizeof(sse) <= 32 * 1024, "keep the stack small");

  for (size_t start = 0; start < rows; start += kTileRows) {
    const int n = int(std::min<size_t>(kTileRows, rows - start));
    float* recon = reconstruction ? reconstruction + start * kFeatureCount : nullptr;
    const Rows<Model, In> tile{&model, input.Advance(start), a, b, sse, recon};
    for (int r = 0; r < n; ++r) sse[r] = _mm256_setzero_ps();

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

void ScoreFp32Avx2Fma(const PackedFp32Model& model, const float* input, size_t rows, float* scores,
                      float* reconstruction) {
  ScoreTiles(model, DenseIn{input}, rows, scores, reconstruction);
}

void ScoreFp32RecordsAvx2Fma(const PackedFp32Model& model, const RecordRows& input, size_t rows,
                             float* scores, float* reconstruction) {
  ScoreTiles(model, RecordIn{input.numeric, input.hot}, rows, scores, reconstruction);
}

void ScoreFp16Avx2Fma(const PackedFp16Model& model, const float* input, size_t rows, float* scores,
                      float* reconstruction) {
  ScoreTiles(model, DenseIn{input}, rows, scores, reconstruction);
}

void ScoreFp16RecordsAvx2Fma(const PackedFp16Model& model, const RecordRows& input, size_t rows,
                             float* scores, float* reconstruction) {
  ScoreTiles(model, RecordIn{input.numeric, input.hot}, rows, scores, reconstruction);
}

FloatKernels Avx2FmaFloatKernels() {
  return {ScoreFp32Avx2Fma, ScoreFp32RecordsAvx2Fma, ScoreFp16Avx2Fma, ScoreFp16RecordsAvx2Fma};
}

}  // namespace ebgan
