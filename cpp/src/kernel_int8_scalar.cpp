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

namespace {

// Step 5 of kernel_int8.h with feature f of the input given by x(f).
template <typename Input>
float SumSquaredErrorOf(const float* y, const Input& x) {
  float lane[16] = {};
  for (int f = 0; f < kPaddedWidths[kLayerCount]; ++f) {
    float e = 0.0f;
    if (f < kFeatureCount) {
      const float d = y[f] - x(f);
      e = d * d;
    }
    lane[f % 16] += e;
  }
  for (int width = 8; width >= 1; width /= 2)
    for (int i = 0; i < width; ++i) lane[i] += lane[i + width];
  return lane[0];
}

// Steps 1-3 for one output, from its exact integer accumulator.
float Dequantize(const PackedInt8Layer& layer, int j, int32_t acc, float scale_x) {
  float v = float(acc) * (scale_x * layer.weight_scale[j]);
  v = v + layer.bias[j];
  if (layer.leaky_relu && v < 0.0f) v = v * kLeakySlope;
  return v;
}

int32_t DotGroups(const PackedInt8Layer& layer, const int8_t* q, int groups, int j) {
  const int out_padded = PaddedWidth(layer.out);
  int32_t acc = 0;
  for (int g = 0; g < groups; ++g) {
    const int8_t* w = layer.weight + (size_t(g) * out_padded + j) * kInt8Group;
    for (int t = 0; t < kInt8Group; ++t) acc += int32_t(q[g * kInt8Group + t]) * w[t];
  }
  return acc;
}

void DenseInt8(const PackedInt8Layer& layer, const float* a, float* y) {
  alignas(64) int8_t q[kMaxPaddedWidth];
  const float scale_x = QuantizeRow(a, layer.in, q);
  for (int j = 0; j < PaddedWidth(layer.out); ++j)
    y[j] =
        Dequantize(layer, j, DotGroups(layer, q, PaddedDepth(layer.in) / kInt8Group, j), scale_x);
}

// The first layer for a record row: the numeric features quantised as
// QuantizeRow would quantise the dense row, then each hot column's weight
// times the quantised 1 added to the exact accumulator.
void FirstLayerRecord(const PackedInt8Layer& layer, const float* numeric, const int16_t* hot,
                      float* y) {
  float m = 0.0f;
  for (int k = 0; k < kNumericFeatureCount; ++k) m = std::max(m, std::fabs(numeric[k]));
  for (int h = 0; h < kCategoricalCount; ++h)
    if (hot[h] >= 0) m = std::max(m, 1.0f);
  alignas(64) int8_t q[kRecordStride] = {};
  float scale_x = 0.0f;
  int32_t q_hot = 0;
  if (m != 0.0f) {
    const float inverse = 127.0f / m;
    for (int k = 0; k < kNumericFeatureCount; ++k) {
      const float r = std::nearbyint(numeric[k] * inverse);
      q[k] = int8_t(std::min(127.0f, std::max(-127.0f, r)));
    }
    q_hot = int32_t(std::min(127.0f, std::max(-127.0f, std::nearbyint(1.0f * inverse))));
    scale_x = m / 127.0f;
  }
  const int out_padded = PaddedWidth(layer.out);
  for (int j = 0; j < out_padded; ++j) {
    int32_t acc = DotGroups(layer, q, kRecordStride / kInt8Group, j);
    for (int h = 0; h < kCategoricalCount; ++h) {
      if (hot[h] < 0) continue;
      const int g = hot[h] / kInt8Group;
      acc += q_hot * layer.weight[(size_t(g) * out_padded + j) * kInt8Group + hot[h] % kInt8Group];
    }
    y[j] = Dequantize(layer, j, acc, scale_x);
  }
}

// Layers 1..5 from the first layer's output in `a`; returns the buffer
// holding the reconstruction.
const float* HiddenLayers(const PackedInt8Model& model, float* a, float* b) {
  float* src = a;
  float* dst = b;
  for (int l = 1; l < kLayerCount; ++l) {
    DenseInt8(model.layers[l], src, dst);
    std::swap(src, dst);
  }
  return src;
}

}  // namespace

float SumSquaredErrorInLanes(const float* y, const float* x) {
  return SumSquaredErrorOf(y, [x](int f) { return x[f]; });
}

void ScoreInt8RecordsScalar(const PackedInt8Model& model, const RecordRows& input, size_t rows,
                            float* scores, float* reconstruction) {
  alignas(64) float a[kMaxPaddedWidth];
  alignas(64) float b[kMaxPaddedWidth];
  for (size_t r = 0; r < rows; ++r) {
    FirstLayerRecord(model.layers[0], input.numeric + r * kRecordStride,
                     input.hot + r * kCategoricalCount, a);
    const float* y = HiddenLayers(model, a, b);
    scores[r] = SumSquaredErrorOf(y, [&](int f) { return RecordFeature(input, r, f); }) /
                float(kFeatureCount);
    if (reconstruction) std::copy(y, y + kFeatureCount, reconstruction + r * kFeatureCount);
  }
}

void ScoreInt8Scalar(const PackedInt8Model& model, const float* input, size_t rows, float* scores,
                     float* reconstruction) {
  alignas(64) float a[kMaxPaddedWidth];
  alignas(64) float b[kMaxPaddedWidth];
  for (size_t r = 0; r < rows; ++r) {
    const float* x = input + r * kFeatureCount;
    DenseInt8(model.layers[0], x, a);
    const float* src = HiddenLayers(model, a, b);
    scores[r] = SumSquaredErrorInLanes(src, x) / float(kFeatureCount);
    if (reconstruction) std::copy(src, src + kFeatureCount, reconstruction + r * kFeatureCount);
  }
}

Int8Kernels ScalarInt8Kernels() {
  return {ScoreInt8Scalar, ScoreInt8RecordsScalar};
}

}  // namespace ebgan
