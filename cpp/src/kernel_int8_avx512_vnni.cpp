// The AVX-512 VNNI int8 kernel (built with -mavx512f/dq/bw/vl -mavx512vnni
// -ffp-contract=off; called only when IsaUsable(Isa::kAvx512Vnni) holds).
// Its results are bit-identical to ScoreInt8Scalar: kernel_int8.h lists the
// steps, the comments below say how each one is met.
//
// Shape. Rows are scored in blocks of kBlockRows, layer by layer, with the
// block's activations in one stack buffer (about 47 KiB of stack in all). A
// layer first quantises each row of its input to signed bytes, then walks its
// outputs in panels of V vectors of 16 outputs; for each panel it runs a
// register-blocked micro-kernel over tiles of R rows, so the panel's weights
// (at most 24 KiB: 128 groups x 3 vectors x 64 bytes) stay in L1 while every
// tile of the block reuses them. For each group of 4 inputs the micro-kernel
// loads V weight vectors (16 outputs x 4 inputs, 64 bytes, the packed layout
// as stored) and issues R * V vpdpbusd, each reading its row's 4 activations
// as one 32-bit word broadcast from memory ({1to16}), so no instruction is
// spent on broadcasts. R = 8 rows use V = 3 (24 accumulators); smaller tiles
// take more vectors (up to 8), so that even a single row keeps 8
// independent accumulator chains in flight.
//
// Integer hazards. vpdpbusd multiplies unsigned bytes (its register operand)
// by signed bytes (the broadcast operand), adds each lane's four products in
// full precision and wraps on overflow (vpdpbusds would saturate). Both our
// operands are signed, so the weights take an offset: the kernel feeds
// u = w + 128 in [1, 255] (w is never -128; one vpxord with 0x80 per weight
// vector, shared by the R rows) and starts row r's accumulators at
// -128 * sum_k q_x[r][k], so that acc = sum (w + 128) q_x - 128 sum q_x
// = sum w q_x exactly. Bounds, fan-in 512: the start is at most
// 128 * 127 * 512 = 8,323,072 in magnitude and the products add at most
// 255 * 127 * 512 = 16,581,120 more, so every partial value, not only the
// final one, is inside int32 (2^31 = 2,147,483,648) by a factor of about 86
// and no wrap ever happens. The final |acc| <= 127 * 127 * 512 = 8,258,048
// < 2^24, so its conversion to float is exact. Padded inputs have zero
// weights and q_x = 0; padded outputs have zero weights (their accumulators
// end at exactly 0), scales and biases.
// Alternatives: the offset on the activations (u = q_x + 128, start at
// -128 * column_sum[j]) needs them in a register, one vpbroadcastd per row
// and group, where this way they are vpdpbusd's broadcast memory operand;
// the sign trick (|q_x| against weights given q_x's sign by vpsignb) costs
// a vpsignb per row and weight vector.
//
// Floating-point steps, each one intrinsic with one rounding, in the order
// of kernel_int8.h; the file is built with -ffp-contract=off so no multiply
// and add are fused:
// - Quantisation: m is a lane-wise vmaxps(|a|, m), which keeps m when |a| is
//   NaN exactly as std::max(m, |a|) does; the max of finite values does not
//   depend on order. 127 / m and m / 127 are scalar divisions. The clamp is
//   vmaxps(r, -127) then vminps(., 127), which maps NaN to -127 like the
//   oracle's std::min(127, std::max(-127, r)). Clamping before rounding is
//   the same as after, because the bounds are integers. vcvtps2dq rounds by
//   MXCSR, as nearbyint does, so both are half-to-even by default and agree
//   under any mode the caller sets.
// - Epilogue: float(acc) * (scale_x * scale_w[j]), then + bias[j], then
//   LeakyReLU as a compare (y < 0, false for NaN) and a masked multiply by
//   0.2f: the oracle's exact operations on 16 outputs at once.
// - Score: lane i of one zmm takes (y[f] - x[f])^2 for f = i, i + 16, ...
//   in order, starting from 0; the last vector masks f >= 121 to exactly
//   0, so padded outputs (possibly NaN under extreme scales) never enter.
//   Folds (i, i+8), (i, i+4), (i, i+2), (i, i+1), then / 121.
// No FTZ/DAZ is set: subnormals are handled per IEEE, like the oracle.
//
// GCC 12's AVX-512 headers start several intrinsics from a deliberately
// undefined register (`__m512 __Y = __Y;`), which -Wuninitialized reports
// at every inlined use although the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

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

