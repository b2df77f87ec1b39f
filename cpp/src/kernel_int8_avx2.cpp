// The AVX2 int8 kernel (built with -mavx2 -mfma -ffp-contract=off; called
// only when IsaUsable(Isa::kAvx2Fma) holds). Its results are bit-identical
// to ScoreInt8Scalar: kernel_int8.h lists the steps, the comments below say
// how each one is met.
//
// Shape. Rows are scored in blocks of kBlockRows, layer by layer, with the
// block's activations in stack buffers (about 64 KiB). A layer quantises
// each input row to 16-bit integers, then walks its outputs in panels of V
// units of 8 outputs; for each panel a register-blocked micro-kernel runs
// over tiles of R rows, so the panel's weights stay in L1 while the block's
// tiles reuse them. For each group of 4 inputs the micro-kernel sign-extends
// the 32 packed weight bytes of every unit (8 outputs x 4 inputs) into two
// vectors of 16 int16, broadcasts the row's 4 activations as one 64-bit
// word and issues vpmaddwd: lane pairs (w[j][0] x0 + w[j][1] x1,
// w[j][2] x2 + w[j][3] x3), added into int32 accumulators. After the last
// group one vphaddd per 8 outputs joins each output's two partial sums.
// Four rows by one unit use 8 accumulators; one row takes four units.
//
// Integer hazards. vpmaddubsw, the byte instruction, adds its two u8 x s8
// products in saturating int16, and our activations are signed, so it
// would need the sign trick: |q_x| against weights that vpsignb has given
// q_x's sign, pair sums <= 2 * 127 * 127 = 32,258 < 32,767. That costs a
// vpsignb, a vpmaddubsw and a vpmaddwd (with ones) per row and 32 products,
// plus a second broadcast (of |q_x|) per row. Widening the weights once per
// group (vpmovsxbw, shared by the tile's rows) and using vpmaddwd directly
// costs one vpmaddwd and one vpaddd per row and 16 products: the same
// number of multiply uops, fewer other ones. It runs at about two thirds
// of this machine's vpmaddwd peak (docs/quantization.md); the sign-trick
// variant has not been timed. vpmaddwd has no saturation hazard at all:
// each product is at most 127 * 127 = 16,129 in magnitude (no -128 on
// either side) and the pair sum 32,258 is formed in int32, which only
// overflows for (-32768)^2 + (-32768)^2. Accumulators: |acc| <= 127 * 127
// * 512 = 8,258,048 < 2^24 for the widest fan-in, far inside int32, and
// exactly convertible to float. Padded inputs and outputs have zero
// weights, scales and biases, so they add exactly 0.
//
// Floating-point steps, each one intrinsic with one rounding, in the order
// of kernel_int8.h; the file is built with -ffp-contract=off so no multiply
// and add are fused:
// - Quantisation: m is a lane-wise vmaxps(|a|, m), which keeps m when |a| is
//   NaN exactly as std::max(m, |a|) does. 127 / m and m / 127 are scalar
//   divisions. The clamp vmaxps(r, -127), vminps(., 127) maps NaN to -127
//   like the oracle's std::min(127, std::max(-127, r)); clamping before
//   rounding equals clamping after, the bounds being integers. vcvtps2dq
//   rounds by MXCSR as nearbyint does: half to even by default, and the
//   same under any mode the caller sets.
// - Epilogue: float(acc) * (scale_x * scale_w[j]), then + bias[j], then
//   LeakyReLU as a compare (y < 0, false for NaN) and a blend of y * 0.2f.
// - Score: 16 lanes in two ymm (lanes 0-7 and 8-15), lane i taking
//   (y[f] - x[f])^2 for f = i, i + 16, ... in order from 0; masked loads
//   make f >= 121 exactly 0 and never read past the caller's row. Folds
//   (i, i+8), (i, i+4), (i, i+2), (i, i+1), then / 121.
// No FTZ/DAZ is set: subnormals are handled per IEEE, like the oracle.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "ebgan/kernel_int8.h"

