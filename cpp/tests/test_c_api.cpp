// The C API over the shipped model: loading from a file and from memory,
// scoring, the refusals a gateway relies on, and scoring from several native
// threads sharing one model handle.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "ebgan/ebgan.h"
#include "ebgan/engine.h"
#include "harness.h"
#include "random_model.h"

namespace {

std::vector<unsigned char> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {});
}

// Owns a model handle.
struct Handle {
  ebgan_model* model = nullptr;
  ~Handle() { ebgan_free(model); }
};

// Records shaped like encoded NSL-KDD ones: numeric features in [0, 1], then
// one-hot protocol (3), service (70) and flag (11) blocks.
std::vector<float> EncodedRecords(size_t rows, uint32_t seed) {
  std::vector<float> x = ebgan_test::RandomInput(rows, seed);
  for (size_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * EBGAN_FEATURES;
    for (int f = 37; f < EBGAN_FEATURES; ++f) row[f] = 0.0f;
    row[37 + r % 3] = 1.0f;
    row[40 + (r * 7) % 70] = 1.0f;
    row[110 + (r * 3) % 11] = 1.0f;
  }
  return x;
}

}  // namespace

EBGAN_TEST(c_api_load_and_score) {
  const std::string& path = ebgan_test::ModelPath();
  ASSERT_TRUE(!path.empty());
  char error[256] = "";
  Handle file;
  ASSERT_EQ(ebgan_load_file(path.c_str(), nullptr, &file.model, error, sizeof error), 0);
  std::printf("model %s: kernel %s, threshold %g\n", path.c_str(), ebgan_kernel(file.model),
              double(ebgan_threshold(file.model)));
  EXPECT_TRUE(std::isfinite(ebgan_threshold(file.model)));
  EXPECT_GE(ebgan_threshold(file.model), 0.0f);

  const std::vector<unsigned char> bytes = ReadBytes(path);
  ASSERT_TRUE(!bytes.empty());
  Handle buffer;
  ASSERT_EQ(
      ebgan_load_buffer(bytes.data(), bytes.size(), nullptr, &buffer.model, error, sizeof error),
      0);
  EXPECT_EQ(std::string(ebgan_kernel(buffer.model)), std::string(ebgan_kernel(file.model)));
  EXPECT_EQ(ebgan_threshold(buffer.model), ebgan_threshold(file.model));

  const size_t rows = 50;
  const std::vector<float> x = EncodedRecords(rows, 5);
  std::vector<float> a(rows), b(rows);
  EXPECT_EQ(ebgan_score(file.model, x.data(), rows, a.data(), error, sizeof error), 0);
  EXPECT_EQ(ebgan_score(buffer.model, x.data(), rows, b.data(), error, sizeof error), 0);
  for (size_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(std::isfinite(a[r]) && a[r] >= 0.0f);
    EXPECT_EQ(a[r], b[r]);
  }
  EXPECT_EQ(ebgan_score(file.model, nullptr, 0, nullptr, error, sizeof error), 0);
}

// On the trained model, every usable kernel agrees with the scalar one; its
// scores are small, so this is the hard case for a relative bound.
EBGAN_TEST(c_api_kernels_agree_on_shipped_model) {
  const std::string& path = ebgan_test::ModelPath();
  char error[256] = "";
  Handle scalar;
  ASSERT_EQ(ebgan_load_file(path.c_str(), "scalar", &scalar.model, error, sizeof error), 0);
  EXPECT_EQ(std::string(ebgan_kernel(scalar.model)), std::string("scalar"));
  const size_t rows = 200;
  const std::vector<float> x = EncodedRecords(rows, 6);
  std::vector<float> want(rows);
  ASSERT_EQ(ebgan_score(scalar.model, x.data(), rows, want.data(), error, sizeof error), 0);

  for (ebgan::Isa isa : ebgan_test::Fp32Isas()) {
    Handle h;
    ASSERT_EQ(ebgan_load_file(path.c_str(), ebgan::IsaName(isa), &h.model, error, sizeof error), 0);
    EXPECT_EQ(std::string(ebgan_kernel(h.model)), std::string(ebgan::IsaName(isa)));
    std::vector<float> got(rows);
    ASSERT_EQ(ebgan_score(h.model, x.data(), rows, got.data(), error, sizeof error), 0);
    float worst = 0;
    for (size_t r = 0; r < rows; ++r) {
      const float err = std::fabs(got[r] - want[r]);
      worst = std::max(worst, err / want[r]);
      EXPECT_LE(err, ebgan::Fp32ScoreTolerance(want[r]));
    }
    std::printf("%-9s shipped model: max relative error vs scalar %.3g\n", ebgan::IsaName(isa),
                worst);
  }
}

