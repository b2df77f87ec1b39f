"""Seeded splits of a labelled NSL-KDD file into fitting, calibration and
validation rows (numpy only).

The NSL-KDD test files hold attack types that the training file never shows,
so validation holds out whole attack types: the generator (and the optional
real-attack rows) only ever see the *fitting types* of the chosen family,
while the *validation types* are scored only after training. Normal rows are
split three ways so that the threshold is never calibrated on rows that
either trained the model or measure it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from ebgan_edge.features import Records

__all__ = [
    "ATTACK_CHOICES",
    "FITTING_TYPES",
    "SplitFractions",
    "Splits",
    "attack_mask",
    "file_sha256",
    "make_splits",
]

#: The ``--attack`` choices and the NSL-KDD families each one covers.
ATTACK_CHOICES: dict[str, tuple[str, ...]] = {
    "dos": ("DoS",),
    "probe": ("Probe",),
    "r2l_u2r": ("R2L", "U2R"),
}

#: Attack types that may be used while fitting, per ``--attack`` choice: the
#: most frequent types of the training file. Every other type of the family
#: (those of the training file and those only in the test files) is unseen.
FITTING_TYPES: dict[str, tuple[str, ...]] = {
    "dos": ("neptune", "smurf"),
    "probe": ("ipsweep", "satan"),
    "r2l_u2r": ("warezclient", "guess_passwd"),
}


def attack_mask(records: Records, attack: str) -> np.ndarray:
    """Boolean mask of the rows whose family belongs to ``attack``."""
    if attack not in ATTACK_CHOICES:
        raise ValueError(
            f"unknown attack {attack!r}, expected one of {sorted(ATTACK_CHOICES)}"
        )
    return np.isin(records.families, ATTACK_CHOICES[attack])


@dataclass(frozen=True)
class SplitFractions:
    """How rows are shared out; see docs/training.md.

    Attributes
    ----------
    normal_fit, normal_calibration : float
        Shares of the normal rows used to fit the model and to calibrate the
        threshold; the rest (0.2 by default) validates.
    attack_fit : float
        Share of the fitting-type attack rows available to training; the rest
        validates as "seen types".
    """

    normal_fit: float = 0.7
    normal_calibration: float = 0.1
    attack_fit: float = 0.8


@dataclass(frozen=True)
class Splits:
    """Row indices into one :class:`~ebgan_edge.features.Records`.

    Attributes
    ----------
    normal_fit, normal_calibration, normal_validation : ndarray of int
        Disjoint sets of normal rows.
    attack_fit : ndarray of int
        Fitting-type attack rows that training may use.
    attack_seen : ndarray of int
        Held-out rows of the fitting types.
    attack_unseen : ndarray of int
        Every row of the family's other types (never used in training).
    """

    normal_fit: np.ndarray
    normal_calibration: np.ndarray
    normal_validation: np.ndarray
    attack_fit: np.ndarray
    attack_seen: np.ndarray
    attack_unseen: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Number of rows of every part, for reports."""
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}

    def validation(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows and attack flags of a validation set.

        Parameters
        ----------
        which : {"unseen", "seen"}
            Validation normals with the unseen attack types (the protocol the
            project selects models by), or with held-out rows of the fitting
            types.

        Returns
        -------
        rows : ndarray of int
        is_attack : ndarray of bool
        """
        attacks = {"unseen": self.attack_unseen, "seen": self.attack_seen}[which]
        rows = np.concatenate([self.normal_validation, attacks])
        is_attack = np.zeros(len(rows), dtype=bool)
        is_attack[len(self.normal_validation) :] = True
        return rows, is_attack


def make_splits(
    records: Records,
    attack: str = "dos",
    seed: int = 0,
    fractions: SplitFractions | None = None,
) -> Splits:
    """Split a labelled file for training on one attack family.

    Parameters
    ----------
    records : Records
        Labelled records (the training file).
    attack : {"dos", "probe", "r2l_u2r"}
    seed : int
        Seed of the shuffles; the same seed gives the same splits.
    fractions : SplitFractions, optional

    Returns
    -------
    Splits
    """
    fractions = fractions or SplitFractions()
    rng = np.random.default_rng(seed)
    families = records.families

    normal = rng.permutation(np.flatnonzero(families == "normal"))
    n_fit = round(fractions.normal_fit * len(normal))
    n_cal = round(fractions.normal_calibration * len(normal))

    in_family = attack_mask(records, attack)
    fitting_type = in_family & np.isin(records.labels, FITTING_TYPES[attack])
    seen = rng.permutation(np.flatnonzero(fitting_type))
    n_attack_fit = round(fractions.attack_fit * len(seen))

    return Splits(
        normal_fit=np.sort(normal[:n_fit]),
        normal_calibration=np.sort(normal[n_fit : n_fit + n_cal]),
        normal_validation=np.sort(normal[n_fit + n_cal :]),
        attack_fit=np.sort(seen[:n_attack_fit]),
        attack_seen=np.sort(seen[n_attack_fit:]),
        attack_unseen=np.flatnonzero(in_family & ~fitting_type),
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, recorded as the provenance of a model."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
