// The scalar int8 kernel: the oracle for the int8 SIMD kernels, which must
// match it bit for bit (kernel_int8.h lists the steps). Built with
// -ffp-contract=off so that no multiply-add is fused.
#include <algorithm>
#include <cmath>

#include "ebgan/kernel_int8.h"

namespace ebgan {

float QuantizeRow(const float* a, int width, int8_t* q) {
  float m = 0.0f;
  for (int k = 0; k < width; ++k) m = std::max(m, std::fabs(a[k]));
  const int padded = PaddedDepth(width);
  if (m == 0.0f) {
    std::fill(q, q + padded, int8_t(0));
    return 0.0f;
  }
  const float inverse = 127.0f / m;
  for (int k = 0; k < width; ++k) {
    const float r = std::nearbyint(a[k] * inverse);
    q[k] = int8_t(std::min(127.0f, std::max(-127.0f, r)));
  }
  std::fill(q + width, q + padded, int8_t(0));
  return m / 127.0f;
}

float SumSquaredErrorInLanes(const float* y, const float* x) {
  float lane[16] = {};
  for (int f = 0; f < kPaddedWidths[kLayerCount]; ++f) {
    float e = 0.0f;
    if (f < kFeatureCount) {
      const float d = y[f] - x[f];
      e = d * d;
    }
    lane[f % 16] += e;
  }
  for (int width = 8; width >= 1; width /= 2)
    for (int i = 0; i < width; ++i) lane[i] += lane[i + width];
  return lane[0];
}

namespace {

void DenseInt8(const PackedInt8Layer& layer, const float* a, float* y) {
  alignas(64) int8_t q[kMaxPaddedWidth];
  const float scale_x = QuantizeRow(a, layer.in, q);
  const int out_padded = PaddedWidth(layer.out);
  for (int j = 0; j < out_padded; ++j) {
    int32_t acc = 0;
    for (int g = 0; g < PaddedDepth(layer.in) / kInt8Group; ++g) {
      const int8_t* w = layer.weight + (size_t(g) * out_padded + j) * kInt8Group;
      for (int t = 0; t < kInt8Group; ++t) acc += int32_t(q[g * kInt8Group + t]) * w[t];
    }
    float v = float(acc) * (scale_x * layer.weight_scale[j]);
    v = v + layer.bias[j];
    if (layer.leaky_relu && v < 0.0f) v = v * kLeakySlope;
    y[j] = v;
  }
}

}  // namespace

void ScoreInt8Scalar(const PackedInt8Model& model, const float* input, size_t rows, float* scores,
                     float* reconstruction) {
  alignas(64) float a[kMaxPaddedWidth];
  alignas(64) float b[kMaxPaddedWidth];
  for (size_t r = 0; r < rows; ++r) {
    const float* x = input + r * kFeatureCount;
    DenseInt8(model.layers[0], x, a);
    float* src = a;
    float* dst = b;
    for (int l = 1; l < kLayerCount; ++l) {
      DenseInt8(model.layers[l], src, dst);
      std::swap(src, dst);
    }
    scores[r] = SumSquaredErrorInLanes(src, x) / float(kFeatureCount);
    if (reconstruction) std::copy(src, src + kFeatureCount, reconstruction + r * kFeatureCount);
  }
}

}  // namespace ebgan
