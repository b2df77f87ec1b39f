// Per-instruction-set pieces of the microbenchmark, each compiled in its own
// file with its own flags (probe_generic.cpp: none; probe_avx2_fma.cpp:
// -mavx2 -mfma; probe_avx512.cpp: -mavx512f; probe_avx512_vnni.cpp:
// -mavx512f -mavx512vnni). The caller runs a piece only when
// ebgan::IsaUsable says the CPU and the OS support its instructions.
#pragma once

#include <cstddef>

#include "ebgan/kernel.h"

namespace ebgan_bench {

// Single-thread floating-point peak: a loop of independent multiply-adds on
// registers only (no memory traffic), enough accumulators to cover the FMA
// latency on every port. Returns GFLOP/s, counting an FMA as two FLOP.
struct PeakProbe {
  const char* name;  // "generic", "avx2_fma", "avx512"
  double (*gflops)(double seconds);
  // Read bandwidth: sums `floats` floats from `data` repeatedly for about
  // `seconds`; returns GB/s (1e9 bytes per second).
  double (*read_gbs)(const float* data, size_t floats, double seconds);
  // One dense layer in the packed layout of kernel.h, LeakyReLU included:
  // y[r][j] for j < PaddedWidth(layer.out), rows r < `rows`; x has stride
  // `x_stride` floats. The same outer-product order as the kernels, written
  // here for timing layer by layer, not used for scoring.
  void (*dense)(const ebgan::PackedLayer& layer, const float* x, int x_stride, float* y,
                size_t rows);
};

// Single-thread integer multiply-add peak for the int8 kernels: a
// register-only loop of the instruction their inner loop is built on, with
// enough independent accumulators to cover its latency. Returns Gop/s,
// counting a multiply and its add as two operations, as the kernels' rate is
// counted (2 * 295,168 = 590,336 per row).
struct IntPeakProbe {
  const char* name;         // "avx2_vpmaddwd", "avx512_vnni"
  const char* instruction;  // what the loop executes
  int ops_per_instruction;  // multiply-adds of one instruction, times two
  double (*gops)(double seconds);
};

// The pieces this binary was built with, widest last.
extern const PeakProbe kGenericProbe;
#if defined(EBGAN_BENCH_X86)
extern const PeakProbe kAvx2FmaProbe;
extern const PeakProbe kAvx512Probe;
extern const IntPeakProbe kAvx2MaddProbe;
extern const IntPeakProbe kAvx512VnniProbe;
#endif

}  // namespace ebgan_bench
