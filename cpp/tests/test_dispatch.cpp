// Kernel selection: names, "auto", the environment variable, and refusals.
#include <cstdlib>
#include <memory>
#include <string>

#include "ebgan/engine.h"
#include "harness.h"
#include "random_model.h"

namespace {

using ebgan::Isa;

// Sets EBGAN_EDGE_KERNEL for one scope and restores what was there.
class ScopedKernelEnv {
 public:
  explicit ScopedKernelEnv(const char* value) {
    const char* old = std::getenv(ebgan::kKernelEnvVar);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) {
      setenv(ebgan::kKernelEnvVar, value, 1);
    } else {
      unsetenv(ebgan::kKernelEnvVar);
    }
  }
  ~ScopedKernelEnv() {
    if (had_) {
      setenv(ebgan::kKernelEnvVar, old_.c_str(), 1);
    } else {
      unsetenv(ebgan::kKernelEnvVar);
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

std::string CreatedIsa(const ebgan::ModelData& model, const std::string& kernel,
                       ebgan::Status* status) {
  std::unique_ptr<ebgan::Engine> engine;
  *status = ebgan::Engine::Create(model, kernel, &engine);
  return engine ? ebgan::IsaName(engine->isa()) : "";
}

}  // namespace

EBGAN_TEST(dispatch_names) {
  Isa isa = Isa::kAvx512;
  ebgan::Status s = ebgan::ResolveIsa("scalar", &isa);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(ebgan::IsaName(isa), std::string("scalar"));

  for (const char* name : {"auto", ""}) {
    s = ebgan::ResolveIsa(name, &isa);
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(ebgan::IsaName(isa), std::string(ebgan::IsaName(ebgan::BestIsa())));
  }

  s = ebgan::ResolveIsa("avx1024", &isa);
  EXPECT_EQ(int(s.code()), int(ebgan::StatusCode::kInvalidArgument));
  EXPECT_TRUE(s.message().find("avx1024") != std::string::npos);
  s = ebgan::ResolveIsa("AVX512", &isa);  // names are case-sensitive
  EXPECT_EQ(int(s.code()), int(ebgan::StatusCode::kInvalidArgument));

  // Every named path either resolves to itself or is refused as unsupported,
  // in step with IsaUsable.
  for (int i = 0; i < ebgan::kIsaCount; ++i) {
    const Isa want = Isa(i);
    s = ebgan::ResolveIsa(ebgan::IsaName(want), &isa);
    EXPECT_EQ(s.ok(), ebgan::IsaUsable(want));
    if (s.ok()) {
      EXPECT_EQ(int(isa), int(want));
    } else {
      EXPECT_EQ(int(s.code()), int(ebgan::StatusCode::kUnsupported));
      std::printf("not usable here: %s (%s)\n", ebgan::IsaName(want), s.message().c_str());
    }
  }
}

// "auto" takes the widest usable fp32 path; the build's own architecture
// always has its fp32 SIMD kernel compiled in.
EBGAN_TEST(dispatch_auto_prefers_widest) {
  const Isa best = ebgan::BestIsaFor(ebgan::Precision::kFp32);
  EXPECT_TRUE(ebgan::IsaUsable(best));
  EXPECT_TRUE(ebgan::HasKernel(ebgan::Precision::kFp32, best));
  if (ebgan_test::Fp32Isas().size() > 1) EXPECT_NE(int(best), int(Isa::kScalar));
  if (ebgan::IsaUsable(Isa::kAvx512)) EXPECT_EQ(int(best), int(Isa::kAvx512));
#if defined(__x86_64__)
  EXPECT_TRUE(ebgan::IsaBuilt(Isa::kAvx2Fma) && ebgan::IsaBuilt(Isa::kAvx512));
  EXPECT_TRUE(!ebgan::IsaBuilt(Isa::kNeon));
#elif defined(__aarch64__)
  EXPECT_TRUE(ebgan::IsaBuilt(Isa::kNeon));
  EXPECT_EQ(int(best), int(Isa::kNeon));
#endif
}

EBGAN_TEST(dispatch_environment_variable) {
  const ebgan::ModelData model = ebgan_test::RandomModel(7);
  const std::string best = ebgan::IsaName(ebgan::BestIsaFor(ebgan::Precision::kFp32));
  ebgan::Status s;
  {
    ScopedKernelEnv env(nullptr);
    EXPECT_EQ(CreatedIsa(model, "", &s), best);
    EXPECT_TRUE(s.ok());
  }
  {
    ScopedKernelEnv env("scalar");
    EXPECT_EQ(CreatedIsa(model, "", &s), std::string("scalar"));
    // An explicit argument wins over the environment.
    EXPECT_EQ(CreatedIsa(model, "auto", &s), best);
  }
  {
    ScopedKernelEnv env("auto");
    EXPECT_EQ(CreatedIsa(model, "", &s), best);
  }
  for (ebgan::Isa isa : ebgan_test::Fp32Isas()) {
    ScopedKernelEnv env(ebgan::IsaName(isa));
    EXPECT_EQ(CreatedIsa(model, "", &s), std::string(ebgan::IsaName(isa)));
  }
  {
    ScopedKernelEnv env("fastest");
    EXPECT_EQ(CreatedIsa(model, "", &s), std::string());
    EXPECT_EQ(int(s.code()), int(ebgan::StatusCode::kInvalidArgument));
    EXPECT_TRUE(s.message().find("fastest") != std::string::npos);
  }
}
