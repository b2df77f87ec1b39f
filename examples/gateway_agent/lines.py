"""Lines: byte streams cut into numbered lines, and the bounded queue that
holds them until they are taken as a batch."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

# An NSL-KDD record is about 100-250 bytes. A longer "line" is garbage or an
# attempt to make the agent buffer without bound, so it is dropped and reported.
MAX_LINE_BYTES = 1 << 16
OVERLONG = f"line longer than {MAX_LINE_BYTES} bytes"


@dataclass
class Chunk:
    """Consecutive complete lines from one peer, read at one moment.

    ``notes`` holds (line, problem) for lines the reader blanked out (too
    long); the parse stage reports them as skipped records.
    """

    peer: str
    first_line: int
    lines: list
    arrival: float  # time.monotonic() when the lines were read
    notes: list = field(default_factory=list)

    def split(self, n: int) -> tuple[Chunk, Chunk]:
        """The first ``n`` lines and the rest, as two chunks."""
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
        """The complete lines ``data`` ends, or None if it ends none."""
        pieces = (self._tail + data).split(b"\n")
        self._tail = pieces.pop()
        notes = []
        if pieces and self._overlong:
            self._overlong = False
            notes.append((self.lines + 1, OVERLONG))
            pieces[0] = b""
        if pieces and max(map(len, pieces)) > MAX_LINE_BYTES:
            for i, piece in enumerate(pieces):
                if len(piece) > MAX_LINE_BYTES:
                    notes.append((self.lines + 1 + i, OVERLONG))
                    pieces[i] = b""
        if len(self._tail) > MAX_LINE_BYTES:
            self._tail, self._overlong = b"", True
        return self._chunk(pieces, now, notes)

    def finish(self, now: float) -> Chunk | None:
        """The last line when the stream ends without a newline."""
        if self._overlong:
            return self._chunk([b""], now, [(self.lines + 1, OVERLONG)])
        tail, self._tail = self._tail, b""
        return self._chunk([tail], now, []) if tail.strip() else None

    def _chunk(self, pieces: list, now: float, notes: list) -> Chunk | None:
        if not pieces:
            return None
        chunk = Chunk(self.peer, self.lines + 1, pieces, now, notes)
        self.lines += len(pieces)
        return chunk


class LineQueue:
    """Lines waiting to be taken as a batch, in arrival order, at most
    ``limit`` of them.

    Readers block in :meth:`put` while the queue is full, which pushes back
    on the pipe or TCP sender instead of growing memory without bound.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.received = 0  # lines ever queued, for the "queued" statistic
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
            self.received += len(chunk.lines)
            self._ready.notify()
            return True

    def close(self) -> None:
        """Refuse further lines; :meth:`take` drains what is queued."""
        with self._lock:
            self._closed = True
            self._ready.notify_all()
            self._space.notify_all()

    def take(self, batch: int, max_delay: float) -> list[Chunk] | None:
        """Wait for the next batch of at most ``batch`` lines.

        A batch is due when ``batch`` lines are queued, when the oldest one
        has waited ``max_delay`` seconds, or when the queue is closed.
        Returns the batch's chunks, or None when the queue is closed and
        empty.
        """
        with self._lock:
            while self._pending < batch and not self._closed:
                if self._pending:
                    wait = self._chunks[0].arrival + max_delay - time.monotonic()
                    if wait <= 0:
                        break
                    self._ready.wait(wait)
                else:
                    self._ready.wait()
            if not self._pending:
                return None
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
