"""The ``ebgan-edge`` command line.

Scoring commands need numpy only. ``train``, ``evaluate`` and ``export`` come
from :mod:`ebgan_edge.training.commands` and import torch when they run.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import __version__
from .features import RecordError, encode, parse_records
from .model_file import ModelFileError
from .scorer import Scorer, available_kernels

_BATCH_ROWS = 4096


def _iter_csv_rows(stream, source: str):
    import csv

    for line, row in enumerate(csv.reader(stream), start=1):
        if row:
            yield line, row


def _score_command(args) -> int:
    scorer = Scorer.load(args.model, kernel=args.kernel, threads=args.threads)
    threshold = np.float32(scorer.threshold)
    model_id = scorer.metadata.get("model_id", "")
    source = "<stdin>" if args.input == "-" else args.input
    stream = (
        sys.stdin
        if args.input == "-"
        else open(args.input, newline="", encoding="utf-8")
    )
    out = sys.stdout
    try:
        batch, lines = [], []

        def flush():
            try:
                records = parse_records(batch, source)
            except RecordError as e:
                raise RecordError(
                    source, lines[e.line - 1], e.field, str(e).split(": ", 1)[1]
                ) from None
            scores = scorer.score(encode(records, scorer.normalization))
            for line, score in zip(lines, scores):
                if args.format == "scores":
                    out.write(f"{score:.9g}\n")
                else:
                    out.write(
                        json.dumps(
                            {
                                "line": line,
                                "score": float(score),
                                "attack": bool(score > threshold),
                                "threshold": float(threshold),
                                "model": model_id,
                            }
                        )
                        + "\n"
                    )
            batch.clear()
            lines.clear()

        for line, row in _iter_csv_rows(stream, source):
            batch.append(row)
            lines.append(line)
            if len(batch) == _BATCH_ROWS:
                flush()
        if batch:
            flush()
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0


def _info_command(args) -> int:
    scorer = Scorer.load(args.model, kernel=args.kernel)
    info = {
        "precision": scorer.precision,
        "threshold": scorer.threshold,
        "calibration": scorer.calibration,
        "kernel": scorer.kernel,
        "available_kernels": available_kernels(),
        "metadata": scorer.metadata,
    }
    print(json.dumps(info, indent=2, sort_keys=True))
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
    score.set_defaults(run=_score_command)

    info = commands.add_parser("info", help="describe a model file")
    model_options(info)
    info.set_defaults(run=_info_command)

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
