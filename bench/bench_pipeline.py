"""Records/s of whole scoring pipelines on a large NSL-KDD file, end to end.

``compare`` times ``ebgan-edge score --format scores`` against the pipeline a
user would write by hand: pandas.read_csv, one-hot and min-max encoding
(scikit-learn's OneHotEncoder and MinMaxScaler, or pandas/numpy without it)
and a torch nn.Module holding the model's weights. Both first score the file's
first 1,000 records and must agree within 1e-5 relative.

``agent`` times the example agent (examples/gateway_agent/) in pipe mode and
in socket mode (two clients on 127.0.0.1) at several batch sizes.

Every contender runs as its own process, timed from start to exit, so
interpreter start, imports and model loading count, as they do for a user.
Contenders run once per round in a new random order each round, so that load
from elsewhere on a shared machine spreads over all of them; medians and p10
over rounds are reported.

    python bench/bench_pipeline.py compare --rounds 7
    python bench/bench_pipeline.py agent --rounds 5

The large file is the NSL-KDD training file repeated (8 times: 201,536
records) and is written outside the repository, in /tmp by default.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# The example agent is a package run with ``python -m gateway_agent`` from here.
EXAMPLES = REPO / "examples"
TRAINING_FILE = (
    REPO.parent / "shared" / "datasets" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
)
DEFAULT_DATA = Path(tempfile.gettempdir()) / "ebgan-edge-bench" / "nsl-kdd-x8.csv"
VERIFY_ROWS = 1000
# The bound the compiled kernels keep against the scalar kernel and torch
# (kFp32RelativeBound in cpp/include/ebgan/kernel.h): relative, with a floor
# for near-zero scores, where float32 sums taken in another order differ by a
# few 1e-10 and a purely relative bound would fail on well-reconstructed
# normal records.
RELATIVE_TOLERANCE = 1e-5
ABSOLUTE_FLOOR = 1e-9
HAND_BLOCK_ROWS = 4096  # torch scores the file in blocks, like the CLI


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data ---------------------------------------------------------------------


def big_file(path: Path, source: Path, repeats: int) -> Path:
    """The training file repeated, written once and reused."""
    if REPO in path.resolve().parents:
        raise SystemExit(
            f"{path}: dataset rows are never written inside the repository"
        )
    if path.is_file():
        return path
    if not source.is_file():
        raise SystemExit(f"the NSL-KDD training file is not at {source} (--source)")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = source.read_bytes()
    if not text.endswith(b"\n"):
        text += b"\n"
    with open(path, "wb") as f:
        for _ in range(repeats):
            f.write(text)
    log(f"wrote {path}: {source.name} repeated {repeats} times")
    return path


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def head_file(path: Path, rows: int, out: Path) -> Path:
    with open(path, "rb") as f:
        out.write_bytes(b"".join(f.readline() for _ in range(rows)))
    return out


# -- the hand-written pipeline ------------------------------------------------


def hand_pipeline(
    data: str, model_path: str | None, encoder: str, torch_threads: int, out
) -> None:
    """Score a file the way a user without ebgan-edge's parser would."""
    import pandas as pd
    import torch

    from ebgan_edge.features import (
        FLAGS,
        NUMERIC_FEATURES,
        PROTOCOL_TYPES,
        RAW_FIELD_NAMES,
        SERVICES,
    )
    from ebgan_edge.model_file import LEAKY_SLOPE, read_model

    torch.set_num_threads(torch_threads)
    model = read_model(model_path)
    frame = pd.read_csv(data, header=None)
    numeric = frame[[RAW_FIELD_NAMES.index(n) for n in NUMERIC_FEATURES]]
    categorical = frame[[1, 2, 3]].astype(str)
    vocabulary = [list(PROTOCOL_TYPES), list(SERVICES), list(FLAGS)]
    low, high = model.normalization.minimum, model.normalization.maximum
    encode = _encode_sklearn if encoder == "sklearn" else _encode_pandas
    blocks = encode(numeric.to_numpy(np.float64), categorical, vocabulary, low, high)
    x = np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)

    layers = []
    for weight, layer in zip(model.dequantized_weights(), model.layers):
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        linear.weight.data = torch.from_numpy(np.array(weight, np.float32))
        linear.bias.data = torch.from_numpy(np.array(layer["bias"], np.float32))
        layers.append(linear)
        if layer["leaky_relu"]:
            layers.append(torch.nn.LeakyReLU(LEAKY_SLOPE))
    network = torch.nn.Sequential(*layers).eval()

    with torch.inference_mode():
        for start in range(0, len(x), HAND_BLOCK_ROWS):
            batch = torch.from_numpy(x[start : start + HAND_BLOCK_ROWS])
            scores = ((network(batch) - batch) ** 2).mean(dim=1)
            np.savetxt(out, scores.numpy(), fmt="%.9g")


