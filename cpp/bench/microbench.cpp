// Microbenchmark of the kernels: time per call and GFLOP/s (fp32) or Gop/s
// (int8), overall and, for fp32, layer by layer, against this machine's
// measured peak.
//
//   ebgan_microbench [--model PATH] [--seconds S] [--json PATH]
//
// 1. Peak probes, one per instruction set the CPU and OS enable (the same
//    ebgan::IsaUsable checks that select kernels): a register-only
//    multiply-add loop (GFLOP/s) and a read loop (GB/s) over a buffer the
//    size of the packed weights, and over 256 MiB for main memory.
// 2. Every usable fp32 kernel through ebgan::Engine, one thread, batches of
//    1, 16, 256 and 4096 rows: median and p10 time per call, GFLOP/s, share
//    of the peak of its instruction set. At one row the kernel must stream
//    all weights once, so weights / read bandwidth bounds its latency.
// 3. Per layer: the six dense layers timed one at a time with the bench's
//    own loop for that instruction set (probes.h) on the packed layout of
//    kernel.h. The shipping kernels fuse the layers and fix their shapes at
//    compile time, so they cannot be cut apart; the bench loop computes the
//    same scores (checked) and shows where the time goes.
// 4. int8: integer peak probes (vpmaddwd + vpaddd for AVX2, vpdpbusd for
//    AVX-512 VNNI, each run only where usable), then every usable int8
//    kernel through ebgan::Engine on an int8 copy of the model made as
//    `ebgan-edge convert --precision int8` makes it (quantize_int8.h):
//    Gop/s at 590,336 integer ops per row against the probe of its
//    instruction set, and the bound that reading the packed int8 weights
//    puts on one row. Every kernel's scores must equal the scalar int8
//    kernel's bit for bit.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "probes.h"
#include "quantize_int8.h"
#include "records.h"

namespace {

using ebgan::Isa;
using ebgan_bench::PeakProbe;

constexpr size_t kBatches[] = {1, 16, 256, 4096};
constexpr size_t kLayerBatches[] = {1, 256};
constexpr double kFlopPerRow = 590336.0;       // 2 * sum of in * out
constexpr double kIntOpsPerRow = kFlopPerRow;  // the same count for int8

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;

Buffer Allocate(size_t floats) {
  const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) {
    std::fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
    std::exit(1);
  }
  std::memset(p, 0, bytes);
  return Buffer(p);
}

struct Timing {
  double median_s;
  double p10_s;
};

// Times fn() per call: samples of enough calls to last ~5 ms each, for about
// `seconds` and at least 9 samples; median and 10th percentile per call.
template <typename Fn>
Timing Measure(Fn&& fn, double seconds) {
  using Clock = std::chrono::steady_clock;
  fn();
  size_t calls = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (size_t i = 0; i < calls; ++i) fn();
    if (std::chrono::duration<double>(Clock::now() - t0).count() > 0.005) break;
    calls *= 2;
  }
  std::vector<double> per_call;
  const auto start = Clock::now();
  while (per_call.size() < 9 ||
         std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const auto t0 = Clock::now();
    for (size_t i = 0; i < calls; ++i) fn();
    per_call.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / calls);
  }
  std::sort(per_call.begin(), per_call.end());
  return {per_call[per_call.size() / 2], per_call[per_call.size() / 10]};
}

// The packed layout of kernel.h: W[k][j] k-major, outputs zero-padded to
// PaddedWidth(out), every array 64-byte aligned.
struct PackedModel {
  std::vector<Buffer> storage;
  ebgan::PackedFp32Model model{};
  size_t weight_bytes = 0;
};

PackedModel Pack(const ebgan::ModelData& data) {
  PackedModel packed;
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    const ebgan::LayerData& layer = data.layers[l];
    const int out_padded = ebgan::PaddedWidth(layer.out);
    Buffer weight = Allocate(size_t(layer.in) * out_padded);
    Buffer bias = Allocate(out_padded);
    for (int j = 0; j < layer.out; ++j) {
      for (int k = 0; k < layer.in; ++k)
        weight[size_t(k) * out_padded + j] = layer.weight_fp32[size_t(j) * layer.in + k];
      bias[j] = layer.bias[j];
    }
    packed.weight_bytes += (size_t(layer.in) * out_padded + out_padded) * sizeof(float);
    packed.model.layers[l] = {weight.get(), bias.get(), layer.in, layer.out,
                              layer.activation == ebgan::Activation::kLeakyRelu};
    packed.storage.push_back(std::move(weight));
    packed.storage.push_back(std::move(bias));
  }
  return packed;
}

