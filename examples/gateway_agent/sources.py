"""Where records come from: standard input, or line-oriented TCP clients on
a loopback address. Readers only read bytes and cut them into lines; every
line goes to the :class:`~gateway_agent.lines.LineQueue`."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time

from . import log
from .lines import LineQueue, LineSplitter

# Bytes asked for per read: a pipe's whole buffer on Linux. A reader blocked
# on a full queue holds at most this much besides the queue's lines.
READ_BYTES = 1 << 16


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
            peer = format_address(address)
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


def format_address(address) -> str:
    """``host:port``, or ``[host]:port`` for IPv6."""
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
