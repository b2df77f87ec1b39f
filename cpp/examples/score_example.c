/* Scores encoded NSL-KDD records with a model file through the C API.
 *
 *   score_example MODEL.ebgan [RECORDS.csv]
 *
 * RECORDS.csv holds one encoded record per line: 121 comma-separated floats,
 * numeric features min-max normalised and categorical ones one-hot, as the
 * Python package's ebgan_edge.features.encode produces them. The file next
 * to this one is the six raw records of examples/records.csv encoded with
 * the shipped model's normalisation:
 *
 *   from ebgan_edge.features import read_records, encode
 *   from ebgan_edge.model_file import read_model
 *   x = encode(read_records("examples/records.csv"), read_model().normalization)
 *   numpy.savetxt("cpp/examples/records.csv", x, fmt="%.9g", delimiter=",")
 *
 * Without a CSV file the program scores three records built in code. It
 * prints each score with its verdict against the model's threshold, and the
 * kernel that scored them; it exits non-zero on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/ebgan.h"

enum { kMaxRecords = 1024 };

/* Feature offsets of the one-hot blocks in the encoding. */
enum { kProtocolTcp = 37 + 1, kServiceHttp = 40 + 21, kServicePrivate = 40 + 47 };
enum { kFlagS0 = 110 + 5, kFlagSF = 110 + 9 };

/* Reads up to kMaxRecords lines of EBGAN_FEATURES floats; returns the number
 * of records or -1 after printing what is wrong. */
static int ReadCsv(const char* path, float* out) {
  FILE* f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  int rows = 0;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '\n' || line[0] == '\0') continue;
    if (rows == kMaxRecords) {
      fprintf(stderr, "%s: more than %d records\n", path, kMaxRecords);
      fclose(f);
      return -1;
    }
    char* p = line;
    for (int c = 0; c < EBGAN_FEATURES; ++c) {
      char* end;
      out[rows * EBGAN_FEATURES + c] = strtof(p, &end);
      if (end == p || (c + 1 < EBGAN_FEATURES && *end != ',')) {
        fprintf(stderr, "%s:%d: expected %d comma-separated numbers\n", path, rows + 1,
                EBGAN_FEATURES);
        fclose(f);
        return -1;
      }
      p = end + 1;
    }
    ++rows;
  }
  fclose(f);
  return rows;
}

/* Three records: a short HTTP exchange, the same with extreme numeric
 * values, and a SYN to a private port left half-open (a scan's footprint). */
static int MakeRecords(float* out) {
  memset(out, 0, 3 * EBGAN_FEATURES * sizeof(float));
  for (int r = 0; r < 3; ++r) {
    float* x = out + r * EBGAN_FEATURES;
    x[kProtocolTcp] = 1.0f;
    x[r == 2 ? kServicePrivate : kServiceHttp] = 1.0f;
    x[r == 2 ? kFlagS0 : kFlagSF] = 1.0f;
  }
  for (int f = 0; f < 37; ++f) out[EBGAN_FEATURES + f] = 1.0f;
  return 3;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s MODEL.ebgan [RECORDS.csv]\n", argv[0]);
    return 2;
  }
  static float records[kMaxRecords * EBGAN_FEATURES];
  static float scores[kMaxRecords];
  const int rows = argc == 3 ? ReadCsv(argv[2], records) : MakeRecords(records);
  if (rows < 0) return 1;

  char error[256];
  ebgan_model* model = NULL;
  if (ebgan_load_file(argv[1], NULL, &model, error, sizeof error) != EBGAN_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], error);
    return 1;
  }
  if (ebgan_score(model, records, (size_t)rows, scores, error, sizeof error) != EBGAN_OK) {
    fprintf(stderr, "cannot score: %s\n", error);
    ebgan_free(model);
    return 1;
  }

  const float threshold = ebgan_threshold(model);
  printf("kernel %s, threshold %.6g\n", ebgan_kernel(model), threshold);
  for (int r = 0; r < rows; ++r)
    printf("record %d: score %.6g %s\n", r, scores[r], scores[r] > threshold ? "attack" : "normal");
  ebgan_free(model);
  return 0;
}
