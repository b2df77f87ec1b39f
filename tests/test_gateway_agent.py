"""The example gateway agent (examples/gateway_agent/, run as
``python -m gateway_agent``), as a process in pipe mode and in socket mode on
127.0.0.1, and its parts on their own."""

from __future__ import annotations

import importlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ebgan_edge import Scorer, encode, parse_records
from helpers import generate_rows, model_file_bytes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Generous bound for anything the agent must do "promptly": the machine
# running the tests may be loaded, and only gross delays are bugs.
PROMPT_S = 2.0


@pytest.fixture(scope="module")
def agent_package():
    """Imports modules of the agent's package (examples/ is not on the path)."""
    sys.path.insert(0, str(EXAMPLES))
    yield lambda name: importlib.import_module(f"gateway_agent.{name}")
    sys.path.remove(str(EXAMPLES))
    for name in [m for m in sys.modules if m.split(".")[0] == "gateway_agent"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def agent_model(tmp_path_factory) -> Path:
    """A random-weight model whose threshold is the median score of generated
    records, so that about half of them raise an alert."""
    scores = Scorer.load(model_file_bytes(seed=1)).score_records(
        generate_rows(400, seed=30)
    )
    path = tmp_path_factory.mktemp("agent") / "median.ebgan"
    path.write_bytes(model_file_bytes(seed=1, threshold=float(np.median(scores))))
    return path


@pytest.fixture
def start_agent(agent_model):
    """Starts agents on the test model; kills any still running afterwards."""
    started = []

    def start(*options: str) -> Agent:
        started.append(Agent(agent_model, *options))
        return started[-1]

    yield start
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()


def csv_lines(rows) -> list[str]:
    return [",".join(row) + "\n" for row in rows]


class Agent:
    """The agent as a child process; its output lines are read by threads."""

    def __init__(self, model: Path, *options: str):
        command = [sys.executable, "-m", "gateway_agent", "--model", str(model)]
        path = [str(EXAMPLES), os.environ.get("PYTHONPATH", "")]
        self.process = subprocess.Popen(
            [*command, *options],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        for stream, sink in (
            (self.process.stdout, self.out),
            (self.process.stderr, self.err),
        ):
            threading.Thread(
                target=self._pump, args=(stream, sink), daemon=True
            ).start()

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink.put(line.decode())
        sink.put(None)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match:
        """The first stderr line matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.err.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} in {self.err_lines}") from None
            if line is None:
                raise AssertionError(f"exited before {pattern!r}: {self.err_lines}")
            self.err_lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def send(self, text: str) -> None:
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def finish(self, timeout: float = 20.0) -> tuple[list[dict], str]:
        """Wait for the exit; return the alerts and the whole of stderr."""
        if not self.process.stdin.closed:
            self.process.stdin.close()
        assert self.process.wait(timeout) == 0, "".join(self.err_lines)
        alerts = []
        for line in iter(lambda: self.out.get(timeout=timeout), None):
            alerts.append(json.loads(line))
        for line in iter(lambda: self.err.get(timeout=timeout), None):
            self.err_lines.append(line)
        return alerts, "".join(self.err_lines)


def final_stats(stderr: str) -> dict:
    return json.loads(re.search(r"final (\{.*\})", stderr).group(1))


def expected_alert_lines(model: Path, rows) -> list[int]:
    """1-based positions of the rows Scorer.predict calls attacks."""
    scorer = Scorer.load(model)
    verdicts = scorer.predict(encode(parse_records(rows), scorer.normalization))
    return (np.flatnonzero(verdicts) + 1).tolist()


def test_pipe_mode_alerts_exactly_the_records_above_the_threshold(
    start_agent, agent_model
):
    rows = generate_rows(300, seed=31)
    agent = start_agent("--batch", "64", "--max-delay-ms", "5")
    agent.send("".join(csv_lines(rows)))
    alerts, stderr = agent.finish()

    scorer = Scorer.load(agent_model)
    scores = scorer.score_records(rows)
    expected = expected_alert_lines(agent_model, rows)
    assert 0 < len(expected) < len(rows)
    assert [a["line"] for a in alerts] == expected
    assert [a["seq"] for a in alerts] == expected
    for alert in alerts:
        row = rows[alert["line"] - 1]
        assert alert["score"] > np.float32(scorer.threshold)
        assert alert["threshold"] == pytest.approx(scorer.threshold)
        assert alert["score"] == pytest.approx(scores[alert["line"] - 1], rel=1e-6)
        assert alert["peer"] == "<stdin>" and alert["label"] == row[41]
        assert alert["record"]["protocol_type"] == row[1]
        assert alert["record"]["src_bytes"] == int(row[4])
    stats = final_stats(stderr)
    assert stats["records"] == 300 and stats["alerts"] == len(expected)
    assert stats["batches"] >= 300 // 64 and stats["skipped"] == 0


def alerting_row(model: Path, seed: int) -> list[str]:
    rows = generate_rows(50, seed=seed)
    return rows[expected_alert_lines(model, rows)[0] - 1]


def test_a_lone_record_is_scored_after_max_delay_not_at_end_of_input(
    start_agent, agent_model
):
    # The batch would hold 1024 records; the one record must still be
    # flushed by the latency bound while standard input stays open.
    agent = start_agent("--batch", "1024", "--max-delay-ms", "50")
    agent.wait_for("max delay 50 ms")
    sent = time.monotonic()
    agent.send(csv_lines([alerting_row(agent_model, 32)])[0])
    alert = json.loads(agent.out.get(timeout=PROMPT_S))
    assert time.monotonic() - sent < PROMPT_S
    assert alert["line"] == 1 and alert["queued_ms"] < PROMPT_S * 1e3
    assert agent.process.poll() is None  # still waiting for input

    alerts, stderr = agent.finish()
    assert alerts == [] and final_stats(stderr)["records"] == 1


def test_sigint_scores_the_queued_records_before_exiting(start_agent, agent_model):
    rows = generate_rows(40, seed=33)
    agent = start_agent(
        "--batch", "1024", "--max-delay-ms", "60000", "--stats-interval", "0.1"
    )
    agent.send("".join(csv_lines(rows)))
    agent.wait_for(r'"queued": 40\b')  # read, and held back by the long delay
    agent.process.send_signal(signal.SIGINT)
    alerts, stderr = agent.finish()
    assert [a["line"] for a in alerts] == expected_alert_lines(agent_model, rows)
    assert "SIGINT" in stderr and final_stats(stderr)["records"] == 40


def test_bad_records_are_skipped_and_reported_with_line_and_field(
    start_agent, agent_model
):
    rows = generate_rows(30, seed=34)
    lines = csv_lines(rows)
    lines[5] = lines[5].replace(f",{rows[5][4]},", ",-1,", 1)
    lines[11] = "tcp,http,SF\n"
    lines[20] = lines[20].replace(rows[20][2], "caf\xe9\udcff", 1)
    agent = start_agent("--batch", "8", "--max-delay-ms", "5")
    agent.process.stdin.write("".join(lines).encode("utf-8", "surrogateescape"))
    alerts, stderr = agent.finish()

    assert "<stdin>, line 6, field 'src_bytes': negative value '-1'" in stderr
    assert "<stdin>, line 12: has 3 fields" in stderr
    assert r"<stdin>, line 21, field 'service': 'caf\xc3\xa9\xff' has bytes" in stderr
    good = [i for i in range(30) if i not in (5, 11, 20)]
    kept = expected_alert_lines(agent_model, [rows[i] for i in good])
    assert [a["line"] for a in alerts] == [good[k - 1] + 1 for k in kept]
    stats = final_stats(stderr)
    assert stats["skipped"] == 3 and stats["records"] == 27


def test_socket_mode_scores_two_clients_and_names_each_peer(start_agent, agent_model):
    agent = start_agent("--listen", "127.0.0.1:0", "--max-delay-ms", "5")
    port = int(agent.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
    clients = {seed: generate_rows(60, seed=seed) for seed in (35, 36)}
    connections = {
        seed: socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S)
        for seed in clients
    }
    peers = {c.getsockname()[1]: seed for seed, c in connections.items()}
    data = {seed: "".join(csv_lines(rows)).encode() for seed, rows in clients.items()}
    # Both clients at once, in pieces that cut records in two: lines are
    # reassembled per peer, whatever the interleaving.
    for start in range(0, max(map(len, data.values())), 1000):
        for seed, c in connections.items():
            c.sendall(data[seed][start : start + 1000])
    for c in connections.values():
        c.close()
    for _ in clients:
        agent.wait_for("disconnected after 60 lines")
    agent.process.send_signal(signal.SIGTERM)
    alerts, stderr = agent.finish()

    by_peer = {}
    for alert in alerts:
        host, port_text = alert["peer"].rsplit(":", 1)
        assert host == "127.0.0.1"
        by_peer.setdefault(peers[int(port_text)], []).append(alert["line"])
    for seed, rows in clients.items():
        assert by_peer.get(seed, []) == expected_alert_lines(agent_model, rows)
    assert sorted(a["seq"] for a in alerts) == sorted({a["seq"] for a in alerts})
    assert final_stats(stderr)["records"] == 120


def test_socket_mode_refuses_a_non_loopback_address(start_agent):
    agent = start_agent("--listen", "0.0.0.0:0")
    assert agent.process.wait(20) == 2
    agent.wait_for("refusing to listen on 0.0.0.0: not a loopback address")


def test_listen_addresses_are_checked_without_binding(agent_package):
    parse_listen = agent_package("sources").parse_listen
    assert parse_listen("127.0.0.1:0", False) == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9099", False) == ("::1", 9099)
    assert parse_listen("localhost:9099", False) == ("127.0.0.1", 9099)
    assert parse_listen("0.0.0.0:9099", True) == ("0.0.0.0", 9099)
    for bad in ("0.0.0.0:9099", "192.0.2.7:1", "[::]:1"):
        with pytest.raises(ValueError, match="not a loopback address"):
            parse_listen(bad, False)
    for bad in ("gateway.example:1", "127.0.0.1", "127.0.0.1:http"):
        with pytest.raises(ValueError, match="--listen wants"):
            parse_listen(bad, False)


def test_an_overlong_line_is_dropped_without_buffering_it(agent_package):
    lines = agent_package("lines")
    splitter = lines.LineSplitter("peer")
    big = b"x" * (lines.MAX_LINE_BYTES + 10)
    chunks = [splitter.feed(piece, 0.0) for piece in (b"a\n" + big, big, b"\nb\n")]
    assert chunks[1] is None and splitter.lines == 3
    assert chunks[0].lines == [b"a"] and chunks[2].lines == [b"", b"b"]
    assert chunks[2].notes == [(2, f"line longer than {lines.MAX_LINE_BYTES} bytes")]


def test_handoff_is_bounded_and_abort_wakes_a_blocked_stage(agent_package):
    pipeline = agent_package("pipeline")
    handoff = pipeline.Handoff(depth=1)
    assert handoff.put("batch 1")
    assert handoff.get(timeout=0) == "batch 1"
    assert handoff.get(timeout=0) is pipeline.TIMED_OUT
    assert handoff.put("batch 2")
    blocked = threading.Thread(target=handoff.put, args=("batch 3",))
    blocked.start()
    blocked.join(0.1)
    assert blocked.is_alive()  # full: the producer waits
    handoff.abort()
    blocked.join(PROMPT_S)
    assert not blocked.is_alive() and handoff.get() is None


class _Args:
    batch, max_delay_ms, stats_interval = 8, 1.0, 0.0


class _Sink(list):
    """Collects the alert lines a Pipeline writes."""

    write = list.append

    def flush(self) -> None:
        pass

    def alerts(self) -> list[dict]:
        return [json.loads(line) for line in b"".join(self).splitlines()]


def make_pipeline(agent_package, scorer, rows):
    """A Pipeline, not started, with ``rows`` queued in 8-record batches."""
    lines = agent_package("lines")
    line_queue = lines.LineQueue(1024)
    text = [line.rstrip("\n").encode() for line in csv_lines(rows)]
    line_queue.put(lines.Chunk("peer", 1, text, time.monotonic()))
    line_queue.close()
    pipeline = agent_package("pipeline")
    return pipeline.Pipeline(line_queue, scorer, _Sink(), _Args(), threading.Event())


class _WaitingScorer:
    """A Scorer whose first score_records call holds its batch until the
    next batch has been parsed and handed to the score stage."""

    def __init__(self, scorer):
        self._scorer = scorer
        self.pipeline = self.overlapped = None

    def __getattr__(self, name):
        return getattr(self._scorer, name)

    def score_records(self, records, **options):
        if self.overlapped is None:
            deadline = time.monotonic() + PROMPT_S
            while not len(self.pipeline.parsed) and time.monotonic() < deadline:
                time.sleep(0.005)
            self.overlapped = len(self.pipeline.parsed) == 1
        return self._scorer.score_records(records, **options)


def test_the_next_batch_is_parsed_while_one_is_scored(agent_package, agent_model):
    rows = generate_rows(40, seed=37)
    scorer = _WaitingScorer(Scorer.load(agent_model))
    run = scorer.pipeline = make_pipeline(agent_package, scorer, rows)
    run.start()
    run.join()
    assert scorer.overlapped
    alerts = run.alerts.out.alerts()
    assert [a["seq"] for a in alerts] == expected_alert_lines(agent_model, rows)
    assert run.exit_code == 0 and run.stats.totals["batches"] == 5


def test_a_failing_stage_ends_the_pipeline_instead_of_hanging(
    agent_package, agent_model
):
    scorer = Scorer.load(agent_model)

    class Failing:
        threshold, metadata = scorer.threshold, scorer.metadata

        def score_records(self, records, **options):
            raise RuntimeError("kernel exploded")

    run = make_pipeline(agent_package, Failing(), generate_rows(40, seed=38))
    run.start()
    run.join()
    assert run.exit_code == 1 and run.done.is_set()
