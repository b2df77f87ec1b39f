"""Generated NSL-KDD-like rows for tests and smoke runs (numpy only).

The rows have the shape of the real file (41 fields, a label, a difficulty
level) and loosely imitate its classes: normal traffic is mostly logged-in
TCP with moderate byte counts, neptune is a SYN flood of many ``S0``
connections, smurf large ICMP echo replies, teardrop and pod carry wrong
fragments, back sends large HTTP payloads with ``hot`` indicators. They are
made up from these descriptions, not drawn from NSL-KDD, and only good
enough for a model to tell the classes apart in a few epochs.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from ebgan_edge.features import RAW_FIELD_NAMES

__all__ = ["synthetic_rows", "write_csv"]

_COLUMN = {name: i for i, name in enumerate(RAW_FIELD_NAMES)}
_DEFAULT_COUNTS = {
    "normal": 400,
    "neptune": 120,
    "smurf": 40,
    "back": 20,
    "teardrop": 15,
    "pod": 8,
}


def _row(label: str, rng: np.random.Generator) -> list:
    row: list = [0] * len(RAW_FIELD_NAMES)

    def put(name, value):
        row[_COLUMN[name]] = value

    def rate():
        return round(float(rng.uniform(0, 1)), 2)

    if label == "normal":
        put("protocol_type", rng.choice(["tcp", "tcp", "tcp", "udp"]))
        put("service", rng.choice(["http", "smtp", "ftp_data", "domain_u", "private"]))
        put("flag", "SF")
        put("src_bytes", int(rng.integers(100, 3000)))
        put("dst_bytes", int(rng.integers(0, 20000)))
        put("logged_in", int(rng.random() < 0.7))
        put("count", int(rng.integers(1, 20)))
        put("srv_count", int(rng.integers(1, 30)))
        put("same_srv_rate", round(float(rng.uniform(0.8, 1)), 2))
        put("dst_host_count", int(rng.integers(1, 255)))
        put("dst_host_srv_count", int(rng.integers(1, 255)))
        put("dst_host_same_srv_rate", rate())
        put("dst_host_diff_srv_rate", round(float(rng.uniform(0, 0.1)), 2))
        put("dst_host_same_src_port_rate", rate())
    elif label == "neptune":
        put("protocol_type", "tcp")
        put("service", rng.choice(["private", "http", "telnet", "finger"]))
        put("flag", rng.choice(["S0", "REJ"]))
        put("count", int(rng.integers(100, 511)))
        put("srv_count", int(rng.integers(1, 30)))
        for name in (
            "serror_rate",
            "srv_serror_rate",
            "dst_host_serror_rate",
            "dst_host_srv_serror_rate",
        ):
            put(name, round(float(rng.uniform(0.9, 1)), 2))
        put("same_srv_rate", round(float(rng.uniform(0, 0.1)), 2))
        put("dst_host_count", 255)
        put("dst_host_srv_count", int(rng.integers(1, 30)))
    elif label == "smurf":
        put("protocol_type", "icmp")
        put("service", "ecr_i")
        put("flag", "SF")
        put("src_bytes", int(rng.choice([520, 1032])))
        put("count", 511)
        put("srv_count", 511)
        put("same_srv_rate", 1.0)
        put("dst_host_count", 255)
        put("dst_host_srv_count", 255)
        put("dst_host_same_srv_rate", 1.0)
        put("dst_host_same_src_port_rate", 1.0)
    elif label in ("teardrop", "pod"):
        put("protocol_type", "udp" if label == "teardrop" else "icmp")
        put("service", "private" if label == "teardrop" else "ecr_i")
        put("flag", "SF")
        put("src_bytes", 28 if label == "teardrop" else 1480)
        put("wrong_fragment", 3 if label == "teardrop" else 1)
        put("count", int(rng.integers(1, 100)))
        put("srv_count", int(rng.integers(1, 100)))
        put("dst_host_count", int(rng.integers(1, 255)))
    elif label == "back":
        put("protocol_type", "tcp")
        put("service", "http")
        put("flag", "SF")
        put("src_bytes", 54540)
        put("dst_bytes", int(rng.integers(7000, 9000)))
        put("hot", 2)
        put("num_compromised", 1)
        put("logged_in", 1)
        put("count", int(rng.integers(1, 10)))
        put("dst_host_count", int(rng.integers(50, 255)))
        put("dst_host_srv_count", int(rng.integers(50, 255)))
    else:
        raise ValueError(f"no generator for label {label!r}")
    return [*row, label, int(rng.integers(5, 22))]


def synthetic_rows(counts: dict[str, int] | None = None, seed: int = 0) -> list[list]:
    """Rows of 43 fields (41 features, label, difficulty), shuffled.

    Parameters
    ----------
    counts : dict of label to int, optional
        Rows per label; labels are normal, neptune, smurf, back, teardrop
        and pod.
    seed : int
    """
    rng = np.random.default_rng(seed)
    rows = [
        _row(label, rng)
        for label, count in (counts or _DEFAULT_COUNTS).items()
        for _ in range(count)
    ]
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_csv(path: str | os.PathLike, rows: list[list]) -> None:
    """Write rows as an NSL-KDD file (comma-separated, no header)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
