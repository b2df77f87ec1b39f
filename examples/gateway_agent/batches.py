"""A batch: the lines taken from the queue together, parsed into records
(bad lines reported and left out), then scored."""

from __future__ import annotations

import bisect
import itertools
import time
from collections import deque
from dataclasses import dataclass, field

from ebgan_edge import RecordError, Scorer
from ebgan_edge.features import parse_text

from . import log
from .lines import Chunk

# Skipped records reported on stderr per window (the statistics interval);
# the rest are only counted, so a client sending garbage cannot flood the log.
MAX_SKIP_REPORTS = 100


@dataclass
class Batch:
    """Lines taken together, and what the stages make of them.

    The parse stage fills ``parts`` (the batch's records, in order, in runs
    between bad lines) and ``skipped``; the score stage fills ``scores`` (one
    array per part) and ``reports`` (their encoding reports).
    """

    chunks: list[Chunk]
    taken_at: float  # time.monotonic() when taken from the line queue
    first_seq: int  # lines taken before this batch, over all peers
    parts: list = field(default_factory=list)
    skipped: int = 0
    scores: list = field(default_factory=list)
    reports: list = field(default_factory=list)

    def __post_init__(self):
        sizes = [len(chunk.lines) for chunk in self.chunks]
        self.lines = sum(sizes)
        self._starts = list(itertools.accumulate(sizes[:-1], initial=0))

    @property
    def oldest_arrival(self) -> float:
        return min(chunk.arrival for chunk in self.chunks)

    def locate(self, pos: int) -> tuple[int, int]:
        """The chunk (its index) and the peer's line of a 0-based position."""
        k = bisect.bisect_right(self._starts, pos) - 1
        return k, self.chunks[k].first_line + pos - self._starts[k]


class SkipLog:
    """Reports skipped records on stderr, at most MAX_SKIP_REPORTS a window."""

    def __init__(self, window: float):
        self.window = window or float("inf")
        self._window_end = time.monotonic() + self.window
        self._reports = 0

    def report(self, peer: str, line: int, field_name, problem: str) -> None:
        now = time.monotonic()
        if now >= self._window_end:
            self._window_end, self._reports = now + self.window, 0
        self._reports += 1
        if self._reports <= MAX_SKIP_REPORTS:
            where = f"{peer}, line {line}" + (
                f", field {field_name!r}" if field_name else ""
            )
            log(f"skipped bad record: {where}: {problem}")
        elif self._reports == MAX_SKIP_REPORTS + 1:
            log("more bad records in this interval; counting them only")


def parse_batch(batch: Batch, skips: SkipLog) -> None:
    """Parse a batch's lines into ``batch.parts``, reporting bad lines.

    A failed attempt stops at the bad line, and only the lines before it
    are parsed again, so a batch costs about two parsing passes however
    many bad lines it has (re-parsing all of it after each bad line would
    make a batch of garbage quadratic). Records keep their position in the
    batch, counted from 1, in ``Records.lines``.
    """
    for chunk in batch.chunks:
        for line, problem in chunk.notes:
            skips.report(chunk.peer, line, None, problem)
            batch.skipped += 1
    lines = [line for chunk in batch.chunks for line in chunk.lines]
    todo = deque([(0, len(lines))])
    while todo:
        start, end = todo.popleft()
        if start >= end:
            continue
        try:
            part = parse_text(b"\n".join(lines[start:end]), "batch", start + 1)
        except RecordError as e:
            where = f"batch, line {e.line}" + (
                f", field {e.field!r}" if e.field else ""
            )
            k, line = batch.locate(e.line - 1)
            skips.report(batch.chunks[k].peer, line, e.field, str(e)[len(where) + 2 :])
            batch.skipped += 1
            todo.extendleft([(e.line, end), (start, e.line - 1)])
            continue
        if len(part):
            batch.parts.append(part)


def score_batch(batch: Batch, scorer: Scorer) -> None:
    """Score each part of a parsed batch, keeping its encoding report."""
    for part in batch.parts:
        scores, report = scorer.score_records(part, report=True)
        batch.scores.append(scores)
        batch.reports.append(report)
