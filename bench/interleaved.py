"""Interleaved latency benchmark of every backend, written to JSON.

pytest-benchmark times one benchmark after another, so a burst of load from
elsewhere on the machine lands on whichever backend happens to run then. This
runner removes that bias: for each (batch size, threads) cell it builds every
backend, checks its scores against the torch reference, then runs rounds in
which each backend makes one short burst of calls, in a new random order each
round, until the cell's time is spent. Every call is timed on its own, so
each backend's samples are spread over the same minutes and comparable.

Two more cells measure 16-row batches while another process keeps one core
busy: a runtime whose worker threads spin-wait for each other collapses
there, one that starts threads only for large batches does not.

The record cells time the step before: from parsed records to scores.
ebgan-edge's ``score_records`` (record kernels, no dense encoding) runs
interleaved with ``encode()`` + ``score()`` on the same scorer (the dense
path) and with ``encode()`` + other runtimes, and each cell records the
ratio of score_records' time to the dense path's, round by round.

    PYTHONPATH=python python bench/interleaved.py --out build/bench/interleaved.json
    PYTHONPATH=python python bench/interleaved.py --only records \
        --out build/bench/records.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backends as bk
import workload as wl
from machine import machine_info

# Backends measured with a busy core: torch (OpenMP workers), ONNX Runtime
# (spinning intra-op pool) and ebgan-edge's fp32 and int8 models (threads
# started per large call). The fp16 model runs the fp32 kernels, so it adds
# nothing there.
CONTENDED_BACKENDS = ("torch-eager", "onnxruntime-fp32")
CONTENDED_PRECISIONS = ("fp32", "int8")
CONTENDED_ROWS = 16
WORKLOADS = ("encoded", "records")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summarize(samples_ns: list[int], rows: int) -> dict:
    """Median, p10 and spread of per-call times, in microseconds."""
    us = np.asarray(samples_ns, np.float64) / 1e3
    p10, p25, p50, p75, p90 = np.percentile(us, [10, 25, 50, 75, 90])
    return {
        "calls": len(us),
        "median_us": p50,
        "p10_us": p10,
        "p25_us": p25,
        "p75_us": p75,
        "p90_us": p90,
        "min_us": float(us.min()),
        "mean_us": float(us.mean()),
        "rows_per_s": rows / (p50 * 1e-6),
        "rows_per_s_p10": rows / (p10 * 1e-6),
    }


def calibrate(backend: bk.Backend, batch: np.ndarray, burst_s: float) -> int:
    """Warm the backend up and choose its burst length: calls per burst_s."""
    start = time.perf_counter()
    calls = 0
    while calls < 5 or time.perf_counter() - start < 0.05:
        backend.run(batch)
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    return int(min(1000, max(1, round(burst_s / per_call))))


def run_cell(
    backends: list[bk.Backend],
    batch,
    seconds: float,
    burst_s: float,
    min_rounds: int,
    rng: random.Random,
) -> tuple[dict, dict, int]:
    """Round-robin the backends over one batch (encoded or parsed records).

    Returns the per-call nanoseconds by name, the median of each round's
    burst by name (for ratios taken within a round) and the round count.
    """
    bursts = {b.name: calibrate(b, batch, burst_s) for b in backends}
    samples: dict[str, list[int]] = {b.name: [] for b in backends}
    burst_medians: dict[str, list[float]] = {b.name: [] for b in backends}
    clock = time.perf_counter_ns
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < min_rounds or time.perf_counter() < deadline:
        order = list(backends)
        rng.shuffle(order)
        for backend in order:
            run, out = backend.run, samples[backend.name]
            first = len(out)
            for _ in range(bursts[backend.name]):
                t0 = clock()
                run(batch)
                out.append(clock() - t0)
            burst_medians[backend.name].append(float(np.median(out[first:])))
        rounds += 1
    return samples, burst_medians, rounds


def dense_ratios(results: dict, burst_medians: dict) -> dict:
    """Per precision, score_records' time per call over encode+score's.

    ``of_medians`` divides the two medians of the cell; ``per_round`` takes
    the ratio of the two bursts of each round, measured moments apart, and
    summarises those ratios, so that a change of load during the cell
    cancels out. Below 1, score_records is faster.
    """
    out = {}
    for precision in bk.EBGAN_PRECISIONS:
        model = bk.EBGAN_PREFIX + precision
        ours = bk.record_backend_name("score_records", model)
        dense = bk.record_backend_name("encode+score", model)
        if ours not in results or dense not in results:
            continue
        per_round = np.asarray(burst_medians[ours]) / np.asarray(burst_medians[dense])
        p10, p50, p90 = np.percentile(per_round, [10, 50, 90])
        out[precision] = {
            "score_records": ours,
            "dense_path": dense,
            "of_medians": results[ours]["median_us"] / results[dense]["median_us"],
            "of_p10": results[ours]["p10_us"] / results[dense]["p10_us"],
            "per_round": {
                "median": p50,
                "p10": p10,
                "p90": p90,
                "rounds": len(per_round),
            },
        }
    return out


@contextmanager
def busy_core():
    """A process that spins on one core for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let the scheduler place it
        yield spinner.pid
    finally:
        spinner.terminate()
        spinner.wait(timeout=10)


