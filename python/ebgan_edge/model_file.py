"""Reading model files (format version 1, see docs/model-format.md).

The compiled core holds the only reader; this module turns what it returns
into a :class:`ModelFile`. The writer lives with the training code
(:mod:`ebgan_edge.training.model_writer`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from . import _core
from .features import Normalization

__all__ = ["ModelFile", "ModelFileError", "default_model_path", "read_model"]

ModelFileError = _core.ModelFileError

_SCHEMA = _core.schema()
#: Widths of the autoencoder's layers: 121-512-256-100-128-256-121.
LAYER_WIDTHS: tuple[int, ...] = tuple(_SCHEMA["layer_widths"])
#: Negative slope of every LeakyReLU in the model, in every implementation.
LEAKY_SLOPE: float = float(_SCHEMA["leaky_slope"])
FORMAT_VERSION: int = int(_SCHEMA["format_version"])
MAGIC: bytes = _SCHEMA["magic"]


def default_model_path() -> Path:
    """Path of the model shipped inside the package."""
    return Path(str(resources.files("ebgan_edge") / "models" / "default.ebgan"))


def _json_object(raw: bytes, what: str) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(
            f"invalid model file: {what} is not valid JSON ({e})"
        ) from None
    if not isinstance(value, dict):
        raise ModelFileError(f"invalid model file: {what} is not a JSON object")
    return value


@dataclass(frozen=True)
class ModelFile:
    """The contents of a model file.

    Attributes
    ----------
    precision : {"fp32", "fp16", "int8"}
    layers : list of dict
        Per dense layer: ``weight`` (out, in) in the stored dtype, ``bias``
        (out,) float32, and for int8 ``weight_scale``, ``input_scale`` and
        ``input_zero_point``.
    normalization : Normalization
    threshold : float
        A score strictly above it is flagged as an attack.
    calibration : dict
        How the threshold was chosen.
    metadata : dict
        Provenance: training data, options, seed, metrics, code version.
    """

    precision: str
    layers: list
    normalization: Normalization
    threshold: float
    calibration: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def dequantized_weights(self) -> list[np.ndarray]:
        """Weights as float32 (out, in) arrays, exactly as the kernels use them."""
        out = []
        for layer in self.layers:
            w = layer["weight"]
            if self.precision == "int8":
                w = w.astype(np.float32) * layer["weight_scale"][:, None]
            out.append(np.asarray(w, dtype=np.float32))
        return out


def read_model(source: str | os.PathLike | bytes | None = None) -> ModelFile:
    """Read and validate a model file.

    Parameters
    ----------
    source : path, bytes or None
        A model file path, its bytes, or None for the shipped default model.

    Raises
    ------
    ModelFileError
        The file is damaged, not a model file, or this build cannot run it.
    OSError
        The file cannot be read.
    """
    if source is None:
        source = default_model_path()
    return model_from_core(_core.read_model(source))


def model_from_core(raw: dict) -> ModelFile:
    """Build a :class:`ModelFile` from the dict the compiled reader returns."""
    return ModelFile(
        precision=raw["precision"],
        layers=raw["layers"],
        normalization=Normalization(raw["minimum"], raw["maximum"]),
        threshold=float(raw["threshold"]),
        calibration=_json_object(raw["calibration_json"], "the threshold calibration"),
        metadata=_json_object(raw["metadata_json"], "the metadata"),
    )
