"""The ``ebgan-edge`` command line.

Scoring commands need numpy only. ``train``, ``evaluate`` and ``export`` come
from :mod:`ebgan_edge.training.commands` and import torch when they run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter

import numpy as np

from . import __version__
from .features import RecordError, encode, parse_text, read_records
from .model_file import ModelFileError, read_model
from .scorer import Scorer, available_kernels

_BATCH_ROWS = 4096


def _blocks(stream, rows: int):
    """(first line number, lines) of consecutive blocks of a byte stream."""
    lines, first = [], 1
    for line in stream:
        lines.append(line)
        if len(lines) == rows:
            yield first, lines
            first += len(lines)
            lines = []
    if lines:
        yield first, lines


def _parse_block(first: int, lines: list, source: str, skip: bool):
    """Records of a block. Without ``skip`` a bad record raises RecordError;
    with it, the record is left out and reported on stderr."""
    on_error = "skip" if skip else "raise"
    records = parse_text(b"".join(lines), source, first, on_error=on_error)
    for error in records.skipped:
        print(f"ebgan-edge score: skipped {error}", file=sys.stderr)
    return records


class _Progress:
    """A one-line progress report on a terminal, for files of known size."""

    def __init__(self, path: str | None):
        self.total = os.path.getsize(path) if path and sys.stderr.isatty() else 0
        self.done = 0

    def advance(self, lines: list, records: int) -> None:
        if self.total:
            self.done += sum(len(line) for line in lines)
            percent = 100 * self.done / self.total
            message = f"\rscored {records:,} records ({percent:.0f}%)"
            print(message, end="", file=sys.stderr)

    def close(self) -> None:
        if self.total:
            print(file=sys.stderr)


def _score_command(args) -> int:
    scorer = Scorer.load(args.model, kernel=args.kernel, threads=args.threads)
    threshold = np.float32(scorer.threshold)
    model_id = scorer.metadata.get("model_id", "")
    from_stdin = args.input == "-"
    source = "<stdin>" if from_stdin else args.input
    stream = sys.stdin.buffer if from_stdin else open(args.input, "rb")
    progress = _Progress(None if from_stdin else args.input)
    totals = {"records": 0, "skipped": 0, "clipped": Counter(), "unknown": Counter()}
    out = sys.stdout
    try:
        for first, lines in _blocks(stream, _BATCH_ROWS):
            records = _parse_block(first, lines, source, args.on_error == "skip")
            scores, report = scorer.score_records(records, report=True)
            totals["skipped"] += len(report.skipped)
            totals["clipped"].update(report.clipped)
            for field, values in report.unknown.items():
                totals["unknown"][field] += sum(values.values())
            totals["records"] += len(scores)
            _write_scores(out, records.lines, scores, threshold, model_id, args.format)
            progress.advance(lines, totals["records"])
    finally:
        progress.close()
        if not from_stdin:
            stream.close()
    summary = {
        "records": totals["records"],
        "skipped": totals["skipped"],
        "clipped_values": dict(totals["clipped"]),
        "unknown_categories": dict(totals["unknown"]),
    }
    print(f"ebgan-edge score: {json.dumps(summary)}", file=sys.stderr)
    return 0


def _write_scores(out, lines, scores, threshold, model_id, form) -> None:
    if form == "scores":
        out.write("".join(f"{score:.9g}\n" for score in scores))
        return
    for line, score in zip(lines, scores):
        record = {
            "line": int(line),
            "score": float(score),
            "attack": bool(score > threshold),
            "threshold": float(threshold),
            "model": model_id,
        }
        out.write(json.dumps(record) + "\n")


def _info_command(args) -> int:
    from .model_file import FORMAT_VERSION, default_model_path

    scorer = Scorer.load(args.model, kernel=args.kernel)
    metadata = dict(scorer.metadata)
    info = {
        "model": os.fspath(args.model or default_model_path()),
        "format_version": FORMAT_VERSION,
        "precision": scorer.precision,
        "threshold": scorer.threshold,
        "calibration": scorer.calibration,
        "quantization": metadata.pop("quantization", None),
        "provenance": metadata,
        "kernel": scorer.kernel,
        "available_kernels": available_kernels(scorer.precision),
        # What the kernel reads per row block: packed weights and biases.
        "kernel_weight_bytes": scorer._engine.weight_bytes,
    }
    if scorer.precision == "fp16":
        info["fp16_weights"] = (
            "kept as binary16, widened in registers"
            if scorer._engine.native_fp16
            else "widened to fp32 at load (this kernel has no fp16 path)"
        )
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def _rank(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def _verify_command(args) -> int:
    try:
        from .reference import TorchScorer
    except ImportError:
        raise ValueError(
            "verify needs torch: pip install 'ebgan-edge[train]'"
        ) from None

    scorer = Scorer.load(args.model, kernel=args.kernel)
    reference = TorchScorer.load(args.model)
    records = read_records(args.data)
    x = encode(records, scorer.normalization)
    ours, truth = scorer.score(x), reference.score(x)
    relative = np.abs(ours - truth) / np.maximum(truth, np.finfo(np.float32).tiny)
    threshold = np.float32(scorer.threshold)
    flips = (ours > threshold) != (truth > threshold)
    result = {
        "records": len(x),
        "kernel": scorer.kernel,
        "precision": scorer.precision,
        "max_abs_error": float(np.abs(ours - truth).max(initial=0)),
        "max_relative_error": float(relative.max(initial=0)),
        "rank_correlation": float(np.corrcoef(_rank(ours), _rank(truth))[0, 1])
        if len(x) > 1
        else 1.0,
        "verdict_flips": int(flips.sum()),
        "flipped_lines": records.lines[flips][:20].tolist(),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["verdict_flips"] == 0 else 1


def _convert_command(args) -> int:
    from .training.model_writer import write_model

    source, target = args.input, args.out
    suffix = os.path.splitext(target)[1].lower()
    if source.lower().endswith(".onnx"):
        from .training.onnx_io import import_onnx

        like = read_model(args.like) if args.like else None
        fields = import_onnx(source, like=like)
        if args.precision != "fp32" or args.validate_on:
            from .training.model_writer import model_bytes
            from .training.quantize import convert_model

            imported = read_model(model_bytes(**fields))
            fields = convert_model(imported, args.precision, args.validate_on)
        write_model(target, **fields)
        return 0

    model = read_model(source)
    if suffix == ".onnx":
        from .training.onnx_io import export_onnx

        export_onnx(model, target)
    elif suffix == ".h":
        from .training.c_header import write_c_header

        name = args.name or re.sub(r"\W", "_", os.path.basename(target)[:-2])
        write_c_header(model, target, name)
    elif suffix == ".ebgan":
        from .training.quantize import convert_model

        write_model(target, **convert_model(model, args.precision, args.validate_on))
    else:
        raise ValueError(f"cannot convert to {target!r}: use .ebgan, .onnx or .h")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ebgan-edge",
        description="Score network connection records for intrusions.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def model_options(p):
        p.add_argument(
            "--model", default=None, help="model file (default: the shipped model)"
        )
        p.add_argument(
            "--kernel", default=None, help="force a kernel: scalar, avx2_fma, ..."
        )

    score = commands.add_parser("score", help="score raw NSL-KDD records (CSV)")
    model_options(score)
    score.add_argument(
        "--input", required=True, help="CSV file of records, or - for stdin"
    )
    score.add_argument("--format", choices=("json", "scores"), default="json")
    score.add_argument("--threads", type=int, default=1)
    score.add_argument(
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="on a malformed record: stop with its line and field (default), or "
        "report it on stderr and go on",
    )
    score.set_defaults(run=_score_command)

    info = commands.add_parser("info", help="describe a model file")
    model_options(info)
    info.set_defaults(run=_info_command)

    verify = commands.add_parser(
        "verify", help="compare the compiled kernels with the torch reference"
    )
    model_options(verify)
    verify.add_argument("--data", required=True, help="NSL-KDD file to score")
    verify.set_defaults(run=_verify_command)

    convert = commands.add_parser(
        "convert",
        help="convert between model file, ONNX and C header",
        description="MODEL.ebgan -> .onnx (fp32 graph with the score), .h (C arrays "
        "for ebgan_load_static) or .ebgan (another precision); MODEL.onnx -> .ebgan.",
    )
    convert.add_argument("input", help="a .ebgan model file or an .onnx graph")
    convert.add_argument("--out", required=True, help="output: .ebgan, .onnx or .h")
    convert.add_argument(
        "--precision", choices=("fp32", "fp16", "int8"), default="fp32"
    )
    convert.add_argument(
        "--like",
        help="model file to take normalisation and threshold "
        "from, for ONNX graphs that do not carry them",
    )
    convert.add_argument("--name", help="C identifier of the model in a .h output")
    convert.add_argument(
        "--validate-on",
        metavar="DATA",
        help="with --precision: compare the converted model with the original on "
        "the validation rows of its training file and store the report",
    )
    convert.set_defaults(run=_convert_command)

    from .training import commands as training_commands

    training_commands.register(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (RecordError, ModelFileError, OSError, ValueError) as e:
        print(f"ebgan-edge {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