namespace ebgan {
namespace {

constexpr int kLanes = 8;  // floats or int32 per ymm
constexpr int kUnit = 8;   // outputs per unit: 32 weight bytes per group
constexpr int kBlockRows = 16;
constexpr int kTileRows = 4;
constexpr int kMaxUnits = 4;
// Units per tile of R rows: 2 * R * V accumulators, 2 * V weight vectors, a
// broadcast and a product must fit the 16 ymm registers; 8 accumulators are
// enough chains to hide the multiply latency, and 6 rows by one unit (12)
// measured no faster than 4 by one.
constexpr int UnitsFor(int rows) {
  return std::max(1, std::min(kMaxUnits, 4 / rows));
}
static_assert(kBlockRows % kTileRows == 0, "a block is a whole number of tiles");

// Row strides: buffer a holds layers 0, 2 and 4's outputs (512, 112, 256
// wide), b layers 1, 3 and 5's (256, 128, 128 wide); q holds int16.
constexpr int kStrideA = kMaxPaddedWidth;
constexpr int kStrideB = 256;
constexpr int kStrideQ = kMaxPaddedWidth;
static_assert(kPaddedWidths[2] <= kStrideB && kPaddedWidths[4] <= kStrideB &&
                  kPaddedWidths[6] <= kStrideB,
              "buffer b holds the outputs of layers 1, 3 and 5");
static_assert(kPaddedWidths[kLayerCount] == 16 * kLanes, "the score folds 16 vectors");

inline __m256i TailMask(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline __m256 LoadPart(const float* a, int count) {
  return count >= kLanes ? _mm256_loadu_ps(a) : _mm256_maskload_ps(a, TailMask(count));
}

// The largest magnitude of one row of `width` floats. vmaxps(|a|, m) keeps
// m when |a| is NaN, as std::max(m, |a|) does.
float RowMax(const float* a, int width) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < width; k += kLanes)
    m = _mm256_max_ps(_mm256_andnot_ps(sign, LoadPart(a + k, width - k)), m);
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  return _mm_cvtss_f32(m4);
}

// Quantises one row of `width` floats with largest magnitude `max_abs` to
// int16 q_x over whole runs of 16 (entries past `width` are 0); returns
// scale_x.
float QuantizeRowWide(const float* a, int width, float max_abs, int16_t* q) {
  if (max_abs == 0.0f) {
    std::memset(q, 0, sizeof(int16_t) * PaddedWidth(width));
    return 0.0f;
  }

  const __m256 inverse = _mm256_set1_ps(127.0f / max_abs);
  const __m256 low = _mm256_set1_ps(-127.0f);
  const __m256 high = _mm256_set1_ps(127.0f);
  for (int k = 0; k < width; k += 2 * kLanes) {
    __m256i half[2];
    for (int h = 0; h < 2; ++h) {
      const int count = width - k - h * kLanes;
      if (count <= 0) {
        half[h] = _mm256_setzero_si256();
        continue;
      }
      __m256 r = _mm256_mul_ps(LoadPart(a + k + h * kLanes, count), inverse);
      r = _mm256_min_ps(_mm256_max_ps(r, low), high);
      half[h] = _mm256_and_si256(_mm256_cvtps_epi32(r), TailMask(count));
    }
    // vpackssdw packs within 128-bit lanes; vpermq restores the order.
    const __m256i packed = _mm256_packs_epi32(half[0], half[1]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), _mm256_permute4x64_epi64(packed, 0xd8));
  }
  return max_abs / 127.0f;
}

// acc += vpmaddwd(w, x). Written in asm because GCC 12 gives the sum of
// _mm256_add_epi32(acc, _mm256_madd_epi16(w, x)) a new register on every
// step of a register-blocked loop and copies it back (with spills), which
// costs more than the multiply.
inline __attribute__((always_inline)) void MaddAccumulate(__m256i& acc, __m256i w, __m256i x) {
  __m256i product;
  __asm__("vpmaddwd %[x], %[w], %[p]\n\tvpaddd %[p], %[acc], %[acc]"
          : [acc] "+x"(acc), [p] "=&x"(product)
          : [w] "x"(w), [x] "x"(x));
}

// One hot column of a record row in the first layer: `word` holds, as four
// int16, q_x of the column (the quantised 1) in the place of the column in
// its group of 4 and 0 in the other three, and `offset` is the group's byte
// offset in the packed weights. vpmaddwd of the broadcast word with the
// group's widened weights adds exactly q_x * w[j][column] (and 0 * the
// group's other weights) to output j's two partial sums. An unknown
// category has word 0 and offset 0: it adds 0.
struct HotTerm {
  long long word;
  int offset;
};

