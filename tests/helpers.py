"""Generated NSL-KDD-like records and small model files for the tests.

No dataset rows live in the repository: tests run on records generated
here, and those that need the real training file find it at DATA_FILE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebgan_edge import features
from ebgan_edge.features import Normalization

DATA_FILE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "datasets"
    / "nsl-kdd"
    / "KDDTrain+_20Percent.txt"
)

# Plausible upper ends of the numeric raw fields, by name, for generation.
_COUNT_LIMITS = {
    "duration": 5000,
    "src_bytes": 100_000,
    "dst_bytes": 100_000,
    "wrong_fragment": 3,
    "hot": 30,
    "num_failed_logins": 5,
    "num_compromised": 20,
    "su_attempted": 2,
    "num_root": 20,
    "num_file_creations": 10,
    "num_shells": 2,
    "num_access_files": 5,
    "count": 511,
    "srv_count": 511,
    "dst_host_count": 255,
    "dst_host_srv_count": 255,
}


def generate_rows(n: int, seed: int = 0, labels: bool = True) -> list[list[str]]:
    """Random raw records in the NSL-KDD layout (41 fields [+ label, difficulty])."""
    rng = np.random.default_rng(seed)
    rows = []
    label_pool = ["normal", "normal", "neptune", "smurf", "satan", "guess_passwd"]
    for _ in range(n):
        row = []
        for column, name in enumerate(features.RAW_FIELD_NAMES):
            if column == 1:
                row.append(str(rng.choice(features.PROTOCOL_TYPES)))
            elif column == 2:
                row.append(str(rng.choice(features.SERVICES)))
            elif column == 3:
                row.append(str(rng.choice(features.FLAGS)))
            elif name == "num_outbound_cmds":
                row.append("0")
            elif name.endswith("_rate"):
                row.append(f"{rng.integers(0, 101) / 100:.2f}")
            elif name in _COUNT_LIMITS:
                row.append(str(int(rng.integers(0, _COUNT_LIMITS[name] + 1))))
            else:
                row.append(str(int(rng.integers(0, 2))))
        if labels:
            row += [str(rng.choice(label_pool)), str(int(rng.integers(0, 22)))]
        rows.append(row)
    return rows


def random_layers(seed: int = 0, precision=np.float32) -> list[dict]:
    """Dense layers of the fixed architecture with N(0, 1/fan_in) weights."""
    from ebgan_edge.model_file import LAYER_WIDTHS

    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(LAYER_WIDTHS[:-1], LAYER_WIDTHS[1:]):
        weight = rng.normal(0, fan_in**-0.5, (fan_out, fan_in)).astype(np.float32)
        bias = rng.normal(0, 0.05, fan_out).astype(np.float32)
        layers.append({"weight": weight.astype(precision), "bias": bias})
    return layers


def model_file_bytes(seed: int = 0, threshold: float = 0.05, **kwargs) -> bytes:
    from ebgan_edge.training.model_writer import model_bytes

    records = features.parse_records(generate_rows(200, seed))
    return model_bytes(
        kwargs.pop("layers", None) or random_layers(seed),
        Normalization.fit(records),
        threshold,
        calibration={"method": "test"},
        metadata={"model_id": f"test-{seed}"},
        **kwargs,
    )


def assert_fp32_scores_close(scores, reference) -> None:
    """The documented fp32 agreement bound (Fp32ScoreTolerance in kernel.h):
    |s - s_ref| <= relative * s_ref + sqrt_term * sqrt(s_ref)."""
    from ebgan_edge import _core

    schema = _core.schema()
    scores = np.asarray(scores, np.float64)
    reference = np.asarray(reference, np.float64)
    tolerance = schema["fp32_relative_bound"] * reference + schema[
        "fp32_sqrt_bound"
    ] * np.sqrt(reference)
    excess = np.abs(scores - reference) - tolerance
    worst = int(np.argmax(excess))
    assert excess[worst] <= 0, (
        f"row {worst}: score {scores[worst]!r} vs reference {reference[worst]!r}, "
        f"tolerance {tolerance[worst]:.3g}"
    )
