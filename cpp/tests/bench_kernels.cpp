// Timing driver for the float kernels: single thread, batch 1, 16, 256 and
// 4096, median of repeated samples. Not a test; run by hand:
//   bench_kernels [--samples N] [--precision fp32|fp16|both]
//                 [--records | --input dense|records|both] [KERNEL...]
// Defaults: fp32, dense input, every usable kernel with an fp32 path.
//
// Every variant (precision x input form) scores the same generated records:
// the dense variants their ExpandRecordRows encoding, the record variants
// the records themselves. A sample times enough calls to last about 20 ms,
// so that short calls are not dominated by the clock. The variants of one
// kernel and batch are sampled in turn, round after round, so that a burst
// of load from other processes on a shared machine lands on all of them
// alike; the median of each variant's samples is reported, because such
// load adds outliers in one direction only. Rates come from the thread's
// CPU time, which time-sharing with other processes does not inflate (their
// cache and memory traffic still does); the wall-clock median is printed
// next to it. GFLOP/s counts the dense network's multiply-adds for every
// variant, so a record variant's figure is the dense-equivalent rate.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ebgan/engine.h"
#include "ebgan/records.h"
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

// Records as EncodeRecordRows writes them: numeric features in [0, 1] and
// one hot column per categorical field, a tenth of them unknown (-1).
struct Records {
  std::vector<float> numeric;
  std::vector<int16_t> hot;
  ebgan::RecordRows rows() const { return {numeric.data(), hot.data()}; }
};

Records RandomRecords(size_t rows, uint32_t seed) {
  static constexpr int kOffsets[ebgan::kCategoricalCount] = {
      ebgan::kProtocolTypeOffset, ebgan::kServiceOffset, ebgan::kFlagOffset};
  static constexpr int kSizes[ebgan::kCategoricalCount] = {ebgan::kProtocolTypeCount,
                                                           ebgan::kServiceCount, ebgan::kFlagCount};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Records r;
  r.numeric.assign(rows * ebgan::kRecordStride, 0.0f);
  r.hot.assign(rows * ebgan::kCategoricalCount, -1);
  for (size_t i = 0; i < rows; ++i) {
    for (int k = 0; k < ebgan::kNumericFeatureCount; ++k)
      r.numeric[i * ebgan::kRecordStride + k] = unit(rng);
    for (int c = 0; c < ebgan::kCategoricalCount; ++c) {
      const int index = std::uniform_int_distribution<int>(0, kSizes[c] - 1)(rng);
      if (unit(rng) >= 0.1f) r.hot[i * ebgan::kCategoricalCount + c] = int16_t(kOffsets[c] + index);
    }
  }
  return r;
}

// One way of scoring: an engine of one precision, fed dense rows or records.
struct Variant {
  std::string precision;
  bool records;
  std::unique_ptr<ebgan::Engine> engine;
  size_t calls = 1;  // per sample
  std::vector<double> cpu, wall;

  std::string Name() const { return precision + (records ? " records" : " dense"); }
};

struct Data {
  std::vector<float> dense;  // the records' dense encoding
  Records records;
};

void Run(const Variant& v, const Data& data, size_t rows, float* scores) {
  if (v.records)
    v.engine->ScoreRecords(data.records.rows(), rows, scores, nullptr);
  else
    v.engine->Score(data.dense.data(), rows, scores, nullptr);
}

// Calls per sample for about 20 ms of thread CPU time, on a warm cache.
size_t Calibrate(const Variant& v, const Data& data, size_t rows, float* scores) {
  Run(v, data, rows, scores);
  size_t calls = 1;
  for (;;) {
    const double t0 = Now(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < calls; ++i) Run(v, data, rows, scores);
    if (Now(CLOCK_THREAD_CPUTIME_ID) - t0 > 0.02) return calls;
    calls *= 2;
  }
}

void Sample(Variant& v, const Data& data, size_t rows, float* scores) {
  const double c0 = Now(CLOCK_THREAD_CPUTIME_ID), w0 = Now(CLOCK_MONOTONIC);
  for (size_t c = 0; c < v.calls; ++c) Run(v, data, rows, scores);
  v.cpu.push_back((Now(CLOCK_THREAD_CPUTIME_ID) - c0) / double(v.calls));
  v.wall.push_back((Now(CLOCK_MONOTONIC) - w0) / double(v.calls));
}

