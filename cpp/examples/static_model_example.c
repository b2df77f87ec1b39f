/* Scores with the model compiled into the program (firmware_models/default.h)
 * and checks the scores against the same model read from its file: a
 * firmware build needs no file system, and gets the same answers.
 *
 *   static_model_example firmware_models/default.ebgan
 */
#include <stdio.h>
#include <string.h>

#include "default.h"
#include "ebgan/ebgan.h"

enum { kRows = 32 };

int main(int argc, char** argv) {
  char error[256];
  ebgan_model* compiled = NULL;
  ebgan_model* from_file = NULL;
  static float input[kRows * EBGAN_FEATURES];
  float a[kRows], b[kRows];
  unsigned state = 12345u;

  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL_FILE\n", argv[0]);
    return 2;
  }
  if (ebgan_load_static(&ebgan_default_model, NULL, &compiled, error, sizeof error) ||
      ebgan_load_file(argv[1], NULL, &from_file, error, sizeof error)) {
    fprintf(stderr, "load failed: %s\n", error);
    return 1;
  }
  for (int i = 0; i < kRows * EBGAN_FEATURES; ++i) {
    state = state * 1664525u + 1013904223u;
    input[i] = (float)(state >> 8) / 16777216.0f;
  }
  if (ebgan_score(compiled, input, kRows, a, error, sizeof error) ||
      ebgan_score(from_file, input, kRows, b, error, sizeof error)) {
    fprintf(stderr, "score failed: %s\n", error);
    return 1;
  }
  printf("kernel %s, threshold %.9g, first score %.9g\n", ebgan_kernel(compiled),
         ebgan_threshold(compiled), a[0]);
  const int same = memcmp(a, b, sizeof a) == 0 &&
                   ebgan_threshold(compiled) == ebgan_threshold(from_file);
  ebgan_free(compiled);
  ebgan_free(from_file);
  if (!same) {
    fprintf(stderr, "the compiled-in model scores differently from its file\n");
    return 1;
  }
  printf("compiled-in model and model file agree on %d rows\n", kRows);
  return 0;
}
