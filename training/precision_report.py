"""How a lower-precision model detects compared with its fp32 original.

The figures are in detection terms, on a validation set: rank correlation of
the scores, the ROC-AUC and F1 differences, and how many verdicts flip at
each model's stored threshold. Export stores them in the model's metadata
(``quantization``), and ``ebgan-edge info`` shows them.
"""

from __future__ import annotations

import numpy as np

from ebgan_edge.scorer import Scorer

from .metrics import evaluate_scores

__all__ = [
    "calibration_rows",
    "compare_precisions",
    "recalibrate",
    "spearman",
    "validation_rows",
]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties broken by position)."""
    ranks = []
    for values in (a, b):
        r = np.empty(len(values))
        r[np.argsort(values, kind="stable")] = np.arange(len(values))
        ranks.append(r)
    return float(np.corrcoef(*ranks)[0, 1])


def _held_out(model, data_path):
    """The records and the splits the model's training made of them."""
    from ebgan_edge.features import read_records

    from .splits import make_splits

    options = model.metadata.get("options", {})
    if "attack" not in options or "split_seed" not in options:
        raise ValueError("the model's metadata does not record its training splits")
    records = read_records(data_path)
    return records, make_splits(records, options["attack"], int(options["split_seed"]))


def validation_rows(model, data_path) -> tuple[np.ndarray, np.ndarray]:
    """Encoded validation rows of a trained model, and their attack flags.

    The rows are those the model's training held out: the validation
    normals and the held-out attack rows of its family, seen and unseen
    types together, split as the model's metadata records (attack family,
    split seed).
    """
    from ebgan_edge.features import encode

    records, splits = _held_out(model, data_path)
    attacks = np.concatenate([splits.attack_seen, splits.attack_unseen])
    rows = np.concatenate([splits.normal_validation, attacks])
    is_attack = np.zeros(len(rows), dtype=bool)
    is_attack[len(splits.normal_validation) :] = True
    return encode(records.subset(rows), model.normalization), is_attack


def calibration_rows(model, data_path) -> np.ndarray:
    """Encoded rows the model's threshold was calibrated on: the held-out
    normal training rows, disjoint from the validation rows."""
    from ebgan_edge.features import encode

    records, splits = _held_out(model, data_path)
    return encode(records.subset(splits.normal_calibration), model.normalization)


def recalibrate(
    scorer: Scorer, x_calibration: np.ndarray, calibration: dict, fp32_threshold: float
):
    """The threshold a lower-precision model needs to flag the share of
    calibration rows its fp32 original was calibrated to flag.

    Returns the threshold (the same quantile of the model's own scores on the
    same rows) and the calibration record to store with it.
    """
    if "quantile" not in calibration:
        raise ValueError(
            "the model's calibration record has no quantile, so its threshold "
            "cannot be recalibrated"
        )
    scores = scorer.score(x_calibration)
    threshold = float(np.float32(np.quantile(scores, float(calibration["quantile"]))))
    record = dict(calibration)
    record.update(
        {
            "rows": len(scores),
            "calibration_false_positive_rate": float(np.mean(scores > threshold)),
            "recalibrated_for": scorer.precision,
            "fp32_threshold": float(fp32_threshold),
        }
    )
    return threshold, record


def compare_precisions(
    reference: Scorer, candidate: Scorer, x: np.ndarray, is_attack: np.ndarray
) -> dict:
    """Detection metrics of ``candidate`` against the fp32 ``reference``.

    Parameters
    ----------
    reference, candidate : Scorer
        The fp32 model and its lower-precision version, each with its own
        threshold; verdicts are compared at each model's threshold.
    x : ndarray of shape (n, 121)
        Encoded validation rows.
    is_attack : ndarray of shape (n,), bool

    Returns
    -------
    dict
        ``rows``, ``rank_correlation``, ``verdict_flips``, and per model the
        ROC-AUC and the F1 at the stored threshold and at the top fraction,
        with their differences (candidate minus reference).
    """
    a, b = reference.score(x), candidate.score(x)
    t_a, t_b = np.float32(reference.threshold), np.float32(candidate.threshold)
    metrics = {
        name: evaluate_scores(scores, is_attack, threshold=float(t))
        for name, scores, t in (("fp32", a, t_a), (candidate.precision, b, t_b))
    }
    reference_metrics, candidate_metrics = metrics["fp32"], metrics[candidate.precision]

    def summary(m: dict) -> dict:
        return {
            "roc_auc": m["roc_auc"],
            "f1_threshold": m["threshold"]["f1"],
            "f1_top_fraction": m["top_fraction"]["f1"],
        }

    ref, cand = summary(reference_metrics), summary(candidate_metrics)
    return {
        "precision": candidate.precision,
        "rows": len(x),
        "rank_correlation": spearman(a, b),
        "max_relative_score_change": float(
            np.max(np.abs(b - a) / np.maximum(a, 1e-12))
        ),
        "thresholds": {"fp32": float(t_a), candidate.precision: float(t_b)},
        "verdict_flips": int(((a > t_a) != (b > t_b)).sum()),
        "fp32": ref,
        candidate.precision: cand,
        "difference": {key: cand[key] - ref[key] for key in ref},
    }
