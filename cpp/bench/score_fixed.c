/* A fixed scoring run for instruction counting under valgrind: loads the
 * model with the kernel named on the command line, scores 64 generated rows
 * (records.h) once, and prints the kernel and a checksum of the scores, so
 * that a run under valgrind can be compared with a native one.
 *
 *   ebgan_score_fixed MODEL KERNEL [ROWS]
 *
 * Exit status: 0 scored, 3 the kernel cannot run here (message on stderr),
 * 1 any other failure. Plain C over the C API: nothing but libebgan runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/ebgan.h"
#include "records.h"

int main(int argc, char** argv) {
  char error[256];
  ebgan_model* model = NULL;
  size_t rows = 64, r;
  float* input;
  float* scores;
  double checksum = 0.0;
  int status;

  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s MODEL KERNEL [ROWS]\n", argv[0]);
    return 1;
  }
  if (argc == 4) rows = (size_t)strtoul(argv[3], NULL, 10);
  status = ebgan_load_file(argv[1], argv[2], &model, error, sizeof error);
  if (status != EBGAN_OK) {
    fprintf(stderr, "%s\n", error);
    return status == EBGAN_UNSUPPORTED ? 3 : 1;
  }
  input = (float*)malloc(rows * EBGAN_FEATURES * sizeof(float));
  scores = (float*)malloc(rows * sizeof(float));
  if (!input || !scores) return 1;
  ebgan_bench_records(input, rows, 12345u);

  /* The only call counted (callgrind --toggle-collect=ebgan_score). */
  status = ebgan_score(model, input, rows, scores, error, sizeof error);
  if (status != EBGAN_OK) {
    fprintf(stderr, "%s\n", error);
    return 1;
  }
  for (r = 0; r < rows; ++r) checksum += (double)scores[r] * (double)(r + 1);
  printf("kernel %s rows %zu checksum %.9e first %.9e\n", ebgan_kernel(model), rows, checksum,
         (double)scores[0]);
  ebgan_free(model);
  free(input);
  free(scores);
  return 0;
}