#define EBGAN_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 16;
constexpr int kBlockRows = 16;
constexpr int kTileRows = 8;
constexpr int kMaxVectors = 8;
// Output vectors per tile of R rows: R * V accumulators, V weight vectors
// and the 0x80 constant must fit the 32 zmm registers, R * V + V + 1 <= 32.
// Past 8 chains the loads, not the latency, bound a small tile.
constexpr int VectorsFor(int rows) {
  return std::min(kMaxVectors, 31 / (rows + 1));
}
static_assert(kBlockRows % kTileRows == 0, "a block is a whole number of tiles");

// Row stride of the block's activations. One float buffer serves every
// layer: a layer quantises all its input rows to q before its first output
// is written, so its outputs may overwrite its inputs.
constexpr int kStrideA = kMaxPaddedWidth;
constexpr int kStrideQ = kMaxPaddedWidth;
static_assert(kPaddedWidths[kLayerCount] == 8 * kLanes, "the score folds 8 vectors");

EBGAN_INLINE __mmask16 TailMask(int count) {
  return count >= kLanes ? __mmask16(0xffff) : __mmask16((1u << count) - 1);
}

// The largest magnitude of one row of `width` floats, in 4 independent
// chains (vmaxps has a latency of several cycles). vmaxps(|a|, m) keeps m
// when |a| is NaN, as std::max(m, |a|) does, and the max of the finite
// values does not depend on their order.
float RowMax(const float* a, int width) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  __m512 m[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                 _mm512_setzero_ps()};
  for (int k = 0, i = 0; k < width; k += kLanes, i = (i + 1) % 4) {
    const __m512 v = _mm512_maskz_loadu_ps(TailMask(width - k), a + k);
    m[i] = _mm512_max_ps(_mm512_andnot_ps(sign, v), m[i]);
  }
  return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m[0], m[1]), _mm512_max_ps(m[2], m[3])));
}

// q_x of 16 floats: clamp(a * inverse) to [-127, 127], rounded by MXCSR.
EBGAN_INLINE __m512i Quantize16(__m512 v, __m512 inverse) {
  const __m512 r = _mm512_mul_ps(v, inverse);
  return _mm512_cvtps_epi32(
      _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f)));
}

// Quantises one row of `width` floats with largest magnitude `max_abs` to
// q_x over whole vectors of 16 (bytes past `width` hold 0); returns scale_x
// and the sum of the q_x. Whole vectors need no mask; only the last one of
// a 100- or 121-wide row does.
float QuantizeRowSum(const float* a, int width, float max_abs, int8_t* q, int32_t* sum) {
  if (max_abs == 0.0f) {
    std::memset(q, 0, size_t(PaddedWidth(width)));
    *sum = 0;
    return 0.0f;
  }

  const __m512 inverse = _mm512_set1_ps(127.0f / max_abs);
  __m512i total = _mm512_setzero_si512();
  int k = 0;
  for (; k + kLanes <= width; k += kLanes) {
    const __m512i qi = Quantize16(_mm512_loadu_ps(a + k), inverse);
    total = _mm512_add_epi32(total, qi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_cvtepi32_epi8(qi));
  }
  if (k < width) {
    const __mmask16 tail = TailMask(width - k);
    const __m512i qi =
        _mm512_maskz_mov_epi32(tail, Quantize16(_mm512_maskz_loadu_ps(tail, a + k), inverse));
    total = _mm512_add_epi32(total, qi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_cvtepi32_epi8(qi));
  }
  *sum = _mm512_reduce_add_epi32(total);
  return max_abs / 127.0f;
}

