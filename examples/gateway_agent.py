"""A gateway agent: scores NSL-KDD connection records as they arrive and
writes an alert for every record the model scores above its threshold.

Records (CSV lines: the 41 NSL-KDD fields, optionally a label and a
difficulty level) come from standard input or from TCP clients on a loopback
address. They are scored in micro-batches: a batch is flushed when it holds
``--batch`` records, or when its oldest record has waited ``--max-delay-ms``.

    python examples/gateway_agent.py < capture.csv > alerts.jsonl
    python examples/gateway_agent.py --listen 127.0.0.1:9099 --alerts alerts.jsonl

Alerts are JSON lines; statistics and skipped bad records go to stderr. The
agent stops on end of input (standard input), SIGINT or SIGTERM, scoring every
record already read before it exits. Needs numpy and ebgan_edge only. Design,
threading model and measured throughput: docs/gateway.md.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import functools
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from ebgan_edge import RecordError, Scorer, encode
from ebgan_edge.features import NUMERIC_FEATURES, parse_text

PROG = "gateway_agent"
READ_BYTES = 1 << 16
# An NSL-KDD record is about 100-250 bytes. A longer "line" is garbage or an
# attempt to make the agent buffer without bound, so it is dropped and reported.
MAX_LINE_BYTES = 1 << 16
# Skipped records reported on stderr per statistics interval; the rest are
# only counted, so a client sending garbage cannot flood the log.
MAX_SKIP_REPORTS = 100
# Numeric fields copied into an alert for context, besides the categories.
CONTEXT_NUMERIC = [
    NUMERIC_FEATURES.index(name) for name in ("duration", "src_bytes", "dst_bytes")
]


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


@dataclass
class Chunk:
    """Consecutive complete lines from one peer, read at one moment.

    ``notes`` holds (line, problem) for lines the reader blanked out (too
    long); the scorer reports them as skipped records.
    """

    peer: str
    first_line: int
    lines: list
    arrival: float  # time.monotonic() when the lines were read
    notes: list = field(default_factory=list)

    def split(self, n: int) -> tuple[Chunk, Chunk]:
        cut = self.first_line + n
        head = Chunk(
            self.peer,
            self.first_line,
            self.lines[:n],
            self.arrival,
            [note for note in self.notes if note[0] < cut],
        )
        tail = Chunk(
            self.peer,
            cut,
            self.lines[n:],
            self.arrival,
            [note for note in self.notes if note[0] >= cut],
        )
        return head, tail


class LineSplitter:
    """Cuts a peer's byte stream into complete lines, numbered from 1."""

    def __init__(self, peer: str):
        self.peer = peer
        self.lines = 0
        self._tail = b""
        self._overlong = False

    def feed(self, data: bytes, now: float) -> Chunk | None:
        pieces = (self._tail + data).split(b"\n")
        self._tail = pieces.pop()
        notes = []
        if pieces and self._overlong:
            self._overlong = False
            notes.append((self.lines + 1, f"line longer than {MAX_LINE_BYTES} bytes"))
            pieces[0] = b""
        if pieces and max(map(len, pieces)) > MAX_LINE_BYTES:
            for i, piece in enumerate(pieces):
                if len(piece) > MAX_LINE_BYTES:
                    problem = f"line longer than {MAX_LINE_BYTES} bytes"
                    notes.append((self.lines + 1 + i, problem))
                    pieces[i] = b""
        if len(self._tail) > MAX_LINE_BYTES:
            self._tail, self._overlong = b"", True
        return self._chunk(pieces, now, notes)

    def finish(self, now: float) -> Chunk | None:
        """The last line when the stream ends without a newline."""
        if self._overlong:
            problem = f"line longer than {MAX_LINE_BYTES} bytes"
            return self._chunk([b""], now, [(self.lines + 1, problem)])
        tail, self._tail = self._tail, b""
        return self._chunk([tail], now, []) if tail.strip() else None

    def _chunk(self, pieces: list, now: float, notes: list) -> Chunk | None:
        if not pieces:
            return None
        chunk = Chunk(self.peer, self.lines + 1, pieces, now, notes)
        self.lines += len(pieces)
        return chunk


