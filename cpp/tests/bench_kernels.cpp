// Timing driver for the fp32 kernels: single thread, batch 1, 16, 256 and
// 4096, median of repeated samples. Not a test; run by hand:
//   bench_kernels [--samples N] [KERNEL...]
// A sample times enough calls to last about 20 ms, so that short calls are
// not dominated by the clock; the median of the samples is reported because
// a shared machine adds outliers in one direction only. Rates come from the
// thread's CPU time, which time-sharing with other processes does not
// inflate (their cache and memory traffic still does); the wall-clock median
// is printed next to it.
#include <time.h>

#include <algorithm>
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

double Now(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double Median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

struct Timing {
  double cpu;   // seconds of thread CPU time per call, median
  double wall;  // seconds of wall-clock time per call, median
};

Timing TimePerCall(const ebgan::Engine& engine, const float* x, size_t rows, float* scores,
                   int samples) {
  // Calibrate the calls per sample on a warm cache.
  engine.Score(x, rows, scores, nullptr);
  size_t calls = 1;
  for (;;) {
    const double t0 = Now(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < calls; ++i) engine.Score(x, rows, scores, nullptr);
    if (Now(CLOCK_THREAD_CPUTIME_ID) - t0 > 0.02) break;
    calls *= 2;
  }
  std::vector<double> cpu, wall;
  for (int i = 0; i < samples; ++i) {
    const double c0 = Now(CLOCK_THREAD_CPUTIME_ID), w0 = Now(CLOCK_MONOTONIC);
    for (size_t c = 0; c < calls; ++c) engine.Score(x, rows, scores, nullptr);
    cpu.push_back((Now(CLOCK_THREAD_CPUTIME_ID) - c0) / double(calls));
    wall.push_back((Now(CLOCK_MONOTONIC) - w0) / double(calls));
  }
  return {Median(cpu), Median(wall)};
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
    for (ebgan::Isa isa : ebgan::UsableIsas())
      if (ebgan::HasKernel(ebgan::Precision::kFp32, isa)) kernels.push_back(ebgan::IsaName(isa));

  const ebgan::ModelData model = ebgan_test::RandomModel(1);
  const size_t batches[] = {1, 16, 256, 4096};
  const std::vector<float> x = ebgan_test::RandomInput(4096, 2);
  std::vector<float> scores(4096);
  const double flop = FlopPerRow();

  std::printf("%-9s %6s %10s %10s %12s %9s\n", "kernel", "batch", "us/call", "wall us", "rows/s",
              "GFLOP/s");
  for (const std::string& name : kernels) {
    std::unique_ptr<ebgan::Engine> engine;
    const ebgan::Status s = ebgan::Engine::Create(model, name, &engine);
    if (!s.ok()) {
      std::printf("%s: %s\n", name.c_str(), s.message().c_str());
      return 1;
    }
    for (size_t rows : batches) {
      const Timing t = TimePerCall(*engine, x.data(), rows, scores.data(), samples);
      std::printf("%-9s %6zu %10.2f %10.2f %12.0f %9.2f\n", name.c_str(), rows, t.cpu * 1e6,
                  t.wall * 1e6, double(rows) / t.cpu, double(rows) * flop / t.cpu * 1e-9);
      std::fflush(stdout);
    }
  }
  return 0;
}