// acc += the four u8 x s8 products of each 32-bit lane of u8 and of the
// broadcast 32-bit word at s8, as vpdpbusd with an embedded {1to16}
// broadcast. Written in asm because GCC 12 routes the accumulator of
// _mm512_dpbusd_epi32 through spare registers and the stack on every step
// of a register-blocked loop, and never folds the broadcast.
EBGAN_INLINE void DotBroadcast(__m512i& acc, __m512i u8, const int8_t* s8) {
  __asm__("vpdpbusd %2%{1to16%}, %1, %0"
          : "+v"(acc)
          : "v"(u8), "m"(*reinterpret_cast<const int32_t*>(s8)));
}

// acc += the four u8 x s8 products of each 32-bit lane of u8 and of the 64
// bytes at s8, as vpdpbusd with a full-width memory operand.
EBGAN_INLINE void DotVector(__m512i& acc, __m512i u8, const int8_t* s8) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "m"(*reinterpret_cast<const __m512i*>(s8)));
}

// One hot column of a record row in the first layer: `word` holds q_x of the
// column (the quantised 1, in [0, 127]) in the byte of its place in its
// group of 4 and 0 in the other three, and `offset` is the group's byte
// offset in the packed weights. vpdpbusd of the broadcast word (unsigned)
// with the group's weights as stored (signed, no offset) adds exactly
// q_x * w[j][column] to output j's accumulator, so the weights' +128 offset
// and its correction cover the numeric groups only. An unknown category
// has word 0 and offset 0: it adds 0.
struct HotTerm {
  int32_t word;
  int32_t offset;
};

struct LayerArgs {
  const PackedInt8Layer* layer;
  const int8_t* q;       // the tile's first quantised row, stride kStrideQ
  const int32_t* q_sum;  // the tile's first row's sum of q_x
  const float* scale_x;  // the tile's first row's scale_x
  float* y;              // the tile's first output row
  int y_stride;
  int j0;              // first output of the panel
  int groups;          // groups of 4 inputs read from q
  const HotTerm* hot;  // records only: the tile's first row's hot terms
  __m512* row_max;     // the tile's first row's running max of |y|, or null
};

// acc[r][v] for R rows and V vectors of 16 outputs, then the float epilogue.
// The loops over R and V are unrolled fully so that the accumulator arrays
// are register names, never memory. kHot adds each row's hot columns.
template <int R, int V, bool kHot>
void Tile(const LayerArgs& args) {
  const PackedInt8Layer& layer = *args.layer;
  const int out_padded = PaddedWidth(layer.out);

  __m512i acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512i start = _mm512_set1_epi32(-128 * args.q_sum[r]);
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = start;
  }

  const __m512i flip = _mm512_set1_epi8(-128);
  const int8_t* w = layer.weight + size_t(args.j0) * kInt8Group;
  const size_t w_step = size_t(out_padded) * kInt8Group;
  for (int g = 0; g < args.groups; ++g, w += w_step) {
    __m512i wv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v)
      wv[v] = _mm512_xor_si512(_mm512_loadu_si512(w + v * kLanes * kInt8Group), flip);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int8_t* x = args.q + r * kStrideQ + g * kInt8Group;
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) DotBroadcast(acc[r][v], wv[v], x);
    }
  }

  if constexpr (kHot) {
    const int8_t* panel = layer.weight + size_t(args.j0) * kInt8Group;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < kCategoricalCount; ++c) {
        const HotTerm term = args.hot[r * kCategoricalCount + c];
        const __m512i u = _mm512_set1_epi32(term.word);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v)
          DotVector(acc[r][v], u, panel + term.offset + v * kLanes * kInt8Group);
      }
    }
  }

  // The epilogue, row by row. It also keeps each row's running max of |y|
  // over the panels (lane-wise, vmaxps(|y|, m)), so that the next layer's
  // quantiser need not read its input twice. Padded outputs enter it too:
  // they are 0 or NaN (0 * an infinite scale_x), and neither can change a
  // max that starts at 0 and skips NaN, so it equals the max over the true
  // outputs.
  const __m512 zero = _mm512_setzero_ps();
  const __m512 slope = _mm512_set1_ps(kLeakySlope);
  const __m512 sign = _mm512_set1_ps(-0.0f);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 scale_x = _mm512_set1_ps(args.scale_x[r]);
    float* out = args.y + r * args.y_stride + args.j0;
    __m512 m = args.row_max ? args.row_max[r] : zero;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const int j = args.j0 + v * kLanes;
      const __m512 scale = _mm512_mul_ps(scale_x, _mm512_loadu_ps(layer.weight_scale + j));
      __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), scale);
      y = _mm512_add_ps(y, _mm512_loadu_ps(layer.bias + j));
      if (layer.leaky_relu) {
        const __mmask16 negative = _mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ);
        y = _mm512_mask_mul_ps(y, negative, y, slope);
      }
      _mm512_storeu_ps(out + v * kLanes, y);
      m = _mm512_max_ps(_mm512_andnot_ps(sign, y), m);
    }
    if (args.row_max) args.row_max[r] = m;
  }
}

