#!/usr/bin/env bash
# The Python package on aarch64, under emulation: an arm64 sysroot with
# Debian's Python 3.11 and numpy (cached), the ebgan_edge._core extension
# cross-compiled for it, the package assembled as the wheel lays it out, and
# a focused subset of the Python tests run under qemu-aarch64 on a Cortex-A53
# (ARMv8.0, no dot product) and on qemu's "max" core.
#
#   .ci/arm-python.sh [BUILD_DIR]                 (default: build/arm-python)
#   EBGAN_ARM_SYSROOT=/tmp/ebgan-arm-sysroot      the cached sysroot
#   EBGAN_ARM_BUILD_ONLY=1      stop once BUILD_DIR/pkg holds the package
#
# torch has no build that runs here, so the TorchScorer cases and the
# comparisons with the torch reference are deselected; the x86-64 runs have
# them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(realpath -m "${1:-$root/build/arm-python}")"
sysroot="${EBGAN_ARM_SYSROOT:-/tmp/ebgan-arm-sysroot}"
jobs="${EBGAN_JOBS:-2}"
python="${PYTHON:-python3}"
start=$SECONDS

step() { echo "== arm-python: $* ($((SECONDS - start)) s)"; }

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if ((${#need[@]})); then
  step "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
pip_need=()
command -v cmake >/dev/null || pip_need+=(cmake)
command -v ninja >/dev/null || pip_need+=(ninja)
"$python" -c "import pybind11" 2>/dev/null || pip_need+=(pybind11)
if ((${#pip_need[@]})); then
  step "installing ${pip_need[*]} with pip"
  "$python" -m pip install --quiet "${pip_need[@]}"
fi

# -- The sysroot: Debian's arm64 packages unpacked, never installed. The
#    list is what `import numpy` needs (see ../shared/ARM.md) plus the
#    Python headers for building the extension.
packages=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11-dev
  libc6 libexpat1 zlib1g libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1
  libncursesw6 libtinfo6 libreadline8 libgcc-s1 libstdc++6 libdb5.3 libgdbm6 libnsl2
  libtirpc3 libcrypt1 python3-numpy libopenblas0-pthread libgfortran5 libblas3
  liblapack3 libopenblas0)
stamp="$sysroot/.ebgan-sysroot-${#packages[@]}"
if [[ ! -f "$stamp" ]]; then
  step "building the arm64 sysroot in $sysroot (cold: downloads about 40 MB)"
  rm -rf "$sysroot" && mkdir -p "$sysroot/.debs"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  apt-get update -qq
  (cd "$sysroot/.debs" && apt-get download -qq "${packages[@]/%/:arm64}" media-types)
  for deb in "$sysroot"/.debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
  # Unpacking skips Debian's alternatives: the BLAS and LAPACK links by hand.
  lib="$sysroot/usr/lib/aarch64-linux-gnu"
  ln -sf openblas-pthread/libblas.so.3 "$lib/libblas.so.3"
  ln -sf openblas-pthread/liblapack.so.3 "$lib/liblapack.so.3"
  ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
  rm -rf "$sysroot/.debs"
  touch "$stamp"
else
  step "reusing the arm64 sysroot in $sysroot"
fi
arm_python="$sysroot/usr/bin/python3.11"
py_version="$(qemu-aarch64 -L "$sysroot" "$arm_python" -c \
  'import sys, numpy; print(sys.version.split()[0], numpy.__version__)')"
step "sysroot Python and numpy: $py_version"

# -- Pure-Python test dependencies, from wheels, cached beside the sysroot.
site="$sysroot/.ebgan-test-site"
if [[ ! -d "$site/pytest" ]]; then
  step "unpacking pytest and its dependencies into $site"
  wheels="$(mktemp -d)"
  "$python" -m pip download --quiet --only-binary=:all: --dest "$wheels" \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
    pytest pluggy iniconfig packaging
  mkdir -p "$site"
  "$python" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1])
    for w in sys.argv[2:]]' "$site" "$wheels"/*.whl
  rm -rf "$wheels"
fi

# -- The library with the project's own CMake and toolchain file (so every
#    kernel gets its flags), then the bindings linked against it.
step "cross-building the library in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs" --target ebgan
pkg="$build/pkg/ebgan_edge"
rm -rf "$build/pkg" && mkdir -p "$pkg/models"
suffix=".cpython-311-aarch64-linux-gnu.so"
step "cross-compiling ebgan_edge._core"
aarch64-linux-gnu-g++ -std=c++17 -O2 -shared -fPIC -fvisibility=hidden -pthread \
  -I "$sysroot/usr/include" -I "$sysroot/usr/include/python3.11" \
  -I "$("$python" -c 'import pybind11; print(pybind11.get_include())')" \
  -I "$root/cpp/include" "$root/cpp/bindings/core_module.cpp" "$build/libebgan.a" \
  -o "$pkg/_core$suffix"
cp "$root"/python/ebgan_edge/*.py "$pkg/"
cp "$root"/python/ebgan_edge/*.pyi "$pkg/" 2>/dev/null || true
cp "$root/firmware_models/default.ebgan" "$pkg/models/"
mkdir -p "$pkg/training" && cp "$root"/training/*.py "$pkg/training/"

# sys.executable must start an aarch64 Python too, for the tests that run
# the CLI or a check in a child process: a wrapper that goes through qemu,
# handed to Python as its argv[0] (PYTHONHOME then locates the stdlib).
wrapper="$build/bin/python3"
mkdir -p "$build/bin"
cat >"$wrapper" <<EOF
#!/bin/sh
exec qemu-aarch64 -L "$sysroot" -cpu "\${EBGAN_QEMU_CPU:-max}" -0 "$wrapper" "$arm_python" "\$@"
EOF
chmod +x "$wrapper"
if [[ "${EBGAN_ARM_BUILD_ONLY:-0}" == 1 ]]; then
  step "package assembled in $build/pkg"
  exit 0
fi

export PYTHONHOME="$sysroot/usr"
export PYTHONPATH="$build/pkg:$site:$root/tests"
export PYTHONDONTWRITEBYTECODE=1
# No torch here: TorchScorer and the comparisons with it are deselected (the
# x86-64 run covers them); everything else in the three files runs.
select="not training_file and not TorchScorer and not torch_reference"

# One emulated core per CPU model, both at once: qemu-user runs a guest on
# one host thread, so the two runs take the time of one on two cores.
run_on() {
  local cpu="$1"
  export EBGAN_QEMU_CPU="$cpu"
  "$wrapper" -c 'import ebgan_edge, platform
print(platform.machine(), "fp32 kernels:", ebgan_edge.available_kernels(),
      "int8 kernels:", ebgan_edge.available_kernels("int8"),
      "auto:", ebgan_edge.Scorer.load().kernel)' &&
    (cd "$root" && "$wrapper" -m pytest -q -p no:cacheprovider -m "not slow" \
      tests/test_features.py tests/test_model_file.py tests/test_scoring_api.py -k "$select")
}
step "Python tests under qemu-aarch64 -cpu cortex-a53 and -cpu max"
cpus=(cortex-a53 max)
pids=()
for cpu in "${cpus[@]}"; do
  run_on "$cpu" >"$build/tests-$cpu.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!cpus[@]}"; do
  cpu="${cpus[$i]}"
  echo "-- qemu-aarch64 -cpu $cpu"
  if wait "${pids[$i]}"; then
    grep -E "kernels:|passed|failed" "$build/tests-$cpu.log"
  else
    tail -n 60 "$build/tests-$cpu.log"
    echo "FAILED: Python tests under qemu-aarch64 -cpu $cpu" >&2
    status=1
  fi
done
unset PYTHONHOME
step "done"
exit "$status"
