"""The configurations of the results table (docs/results.md) and their
descriptions; run by :mod:`ebgan_edge.training.experiments`."""

from __future__ import annotations

__all__ = ["CONFIGS", "DESCRIPTIONS", "QUANTILES"]

#: Threshold quantiles reported for every configuration (calibration rows).
QUANTILES = (0.95, 0.98, 0.99, 0.995)

_EBGAN = {"margin": 0.1}
#: Name -> (kind, options). ``torch`` options are TrainOptions fields; the
#: ``pyod`` ones name a detector class and its arguments.
CONFIGS: dict[str, tuple[str, dict]] = {
    "ids-ebgan-paper": ("torch", {"margin": 1.0}),
    "ids-ebgan": ("torch", _EBGAN),
    "margin-0.01": ("torch", {"margin": 0.01}),
    "margin-0.03": ("torch", {"margin": 0.03}),
    "margin-0.3": ("torch", {"margin": 0.3}),
    "no-spectral-norm": ("torch", {**_EBGAN, "spectral_norm": False}),
    "noise-only-generator": ("torch", {**_EBGAN, "condition_on_attack": False}),
    "l1-energy": ("torch", {**_EBGAN, "energy": "l1"}),
    "autoencoder": ("torch", {"trainer": "autoencoder", "spectral_norm": False}),
    "autoencoder-100": (
        "torch",
        {"trainer": "autoencoder", "spectral_norm": False, "epochs": 100},
    ),
    "autoencoder-100-cosine": (
        "torch",
        {
            "trainer": "autoencoder",
            "spectral_norm": False,
            "epochs": 100,
            "lr_schedule": "cosine",
        },
    ),
    "ids-ebgan-100-cosine": (
        "torch",
        {**_EBGAN, "epochs": 100, "lr_schedule": "cosine"},
    ),
    "margin-0.01-100-cosine": (
        "torch",
        {"margin": 0.01, "epochs": 100, "lr_schedule": "cosine"},
    ),
    "ids-ebgan-60": ("torch", {**_EBGAN, "epochs": 60}),
    "ids-ebgan-60-real": (
        "torch",
        {**_EBGAN, "epochs": 60, "real_attack_fraction": 0.5},
    ),
    "ids-ebgan-60-fitnorm": ("torch", {**_EBGAN, "epochs": 60, "normalize_on": "fit"}),
    "ids-ebgan-60-early": ("torch", {**_EBGAN, "epochs": 60, "patience": 5}),
    "iforest": ("pyod", {"class": "IForest", "random": True}),
    "hbos": ("pyod", {"class": "HBOS"}),
    "knn": ("pyod", {"class": "KNN"}),
    "pca": (
        "pyod",
        {
            "class": "PCA",
            "random": True,
            "drop_constant": True,
            "kwargs": {"n_components": 0.99, "svd_solver": "full"},
        },
    ),
    "ocsvm": ("pyod", {"class": "OCSVM"}),
}

#: Row labels of the tables.
DESCRIPTIONS = {
    "ids-ebgan-paper": "IDS-EBGAN, paper setup (m = 1, 20 epochs)",
    "ids-ebgan": "IDS-EBGAN, m = 0.1 (20 epochs)",
    "margin-0.01": "IDS-EBGAN, m = 0.01",
    "margin-0.03": "IDS-EBGAN, m = 0.03",
    "margin-0.3": "IDS-EBGAN, m = 0.3",
    "no-spectral-norm": "ablation: no spectral norm (m = 0.1)",
    "noise-only-generator": "ablation: G fed noise only (m = 0.1)",
    "l1-energy": "ablation: L1 training energy (m = 0.1)",
    "autoencoder": "plain autoencoder, 20 epochs",
    "autoencoder-100": "plain autoencoder, 100 epochs",
    "autoencoder-100-cosine": "plain autoencoder, 100 epochs, cosine lr",
    "ids-ebgan-100-cosine": "IDS-EBGAN, m = 0.1, 100 epochs, cosine lr",
    "margin-0.01-100-cosine": "IDS-EBGAN, m = 0.01, 100 epochs, cosine lr",
    "ids-ebgan-60": "IDS-EBGAN, m = 0.1, 60 epochs",
    "ids-ebgan-60-real": "IDS-EBGAN, m = 0.1, 60 epochs, 50 % real attacks",
    "ids-ebgan-60-fitnorm": "IDS-EBGAN, m = 0.1, 60 epochs, min-max on fit rows",
    "ids-ebgan-60-early": "IDS-EBGAN, m = 0.1, <= 60 epochs, early stopping (5)",
    "iforest": "PyOD IForest (defaults)",
    "hbos": "PyOD HBOS (defaults)",
    "knn": "PyOD KNN (defaults)",
    "pca": "PyOD PCA (99 % of variance; constant columns dropped)",
    "ocsvm": "PyOD OCSVM (defaults)",
}
