"""The IDS-EBGAN discriminator: an autoencoder whose reconstruction error is
the energy (anomaly score) of a record."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ebgan_edge.model_file import LAYER_WIDTHS, LEAKY_SLOPE

__all__ = ["Discriminator", "energy"]


def energy(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-row mean over features of the squared reconstruction error."""
    return ((reconstruction - x) ** 2).mean(dim=1)


class Discriminator(nn.Module):
    """Autoencoder 121-512-256-100 (encoder), 100-128-256-121 (decoder).

    LeakyReLU (slope :data:`ebgan_edge.model_file.LEAKY_SLOPE`) follows the
    first two layers of the encoder and of the decoder; the bottleneck and the
    output are linear.

    Parameters
    ----------
    spectral_norm : bool, default False
        Apply spectral normalisation to the encoder's layers, as IDS-EBGAN
        does to keep the discriminator Lipschitz while it trains against the
        generator.
    """

    def __init__(self, spectral_norm: bool = False):
        super().__init__()
        w = LAYER_WIDTHS

        def dense(i: int, normalised: bool) -> nn.Linear:
            layer = nn.Linear(w[i], w[i + 1])
            return _spectral_norm(layer) if normalised else layer

        def act() -> nn.LeakyReLU:
            return nn.LeakyReLU(LEAKY_SLOPE)

        self.encoder = nn.Sequential(
            dense(0, spectral_norm),
            act(),
            dense(1, spectral_norm),
            act(),
            dense(2, spectral_norm),
        )
        self.decoder = nn.Sequential(
            dense(3, False), act(), dense(4, False), act(), dense(5, False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x``."""
        return self.decoder(self.encoder(x))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly score of every row of ``x``."""
        return energy(self(x), x)

    def dense_layers(self) -> list[nn.Linear]:
        return [m for m in (*self.encoder, *self.decoder) if isinstance(m, nn.Linear)]

    @torch.no_grad()
    def export_layers(self) -> list[dict]:
        """Effective float32 weights and biases, as the model writer takes them.

        With spectral normalisation the effective weight is the normalised one
        (the module must be in eval mode so no power iteration runs).
        """
        was_training = self.training
        self.eval()
        layers = [
            {
                "weight": layer.weight.detach().cpu().numpy().astype(np.float32),
                "bias": layer.bias.detach().cpu().numpy().astype(np.float32),
            }
            for layer in self.dense_layers()
        ]
        self.train(was_training)
        return layers
