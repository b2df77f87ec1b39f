"""Weight quantisation for fp16 and int8 model files.

int8 uses symmetric per-output-channel weight scales, ``w ~= q * scale`` with
``q`` in [-127, 127], and leaves activations to be quantised per row at run
time (``input_scale`` 0 in the file): the scheme the int8 kernels implement,
described in ``cpp/include/ebgan/kernel_int8.h`` and docs/quantization.md.
Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PRECISIONS", "convert_model", "quantize_layers"]

PRECISIONS = ("fp32", "fp16", "int8")


def _int8_layer(weight: np.ndarray, bias: np.ndarray) -> dict:
    peak = np.abs(weight).max(axis=1)
    # An all-zero channel still needs a positive scale; its weights stay 0.
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.rint(weight.astype(np.float64) / scale.astype(np.float64)[:, None])
    return {
        "weight": np.clip(q, -127, 127).astype(np.int8),
        "weight_scale": scale,
        "bias": bias,
        "input_scale": 0.0,
        "input_zero_point": 0,
    }


def quantize_layers(layers: Sequence[dict], precision: str) -> list[dict]:
    """Convert float32 layers (``weight`` (out, in), ``bias``) to a precision.

    Parameters
    ----------
    layers : sequence of dict
        float32 weights and biases, as ``Discriminator.export_layers`` gives.
    precision : {"fp32", "fp16", "int8"}

    Returns
    -------
    list of dict
        Layers in the form the model writer takes for that precision. Biases
        stay float32 in every precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out = []
    for layer in layers:
        weight = np.asarray(layer["weight"], dtype=np.float32)
        bias = np.asarray(layer["bias"], dtype=np.float32)
        if precision == "fp32":
            out.append({"weight": weight, "bias": bias})
        elif precision == "fp16":
            out.append({"weight": weight.astype(np.float16), "bias": bias})
        else:
            out.append(_int8_layer(weight, bias))
    return out


def convert_model(model, precision: str, validate_on=None) -> dict:
    """A model file's contents at another precision, as ``write_model`` takes
    them (``layers``, ``normalization``, ``threshold``, ``calibration``,
    ``metadata``).

    Parameters
    ----------
    model : ModelFile
        An fp32 model (or one already at ``precision``, returned unchanged).
    precision : {"fp32", "fp16", "int8"}
    validate_on : path, optional
        The model's training file. With it the threshold is recalibrated (the
        same quantile of the converted model's scores on the same held-out
        normal rows) and a comparison with the fp32 model on the validation
        rows is stored in the metadata (``quantization``). Without it the fp32
        threshold is kept and the calibration record says so.
    """
    fields = {
        "layers": model.layers,
        "normalization": model.normalization,
        "threshold": model.threshold,
        "calibration": dict(model.calibration),
        "metadata": dict(model.metadata),
    }
    if model.precision == precision:
        return fields
    if model.precision != "fp32":
        raise ValueError(
            f"the model is {model.precision}; precision is converted from fp32 only"
        )
    weights = zip(model.dequantized_weights(), model.layers)
    layers = [{"weight": w, "bias": layer["bias"]} for w, layer in weights]
    fields["layers"] = layers = quantize_layers(layers, precision)
    metadata = fields["metadata"]
    metadata["precision"] = precision
    if "model_id" in metadata:
        metadata["model_id"] = f"{metadata['model_id']}-{precision}"
    if validate_on is None:
        fields["calibration"].update(
            recalibrated_for=None,
            note=f"threshold of the fp32 original, not recalibrated for {precision} "
            "(convert with --validate-on to recalibrate)",
        )
        return fields

    from ebgan_edge.scorer import Scorer

    from .model_writer import model_bytes
    from .precision_report import (
        calibration_rows,
        compare_precisions,
        recalibrate,
        validation_rows,
    )

    # The converted model's scores differ a little, so its threshold is
    # calibrated again, on the same rows and at the same quantile.
    converted = Scorer.load(model_bytes(layers, model.normalization, model.threshold))
    threshold, calibration = recalibrate(
        converted,
        calibration_rows(model, validate_on),
        model.calibration,
        model.threshold,
    )
    x, is_attack = validation_rows(model, validate_on)
    candidate = Scorer.load(model_bytes(layers, model.normalization, threshold))
    original = Scorer.load(
        model_bytes(model.layers, model.normalization, model.threshold)
    )
    metadata["quantization"] = compare_precisions(original, candidate, x, is_attack)
    fields["threshold"], fields["calibration"] = threshold, calibration
    return fields
