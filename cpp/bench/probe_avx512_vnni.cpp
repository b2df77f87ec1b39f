// The integer peak for the AVX-512 VNNI int8 kernel (built with -mavx512f
// -mavx512vnni; run only when ebgan::IsaUsable(Isa::kAvx512Vnni)). The loop
// executes nothing but vpdpbusd on zmm registers: 16 lanes of 4 unsigned x
// signed byte products added into int32, 64 multiply-adds, 128 ops.
//
// Accumulators: each vpdpbusd depends on the previous one of its chain
// (latency 4-5 cycles on current cores) and up to two start per cycle, so
// at least 10 independent chains are needed; 20 of the 32 zmm registers
// leave headroom. The loop is written in assembly: GCC 12 keeps an array of
// __m512i accumulators partly on the stack and copies them between
// registers on every iteration (the same trouble the VNNI kernel works
// around), which would time the copies rather than vpdpbusd. The sums wrap
// around, harmlessly: nothing reads them.
//
// GCC 12's AVX-512 headers start some intrinsics from a deliberately
// undefined register and -Wuninitialized reports it at every inlined use.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "probes.h"

namespace ebgan_bench {
namespace {

constexpr int kChains = 20;
constexpr int kOpsPerVpdpbusd = 2 * 16 * 4;

#define EBGAN_DPBUSD(n) "vpdpbusd %[s], %[u], %%zmm" #n "\n\t"

// `iterations` times 20 independent vpdpbusd, register operands only.
void VpdpbusdLoop(long iterations, __m512i u, __m512i s) {
  asm volatile(
      "1:\n\t"
      EBGAN_DPBUSD(0) EBGAN_DPBUSD(1) EBGAN_DPBUSD(2) EBGAN_DPBUSD(3) EBGAN_DPBUSD(4)
      EBGAN_DPBUSD(5) EBGAN_DPBUSD(6) EBGAN_DPBUSD(7) EBGAN_DPBUSD(8) EBGAN_DPBUSD(9)
      EBGAN_DPBUSD(10) EBGAN_DPBUSD(11) EBGAN_DPBUSD(12) EBGAN_DPBUSD(13) EBGAN_DPBUSD(14)
      EBGAN_DPBUSD(15) EBGAN_DPBUSD(16) EBGAN_DPBUSD(17) EBGAN_DPBUSD(18) EBGAN_DPBUSD(19)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(iterations)
      : [u] "v"(u), [s] "v"(s)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
        "xmm19", "cc");
}

#undef EBGAN_DPBUSD

double VpdpbusdGops(double seconds) {
  using Clock = std::chrono::steady_clock;
  const __m512i u = _mm512_set1_epi8(3);   // unsigned bytes
  const __m512i s = _mm512_set1_epi8(-2);  // signed bytes
  long iterations = 1 << 14;
  double best = 0.0;
  const auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const auto t0 = Clock::now();
    VpdpbusdLoop(iterations, u, s);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, double(kOpsPerVpdpbusd) * kChains * double(iterations) / t * 1e-9);
    if (t < 0.01) iterations *= 2;
  }
  return best;
}

}  // namespace

const IntPeakProbe kAvx512VnniProbe = {
    "avx512_vnni",
    "vpdpbusd zmm",
    kOpsPerVpdpbusd,
    VpdpbusdGops,
};

}  // namespace ebgan_bench
