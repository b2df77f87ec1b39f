// Random models and inputs for the tests and the timing driver. Weights are
// drawn like a trained net's, N(0, 1/fan_in), biases N(0, 0.1^2); inputs are
// uniform in [0, 1] like min-max normalised and one-hot features.
#pragma once

#include <cmath>
#include <cstdint>
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

}  // namespace ebgan_test