class LineQueue:
    """Lines waiting to be scored, in arrival order, at most ``limit`` of them.

    Readers block in :meth:`put` while the queue is full, which pushes back
    on the pipe or TCP sender instead of growing memory without bound.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)
        self._chunks: deque[Chunk] = deque()
        self._pending = 0
        self._closed = False

    def __len__(self) -> int:
        return self._pending

    def put(self, chunk: Chunk) -> bool:
        """Queue a chunk; False once the queue is closed."""
        with self._lock:
            while self._pending >= self.limit and not self._closed:
                self._space.wait()
            if self._closed:
                return False
            self._chunks.append(chunk)
            self._pending += len(chunk.lines)
            self._ready.notify()
            return True

    def close(self) -> None:
        """Refuse further lines; :meth:`take` drains what is queued."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()
            self._space.notify_all()

    def take(self, batch: int, max_delay: float, timeout: float):
        """Wait for the next batch of at most ``batch`` lines.

        A batch is due when ``batch`` lines are queued, when the oldest one
        has waited ``max_delay`` seconds, or when the queue is closed.
        Returns the batch's chunks; [] when ``timeout`` passed with nothing
        due; None when the queue is closed and empty.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                now = time.monotonic()
                if self._pending >= batch or (self._pending and self._closed):
                    break
                if self._pending:
                    due = self._chunks[0].arrival + max_delay
                    if now >= due:
                        break
                elif self._closed:
                    return None
                else:
                    due = deadline
                if now >= deadline:
                    return []
                self._ready.wait(min(due, deadline) - now)
            taken, n = [], 0
            while n < batch and self._chunks:
                chunk = self._chunks.popleft()
                if n + len(chunk.lines) > batch:
                    chunk, rest = chunk.split(batch - n)
                    self._chunks.appendleft(rest)
                taken.append(chunk)
                n += len(chunk.lines)
            self._pending -= n
            self._space.notify_all()
            return taken


class BatchScorer:
    """Parses, encodes and scores batches; writes alerts and statistics.

    Runs in one thread, so its counters need no lock.
    """

    def __init__(self, scorer: Scorer, out, args):
        self.scorer = scorer
        self.out = out
        self.batch = args.batch
        self.max_delay = args.max_delay_ms / 1e3
        self.stats_interval = args.stats_interval
        self.threshold = np.float32(scorer.threshold)
        self.model_id = scorer.metadata.get("model_id", "")
        self.started = time.monotonic()
        # From the first record read to the last batch scored: the span the
        # final records/s is computed over, excluding idle time before input.
        self.first_arrival = self.last_scored = None
        self.worst_latency = self._interval_worst = 0.0
        self.lines_taken = 0
        self.totals = Counter()
        self.clipped, self.unknown = Counter(), Counter()
        self._interval_start, self._interval_records = self.started, 0
        self._skip_reports = 0

    def run(self, queue: LineQueue) -> None:
        next_stats = self.started + (self.stats_interval or float("inf"))
        while True:
            timeout = min(next_stats - time.monotonic(), 3600.0)
            chunks = queue.take(self.batch, self.max_delay, max(timeout, 0.0))
            if chunks is None:
                return
            if chunks:
                self.score_batch(chunks, time.monotonic())
            if time.monotonic() >= next_stats:
                self.report_stats(queued=len(queue))
                next_stats = max(next_stats + self.stats_interval, time.monotonic())

    def score_batch(self, chunks: list, taken_at: float) -> None:
        lines = [line for chunk in chunks for line in chunk.lines]
        starts = np.cumsum([0] + [len(c.lines) for c in chunks[:-1]]).tolist()

        def locate(pos: int) -> tuple[int, int]:
            """The chunk (its index) and the peer's line of a batch position."""
            k = bisect.bisect_right(starts, pos) - 1
            return k, chunks[k].first_line + pos - starts[k]

        for chunk in chunks:
            for line, problem in chunk.notes:
                self.skip(chunk.peer, line, None, problem)
        parts = self.parse(lines, chunks, locate)
        if parts:
            encoded = [
                encode(part, self.scorer.normalization, report=True) for part in parts
            ]
            x = (
                encoded[0][0]
                if len(parts) == 1
                else np.concatenate([features for features, _ in encoded])
            )
            scores = self.scorer.score(x)
            for _, report in encoded:
                self.clipped.update(report.clipped)
                for name, values in report.unknown.items():
                    self.unknown[name] += sum(values.values())
            self.write_alerts(parts, scores, chunks, locate, taken_at)
            self.totals["records"] += len(scores)
            self._interval_records += len(scores)
        self.totals["batches"] += 1
        self.lines_taken += len(lines)
        self.last_scored = time.monotonic()
        if self.first_arrival is None:
            self.first_arrival = chunks[0].arrival
        # The oldest record of a batch waited longest: read to alert written.
        latency = self.last_scored - min(chunk.arrival for chunk in chunks)
        self.worst_latency = max(self.worst_latency, latency)
        self._interval_worst = max(self._interval_worst, latency)

    def parse(self, lines: list, chunks: list, locate) -> list:
        """Records of a batch, in order, with bad lines reported and left out.

        A failed attempt stops at the bad line, and only the lines before it
        are parsed again, so a batch costs about two parsing passes however
        many bad lines it has (re-parsing all of it after each bad line would
        make a batch of garbage quadratic).
        """
        parts, todo = [], deque([(0, len(lines))])
        while todo:
            start, end = todo.popleft()
            if start >= end:
                continue
            try:
                text = b"\n".join(lines[start:end])
                parts.append(parse_text(text, "batch", start + 1))
                continue
            except RecordError as e:
                bad, field_name = e.line - 1, e.field
                where = f"batch, line {e.line}" + (
                    f", field {e.field!r}" if e.field else ""
                )
                problem = str(e)[len(where) + 2 :]
            k, line = locate(bad)
            self.skip(chunks[k].peer, line, field_name, problem)
            todo.extendleft([(bad + 1, end), (start, bad)])
        return [part for part in parts if len(part)]

    def skip(self, peer: str, line: int, field_name, problem: str) -> None:
        self.totals["skipped"] += 1
        self._skip_reports += 1
        if self._skip_reports <= MAX_SKIP_REPORTS:
            where = f"{peer}, line {line}" + (
                f", field {field_name!r}" if field_name else ""
            )
            log(f"skipped bad record: {where}: {problem}")
        elif self._skip_reports == MAX_SKIP_REPORTS + 1:
            log("more bad records in this interval; counting them only")

    def write_alerts(self, parts, scores, chunks, locate, taken_at: float) -> None:
        """One JSON line per record scored above the threshold.

        Under a flood most records may raise an alert, so the lines are
        formatted from whole columns with a fixed key order rather than
        through a dict and json.dumps per alert, which took four times as long.
        """
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        common = (
            f'"threshold": {float(self.threshold)!r}, '
            f'"model": {_json_text(self.model_id)}, "queued_ms": '
        )
        queued_ms = [round((taken_at - c.arrival) * 1e3, 3) for c in chunks]
        out, offset = [], 0
        for part in parts:
            part_scores = scores[offset : offset + len(part)]
            offset += len(part)
            flagged = np.flatnonzero(part_scores > self.threshold)
            if not len(flagged):
                continue
            labels = [None] * len(flagged)
            if part.labels is not None:
                labels = part.labels[flagged].tolist()
            context = part.numeric[np.ix_(flagged, CONTEXT_NUMERIC)]
            if np.all(context % 1 == 0) and np.all(context < 2**53):
                context = context.astype(np.int64)  # counts print as integers
            columns = zip(
                part.lines[flagged].tolist(),
                part_scores[flagged].tolist(),
                context.tolist(),
                part.protocol_type[flagged].tolist(),
                part.service[flagged].tolist(),
                part.flag[flagged].tolist(),
                labels,
            )
            for n, score, (
                duration,
                sent,
                received,
            ), protocol, service, flag, label in columns:
                k, line = locate(n - 1)
                label_text = "" if label is None else f', "label": {_json_text(label)}'
                out.append(
                    f'{{"time": "{now}", "seq": {self.lines_taken + n}, '
                    f'"peer": {_json_text(chunks[k].peer)}, "line": {line}, '
                    f'"score": {score!r}, {common}{queued_ms[k]}, '
                    f'"record": {{"duration": {duration!r}, '
                    f'"protocol_type": {_json_text(protocol)}, '
                    f'"service": {_json_text(service)}, "flag": {_json_text(flag)}, '
                    f'"src_bytes": {sent!r}, "dst_bytes": {received!r}}}'
                    f"{label_text}}}\n"
                )
        if out:
            self.totals["alerts"] += len(out)
            self.out.write("".join(out).encode())
            self.out.flush()

    def summary(self, queued: int = 0) -> dict:
        """Totals since start; records/s over the time there was input."""
        busy = 0.0
        if self.first_arrival is not None:
            busy = self.last_scored - self.first_arrival
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "busy_s": round(busy, 3),
            "records": self.totals["records"],
            "records_per_s": round(self.totals["records"] / max(busy, 1e-9), 1),
            "max_latency_ms": round(self.worst_latency * 1e3, 3),
            "batches": self.totals["batches"],
            "alerts": self.totals["alerts"],
            "skipped": self.totals["skipped"],
            "clipped_values": sum(self.clipped.values()),
            "unknown_categories": sum(self.unknown.values()),
            "queued": queued,
        }

    def report_stats(self, queued: int) -> None:
        """Totals, with records/s and latency over the last interval."""
        now = time.monotonic()
        stats = self.summary(queued)
        rate = self._interval_records / max(now - self._interval_start, 1e-9)
        stats["records_per_s"] = round(rate, 1)
        stats["max_latency_ms"] = round(self._interval_worst * 1e3, 3)
        log(f"stats {json.dumps(stats)}")
        self._interval_start, self._interval_records = now, 0
        self._skip_reports, self._interval_worst = 0, 0.0