EBGAN_TEST(c_api_refuses_bad_input) {
  const std::string& path = ebgan_test::ModelPath();
  char error[256] = "";
  Handle h;
  ASSERT_EQ(ebgan_load_file(path.c_str(), nullptr, &h.model, error, sizeof error), 0);
  std::vector<float> x = EncodedRecords(4, 7);
  std::vector<float> scores(4, -1.0f);

  x[2 * EBGAN_FEATURES + 5] = std::nanf("");
  EXPECT_EQ(ebgan_score(h.model, x.data(), 4, scores.data(), error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_TRUE(std::strstr(error, "row 2, column 5") != nullptr);
  for (float s : scores) EXPECT_EQ(s, -1.0f);  // nothing scored
  x[2 * EBGAN_FEATURES + 5] = INFINITY;
  EXPECT_EQ(ebgan_score(h.model, x.data(), 4, scores.data(), error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  x[2 * EBGAN_FEATURES + 5] = 0.5f;

  EXPECT_EQ(ebgan_score(nullptr, x.data(), 4, scores.data(), error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_EQ(ebgan_score(h.model, nullptr, 4, scores.data(), error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_EQ(ebgan_score(h.model, x.data(), 4, nullptr, error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  // The error buffer is optional, and a short one is truncated, not overrun.
  EXPECT_EQ(ebgan_score(h.model, nullptr, 4, scores.data(), nullptr, 0),
            int(EBGAN_INVALID_ARGUMENT));
  char tiny[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(ebgan_score(h.model, nullptr, 4, scores.data(), tiny, 3), int(EBGAN_INVALID_ARGUMENT));
  EXPECT_EQ(tiny[2], '\0');
  EXPECT_EQ(tiny[3], 'x');

  EXPECT_EQ(ebgan_threshold(nullptr), 0.0f);
  EXPECT_EQ(std::string(ebgan_kernel(nullptr)), std::string());
  ebgan_free(nullptr);
}

EBGAN_TEST(c_api_refuses_bad_models) {
  const std::string& path = ebgan_test::ModelPath();
  char error[256] = "";
  ebgan_model* m = reinterpret_cast<ebgan_model*>(&error);  // must be reset to null

  EXPECT_EQ(ebgan_load_file(nullptr, nullptr, &m, error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_EQ(ebgan_load_file(path.c_str(), nullptr, nullptr, error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_EQ(ebgan_load_file("/nonexistent/model.ebgan", nullptr, &m, error, sizeof error),
            int(EBGAN_IO_ERROR));
  EXPECT_TRUE(m == nullptr);
  EXPECT_EQ(ebgan_load_file(path.c_str(), "avx1024", &m, error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));
  EXPECT_TRUE(std::strstr(error, "avx1024") != nullptr);
  EXPECT_TRUE(m == nullptr);

  const std::vector<unsigned char> good = ReadBytes(path);
  ASSERT_TRUE(good.size() > 64);
  EXPECT_EQ(ebgan_load_buffer(nullptr, good.size(), nullptr, &m, error, sizeof error),
            int(EBGAN_INVALID_ARGUMENT));

  // A flipped bit in the format version reads as a newer format, refused
  // by name.
  std::vector<unsigned char> newer = good;
  newer[9] ^= 0x10;
  EXPECT_EQ(ebgan_load_buffer(newer.data(), newer.size(), nullptr, &m, error, sizeof error),
            int(EBGAN_UNSUPPORTED));
  EXPECT_TRUE(std::strstr(error, "version") != nullptr);

  // One flipped bit in the weights, in the checksum; a truncated file; an
  // empty one; bytes that are not a model at all.
  for (size_t at : {good.size() / 2, good.size() - 1}) {
    std::vector<unsigned char> bad = good;
    bad[at] ^= 0x10;
    EXPECT_EQ(ebgan_load_buffer(bad.data(), bad.size(), nullptr, &m, error, sizeof error),
              int(EBGAN_INVALID_MODEL));
    EXPECT_TRUE(m == nullptr);
    std::printf("flipped byte %zu: %s\n", at, error);
  }
  EXPECT_EQ(ebgan_load_buffer(good.data(), good.size() - 100, nullptr, &m, error, sizeof error),
            int(EBGAN_INVALID_MODEL));
  EXPECT_EQ(ebgan_load_buffer(good.data(), 0, nullptr, &m, error, sizeof error),
            int(EBGAN_INVALID_MODEL));
  const std::string text = "this is not a model file, just text long enough to look like one";
  EXPECT_EQ(ebgan_load_buffer(text.data(), text.size(), nullptr, &m, error, sizeof error),
            int(EBGAN_INVALID_MODEL));
  EXPECT_TRUE(m == nullptr);
}

// One handle, several native threads, each scoring overlapping slices many
// times: every result must equal the serial one bit for bit (the kernels are
// deterministic and share nothing writable).
EBGAN_TEST(threads_share_one_model) {
  const std::string& path = ebgan_test::ModelPath();
  char error[256] = "";
  Handle h;
  ASSERT_EQ(ebgan_load_file(path.c_str(), nullptr, &h.model, error, sizeof error), 0);
  const size_t rows = 300;
  const std::vector<float> x = EncodedRecords(rows, 8);
  std::vector<float> serial(rows);
  ASSERT_EQ(ebgan_score(h.model, x.data(), rows, serial.data(), error, sizeof error), 0);

  constexpr int kThreads = 4;
  constexpr int kRounds = 4;
  std::vector<std::vector<float>> out(kThreads, std::vector<float>(rows));
  std::vector<int> status(kThreads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      char message[128];
      for (int round = 0; round < kRounds; ++round) {
        // A different split per thread and round: batch 1 to whole batches.
        const size_t step = size_t(1) << ((t + round) % 9);
        for (size_t begin = 0; begin < rows; begin += step) {
          const size_t n = std::min(step, rows - begin);
          status[t] |= ebgan_score(h.model, x.data() + begin * EBGAN_FEATURES, n,
                                   out[t].data() + begin, message, sizeof message);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(status[t], 0);
    EXPECT_TRUE(std::memcmp(out[t].data(), serial.data(), rows * sizeof(float)) == 0);
  }
  std::printf("%d threads x %d rounds on kernel %s: identical to the serial run\n", kThreads,
              kRounds, ebgan_kernel(h.model));
}
