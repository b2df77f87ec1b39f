"""Detection metrics of anomaly scores against attack labels (numpy only).

Two protocols are reported side by side:

* **top fraction** (the paper's): the ``k = round(fraction * n)`` highest
  scores are flagged. It needs the attack share of the evaluated data, which
  a deployed gateway does not know, so it measures ranking quality only.
* **stored threshold** (the deployable one): a score strictly above the
  threshold stored in the model is flagged, as :class:`ebgan_edge.Scorer`
  users do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_metrics", "evaluate_scores", "roc_auc", "top_fraction_flags"]


def roc_auc(scores: np.ndarray, is_attack: np.ndarray) -> float:
    """Area under the ROC curve, attacks being the positive class.

    Computed as the Mann-Whitney statistic with average ranks, so tied
    scores count one half; NaN when either class is empty.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_attack = np.asarray(is_attack, dtype=bool)
    n_pos = int(is_attack.sum())
    n_neg = len(is_attack) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")

    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Average 1-based rank of every distinct value: its block of ranks is
    # (ends - counts + 1) .. ends.
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    rank_sum = ranks[is_attack].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def top_fraction_flags(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Flag the ``round(fraction * n)`` highest scores.

    Ties at the boundary are broken by row order (a stable sort), so exactly
    that many rows are flagged.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    scores = np.asarray(scores)
    k = round(fraction * len(scores))
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    flags = np.zeros(len(scores), dtype=bool)
    flags[order[:k]] = True
    return flags


def confusion_metrics(flags: np.ndarray, is_attack: np.ndarray) -> dict:
    """Precision, recall and F1 of the attack class, with the counts.

    A ratio with a zero denominator is reported as 0.0.
    """
    flags = np.asarray(flags, dtype=bool)
    is_attack = np.asarray(is_attack, dtype=bool)
    if flags.shape != is_attack.shape:
        raise ValueError(f"flags {flags.shape} and labels {is_attack.shape} differ")
    tp = int(np.sum(flags & is_attack))
    fp = int(np.sum(flags & ~is_attack))
    fn = int(np.sum(~flags & is_attack))
    tn = int(np.sum(~flags & ~is_attack))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "flagged": tp + fp,
    }


def evaluate_scores(
    scores: np.ndarray,
    is_attack: np.ndarray,
    threshold: float | None = None,
    top_fraction: float | None = None,
) -> dict:
    """Both protocols' metrics for one score vector.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Anomaly scores, higher meaning more anomalous.
    is_attack : ndarray of shape (n,), bool
    threshold : float, optional
        Stored threshold; the ``threshold`` protocol is skipped without one.
    top_fraction : float, optional
        Share of rows flagged by the ``top_fraction`` protocol; default the
        true attack share of the rows.

    Returns
    -------
    dict
        ``rows``, ``normal``, ``attack``, ``roc_auc``, ``top_fraction`` (the
        fraction and its confusion metrics) and ``threshold`` (the threshold
        and its confusion metrics) when given.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_attack = np.asarray(is_attack, dtype=bool)
    if len(scores) != len(is_attack):
        raise ValueError(f"{len(scores)} scores but {len(is_attack)} labels")
    if len(scores) == 0:
        raise ValueError("no rows to evaluate")
    if top_fraction is None:
        top_fraction = float(is_attack.mean())

    result = {
        "rows": len(scores),
        "normal": int((~is_attack).sum()),
        "attack": int(is_attack.sum()),
        "roc_auc": roc_auc(scores, is_attack),
        "top_fraction": {
            "fraction": top_fraction,
            **confusion_metrics(top_fraction_flags(scores, top_fraction), is_attack),
        },
    }
    if threshold is not None:
        result["threshold"] = {
            "value": float(threshold),
            **confusion_metrics(scores > threshold, is_attack),
        }
    return result
