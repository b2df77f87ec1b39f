// A loaded model ready to score: weights packed for the chosen kernel.
// One Engine may be used by any number of threads at once; Score() only
// reads the engine's state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ebgan/kernel.h"
#include "ebgan/kernel_int8.h"
#include "ebgan/model.h"
#include "ebgan/records.h"

namespace ebgan {

// Whether an instruction-set path is usable here: compiled into this build,
// present on this CPU and, for AVX and AVX-512, its register state enabled
// by the operating system (XGETBV). The scalar path is always usable.
bool IsaBuilt(Isa isa);
bool IsaUsable(Isa isa);
std::vector<Isa> UsableIsas();
// The preferred usable path for fp32: the widest one.
Isa BestIsa();
// Whether this build has a kernel for a precision on a path (fp16 models
// run on the fp32 kernels), and the preferred usable path for a precision.
bool HasKernel(Precision precision, Isa isa);
Isa BestIsaFor(Precision precision);
// Parses "scalar", "avx2_fma", "avx512", "neon" or "auto"; the empty string
// means "auto". Selects the path or names why it cannot be used.
Status ResolveIsa(const std::string& name, Isa* out);

// The environment variable that forces a kernel when the caller passes none.
inline constexpr const char* kKernelEnvVar = "EBGAN_EDGE_KERNEL";

class Engine {
 public:
  // `kernel` as ResolveIsa takes it; an empty string also consults
  // EBGAN_EDGE_KERNEL.
  static Status Create(const ModelData& model, const std::string& kernel,
                       std::unique_ptr<Engine>* out);

  // Scores rows of a C-contiguous (rows, 121) float32 matrix of finite
  // values. `reconstruction` may be null. Uses up to `threads` threads,
  // started for this call only; never allocates when threads == 1.
  void Score(const float* input, size_t rows, float* scores, float* reconstruction,
             int threads = 1) const;

  // Parses CSV records (see ParseRecords), encodes them with the model's
  // normalisation and scores them. `scores` and `lines` get one entry per
  // record; `stats` counts clipped values and unknown categories. This path
  // allocates (it holds the parsed and encoded records); Score() does not.
  Status ScoreText(std::string_view text, uint64_t first_line, std::vector<float>* scores,
                   std::vector<uint64_t>* lines, EncodeStats* stats, RecordIssue* issue,
                   int threads = 1) const;

  Isa isa() const { return isa_; }
  const ModelData& model() const { return model_; }

 private:
  Engine() = default;

  ModelData model_;
  Isa isa_ = Isa::kScalar;
  Fp32Kernel fp32_kernel_ = nullptr;
  Int8Kernel int8_kernel_ = nullptr;
  std::unique_ptr<void, void (*)(void*)> packed_{nullptr, nullptr};
  PackedFp32Model fp32_model_{};
  PackedInt8Model int8_model_{};

  Status PackFp32();
  Status PackInt8();
  void ScoreRange(const float* input, size_t rows, float* scores, float* reconstruction) const;
};

// Finds the first non-finite value of a (rows, 121) matrix; returns false if
// there is none. Used at API boundaries before scoring.
bool FindNonFinite(const float* input, size_t rows, size_t* row, size_t* column);

}  // namespace ebgan