struct LayerArgs {
  const PackedInt8Layer* layer;
  const int16_t* q;      // the tile's first quantised row, stride kStrideQ
  const float* scale_x;  // the tile's first row's scale_x
  float* y;              // the tile's first output row
  int y_stride;
  int j0;              // first output of the panel
  int groups;          // groups of 4 inputs read from q
  const HotTerm* hot;  // records only: the tile's first row's hot terms
};

// Sign-extends the 32 weight bytes of unit v of a group into two vectors.
inline __attribute__((always_inline)) void WidenUnit(const int8_t* w, int v, __m256i wv[2]) {
  for (int h = 0; h < 2; ++h)
    wv[h] = _mm256_cvtepi8_epi16(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + (2 * v + h) * 16)));
}

// R rows by V units of 8 outputs; acc[r][v][0] holds outputs j..j+3 and
// acc[r][v][1] outputs j+4..j+7, two partial sums each.
// The loops over R and V are unrolled fully so that the accumulator arrays
// are register names, never memory. kHot adds each row's hot columns.
template <int R, int V, bool kHot>
void Tile(const LayerArgs& args) {
  const PackedInt8Layer& layer = *args.layer;
  const int out_padded = PaddedWidth(layer.out);

  __m256i acc[R][V][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v][0] = acc[r][v][1] = _mm256_setzero_si256();

  const int8_t* w = layer.weight + size_t(args.j0) * kInt8Group;
  const size_t w_step = size_t(out_padded) * kInt8Group;
  for (int g = 0; g < args.groups; ++g, w += w_step) {
    __m256i wv[V][2];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) WidenUnit(w, v, wv[v]);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      long long four;
      std::memcpy(&four, args.q + r * kStrideQ + g * kInt8Group, sizeof(four));
      const __m256i x = _mm256_set1_epi64x(four);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v)
#pragma GCC unroll 8
        for (int h = 0; h < 2; ++h) MaddAccumulate(acc[r][v][h], wv[v][h], x);
    }
  }

  if constexpr (kHot) {
    const int8_t* panel = layer.weight + size_t(args.j0) * kInt8Group;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < kCategoricalCount; ++c) {
        const HotTerm term = args.hot[r * kCategoricalCount + c];
        const __m256i x = _mm256_set1_epi64x(term.word);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) {
          __m256i wv[2];
          WidenUnit(panel + term.offset, v, wv);
          MaddAccumulate(acc[r][v][0], wv[0], x);
          MaddAccumulate(acc[r][v][1], wv[1], x);
        }
      }
    }
  }

  const __m256 zero = _mm256_setzero_ps();
  const __m256 slope = _mm256_set1_ps(kLeakySlope);
#pragma GCC unroll 8
  for (int v = 0; v < V; ++v) {
    const int j = args.j0 + v * kUnit;
    const __m256 scale_w = _mm256_loadu_ps(layer.weight_scale + j);
    const __m256 bias = _mm256_loadu_ps(layer.bias + j);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      // hadd gives outputs (0, 1, 4, 5 | 2, 3, 6, 7); vpermq puts them in order.
      const __m256i sum =
          _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[r][v][0], acc[r][v][1]), 0xd8);
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(args.scale_x[r]), scale_w);
      __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(sum), scale);
      y = _mm256_add_ps(y, bias);
      if (layer.leaky_relu) {
        const __m256 negative = _mm256_cmp_ps(y, zero, _CMP_LT_OQ);
        y = _mm256_blendv_ps(y, _mm256_mul_ps(y, slope), negative);
      }
      _mm256_storeu_ps(args.y + r * args.y_stride + j, y);
    }
  }
}

using TileFn = void (*)(const LayerArgs&);
using TileTable = std::array<std::array<TileFn, kMaxUnits>, kTileRows>;

template <bool kHot, int R, int... V>
constexpr std::array<TileFn, kMaxUnits> TilesFor(std::integer_sequence<int, V...>) {
  // Entries past UnitsFor(R) are never called; they point at the widest.
  return {&Tile<R, std::min(V + 1, UnitsFor(R)), kHot>...};
}

template <bool kHot, int... R>
constexpr TileTable MakeTiles(std::integer_sequence<int, R...>) {
  return {TilesFor<kHot, R + 1>(std::make_integer_sequence<int, kMaxUnits>())...};
}

constexpr TileTable kTiles = MakeTiles<false>(std::make_integer_sequence<int, kTileRows>());
constexpr TileTable kHotTiles = MakeTiles<true>(std::make_integer_sequence<int, kTileRows>());

