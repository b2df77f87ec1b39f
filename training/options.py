"""Options of a training run (no torch needed, so the command line can show
their defaults without importing it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainOptions"]


@dataclass
class TrainOptions:
    """Every choice of a training run; the defaults are the paper's setup.

    Attributes
    ----------
    attack : {"dos", "probe", "r2l_u2r"}
        Attack family the generator disguises (R2L and U2R merged).
    trainer : {"ids-ebgan", "autoencoder"}
        ``autoencoder`` trains D on normal rows only (no generator).
    epochs : int
        Passes over the normal fitting rows.
    batch_size : int
    lr : float
        Adam learning rate of D and G (default betas).
    lr_schedule : {"constant", "cosine"}
        ``cosine`` anneals both learning rates to zero over the run, per
        batch, so that the last epoch is not one noisy step of many.
    margin : float
        Hinge margin m on the energy of generated attacks.
    lambda_pt : float
        Weight of the pull-away term in the generator's loss.
    spectral_norm : bool
        Spectral normalisation on the encoder's layers.
    condition_on_attack : bool
        Feed G the attack row with the noise (False: noise only).
    noise_dim : int
    energy : {"mse", "l1"}
        Reconstruction error minimised in training. Model files always
        score with the MSE, so ``l1`` only changes what is learned.
    real_attack_fraction : float
        Share of the negatives in each D step replaced by the unmodified
        real attack rows (0: generated attacks only, as in the paper).
    patience : int
        Stop when the mean energy of the calibration normals has not
        improved for this many epochs and keep the best epoch; 0 trains all
        epochs and keeps the last.
    quantile : float
        Threshold = this quantile of the calibration normals' scores, for an
        expected false-positive rate of ``1 - quantile``.
    normalize_on : {"normal", "fit"}
        Fit the min-max statistics on the normal fitting rows only, or on
        those and the fitting attack rows.
    split_seed : int
        Seed of the data splits (kept apart from the training seed so that
        runs with different seeds are validated on the same rows).
    """

    attack: str = "dos"
    trainer: str = "ids-ebgan"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    lr_schedule: str = "constant"
    margin: float = 1.0
    lambda_pt: float = 0.1
    spectral_norm: bool = True
    condition_on_attack: bool = True
    noise_dim: int = 100
    energy: str = "mse"
    real_attack_fraction: float = 0.0
    patience: int = 0
    quantile: float = 0.99
    normalize_on: str = "normal"
    split_seed: int = 0

    def __post_init__(self):
        choices = {
            "attack": ("dos", "probe", "r2l_u2r"),
            "trainer": ("ids-ebgan", "autoencoder"),
            "energy": ("mse", "l1"),
            "lr_schedule": ("constant", "cosine"),
            "normalize_on": ("normal", "fit"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"quantile must be within (0, 1), got {self.quantile}")
        if not 0.0 <= self.real_attack_fraction <= 1.0:
            raise ValueError(
                "real_attack_fraction must be within [0, 1], "
                f"got {self.real_attack_fraction}"
            )
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(
                "need epochs >= 1 and batch_size >= 2, "
                f"got {self.epochs} and {self.batch_size}"
            )
