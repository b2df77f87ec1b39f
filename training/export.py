"""Turning a training checkpoint into a model file, with its provenance."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np

from ebgan_edge.features import Normalization

__all__ = ["code_version", "export_checkpoint", "model_id"]


def code_version() -> dict:
    """Package version and, in a git checkout, the commit of the code."""
    from ebgan_edge import __version__

    version = {"ebgan_edge": __version__}
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    version["git_commit"] = commit
    # Uncommitted changes mean the commit alone does not reproduce the model.
    version["git_dirty"] = bool(dirty)
    return version


def model_id(layers: list[dict], threshold: float, prefix: str) -> str:
    """Content-derived identifier: ``prefix`` and a digest of the weights."""
    digest = hashlib.sha256()
    for layer in layers:
        digest.update(np.ascontiguousarray(layer["weight"], dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(layer["bias"], dtype="<f4").tobytes())
    digest.update(np.float32(threshold).tobytes())
    return f"{prefix}-{digest.hexdigest()[:12]}"


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    precision: str = "fp32",
    validate_on: str | os.PathLike | None = None,
) -> dict:
    """Write the model file of a checkpoint.

    Parameters
    ----------
    checkpoint : path
        A ``checkpoint.pt`` written by ``ebgan-edge train``, or the run
        directory holding it.
    out : path
        Model file to write (atomically replaced).
    precision : {"fp32", "fp16", "int8"}
        Weight precision; fp16 and int8 are converted from the trained fp32
        weights as ``ebgan-edge convert`` converts them
        (:func:`ebgan_edge.training.quantize.convert_model`).
    validate_on : path, optional
        The training file: for fp16 and int8, recalibrates the threshold and
        stores the comparison with fp32 (see ``convert_model``).

    Returns
    -------
    dict
        The metadata stored in the model file.
    """
    from ebgan_edge.model_file import read_model
    from ebgan_edge.training.model_writer import model_bytes, write_model
    from ebgan_edge.training.quantize import PRECISIONS, convert_model

    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    from ebgan_edge.training.trainer import load_checkpoint

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        checkpoint = checkpoint / "checkpoint.pt"
    model, run = load_checkpoint(checkpoint)
    layers = model.export_layers()
    normalization = Normalization(
        np.asarray(run["normalization"]["minimum"], dtype=np.float32),
        np.asarray(run["normalization"]["maximum"], dtype=np.float32),
    )
    options = run["options"]
    prefix = f"{options['trainer']}-{options['attack']}"
    metadata = {
        "model_id": model_id(layers, run["threshold"], prefix),
        "trainer": options["trainer"],
        "attack": options["attack"],
        "options": options,
        "seed": run["seed"],
        "best_epoch": run["best_epoch"],
        "splits": run["splits"],
        "validation": _summary(run["validation"]),
        "precision": "fp32",
        **run["provenance"],
        "export_code_version": code_version(),
    }
    fp32 = model_bytes(
        layers,
        normalization,
        run["threshold"],
        calibration=run["calibration"],
        metadata=metadata,
    )
    fields = convert_model(read_model(fp32), precision, validate_on)
    write_model(out, **fields)
    return fields["metadata"]


def _summary(validation: dict) -> dict:
    """The validation figures worth carrying inside a model file."""
    out = {}
    for name, result in validation.items():
        entry = {
            "rows": result["rows"],
            "attack": result["attack"],
            "roc_auc": result["roc_auc"],
        }
        for protocol in ("top_fraction", "threshold"):
            if protocol in result:
                entry[protocol] = {
                    k: result[protocol][k]
                    for k in ("precision", "recall", "f1", "false_positive_rate")
                }
        out[name] = entry
    return out
