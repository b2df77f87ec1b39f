/* Deterministic encoded records for the benchmarks, in plain C so that the
 * C-API driver and the C++ microbenchmark score exactly the same rows.
 *
 * The rows follow the 121-feature encoding: 37 min-max normalised numeric
 * features in [0, 1], skewed towards 0 as real traffic is (cube of a
 * uniform), then one-hot protocol_type (3), service (70) and flag (11).
 * A 32-bit LCG is used instead of rand() so that the values do not depend
 * on the C library.
 */
#ifndef EBGAN_BENCH_RECORDS_H_
#define EBGAN_BENCH_RECORDS_H_

#include <stddef.h>
#include <stdint.h>

#include "ebgan/ebgan.h"

#define EBGAN_BENCH_NUMERIC 37
#define EBGAN_BENCH_PROTOCOLS 3
#define EBGAN_BENCH_SERVICES 70
#define EBGAN_BENCH_FLAGS 11

#ifdef __cplusplus
static_assert(
#else
_Static_assert(
#endif
    EBGAN_BENCH_NUMERIC + EBGAN_BENCH_PROTOCOLS + EBGAN_BENCH_SERVICES + EBGAN_BENCH_FLAGS ==
        EBGAN_FEATURES,
    "the one-hot blocks and the numeric features must fill the encoding");

static inline uint32_t ebgan_bench_next(uint32_t* state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8; /* the low bits of an LCG are weak */
}

/* Fills rows * EBGAN_FEATURES floats. */
static inline void ebgan_bench_records(float* out, size_t rows, uint32_t seed) {
  uint32_t state = seed;
  for (size_t r = 0; r < rows; ++r) {
    float* x = out + r * EBGAN_FEATURES;
    int f;
    for (f = 0; f < EBGAN_FEATURES; ++f) x[f] = 0.0f;
    for (f = 0; f < EBGAN_BENCH_NUMERIC; ++f) {
      const float u = (float)ebgan_bench_next(&state) / 16777216.0f;
      x[f] = u * u * u;
    }
    f = EBGAN_BENCH_NUMERIC;
    x[f + ebgan_bench_next(&state) % EBGAN_BENCH_PROTOCOLS] = 1.0f;
    f += EBGAN_BENCH_PROTOCOLS;
    x[f + ebgan_bench_next(&state) % EBGAN_BENCH_SERVICES] = 1.0f;
    f += EBGAN_BENCH_SERVICES;
    x[f + ebgan_bench_next(&state) % EBGAN_BENCH_FLAGS] = 1.0f;
  }
}

#endif /* EBGAN_BENCH_RECORDS_H_ */