def _encode_sklearn(numeric, categorical, vocabulary, low, high) -> list:
    """MinMaxScaler (clipped) and OneHotEncoder with the fixed vocabulary."""
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

    # Fitting on the two rows [minimum; maximum] gives the model's statistics.
    scaler = MinMaxScaler(clip=True).fit(np.vstack([low, high]).astype(np.float64))
    encoder = OneHotEncoder(
        categories=vocabulary, handle_unknown="ignore", sparse_output=False
    )
    return [scaler.transform(numeric), encoder.fit_transform(categorical)]


def _encode_pandas(numeric, categorical, vocabulary, low, high) -> list:
    """numpy min-max (clipped) and pandas get_dummies over fixed categories."""
    import pandas as pd

    low, high = low.astype(np.float64), high.astype(np.float64)
    span = np.where(high > low, high - low, 1.0)
    blocks = [np.clip((numeric - low) / span, 0.0, 1.0)]
    for column, categories in zip(categorical.columns, vocabulary):
        values = pd.Categorical(categorical[column], categories=categories)
        blocks.append(pd.get_dummies(values, dtype=np.float32).to_numpy())
    return blocks


# -- running contenders -------------------------------------------------------


def python_env() -> dict:
    """The environment for child processes: ebgan-edge as this interpreter
    finds it (installed, or on PYTHONPATH), else the package in place; and
    the examples folder, for the agent."""
    env = dict(os.environ)
    paths = [str(EXAMPLES)]
    if importlib.util.find_spec("ebgan_edge") is None:
        paths.append(str(REPO / "python"))
    # Children run in a temporary directory: relative entries must not move.
    inherited = env.get("PYTHONPATH", "").split(os.pathsep)
    paths += [os.path.abspath(p) for p in inherited if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def compare_commands(data: Path, model: str | None, torch_threads: int) -> dict:
    model_args = ["--model", model] if model else []
    cli = [sys.executable, "-m", "ebgan_edge.cli", "score", *model_args]
    cli += ["--input", str(data), "--format", "scores"]
    hand = [sys.executable, str(Path(__file__).resolve()), "hand", "--data", str(data)]
    hand += [*model_args, "--torch-threads", str(torch_threads)]
    return {
        "ebgan-edge score": cli,
        "pandas+sklearn+torch": [*hand, "--encoder", "sklearn"],
        "pandas+numpy+torch": [*hand, "--encoder", "pandas"],
    }


def timed(command: list, stdout=subprocess.DEVNULL, stdin=None) -> tuple[float, str]:
    """Wall time of a process from start to exit, and its stderr."""
    start = time.perf_counter()
    done = subprocess.run(
        command,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=python_env(),
        cwd=tempfile.gettempdir(),  # never the package source directory
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()}")
    return elapsed, done.stderr.decode()


def verify(data: Path, model: str | None, torch_threads: int) -> dict:
    """Both pipelines on the first records, held to the kernels' fp32 bound."""
    with tempfile.TemporaryDirectory() as tmp:
        head = head_file(data, VERIFY_ROWS, Path(tmp) / "head.csv")
        scores = {}
        for name, command in compare_commands(head, model, torch_threads).items():
            out = subprocess.run(
                command, capture_output=True, env=python_env(), check=True
            ).stdout
            scores[name] = np.array(out.split(), dtype=np.float64)
    ours = scores.pop("ebgan-edge score")
    return {name: _agreement(ours, theirs, name) for name, theirs in scores.items()}


def _agreement(ours: np.ndarray, theirs: np.ndarray, name: str) -> dict:
    if len(ours) != VERIFY_ROWS or len(theirs) != VERIFY_ROWS:
        raise SystemExit(
            f"expected {VERIFY_ROWS} scores, got {len(ours)}, {len(theirs)}"
        )
    difference = np.abs(ours - theirs)
    allowed = RELATIVE_TOLERANCE * np.abs(theirs) + ABSOLUTE_FLOOR
    if np.any(difference > allowed):
        worst = int(np.argmax(difference - allowed))
        raise SystemExit(
            f"ebgan-edge score and {name} disagree at record {worst + 1}: "
            f"{ours[worst]:.9g} against {theirs[worst]:.9g}"
        )
    relative = difference / np.maximum(np.abs(theirs), 1e-30)
    return {
        "rows": VERIFY_ROWS,
        "bound": f"{RELATIVE_TOLERANCE:g} * score + {ABSOLUTE_FLOOR:g}",
        "max_relative_difference": float(relative.max()),
        "max_absolute_difference": float(difference.max()),
        "rows_beyond_relative_bound_alone": int(
            np.sum(difference > RELATIVE_TOLERANCE * np.abs(theirs))
        ),
    }


# The hand-written pipelines compute in fp32, so they are compared with the
# fp32 original of the shipped (int8) model unless another model is given.
FP32_MODEL = REPO / "firmware_models" / "ids-ebgan-dos-fp32.ebgan"


def run_compare(args, data: Path, records: int) -> dict:
    from ebgan_edge.model_file import read_model

    args.model = args.model or str(FP32_MODEL)
    if read_model(args.model).precision == "int8":
        raise SystemExit(
            f"{args.model} is int8; the hand-written pipelines compute in fp32, so "
            "compare needs an fp32 or fp16 model"
        )
    check = verify(data, args.model, args.torch_threads)
    log(f"verified: {json.dumps(check)}")
    commands = compare_commands(data, args.model, args.torch_threads)
    samples = {name: [] for name in commands}
    for round_ in range(args.rounds):
        for name in random.sample(list(commands), len(commands)):
            elapsed, _ = timed(commands[name])
            samples[name].append(records / elapsed)
            log(f"round {round_ + 1}: {name}: {records / elapsed:,.0f} records/s")
    results = {name: summarize(values) for name, values in samples.items()}
    ours = np.array(samples["ebgan-edge score"])
    # Ratios taken within a round compare runs made minutes apart at most,
    # so they drift less with the machine's load than ratios of medians.
    ratios = {
        f"ebgan-edge score / {name}": summarize((ours / np.array(values)).tolist())
        for name, values in samples.items()
        if name != "ebgan-edge score"
    }
    return {
        "torch_threads": args.torch_threads,
        "verification": check,
        "records_per_s": results,
        "ratio_per_round": ratios,
    }


def agent_pipe(data: Path, batch: int, model: str | None) -> dict:
    command = agent_command(batch, model)
    with open(data, "rb") as stdin:
        _, stderr = timed(command, stdin=stdin)
    return final_summary(stderr)


def agent_socket(data: Path, batch: int, model: str | None, clients: int = 2) -> dict:
    """The agent's final summary after ``clients`` concurrent TCP clients."""
    command = agent_command(batch, model, "--listen", "127.0.0.1:0")
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=python_env(),
        cwd=tempfile.gettempdir(),
    )
    try:
        port = None
        for line in process.stderr:
            match = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise SystemExit("the agent did not start listening")
        text = data.read_bytes()
        cut = text.index(b"\n", len(text) // clients) + 1 if clients == 2 else None
        pieces = [text[:cut], text[cut:]] if cut else [text]
        senders = [threading.Thread(target=_send, args=(port, p)) for p in pieces]
        for sender in senders:
            sender.start()
        lines = []
        for line in process.stderr:
            lines.append(line)
            if sum(b"disconnected" in seen for seen in lines) == len(pieces):
                break
        for sender in senders:
            sender.join()
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return final_summary((b"".join(lines) + rest).decode())


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(data)


def agent_command(batch: int, model: str | None, *options: str) -> list:
    command = [sys.executable, "-m", "gateway_agent", "--batch", str(batch)]
    command += ["--max-delay-ms", "10", "--alerts", os.devnull, "--stats-interval", "0"]
    return command + (["--model", model] if model else []) + list(options)


def final_summary(stderr: str) -> dict:
    match = re.search(r"gateway_agent: final (\{.*\})", stderr)
    if not match:
        raise SystemExit(f"no final summary from the agent:\n{stderr}")
    return json.loads(match.group(1))


def run_agent(args, data: Path, records: int) -> dict:
    """Records/s from the first record read to the last scored, as the agent
    reports it, and the worst read-to-alert latency of a record."""
    cells = [(mode, batch) for mode in ("pipe", "socket") for batch in args.batches]
    rates = {cell: [] for cell in cells}
    latencies = {cell: [] for cell in cells}
    for round_ in range(args.rounds):
        for mode, batch in random.sample(cells, len(cells)):
            run = agent_pipe if mode == "pipe" else agent_socket
            summary = run(data, batch, args.model)
            if summary["records"] != records:
                raise SystemExit(f"the agent scored {summary['records']} of {records}")
            rates[(mode, batch)].append(summary["records_per_s"])
            latencies[(mode, batch)].append(summary["max_latency_ms"])
            log(
                f"round {round_ + 1}: {mode}, batch {batch}: "
                f"{summary['records_per_s']:,.0f} records/s, "
                f"max latency {summary['max_latency_ms']:.0f} ms"
            )
    return {
        "max_delay_ms": 10,
        "records_per_s": {
            f"{mode}, batch {batch}": summarize(values)
            for (mode, batch), values in rates.items()
        },
        "max_latency_ms": {
            f"{mode}, batch {batch}": summarize(values)
            for (mode, batch), values in latencies.items()
        },
    }


def summarize(values: list) -> dict:
    return {
        "median": float(np.median(values)),
        "p10": float(np.percentile(values, 10)),
        "samples": [round(v, 3) for v in values],
    }


def host() -> dict:
    if importlib.util.find_spec("ebgan_edge") is None:
        sys.path.insert(0, str(REPO / "python"))
    import ebgan_edge

    return {
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "kernel": ebgan_edge.Scorer.load().kernel,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("compare", "agent", "hand"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--source", type=Path, default=TRAINING_FILE)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument(
        "--model",
        help="model file (default: the shipped model; for compare, its fp32 original)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads of the hand-written pipeline (default 1, as the CLI)",
    )
    parser.add_argument("--encoder", choices=("sklearn", "pandas"), default="sklearn")
    args = parser.parse_args(argv)

    if args.what == "hand":  # one timed run of the hand-written pipeline
        hand_pipeline(
            str(args.data),
            args.model,
            args.encoder,
            args.torch_threads,
            sys.stdout.buffer,
        )
        return 0
    data = big_file(args.data, args.source, args.repeats)
    records = count_lines(data)
    run = run_compare if args.what == "compare" else run_agent
    result = {"what": args.what, "data": str(data), "records": records}
    result.update(run(args, data, records))
    result["host"] = host()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
