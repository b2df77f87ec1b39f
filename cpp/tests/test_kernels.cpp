// Every usable fp32 kernel against the scalar oracle, plus the properties the
// kernels promise beyond their scores: they never touch memory past the
// caller's rows, a row scores the same anywhere in a batch, and the stack
// they use stays small.
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "harness.h"
#include "random_model.h"

namespace {

using ebgan::Engine;
using ebgan::Isa;
using ebgan::kFeatureCount;

constexpr size_t kBatchSizes[] = {0, 1, 2, 3, 7, 15, 16, 17, 33, 1000};

std::unique_ptr<Engine> MakeEngine(const ebgan::ModelData& model, Isa isa) {
  std::unique_ptr<Engine> engine;
  const ebgan::Status s = Engine::Create(model, ebgan::IsaName(isa), &engine);
  if (!s.ok()) ebgan_test::Fail(__FILE__, __LINE__, "Engine::Create: " + s.message());
  return engine;
}

std::string Names(const std::vector<Isa>& isas) {
  std::string out;
  for (Isa isa : isas) out += std::string(" ") + ebgan::IsaName(isa);
  return out;
}

// Reconstructions are compared relative to max(|reference|, 1): an output
// near zero is a sum with cancellation, where a relative error means nothing,
// and every output of these models is of order one.
float ReconstructionError(float got, float want) {
  return std::fabs(got - want) / std::max(std::fabs(want), 1.0f);
}

bool BitwiseEqual(const float* a, const float* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

}  // namespace

EBGAN_TEST(kernels_match_scalar) {
  const std::vector<Isa> isas = ebgan_test::Fp32Isas();
  std::printf("kernels exercised:%s\n", Names(isas).c_str());
  const float bound = ebgan::kFp32RelativeBound;
  const float sentinel = 1234.5f;
  std::vector<float> worst_score(ebgan::kIsaCount), worst_reconstruction(ebgan::kIsaCount);

  for (uint32_t seed : {11u, 12u, 13u}) {
    const ebgan::ModelData model = ebgan_test::RandomModel(seed);
    const auto oracle = MakeEngine(model, Isa::kScalar);
    ASSERT_TRUE(oracle);
    for (size_t rows : kBatchSizes) {
      // The large batch once: it adds no new tile shapes, only time (the ARM
      // runs are emulated).
      if (rows > 100 && seed != 11u) continue;
      const std::vector<float> x = ebgan_test::RandomInput(rows, seed * 1000 + uint32_t(rows));
      std::vector<float> want(rows), want_rec(rows * kFeatureCount);
      oracle->Score(x.data(), rows, want.data(), want_rec.data());

      for (Isa isa : isas) {
        // The scalar kernel against itself checks only its edges (sentinels,
        // no reconstruction), which the small batches cover.
        if (isa == Isa::kScalar && rows > 100) continue;
        const auto engine = MakeEngine(model, isa);
        ASSERT_TRUE(engine);
        float& worst = worst_score[int(isa)];
        float& worst_rec = worst_reconstruction[int(isa)];
        for (bool with_rec : {false, true}) {
          // Sentinels past the end catch a kernel writing beyond its rows.
          std::vector<float> got(rows + 16, sentinel);
          std::vector<float> rec((rows + 1) * kFeatureCount, sentinel);
          engine->Score(x.data(), rows, got.data(), with_rec ? rec.data() : nullptr);
          for (size_t r = 0; r < rows; ++r) {
            const float err = std::fabs(got[r] - want[r]);
            worst = std::max(worst, err / want[r]);
            EXPECT_LE(err, bound * want[r] + 1e-9f);
          }
          for (size_t r = rows; r < got.size(); ++r) EXPECT_EQ(got[r], sentinel);
          const size_t written = with_rec ? rows * kFeatureCount : 0;
          for (size_t i = 0; i < written; ++i) {
            const float err = ReconstructionError(rec[i], want_rec[i]);
            worst_rec = std::max(worst_rec, err);
            EXPECT_LE(err, bound);
          }
          for (size_t i = written; i < rec.size(); ++i) EXPECT_EQ(rec[i], sentinel);
        }
      }
    }
  }
  for (Isa isa : isas) {
    std::printf("%-9s max relative error vs scalar: score %.3g, reconstruction %.3g\n",
                ebgan::IsaName(isa), worst_score[int(isa)], worst_reconstruction[int(isa)]);
  }
}

// The blocking of a kernel decides which register holds an output, never the
// order of its terms, so a row's score and reconstruction do not depend on
// the batch it came in or its place there.
EBGAN_TEST(kernels_batch_invariant) {
  const ebgan::ModelData model = ebgan_test::RandomModel(21);
  const size_t rows = 45;
  const std::vector<float> x = ebgan_test::RandomInput(rows, 22);
  for (Isa isa : ebgan_test::Fp32Isas()) {
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    std::vector<float> all(rows), all_rec(rows * kFeatureCount);
    engine->Score(x.data(), rows, all.data(), all_rec.data());
    std::vector<float> no_rec(rows);
    engine->Score(x.data(), rows, no_rec.data(), nullptr);
    EXPECT_TRUE(BitwiseEqual(all.data(), no_rec.data(), rows));

    for (size_t begin : {size_t(0), size_t(1), size_t(5), size_t(13)}) {
      for (size_t n : {size_t(1), size_t(2), size_t(9), size_t(32)}) {
        if (begin + n > rows) continue;
        std::vector<float> part(n), part_rec(n * kFeatureCount);
        engine->Score(x.data() + begin * kFeatureCount, n, part.data(), part_rec.data());
        if (!BitwiseEqual(part.data(), all.data() + begin, n) ||
            !BitwiseEqual(part_rec.data(), all_rec.data() + begin * kFeatureCount,
                          n * kFeatureCount)) {
          ebgan_test::Fail(__FILE__, __LINE__,
                           std::string(ebgan::IsaName(isa)) + ": rows " + std::to_string(begin) +
                               ".." + std::to_string(begin + n) + " differ from the full batch");
        }
      }
    }
  }
}

// The last row of the input, the scores and the reconstruction end exactly
// at an inaccessible page: a kernel that reads or writes past the end of a
// row (a full-width vector over the 121st feature) dies with SIGSEGV here.
EBGAN_TEST(kernels_stay_inside_buffers) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const ebgan::ModelData model = ebgan_test::RandomModel(31);
  for (Isa isa : ebgan_test::Fp32Isas()) {
    const auto engine = MakeEngine(model, isa);
    const auto oracle = MakeEngine(model, Isa::kScalar);
    ASSERT_TRUE(engine && oracle);
    for (size_t rows : {size_t(1), size_t(3), size_t(8), size_t(9), size_t(17)}) {
      const size_t in_bytes = rows * kFeatureCount * sizeof(float);
      const size_t out_bytes = rows * sizeof(float);
      const size_t span = (in_bytes + page - 1) / page * page;
      const size_t total = 3 * (span + page);
      void* block =
          mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_TRUE(block != MAP_FAILED);
      char* base = static_cast<char*>(block);
      // Three regions, each followed by a guard page.
      char* ends[3];
      for (int i = 0; i < 3; ++i) {
        ends[i] = base + i * (span + page) + span;
        EXPECT_EQ(mprotect(ends[i], page, PROT_NONE), 0);
      }
      float* x = reinterpret_cast<float*>(ends[0] - in_bytes);
      float* scores = reinterpret_cast<float*>(ends[1] - out_bytes);
      float* rec = reinterpret_cast<float*>(ends[2] - in_bytes);
      const std::vector<float> values = ebgan_test::RandomInput(rows, 32);
      std::copy(values.begin(), values.end(), x);

      engine->Score(x, rows, scores, rec);
      std::vector<float> want(rows);
      oracle->Score(x, rows, want.data(), nullptr);
      for (size_t r = 0; r < rows; ++r)
        EXPECT_LE(std::fabs(scores[r] - want[r]), ebgan::Fp32ScoreTolerance(want[r]));
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
  float* rec;
};

void* RunJob(void* p) {
  auto* job = static_cast<StackJob*>(p);
  job->engine->Score(job->x, job->rows, job->scores, job->rec);
  return nullptr;
}

}  // namespace

// Gateway threads can have small stacks. Each kernel runs on a thread whose
// stack was painted with a pattern; the bytes overwritten bound its stack use
// (thread start-up and the thread's descriptor included).
EBGAN_TEST(kernels_stack_use) {
  constexpr size_t kStackBytes = 512 * 1024;
  constexpr size_t kLimit = 48 * 1024;
  const ebgan::ModelData model = ebgan_test::RandomModel(41);
  const size_t rows = 64;
  const std::vector<float> x = ebgan_test::RandomInput(rows, 42);
  std::vector<float> scores(rows), rec(rows * kFeatureCount);
  for (Isa isa : ebgan_test::Fp32Isas()) {
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
    ASSERT_EQ(pthread_create(&thread, &attr, RunJob, &job), 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attr);

    size_t untouched = 0;
    while (untouched < kStackBytes && lo[untouched] == 0xa5) ++untouched;
    const size_t used = kStackBytes - untouched;
    std::printf("%-9s stack used: %zu bytes\n", ebgan::IsaName(isa), used);
    EXPECT_LE(used, kLimit);
  }
}

// Engine::Score splits a batch between threads at arbitrary rows; with
// batch-invariant kernels the result is the same bits for any thread count.
EBGAN_TEST(kernels_thread_split_invariant) {
  const ebgan::ModelData model = ebgan_test::RandomModel(51);
  const size_t rows = 401;  // two and three threads both get whole shares
  const std::vector<float> x = ebgan_test::RandomInput(rows, 52);
  for (Isa isa : ebgan_test::Fp32Isas()) {
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    std::vector<float> one(rows), one_rec(rows * kFeatureCount);
    engine->Score(x.data(), rows, one.data(), one_rec.data(), 1);
    for (int threads : {2, 3}) {
      std::vector<float> many(rows), many_rec(rows * kFeatureCount);
      engine->Score(x.data(), rows, many.data(), many_rec.data(), threads);
      EXPECT_TRUE(BitwiseEqual(one.data(), many.data(), rows));
      EXPECT_TRUE(BitwiseEqual(one_rec.data(), many_rec.data(), rows * kFeatureCount));
    }
  }
}

// The hard case for a relative bound: rows the trained model reconstructs
// well. A score s is a mean of squared differences d = y - x between numbers
// near 1, so rounding in y of a few ulp(1) moves s by about 2 sqrt(s) ulp(1):
// the relative error grows like 1 / sqrt(s) as scores get small. The rows
// are the shipped model's reconstructions of encoded records, clipped to
// [0, 1], reconstructed again: the model's own fixed points, whose scores
// are among the smallest it gives.
EBGAN_TEST(kernels_match_scalar_on_well_reconstructed_rows) {
  ebgan::ModelData model;
  const ebgan::Status read = ebgan::ReadModelFile(ebgan_test::ModelPath(), &model);
  ASSERT_TRUE(read.ok());
  const auto oracle = MakeEngine(model, Isa::kScalar);
  ASSERT_TRUE(oracle);

  const size_t rows = 256;
  std::vector<float> x = ebgan_test::RandomInput(rows, 61);
  for (size_t r = 0; r < rows; ++r) {  // one-hot blocks as encoded records have them
    float* row = x.data() + r * kFeatureCount;
    std::fill(row + ebgan::kProtocolTypeOffset, row + kFeatureCount, 0.0f);
    row[ebgan::kProtocolTypeOffset + r % ebgan::kProtocolTypeCount] = 1.0f;
    row[ebgan::kServiceOffset + (r * 7) % ebgan::kServiceCount] = 1.0f;
    row[ebgan::kFlagOffset + (r * 3) % ebgan::kFlagCount] = 1.0f;
  }
  std::vector<float> want(rows), rec(rows * kFeatureCount);
  for (int pass = 0; pass < 3; ++pass) {
    oracle->Score(x.data(), rows, want.data(), rec.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::min(1.0f, std::max(0.0f, rec[i]));
  }
  oracle->Score(x.data(), rows, want.data(), nullptr);
  const float smallest = *std::min_element(want.begin(), want.end());

  for (Isa isa : ebgan_test::Fp32Isas()) {
    if (isa == Isa::kScalar) continue;
    const auto engine = MakeEngine(model, isa);
    ASSERT_TRUE(engine);
    std::vector<float> got(rows);
    engine->Score(x.data(), rows, got.data(), nullptr);
    float worst = 0, worst_sqrt = 0;
    for (size_t r = 0; r < rows; ++r) {
      const float err = std::fabs(got[r] - want[r]);
      worst = std::max(worst, err / want[r]);
      worst_sqrt = std::max(worst_sqrt, err / std::sqrt(want[r]));
      EXPECT_LE(err, ebgan::Fp32ScoreTolerance(want[r]));
    }
    std::printf(
        "%-9s well-reconstructed rows (smallest score %.3g): max relative error %.3g, "
        "max |error| / sqrt(score) %.3g\n",
        ebgan::IsaName(isa), smallest, worst, worst_sqrt);
  }
}
