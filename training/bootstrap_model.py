"""Placeholder default model: a plain autoencoder trained briefly on normal rows.

It lets the package score out of the box until the IDS-EBGAN training
pipeline produces the real default model. Rebuild with::

    python -m ebgan_edge.training.bootstrap_model DATA.txt firmware_models/default.ebgan
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import torch
from ebgan_edge.features import Normalization, encode, read_records
from ebgan_edge.training.discriminator import Discriminator
from ebgan_edge.training.model_writer import write_model

SEED, EPOCHS, QUANTILE = 0, 3, 0.99


def main(data_path: str, out_path: str) -> None:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    records = read_records(data_path)
    normal = np.flatnonzero(records.families == "normal")
    rng.shuffle(normal)
    fit, held_out = normal[: int(0.8 * len(normal))], normal[int(0.8 * len(normal)) :]
    normalization = Normalization.fit(records.subset(fit))
    x = torch.from_numpy(encode(records.subset(fit), normalization))

    model = Discriminator()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            model.energy(x[batch]).mean().backward()
            optimizer.step()

    model.eval()
    with torch.no_grad():
        held = model.energy(
            torch.from_numpy(encode(records.subset(held_out), normalization))
        )
    threshold = float(np.quantile(held.numpy(), QUANTILE))
    with open(data_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    write_model(
        out_path,
        model.export_layers(),
        normalization,
        threshold,
        calibration={
            "method": "quantile of held-out normal scores",
            "quantile": QUANTILE,
            "rows": len(held_out),
        },
        metadata={
            "placeholder": True,
            "trainer": "plain autoencoder",
            "epochs": EPOCHS,
            "seed": SEED,
            "data_sha256": digest,
        },
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
