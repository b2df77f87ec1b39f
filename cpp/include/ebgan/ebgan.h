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
 * CPU runs, or one of "scalar", "avx2_fma", "avx512", "neon"; when NULL the
 * EBGAN_EDGE_KERNEL environment variable may name one. */
int ebgan_load_file(const char* path, const char* kernel, ebgan_model** out, char* error,
                    size_t error_size);

/* Loads a model from bytes in memory; the bytes may be freed afterwards. */
int ebgan_load_buffer(const void* data, size_t size, const char* kernel, ebgan_model** out,
                      char* error, size_t error_size);

/* Scores `rows` encoded records (row-major, EBGAN_FEATURES floats each, all
 * finite) into `scores`. Returns EBGAN_INVALID_ARGUMENT for a null pointer or
 * a non-finite input value, naming the row and column. */
int ebgan_score(const ebgan_model* model, const float* input, size_t rows, float* scores,
                char* error, size_t error_size);

/* The decision threshold stored in the model: a score above it is an attack. */
float ebgan_threshold(const ebgan_model* model);

/* The kernel this model scores with: "scalar", "avx2_fma", "avx512" or "neon". */
const char* ebgan_kernel(const ebgan_model* model);

/* Frees a model; NULL is allowed. */
void ebgan_free(ebgan_model* model);

#ifdef __cplusplus
}
#endif

#endif /* EBGAN_EBGAN_H_ */
