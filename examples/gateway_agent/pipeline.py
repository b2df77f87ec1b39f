"""The pipeline: parse, score and write alerts as three threads joined by
bounded queues, so that while batch n is scored, batch n+1 is parsed and the
alerts of batch n-1 are written.

    line queue ─▶ parse ─▶ handoff ─▶ score ─▶ handoff ─▶ write alerts

Parsing and scoring are compiled code that releases the GIL, so the two run
on two cores at once; the Python parts of all stages (and the readers)
still take turns on the GIL. Each stage is one thread and every queue is
first in, first out, so batches, and the alerts of each peer, leave in the
order their lines were read.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ebgan_edge import Scorer

from . import log
from .alerts import AlertWriter, Statistics
from .batches import Batch, SkipLog, parse_batch, score_batch
from .lines import LineQueue

# Batches waiting between two stages. One is enough to keep both sides
# busy; each more adds a batch's scoring time to the worst latency.
HANDOFF_DEPTH = 1
TIMED_OUT = "timed out"


class Handoff:
    """A bounded first-in first-out queue of batches between two stages.

    :meth:`close` ends it once what is queued has been taken; :meth:`abort`
    ends it at once, waking a stage blocked on either side.
    """

    def __init__(self, depth: int = HANDOFF_DEPTH):
        self.depth = depth
        self._items: deque[Batch] = deque()
        self._changed = threading.Condition()
        self._closed = self._aborted = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, batch: Batch) -> bool:
        """Queue a batch, waiting for room; False if aborted."""
        with self._changed:
            while len(self._items) >= self.depth and not self._aborted:
                self._changed.wait()
            if self._aborted:
                return False
            self._items.append(batch)
            self._changed.notify_all()
            return True

    def get(self, timeout: float | None = None):
        """The next batch; None once closed and empty (or aborted);
        :data:`TIMED_OUT` when ``timeout`` seconds passed without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._items and not (self._closed or self._aborted):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return TIMED_OUT
                self._changed.wait(left)
            if self._aborted or not self._items:
                return None
            batch = self._items.popleft()
            self._changed.notify_all()
            return batch

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._items.clear()
            self._changed.notify_all()


class Pipeline:
    """Takes batches from a line queue, scores them and writes their alerts.

    :meth:`start` starts the three stage threads; they end, in order, once
    the line queue is closed and every line taken from it has been scored
    and its alerts written. Then the event ``done`` is set; it is also set
    if a stage fails, and ``exit_code`` says how the pipeline ended.
    """

    def __init__(self, lines: LineQueue, scorer: Scorer, out, args, done):
        self.lines = lines
        self.scorer = scorer
        self.batch = args.batch
        self.max_delay = args.max_delay_ms / 1e3
        self.stats_interval = args.stats_interval
        self.skips = SkipLog(args.stats_interval)
        self.alerts = AlertWriter(scorer, out)
        self.stats = Statistics()
        self.parsed, self.scored = Handoff(), Handoff()
        self.done = done
        self.exit_code = 0
        self._threads = [
            threading.Thread(target=self._stage, args=(run,), name=name)
            for name, run in (
                ("parse", self._parse),
                ("score", self._score),
                ("write", self._write),
            )
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    @property
    def queued(self) -> int:
        """Lines read but not yet through the pipeline."""
        return self.lines.received - self.stats.lines_done

    def _stage(self, run) -> None:
        try:
            run()
        except BrokenPipeError:  # whoever reads the alerts went away
            self._fail(0)
        except BaseException as e:
            log(
                f"error: {threading.current_thread().name} stopped: "
                f"{type(e).__name__}: {e}"
            )
            self._fail(1)

    def _fail(self, code: int) -> None:
        self.exit_code = self.exit_code or code
        self.lines.close()
        self.parsed.abort()
        self.scored.abort()
        self.done.set()

    def _parse(self) -> None:
        taken = 0
        try:
            while True:
                chunks = self.lines.take(self.batch, self.max_delay)
                if chunks is None:
                    return
                batch = Batch(chunks, time.monotonic(), taken)
                taken += batch.lines
                parse_batch(batch, self.skips)
                if not self.parsed.put(batch):
                    return
        finally:
            self.parsed.close()

    def _score(self) -> None:
        try:
            while batch := self.parsed.get():
                score_batch(batch, self.scorer)
                if not self.scored.put(batch):
                    return
        finally:
            self.scored.close()

    def _write(self) -> None:
        interval = self.stats_interval or float("inf")
        next_stats = time.monotonic() + interval
        try:
            while True:
                batch = self.scored.get(min(next_stats - time.monotonic(), 3600.0))
                if batch is None:
                    return
                if batch is not TIMED_OUT:
                    self.stats.add(batch, self.alerts.write(batch))
                if time.monotonic() >= next_stats:
                    self.stats.report(self.queued)
                    next_stats = max(next_stats + interval, time.monotonic())
        finally:
            self.done.set()
