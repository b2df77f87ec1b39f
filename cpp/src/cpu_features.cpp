// Run-time detection of the instruction sets a kernel needs.
#include <cstdlib>

#include "ebgan/engine.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define EBGAN_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define EBGAN_AARCH64 1
#endif

namespace ebgan {
namespace {

#if defined(EBGAN_X86)
struct X86Features {
  bool avx2_fma = false;
  bool avx512 = false;
  bool avx512_vnni = false;
};

uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return uint64_t(edx) << 32 | eax;
}

X86Features DetectX86() {
  X86Features f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool fma = ecx & (1u << 12);
  const bool f16c = ecx & (1u << 29);
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  // The OS must save the registers across context switches: XMM and YMM
  // state (bits 1, 2) for AVX; opmask and ZMM state (bits 5, 6, 7) as well
  // for AVX-512. A CPU can have the instructions while the OS has them off.
  const uint64_t xcr0 = ReadXcr0();
  const bool ymm_enabled = (xcr0 & 0x6) == 0x6;
  const bool zmm_enabled = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
  // F16C (binary16 conversions, used for fp16 weights) came before AVX2
  // and every AVX2 CPU has it; requiring it costs no real machine.
  f.avx2_fma = ymm_enabled && avx2 && fma && f16c;
  f.avx512 = f.avx2_fma && zmm_enabled && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512_vnni = f.avx512 && (ecx & (1u << 11));
  return f;
}
#endif

bool CpuHas(Isa isa) {
#if defined(EBGAN_X86)
  static const X86Features x86 = DetectX86();
#endif
  switch (isa) {
    case Isa::kScalar:
      return true;
#if defined(EBGAN_X86)
    case Isa::kAvx2Fma:
      return x86.avx2_fma;
    case Isa::kAvx512:
      return x86.avx512;
    case Isa::kAvx512Vnni:
      return x86.avx512_vnni;
#endif
#if defined(EBGAN_AARCH64)
    // Advanced SIMD is part of the aarch64 baseline, but ask the kernel all
    // the same: the answer is what the OS guarantees.
    case Isa::kNeon:
      return getauxval(AT_HWCAP) & HWCAP_ASIMD;
    // The dot-product instructions (ARMv8.2, optional before ARMv8.4): a
    // Cortex-A53 lacks them and would fault on sdot.
    case Isa::kNeonDotprod:
      return (getauxval(AT_HWCAP) & HWCAP_ASIMD) && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP);
#endif
    default:
      return false;
  }
}

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2Fma:
      return "avx2_fma";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx512Vnni:
      return "avx512_vnni";
    case Isa::kNeon:
      return "neon";
    case Isa::kNeonDotprod:
      return "neon_dotprod";
  }
  return "unknown";
}

bool IsaBuilt(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
#if defined(EBGAN_BUILD_AVX2)
    case Isa::kAvx2Fma:
      return true;
#endif
#if defined(EBGAN_BUILD_AVX512)
    case Isa::kAvx512:
      return true;
#endif
#if defined(EBGAN_BUILD_AVX512_VNNI)
    case Isa::kAvx512Vnni:
      return true;
#endif
#if defined(EBGAN_BUILD_NEON)
    case Isa::kNeon:
      return true;
#endif
#if defined(EBGAN_BUILD_NEON_DOTPROD)
    case Isa::kNeonDotprod:
      return true;
#endif
    default:
      return false;
  }
}

bool IsaUsable(Isa isa) {
  return IsaBuilt(isa) && CpuHas(isa);
}

std::vector<Isa> UsableIsas() {
  std::vector<Isa> out;
  for (int i = 0; i < kIsaCount; ++i)
    if (IsaUsable(Isa(i))) out.push_back(Isa(i));
  return out;
}

Isa BestIsa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2Fma, Isa::kNeon})
    if (IsaUsable(isa)) return isa;
  return Isa::kScalar;
}

Status ResolveIsa(const std::string& name, Isa* out) {
  if (name.empty() || name == "auto") {
    *out = BestIsa();
    return Status::Ok();
  }
  for (int i = 0; i < kIsaCount; ++i) {
    const Isa isa = Isa(i);
    if (name != IsaName(isa)) continue;
    if (!IsaBuilt(isa))
      return Status(StatusCode::kUnsupported,
                    "kernel '" + name + "' is not built into this library");
    if (!CpuHas(isa))
      return Status(
          StatusCode::kUnsupported,
          "kernel '" + name + "' needs instructions this CPU (or its OS) does not enable");
    *out = isa;
    return Status::Ok();
  }
  return Status(StatusCode::kInvalidArgument,
                "unknown kernel '" + name +
                    "'; expected auto, scalar, avx2_fma, avx512, avx512_vnni, neon or "
                    "neon_dotprod");
}

}  // namespace ebgan
