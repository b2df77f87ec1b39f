"""A gateway agent: scores NSL-KDD connection records as they arrive and
writes an alert for every record the model scores above its threshold.

Records (CSV lines: the 41 NSL-KDD fields, optionally a label and a
difficulty level) come from standard input or from TCP clients on a loopback
address. They are scored in micro-batches: a batch is flushed when it holds
``--batch`` records, or when its oldest record has waited ``--max-delay-ms``.
Run it from the ``examples`` folder (or with that folder on ``PYTHONPATH``):

    python -m gateway_agent < capture.csv > alerts.jsonl
    python -m gateway_agent --listen 127.0.0.1:9099 --alerts alerts.jsonl

The modules, each readable on its own:

``lines``
    Cutting byte streams into numbered lines; the bounded queue of lines
    that turns them into batches.
``sources``
    Where lines come from: standard input, or TCP clients on a loopback
    address.
``batches``
    Parsing a batch of lines into records, reporting bad ones by line and
    field; scoring the records.
``alerts``
    Alert lines and statistics.
``pipeline``
    The stages (parse, score, write alerts) as threads joined by bounded
    queues, so that one batch is parsed while the previous one is scored.
``__main__``
    The command line: options, signals, start and shutdown.

Needs numpy and ebgan_edge only. Design, threading model and measured
throughput: docs/gateway.md.
"""

from __future__ import annotations

import sys
import threading

PROG = "gateway_agent"
# Readers and stages log from their own threads; print() writes a message and
# its newline separately, so without the lock two lines can run together.
# Reentrant, because a signal handler that logs runs in the main thread,
# possibly while that thread holds the lock.
_log_lock = threading.RLock()


def log(message: str) -> None:
    """One line on standard error, prefixed with the agent's name."""
    with _log_lock:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()
