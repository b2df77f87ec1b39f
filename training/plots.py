"""Figures of a training run: loss and energy curves (the paper's Fig. 4
analogue) and normal vs attack score histograms (its Fig. 5 analogue)."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plot_curves", "plot_scores"]


def _pyplot():
    import matplotlib

    # Files only: never open a window, also where a display exists.
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> None:
    """Losses and mean energies per epoch, saved as a PNG.

    Parameters
    ----------
    history : list of dict
        :attr:`TrainResult.history <ebgan_edge.training.trainer.TrainResult>`.
    path : path
    title : str
    """
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    left.plot(epochs, [h["loss_d"] for h in history], marker="o", label="$L_D$")
    if history[0]["loss_g"] is not None:
        left.plot(epochs, [h["loss_g"] for h in history], marker="o", label="$L_G$")
    left.set(xlabel="epoch", ylabel="mean loss per batch", title="losses")
    left.legend()
    left.grid(alpha=0.3)

    curves = (
        ("energy_normal", "normal, fitting batches"),
        ("energy_calibration", "normal, held-out calibration rows"),
        ("energy_generated", "generated attacks"),
        ("energy_attack", "real attacks, fitting types"),
    )
    for key, label in curves:
        values = [h[key] for h in history]
        if values[0] is not None:
            right.plot(epochs, values, marker="o", label=label)
    right.set(
        xlabel="epoch", ylabel="mean energy (MSE)", yscale="log", title="energies"
    )
    right.legend(fontsize=8)
    right.grid(alpha=0.3, which="both")

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    threshold: float,
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """Histograms of normal and attack scores per validation set, as a PNG.

    Parameters
    ----------
    sets : dict of str to (normal scores, attack scores)
        One panel per entry, e.g. ``{"unseen": ..., "seen": ...}``.
    threshold : float
        Drawn as a vertical line.
    path : path
    title : str
    """
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(sets), figsize=(5.5 * len(sets), 4.2), squeeze=False
    )
    everything = np.concatenate([np.concatenate(pair) for pair in sets.values()])
    # Energies span several decades; log-spaced bins show both classes.
    low = max(float(everything[everything > 0].min(initial=1e-8)), 1e-8)
    high = max(float(everything.max()), low * 10)
    bins = np.geomspace(low, high, 60)
    for axis, (name, (normal, attack)) in zip(axes[0], sets.items()):
        axis.hist(np.clip(normal, low, None), bins=bins, alpha=0.6, label="normal")
        axis.hist(np.clip(attack, low, None), bins=bins, alpha=0.6, label="attack")
        axis.axvline(threshold, color="black", linestyle="--", label="threshold")
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="anomaly score (energy)",
            ylabel="rows",
            title=f"validation, {name} attack types",
        )
        axis.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
