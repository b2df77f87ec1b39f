// Every usable int8 kernel against the scalar int8 oracle. The promise is
// bit-identical scores and reconstructions on every CPU, so the checks are
// exact (memcmp), on random int8 models and inputs chosen to reach the
// corners of the scheme: all-zero rows, one hot feature, negative, huge and
// subnormal values, and the largest accumulators the scheme allows.
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "harness.h"
#include "random_model.h"

namespace {

using ebgan::Engine;
using ebgan_test::EmptyInt8Model;
using ebgan_test::RandomInt8Model;
using ebgan::Isa;
using ebgan::kFeatureCount;
using ebgan::kLayerCount;
using ebgan::kLayerWidths;

constexpr size_t kBatchSizes[] = {0, 1, 2, 3, 7, 15, 16, 17, 33, 1000};

std::vector<Isa> Int8Isas() {
  std::vector<Isa> out;
  for (Isa isa : ebgan::UsableIsas())
    if (ebgan::HasKernel(ebgan::Precision::kInt8, isa)) out.push_back(isa);
  return out;
}

std::unique_ptr<Engine> MakeEngine(const ebgan::ModelData& model, Isa isa) {
  std::unique_ptr<Engine> engine;
  const ebgan::Status s = Engine::Create(model, ebgan::IsaName(isa), &engine);
  if (!s.ok()) ebgan_test::Fail(__FILE__, __LINE__, "Engine::Create: " + s.message());
  return engine;
}

// Rows of different kinds, cycling with the row index so that every batch
// size mixes them and every kind lands on every position of a tile.
std::vector<float> MixedInput(size_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  std::uniform_int_distribution<int> feature(0, kFeatureCount - 1);
  std::vector<float> x(rows * kFeatureCount);
  for (size_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * kFeatureCount;
    switch (r % 9) {
      case 0:  // min-max normalised and one-hot features, as deployed
        for (int f = 0; f < kFeatureCount; ++f) row[f] = unit(rng);
        break;
      case 1:  // all zero: scale_x = 0
        break;
      case 2:  // a single hot feature
        row[feature(rng)] = 1.0f;
        break;
      case 3:
        std::fill(row, row + kFeatureCount, 1.0f);
        break;
      case 4:  // negative and positive, unnormalised
        for (int f = 0; f < kFeatureCount; ++f) row[f] = normal(rng);
        break;
      case 5:  // huge next to small: most of the row quantises to 0
        for (int f = 0; f < kFeatureCount; ++f) row[f] = unit(rng) - 0.5f;
        row[feature(rng)] = -3e38f;
        row[feature(rng)] = 1e30f;
        break;
      case 6:  // subnormal: 127 / m overflows to infinity, 0 * inf is NaN
        for (int f = 0; f < kFeatureCount; ++f) row[f] = f % 3 ? 0.0f : -1e-40f * unit(rng);
        break;
      case 7:  // exact halves of the quantisation step: ties to even
        for (int f = 0; f < kFeatureCount; ++f) row[f] = float(f % 17 - 8) + 0.5f;
        row[0] = 127.0f;
        break;
      default:  // alternating signs at the extremes
        for (int f = 0; f < kFeatureCount; ++f) row[f] = f % 2 ? -1.0f : 1.0f;
        break;
    }
  }
  return x;
}

bool BitwiseEqual(const float* a, const float* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

std::string Where(Isa isa, const char* what, size_t rows, size_t index) {
  return std::string(ebgan::IsaName(isa)) + ": " + what + " differs from scalar, batch " +
         std::to_string(rows) + ", index " + std::to_string(index);
}

// Scores `x` with every int8 kernel and checks scores and reconstructions
// against the scalar kernel bit for bit, and that nothing is written past
// the caller's rows. Returns how many of the oracle's scores were NaN, so
// that a case can check it reached the NaN paths it means to test.
size_t CheckAgainstScalar(const ebgan::ModelData& model, const std::vector<float>& x_all,
                          const std::vector<Isa>& isas) {
  const float sentinel = 1234.5f;
  size_t nan_scores = 0;
  const auto oracle = MakeEngine(model, Isa::kScalar);
  if (!oracle) return 0;
  for (Isa isa : isas) {
    const auto engine = MakeEngine(model, isa);
    if (!engine) return 0;
    for (size_t rows : kBatchSizes) {
      // A window into the shared input, so batches start at different kinds.
      const float* x = x_all.data() + (rows % 5) * kFeatureCount;
      std::vector<float> want(rows), want_rec(rows * kFeatureCount);
      oracle->Score(x, rows, want.data(), want_rec.data());
      if (isa == Isa::kScalar)
        for (float score : want) nan_scores += std::isnan(score) ? 1 : 0;

      for (bool with_rec : {false, true}) {
        std::vector<float> got(rows + 16, sentinel);
        std::vector<float> rec((rows + 1) * kFeatureCount, sentinel);
        engine->Score(x, rows, got.data(), with_rec ? rec.data() : nullptr);
        for (size_t r = 0; r < rows; ++r) {
          if (!BitwiseEqual(&got[r], &want[r], 1)) {
            ebgan_test::Fail(__FILE__, __LINE__,
                             Where(isa, "score", rows, r) + ": " + ebgan_test::Show(got[r]) +
                                 " vs " + ebgan_test::Show(want[r]));
            break;
          }
        }
        for (size_t r = rows; r < got.size(); ++r) EXPECT_EQ(got[r], sentinel);
        const size_t written = with_rec ? rows * kFeatureCount : 0;
        for (size_t i = 0; i < written; ++i) {
          if (!BitwiseEqual(&rec[i], &want_rec[i], 1)) {
            ebgan_test::Fail(__FILE__, __LINE__,
                             Where(isa, "reconstruction", rows, i) + ": " +
                                 ebgan_test::Show(rec[i]) + " vs " + ebgan_test::Show(want_rec[i]));
            break;
          }
        }
        for (size_t i = written; i < rec.size(); ++i) EXPECT_EQ(rec[i], sentinel);
      }
    }
  }
  return nan_scores;
}

std::string Names(const std::vector<Isa>& isas) {
  std::string out;
  for (Isa isa : isas) out += std::string(" ") + ebgan::IsaName(isa);
  return out;
}

}  // namespace

EBGAN_TEST(int8_kernels_match_scalar_bit_for_bit) {
  const std::vector<Isa> isas = Int8Isas();
  std::printf("int8 kernels exercised:%s\n", Names(isas).c_str());
  const std::vector<float> x = MixedInput(1005, 7);
  // Scales near a trained model's, then ones that push activations up by
  // about 10x per layer (so the huge rows reach infinity and NaN in the
  // decoder), then ones that shrink them towards the subnormal range.
  const float scales[] = {1e-4f, 3e-3f, 1e-7f};
  uint32_t seed = 100;
  for (float scale : scales) {
    size_t nan_scores = 0;
    for (int i = 0; i < 2; ++i)
      nan_scores += CheckAgainstScalar(RandomInt8Model(seed++, scale), x, isas);
    std::printf("weight scales near %g: %zu NaN scores compared\n", scale, nan_scores);
    if (scale == 3e-3f) EXPECT_GE(nan_scores, size_t(1));
  }
}

// The model whose every layer has uniform sign: all weights +-127 (the
// first layer's signs follow the input's, so every product there is
// +127 * 127 too), zero biases and weight scales 1 / (127 * fan_in), so
// that every layer sees activations of one magnitude, every q_x is +-127
// and every accumulator is +-127 * 127 * fan_in: 8,258,048 in the 512-wide
// layer, the largest the scheme allows. The expected output is computed
// here step by step in float, independently of any kernel.
EBGAN_TEST(int8_worst_case_accumulators) {
  const std::vector<Isa> isas = Int8Isas();
  std::mt19937 rng(5);
  std::vector<int> pattern(kFeatureCount);
  for (int& p : pattern) p = rng() % 2 ? 1 : -1;

  int64_t largest = 0;
  for (int signs = 0; signs < (1 << kLayerCount); signs += 5) {
    ebgan::ModelData model = EmptyInt8Model();
    int layer_sign[kLayerCount];
    for (int l = 0; l < kLayerCount; ++l) {
      ebgan::LayerData& layer = model.layers[l];
      layer_sign[l] = (signs >> l) & 1 ? -1 : 1;
      for (int j = 0; j < layer.out; ++j)
        for (int k = 0; k < layer.in; ++k)
          layer.weight_int8[size_t(j) * layer.in + k] =
              int8_t(127 * layer_sign[l] * (l == 0 ? pattern[k] : 1));
      std::fill(layer.weight_scale.begin(), layer.weight_scale.end(),
                1.0f / (127.0f * float(layer.in)));
    }

    // Rows: the pattern, its negation, and both scaled by 1e3.
    const float row_value[] = {1.0f, -1.0f, 1e3f, -1e3f};
    const size_t rows = 4;
    std::vector<float> x(rows * kFeatureCount);
    std::vector<float> want_rec(rows * kFeatureCount);
    std::vector<float> scores(rows);
    for (size_t r = 0; r < rows; ++r) {
      for (int f = 0; f < kFeatureCount; ++f)
        x[r * kFeatureCount + f] = row_value[r] * float(pattern[f]);

      // Layer 0 sees |x| = |row_value| everywhere, so q_x = +-127 with the
      // pattern's signs; later layers see one value repeated.
      float sign = row_value[r] < 0 ? -1.0f : 1.0f;
      float magnitude = std::fabs(row_value[r]);
      float y = 0.0f;
      for (int l = 0; l < kLayerCount; ++l) {
        const int64_t acc = int64_t(sign) * layer_sign[l] * 127 * 127 * kLayerWidths[l];
        largest = std::max(largest, acc < 0 ? -acc : acc);
        const float scale_x = magnitude / 127.0f;
        y = float(acc) * (scale_x * model.layers[l].weight_scale[0]);
        y = y + 0.0f;
        if (model.layers[l].activation == ebgan::Activation::kLeakyRelu && y < 0.0f)
          y = y * ebgan::kLeakySlope;
        sign = y < 0.0f ? -1.0f : 1.0f;
        magnitude = std::fabs(y);
      }
      for (int f = 0; f < kFeatureCount; ++f) want_rec[r * kFeatureCount + f] = y;
    }

    for (Isa isa : isas) {
      const auto engine = MakeEngine(model, isa);
      ASSERT_TRUE(engine);
      std::vector<float> rec(rows * kFeatureCount);
      engine->Score(x.data(), rows, scores.data(), rec.data());
      for (size_t i = 0; i < rec.size(); ++i) {
        if (!BitwiseEqual(&rec[i], &want_rec[i], 1)) {
          ebgan_test::Fail(__FILE__, __LINE__,
                           std::string(ebgan::IsaName(isa)) + " signs " + std::to_string(signs) +
                               ", index " + std::to_string(i) + ": " + ebgan_test::Show(rec[i]) +
                               " vs " + ebgan_test::Show(want_rec[i]));
          break;
        }
      }
    }
  }
  EXPECT_EQ(largest, int64_t(127) * 127 * 512);
}

// A row's result does not depend on the batch it came in or its place in
// it: tiles and blocks of rows change only which registers hold it.
EBGAN_TEST(int8_batch_invariant) {
  const ebgan::ModelData model = RandomInt8Model(21, 1e-4f);
  const size_t rows = 45;
  const std::vector<float> x = MixedInput(rows, 22);
  for (Isa isa : Int8Isas()) {
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    std::vector<float> all(rows);
    engine->Score(x.data(), rows, all.data(), nullptr);
    for (size_t begin : {size_t(0), size_t(1), size_t(5), size_t(13)}) {
      for (size_t n : {size_t(1), size_t(2), size_t(9), size_t(32)}) {
        if (begin + n > rows) continue;
        std::vector<float> part(n);
        engine->Score(x.data() + begin * kFeatureCount, n, part.data(), nullptr);
        if (!BitwiseEqual(part.data(), all.data() + begin, n))
          ebgan_test::Fail(__FILE__, __LINE__,
                           std::string(ebgan::IsaName(isa)) + ": rows " + std::to_string(begin) +
                               ".." + std::to_string(begin + n) + " differ from the full batch");
      }
    }
  }
}

// The input, scores and reconstruction end exactly at an inaccessible page:
// a kernel that touches memory past the 121st feature of the last row (a
// full-width vector load of the input tail) dies with SIGSEGV here.
EBGAN_TEST(int8_kernels_stay_inside_buffers) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const ebgan::ModelData model = RandomInt8Model(31, 1e-4f);
  const auto oracle = MakeEngine(model, Isa::kScalar);
  ASSERT_TRUE(oracle);
  for (Isa isa : Int8Isas()) {
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    for (size_t rows : {size_t(1), size_t(3), size_t(8), size_t(9), size_t(17)}) {
      const size_t in_bytes = rows * kFeatureCount * sizeof(float);
      const size_t span = (in_bytes + page - 1) / page * page;
      const size_t total = 3 * (span + page);
      void* block =
          mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_TRUE(block != MAP_FAILED);
      char* base = static_cast<char*>(block);
      char* ends[3];
      for (int i = 0; i < 3; ++i) {
        ends[i] = base + i * (span + page) + span;
        EXPECT_EQ(mprotect(ends[i], page, PROT_NONE), 0);
      }
      float* x = reinterpret_cast<float*>(ends[0] - in_bytes);
      float* scores = reinterpret_cast<float*>(ends[1] - rows * sizeof(float));
      float* rec = reinterpret_cast<float*>(ends[2] - in_bytes);
      const std::vector<float> values = MixedInput(rows, 32);
      std::copy(values.begin(), values.end(), x);

      engine->Score(x, rows, scores, rec);
      std::vector<float> want(rows);
      oracle->Score(x, rows, want.data(), nullptr);
      EXPECT_TRUE(BitwiseEqual(scores, want.data(), rows));
      munmap(block, total);
    }
  }
}