using TileFn = void (*)(const LayerArgs&);
using TileTable = std::array<std::array<TileFn, kMaxVectors>, kTileRows>;

template <bool kHot, int R, int... V>
constexpr std::array<TileFn, kMaxVectors> TilesFor(std::integer_sequence<int, V...>) {
  // Entries past VectorsFor(R) are never called; they point at the widest.
  return {&Tile<R, std::min(V + 1, VectorsFor(R)), kHot>...};
}

template <bool kHot, int... R>
constexpr TileTable MakeTiles(std::integer_sequence<int, R...>) {
  return {TilesFor<kHot, R + 1>(std::make_integer_sequence<int, kMaxVectors>())...};
}

constexpr TileTable kTiles = MakeTiles<false>(std::make_integer_sequence<int, kTileRows>());
constexpr TileTable kHotTiles = MakeTiles<true>(std::make_integer_sequence<int, kTileRows>());

// One block's scratch, on the stack of the calling thread.
struct Block {
  alignas(64) float act[kBlockRows * kStrideA];  // a layer's input, then its output
  alignas(64) int8_t q[kBlockRows * kStrideQ];
  __m512 row_max[kBlockRows];  // lane-wise max of |act| over a row, see Tile
  int32_t q_sum[kBlockRows];
  float scale_x[kBlockRows];
  HotTerm hot[kBlockRows * kCategoricalCount];
};

// A layer's panels of outputs by tiles of rows, on rows already quantised;
// the outputs go to block.act. keep_max: also leave each row's max of |y|
// in block.row_max, for the next layer.
void Panels(const TileTable& tiles, const PackedInt8Layer& layer, int groups, int rows,
            Block& block, const HotTerm* hot, bool keep_max) {
  if (keep_max)
    for (int r = 0; r < rows; ++r) block.row_max[r] = _mm512_setzero_ps();
  const int vectors = PaddedWidth(layer.out) / kLanes;
  const int panel = VectorsFor(std::min(rows, kTileRows));
  for (int v0 = 0; v0 < vectors; v0 += panel) {
    const int nv = std::min(panel, vectors - v0);
    for (int r0 = 0; r0 < rows; r0 += kTileRows) {
      const int nr = std::min(kTileRows, rows - r0);
      const LayerArgs args{&layer,
                           block.q + r0 * kStrideQ,
                           block.q_sum + r0,
                           block.scale_x + r0,
                           block.act + size_t(r0) * kStrideA,
                           kStrideA,
                           v0 * kLanes,
                           groups,
                           hot ? hot + r0 * kCategoricalCount : nullptr,
                           keep_max ? block.row_max + r0 : nullptr};
      tiles[nr - 1][std::min(nv, VectorsFor(nr)) - 1](args);
    }
  }
}

