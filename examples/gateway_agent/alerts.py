"""Alert lines for records scored above the threshold, and the statistics
the agent reports on stderr."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections import Counter

import numpy as np

from ebgan_edge import Scorer
from ebgan_edge.features import NUMERIC_FEATURES

from . import log
from .batches import Batch

# Numeric fields copied into an alert for context, besides the categories.
CONTEXT_NUMERIC = [
    NUMERIC_FEATURES.index(name) for name in ("duration", "src_bytes", "dst_bytes")
]

# Categories and labels repeat, so their JSON spelling is cached; the bound
# keeps a client sending endless made-up categories from growing the cache.
_json_text = functools.lru_cache(maxsize=4096)(json.dumps)


class AlertWriter:
    """Writes one JSON line per record scored above the model's threshold."""

    def __init__(self, scorer: Scorer, out):
        self.out = out
        self.threshold = np.float32(scorer.threshold)
        self._common = (
            f'"threshold": {float(self.threshold)!r}, '
            f'"model": {_json_text(scorer.metadata.get("model_id", ""))}, '
            '"queued_ms": '
        )

    def write(self, batch: Batch) -> int:
        """Write the alerts of a scored batch; returns how many.

        Under a flood most records may raise an alert, so the lines are
        formatted from whole columns with a fixed key order rather than
        through a dict and json.dumps per alert, which took four times as long.
        """
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        queued_ms = [round((batch.taken_at - c.arrival) * 1e3, 3) for c in batch.chunks]
        out = []
        for part, scores in zip(batch.parts, batch.scores):
            flagged = np.flatnonzero(scores > self.threshold)
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
                scores[flagged].tolist(),
                context.tolist(),
                part.protocol_type[flagged].tolist(),
                part.service[flagged].tolist(),
                part.flag[flagged].tolist(),
                labels,
            )
            for n, score, numeric, protocol, service, flag, label in columns:
                duration, sent, received = numeric
                k, line = batch.locate(n - 1)
                label_text = "" if label is None else f', "label": {_json_text(label)}'
                out.append(
                    f'{{"time": "{now}", "seq": {batch.first_seq + n}, '
                    f'"peer": {_json_text(batch.chunks[k].peer)}, "line": {line}, '
                    f'"score": {score!r}, {self._common}{queued_ms[k]}, '
                    f'"record": {{"duration": {duration!r}, '
                    f'"protocol_type": {_json_text(protocol)}, '
                    f'"service": {_json_text(service)}, "flag": {_json_text(flag)}, '
                    f'"src_bytes": {sent!r}, "dst_bytes": {received!r}}}'
                    f"{label_text}}}\n"
                )
        if out:
            self.out.write("".join(out).encode())
            self.out.flush()
        return len(out)


class Statistics:
    """Counters over the run and over the current statistics interval.

    Only the last stage (the alert writer) updates them, once per batch, so
    they need no lock; the final summary is read after that stage ended.
    """

    def __init__(self):
        self.started = time.monotonic()
        # From the first record read to the last batch done: the span the
        # final records/s is computed over, excluding idle time before input.
        self.first_arrival = self.last_done = None
        self.lines_done = 0
        self.totals = Counter()
        self.clipped, self.unknown = Counter(), Counter()
        self._worst_latency = self._interval_worst = 0.0
        self._interval_start, self._interval_records = self.started, 0

    def add(self, batch: Batch, alerts: int) -> None:
        """Count a batch whose alerts have just been written."""
        self.last_done = time.monotonic()
        if self.first_arrival is None:
            self.first_arrival = batch.oldest_arrival
        records = sum(len(scores) for scores in batch.scores)
        self.totals.update(
            records=records, batches=1, alerts=alerts, skipped=batch.skipped
        )
        self._interval_records += records
        self.lines_done += batch.lines
        for report in batch.reports:
            self.clipped.update(report.clipped)
            for name, values in report.unknown.items():
                self.unknown[name] += sum(values.values())
        # The oldest record of a batch waited longest: read to alert written.
        latency = self.last_done - batch.oldest_arrival
        self._worst_latency = max(self._worst_latency, latency)
        self._interval_worst = max(self._interval_worst, latency)

    def summary(self, queued: int = 0) -> dict:
        """Totals since start; records/s over the time there was input."""
        busy = 0.0
        if self.first_arrival is not None:
            busy = self.last_done - self.first_arrival
        return {
            "uptime_s": round(time.monotonic() - self.started, 3),
            "busy_s": round(busy, 3),
            "records": self.totals["records"],
            "records_per_s": round(self.totals["records"] / max(busy, 1e-9), 1),
            "max_latency_ms": round(self._worst_latency * 1e3, 3),
            "batches": self.totals["batches"],
            "alerts": self.totals["alerts"],
            "skipped": self.totals["skipped"],
            "clipped_values": sum(self.clipped.values()),
            "unknown_categories": sum(self.unknown.values()),
            "queued": queued,
        }

    def report(self, queued: int) -> None:
        """Log totals, with records/s and latency over the last interval."""
        now = time.monotonic()
        stats = self.summary(queued)
        rate = self._interval_records / max(now - self._interval_start, 1e-9)
        stats["records_per_s"] = round(rate, 1)
        stats["max_latency_ms"] = round(self._interval_worst * 1e3, 3)
        log(f"stats {json.dumps(stats)}")
        self._interval_start, self._interval_records = now, 0
        self._interval_worst = 0.0