const PeakProbe* ProbeFor(Isa isa) {
#if defined(EBGAN_BENCH_X86)
  if (isa == Isa::kAvx2Fma) return &ebgan_bench::kAvx2FmaProbe;
  if (isa == Isa::kAvx512) return &ebgan_bench::kAvx512Probe;
#endif
  (void)isa;
  return &ebgan_bench::kGenericProbe;
}

struct ProbeResult {
  const PeakProbe* probe;
  double peak_gflops;
  double weights_gbs;  // reading a buffer the size of the packed weights
  double memory_gbs;   // reading 256 MiB
};

// JSON written by hand: a flat list of records is all this needs.
struct Json {
  std::string text;
  bool first = true;
  void Add(const std::string& record) {
    text += first ? "\n  " : ",\n  ";
    text += record;
    first = false;
  }
};

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

// Bytes one row of an int8 kernel must read: the packed weights of
// kernel_int8.h ([PaddedDepth(in) / 4][PaddedWidth(out)][4] bytes) and the
// per-output scales and biases (floats).
size_t Int8WeightBytes() {
  size_t bytes = 0;
  for (int l = 0; l < ebgan::kLayerCount; ++l) {
    const size_t out = ebgan::PaddedWidth(ebgan::kLayerWidths[l + 1]);
    bytes += size_t(ebgan::PaddedDepth(ebgan::kLayerWidths[l])) * out + 2 * out * sizeof(float);
  }
  return bytes;
}

const ebgan_bench::IntPeakProbe* IntProbeFor(Isa isa) {
#if defined(EBGAN_BENCH_X86)
  if (isa == Isa::kAvx2Fma) return &ebgan_bench::kAvx2MaddProbe;
  if (isa == Isa::kAvx512Vnni) return &ebgan_bench::kAvx512VnniProbe;
#endif
  (void)isa;
  return nullptr;
}