namespace {

struct StackJob {
  const Engine* engine;
  const float* x;
  size_t rows;
  float* scores;
  float* reconstruction;
};

void* RunStackJob(void* p) {
  auto* job = static_cast<StackJob*>(p);
  job->engine->Score(job->x, job->rows, job->scores, job->reconstruction);
  return nullptr;
}

}  // namespace

// Gateway threads can have small stacks. Each kernel runs on a thread whose
// stack was painted with a pattern; the bytes overwritten bound its use.
EBGAN_TEST(int8_kernels_stack_use) {
  constexpr size_t kStackBytes = 512 * 1024;
  const ebgan::ModelData model = RandomInt8Model(41, 1e-4f);
  const size_t rows = 40;
  const std::vector<float> x = MixedInput(rows, 42);
  std::vector<float> scores(rows), rec(rows * kFeatureCount);
  for (Isa isa : Int8Isas()) {
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    std::unique_ptr<unsigned char[]> stack(new unsigned char[kStackBytes + 64]);
    unsigned char* lo = stack.get() + (64 - reinterpret_cast<uintptr_t>(stack.get()) % 64);
    std::memset(lo, 0xa5, kStackBytes);
    StackJob job{engine.get(), x.data(), rows, scores.data(), rec.data()};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    ASSERT_EQ(pthread_attr_setstack(&attr, lo, kStackBytes), 0);
    pthread_t thread;
    ASSERT_EQ(pthread_create(&thread, &attr, RunStackJob, &job), 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);
    size_t untouched = 0;
    while (untouched < kStackBytes && lo[untouched] == 0xa5) ++untouched;
    const size_t used = kStackBytes - untouched;
    std::printf("int8 %-12s stack used: %zu bytes\n", ebgan::IsaName(isa), used);
    EXPECT_LE(used, size_t(128 * 1024));
  }
}

