"""What a benchmark ran on: CPU, operating system, package versions, threads."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# The CPU flags that decide which kernels and runtime paths can run.
RELEVANT_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "asimd",
    "asimddp",
)
PACKAGES = (
    "ebgan-edge",
    "torch",
    "numpy",
    "onnx",
    "onnxruntime",
    "executorch",
    "ai-edge-litert",
    "litert-torch",
    "threadpoolctl",
    "pytest-benchmark",
)
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "EBGAN_EDGE_KERNEL",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)


def cpu_info() -> dict:
    """CPU model, logical CPUs usable by this process and the relevant flags."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Hardware") and model in ("unknown", "", "x86_64"):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "logical_cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "flags": [f for f in RELEVANT_FLAGS if f in flags],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def package_versions(extra: dict | None = None) -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out.update(extra or {})
    return out


def exporter_versions() -> dict:
    """Versions in the separate interpreter that writes .tflite files, if any."""
    python = os.environ.get("EBGAN_BENCH_LITERT_PYTHON")
    if not python:
        return {}
    probe = (
        "import importlib.metadata as m, json; print(json.dumps("
        "{p: m.version(p) for p in ('litert-torch', 'ai-edge-quantizer', 'torch')}))"
    )
    try:
        out = subprocess.run(
            [python, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"interpreter": python, "error": "could not query versions"}
    return {"interpreter": python, **json.loads(out)}


def git_commit(repo: Path) -> str | None:
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+local changes" if dirty else "")


def machine_info(repo: Path) -> dict:
    """Everything about the host a reader needs to weigh the figures."""
    import ebgan_edge
    from ebgan_edge import Scorer, available_kernels

    shipped = Scorer.load()
    packages = package_versions()
    packages["ebgan-edge"] = (
        packages["ebgan-edge"] or ebgan_edge.__version__ + " (in place)"
    )
    return {
        "cpu": cpu_info(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": packages,
        "tflite_export": exporter_versions(),
        "ebgan_edge": {
            "kernels": available_kernels(),
            "kernels_by_precision": {
                precision: available_kernels(precision)
                for precision in ("fp32", "fp16", "int8")
            },
            # The kernel the shipped model gets on its own, and that model's
            # precision (it is not always fp32).
            "auto_kernel": shipped.kernel,
            "auto_kernel_precision": shipped.precision,
            "commit": git_commit(repo),
        },
        "thread_environment": {k: os.environ.get(k) for k in THREAD_ENV},
    }
