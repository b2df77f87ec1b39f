"""Training of the IDS-EBGAN discriminator (and of the plain autoencoder it is
compared with), threshold calibration, validation and checkpoints.

The discriminator D is the autoencoder of :mod:`.discriminator`; its energy
D(x) is the per-row reconstruction error. Per batch of normal rows ``x``,
with real attack rows ``a`` of the fitting types and noise ``z``:

* the generator rewrites the non-functional features of ``a``:
  ``x_adv = G(a, z)``;
* D minimises ``L_D = D(x) + max(0, m - D(x_adv))`` (means over the batch),
  learning low energy for normal traffic and energy of at least the margin
  ``m`` for disguised attacks;
* G minimises ``L_G = D(x_adv) + lambda_pt * PT(encoder(x_adv))``, trying to
  make its attacks look normal while the pull-away term PT keeps them
  diverse.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from ebgan_edge.features import Normalization, Records, encode
from ebgan_edge.training.discriminator import Discriminator
from ebgan_edge.training.generator import Generator, pull_away
from ebgan_edge.training.metrics import evaluate_scores
from ebgan_edge.training.options import TrainOptions
from ebgan_edge.training.splits import Splits, make_splits

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainOptions",
    "TrainResult",
    "load_checkpoint",
    "train",
]

CHECKPOINT_FORMAT = "ebgan-edge-checkpoint/1"
_SCORE_BATCH = 8192


@dataclass
class TrainResult:
    """A trained model with everything a checkpoint and a report need."""

    discriminator: Discriminator
    generator: Generator | None
    options: TrainOptions
    seed: int
    normalization: Normalization
    threshold: float
    calibration: dict
    validation: dict
    history: list[dict]
    splits: Splits
    best_epoch: int
    provenance: dict = field(default_factory=dict)
    #: Validation scores per set: {"unseen": (normal, attack), "seen": ...}.
    validation_scores: dict = field(default_factory=dict)

    def run_info(self) -> dict:
        """JSON-serialisable description of the run (stored in checkpoints)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "options": dataclasses.asdict(self.options),
            "seed": self.seed,
            "normalization": {
                "minimum": self.normalization.minimum.tolist(),
                "maximum": self.normalization.maximum.tolist(),
            },
            "threshold": self.threshold,
            "calibration": self.calibration,
            "validation": self.validation,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "splits": self.splits.sizes(),
            "provenance": self.provenance,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the checkpoint: state dicts and the run description as JSON.

        Loaded with ``torch.load(weights_only=True)``: nothing is pickled
        beyond tensors and plain values.
        """
        state = {
            "discriminator": self.discriminator.state_dict(),
            "generator": {} if self.generator is None else self.generator.state_dict(),
            "run": json.dumps(self.run_info(), sort_keys=True),
        }
        tmp = f"{os.fspath(path)}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike) -> tuple[Discriminator, dict]:
    """Read a checkpoint written by :meth:`TrainResult.save`.

    Returns
    -------
    discriminator : Discriminator
        In eval mode.
    run : dict
        The run description (:meth:`TrainResult.run_info`).
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "run" not in state:
        raise ValueError(f"{os.fspath(path)} is not an ebgan-edge checkpoint")
    run = json.loads(state["run"])
    if run.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{os.fspath(path)}: checkpoint format {run.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r}"
        )
    model = Discriminator(spectral_norm=run["options"]["spectral_norm"])
    model.load_state_dict(state["discriminator"])
    model.eval()
    return model, run


def _training_energy(kind: str):
    if kind == "l1":
        return lambda recon, x: (recon - x).abs().mean(dim=1)
    return lambda recon, x: ((recon - x) ** 2).mean(dim=1)


@torch.no_grad()
def score_rows(model: Discriminator, x: torch.Tensor) -> np.ndarray:
    """MSE energies of rows in eval mode, as a model file would score them."""
    was_training = model.training
    model.eval()
    scores = torch.cat([model.energy(part) for part in x.split(_SCORE_BATCH)])
    model.train(was_training)
    return scores.numpy()


def _progress(iterable, total: int, description: str, show: bool | None):
    # A bar only on a terminal: logs and CI output stay free of carriage returns.
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=description, leave=False, unit="batch")


