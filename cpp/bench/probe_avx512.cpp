// The probes for AVX-512F (built with -mavx512f; run only when
// ebgan::IsaUsable(Isa::kAvx512)). 32 zmm registers: the peak loop keeps 16
// accumulators, the dense tile 4 rows x 4 vectors.
// GCC 12's avx512fintrin.h builds _mm512_max_ps from a masked builtin fed
// with _mm512_undefined_ps() and then warns about its own uninitialised
// operand wherever the intrinsic is inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "dense_tile.h"
#include "probes.h"

namespace ebgan_bench {
namespace {

struct Avx512 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec Set1(float f) { return _mm512_set1_ps(f); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec Mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec Max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
};

}  // namespace

const PeakProbe kAvx512Probe = {
    "avx512",
    PeakGflops<Avx512, 16>,
    ReadGbs<Avx512>,
    Dense<Avx512, 4, 4, 8>,
};

}  // namespace ebgan_bench
