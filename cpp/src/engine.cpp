#include "ebgan/engine.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace ebgan {
namespace {

Fp32Kernel KernelFor(Isa isa) {
  switch (isa) {
#if defined(EBGAN_BUILD_AVX2)
    case Isa::kAvx2Fma:
      return ScoreFp32Avx2Fma;
#endif
#if defined(EBGAN_BUILD_AVX512)
    case Isa::kAvx512:
      return ScoreFp32Avx512;
#endif
#if defined(EBGAN_BUILD_NEON)
    case Isa::kNeon:
      return ScoreFp32Neon;
#endif
    default:
      return ScoreFp32Scalar;
  }
}

// IEEE binary16 to binary32, exact for every finite half (the reader has
// already refused infinities and NaNs).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(float(mantissa), -24);
  } else {
    magnitude = std::ldexp(float(mantissa | 0x400), exponent - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &magnitude, 4);
  bits |= sign;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

float WeightAt(const LayerData& layer, size_t i) {
  return layer.weight_fp32.empty() ? HalfToFloat(layer.weight_fp16[i]) : layer.weight_fp32[i];
}

// Rows per thread below which starting another thread costs more than it saves.
constexpr size_t kMinRowsPerThread = 128;

}  // namespace

Status Engine::Create(const ModelData& model, const std::string& kernel,
                      std::unique_ptr<Engine>* out) {
  std::string requested = kernel;
  if (requested.empty()) {
    const char* env = std::getenv(kKernelEnvVar);
    if (env) requested = env;
  }
  Isa isa;
  Status s = ResolveIsa(requested, &isa);
  if (!s.ok()) return s;
  if (model.precision == Precision::kInt8) {
    return Status(StatusCode::kUnsupported,
                  "int8 models cannot be scored by this build yet; export the model as fp32");
  }

  std::unique_ptr<Engine> engine(new Engine());
  engine->model_ = model;
  engine->isa_ = isa;
  engine->kernel_ = KernelFor(isa);

  // One 64-byte aligned block for all layers: weights then bias, each
  // rounded up to 16 floats so that every array starts on a cache line.
  size_t floats = 0;
  for (int l = 0; l < kLayerCount; ++l)
    floats += size_t(kLayerWidths[l]) * kPaddedWidths[l + 1] + kPaddedWidths[l + 1];
  void* block = std::aligned_alloc(64, floats * sizeof(float));
  if (!block) return Status(StatusCode::kInvalidArgument, "out of memory packing the model");
  std::memset(block, 0, floats * sizeof(float));
  engine->packed_ =
      std::unique_ptr<float[], void (*)(void*)>(static_cast<float*>(block), std::free);

  float* cursor = engine->packed_.get();
  for (int l = 0; l < kLayerCount; ++l) {
    const LayerData& layer = model.layers[l];
    const int out_padded = kPaddedWidths[l + 1];
    float* weight = cursor;
    cursor += size_t(layer.in) * out_padded;
    float* bias = cursor;
    cursor += out_padded;
    for (int j = 0; j < layer.out; ++j) {
      for (int k = 0; k < layer.in; ++k)
        weight[size_t(k) * out_padded + j] = WeightAt(layer, size_t(j) * layer.in + k);
      bias[j] = layer.bias[j];
    }
    engine->packed_model_.layers[l] =
        PackedLayer{weight, bias, layer.in, layer.out, layer.activation == Activation::kLeakyRelu};
  }
  *out = std::move(engine);
  return Status::Ok();
}

void Engine::Score(const float* input, size_t rows, float* scores, float* reconstruction,
                   int threads) const {
  size_t workers = threads > 1 ? size_t(threads) : 1;
  workers = std::min(workers, std::max<size_t>(1, rows / kMinRowsPerThread));
  if (workers <= 1) {
    kernel_(packed_model_, input, rows, scores, reconstruction);
    return;
  }
  // Threads live for this call only: an idle scorer holds no spinning pool.
  const size_t chunk = (rows + workers - 1) / workers;
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) {
    const size_t begin = w * chunk;
    if (begin >= rows) break;
    const size_t n = std::min(chunk, rows - begin);
    pool.emplace_back([=] {
      kernel_(packed_model_, input + begin * kFeatureCount, n, scores + begin,
              reconstruction ? reconstruction + begin * kFeatureCount : nullptr);
    });
  }
  kernel_(packed_model_, input, std::min(chunk, rows), scores, reconstruction);
  for (auto& t : pool) t.join();
}

bool FindNonFinite(const float* input, size_t rows, size_t* row, size_t* column) {
  const size_t n = rows * kFeatureCount;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(input[i])) {
      *row = i / kFeatureCount;
      *column = i % kFeatureCount;
      return true;
    }
  }
  return false;
}

}  // namespace ebgan