# Categories and labels repeat, so their JSON spelling is cached; the bound
# keeps a client sending endless made-up categories from growing the cache.
_json_text = functools.lru_cache(maxsize=4096)(json.dumps)


def read_stream(fd: int, queue: LineQueue, stop: threading.Event) -> None:
    """Queue the lines of a pipe or file until end of input, then close."""
    splitter = LineSplitter("<stdin>")
    try:
        while not stop.is_set():
            data = os.read(fd, READ_BYTES)
            if not data:
                break
            chunk = splitter.feed(data, time.monotonic())
            if chunk and not queue.put(chunk):
                return
        chunk = None if stop.is_set() else splitter.finish(time.monotonic())
        if chunk:
            queue.put(chunk)
    except OSError as e:
        log(f"reading standard input: {e}")
    finally:
        queue.close()


class Listener:
    """Accepts line-oriented TCP clients; one reader thread per client."""

    def __init__(self, host: str, port: int, queue: LineQueue, max_clients: int):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)  # accept() wakes up to notice a stop
        self.address = self.sock.getsockname()[:2]
        self.queue = queue
        self.max_clients = max_clients
        self.stopping = threading.Event()
        self._clients: dict[threading.Thread, socket.socket] = {}
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="accept")

    def start(self) -> None:
        self._acceptor.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, address = self.sock.accept()
            except socket.timeout:  # TimeoutError from Python 3.10 on
                continue
            except OSError as e:
                if not self.stopping.is_set():
                    log(f"accept failed: {e}")
                continue
            peer = _format_address(address)
            with self._lock:
                self._clients = {t: c for t, c in self._clients.items() if t.is_alive()}
                full = len(self._clients) >= self.max_clients
                if not full:
                    thread = threading.Thread(
                        target=self._serve, args=(conn, peer), name=peer, daemon=True
                    )
                    self._clients[thread] = conn
                    thread.start()
            if full:
                log(f"refused {peer}: already {self.max_clients} clients")
                conn.close()
            else:
                log(f"client {peer} connected")

    def _serve(self, conn: socket.socket, peer: str) -> None:
        splitter = LineSplitter(peer)
        with conn:
            try:
                while not self.stopping.is_set():
                    data = conn.recv(READ_BYTES)
                    if not data:
                        break
                    chunk = splitter.feed(data, time.monotonic())
                    if chunk and not self.queue.put(chunk):
                        return
            except OSError as e:
                if not self.stopping.is_set():
                    log(f"client {peer}: {e}")
            # A line cut short by our own shutdown is not a record.
            chunk = (
                None if self.stopping.is_set() else splitter.finish(time.monotonic())
            )
            if chunk:
                self.queue.put(chunk)
        log(f"client {peer} disconnected after {splitter.lines} lines")

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting and reading; lines already read stay queued."""
        self.stopping.set()
        self._acceptor.join(timeout)
        self.sock.close()
        with self._lock:
            clients = list(self._clients.items())
        for _, conn in clients:
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        for thread, _ in clients:
            thread.join(timeout)


def _format_address(address) -> str:
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_listen(value: str, allow_remote: bool) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [HOST]:PORT) checked to be a loopback address.

    Only IP literals and ``localhost`` are taken, so no name is ever looked
    up and the address bound is the address checked.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"--listen wants an IP address or localhost, got {host!r}"
        ) from None
    if not address.is_loopback and not allow_remote:
        raise ValueError(
            f"refusing to listen on {host}: not a loopback address. Records and "
            "alerts are unauthenticated plain text; pass --allow-remote to accept "
            "clients from other hosts anyway"
        )
    return host, int(port)


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
        help="lines read but not yet scored, at most; readers "
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

    queue = LineQueue(args.queue_limit)
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
            listener = Listener(*listen, queue, args.max_clients)
        except OSError as e:
            log(f"error: cannot listen on {args.listen}: {e}")
            return 2
        if not ipaddress.ip_address(listener.address[0]).is_loopback:
            log("warning: listening on a non-loopback address, without authentication")
        log(f"listening on {_format_address(listener.address)}")
        listener.start()
    else:
        reader = threading.Thread(
            target=read_stream,
            args=(sys.stdin.buffer.fileno(), queue, stop),
            name="stdin",
            daemon=True,  # may stay blocked in read() after a signal
        )
        reader.start()
    log(
        f"model {scorer.metadata.get('model_id', '?')}, kernel {scorer.kernel}, "
        f"threshold {scorer.threshold:.6g}, batch {args.batch}, "
        f"max delay {args.max_delay_ms:g} ms"
    )

    batches = BatchScorer(scorer, out, args)
    failure = []

    def run_batches():
        try:
            batches.run(queue)
        except BrokenPipeError:
            failure.append(0)
        except BaseException as e:
            log(f"error: scoring stopped: {type(e).__name__}: {e}")
            failure.append(1)
        finally:
            stop.set()

    worker = threading.Thread(target=run_batches, name="score")
    worker.start()
    while not stop.wait(0.2):
        pass
    if listener:
        listener.stop()
    queue.close()  # the scoring thread drains what was read, then returns
    worker.join()
    log(f"final {json.dumps(batches.summary())}")
    if args.alerts:
        out.close()
    return failure[0] if failure else 0


if __name__ == "__main__":
    sys.exit(main())
