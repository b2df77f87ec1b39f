#include "ebgan/engine.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

namespace ebgan {
namespace {

FloatKernels FloatKernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return ScalarFloatKernels();
#if defined(EBGAN_BUILD_AVX2)
    case Isa::kAvx2Fma:
      return Avx2FmaFloatKernels();
#endif
#if defined(EBGAN_BUILD_AVX512)
    case Isa::kAvx512:
      return Avx512FloatKernels();
#endif
#if defined(EBGAN_BUILD_NEON)
    case Isa::kNeon:
      return NeonFloatKernels();
#endif
    default:
      return {};
  }
}

Int8Kernels Int8KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return ScalarInt8Kernels();
#if defined(EBGAN_BUILD_INT8_AVX2)
    case Isa::kAvx2Fma:
      return Avx2Int8Kernels();
#endif
#if defined(EBGAN_BUILD_AVX512_VNNI)
    case Isa::kAvx512Vnni:
      return Avx512VnniInt8Kernels();
#endif
#if defined(EBGAN_BUILD_INT8_NEON)
    case Isa::kNeon:
      return NeonInt8Kernels();
#endif
#if defined(EBGAN_BUILD_NEON_DOTPROD)
    case Isa::kNeonDotprod:
      return NeonDotprodInt8Kernels();
#endif
    default:
      return {};
  }
}