// Part 4: the int8 probes and kernels. `widest` is the widest fp32 probe,
// whose read loop gives the bandwidth bound of one row.
bool BenchInt8(const ebgan::ModelData& fp32, const float* input, float* scores,
               const ProbeResult& widest, const float* weights_like, double seconds, Json* json) {
  const ebgan::ModelData data = ebgan_bench::QuantizeInt8(fp32);
  std::vector<std::pair<Isa, double>> peaks;
  std::printf("\nInteger peak probes (one thread; 2 ops per multiply-add)\n");
  std::printf("  %-14s %-24s %10s %16s\n", "probe", "loop of", "Gop/s", "instructions/s");
#if defined(EBGAN_BENCH_X86)
  for (Isa isa : {Isa::kAvx2Fma, Isa::kAvx512Vnni}) {
    if (!ebgan::IsaUsable(isa)) continue;
    const ebgan_bench::IntPeakProbe* probe = IntProbeFor(isa);
    const double gops = probe->gops(seconds);
    std::printf("  %-14s %-24s %10.1f %16.3g\n", probe->name, probe->instruction, gops,
                gops * 1e9 / probe->ops_per_instruction);
    json->Add(
        Format("{\"kind\": \"int8_probe\", \"probe\": \"%s\", "
               "\"instruction\": \"%s\", \"ops_per_instruction\": %d, "
               "\"peak_gops\": %.2f}",
               probe->name, probe->instruction, probe->ops_per_instruction, gops));
    peaks.emplace_back(isa, gops);
  }
#endif
  if (peaks.empty()) std::printf("  (none usable on this CPU)\n");

  const size_t bytes = Int8WeightBytes();
  const size_t floats = (bytes / sizeof(float) + 63) / 64 * 64;
  const double gbs = widest.probe->read_gbs(weights_like, floats, seconds);
  std::printf(
      "  one row reads %.3f MB of int8 weights, scales and biases: read loop "
      "(%s) %.1f GB/s\n",
      bytes * 1e-6, widest.probe->name, gbs);

  // The scalar kernel's scores are the oracle every other must equal.
  constexpr size_t kCheckRows = 256;
  std::vector<float> oracle(kCheckRows);
  {
    std::unique_ptr<ebgan::Engine> scalar;
    const ebgan::Status status = ebgan::Engine::Create(data, "scalar", &scalar);
    if (!status.ok()) {
      std::fprintf(stderr, "int8 model: %s\n", status.message().c_str());
      return false;
    }
    scalar->Score(input, kCheckRows, oracle.data(), nullptr, 1);
  }

  for (Isa isa : ebgan::UsableIsas()) {
    if (!ebgan::HasKernel(ebgan::Precision::kInt8, isa)) continue;
    std::unique_ptr<ebgan::Engine> engine;
    const ebgan::Status status = ebgan::Engine::Create(data, ebgan::IsaName(isa), &engine);
    if (!status.ok()) {
      std::printf("\nint8 %s: skipped (%s)\n", ebgan::IsaName(isa), status.message().c_str());
      continue;
    }
    engine->Score(input, kCheckRows, scores, nullptr, 1);
    if (std::memcmp(scores, oracle.data(), kCheckRows * sizeof(float)) != 0) {
      std::fprintf(stderr, "int8 kernel %s: scores differ from the scalar kernel's\n",
                   ebgan::IsaName(isa));
      return false;
    }
    double peak = 0;
    for (const auto& [probe_isa, gops] : peaks)
      if (probe_isa == isa) peak = gops;
    const ebgan_bench::IntPeakProbe* probe = IntProbeFor(isa);
    if (peak > 0)
      std::printf(
          "\nKernel int8 %s (one thread; scores equal the scalar kernel's; peak from "
          "the %s probe: %.1f Gop/s)\n",
          ebgan::IsaName(isa), probe->name, peak);
    else
      std::printf(
          "\nKernel int8 %s (one thread; scores equal the scalar kernel's; no "
          "integer probe for it)\n",
          ebgan::IsaName(isa));
    std::printf("  %6s %11s %11s %10s %15s %15s\n", "rows", "median us", "p10 us", "ns/row",
                "Gop/s med/p10", "% peak med/p10");
    for (size_t rows : kBatches) {
      const Timing t = Measure([&] { engine->Score(input, rows, scores, nullptr, 1); }, seconds);
      const double gops = kIntOpsPerRow * rows / t.median_s * 1e-9;
      const double gops_p10 = kIntOpsPerRow * rows / t.p10_s * 1e-9;
      std::printf("  %6zu %11.2f %11.2f %10.1f %7.1f/%-7.1f ", rows, t.median_s * 1e6,
                  t.p10_s * 1e6, t.median_s * 1e9 / rows, gops, gops_p10);
      if (peak > 0)
        std::printf("%6.1f/%-6.1f\n", 100 * gops / peak, 100 * gops_p10 / peak);
      else
        std::printf("%15s\n", "-");
      json->Add(
          Format("{\"kind\": \"int8_kernel\", \"kernel\": \"%s\", \"rows\": %zu, "
                 "\"median_us\": %.3f, \"p10_us\": %.3f, \"peak_gops\": %.2f}",
                 ebgan::IsaName(isa), rows, t.median_s * 1e6, t.p10_s * 1e6, peak));
      if (rows == 1) {
        const double bound_us = bytes / (gbs * 1e9) * 1e6;
        std::printf(
            "  %6s reading the weights takes >= %.2f us at %.1f GB/s; p10 %.2f us "
            "is %.0f%% of that bound\n",
            "", bound_us, gbs, t.p10_s * 1e6, 100 * bound_us / (t.p10_s * 1e6));
      }
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = EBGAN_BENCH_DEFAULT_MODEL;
  std::string json_path;
  double seconds = 0.4;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model_path = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--model PATH] [--seconds S] [--json PATH]\n", argv[0]);
      return 2;
    }
  }

  ebgan::ModelData data;
  ebgan::Status status = ebgan::ReadModelFile(model_path, &data);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", model_path.c_str(), status.message().c_str());
    return 1;
  }
  if (data.precision != ebgan::Precision::kFp32) {
    std::fprintf(stderr, "%s: the microbenchmark needs an fp32 model, this one is %s\n",
                 model_path.c_str(), ebgan::PrecisionName(data.precision));
    return 1;
  }
  const PackedModel packed = Pack(data);
  Json json;

  // 1. Peak probes.
  std::vector<ProbeResult> probes;
  std::vector<const PeakProbe*> candidates = {&ebgan_bench::kGenericProbe};