// The first layer on `rows` dense rows of the caller's input.
void FirstLayer(const PackedInt8Layer& layer, const float* x, int rows, Block& block) {
  for (int r = 0; r < rows; ++r) {
    const float* row = x + size_t(r) * kFeatureCount;
    block.scale_x[r] = QuantizeRowSum(row, layer.in, RowMax(row, layer.in), block.q + r * kStrideQ,
                                      block.q_sum + r);
  }
  Panels(kTiles, layer, PaddedDepth(layer.in) / kInt8Group, rows, block, nullptr, true);
}

// The first layer for `rows` record rows. A row's largest magnitude is that
// of its numeric features, or 1 if a column is hot (max of finite values in
// any order; NaN features are skipped as in RowMax); the numeric features
// are quantised as the dense row's would be, and each hot column's q_x is
// clamp(nearbyint(1 * (127 / m))), the oracle's expression.
void FirstLayerRecords(const PackedInt8Layer& layer, const RecordRows& input, int rows,
                       Block& block) {
  const int group_bytes = PaddedWidth(layer.out) * kInt8Group;
  for (int r = 0; r < rows; ++r) {
    const float* numeric = input.numeric + size_t(r) * kRecordStride;
    const int16_t* index = input.hot + size_t(r) * kCategoricalCount;
    float max_abs = RowMax(numeric, kNumericFeatureCount);
    for (int c = 0; c < kCategoricalCount; ++c)
      if (index[c] >= 0) max_abs = std::max(max_abs, 1.0f);
    block.scale_x[r] = QuantizeRowSum(numeric, kNumericFeatureCount, max_abs,
                                      block.q + r * kStrideQ, block.q_sum + r);

    // 127 / m is positive (or +inf, clamped to 127), so q_hot is in [0, 127]:
    // a valid unsigned byte for vpdpbusd.
    int32_t q_hot = 0;
    if (max_abs != 0.0f) {
      const float inverse = 127.0f / max_abs;
      q_hot = int32_t(std::min(127.0f, std::max(-127.0f, std::nearbyint(1.0f * inverse))));
    }
    for (int c = 0; c < kCategoricalCount; ++c) {
      HotTerm& term = block.hot[r * kCategoricalCount + c];
      const int k = index[c];
      term.word = k < 0 ? 0 : int32_t(uint32_t(q_hot) << (8 * (k % kInt8Group)));
      term.offset = k < 0 ? 0 : k / kInt8Group * group_bytes;
    }
  }
  static_assert(kRecordStride % kInt8Group == 0, "record rows hold whole groups");
  Panels(kHotTiles, layer, kRecordStride / kInt8Group, rows, block, block.hot, true);
}

// Layers 1..5 of a block whose first layer's output is in block.act, each
// quantising from the row maxima its predecessor's epilogue kept; the
// reconstruction ends in block.act.
void HiddenLayers(const PackedInt8Model& model, int rows, Block& block) {
  for (int l = 1; l < kLayerCount; ++l) {
    const PackedInt8Layer& layer = model.layers[l];
    for (int r = 0; r < rows; ++r) {
      block.scale_x[r] = QuantizeRowSum(block.act + size_t(r) * kStrideA, layer.in,
                                        _mm512_reduce_max_ps(block.row_max[r]),
                                        block.q + r * kStrideQ, block.q_sum + r);
    }
    Panels(kTiles, layer, PaddedDepth(layer.in) / kInt8Group, rows, block, nullptr,
           l + 1 < kLayerCount);
  }
}

// kernel_int8.h step 5 on one row; y holds the 128 padded outputs and
// x_at(f, mask) returns features f..f+15 (0 where mask is clear).
template <typename Input>
EBGAN_INLINE float ScoreOf(const float* y, const Input& x_at) {
  __m512 lane = _mm512_setzero_ps();
  for (int f = 0; f < kPaddedWidths[kLayerCount]; f += kLanes) {
    const __mmask16 mask = TailMask(kFeatureCount - f);
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, y + f), x_at(f, mask));
    lane = _mm512_add_ps(lane, _mm512_mul_ps(d, d));
  }
  const __m256 l8 = _mm256_add_ps(_mm512_castps512_ps256(lane), _mm512_extractf32x8_ps(lane, 1));
  const __m128 l4 = _mm_add_ps(_mm256_castps256_ps128(l8), _mm256_extractf128_ps(l8, 1));
  const __m128 l2 = _mm_add_ps(l4, _mm_movehl_ps(l4, l4));
  const __m128 l1 = _mm_add_ss(l2, _mm_shuffle_ps(l2, l2, 1));
  return _mm_cvtss_f32(l1) / float(kFeatureCount);
}

