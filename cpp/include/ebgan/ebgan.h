/* ebgan-edge C API: load a model, score batches of encoded records.
 *
 * A gateway agent in C or C++ links libebgan and needs nothing else. A model
 * handle is immutable after loading: any number of threads may score with
 * the same handle at once. Functions that can fail return 0 on success and a
 * non-zero ebgan_status otherwise, writing a NUL-terminated message into the
 * caller's buffer when one is given.
 */
#ifndef EBGAN_EBGAN_H_
#define EBGAN_EBGAN_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of features of an encoded record. */
#define EBGAN_FEATURES 121

typedef enum ebgan_status {
  EBGAN_OK = 0,
  EBGAN_INVALID_ARGUMENT = 1,
  EBGAN_INVALID_MODEL = 2,
  EBGAN_UNSUPPORTED = 3,
  EBGAN_IO_ERROR = 4
} ebgan_status;

typedef struct ebgan_model ebgan_model;

/* Loads a model file. `kernel` is NULL or "auto" for the best kernel this
 * CPU runs for the model's precision, or one of "scalar", "avx2_fma",
 * "avx512", "avx512_vnni", "neon", "neon_dotprod"; when NULL the
 * EBGAN_EDGE_KERNEL environment variable may name one. */
int ebgan_load_file(const char* path, const char* kernel, ebgan_model** out, char* error,
                    size_t error_size);

/* Loads a model from bytes in memory; the bytes may be freed afterwards. */
int ebgan_load_buffer(const void* data, size_t size, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size);

/* A model compiled into the program as constant arrays, as the header that
 * `ebgan-edge convert MODEL --out NAME.h` writes: nothing is read from a
 * file. Layer i has the fixed shape (out, in) of the architecture, weights
 * row-major: float for fp32, IEEE binary16 bit patterns (uint16_t) for fp16,
 * int8_t in [-127, 127] with per-output-channel `weight_scale` for int8. */
#define EBGAN_STATIC_MODEL_VERSION 1
#define EBGAN_LAYERS 6
#define EBGAN_NUMERIC_FEATURES 37

typedef struct ebgan_static_layer {
  const void* weight;
  const float* weight_scale; /* int8 only, else NULL */
  const float* bias;
} ebgan_static_layer;

typedef struct ebgan_static_model {
  int version;   /* EBGAN_STATIC_MODEL_VERSION */
  int precision; /* 0 fp32, 1 fp16, 2 int8 */
  ebgan_static_layer layers[EBGAN_LAYERS];
  const float* minimum; /* [EBGAN_NUMERIC_FEATURES] */
  const float* maximum;
  float threshold;
  const char* feature_names; /* '\n'-joined; must match this build's encoding */
  const char* metadata_json;
} ebgan_static_model;

/* Loads a model from constant arrays, validated like a model file. */
int ebgan_load_static(const ebgan_static_model* model, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size);

/* Scores `rows` encoded records (row-major, EBGAN_FEATURES floats each, all
 * finite) into `scores`. Returns EBGAN_INVALID_ARGUMENT for a null pointer or
 * a non-finite input value, naming the row and column. */
int ebgan_score(const ebgan_model* model, const float* input, size_t rows, float* scores,
                char* error, size_t error_size);

/* What the encoding of raw records had to bend (see ebgan_score_csv). */
typedef struct ebgan_record_stats {
  size_t records;            /* records scored */
  size_t clipped_values;     /* numeric values outside the training range, clipped */
  size_t unknown_categories; /* protocol/service/flag values not in the vocabulary */
  size_t error_line;         /* on EBGAN_INVALID_ARGUMENT: the bad record's line */
} ebgan_record_stats;

/* Scores raw NSL-KDD records given as CSV text (one record per line, 41
 * fields, optionally followed by label and difficulty; blank lines skipped),
 * encoding them with the model's normalisation. Writes at most `capacity`
 * scores; a text with more records is refused with EBGAN_INVALID_ARGUMENT
 * before anything is scored. A malformed record is refused with its line
 * and field named in `error`, and its line in stats->error_line. The
 * one-hot blocks are never built: each category is a column lookup in the
 * first layer, with the same scores as encoding densely. */
int ebgan_score_csv(const ebgan_model* model, const char* text, size_t length, float* scores,
                    size_t capacity, ebgan_record_stats* stats, char* error, size_t error_size);

/* The decision threshold stored in the model: a score above it is an attack. */
float ebgan_threshold(const ebgan_model* model);

/* The kernel this model scores with, as ebgan_load_file names them. */
const char* ebgan_kernel(const ebgan_model* model);

/* Frees a model; NULL is allowed. */
void ebgan_free(ebgan_model* model);

#ifdef __cplusplus
}
#endif

#endif /* EBGAN_EBGAN_H_ */
