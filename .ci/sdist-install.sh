#!/usr/bin/env bash
# Installing on a gateway without a network:
#   1. the sdist is built, and a wheelhouse of the build and test
#      requirements is downloaded (the only step that uses a registry);
#   2. the sdist is installed into a fresh virtual environment with
#      pip --no-index, inside a network namespace that has no network at all
#      (unshare -n), and a set of tests runs against the installed package;
#   3. an aarch64 wheel is assembled from the cross-compiled extension
#      (.ci/arm-python.sh builds it), installed for aarch64 by pip into a
#      folder, and imported and used under qemu-aarch64 with the sysroot's
#      Python.
#
#   .ci/sdist-install.sh [OUT_DIR]        (default: build/sdist-install)
#   EBGAN_ARM_BUILD=build/arm-python      reuse the package arm-python.sh built
set -euo pipefail
unset PYTHONPATH  # the installed package, never a source tree, is under test

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "${1:-$root/build/sdist-install}")"
python="${PYTHON:-python3}"
start=$SECONDS

step() { echo "== sdist-install: $* ($((SECONDS - start)) s)"; }

arm_reuse="${EBGAN_ARM_BUILD:+$(realpath -m "$EBGAN_ARM_BUILD")}"
rm -rf "$out" && mkdir -p "$out"
# Python runs from $out: in the source tree, build/ would shadow the module.
cd "$out"
"$python" -m build --version >/dev/null 2>&1 || "$python" -m pip install --quiet build

# -- 1. sdist and wheelhouse
step "building the sdist"
"$python" -m build --sdist --outdir "$out/dist" "$root" >"$out/sdist.log" 2>&1 ||
  { cat "$out/sdist.log"; exit 1; }
sdist="$(ls "$out"/dist/ebgan_edge-*.tar.gz)"
step "sdist: $(basename "$sdist"), $(du -h "$sdist" | cut -f1)"
step "downloading the wheelhouse (build and test requirements)"
"$python" -m pip download --quiet --only-binary=:all: --dest "$out/wheelhouse" \
  "scikit-build-core>=0.10" "pybind11>=2.12" "numpy>=1.22" pytest cmake ninja
find "$out/wheelhouse" -name '*.whl' -printf '  %f\n' | sort

# -- 2. offline install into a fresh environment, then tests
offline=()
if unshare -n true 2>/dev/null; then
  offline=(unshare -n)
  step "installing offline: pip --no-index inside a network namespace without network"
else
  step "installing with pip --no-index (unshare -n is not permitted here)"
fi
"$python" -m venv "$out/venv"
venv_python="$out/venv/bin/python"
"${offline[@]}" env PIP_NO_INDEX=1 PIP_FIND_LINKS="$out/wheelhouse" \
  "$venv_python" -m pip install --quiet --no-cache-dir "$sdist" pytest \
  >"$out/install.log" 2>&1 || { tail -n 60 "$out/install.log"; exit 1; }
installed="$("$venv_python" -c 'import ebgan_edge
print(ebgan_edge.__file__, ebgan_edge.available_kernels())')"
step "installed: $installed"
case "$installed" in "$out/venv/"*) ;; *) echo "not the installed copy" >&2; exit 1 ;; esac

step "tests against the installed package (no torch: its cases are deselected)"
# From outside the source tree, so that python/ebgan_edge cannot shadow the
# installed package; tests/ supplies only the test files and their data.
("${offline[@]}" "$venv_python" -m pytest -q -p no:cacheprovider \
  --rootdir "$root" -c "$root/pyproject.toml" -m "not slow" \
  "$root/tests/test_features.py" "$root/tests/test_model_file.py" \
  "$root/tests/test_bad_inputs.py" "$root/tests/test_cli.py" \
  "$root/tests/test_scoring_api.py" \
  -k "not training_file and not TorchScorer and not torch_reference")
"$out/venv/bin/ebgan-edge" score --input "$root/examples/records.csv" --format scores | head -3

# -- 3. the aarch64 wheel, from the package .ci/arm-python.sh assembled when
#       EBGAN_ARM_BUILD names its build folder, otherwise built here.
if [[ -n "$arm_reuse" && -f "$arm_reuse/pkg/ebgan_edge/__init__.py" ]]; then
  arm_build="$arm_reuse"
  step "reusing the aarch64 package in $arm_build/pkg"
else
  arm_build="$out/arm"
  step "cross-building the aarch64 package"
  EBGAN_ARM_BUILD_ONLY=1 "$root/.ci/arm-python.sh" "$arm_build" >"$out/arm.log" 2>&1 ||
    { tail -n 40 "$out/arm.log"; exit 1; }
fi
sysroot="${EBGAN_ARM_SYSROOT:-/tmp/ebgan-arm-sysroot}"
step "assembling the aarch64 wheel"
wheel="$("$python" - "$root" "$arm_build/pkg" "$out/dist" <<'EOF'
"""An aarch64 wheel of the cross-built package tree: the files the
scikit-build-core wheel holds, with metadata from pyproject.toml."""
import base64, hashlib, sys, tomllib, zipfile
from pathlib import Path

root, tree, dest = (Path(a) for a in sys.argv[1:])
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
name, version = project["name"].replace("-", "_"), project["version"]
tag = "cp311-cp311-linux_aarch64"  # Debian 12's glibc 2.36; not audited
info = f"{name}-{version}.dist-info"
metadata = [
    "Metadata-Version: 2.1",
    f"Name: {project['name']}",
    f"Version: {version}",
    f"Summary: {project['description']}",
    f"Requires-Python: {project['requires-python']}",
    *(f"Requires-Dist: {d}" for d in project["dependencies"]),
]
scripts = "".join(f"{k} = {v}\n" for k, v in project["scripts"].items())
files = {
    f"ebgan_edge/{p.relative_to(tree / 'ebgan_edge')}": p.read_bytes()
    for p in sorted((tree / "ebgan_edge").rglob("*"))
    if p.is_file() and "__pycache__" not in p.parts
}
files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
files[f"{info}/WHEEL"] = (
    f"Wheel-Version: 1.0\nGenerator: ebgan-edge CI\nRoot-Is-Purelib: false\nTag: {tag}\n"
).encode()
files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()

def digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

record = "".join(f"{n},{digest(d)},{len(d)}\n" for n, d in files.items())
files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
path = dest / f"{name}-{version}-{tag}.whl"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for n, d in files.items():
        z.writestr(n, d)
print(path)
EOF
)"
step "wheel: $(basename "$wheel"), $(du -h "$wheel" | cut -f1)"
target="$out/arm-site"
"$python" -m pip install --quiet --no-index --no-deps --target "$target" \
  --platform linux_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
  --only-binary=:all: "$wheel"
step "importing the installed aarch64 wheel under qemu-aarch64"
PYTHONPATH="$target" qemu-aarch64 -L "$sysroot" -cpu cortex-a53 \
  "$sysroot/usr/bin/python3.11" -c '
import ebgan_edge, numpy, platform
scorer = ebgan_edge.Scorer.load()
scores = scorer.score(numpy.zeros((4, ebgan_edge.N_FEATURES), numpy.float32))
print(platform.machine(), ebgan_edge.__file__, scorer.kernel, scores.shape)'
step "done"