float Score(const float* y, const float* x) {
  return ScoreOf(y, [x](int f, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, x + f); });
}

// The record row's features in registers: the numeric ones loaded (f < 37),
// 1.0 where a bit of the row's 128-bit hot mask is set, 0 elsewhere.
float ScoreRecord(const float* y, const float* numeric, const int16_t* index) {
  uint64_t hot[2] = {0, 0};
  for (int c = 0; c < kCategoricalCount; ++c)
    if (index[c] >= 0) hot[index[c] / 64] |= uint64_t(1) << (index[c] % 64);
  const __m512 one = _mm512_set1_ps(1.0f);
  return ScoreOf(y, [&](int f, __mmask16) {
    __m512 x = _mm512_setzero_ps();
    if (f < kNumericFeatureCount)
      x = _mm512_maskz_loadu_ps(TailMask(kNumericFeatureCount - f), numeric + f);
    return _mm512_mask_mov_ps(x, __mmask16(hot[f / 64] >> (f % 64)), one);
  });
}

// Asks for the `bytes` at p to be brought into the caches. The next block's
// input is requested when a block starts: a block's work takes far longer
// than the transfer, and otherwise the first layer's row maxima wait on the
// misses of a large batch that has left the caches.
void Prefetch(const void* p, size_t bytes) {
  const char* begin = static_cast<const char*>(p);
  for (size_t i = 0; i < bytes; i += 64) _mm_prefetch(begin + i, _MM_HINT_T0);
}

}  // namespace

void ScoreInt8Avx512Vnni(const PackedInt8Model& model, const float* input, size_t rows,
                         float* scores, float* reconstruction) {
  Block block;
  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const float* x = input + start * kFeatureCount;
    if (start + n < rows)
      Prefetch(x + n * kFeatureCount,
               sizeof(float) * kFeatureCount * std::min<size_t>(kBlockRows, rows - start - n));
    FirstLayer(model.layers[0], x, n, block);
    HiddenLayers(model, n, block);

    for (int r = 0; r < n; ++r) {
      const float* y = block.act + r * kStrideA;
      scores[start + r] = Score(y, x + size_t(r) * kFeatureCount);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

void ScoreInt8RecordsAvx512Vnni(const PackedInt8Model& model, const RecordRows& input, size_t rows,
                                float* scores, float* reconstruction) {
  Block block;
  for (size_t start = 0; start < rows; start += kBlockRows) {
    const int n = int(std::min<size_t>(kBlockRows, rows - start));
    const RecordRows records{input.numeric + start * kRecordStride,
                             input.hot + start * kCategoricalCount};
    if (start + n < rows) {
      const size_t next = std::min<size_t>(kBlockRows, rows - start - n);
      Prefetch(records.numeric + n * kRecordStride, sizeof(float) * kRecordStride * next);
      Prefetch(records.hot + n * kCategoricalCount, sizeof(int16_t) * kCategoricalCount * next);
    }
    FirstLayerRecords(model.layers[0], records, n, block);
    HiddenLayers(model, n, block);

    for (int r = 0; r < n; ++r) {
      const float* y = block.act + r * kStrideA;
      scores[start + r] = ScoreRecord(y, records.numeric + size_t(r) * kRecordStride,
                                      records.hot + size_t(r) * kCategoricalCount);
      if (reconstruction)
        std::memcpy(reconstruction + (start + r) * kFeatureCount, y, sizeof(float) * kFeatureCount);
    }
  }
}

Int8Kernels Avx512VnniInt8Kernels() {
  return {ScoreInt8Avx512Vnni, ScoreInt8RecordsAvx512Vnni};
}

}  // namespace ebgan