// A layer's panels of outputs by tiles of rows, on rows already quantised.
void Panels(const TileTable& tiles, const PackedInt8Layer& layer, int groups, int rows,
            const int16_t* q, const float* scale_x, const HotTerm* hot, float* y, int y_stride) {
  const int units = PaddedWidth(layer.out) / kUnit;
  const int panel = UnitsFor(std::min(rows, kTileRows));
  for (int v0 = 0; v0 < units; v0 += panel) {
    const int nv = std::min(panel, units - v0);
    for (int r0 = 0; r0 < rows; r0 += kTileRows) {
      const int nr = std::min(kTileRows, rows - r0);
      const LayerArgs args{
          &layer,   q + r0 * kStrideQ, scale_x + r0, y + size_t(r0) * y_stride,
          y_stride, v0 * kUnit,        groups,       hot ? hot + r0 * kCategoricalCount : nullptr};
      tiles[nr - 1][std::min(nv, UnitsFor(nr)) - 1](args);
    }
  }
}

// One layer for `rows` rows: quantise, then panels of outputs by tiles of rows.
void Dense(const PackedInt8Layer& layer, const float* a, int a_stride, int rows, int16_t* q,
           float* scale_x, float* y, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    const float* row = a + size_t(r) * a_stride;
    scale_x[r] = QuantizeRowWide(row, layer.in, RowMax(row, layer.in), q + r * kStrideQ);
  }
  Panels(kTiles, layer, PaddedDepth(layer.in) / kInt8Group, rows, q, scale_x, nullptr, y, y_stride);
}

// The first layer for `rows` record rows. A row's largest magnitude is that
// of its numeric features, or 1 if a column is hot (max of finite values in
// any order; NaN features are skipped as in RowMax); the numeric features
// are quantised as the dense row's would be, and each hot column's q_x is
// clamp(nearbyint(1 * (127 / m))), the oracle's expression.
void FirstLayerRecords(const PackedInt8Layer& layer, const RecordRows& input, int rows, int16_t* q,
                       float* scale_x, HotTerm* hot, float* y, int y_stride) {
  const int group_bytes = PaddedWidth(layer.out) * kInt8Group;
  for (int r = 0; r < rows; ++r) {
    const float* numeric = input.numeric + size_t(r) * kRecordStride;
    const int16_t* index = input.hot + size_t(r) * kCategoricalCount;
    float max_abs = RowMax(numeric, kNumericFeatureCount);
    for (int c = 0; c < kCategoricalCount; ++c)
      if (index[c] >= 0) max_abs = std::max(max_abs, 1.0f);
    scale_x[r] = QuantizeRowWide(numeric, kNumericFeatureCount, max_abs, q + r * kStrideQ);

    int32_t q_hot = 0;
    if (max_abs != 0.0f) {
      const float inverse = 127.0f / max_abs;
      q_hot = int32_t(std::min(127.0f, std::max(-127.0f, std::nearbyint(1.0f * inverse))));
    }
    for (int c = 0; c < kCategoricalCount; ++c) {
      HotTerm& term = hot[r * kCategoricalCount + c];
      const int k = index[c];
      term.word = k < 0 ? 0 : (long long)(uint16_t(q_hot)) << (16 * (k % kInt8Group));
      term.offset = k < 0 ? 0 : k / kInt8Group * group_bytes;
    }
  }
  static_assert(kRecordStride % kInt8Group == 0, "record rows hold whole groups");
  Panels(kHotTiles, layer, kRecordStride / kInt8Group, rows, q, scale_x, hot, y, y_stride);
}

// kernel_int8.h step 5 on one row; y holds the 128 padded outputs and
// x_at(f, count) returns features f..f+7, of which the first `count` (if
// positive) are real.
template <typename Input>
inline __attribute__((always_inline)) float ScoreOf(const float* y, const Input& x_at) {
  __m256 lane[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int f = 0; f < kPaddedWidths[kLayerCount]; f += 2 * kLanes) {
    for (int h = 0; h < 2; ++h) {
      const int count = kFeatureCount - f - h * kLanes;
      const __m256 d = count <= 0 ? _mm256_setzero_ps()
                                  : _mm256_sub_ps(LoadPart(y + f + h * kLanes, count),
                                                  x_at(f + h * kLanes, count));
      lane[h] = _mm256_add_ps(lane[h], _mm256_mul_ps(d, d));
    }
  }
  const __m256 l8 = _mm256_add_ps(lane[0], lane[1]);
  const __m128 l4 = _mm_add_ps(_mm256_castps256_ps128(l8), _mm256_extractf128_ps(l8, 1));
  const __m128 l2 = _mm_add_ps(l4, _mm_movehl_ps(l4, l4));
  const __m128 l1 = _mm_add_ss(l2, _mm_shuffle_ps(l2, l2, 1));
  return _mm_cvtss_f32(l1) / float(kFeatureCount);
}

