// Timing driver for the int8 kernels: one thread, batch 1, 16, 256 and 4096
// (or the batches given with --rows), median of repeated samples. Not a
// test; run by hand:
//   bench_int8 [--samples N] [--rows N]... [KERNEL...]
// The model is a random fp32 net quantised per output channel as the
// product does it, so the timing sees realistic activations. A sample runs
// enough calls to last about 20 ms of thread CPU time; kernels take turns
// sample by sample, so that a burst of load from other processes on this
// shared machine lands on all of them rather than on one, and the median
// drops the bursts. Rates use thread CPU time (not inflated by time-sharing;
// cache traffic from neighbours still counts); the wall-clock median is
// printed next to it. Integer ops: 2 per multiply-add of the true layer
// shapes, 2 * 295,168 = 590,336 per row. Where the CPU has AVX-512 VNNI the
// driver first times a dependency-free loop of vpdpbusd (16 independent
// accumulators): its rate is the VNNI kernel's ceiling, printed as Gop/s of
// the true layer shapes (a row needs 4,712 vpdpbusd with the padding).
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "ebgan/kernel_int8.h"
#include "random_model.h"

namespace {

double OpsPerRow() {
  double macs = 0;
  for (int l = 0; l < ebgan::kLayerCount; ++l)
    macs += double(ebgan::kLayerWidths[l]) * ebgan::kLayerWidths[l + 1];
  return 2 * macs;
}

// Symmetric per-output-channel int8, as the training package quantises.
ebgan::ModelData QuantizedModel(uint32_t seed) {
  ebgan::ModelData model = ebgan_test::RandomModel(seed);
  model.precision = ebgan::Precision::kInt8;
  for (ebgan::LayerData& layer : model.layers) {
    layer.weight_int8.resize(layer.weight_fp32.size());
    layer.weight_scale.resize(layer.out);
    for (int j = 0; j < layer.out; ++j) {
      const float* w = layer.weight_fp32.data() + size_t(j) * layer.in;
      float m = 0.0f;
      for (int k = 0; k < layer.in; ++k) m = std::max(m, std::fabs(w[k]));
      layer.weight_scale[j] = m / 127.0f;
      for (int k = 0; k < layer.in; ++k)
        layer.weight_int8[size_t(j) * layer.in + k] = int8_t(std::nearbyint(w[k] * 127.0f / m));
    }
    layer.weight_fp32.clear();
  }
  return model;
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

struct Series {
  std::string name;
  std::unique_ptr<ebgan::Engine> engine;
  size_t rows = 0;
  size_t calls = 1;
  std::vector<double> cpu, wall;  // seconds per call, one entry per sample
};

void Calibrate(Series& s, const float* x, float* scores) {
  s.engine->Score(x, s.rows, scores, nullptr);  // warm the caches
  for (;;) {
    const double t0 = Now(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < s.calls; ++i) s.engine->Score(x, s.rows, scores, nullptr);
    if (Now(CLOCK_THREAD_CPUTIME_ID) - t0 > 0.02) break;
    s.calls *= 2;
  }
}

void Sample(Series& s, const float* x, float* scores) {
  const double c0 = Now(CLOCK_THREAD_CPUTIME_ID), w0 = Now(CLOCK_MONOTONIC);
  for (size_t c = 0; c < s.calls; ++c) s.engine->Score(x, s.rows, scores, nullptr);
  s.cpu.push_back((Now(CLOCK_THREAD_CPUTIME_ID) - c0) / double(s.calls));
  s.wall.push_back((Now(CLOCK_MONOTONIC) - w0) / double(s.calls));
}

// vpdpbusd per row of the padded layer shapes: groups of 4 inputs times
// vectors of 16 outputs.
double VnniInstructionsPerRow() {
  double n = 0;
  for (int l = 0; l < ebgan::kLayerCount; ++l)
    n += double(ebgan::PaddedDepth(ebgan::kLayerWidths[l]) / ebgan::kInt8Group) *
         (ebgan::kPaddedWidths[l + 1] / 16);
  return n;
}

#if defined(__x86_64__)
// Runs 16 * 64 * `loops` independent-chain vpdpbusd on zmm registers.
__attribute__((target("avx512f,avx512vnni"), noinline)) void VnniPeakLoop(long loops) {
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vpternlogd $0xff, %%zmm1, %%zmm1, %%zmm1\n\t"
      "1:\n\t"
      ".rept 64\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm2\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm3\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm4\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm5\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm6\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm7\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm8\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm9\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm10\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm11\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm12\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm13\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm14\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm15\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm16\n\t"
      "vpdpbusd %%zmm1, %%zmm1, %%zmm17\n\t"
      ".endr\n\t"
      "dec %0\n\t"
      "jnz 1b"
      : "+r"(loops)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "cc");
}

// Median rate of vpdpbusd per second of thread CPU time, over `samples`.
double VnniPeak(int samples) {
  const long loops = 20000;
  std::vector<double> rate;
  VnniPeakLoop(loops);
  for (int i = 0; i < samples; ++i) {
    const double t0 = Now(CLOCK_THREAD_CPUTIME_ID);
    VnniPeakLoop(loops);
    rate.push_back(16.0 * 64 * double(loops) / (Now(CLOCK_THREAD_CPUTIME_ID) - t0));
  }
  return Median(rate);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int samples = 9;
  std::vector<std::string> kernels;
  std::vector<size_t> batches;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
      samples = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      batches.push_back(size_t(std::max(1, std::min(4096, std::atoi(argv[++i])))));
    } else {
      kernels.push_back(argv[i]);
    }
  }
  if (kernels.empty())
    for (ebgan::Isa isa : ebgan::UsableIsas())
      if (ebgan::HasKernel(ebgan::Precision::kInt8, isa)) kernels.push_back(ebgan::IsaName(isa));

  if (batches.empty()) batches = {1, 16, 256, 4096};

