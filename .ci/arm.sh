#!/usr/bin/env bash
# Cross-builds the library, the C++ tests and the C example for aarch64 and
# runs them under qemu-user twice: on an emulated Cortex-A53 (ARMv8.0, no
# dot product) and on qemu's "max" core (every extension). Both runs must
# pass and must report "neon" as the kernel that "auto" chose.
#
#   .ci/arm.sh [BUILD_DIR]        (default: build/arm)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build/arm}"
jobs="${EBGAN_JOBS:-2}"

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if ((${#need[@]})); then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

configure() {
  cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DEBGAN_BUILD_TESTS=ON -DEBGAN_QEMU_CPU="$1" >/dev/null
}

configure max
cmake --build "$build" -j "$jobs"

status=0
for cpu in cortex-a53 max; do
  echo "=== ctest under qemu-aarch64 -cpu $cpu"
  # Only the emulator command changes, so the build is a no-op unless the
  # sources changed since the first one.
  configure "$cpu"
  cmake --build "$build" -j "$jobs"
  log="$build/ctest-$cpu.log"
  if ! ctest --test-dir "$build" --output-on-failure -V -j "$jobs" --timeout 300 \
    --no-tests=error >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "FAILED: ctest on -cpu $cpu (full log: $log)" >&2
    status=1
    continue
  fi
  grep -E "tests passed|max relative error|stack used" "$log" | sort -u
  # Every test binary prints the kernel "auto" chose for fp32 models; all of
  # them must agree on neon.
  chosen="$(grep -o 'auto kernel: [a-z0-9_]*' "$log" | cut -d' ' -f3 | sort -u \
    | paste -sd' ' || true)"
  echo "auto kernel on $cpu: ${chosen:-<none reported>}"
  if [[ "$chosen" != neon ]]; then
    echo "FAILED: expected the auto kernel on -cpu $cpu to be neon, got '${chosen}'" >&2
    status=1
  fi
  # int8 models use the dot-product instructions where the core has them
  # (qemu's max) and plain NEON where it does not (Cortex-A53).
  want_int8=neon
  [[ "$cpu" == max ]] && want_int8=neon_dotprod
  chosen_int8="$(grep -o 'auto int8 kernel: [a-z0-9_]*' "$log" | cut -d' ' -f4 | sort -u \
    | paste -sd' ' || true)"
  echo "auto int8 kernel on $cpu: ${chosen_int8:-<none reported>}"
  if [[ "$chosen_int8" != "$want_int8" ]]; then
    echo "FAILED: expected the int8 auto kernel on -cpu $cpu to be $want_int8," \
      "got '${chosen_int8}'" >&2
    status=1
  fi
done
if ((status == 0)); then echo "aarch64: all tests passed on cortex-a53 and max"; fi
exit "$status"
