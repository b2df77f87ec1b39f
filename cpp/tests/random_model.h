// Random models and inputs for the tests and the timing driver. Weights are
// drawn like a trained net's, N(0, 1/fan_in), biases N(0, 0.1^2); inputs are
// uniform in [0, 1] like min-max normalised and one-hot features.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ebgan/model.h"

namespace ebgan_test {

inline ebgan::ModelData RandomModel(uint32_t seed) {
  std::mt19937 rng(seed);
  ebgan::ModelData model;
  model.precision = ebgan::Precision::kFp32;
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    ebgan::LayerData& layer = model.layers[l];
    layer.in = ebgan::kLayerWidths[l];
    layer.out = ebgan::kLayerWidths[l + 1];
    layer.activation = ebgan::kLayerActivations[l];
    std::normal_distribution<float> weight(0.0f, 1.0f / std::sqrt(float(layer.in)));
    std::normal_distribution<float> bias(0.0f, 0.1f);
    layer.weight_fp32.resize(size_t(layer.in) * layer.out);
    for (float& w : layer.weight_fp32) w = weight(rng);
    layer.bias.resize(layer.out);
    for (float& b : layer.bias) b = bias(rng);
  }
  model.threshold = 0.05f;
  return model;
}

inline std::vector<float> RandomInput(size_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(rows * ebgan::kFeatureCount);
  for (float& v : x) v = u(rng);
  return x;
}

inline ebgan::ModelData EmptyInt8Model() {
  ebgan::ModelData model;
  model.precision = ebgan::Precision::kInt8;
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    ebgan::LayerData& layer = model.layers[l];
    layer.in = ebgan::kLayerWidths[l];
    layer.out = ebgan::kLayerWidths[l + 1];
    layer.activation = ebgan::kLayerActivations[l];
    layer.weight_int8.assign(size_t(layer.in) * layer.out, 0);
    layer.weight_scale.assign(layer.out, 0.0f);
    layer.bias.assign(layer.out, 0.0f);
  }
  model.threshold = 0.05f;
  return model;
}

// Weights uniform in [-127, 127] with about 3% pinned at +-127 and output 0
// of every layer all zero, per-channel scales log-uniform around `scale` (a
// trained net's are near 1 / (127 * sqrt(fan_in))), biases N(0, 0.5^2).
inline ebgan::ModelData RandomInt8Model(uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> weight(-127, 127);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::normal_distribution<float> bias(0.0f, 0.5f);
  ebgan::ModelData model = EmptyInt8Model();
  for (ebgan::LayerData& layer : model.layers) {
    for (int8_t& w : layer.weight_int8) {
      const float p = unit(rng);
      w = int8_t(p < 0.015f ? 127 : p < 0.03f ? -127 : weight(rng));
    }
    // A dead (pruned) output channel: its accumulator is always 0, so once
    // an activation overflows to infinity, 0 * scale_x = 0 * inf is NaN.
    std::fill(layer.weight_int8.begin(), layer.weight_int8.begin() + layer.in, int8_t(0));
    for (float& s : layer.weight_scale) s = scale * std::exp2(8.0f * unit(rng) - 4.0f);
    for (float& b : layer.bias) b = bias(rng);
  }
  return model;
}

// The same random weights stored as binary16 (rounded to nearest even).
inline uint16_t HalfFromFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const float magnitude = std::fabs(value);
  if (magnitude < 6.103515625e-05f) {  // subnormal half: a multiple of 2^-24
    return uint16_t(sign | uint32_t(std::nearbyint(magnitude * 16777216.0f)));
  }
  uint32_t m;
  std::memcpy(&m, &magnitude, 4);
  // Round the 23-bit mantissa to 10 bits, half to even, carrying into the exponent.
  const uint32_t lower = m & 0x1fff;
  uint32_t upper = m >> 13;
  if (lower > 0x1000 || (lower == 0x1000 && (upper & 1))) ++upper;
  return uint16_t(sign | (upper - ((127 - 15) << 10)));
}

inline ebgan::ModelData RandomFp16Model(uint32_t seed) {
  ebgan::ModelData model = RandomModel(seed);
  model.precision = ebgan::Precision::kFp16;
  for (ebgan::LayerData& layer : model.layers) {
    layer.weight_fp16.resize(layer.weight_fp32.size());
    for (size_t i = 0; i < layer.weight_fp32.size(); ++i)
      layer.weight_fp16[i] = HalfFromFloat(layer.weight_fp32[i]);
    layer.weight_fp32.clear();
  }
  return model;
}

}  // namespace ebgan_test
