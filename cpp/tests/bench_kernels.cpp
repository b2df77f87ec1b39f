// Timing driver for the fp32 kernels: single thread, batch 1, 16, 256 and
// 4096, median of repeated samples. Not a test; run by hand:
//   bench_kernels [--samples N] [KERNEL...]
// A sample times enough calls to last about 20 ms, so that short calls are
// not dominated by the clock; the median of the samples is reported because
// a shared machine adds outliers in one direction only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "random_model.h"

namespace {

// Multiply-adds of the true (unpadded) layer shapes, two FLOP each.
double FlopPerRow() {
  double macs = 0;
  for (int l = 0; l < ebgan::kLayerCount; ++l)
    macs += double(ebgan::kLayerWidths[l]) * ebgan::kLayerWidths[l + 1];
  return 2 * macs;
}

double SecondsPerCall(const ebgan::Engine& engine, const float* x, size_t rows, float* scores,
                      int samples) {
  using Clock = std::chrono::steady_clock;
  // Calibrate the calls per sample on a warm cache.
  engine.Score(x, rows, scores, nullptr);
  size_t calls = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (size_t i = 0; i < calls; ++i) engine.Score(x, rows, scores, nullptr);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.02) break;
    calls *= 2;
  }
  std::vector<double> per_call;
  for (int i = 0; i < samples; ++i) {
    const auto t0 = Clock::now();
    for (size_t c = 0; c < calls; ++c) engine.Score(x, rows, scores, nullptr);
    per_call.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / calls);
  }
  std::nth_element(per_call.begin(), per_call.begin() + samples / 2, per_call.end());
  return per_call[samples / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int samples = 9;
  std::vector<std::string> kernels;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
      samples = std::max(1, std::atoi(argv[++i]));
    } else {
      kernels.push_back(argv[i]);
    }
  }
  if (kernels.empty())
    for (ebgan::Isa isa : ebgan::UsableIsas()) kernels.push_back(ebgan::IsaName(isa));

  const ebgan::ModelData model = ebgan_test::RandomModel(1);
  const size_t batches[] = {1, 16, 256, 4096};
  const std::vector<float> x = ebgan_test::RandomInput(4096, 2);
  std::vector<float> scores(4096);
  const double flop = FlopPerRow();

  std::printf("%-9s %6s %12s %14s %10s\n", "kernel", "batch", "us/call", "rows/s", "GFLOP/s");
  for (const std::string& name : kernels) {
    std::unique_ptr<ebgan::Engine> engine;
    const ebgan::Status s = ebgan::Engine::Create(model, name, &engine);
    if (!s.ok()) {
      std::printf("%s: %s\n", name.c_str(), s.message().c_str());
      return 1;
    }
    for (size_t rows : batches) {
      const double t = SecondsPerCall(*engine, x.data(), rows, scores.data(), samples);
      std::printf("%-9s %6zu %12.2f %14.0f %10.2f\n", name.c_str(), rows, t * 1e6, rows / t,
                  rows * flop / t * 1e-9);
      std::fflush(stdout);
    }
  }
  return 0;
}