#if defined(__x86_64__)
  if (ebgan::IsaUsable(ebgan::Isa::kAvx512Vnni)) {
    const double peak = VnniPeak(samples);
    std::printf("vpdpbusd peak: %.2f G/s = %.0f rows/s = %.1f Gop/s of the true shapes\n",
                peak * 1e-9, peak / VnniInstructionsPerRow(),
                peak / VnniInstructionsPerRow() * OpsPerRow() * 1e-9);
  }
#endif

  const ebgan::ModelData model = QuantizedModel(1);
  const std::vector<float> x = ebgan_test::RandomInput(4096, 2);
  std::vector<float> scores(4096);

  bool header = true;
  for (size_t rows : batches) {
    std::vector<Series> series;
    for (const std::string& name : kernels) {
      Series s;
      s.name = name;
      s.rows = rows;
      const ebgan::Status status = ebgan::Engine::Create(model, name, &s.engine);
      if (!status.ok()) {
        std::printf("%s: %s\n", name.c_str(), status.message().c_str());
        return 1;
      }
      Calibrate(s, x.data(), scores.data());
      series.push_back(std::move(s));
    }
    for (int i = 0; i < samples; ++i)
      for (Series& s : series) Sample(s, x.data(), scores.data());

    if (header)
      std::printf("%-12s %6s %10s %10s %12s %8s\n", "kernel", "batch", "us/call", "wall us",
                  "rows/s", "Gop/s");
    header = false;
    for (const Series& s : series) {
      const double cpu = Median(s.cpu);
      std::printf("%-12s %6zu %10.2f %10.2f %12.0f %8.1f\n", s.name.c_str(), rows, cpu * 1e6,
                  Median(s.wall) * 1e6, double(rows) / cpu,
                  double(rows) * OpsPerRow() / cpu * 1e-9);
    }
    std::fflush(stdout);
  }
  return 0;
}
