// The probes for AVX2 + FMA (built with -mavx2 -mfma; run only when
// ebgan::IsaUsable(Isa::kAvx2Fma)). 16 ymm registers: the peak loop keeps 12
// accumulators (FMA latency 4-5 cycles times 2 ports, plus headroom), the
// dense tile 4 rows x 2 vectors = 8, or 1-2 rows x 4 vectors.
#include <immintrin.h>

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

}  // namespace

const PeakProbe kAvx2FmaProbe = {
    "avx2_fma",
    PeakGflops<Avx2, 12>,
    ReadGbs<Avx2>,
    Dense<Avx2, 4, 2, 4>,
};

}  // namespace ebgan_bench
