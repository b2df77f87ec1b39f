// The scalar fp32 kernel: the oracle every SIMD kernel is tested against.
// Plain loops in the order kernel.h fixes, built with -ffp-contract=off so
// that the compiler cannot fuse a multiply and an add behind our back.
#include <algorithm>

#include "ebgan/kernel.h"

namespace ebgan {
namespace {

constexpr size_t kTileRows = 4;

void Dense(const PackedLayer& layer, const float* in, int in_stride, float* out, size_t rows) {
  const int out_padded = PaddedWidth(layer.out);
  for (size_t r = 0; r < rows; ++r) {
    const float* x = in + r * in_stride;
    float* y = out + r * out_padded;
    for (int j = 0; j < out_padded; ++j) y[j] = layer.bias[j];
    for (int k = 0; k < layer.in; ++k) {
      const float xk = x[k];
      const float* w = layer.weight + size_t(k) * out_padded;
      for (int j = 0; j < out_padded; ++j) y[j] += xk * w[j];
    }
    if (layer.leaky_relu)
      for (int j = 0; j < out_padded; ++j) y[j] = y[j] < 0.0f ? y[j] * kLeakySlope : y[j];
  }
}

// The first layer for record rows: the dense order with the zero terms of
// the one-hot blocks skipped (kernel.h, RecordRows).
void FirstLayerRecords(const PackedLayer& layer, const RecordRows& input, size_t first, float* out,
                       size_t rows) {
  const int out_padded = PaddedWidth(layer.out);
  for (size_t r = 0; r < rows; ++r) {
    const float* x = input.numeric + (first + r) * kRecordStride;
    const int16_t* hot = input.hot + (first + r) * kCategoricalCount;
    float* y = out + r * out_padded;
    for (int j = 0; j < out_padded; ++j) y[j] = layer.bias[j];
    for (int k = 0; k < kNumericFeatureCount; ++k) {
      const float xk = x[k];
      const float* w = layer.weight + size_t(k) * out_padded;
      for (int j = 0; j < out_padded; ++j) y[j] += xk * w[j];
    }
    for (int h = 0; h < kCategoricalCount; ++h) {
      if (hot[h] < 0) continue;
      const float* w = layer.weight + size_t(hot[h]) * out_padded;
      for (int j = 0; j < out_padded; ++j) y[j] += w[j];
    }
    if (layer.leaky_relu)
      for (int j = 0; j < out_padded; ++j) y[j] = y[j] < 0.0f ? y[j] * kLeakySlope : y[j];
  }
}

// Layers 1..5 of a tile whose first layer is already in `a`; returns the
// buffer holding the reconstruction.
const float* HiddenLayers(const PackedFp32Model& model, float* a, float* b, size_t rows) {
  float* src = a;
  float* dst = b;
  for (int l = 1; l < kLayerCount; ++l) {
    Dense(model.layers[l], src, kPaddedWidths[l], dst, rows);
    std::swap(src, dst);
  }
  return src;
}

}  // namespace

void ScoreFp32RecordsScalar(const PackedFp32Model& model, const RecordRows& input, size_t rows,
                            float* scores, float* reconstruction) {
  alignas(64) float a[kTileRows * kMaxPaddedWidth];
  alignas(64) float b[kTileRows * kMaxPaddedWidth];

  for (size_t start = 0; start < rows; start += kTileRows) {
    const size_t n = std::min(kTileRows, rows - start);
    FirstLayerRecords(model.layers[0], input, start, a, n);
    const float* y_tile = HiddenLayers(model, a, b, n);
    for (size_t r = 0; r < n; ++r) {
      const float* y = y_tile + r * kPaddedWidths[kLayerCount];
      float sum = 0.0f;
      for (int f = 0; f < kFeatureCount; ++f) {
        const float d = y[f] - RecordFeature(input, start + r, f);
        sum += d * d;
      }
      scores[start + r] = sum / float(kFeatureCount);
      if (reconstruction)
        std::copy(y, y + kFeatureCount, reconstruction + (start + r) * kFeatureCount);
    }
  }
}

void ScoreFp32Scalar(const PackedFp32Model& model, const float* input, size_t rows, float* scores,
                     float* reconstruction) {
  alignas(64) float a[kTileRows * kMaxPaddedWidth];
  alignas(64) float b[kTileRows * kMaxPaddedWidth];

  for (size_t start = 0; start < rows; start += kTileRows) {
    const size_t n = std::min(kTileRows, rows - start);
    const float* x = input + start * kFeatureCount;

    Dense(model.layers[0], x, kFeatureCount, a, n);
    const float* src = HiddenLayers(model, a, b, n);

    for (size_t r = 0; r < n; ++r) {
      const float* y = src + r * kPaddedWidths[kLayerCount];
      const float* xr = x + r * kFeatureCount;
      float sum = 0.0f;
      for (int f = 0; f < kFeatureCount; ++f) {
        const float d = y[f] - xr[f];
        sum += d * d;
      }
      scores[start + r] = sum / float(kFeatureCount);
      if (reconstruction)
        std::copy(y, y + kFeatureCount, reconstruction + (start + r) * kFeatureCount);
    }
  }
}

FloatKernels ScalarFloatKernels() {
  return {ScoreFp32Scalar, ScoreFp32RecordsScalar, nullptr, nullptr};
}

}  // namespace ebgan
