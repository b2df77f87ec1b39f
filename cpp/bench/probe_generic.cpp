// The probes for code built without instruction-set flags, as the scalar
// kernel is: 4-float vectors through the compiler's generic vector
// extension (SSE2 on x86-64, Advanced SIMD on aarch64). Multiply and add stay
// separate operations, as -ffp-contract=off keeps them in the scalar kernel.
#include <cstring>

#include "dense_tile.h"
#include "probes.h"

namespace ebgan_bench {
namespace {

struct Generic {
  typedef float Vec __attribute__((vector_size(16)));
  static constexpr int kLanes = 4;
  static Vec Load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void Store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
  static Vec Set1(float f) { return Vec{f, f, f, f}; }
  static Vec Fma(Vec a, Vec b, Vec c) {
    const Vec product = a * b;
    return product + c;
  }
  static Vec Add(Vec a, Vec b) { return a + b; }
  static Vec Mul(Vec a, Vec b) { return a * b; }
  static Vec Max(Vec a, Vec b) { return a > b ? a : b; }
};

}  // namespace

const PeakProbe kGenericProbe = {
    "generic",
    PeakGflops<Generic, 12>,
    ReadGbs<Generic>,
    // 8 accumulators of 4 floats leave registers for the weights (16 xmm).
    Dense<Generic, 4, 2, 4>,
};

}  // namespace ebgan_bench
