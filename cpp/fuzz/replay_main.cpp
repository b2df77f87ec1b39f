// Runs a fuzz target over files, without libFuzzer: the corpus replay that
// ctest runs with any compiler (and, in .ci/sanitize.sh, under ASan and
// UBSan). Arguments are files or directories of files; an input that breaks
// the target aborts the process, naming the file first.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

namespace {

bool RunFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(file), {}};
  std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(), bytes.size());
  // A copy of exactly the input's size, so that ASan sees any read past it.
  std::vector<uint8_t> exact(bytes);
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) inputs += RunFile(f);
    } else if (!RunFile(arg)) {
      return 1;
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs replayed: give files or non-empty directories\n");
    return 1;
  }
  std::printf("%zu inputs replayed without a failure\n", inputs);
  return 0;
}