namespace {

// A model and inputs built from integers with IEEE basic operations only (no
// libm, no <random> distributions, whose floating-point code may round
// differently on another architecture), so that every CPU builds the same
// bits and any difference in the scores comes from the kernels.
uint32_t NextLcg(uint32_t* state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

ebgan::ModelData PortableInt8Model() {
  uint32_t state = 2024;
  ebgan::ModelData model = EmptyInt8Model();
  for (ebgan::LayerData& layer : model.layers) {
    for (int8_t& w : layer.weight_int8) w = int8_t(int(NextLcg(&state) % 255) - 127);
    for (float& s : layer.weight_scale)
      s = float(1 + NextLcg(&state) % 64) / (32.0f * 127.0f * float(layer.in));
    for (float& b : layer.bias) b = float(int(NextLcg(&state) % 2001) - 1000) / 4000.0f;
  }
  return model;
}

std::vector<float> PortableInput(size_t rows) {
  uint32_t state = 7;
  std::vector<float> x(rows * kFeatureCount);
  for (float& v : x) v = float(NextLcg(&state) % 256) / 255.0f;
  return x;
}

uint64_t Fnv1a(const float* values, size_t n, uint64_t hash) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, 4);
    for (int b = 0; b < 4; ++b) hash = (hash ^ ((bits >> (8 * b)) & 0xff)) * 0x100000001b3ull;
  }
  return hash;
}

// The hash of the scores and reconstructions below, as every int8 kernel
// computes them on x86-64 and aarch64 alike. A kernel, compiler or CPU that
// changes one bit of one score changes it.
constexpr uint64_t kPortableInt8Hash = 0xf1e59d31b114f02cull;

}  // namespace

EBGAN_TEST(int8_scores_are_the_same_bits_on_every_architecture) {
  const size_t rows = 67;
  const ebgan::ModelData model = PortableInt8Model();
  const std::vector<float> x = PortableInput(rows);
  for (Isa isa : Int8Isas()) {
    const auto engine = MakeEngine(model, isa);
    std::vector<float> scores(rows), reconstruction(rows * kFeatureCount);
    engine->Score(x.data(), rows, scores.data(), reconstruction.data());
    uint64_t hash = Fnv1a(scores.data(), rows, 0xcbf29ce484222325ull);
    hash = Fnv1a(reconstruction.data(), reconstruction.size(), hash);
    std::printf("%-12s portable int8 hash %016llx (scores[0] %.9g)\n", ebgan::IsaName(isa),
                static_cast<unsigned long long>(hash), scores[0]);
    EXPECT_EQ(hash, kPortableInt8Hash);
  }
}
