"""The model and the inputs every backend is timed on.

Inputs are NSL-KDD records: the training file when it is present
(``EBGAN_BENCH_DATA``, or the shared data folder beside the repository), and
otherwise records generated here from the model's own vocabulary. Either way
the rows are shuffled with a fixed seed, so a batch of n is the same n rows for
every backend and every run on the same data. The pool is kept twice, as
parsed :class:`~ebgan_edge.features.Records` (the input of the record
workload) and as their (n, 121) encoding (the input of every other cell), row
for row the same records. No data row is ever written into the repository:
only the source's name and digest are recorded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ebgan_edge import Records, encode, parse_records, read_model
from ebgan_edge import features as feature_schema
from ebgan_edge.model_file import LEAKY_SLOPE, ModelFile

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = (
    REPO.parent / "shared" / "datasets" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
)
# The fp32 original of the shipped model: every backend starts from fp32
# weights, and the fp16 and int8 ebgan-edge files are converted from it.
FP32_MODEL = REPO / "firmware_models" / "ids-ebgan-dos-fp32.ebgan"
BATCH_SIZES = (1, 16, 256, 4096)
# Rows every backend is checked on before it is timed: enough to include
# normal traffic and every attack family of the training file.
CHECK_ROWS = 512
# Floating-point operations of one row: two per weight (multiply and add).
FLOP_PER_ROW = 590_336


def cache_dir() -> Path:
    """Where exported models (ONNX, TorchScript, .pte, .tflite) are kept.

    ``EBGAN_BENCH_CACHE`` overrides the default, ``build/bench-cache`` in the
    repository, which git ignores with the rest of ``build/``.
    """
    path = Path(os.environ.get("EBGAN_BENCH_CACHE", REPO / "build" / "bench-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Workload:
    """One model and a shuffled pool of its input records, parsed and
    encoded."""

    model_path: Path
    model: ModelFile
    records: np.ndarray  # (n, 121) float32, C-contiguous
    source: dict  # where the records came from, without the records
    raw: Records  # the same n records, parsed (row i encodes to records[i])
    _raw_batches: dict = field(default_factory=dict, repr=False, compare=False)

    def batch(self, rows: int) -> np.ndarray:
        """The first ``rows`` records of the pool, C-contiguous float32."""
        if rows > len(self.records):
            raise ValueError(f"the pool has {len(self.records)} rows, asked for {rows}")
        return self.records[:rows]

    def check_batch(self) -> np.ndarray:
        return self.records[:CHECK_ROWS]

    def record_batch(self, rows: int) -> Records:
        """The first ``rows`` records of the pool, parsed: the rows of
        :meth:`batch` before encoding. Built once per size, so a timed call
        never pays for the slicing."""
        if rows > len(self.raw):
            raise ValueError(f"the pool has {len(self.raw)} rows, asked for {rows}")
        if rows not in self._raw_batches:
            self._raw_batches[rows] = self.raw.subset(slice(0, rows))
        return self._raw_batches[rows]


def synthetic_rows(n: int, seed: int) -> list[list[str]]:
    """Raw records in the NSL-KDD layout with plausible, mostly small values.

    Counts and byte totals are heavy-tailed as in real traffic (most zero or
    small), rates lie in [0, 1] in steps of 0.01, categories are drawn from
    the model's vocabulary.
    """
    rng = np.random.default_rng(seed)
    names = feature_schema.RAW_FIELD_NAMES
    rows = []
    for _ in range(n):
        row = []
        for column, name in enumerate(names):
            if column == 1:
                row.append(str(rng.choice(feature_schema.PROTOCOL_TYPES)))
            elif column == 2:
                row.append(str(rng.choice(feature_schema.SERVICES)))
            elif column == 3:
                row.append(str(rng.choice(feature_schema.FLAGS)))
            elif name.endswith("_rate"):
                row.append(f"{rng.integers(0, 101) / 100:.2f}")
            elif name in ("num_outbound_cmds", "land", "is_host_login"):
                row.append("0")
            else:
                row.append(str(int(rng.pareto(1.5) * 3) if rng.random() < 0.4 else 0))
        rows.append(row)
    return rows


def load_workload(
    model_path: str | os.PathLike | None = None,
    data_path: str | os.PathLike | None = None,
    rows: int = 8192,
    seed: int = 0,
) -> Workload:
    """Read the model and build the shuffled record pool.

    Parameters
    ----------
    model_path : path, optional
        Model file; the one shipped with the package by default.
    data_path : path, optional
        A raw NSL-KDD file. Default: ``EBGAN_BENCH_DATA`` if set, else the
        training file in the shared data folder if it exists, else generated
        records.
    rows : int
        Size of the pool; at least the largest batch size.
    seed : int
        Seed of the shuffle (and of generated records).
    """
    model_path = Path(model_path) if model_path else FP32_MODEL
    model = read_model(model_path)
    if data_path is None:
        env = os.environ.get("EBGAN_BENCH_DATA")
        data_path = (
            Path(env) if env else (DEFAULT_DATA if DEFAULT_DATA.is_file() else None)
        )

    rng = np.random.default_rng(seed)
    if data_path is not None:
        from ebgan_edge import read_records

        raw = read_records(data_path)
        source = {
            "kind": "file",
            "name": Path(data_path).name,
            "sha256": sha256_of(Path(data_path)),
            "rows_in_file": len(raw),
        }
        pick = rng.permutation(len(raw))[:rows]
        if len(pick) < rows:  # a short file: draw with replacement
            pick = rng.integers(0, len(raw), rows)
        raw = raw.subset(pick)
    else:
        raw = parse_records(synthetic_rows(rows, seed), source="generated")
        source = {"kind": "generated", "seed": seed}
    # Encoding is row by row, so encoding the shuffled pool gives the same
    # matrix as shuffling the encoded file.
    encoded = np.ascontiguousarray(encode(raw, model.normalization), np.float32)
    source.update(rows=rows, shuffle_seed=seed)
    return Workload(model_path, model, encoded, source, raw)


def energy_module(model: ModelFile):
    """The autoencoder and its anomaly score as one torch module.

    ``forward(x)`` returns the per-row mean of squared reconstruction errors,
    so that every exported graph (ONNX, TorchScript, ExecuTorch, LiteRT)
    computes the score itself, exactly as ebgan-edge does, rather than
    leaving the reduction to Python.
    """
    import torch

    class EnergyModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList()
            self.leaky = []
            for weight, layer in zip(model.dequantized_weights(), model.layers):
                linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
                linear.weight.data = torch.from_numpy(np.array(weight, np.float32))
                linear.bias.data = torch.from_numpy(np.array(layer["bias"], np.float32))
                self.layers.append(linear)
                self.leaky.append(bool(layer["leaky_relu"]))

        def forward(self, x):
            y = x
            for linear, leaky in zip(self.layers, self.leaky):
                y = linear(y)
                if leaky:
                    y = torch.nn.functional.leaky_relu(y, LEAKY_SLOPE)
            return ((y - x) ** 2).mean(dim=1)

    return EnergyModel().eval()
