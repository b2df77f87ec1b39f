"""How a lower-precision model detects compared with its fp32 original.

The figures are in detection terms, on a validation set: rank correlation of
the scores, the ROC-AUC and F1 differences, and how many verdicts flip at
the stored threshold. Export stores them in the model's metadata
(``quantization``), and ``ebgan-edge info`` shows them.
"""

from __future__ import annotations

import numpy as np

from ebgan_edge.scorer import Scorer

from .metrics import evaluate_scores

__all__ = ["compare_precisions", "spearman", "validation_rows"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties broken by position)."""
    ranks = []
    for values in (a, b):
        r = np.empty(len(values))
        r[np.argsort(values, kind="stable")] = np.arange(len(values))
        ranks.append(r)
    return float(np.corrcoef(*ranks)[0, 1])


def validation_rows(model, data_path) -> tuple[np.ndarray, np.ndarray]:
    """Encoded validation rows of a trained model, and their attack flags.

    The rows are those the model's training held out: the validation
    normals and the held-out attack rows of its family, seen and unseen
    types together, split as the model's metadata records (attack family,
    split seed).
    """
    from ebgan_edge.features import encode, read_records

    from .splits import make_splits

    options = model.metadata.get("options", {})
    if "attack" not in options or "split_seed" not in options:
        raise ValueError("the model's metadata does not record its training splits")
    records = read_records(data_path)
    splits = make_splits(records, options["attack"], int(options["split_seed"]))
    attacks = np.concatenate([splits.attack_seen, splits.attack_unseen])
    rows = np.concatenate([splits.normal_validation, attacks])
    is_attack = np.zeros(len(rows), dtype=bool)
    is_attack[len(splits.normal_validation) :] = True
    return encode(records.subset(rows), model.normalization), is_attack


def compare_precisions(
    reference: Scorer, candidate: Scorer, x: np.ndarray, is_attack: np.ndarray
) -> dict:
    """Detection metrics of ``candidate`` against the fp32 ``reference``.

    Parameters
    ----------
    reference, candidate : Scorer
        The fp32 model and its lower-precision version (same threshold).
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
    threshold = np.float32(reference.threshold)
    metrics = {
        name: evaluate_scores(scores, is_attack, threshold=float(threshold))
        for name, scores in (("fp32", a), (candidate.precision, b))
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
        "verdict_flips": int(((a > threshold) != (b > threshold)).sum()),
        "fp32": ref,
        candidate.precision: cand,
        "difference": {key: cand[key] - ref[key] for key in ref},
    }