// IEEE binary16 to binary32, exact for every finite half (the reader has
// already refused infinities and NaNs).
float HalfToFloat(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  const float magnitude = exponent == 0 ? std::ldexp(float(mantissa), -24)
                                        : std::ldexp(float(mantissa | 0x400), exponent - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

float WeightAt(const LayerData& layer, size_t i) {
  return layer.weight_fp32.empty() ? HalfToFloat(layer.weight_fp16[i]) : layer.weight_fp32[i];
}

// Rows per thread below which starting another thread costs more than it saves.
constexpr size_t kMinRowsPerThread = 128;
constexpr size_t kMaxThreads = 64;

// Bytes rounded up to whole cache lines, so that each packed array starts on one.
size_t Lines(size_t bytes) {
  return (bytes + 63) / 64 * 64;
}

}  // namespace

bool HasKernel(Precision precision, Isa isa) {
  return precision == Precision::kInt8 ? Int8KernelsFor(isa).dense != nullptr
                                       : FloatKernelsFor(isa).fp32 != nullptr;
}

Isa BestIsaFor(Precision precision) {
  static constexpr Isa kFp32Order[] = {Isa::kAvx512, Isa::kAvx2Fma, Isa::kNeon};
  static constexpr Isa kInt8Order[] = {Isa::kAvx512Vnni, Isa::kAvx2Fma, Isa::kNeonDotprod,
                                       Isa::kNeon};
  if (precision == Precision::kInt8) {
    for (Isa isa : kInt8Order)
      if (IsaUsable(isa) && HasKernel(precision, isa)) return isa;
  } else {
    for (Isa isa : kFp32Order)
      if (IsaUsable(isa) && HasKernel(precision, isa)) return isa;
  }
  return Isa::kScalar;
}

Status Engine::Create(const ModelData& model, const std::string& kernel,
                      std::unique_ptr<Engine>* out) {
  std::string requested = kernel;
  if (requested.empty()) {
    const char* env = std::getenv(kKernelEnvVar);
    if (env) requested = env;
  }
  Isa isa = BestIsaFor(model.precision);
  if (!requested.empty() && requested != "auto") {
    Status s = ResolveIsa(requested, &isa);
    if (!s.ok()) return s;
    if (!HasKernel(model.precision, isa)) {
      return Status(StatusCode::kUnsupported, std::string("kernel '") + requested + "' has no " +
                                                  PrecisionName(model.precision) +
                                                  " implementation in this build");
    }
  }

  std::unique_ptr<Engine> engine(new Engine());
  engine->model_ = model;
  engine->isa_ = isa;
  Status s;
  if (model.precision == Precision::kInt8) {
    engine->int8_kernels_ = Int8KernelsFor(isa);
    s = engine->PackInt8();
  } else {
    const FloatKernels kernels = FloatKernelsFor(isa);
    if (model.precision == Precision::kFp16 && kernels.fp16) {
      engine->fp16_kernel_ = kernels.fp16;
      engine->fp16_record_kernel_ = kernels.fp16_records;
      s = engine->PackFp16();
    } else {
      engine->fp32_kernel_ = kernels.fp32;
      engine->fp32_record_kernel_ = kernels.fp32_records;
      s = engine->PackFp32();
    }
  }
  if (!s.ok()) return s;
  *out = std::move(engine);
  return Status::Ok();
}

Status Engine::Allocate(size_t bytes) {
  void* block = std::aligned_alloc(64, bytes);
  if (!block) return Status(StatusCode::kInvalidArgument, "out of memory packing the model");
  std::memset(block, 0, bytes);
  packed_ = std::unique_ptr<void, void (*)(void*)>(block, std::free);
  packed_bytes_ = bytes;
  return Status::Ok();
}

// Packs every layer k-major with outputs padded (kernel.h), weights as
// `Weight` (float, or uint16_t for binary16 kept as stored), and calls
// `done(l, weight, bias)` for each layer.
template <typename Weight, typename Done>
Status Engine::PackFloat(const Done& done) {
  size_t bytes = 0;
  for (int l = 0; l < kLayerCount; ++l)
    bytes += Lines(sizeof(Weight) * kLayerWidths[l] * kPaddedWidths[l + 1]) +
             Lines(sizeof(float) * kPaddedWidths[l + 1]);
  Status s = Allocate(bytes);
  if (!s.ok()) return s;

  char* cursor = static_cast<char*>(packed_.get());
  for (int l = 0; l < kLayerCount; ++l) {
    const LayerData& layer = model_.layers[l];
    const int out_padded = kPaddedWidths[l + 1];
    auto* weight = reinterpret_cast<Weight*>(cursor);
    cursor += Lines(sizeof(Weight) * layer.in * out_padded);
    float* bias = reinterpret_cast<float*>(cursor);
    cursor += Lines(sizeof(float) * out_padded);
    for (int j = 0; j < layer.out; ++j) {
      for (int k = 0; k < layer.in; ++k) {
        const size_t from = size_t(j) * layer.in + k;
        Weight& to = weight[size_t(k) * out_padded + j];
        if constexpr (sizeof(Weight) == sizeof(float))
          to = WeightAt(layer, from);
        else
          to = layer.weight_fp16[from];
      }
      bias[j] = layer.bias[j];
    }
    done(l, weight, bias);
  }
  return Status::Ok();
}

Status Engine::PackFp32() {
  return PackFloat<float>([this](int l, const float* weight, const float* bias) {
    const LayerData& layer = model_.layers[l];
    fp32_model_.layers[l] =
        PackedLayer{weight, bias, layer.in, layer.out, layer.activation == Activation::kLeakyRelu};
  });
}

Status Engine::PackFp16() {
  return PackFloat<uint16_t>([this](int l, const uint16_t* weight, const float* bias) {
    const LayerData& layer = model_.layers[l];
    fp16_model_.layers[l] = PackedHalfLayer{weight, bias, layer.in, layer.out,
                                            layer.activation == Activation::kLeakyRelu};
  });
}

Status Engine::PackInt8() {
  for (const LayerData& layer : model_.layers) {
    if (layer.input_scale != 0.0f) {
      return Status(StatusCode::kUnsupported,
                    "int8 model uses static activation scales; this build quantises "
                    "activations per row only (input_scale 0)");
    }
  }
  size_t bytes = 0;
  for (int l = 0; l < kLayerCount; ++l) {
    const size_t out_padded = kPaddedWidths[l + 1];
    bytes += Lines(PaddedDepth(kLayerWidths[l]) * out_padded) + 3 * Lines(4 * out_padded);
  }
  Status s = Allocate(bytes);
  if (!s.ok()) return s;

  char* cursor = static_cast<char*>(packed_.get());
  for (int l = 0; l < kLayerCount; ++l) {
    const LayerData& layer = model_.layers[l];
    const int out_padded = kPaddedWidths[l + 1];
    auto* weight = reinterpret_cast<int8_t*>(cursor);
    cursor += Lines(size_t(PaddedDepth(layer.in)) * out_padded);
    auto* column_sum = reinterpret_cast<int32_t*>(cursor);
    cursor += Lines(4 * size_t(out_padded));
    auto* scale = reinterpret_cast<float*>(cursor);
    cursor += Lines(4 * size_t(out_padded));
    auto* bias = reinterpret_cast<float*>(cursor);
    cursor += Lines(4 * size_t(out_padded));
    for (int j = 0; j < layer.out; ++j) {
      for (int k = 0; k < layer.in; ++k) {
        const int8_t w = layer.weight_int8[size_t(j) * layer.in + k];
        const size_t g = k / kInt8Group;
        weight[(g * out_padded + j) * kInt8Group + k % kInt8Group] = w;
        column_sum[j] += w;
      }
      scale[j] = layer.weight_scale[j];
      bias[j] = layer.bias[j];
    }
    int8_model_.layers[l] = PackedInt8Layer{weight,
                                            column_sum,
                                            scale,
                                            bias,
                                            layer.in,
                                            layer.out,
                                            layer.activation == Activation::kLeakyRelu};
  }
  return Status::Ok();
}

void Engine::ScoreRange(const float* input, size_t rows, float* scores,
                        float* reconstruction) const {
  if (int8_kernels_.dense)
    int8_kernels_.dense(int8_model_, input, rows, scores, reconstruction);
  else if (fp16_kernel_)
    fp16_kernel_(fp16_model_, input, rows, scores, reconstruction);
  else
    fp32_kernel_(fp32_model_, input, rows, scores, reconstruction);
}

void Engine::ScoreRecordRange(const RecordRows& input, size_t rows, float* scores,
                              float* reconstruction) const {
  if (int8_kernels_.records)
    int8_kernels_.records(int8_model_, input, rows, scores, reconstruction);
  else if (fp16_record_kernel_)
    fp16_record_kernel_(fp16_model_, input, rows, scores, reconstruction);
  else
    fp32_record_kernel_(fp32_model_, input, rows, scores, reconstruction);
}

namespace {

// Runs score(begin, n) over [0, rows) in up to `threads` contiguous shares.
// Threads live for this call only: an idle scorer holds no spinning pool.
// If the system refuses a thread, its share runs on the calling thread.
template <typename ScoreShare>
void InParallel(size_t rows, int threads, const ScoreShare& score) {
  size_t workers = threads > 1 ? std::min(size_t(threads), kMaxThreads) : 1;
  workers = std::min(workers, std::max<size_t>(1, rows / kMinRowsPerThread));
  if (workers <= 1) {
    score(0, rows);
    return;
  }
  const size_t chunk = (rows + workers - 1) / workers;
  std::thread pool[kMaxThreads];
  size_t started = 0;
  for (size_t w = 1; w < workers; ++w) {
    const size_t begin = w * chunk;
    if (begin >= rows) break;
    const size_t n = std::min(chunk, rows - begin);
    try {
      pool[started] = std::thread([&score, begin, n] { score(begin, n); });
      ++started;
    } catch (const std::system_error&) {
      score(begin, n);
    }
  }
  score(0, std::min(chunk, rows));
  for (size_t i = 0; i < started; ++i) pool[i].join();
}

}  // namespace

void Engine::Score(const float* input, size_t rows, float* scores, float* reconstruction,
                   int threads) const {
  InParallel(rows, threads, [&](size_t begin, size_t n) {
    ScoreRange(input + begin * kFeatureCount, n, scores + begin,
               reconstruction ? reconstruction + begin * kFeatureCount : nullptr);
  });
}

void Engine::ScoreRecords(const RecordRows& input, size_t rows, float* scores,
                          float* reconstruction, int threads) const {
  InParallel(rows, threads, [&](size_t begin, size_t n) {
    const RecordRows share{input.numeric + begin * kRecordStride,
                           input.hot + begin * kCategoricalCount};
    ScoreRecordRange(share, n, scores + begin,
                     reconstruction ? reconstruction + begin * kFeatureCount : nullptr);
  });
}

Status Engine::ScoreText(std::string_view text, uint64_t first_line, std::vector<float>* scores,
                         std::vector<uint64_t>* lines, EncodeStats* stats, RecordIssue* issue,
                         int threads) const {
  ParsedRecords parsed;
  Status s = ParseRecords(text, first_line, &parsed, issue);
  if (!s.ok()) return s;
  std::vector<float> numeric(parsed.rows * kRecordStride);
  std::vector<int16_t> hot(parsed.rows * kCategoricalCount);
  EncodeRecordRows(parsed.numeric.data(), parsed.category.data(), parsed.rows,
                   model_.minimum.data(), model_.maximum.data(), numeric.data(), hot.data(), stats);
  scores->resize(parsed.rows);
  ScoreRecords(RecordRows{numeric.data(), hot.data()}, parsed.rows, scores->data(), nullptr,
               threads);
  *lines = std::move(parsed.lines);
  return Status::Ok();
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
