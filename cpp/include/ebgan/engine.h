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

  // Scores records in the form EncodeRecordRows writes (RecordRows in
  // kernel.h); equal to Score() on their dense encoding, bit for bit. Never
  // allocates when threads == 1.
  void ScoreRecords(const RecordRows& input, size_t rows, float* scores, float* reconstruction,
                    int threads = 1) const;

  // Parses CSV records (see ParseRecords), encodes them with the model's
  // normalisation and scores them. `scores` and `lines` get one entry per
  // record; `stats` counts clipped values and unknown categories. This path
  // allocates (it holds the parsed and encoded records); Score() does not.
  Status ScoreText(std::string_view text, uint64_t first_line, std::vector<float>* scores,
                   std::vector<uint64_t>* lines, EncodeStats* stats, RecordIssue* issue,
                   int threads = 1) const;

  Isa isa() const { return isa_; }
  // Whether an fp16 model keeps binary16 weights (widened in registers by
  // its kernel) rather than fp32 ones widened at load.
  bool native_fp16() const { return fp16_kernel_ != nullptr; }
  // Bytes of packed weights and biases the kernels read.
  size_t weight_bytes() const { return packed_bytes_; }
  const ModelData& model() const { return model_; }

 private:
  Engine() = default;

  ModelData model_;
  Isa isa_ = Isa::kScalar;
  // One precision's kernels are set; the others stay null.
  Fp32Kernel fp32_kernel_ = nullptr;
  Fp32RecordKernel fp32_record_kernel_ = nullptr;
  Fp16Kernel fp16_kernel_ = nullptr;
  Fp16RecordKernel fp16_record_kernel_ = nullptr;
  Int8Kernels int8_kernels_{};
  std::unique_ptr<void, void (*)(void*)> packed_{nullptr, nullptr};
  size_t packed_bytes_ = 0;
  PackedFp32Model fp32_model_{};
  PackedFp16Model fp16_model_{};
  PackedInt8Model int8_model_{};

  Status Allocate(size_t bytes);
  template <typename Weight, typename Done>
  Status PackFloat(const Done& done);
  Status PackFp32();
  Status PackFp16();
  Status PackInt8();
  void ScoreRange(const float* input, size_t rows, float* scores, float* reconstruction) const;
  void ScoreRecordRange(const RecordRows& input, size_t rows, float* scores,
                        float* reconstruction) const;
};

// Finds the first non-finite value of a (rows, 121) matrix; returns false if
// there is none. Used at API boundaries before scoring.
bool FindNonFinite(const float* input, size_t rows, size_t* row, size_t* column);

}  // namespace ebgan