#if defined(EBGAN_BENCH_X86)
  if (ebgan::IsaUsable(Isa::kAvx2Fma)) candidates.push_back(&ebgan_bench::kAvx2FmaProbe);
  if (ebgan::IsaUsable(Isa::kAvx512)) candidates.push_back(&ebgan_bench::kAvx512Probe);
#endif
  const size_t weight_floats = (packed.weight_bytes / sizeof(float) + 63) / 64 * 64;
  const size_t memory_floats = size_t(256) << 18;  // 256 MiB
  Buffer weights_like = Allocate(weight_floats);
  Buffer memory = Allocate(memory_floats);
  for (size_t i = 0; i < memory_floats; ++i) memory[i] = float(i & 1023) * 1e-3f;
  std::memcpy(weights_like.get(), memory.get(), weight_floats * sizeof(float));
  std::printf("Peak probes (one thread)\n");
  std::printf("  %-9s %10s %22s %18s\n", "probe", "GFLOP/s", "read GB/s @ weights",
              "read GB/s @ 256MiB");
  for (const PeakProbe* probe : candidates) {
    ProbeResult r{probe, probe->gflops(seconds),
                  probe->read_gbs(weights_like.get(), weight_floats, seconds),
                  probe->read_gbs(memory.get(), memory_floats, std::max(seconds, 1.0))};
    std::printf("  %-9s %10.1f %15.1f (%.2f MB) %18.1f\n", probe->name, r.peak_gflops,
                r.weights_gbs, packed.weight_bytes * 1e-6, r.memory_gbs);
    json.Add(
        Format("{\"kind\": \"probe\", \"probe\": \"%s\", \"peak_gflops\": %.2f, "
               "\"weights_read_gbs\": %.2f, \"memory_read_gbs\": %.2f, "
               "\"weight_bytes\": %zu}",
               probe->name, r.peak_gflops, r.weights_gbs, r.memory_gbs, packed.weight_bytes));
    probes.push_back(r);
  }
  auto probe_result = [&](const PeakProbe* p) -> const ProbeResult& {
    for (const ProbeResult& r : probes)
      if (r.probe == p) return r;
    return probes.front();
  };

  // Inputs and buffers for the largest batch.
  const size_t max_rows = kBatches[std::size(kBatches) - 1];
  Buffer input = Allocate(max_rows * EBGAN_FEATURES);
  ebgan_bench_records(input.get(), max_rows, 12345u);
  Buffer scores = Allocate(max_rows);
  Buffer act_a = Allocate(max_rows * ebgan::kMaxPaddedWidth);
  Buffer act_b = Allocate(max_rows * ebgan::kMaxPaddedWidth);

  // 2 and 3, per usable fp32 kernel.
  for (Isa isa : ebgan::UsableIsas()) {
    if (!ebgan::HasKernel(ebgan::Precision::kFp32, isa)) continue;
    std::unique_ptr<ebgan::Engine> engine;
    status = ebgan::Engine::Create(data, ebgan::IsaName(isa), &engine);
    if (!status.ok()) {
      std::printf("\n%s: skipped (%s)\n", ebgan::IsaName(isa), status.message().c_str());
      continue;
    }
    const ProbeResult& peak = probe_result(ProbeFor(isa));
    std::printf("\nKernel %s (one thread; peak from the %s probe: %.1f GFLOP/s)\n",
                ebgan::IsaName(isa), peak.probe->name, peak.peak_gflops);
    // On a shared machine the median carries other processes' load; the
    // 10th percentile is closer to what the code itself can do. Both shown.
    std::printf("  %6s %11s %11s %10s %15s %15s\n", "rows", "median us", "p10 us", "ns/row",
                "GFLOP/s med/p10", "% peak med/p10");
    for (size_t rows : kBatches) {
      const Timing t =
          Measure([&] { engine->Score(input.get(), rows, scores.get(), nullptr, 1); }, seconds);
      const double gflops = kFlopPerRow * rows / t.median_s * 1e-9;
      const double gflops_p10 = kFlopPerRow * rows / t.p10_s * 1e-9;
      std::printf("  %6zu %11.2f %11.2f %10.1f %7.1f/%-7.1f %6.1f/%-6.1f\n", rows, t.median_s * 1e6,
                  t.p10_s * 1e6, t.median_s * 1e9 / rows, gflops, gflops_p10,
                  100 * gflops / peak.peak_gflops, 100 * gflops_p10 / peak.peak_gflops);
      json.Add(
          Format("{\"kind\": \"kernel\", \"kernel\": \"%s\", \"rows\": %zu, "
                 "\"median_us\": %.3f, \"p10_us\": %.3f, \"peak_gflops\": %.2f}",
                 ebgan::IsaName(isa), rows, t.median_s * 1e6, t.p10_s * 1e6, peak.peak_gflops));
      if (rows == 1) {
        const double bound_us = packed.weight_bytes / (peak.weights_gbs * 1e9) * 1e6;
        std::printf(
            "  %6s one row reads %.2f MB of weights: >= %.2f us at %.1f GB/s; "
            "p10 %.2f us is %.0f%% of that bound\n",
            "", packed.weight_bytes * 1e-6, bound_us, peak.weights_gbs, t.p10_s * 1e6,
            100 * bound_us / (t.p10_s * 1e6));
      }
    }

    // Per layer, with the bench loop of the same instruction set.
    const PeakProbe* probe = peak.probe;
    for (size_t rows : kLayerBatches) {
      std::printf("  per layer, %zu row%s, %s bench loop:\n", rows, rows > 1 ? "s" : "",
                  probe->name);
      const float* x = input.get();
      int stride = EBGAN_FEATURES;
      float* out = act_a.get();
      double total_s = 0;
      for (int l = 0; l < ebgan::kLayerCount; ++l) {
        const ebgan::PackedLayer& layer = packed.model.layers[l];
        const Timing t = Measure([&] { probe->dense(layer, x, stride, out, rows); }, seconds / 2);
        const double flop = 2.0 * layer.in * layer.out * rows;
        total_s += t.p10_s;
        std::printf(
            "    layer %d %4d->%-4d median %9.2f us, p10 %9.2f us %7.1f GFLOP/s "
            "%5.1f%% peak (at p10)\n",
            l, layer.in, layer.out, t.median_s * 1e6, t.p10_s * 1e6, flop / t.p10_s * 1e-9,
            100 * flop / t.p10_s * 1e-9 / peak.peak_gflops);
        json.Add(
            Format("{\"kind\": \"layer\", \"kernel\": \"%s\", \"loop\": \"%s\", "
                   "\"rows\": %zu, \"layer\": %d, \"in\": %d, \"out\": %d, "
                   "\"median_us\": %.3f, \"p10_us\": %.3f}",
                   ebgan::IsaName(isa), probe->name, rows, l, layer.in, layer.out, t.median_s * 1e6,
                   t.p10_s * 1e6));
        x = out;
        stride = ebgan::PaddedWidth(layer.out);
        out = out == act_a.get() ? act_b.get() : act_a.get();
      }
      // The bench loop must compute the kernel's scores, or its times mean
      // nothing: compare the reconstruction error of every row.
      double worst = 0;
      engine->Score(input.get(), rows, scores.get(), nullptr, 1);
      for (size_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (int f = 0; f < EBGAN_FEATURES; ++f) {
          const double d = double(x[r * stride + f]) - input[r * EBGAN_FEATURES + f];
          sum += d * d;
        }
        const double s = sum / EBGAN_FEATURES;
        worst = std::max(worst, std::abs(s - scores[r]) / std::max(1e-12, std::abs(s)));
      }
      std::printf(
          "    sum of layers (p10) %.2f us; bench loop scores agree with the kernel to "
          "%.1e relative\n",
          total_s * 1e6, worst);
      if (worst > 1e-4) {
        std::fprintf(stderr, "the %s bench loop disagrees with kernel %s: %.3g relative\n",
                     probe->name, ebgan::IsaName(isa), worst);
        return 1;
      }
    }
  }

  // 4. int8.
  if (!BenchInt8(data, input.get(), scores.get(), probes.back(), weights_like.get(), seconds,
                 &json))
    return 1;

  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fprintf(f, "[%s\n]\n", json.text.c_str());
    std::fclose(f);
  }
  return 0;
}