def train(
    records: Records,
    options: TrainOptions | None = None,
    seed: int = 0,
    *,
    progress: bool | None = None,
    provenance: dict | None = None,
    on_epoch=None,
) -> TrainResult:
    """Train, calibrate and validate one model.

    Parameters
    ----------
    records : Records
        The labelled training file.
    options : TrainOptions, optional
    seed : int
        Seed of initialisation, batch order, attack sampling and noise; the
        same seed, options and records give the same weights.
    progress : bool, optional
        Show a progress bar per epoch; default only on a terminal.
    provenance : dict, optional
        Stored as is in the result (data file name and sha256, ...).
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, model, encoded, splits)`` after every
        epoch, for diagnostics; it must not change the model.

    Returns
    -------
    TrainResult
    """
    options = options or TrainOptions()
    splits = make_splits(records, options.attack, options.split_seed)
    if len(splits.normal_fit) < options.batch_size:
        raise ValueError(
            f"{len(splits.normal_fit)} normal fitting rows, fewer than a batch "
            f"({options.batch_size})"
        )
    ebgan = options.trainer == "ids-ebgan"
    if ebgan and len(splits.attack_fit) == 0:
        raise ValueError(
            f"no {options.attack} attack rows of the fitting types to train on"
        )

    norm_rows = splits.normal_fit
    if options.normalize_on == "fit":
        norm_rows = np.concatenate([splits.normal_fit, splits.attack_fit])
    normalization = Normalization.fit(records.subset(norm_rows))
    encoded = torch.from_numpy(encode(records, normalization))
    x_fit = encoded[splits.normal_fit]
    x_attack = encoded[splits.attack_fit]
    x_cal = encoded[splits.normal_calibration]

    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    model = Discriminator(spectral_norm=options.spectral_norm)
    generator = (
        Generator(options.noise_dim, options.condition_on_attack) if ebgan else None
    )
    opt_d = torch.optim.Adam(model.parameters(), lr=options.lr)
    opt_g = torch.optim.Adam(generator.parameters(), lr=options.lr) if ebgan else None
    schedulers = []
    if options.lr_schedule == "cosine":
        steps = options.epochs * (len(x_fit) // options.batch_size + 1)
        schedulers = [
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
            for opt in (opt_d, opt_g)
            if opt is not None
        ]
    train_energy = _training_energy(options.energy)
    margin = options.margin

    history, best = [], (float("inf"), 0, None)
    for epoch in range(1, options.epochs + 1):
        model.train()
        sums = np.zeros(4)
        order = torch.randperm(len(x_fit), generator=rng)
        # A trailing batch of one row would make the pull-away term undefined.
        batches = [b for b in order.split(options.batch_size) if len(b) >= 2]
        for batch in _progress(batches, len(batches), f"epoch {epoch}", progress):
            x = x_fit[batch]
            n = len(batch)
            if not ebgan:
                loss_d = train_energy(model(x), x).mean()
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                for scheduler in schedulers:
                    scheduler.step()
                sums += (loss_d.item(), 0.0, loss_d.item(), 0.0)
                continue

            attack = x_attack[torch.randint(len(x_attack), (n,), generator=rng)]
            noise = torch.randn(n, options.noise_dim, generator=rng)
            x_adv = generator(attack, noise)
            negatives = x_adv.detach()
            if options.real_attack_fraction > 0:
                real = torch.rand(n, generator=rng) < options.real_attack_fraction
                negatives = torch.where(real[:, None], attack, negatives)

            # One forward pass over normal rows and negatives together: half
            # the (small-matrix) overhead, one spectral-norm power iteration.
            both = torch.cat([x, negatives])
            energies = train_energy(model(both), both)
            energy_normal = energies[:n].mean()
            loss_d = energy_normal + torch.relu(margin - energies[n:]).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

            codes = model.encoder(x_adv)
            energy_adv = train_energy(model.decoder(codes), x_adv).mean()
            loss_g = energy_adv + options.lambda_pt * pull_away(codes)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            for scheduler in schedulers:
                scheduler.step()
            sums += (
                loss_d.item(),
                loss_g.item(),
                energy_normal.item(),
                energy_adv.item(),
            )

        cal_energy = float(score_rows(model, x_cal).mean())
        means = [float(v) for v in sums / len(batches)]
        history.append(
            {
                "epoch": epoch,
                "loss_d": means[0],
                "loss_g": means[1] if ebgan else None,
                "energy_normal": means[2],
                "energy_generated": means[3] if ebgan else None,
                "energy_calibration": cal_energy,
                "energy_attack": float(score_rows(model, x_attack[:2000]).mean())
                if len(x_attack)
                else None,
            }
        )
        if on_epoch is not None:
            on_epoch(epoch, model, encoded, splits)
        if cal_energy < best[0]:
            # Snapshots only matter when early stopping may roll back.
            snapshot = _snapshot(model, generator) if options.patience else None
            best = (cal_energy, epoch, snapshot)
        elif options.patience and epoch - best[1] >= options.patience:
            break

    best_epoch = history[-1]["epoch"]
    if options.patience:
        best_epoch = best[1]
        _restore(model, generator, best[2])
    model.eval()

    cal_scores = score_rows(model, x_cal).astype(np.float32)
    threshold = float(np.float32(np.quantile(cal_scores, options.quantile)))
    calibration = {
        "method": "quantile of held-out normal training scores",
        "quantile": options.quantile,
        "rows": len(cal_scores),
        "expected_false_positive_rate": round(1.0 - options.quantile, 12),
        "calibration_false_positive_rate": float(np.mean(cal_scores > threshold)),
    }
    validation, validation_scores = {}, {}
    for which in ("unseen", "seen"):
        rows, is_attack = splits.validation(which)
        scores = score_rows(model, encoded[rows])
        validation[which] = evaluate_scores(scores, is_attack, threshold)
        validation_scores[which] = (scores[~is_attack], scores[is_attack])

    return TrainResult(
        discriminator=model,
        generator=generator,
        options=options,
        seed=seed,
        normalization=normalization,
        threshold=threshold,
        calibration=calibration,
        validation=validation,
        history=history,
        splits=splits,
        best_epoch=best_epoch,
        provenance=dict(provenance or {}),
        validation_scores=validation_scores,
    )


def _snapshot(model, generator) -> tuple[dict, dict | None]:
    def copy(module):
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    return copy(model), None if generator is None else copy(generator)


def _restore(model, generator, snapshot) -> None:
    model.load_state_dict(snapshot[0])
    if generator is not None:
        generator.load_state_dict(snapshot[1])