def measure(
    factory: bk.BackendFactory,
    names: list[str],
    rows: int,
    threads: int,
    args,
    rng: random.Random,
    built: dict,
    skipped: dict,
    condition: str,
    workload: str = "encoded",
) -> dict | None:
    """One cell: build and check the backends, then time them interleaved;
    None when no backend could run."""
    bk.apply_threads(threads)
    backends = []
    for name in names:
        key = (name, threads)
        if key not in built:
            try:
                built[key] = factory.build(name, threads)
            except bk.Unavailable as e:
                skipped[name] = str(e)
                built[key] = None
            except bk.WrongScores as e:
                skipped[name] = f"wrong scores, not timed: {e}"
                log(f"  {name}: {e}")
                built[key] = None
            except Exception as e:  # a runtime's own error must not end the run
                skipped[name] = f"{type(e).__name__}: {e}"
                log(f"  {name}: {type(e).__name__}: {e}")
                built[key] = None
        if built[key] is None:
            continue
        try:
            factory.prepare(built[key], rows)
        except Exception as e:  # a runtime's own error must not end the run
            skipped[f"{name} ({rows} rows)"] = f"{type(e).__name__}: {e}"
            log(f"  {name} at {rows} rows: {type(e).__name__}: {e}")
            continue
        backends.append(built[key])
    bk.apply_threads(threads)

    if not backends:
        log(f"  {workload}, {rows} rows, {threads} thread(s): no backend to time")
        return None
    batch = factory.inputs(workload, rows)
    load_before = os.getloadavg()
    started = time.perf_counter()
    samples, burst_medians, rounds = run_cell(
        backends,
        batch,
        args.seconds_per_cell if condition == "as found" else args.contended_seconds,
        args.burst_ms / 1e3,
        args.min_rounds,
        rng,
    )
    cell = {
        "workload": workload,
        "rows": rows,
        "threads": threads,
        "condition": condition,
        "rounds": rounds,
        "seconds": round(time.perf_counter() - started, 2),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "thread_settings": bk.thread_settings(),
        "results": {name: summarize(s, rows) for name, s in samples.items()},
    }
    if workload == "records":
        cell["dense_ratios"] = dense_ratios(cell["results"], burst_medians)
    best = min(cell["results"].items(), key=lambda kv: kv[1]["median_us"])
    log(
        f"  {workload}, {rows:5d} rows, {threads} thread(s), {condition}: "
        f"{rounds} rounds in {cell['seconds']:.0f} s; fastest {best[0]} "
        f"{best[1]['median_us']:.1f} us"
    )
    for precision, ratio in cell.get("dense_ratios", {}).items():
        log(
            f"    {precision}: score_records / encode+score "
            f"{ratio['of_medians']:.2f} (per round {ratio['per_round']['median']:.2f})"
        )
    return cell


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=wl.REPO / "build" / "bench" / "interleaved.json"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model file (default: the fp32 original of the shipped model)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="raw NSL-KDD file for inputs (default: see workload.py)",
    )
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=list(wl.BATCH_SIZES)
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=None,
        help="subset of: "
        + " ".join(bk.backend_names() + bk.record_backend_names())
        + " (a record backend may also be encode+run: and any encoded backend)",
    )
    parser.add_argument(
        "--only",
        choices=WORKLOADS,
        default=None,
        help="run the cells of one workload only: encoded batches (the grid "
        "and the busy-core cells) or parsed records (default: both)",
    )
    parser.add_argument("--seconds-per-cell", type=float, default=30.0)
    parser.add_argument("--contended-seconds", type=float, default=15.0)
    parser.add_argument(
        "--no-contended", action="store_true", help="skip the cells with a busy core"
    )
    parser.add_argument(
        "--burst-ms",
        type=float,
        default=5.0,
        help="length of one backend's burst of calls",
    )
    parser.add_argument("--min-rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    workload = wl.load_workload(
        args.model, args.data, rows=max(args.batch_sizes + [8192])
    )
    factory = bk.BackendFactory(workload, args.batch_sizes)
    names = args.backends or bk.backend_names() + bk.record_backend_names()
    record_names = [n for n in names if bk.parse_record_backend(n)]
    names = [n for n in names if n not in record_names]
    if args.only == "records":
        names = []
    elif args.only == "encoded":
        record_names = []
    rng = random.Random(args.seed)
    built: dict = {}
    skipped: dict[str, str] = {}
    record = {
        "schema": 3,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": machine_info(wl.REPO),
        "model": {
            "file": workload.model_path.name,
            "sha256": wl.sha256_of(workload.model_path),
            "flop_per_row": wl.FLOP_PER_ROW,
        },
        "inputs": workload.source,
        "settings": {
            **{
                k: v for k, v in vars(args).items() if k not in ("out", "model", "data")
            },
            "check_rows": wl.CHECK_ROWS,
        },
        "tolerances": bk.TOLERANCES,
        "cells": [],
    }

    if names:
        log(f"backends: {', '.join(names)}")
    for threads in args.threads if names else ():
        for rows in args.batch_sizes:
            record["cells"].append(
                measure(
                    factory, names, rows, threads, args, rng, built, skipped, "as found"
                )
            )
    if record_names:
        log(f"record backends: {', '.join(record_names)}")
    for threads in args.threads if record_names else ():
        for rows in args.batch_sizes:
            record["cells"].append(
                measure(
                    factory,
                    record_names,
                    rows,
                    threads,
                    args,
                    rng,
                    built,
                    skipped,
                    "as found",
                    workload="records",
                )
            )
    if names and not args.no_contended:
        contended = [
            n
            for n in names
            if n in CONTENDED_BACKENDS
            or (bk.parse_ebgan_backend(n) or ("",))[0] in CONTENDED_PRECISIONS
        ]
        with busy_core():
            for threads in args.threads:
                record["cells"].append(
                    measure(
                        factory,
                        contended,
                        CONTENDED_ROWS,
                        threads,
                        args,
                        rng,
                        built,
                        skipped,
                        "one core busy",
                    )
                )

    record["cells"] = [cell for cell in record["cells"] if cell is not None]
    record["backends"] = {
        name: {
            "precision": b.precision,
            "inputs": b.inputs,
            "reference": b.reference,
            "tolerance": b.tolerance,
            "details": b.details,
        }
        for (name, threads), b in built.items()
        if b is not None
    }
    record["checks"] = factory.errors
    record["skipped"] = skipped
    for name, reason in skipped.items():
        log(f"skipped {name}: {reason}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
