// An int8 copy of an fp32 model, made as `ebgan-edge convert --precision
// int8` makes it (python/ebgan_edge/training/quantize.py), so that the C++
// benchmarks time the int8 kernels on the shipped model without Python:
//   scale[j] = max_k |w[j][k]| / 127 in float32 (1 for an all-zero channel),
//   q[j][k] = clamp(rint(double(w[j][k]) / double(scale[j])), -127, 127),
// activations quantised per row at run time (input_scale 0). Plain C++,
// no instruction-set flags.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "ebgan/model.h"

namespace ebgan_bench {

inline ebgan::ModelData QuantizeInt8(const ebgan::ModelData& fp32) {
  ebgan::ModelData out = fp32;
  out.precision = ebgan::Precision::kInt8;
  for (ebgan::LayerData& layer : out.layers) {
    layer.weight_int8.resize(layer.weight_fp32.size());
    layer.weight_scale.resize(layer.out);
    for (int j = 0; j < layer.out; ++j) {
      const float* w = layer.weight_fp32.data() + size_t(j) * layer.in;
      float peak = 0.0f;
      for (int k = 0; k < layer.in; ++k) peak = std::max(peak, std::fabs(w[k]));
      const float scale = peak > 0.0f ? peak / 127.0f : 1.0f;
      layer.weight_scale[j] = scale;
      for (int k = 0; k < layer.in; ++k) {
        const double q = std::nearbyint(double(w[k]) / double(scale));
        layer.weight_int8[size_t(j) * layer.in + k] = int8_t(std::clamp(q, -127.0, 127.0));
      }
    }
    layer.weight_fp32.clear();
    layer.input_scale = 0.0f;
    layer.input_zero_point = 0;
  }
  return out;
}

}  // namespace ebgan_bench
