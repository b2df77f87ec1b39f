"""Instruction counts of a fixed scoring run, for regression checks in CI.

Wall-clock times on a shared machine move by tens of percent from run to
run; the number of instructions a kernel executes does not. This script
builds the C-API drivers ``ebgan_score_fixed`` (cpp/bench/score_fixed.c, the
fp32 model) and ``ebgan_score_fixed_int8`` (cpp/bench/score_fixed_int8.cpp,
an int8 copy of it made in the driver as ``ebgan-edge convert --precision
int8`` makes it), runs each under ``valgrind --tool=callgrind`` once per
kernel on 64 generated rows, counting only inside ``ebgan_score``, and
compares the counts with bench/callgrind_baseline.json::

    python bench/callgrind.py            # fails if a count rose > margin
    python bench/callgrind.py --update   # rewrites the baseline

A kernel is recorded only if valgrind runs it and its scores match a native
run bit for bit. Valgrind's virtual CPU does not offer every instruction set
(3.19 has no AVX-512 at all), so such kernels are skipped with the reason
printed. Counts depend on the compiler: the baseline names the one it was
made with, and a different one is reported before the comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("callgrind_baseline.json")
MODEL = REPO / "firmware_models" / "ids-ebgan-dos-fp32.ebgan"
KERNELS = ("scalar", "avx2_fma", "avx512", "avx512_vnni", "neon", "neon_dotprod")
# The driver of each precision counted; both score the same generated rows.
DRIVERS = {"fp32": "ebgan_score_fixed", "int8": "ebgan_score_fixed_int8"}
ROWS = 64
# Exit status of the driver for a kernel that cannot run on this CPU.
UNSUPPORTED = 3


def build(build_dir: Path) -> dict[str, Path]:
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run(
            [
                "cmake",
                "-S",
                str(REPO),
                "-B",
                str(build_dir),
                "-DEBGAN_BUILD_BENCH=ON",
                "-DCMAKE_BUILD_TYPE=Release",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", *DRIVERS.values()],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {
        precision: build_dir / "cpp" / "bench" / target
        for precision, target in DRIVERS.items()
    }


def compiler(build_dir: Path) -> str:
    cache = (build_dir / "CMakeCache.txt").read_text()
    match = re.search(r"^CMAKE_CXX_COMPILER:\w+=(.+)$", cache, re.M)
    if not match:
        return "unknown"
    out = subprocess.run([match.group(1), "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.returncode == 0 else match.group(1)


def count(
    driver: Path, precision: str, kernel: str, model: Path, rows: int
) -> tuple[int | None, str]:
    """(instructions, "") for a kernel valgrind runs correctly, else (None, reason)."""
    native = subprocess.run(
        [str(driver), str(model), kernel, str(rows)], capture_output=True, text=True
    )
    if native.returncode == UNSUPPORTED:
        return None, "not usable on this CPU or not built: " + native.stderr.strip()
    if native.returncode != 0:
        return None, "the driver failed natively: " + native.stderr.strip()
    if not native.stdout.startswith(f"kernel {kernel} "):
        return None, (
            f"runs other code for {precision} models ({native.stdout.split()[1]})"
        )

    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "callgrind.out"
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_file}",
                "--collect-atstart=no",
                "--toggle-collect=ebgan_score",
                str(driver),
                str(model),
                kernel,
                str(rows),
            ],
            capture_output=True,
            text=True,
        )
        if run.returncode == UNSUPPORTED:
            return None, (
                "valgrind's virtual CPU does not offer the instructions "
                "(the kernel's CPU check refuses it under valgrind)"
            )
        if run.returncode != 0 or "unhandled instruction" in run.stderr:
            lines = [line for line in run.stderr.splitlines() if "unhandled" in line]
            return None, "valgrind cannot execute it: " + (
                lines[0] if lines else f"exit status {run.returncode}"
            )
        if run.stdout != native.stdout:
            return None, (
                f"scores differ under valgrind: {run.stdout.strip()!r} "
                f"vs native {native.stdout.strip()!r}"
            )
        text = out_file.read_text()
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not match:
        return None, "no instruction total in the callgrind output"
    return int(match.group(1)), ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="allowed relative rise (default: the baseline's, else 0.03)",
    )
    parser.add_argument("--update", action="store_true", help="rewrite the baseline")
    args = parser.parse_args(argv)

    if shutil.which("valgrind") is None:
        print("valgrind is not installed; nothing to check", file=sys.stderr)
        return 1
    valgrind = subprocess.run(
        ["valgrind", "--version"], capture_output=True, text=True
    ).stdout.strip()
    drivers = build(args.build_dir)
    cxx = compiler(args.build_dir)
    baseline = json.loads(args.baseline.read_text()) if args.baseline.exists() else None
    margin = (
        args.margin if args.margin is not None else (baseline or {}).get("margin", 0.03)
    )

    counts: dict[str, dict[str, int]] = {p: {} for p in DRIVERS}
    skipped: dict[str, dict[str, str]] = {p: {} for p in DRIVERS}
    for precision, driver in drivers.items():
        for kernel in KERNELS:
            n, reason = count(driver, precision, kernel, MODEL, ROWS)
            if n is None:
                skipped[precision][kernel] = reason
                print(f"{precision} {kernel:13s} skipped: {reason}")
            else:
                counts[precision][kernel] = n
    if args.update:
        record = {
            "rows": ROWS,
            "model": MODEL.name,
            "int8_model": "quantised from the model by ebgan_score_fixed_int8",
            "counted": "ebgan_score",
            "margin": margin,
            "valgrind": valgrind,
            "compiler": cxx,
            "instructions": counts,
            "skipped": skipped,
        }
        args.baseline.write_text(json.dumps(record, indent=2) + "\n")
        for precision, by_kernel in counts.items():
            for kernel, n in by_kernel.items():
                print(
                    f"{precision} {kernel:13s} {n:>13,} instructions "
                    f"({n / ROWS:,.0f} per row)"
                )
        print(f"wrote {args.baseline}")
        return 0

    if baseline is None:
        print(f"no baseline at {args.baseline}; run with --update", file=sys.stderr)
        return 1
    if baseline.get("compiler") != cxx or baseline.get("valgrind") != valgrind:
        print(
            f"note: baseline made with {baseline.get('compiler')} / "
            f"{baseline.get('valgrind')}, this run uses {cxx} / {valgrind}"
        )
    expected = baseline["instructions"]
    if all(isinstance(n, int) for n in expected.values()):
        expected = {"fp32": expected}  # a baseline from before int8 was counted
    failed = []
    for precision, by_kernel in counts.items():
        for kernel, n in by_kernel.items():
            label = f"{precision} {kernel:13s}"
            base = expected.get(precision, {}).get(kernel)
            if base is None:
                print(f"{label} {n:>13,} instructions (no baseline; run --update)")
                continue
            change = n / base - 1
            verdict = "FAIL" if change > margin else "ok"
            print(
                f"{label} {n:>13,} instructions, baseline {base:>13,} "
                f"({change:+.2%}) {verdict}"
            )
            if change > margin:
                failed.append(f"{precision} {kernel}")
    for precision, by_kernel in expected.items():
        for kernel in by_kernel:
            if kernel not in counts.get(precision, {}):
                reason = skipped.get(precision, {}).get(kernel, "not run")
                print(
                    f"{precision} {kernel:13s} in the baseline but not measured "
                    f"here ({reason})"
                )
    if failed:
        print(
            f"instruction count rose by more than {margin:.0%} for: "
            f"{', '.join(failed)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