float Score(const float* y, const float* x) {
  return ScoreOf(y, [x](int f, int count) { return LoadPart(x + f, count); });
}

// The record row's features in registers: the numeric ones loaded (f < 37),
// 1.0 in the lanes equal to a hot index, 0 elsewhere. Lanes past 121 never
// matter: ScoreOf makes their differences 0 (LoadPart zeroes y there, and
// no hot index is past 120).
float ScoreRecord(const float* y, const float* numeric, const int16_t* index) {
  __m256i hot[kCategoricalCount];
  for (int c = 0; c < kCategoricalCount; ++c) hot[c] = _mm256_set1_epi32(index[c]);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 one = _mm256_set1_ps(1.0f);
  return ScoreOf(y, [&](int f, int count) {
    __m256 x = _mm256_setzero_ps();
    if (f < kNumericFeatureCount)
      x = LoadPart(numeric + f, std::min(count, kNumericFeatureCount - f));
    const __m256i column = _mm256_add_epi32(iota, _mm256_set1_epi32(f));
    __m256i is_hot = _mm256_cmpeq_epi32(column, hot[0]);
    for (int c = 1; c < kCategoricalCount; ++c)
      is_hot = _mm256_or_si256(is_hot, _mm256_cmpeq_epi32(column, hot[c]));
    return _mm256_blendv_ps(x, one, _mm256_castsi256_ps(is_hot));
  });
}

// Layers 1..5 of a block whose first layer's output is in a; the
// reconstruction ends in b.
void HiddenLayers(const PackedInt8Model& model, int n, float* a, float* b, int16_t* q,
                  float* scale_x) {
  Dense(model.layers[1], a, kStrideA, n, q, scale_x, b, kStrideB);
  Dense(model.layers[2], b, kStrideB, n, q, scale_x, a, kStrideA);
  Dense(model.layers[3], a, kStrideA, n, q, scale_x, b, kStrideB);
  Dense(model.layers[4], b, kStrideB, n, q, scale_x, a, kStrideA);
  Dense(model.layers[5], a, kStrideA, n, q, scale_x, b, kStrideB);
}

}  // namespace

void ScoreInt8Avx2(const PackedInt8Model& model, const float* input, size_t rows, float* scores,
                   float* reconstruction) {
  alignas(64) float a[kBlockRows * kStrideA];
  alignas(64) float b[kBlockRows * kStrideB];
  alignas(64) int16_t q[kBlockRows * kStrideQ];
  float scale_x[kBlockRows];

  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const float* x = input + start * kFeatureCount;
    Dense(model.layers[0], x, kFeatureCount, n, q, scale_x, a, kStrideA);
    HiddenLayers(model, n, a, b, q, scale_x);

    for (int r = 0; r < n; ++r) {
      const float* y = b + r * kStrideB;
      scores[start + r] = Score(y, x + size_t(r) * kFeatureCount);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

void ScoreInt8RecordsAvx2(const PackedInt8Model& model, const RecordRows& input, size_t rows,
                          float* scores, float* reconstruction) {
  alignas(64) float a[kBlockRows * kStrideA];
  alignas(64) float b[kBlockRows * kStrideB];
  alignas(64) int16_t q[kBlockRows * kStrideQ];
  float scale_x[kBlockRows];
  HotTerm hot[kBlockRows * kCategoricalCount];

  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const RecordRows block{input.numeric + start * kRecordStride,
                           input.hot + start * kCategoricalCount};
    FirstLayerRecords(model.layers[0], block, n, q, scale_x, hot, a, kStrideA);
    HiddenLayers(model, n, a, b, q, scale_x);

    for (int r = 0; r < n; ++r) {
      const float* y = b + r * kStrideB;
      scores[start + r] = ScoreRecord(y, block.numeric + size_t(r) * kRecordStride,
                                      block.hot + size_t(r) * kCategoricalCount);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

Int8Kernels Avx2Int8Kernels() {
  return {ScoreInt8Avx2, ScoreInt8RecordsAvx2};
}

}  // namespace ebgan
