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

__all__ = ["PRECISIONS", "quantize_layers"]

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
