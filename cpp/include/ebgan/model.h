// The discriminator's fixed architecture and the in-memory form of a model
// file (see docs/model-format.md for the bytes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ebgan/schema.h"
#include "ebgan/status.h"

namespace ebgan {

// Encoder 121-512-256-100, decoder 100-128-256-121.
inline constexpr int kLayerCount = 6;
inline constexpr std::array<int, kLayerCount + 1> kLayerWidths = {121, 512, 256, 100,
                                                                  128, 256, 121};
static_assert(kLayerWidths.front() == kFeatureCount && kLayerWidths.back() == kFeatureCount,
              "the autoencoder maps the 121 features back onto themselves");

enum class Activation : uint32_t { kIdentity = 0, kLeakyRelu = 1 };

// LeakyReLU after the first two layers of the encoder and of the decoder;
// the bottleneck (layer 2) and the output (layer 5) are linear.
inline constexpr std::array<Activation, kLayerCount> kLayerActivations = {
    Activation::kLeakyRelu, Activation::kLeakyRelu, Activation::kIdentity,
    Activation::kLeakyRelu, Activation::kLeakyRelu, Activation::kIdentity};

// Negative slope of every LeakyReLU, in every implementation. The model file
// stores it and the reader refuses any other value.
inline constexpr float kLeakySlope = 0.2f;

enum class Precision : uint32_t { kFp32 = 0, kFp16 = 1, kInt8 = 2 };
const char* PrecisionName(Precision precision);

// One dense layer, y = W x + b, with W stored [out][in] row-major as torch
// stores it. Exactly one weight vector is filled, by precision.
struct LayerData {
  int in = 0;
  int out = 0;
  Activation activation = Activation::kIdentity;
  std::vector<float> weight_fp32;
  std::vector<uint16_t> weight_fp16;  // IEEE binary16 bit patterns
  std::vector<int8_t> weight_int8;    // symmetric, in [-127, 127]
  std::vector<float> weight_scale;    // int8: per output channel
  std::vector<float> bias;            // always fp32
  float input_scale = 0.0f;           // int8: 0 means quantized per row at run time
  int32_t input_zero_point = 0;       // int8: static activation zero point
};

struct ModelData {
  Precision precision = Precision::kFp32;
  std::array<LayerData, kLayerCount> layers;
  std::array<float, kNumericFeatureCount> minimum{};  // min-max normalisation
  std::array<float, kNumericFeatureCount> maximum{};
  float threshold = 0.0f;        // a score above it is an attack
  std::string calibration_json;  // how the threshold was chosen
  std::string metadata_json;     // provenance: free-form JSON object
};

inline constexpr uint32_t kModelFormatVersion = 1;
inline constexpr char kModelMagic[8] = {'E', 'B', 'G', 'A', 'N', 'M', 'D', 'L'};
// No real model is near this; a larger size is taken as a damaged header.
inline constexpr uint64_t kMaxModelFileBytes = 64ull << 20;

// Parses and validates a model file held in memory. Every size, count and
// offset is checked against the buffer before it is used; on failure `out`
// is left unspecified and the Status names what is wrong.
Status ReadModel(const uint8_t* data, size_t size, ModelData* out);
Status ReadModelFile(const std::string& path, ModelData* out);

// Checks the values of a model however it was built: shapes, finite weights,
// biases, scales, normalisation and threshold, int8 ranges. ReadModel calls
// it; so does every other way of making a ModelData.
Status ValidateModel(const ModelData& model);

// The feature names in encoding order, joined by '\n': the vocabulary
// identity stored in, and checked against, every model file.
std::string FeatureNamesJoined();

// CRC-32 (IEEE 802.3, as zlib computes it) of a byte range.
uint32_t Crc32(const uint8_t* data, size_t size);

}  // namespace ebgan
