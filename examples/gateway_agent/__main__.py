"""The command line: ``python -m gateway_agent [options]`` from the examples
folder. Parses the options, loads the model, starts the readers and the
pipeline, and shuts them down in order on end of input, SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading

from ebgan_edge import Scorer

from . import PROG, log
from .lines import LineQueue
from .pipeline import Pipeline
from .sources import Listener, format_address, parse_listen, read_stream


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score NSL-KDD records from standard input or TCP clients "
        "in micro-batches and write alerts as JSON lines.",
    )
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--kernel", help="force a kernel: scalar, avx2_fma, ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="scoring threads for large batches (default 1)",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="read TCP clients instead of standard input; port 0 "
        "picks a free port (printed on stderr)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --listen on a non-loopback address",
    )
    parser.add_argument("--max-clients", type=int, default=32)
    parser.add_argument(
        "--batch", type=int, default=256, help="records per batch at most (default 256)"
    )
    parser.add_argument(
        "--max-delay-ms",
        type=float,
        default=10.0,
        help="flush a batch once its oldest record has waited this long (default 10)",
    )
    parser.add_argument(
        "--queue-limit",
        type=int,
        default=16384,
        help="lines read but not yet taken into a batch, at most; readers "
        "wait beyond it (default 16384)",
    )
    parser.add_argument(
        "--alerts",
        metavar="FILE",
        help="append alerts to FILE (default: standard output)",
    )
    parser.add_argument(
        "--stats-interval",
        type=float,
        default=10.0,
        help="seconds between statistics on stderr; 0 for "
        "none but the final summary (default 10)",
    )
    return parser


def _check_args(parser: argparse.ArgumentParser, args) -> None:
    for name in ("batch", "queue_limit", "max_clients", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_delay_ms < 0 or args.stats_interval < 0:
        parser.error("--max-delay-ms and --stats-interval cannot be negative")
    args.queue_limit = max(args.queue_limit, args.batch)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    try:
        listen = args.listen and parse_listen(args.listen, args.allow_remote)
        scorer = Scorer.load(args.model, kernel=args.kernel, threads=args.threads)
        out = open(args.alerts, "ab") if args.alerts else sys.stdout.buffer
    except (OSError, ValueError) as e:
        log(f"error: {e}")
        return 2

    lines = LineQueue(args.queue_limit)
    # Set by a signal, or by the pipeline when it has finished or failed.
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():
            log("second signal: exiting without scoring the queue")
            os._exit(1)
        log(f"{signal.Signals(signum).name}: scoring queued records, then exiting")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    listener = None
    if listen:
        try:
            listener = Listener(*listen, lines, args.max_clients)
        except OSError as e:
            log(f"error: cannot listen on {args.listen}: {e}")
            return 2
        if not ipaddress.ip_address(listener.address[0]).is_loopback:
            log("warning: listening on a non-loopback address, without authentication")
        log(f"listening on {format_address(listener.address)}")
        listener.start()
    else:
        reader = threading.Thread(
            target=read_stream,
            args=(sys.stdin.buffer.fileno(), lines, stop),
            name="stdin",
            daemon=True,  # may stay blocked in read() after a signal
        )
        reader.start()
    log(
        f"model {scorer.metadata.get('model_id', '?')}, kernel {scorer.kernel}, "
        f"threshold {scorer.threshold:.6g}, batch {args.batch}, "
        f"max delay {args.max_delay_ms:g} ms"
    )

    pipeline = Pipeline(lines, scorer, out, args, done=stop)
    pipeline.start()
    while not stop.wait(0.2):
        pass
    if listener:
        listener.stop()
    lines.close()  # the pipeline drains what was read, then ends
    pipeline.join()
    log(f"final {json.dumps(pipeline.stats.summary())}")
    if args.alerts:
        out.close()
    return pipeline.exit_code


if __name__ == "__main__":
    sys.exit(main())
