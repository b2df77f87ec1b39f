// The per-layer loop and the probes, written once over a vector type and
// instantiated in each probe_*.cpp with that file's instruction set. Include
// only from those files: what this code compiles to depends on their flags.
//
// Dense layer: for a tile of R rows and V vectors of output columns, R * V
// accumulators start from the bias and take one multiply-add per input k
// (x[r][k] broadcast times a vector of W[k][...]), in ascending k as
// kernel.h fixes. Wide tiles (large R * V) hide the multiply-add latency;
// the column run is split into tiles of kWideV vectors, then single vectors.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "ebgan/kernel.h"

namespace ebgan_bench {

inline double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// V must provide: Vec, kLanes, Load, Store, Set1, Fma(a, b, c) = a * b + c,
// Add, Mul, Max.
template <typename V, int R, int NV>
void DenseTile(const ebgan::PackedLayer& layer, const float* x, int x_stride, float* y,
               int y_stride, int j0) {
  using Vec = typename V::Vec;
  Vec acc[R][NV];
  for (int v = 0; v < NV; ++v) {
    const Vec b = V::Load(layer.bias + j0 + v * V::kLanes);
    for (int r = 0; r < R; ++r) acc[r][v] = b;
  }
  const int out_padded = ebgan::PaddedWidth(layer.out);
  for (int k = 0; k < layer.in; ++k) {
    const float* w = layer.weight + size_t(k) * out_padded + j0;
    Vec wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = V::Load(w + v * V::kLanes);
    for (int r = 0; r < R; ++r) {
      const Vec xr = V::Set1(x[r * x_stride + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = V::Fma(xr, wv[v], acc[r][v]);
    }
  }
  const Vec slope = V::Set1(layer.leaky_relu ? ebgan::kLeakySlope : 1.0f);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      // slope < 1, so LeakyReLU(a) = max(a, slope * a); slope 1 is identity.
      const Vec a = acc[r][v];
      V::Store(y + r * y_stride + j0 + v * V::kLanes, V::Max(a, V::Mul(slope, a)));
    }
}

template <typename V, int R, int kWideV>
void DenseRows(const ebgan::PackedLayer& layer, const float* x, int x_stride, float* y) {
  const int out_padded = ebgan::PaddedWidth(layer.out);
  int j = 0;
  for (; j + kWideV * V::kLanes <= out_padded; j += kWideV * V::kLanes)
    DenseTile<V, R, kWideV>(layer, x, x_stride, y, out_padded, j);
  for (; j < out_padded; j += V::kLanes) DenseTile<V, R, 1>(layer, x, x_stride, y, out_padded, j);
}

// Tiles of kRows rows, then the remaining 1..kRows-1 rows with wider column
// tiles (fewer rows leave registers for more columns).
template <typename V, int kRows, int kWideV, int kNarrowRowsWideV>
void Dense(const ebgan::PackedLayer& layer, const float* x, int x_stride, float* y,
           size_t rows) {
  static_assert(kRows == 4, "the row tails below cover 1..3 rows");
  const int out_padded = ebgan::PaddedWidth(layer.out);
  size_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    DenseRows<V, kRows, kWideV>(layer, x + r * x_stride, x_stride, y + r * out_padded);
  const float* xt = x + r * x_stride;
  float* yt = y + r * out_padded;
  switch (rows - r) {
    case 3: DenseRows<V, 3, kWideV>(layer, xt, x_stride, yt); break;
    case 2: DenseRows<V, 2, kNarrowRowsWideV>(layer, xt, x_stride, yt); break;
    case 1: DenseRows<V, 1, kNarrowRowsWideV>(layer, xt, x_stride, yt); break;
    default: break;
  }
}

// kAcc independent chains acc = acc * b + c; b < 1 keeps every value finite
// and far from denormals (the fixed point is c / (1 - b)).
template <typename V, int kAcc>
double PeakGflops(double seconds) {
  using Vec = typename V::Vec;
  Vec acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = V::Set1(1.0f + 0.01f * i);
  const Vec b = V::Set1(0.999f), c = V::Set1(0.001f);
  long iterations = 1 << 16;
  double best = 0.0;
  const auto start = std::chrono::steady_clock::now();
  while (Seconds(start) < seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long n = 0; n < iterations; ++n) {
#pragma GCC unroll 32
      for (int i = 0; i < kAcc; ++i) acc[i] = V::Fma(acc[i], b, c);
    }
    const double s = Seconds(t0);
    best = std::max(best, 2.0 * V::kLanes * kAcc * double(iterations) / s * 1e-9);
    if (s < 0.01) iterations *= 2;
  }
  // Keep the result alive so the loop is not removed.
  Vec sum = acc[0];
  for (int i = 1; i < kAcc; ++i) sum = V::Add(sum, acc[i]);
  alignas(64) float lanes[64];
  V::Store(lanes, sum);
  volatile float sink = lanes[0];
  (void)sink;
  return best;
}

// Streams `floats` floats (a multiple of 4 * kLanes) into 4 accumulators.
template <typename V>
double ReadGbs(const float* data, size_t floats, double seconds) {
  using Vec = typename V::Vec;
  Vec a0 = V::Set1(0), a1 = a0, a2 = a0, a3 = a0;
  double best = 0.0;
  const auto start = std::chrono::steady_clock::now();
  while (Seconds(start) < seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < floats; i += 4 * V::kLanes) {
      a0 = V::Add(a0, V::Load(data + i));
      a1 = V::Add(a1, V::Load(data + i + V::kLanes));
      a2 = V::Add(a2, V::Load(data + i + 2 * V::kLanes));
      a3 = V::Add(a3, V::Load(data + i + 3 * V::kLanes));
    }
    best = std::max(best, double(floats) * sizeof(float) / Seconds(t0) * 1e-9);
  }
  alignas(64) float lanes[64];
  V::Store(lanes, V::Add(V::Add(a0, a1), V::Add(a2, a3)));
  volatile float sink = lanes[0];
  (void)sink;
  return best;
}

}  // namespace ebgan_bench