// Whether both forms of every precision give equal scores: a record path
// that is fast because it computes something else would show here.
bool SameScores(const std::vector<Variant>& variants, const Data& data, size_t rows) {
  for (const Variant& a : variants) {
    for (const Variant& b : variants) {
      if (a.precision != b.precision || a.records == b.records) continue;
      std::vector<float> sa(rows), sb(rows);
      Run(a, data, rows, sa.data());
      Run(b, data, rows, sb.data());
      if (std::memcmp(sa.data(), sb.data(), rows * sizeof(float)) != 0) return false;
    }
  }
  return true;
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--samples N] [--precision fp32|fp16|both] "
               "[--records | --input dense|records|both] [KERNEL...]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int samples = 9;
  std::vector<std::string> precisions = {"fp32"};
  std::vector<bool> inputs = {false};  // records?
  std::vector<std::string> kernels;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (std::strcmp(arg, "--samples") == 0 && has_value) {
      samples = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(arg, "--precision") == 0 && has_value) {
      const std::string p = argv[++i];
      if (p == "both")
        precisions = {"fp32", "fp16"};
      else if (p == "fp32" || p == "fp16")
        precisions = {p};
      else
        return Usage(argv[0]);
    } else if (std::strcmp(arg, "--records") == 0) {
      inputs = {true};
    } else if (std::strcmp(arg, "--input") == 0 && has_value) {
      const std::string form = argv[++i];
      if (form == "both")
        inputs = {false, true};
      else if (form == "dense" || form == "records")
        inputs = {form == "records"};
      else
        return Usage(argv[0]);
    } else if (arg[0] == '-') {
      return Usage(argv[0]);
    } else {
      kernels.push_back(arg);
    }
  }
  if (kernels.empty())
    for (ebgan::Isa isa : ebgan::UsableIsas())
      if (ebgan::HasKernel(ebgan::Precision::kFp32, isa)) kernels.push_back(ebgan::IsaName(isa));

  const size_t batches[] = {1, 16, 256, 4096};
  constexpr size_t kMaxRows = 4096;
  Data data;
  data.records = RandomRecords(kMaxRows, 2);
  data.dense.resize(kMaxRows * ebgan::kFeatureCount);
  ebgan::ExpandRecordRows(data.records.rows(), kMaxRows, data.dense.data());
  std::vector<float> scores(kMaxRows);
  const double flop = FlopPerRow();

  std::printf("%-9s %-13s %6s %10s %10s %12s %9s\n", "kernel", "variant", "batch", "us/call",
              "wall us", "rows/s", "GFLOP/s");
  for (const std::string& name : kernels) {
    std::vector<Variant> variants;
    for (const std::string& precision : precisions) {
      const ebgan::ModelData model =
          precision == "fp16" ? ebgan_test::RandomFp16Model(1) : ebgan_test::RandomModel(1);
      for (bool records : inputs) {
        Variant v{precision, records, nullptr};
        const ebgan::Status s = ebgan::Engine::Create(model, name, &v.engine);
        if (!s.ok()) {
          std::printf("%s %s: %s\n", name.c_str(), precision.c_str(), s.message().c_str());
          return 1;
        }
        variants.push_back(std::move(v));
      }
    }
    for (const Variant& v : variants) {
      if (v.precision == "fp16" && !v.engine->native_fp16())
        std::printf("# %s: no fp16 kernel, fp16 runs as fp32 widened at load\n", name.c_str());
    }
    if (!SameScores(variants, data, kMaxRows)) {
      std::printf("%s: record and dense scores differ\n", name.c_str());
      return 1;
    }

    for (size_t rows : batches) {
      for (Variant& v : variants) {
        v.calls = Calibrate(v, data, rows, scores.data());
        v.cpu.clear();
        v.wall.clear();
      }
      for (int i = 0; i < samples; ++i)
        for (Variant& v : variants) Sample(v, data, rows, scores.data());
      for (const Variant& v : variants) {
        const double cpu = Median(v.cpu), wall = Median(v.wall);
        std::printf("%-9s %-13s %6zu %10.2f %10.2f %12.0f %9.2f\n", name.c_str(), v.Name().c_str(),
                    rows, cpu * 1e6, wall * 1e6, double(rows) / cpu,
                    double(rows) * flop / cpu * 1e-9);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
