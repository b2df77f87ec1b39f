#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each for a
# bounded time from the committed seed corpus; any crash, sanitizer report,
# leak or broken invariant fails the run. The crash input is left in the
# artifacts folder, to be reduced and committed as a regression
# (cpp/fuzz/regressions/<target>/, or a test; see docs/hardening.md).
#
#   .ci/fuzz.sh [BUILD_DIR]        (default: build/fuzz)
#   EBGAN_FUZZ_SECONDS=60          time per target
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(realpath -m "${1:-$root/build/fuzz}")"
seconds="${EBGAN_FUZZ_SECONDS:-60}"
jobs="${EBGAN_JOBS:-2}"
start=$SECONDS

step() { echo "== fuzz: $* ($((SECONDS - start)) s)"; }

# clang with the libFuzzer and sanitizer runtimes (Debian: clang and
# libclang-rt-<version>-dev).
links_fuzzer() {
  local probe
  probe="$(mktemp -d)"
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
    >"$probe/p.cpp"
  clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>/dev/null
  local ok=$?
  rm -rf "$probe"
  return $ok
}
if ! command -v clang++ >/dev/null || ! links_fuzzer; then
  step "installing clang and its sanitizer runtimes"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang
  version="$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-${version}-dev" \
    2>/dev/null || true  # older releases ship the runtimes inside clang
  links_fuzzer || { echo "clang++ cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi
pip_need=()
command -v cmake >/dev/null || pip_need+=(cmake)
command -v ninja >/dev/null || pip_need+=(ninja)
if ((${#pip_need[@]})); then
  step "installing ${pip_need[*]} with pip"
  python3 -m pip install --quiet "${pip_need[@]}"
fi

step "configuring $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DEBGAN_BUILD_FUZZERS=ON -DEBGAN_FUZZ_LIBFUZZER=ON >/dev/null
step "building"
cmake --build "$build" -j "$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
step "replaying the seed corpora and the regressions"
ctest --test-dir "$build/cpp/fuzz" --output-on-failure

artifacts="$build/artifacts"
mkdir -p "$artifacts"
status=0
summary=()
for target in model_file records; do
  # A scratch corpus: new inputs found in CI are not written back into the
  # source tree. The shipped model is an extra seed for the reader (the only
  # fp32 file; the committed seeds are int8 and fp16 to stay small).
  work="$build/corpus/$target"
  rm -rf "$work" && mkdir -p "$work"
  cp "$root/cpp/fuzz/corpus/$target"/* "$work/"
  options=(-max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=2560
    -dict="$root/cpp/fuzz/$target.dict" -artifact_prefix="$artifacts/$target-")
  if [[ $target == model_file ]]; then
    cp "$root/firmware_models/default.ebgan" "$work/"
    options+=(-max_len=1400000)  # above the largest (fp32) model file
  fi
  log="$build/fuzz-$target.log"
  step "fuzz_$target for $seconds s"
  if ! "$build/cpp/fuzz/fuzz_$target" "${options[@]}" "$work" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAILED: fuzz_$target found a crash; input in $artifacts (log: $log)" >&2
    status=1
  fi
  last="$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")"
  line="fuzz_$target: ${runs:-?} runs in $seconds s (${rate:-?} exec/s),"
  summary+=("$line cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}")
done

for line in "${summary[@]}"; do echo "$line"; done
step "done"
exit "$status"
