#include "harness.h"

#include <cstring>

#include "ebgan/engine.h"

namespace ebgan_test {
namespace {

struct Case {
  const char* name;
  CaseFn fn;
};

std::vector<Case>& Cases() {
  static std::vector<Case> cases;
  return cases;
}

int g_failures = 0;
std::string g_model_path;

bool Selected(const char* name, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  for (const auto& p : prefixes)
    if (std::strncmp(name, p.c_str(), p.size()) == 0) return true;
  return false;
}

}  // namespace

Registrar::Registrar(const char* name, CaseFn fn) {
  Cases().push_back({name, fn});
}

void Fail(const char* file, int line, const std::string& what) {
  ++g_failures;
  std::printf("%s:%d: FAILED %s\n", file, line, what.c_str());
}

const std::string& ModelPath() {
  return g_model_path;
}

std::vector<ebgan::Isa> Fp32Isas() {
  std::vector<ebgan::Isa> out;
  for (ebgan::Isa isa : ebgan::UsableIsas())
    if (ebgan::HasKernel(ebgan::Precision::kFp32, isa)) out.push_back(isa);
  return out;
}

}  // namespace ebgan_test

// Usage: ebgan_tests [--model PATH] [PREFIX...]. Runs every case whose name
// starts with one of the prefixes (all cases without one); a prefix that
// selects nothing is an error, so a renamed case cannot silently vanish from
// the ctest list.
int main(int argc, char** argv) {
  using namespace ebgan_test;
  std::vector<std::string> prefixes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      g_model_path = argv[++i];
    } else {
      prefixes.push_back(argv[i]);
    }
  }

  std::string usable;
  for (ebgan::Isa isa : ebgan::UsableIsas()) usable += std::string(" ") + ebgan::IsaName(isa);
  std::printf("usable kernels:%s\n", usable.c_str());
  // What "auto" picks here, per precision; the ARM runs check these lines.
  std::printf("auto kernel: %s\n", ebgan::IsaName(ebgan::BestIsaFor(ebgan::Precision::kFp32)));
  std::printf("auto int8 kernel: %s\n", ebgan::IsaName(ebgan::BestIsaFor(ebgan::Precision::kInt8)));

  for (const auto& p : prefixes) {
    bool any = false;
    for (const Case& c : Cases()) any = any || Selected(c.name, {p});
    if (!any) {
      std::printf("no test case starts with '%s'\n", p.c_str());
      return 2;
    }
  }
  int run = 0;
  for (const Case& c : Cases()) {
    if (!Selected(c.name, prefixes)) continue;
    const int before = g_failures;
    std::printf("[ RUN  ] %s\n", c.name);
    std::fflush(stdout);
    c.fn();
    std::printf("[ %s ] %s\n", g_failures == before ? " OK " : "FAIL", c.name);
    std::fflush(stdout);
    ++run;
  }
  std::printf("%d case(s), %d failed check(s)\n", run, g_failures);
  return g_failures == 0 ? 0 : 1;
}
