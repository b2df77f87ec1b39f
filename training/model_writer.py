"""The one writer of model files (format version 1, docs/model-format.md).

Only numpy is needed: the writer takes plain arrays, so that export from
torch, conversion from ONNX and the tests' generated models all go through
the same bytes.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from ebgan_edge.features import FEATURE_NAMES, Normalization
from ebgan_edge.model_file import FORMAT_VERSION, LAYER_WIDTHS, LEAKY_SLOPE, MAGIC

__all__ = ["model_bytes", "write_model"]

_PRECISION_CODES = {"fp32": 0, "fp16": 1, "int8": 2}
_ENCODING_VERSION = 1
# LeakyReLU after layers 0, 1 (encoder) and 3, 4 (decoder).
_LEAKY = (True, True, False, True, True, False)
_HEADER = struct.Struct("<8sIIQII")
_ENTRY = struct.Struct("<4sIQQ")


def _precision_of(layers: Sequence[dict]) -> str:
    dtypes = {np.asarray(layer["weight"]).dtype for layer in layers}
    if len(dtypes) != 1:
        raise ValueError(
            f"all layers must share one weight dtype, got {sorted(map(str, dtypes))}"
        )
    dtype = dtypes.pop()
    for name, numpy_dtype in (
        ("fp32", np.float32),
        ("fp16", np.float16),
        ("int8", np.int8),
    ):
        if dtype == numpy_dtype:
            return name
    raise ValueError(f"weights must be float32, float16 or int8, got {dtype}")


def _layer_bytes(layer: dict, index: int, precision: str) -> bytes:
    shape = (LAYER_WIDTHS[index + 1], LAYER_WIDTHS[index])
    weight = np.asarray(layer["weight"])
    if weight.shape != shape:
        raise ValueError(
            f"layer {index} weight has shape {weight.shape}, expected {shape}"
        )
    bias = np.asarray(layer["bias"], dtype=np.float32)
    if bias.shape != shape[:1]:
        raise ValueError(
            f"layer {index} bias has shape {bias.shape}, expected {shape[:1]}"
        )
    if precision == "int8" and weight.min(initial=0) < -127:
        raise ValueError(
            f"layer {index} has int8 weight -128; clamp weights to [-127, 127]"
        )
    parts = [weight.astype(weight.dtype.newbyteorder("<")).tobytes()]
    if precision == "int8":
        scale = np.asarray(layer["weight_scale"], dtype="<f4")
        if scale.shape != shape[:1]:
            raise ValueError(f"layer {index} weight_scale has shape {scale.shape}")
        parts.append(scale.tobytes())
    parts.append(bias.astype("<f4").tobytes())
    if precision == "int8":
        parts.append(
            struct.pack(
                "<fi",
                float(layer.get("input_scale", 0.0)),
                int(layer.get("input_zero_point", 0)),
            )
        )
    return b"".join(parts)


def model_bytes(
    layers: Sequence[dict],
    normalization: Normalization,
    threshold: float,
    calibration: dict | None = None,
    metadata: dict | None = None,
) -> bytes:
    """Serialise a model into the bytes of a model file.

    Parameters
    ----------
    layers : sequence of 6 dicts
        Per dense layer, ``weight`` of shape (out, in) as float32, float16
        or int8 (one dtype for all layers; it sets the file's precision),
        ``bias`` (out,), and for int8 ``weight_scale`` (out,),
        ``input_scale`` (0.0 for per-row dynamic quantisation) and
        ``input_zero_point``.
    normalization : Normalization
    threshold : float
        Scores strictly above it are flagged.
    calibration : dict, optional
        How the threshold was chosen (JSON-serialisable).
    metadata : dict, optional
        Provenance (JSON-serialisable).
    """
    if len(layers) != len(LAYER_WIDTHS) - 1:
        raise ValueError(f"expected {len(LAYER_WIDTHS) - 1} layers, got {len(layers)}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    precision = _precision_of(layers)

    architecture = struct.pack("<I", len(layers))
    for i, leaky in enumerate(_LEAKY):
        architecture += struct.pack(
            "<III", LAYER_WIDTHS[i], LAYER_WIDTHS[i + 1], int(leaky)
        )
    architecture += struct.pack("<fI", LEAKY_SLOPE, 0)

    weights = struct.pack("<I", _PRECISION_CODES[precision]) + b"".join(
        _layer_bytes(layer, i, precision) for i, layer in enumerate(layers)
    )
    names = "\n".join(FEATURE_NAMES).encode("utf-8")
    norm = (
        struct.pack("<II", _ENCODING_VERSION, len(normalization.minimum))
        + normalization.minimum.astype("<f4").tobytes()
        + normalization.maximum.astype("<f4").tobytes()
        + struct.pack("<I", len(names))
        + names
    )
    calibration_json = json.dumps(calibration or {}, sort_keys=True).encode("utf-8")
    thresholds = (
        struct.pack("<fI", float(threshold), len(calibration_json)) + calibration_json
    )
    meta = json.dumps(metadata or {}, sort_keys=True).encode("utf-8")

    sections = [
        (b"ARCH", architecture),
        (b"LAYR", weights),
        (b"NORM", norm),
        (b"THRS", thresholds),
        (b"META", meta),
    ]
    table_end = _HEADER.size + _ENTRY.size * len(sections)
    body, table, offset = [], [], table_end
    for tag, payload in sections:
        padding = -offset % 8  # sections start 8-byte aligned
        body.append(b"\0" * padding)
        offset += padding
        table.append(_ENTRY.pack(tag, 0, offset, len(payload)))
        body.append(payload)
        offset += len(payload)
    size = offset + 4
    head = _HEADER.pack(MAGIC, FORMAT_VERSION, len(sections), size, 0, 0)
    content = head + b"".join(table) + b"".join(body)
    return content + struct.pack("<I", zlib.crc32(content))


def write_model(path: str | os.PathLike, *args, **kwargs) -> None:
    """Write a model file; takes the arguments of :func:`model_bytes`."""
    data = model_bytes(*args, **kwargs)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
