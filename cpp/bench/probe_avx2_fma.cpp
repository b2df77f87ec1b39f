// The probes for AVX2 + FMA (built with -mavx2 -mfma; run only when
// ebgan::IsaUsable(Isa::kAvx2Fma)). 16 ymm registers: the peak loop keeps 12
// accumulators (FMA latency 4-5 cycles times 2 ports, plus headroom), the
// dense tile 4 rows x 2 vectors = 8, or 1-2 rows x 4 vectors.
//
// The integer probe times the pair the AVX2 int8 kernel is built on:
// vpmaddwd (16 int16 x int16 products, added in pairs into 8 int32 lanes)
// and the vpaddd that adds them into an accumulator, 16 multiply-adds or 32
// ops per pair. Only the vpaddd chains carry a dependency (latency 1), so 8
// accumulators suffice, and 4 registers for the products let the pairs
// overlap. The loop is written in assembly: with intrinsics the compiler
// computes the loop-invariant product once, and GCC 12 keeps part of an
// array of accumulators on the stack.
#include <immintrin.h>

#include <algorithm>

#include "dense_tile.h"
#include "probes.h"

namespace ebgan_bench {
namespace {

struct Avx2 {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec Set1(float f) { return _mm256_set1_ps(f); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec Mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec Max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
};

constexpr int kMaddChains = 8;
constexpr int kOpsPerVpmaddwd = 2 * 16;

#define EBGAN_MADD(t, acc)        \
  "vpmaddwd %[w], %[x], %%ymm" #t \
  "\n\t"                          \
  "vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"

// `iterations` times 8 vpmaddwd + vpaddd pairs, register operands only.
void VpmaddwdLoop(long iterations, __m256i x, __m256i w) {
  asm volatile(
      "1:\n\t"
      EBGAN_MADD(8, 0) EBGAN_MADD(9, 1) EBGAN_MADD(10, 2) EBGAN_MADD(11, 3)
      EBGAN_MADD(8, 4) EBGAN_MADD(9, 5) EBGAN_MADD(10, 6) EBGAN_MADD(11, 7)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iterations)
      : [x] "x"(x), [w] "x"(w)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11", "cc");
}

#undef EBGAN_MADD

double VpmaddwdGops(double seconds) {
  const __m256i x = _mm256_set1_epi16(3);
  const __m256i w = _mm256_set1_epi16(-2);
  long iterations = 1 << 14;
  double best = 0.0;
  const auto start = std::chrono::steady_clock::now();
  while (Seconds(start) < seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    VpmaddwdLoop(iterations, x, w);
    const double t = Seconds(t0);
    best = std::max(best, double(kOpsPerVpmaddwd) * kMaddChains * double(iterations) / t * 1e-9);
    if (t < 0.01) iterations *= 2;
  }
  return best;
}

}  // namespace

const IntPeakProbe kAvx2MaddProbe = {
    "avx2_vpmaddwd",
    "vpmaddwd + vpaddd ymm",
    kOpsPerVpmaddwd,
    VpmaddwdGops,
};

const PeakProbe kAvx2FmaProbe = {
    "avx2_fma",
    PeakGflops<Avx2, 12>,
    ReadGbs<Avx2>,
    Dense<Avx2, 4, 2, 4>,
};

}  // namespace ebgan_bench
