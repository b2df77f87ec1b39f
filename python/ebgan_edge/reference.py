"""The reference implementation of the scoring API, computed with torch.

:class:`TorchScorer` offers exactly the API of :class:`ebgan_edge.Scorer`;
it is the truth the compiled kernels are verified against. It needs torch
(``pip install ebgan-edge[train]``); ``import ebgan_edge`` does not.
"""

from __future__ import annotations

import os

import numpy as np

from ._api import BaseScorer
from .features import Normalization
from .model_file import LEAKY_SLOPE, ModelFile, read_model

__all__ = ["TorchScorer"]


class TorchScorer(BaseScorer):
    __doc__ = (
        BaseScorer.__doc__
        + """
    Computed in float32 with torch from the weights stored in the model file:
    fp16 weights widened to float32, as the kernels do; int8 models with the
    integer weights and per-row activation quantisation of the int8 kernels
    (cpp/include/ebgan/kernel_int8.h), each step an IEEE float32 operation.
    :attr:`kernel` is ``"torch"``.
    """
    )

    def __init__(self, model: ModelFile, threads: int = 1):
        import torch

        super().__init__(model, "torch", threads)
        self._torch = torch
        if model.precision == "int8":
            # Integer-valued float32 weights: every product and every partial
            # sum of a layer is an integer below 2^24, so the float32 matmul
            # is exact in any summation order, like the kernels' int32 one.
            self._layers = [
                (
                    torch.from_numpy(layer["weight"].astype(np.float32)),
                    torch.from_numpy(np.asarray(layer["weight_scale"], np.float32)),
                    torch.from_numpy(np.asarray(layer["bias"], np.float32)),
                    bool(layer["leaky_relu"]),
                )
                for layer in model.layers
            ]
            return
        self._layers = [
            (
                torch.from_numpy(w),
                torch.from_numpy(np.asarray(layer["bias"], np.float32)),
                bool(layer["leaky_relu"]),
            )
            for w, layer in zip(model.dequantized_weights(), model.layers)
        ]

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | bytes | None = None,
        *,
        kernel: str | None = None,
        threads: int = 1,
    ) -> TorchScorer:
        if kernel not in (None, "auto", "torch"):
            raise ValueError(
                f"TorchScorer computes with torch; kernel {kernel!r} is not one"
            )
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        return cls(read_model(path), threads)

    load.__doc__ = BaseScorer.load.__doc__

    @classmethod
    def from_module(
        cls,
        module,
        normalization: Normalization,
        threshold: float = 0.0,
        *,
        calibration: dict | None = None,
        metadata: dict | None = None,
    ) -> TorchScorer:
        """Score with a :class:`ebgan_edge.training.discriminator.Discriminator`
        directly, without writing a model file first."""
        layers = module.export_layers()
        for layer, leaky in zip(layers, (True, True, False, True, True, False)):
            layer["leaky_relu"] = leaky
        model = ModelFile(
            "fp32",
            layers,
            normalization,
            float(threshold),
            calibration or {},
            metadata or {},
        )
        return cls(model)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        previous = torch.get_num_threads()
        torch.set_num_threads(self._threads)
        try:
            with torch.inference_mode():
                # torch wants a writable buffer; a read-only batch is copied.
                x = torch.from_numpy(batch if batch.flags.writeable else batch.copy())
                if self.precision == "int8":
                    y = self._forward_int8(x)
                else:
                    y = self._forward_float(x)
                scores = ((y - x) ** 2).mean(dim=1).numpy().astype(np.float32)
                nan = np.flatnonzero(np.isnan(scores))
                if len(nan):
                    raise ValueError(
                        f"the score of row {nan[0]} is NaN: the batch or the model "
                        "overflows float32 (encoded records lie in [0, 1])"
                    )
                return scores, y.numpy().astype(np.float32)
        finally:
            torch.set_num_threads(previous)

    def _forward_float(self, x):
        functional = self._torch.nn.functional
        y = x
        for weight, bias, leaky in self._layers:
            y = functional.linear(y, weight, bias)
            if leaky:
                y = functional.leaky_relu(y, LEAKY_SLOPE)
        return y

    def _forward_int8(self, x):
        torch = self._torch
        y = x
        for weight, weight_scale, bias, leaky in self._layers:
            peak = y.abs().amax(dim=1, keepdim=True)
            nonzero = peak > 0
            # Tensor-by-tensor division: torch evaluates `127.0 / t` as a
            # multiplication by 1/t, which differs in the last bit.
            full = torch.full_like(peak, 127.0)
            inverse = torch.where(nonzero, full / torch.where(nonzero, peak, 1.0), 0.0)
            q = torch.clamp(torch.round(y * inverse), -127, 127)
            scale_x = peak / full
            y = (q @ weight.T) * (scale_x * weight_scale)
            y = y + bias
            if leaky:
                y = torch.where(y < 0, y * LEAKY_SLOPE, y)
        return y

    def _score(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)[0]

    def _reconstruct(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)[1]
