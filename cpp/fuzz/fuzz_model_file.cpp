// Fuzz target: ebgan::ReadModel on arbitrary bytes and, for every file it
// accepts, an Engine built from it (the kernel this CPU prefers) scoring a
// few fixed rows.
//
// Most mutations of a model file break its CRC-32 and stop at the checksum
// check. So that the fuzzer also reaches the section parsers, each input
// that starts with the magic is read a second time with its declared size
// and checksum made valid, as a crafted (not merely corrupted) file would
// be; the reader must refuse or accept both without reading out of bounds.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "ebgan/engine.h"
#include "ebgan/model.h"
#include "fuzz_check.h"

namespace {

constexpr size_t kRows = 3;

// Rows shaped like encoded records: zeros, a ramp over [0, 1], and numeric
// features at 0.5 with one category set in each one-hot block.
std::vector<float> FixedRows() {
  std::vector<float> x(kRows * ebgan::kFeatureCount, 0.0f);
  float* ramp = x.data() + ebgan::kFeatureCount;
  for (int f = 0; f < ebgan::kFeatureCount; ++f) ramp[f] = float(f) / ebgan::kFeatureCount;
  float* record = x.data() + 2 * ebgan::kFeatureCount;
  for (int f = 0; f < ebgan::kNumericFeatureCount; ++f) record[f] = 0.5f;
  record[ebgan::kProtocolTypeOffset + 1] = 1.0f;
  record[ebgan::kServiceOffset + 20] = 1.0f;
  record[ebgan::kFlagOffset + 9] = 1.0f;
  return x;
}

void ScoreWith(const ebgan::ModelData& model, const char* kernel) {
  std::unique_ptr<ebgan::Engine> engine;
  const ebgan::Status s = ebgan::Engine::Create(model, kernel, &engine);
  if (!s.ok()) {
    // A valid file this build cannot run (an int8 file with static
    // activation scales) is refused with a reason, never half-built.
    FUZZ_CHECK(!s.message().empty() && engine == nullptr);
    return;
  }
  static const std::vector<float> rows = FixedRows();
  float scores[kRows];
  std::vector<float> reconstruction(kRows * ebgan::kFeatureCount);
  engine->Score(rows.data(), kRows, scores, reconstruction.data(), 1);
  // A mean squared error is never negative. It may overflow to infinity or
  // NaN for extreme (finite) weights; see docs/hardening.md.
  for (float score : scores) FUZZ_CHECK(std::isnan(score) || score >= 0.0f);
}

void ReadAndScore(const uint8_t* data, size_t size) {
  ebgan::ModelData model;
  const ebgan::Status s = ebgan::ReadModel(data, size, &model);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty());
    return;
  }
  ScoreWith(model, "");  // the kernel this CPU prefers
}

// A copy with the header's declared size set to the real size and the
// CRC-32 trailer recomputed.
std::vector<uint8_t> WithValidChecksum(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(data, data + size);
  const uint64_t declared = size;
  for (int i = 0; i < 8; ++i) out[16 + i] = uint8_t(declared >> (8 * i));
  const uint32_t crc = ebgan::Crc32(out.data(), size - 4);
  for (int i = 0; i < 4; ++i) out[size - 4 + i] = uint8_t(crc >> (8 * i));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReadAndScore(data, size);
  constexpr size_t kMinimum = 36;  // header and trailer
  if (size >= kMinimum && std::memcmp(data, ebgan::kModelMagic, sizeof ebgan::kModelMagic) == 0) {
    const std::vector<uint8_t> crafted = WithValidChecksum(data, size);
    // Read again only if that changed a byte: an intact file was read above.
    if (std::memcmp(crafted.data(), data, size) != 0) ReadAndScore(crafted.data(), crafted.size());
  }
  return 0;
}
