"""Evaluation of a model file on labelled NSL-KDD records.

Scores with :class:`ebgan_edge.Scorer` (numpy and the compiled core), so it
runs where torch is not installed.
"""

from __future__ import annotations

import os

import numpy as np

from ebgan_edge.features import encode, read_records
from ebgan_edge.scorer import Scorer
from ebgan_edge.training.metrics import evaluate_scores
from ebgan_edge.training.splits import attack_mask, make_splits

__all__ = ["ROW_CHOICES", "evaluate_model", "format_report"]

#: ``--rows``: every normal and family row of the file, or one of the
#: validation sets of the training file, rebuilt from the split seed the
#: model was trained with.
ROW_CHOICES = ("all", "validation-unseen", "validation-seen")


def evaluate_model(
    model: str | os.PathLike | None,
    data: str | os.PathLike,
    attack: str = "dos",
    top: float | None = None,
    rows: str = "all",
    kernel: str | None = None,
) -> dict:
    """Precision, recall, F1 and ROC-AUC of a model on one attack family.

    Parameters
    ----------
    model : path or None
        Model file; None for the shipped default model.
    data : path
        Labelled NSL-KDD file (41 fields, label, optional difficulty).
    attack : {"dos", "probe", "r2l_u2r"}
        Family whose rows are the positives; rows of other families are
        left out.
    top : float, optional
        Share of rows the top-fraction protocol flags; default the family's
        true share of the evaluated rows.
    rows : {"all", "validation-unseen", "validation-seen"}
        Which rows of the file to evaluate (see :data:`ROW_CHOICES`).
    kernel : str, optional
        Scorer kernel.

    Returns
    -------
    dict
        The metrics of :func:`~ebgan_edge.training.metrics.evaluate_scores`
        plus ``model``, ``model_id``, ``kernel``, ``data``,
        ``attack_family``, ``row_selection`` and
        ``encoding`` (clipped values and unknown categories).
    """
    if rows not in ROW_CHOICES:
        raise ValueError(f"rows must be one of {ROW_CHOICES}, got {rows!r}")
    scorer = Scorer.load(model, kernel=kernel)
    records = read_records(data)
    if records.labels is None:
        raise ValueError(f"{os.fspath(data)} has no labels to evaluate against")

    if rows == "all":
        normal = records.families == "normal"
        family = attack_mask(records, attack)
        selected = np.flatnonzero(normal | family)
        is_attack = family[selected]
    else:
        options = scorer.metadata.get("options", {})
        if "split_seed" not in options:
            raise ValueError(
                "the model's metadata has no split seed; validation rows can only be "
                "rebuilt for models exported by ebgan-edge export"
            )
        splits = make_splits(records, attack, int(options["split_seed"]))
        selected, is_attack = splits.validation(rows.split("-", 1)[1])
    if not is_attack.any():
        raise ValueError(f"{os.fspath(data)} has no {attack} rows")
    if is_attack.all():
        raise ValueError(f"{os.fspath(data)} has no normal rows")

    features, report = encode(
        records.subset(selected), scorer.normalization, report=True
    )
    scores = scorer.score(features)
    result = evaluate_scores(scores, is_attack, scorer.threshold, top)
    result.update(
        {
            "model": str(model) if model is not None else "default",
            "model_id": scorer.metadata.get("model_id", ""),
            "kernel": scorer.kernel,
            "data": os.fspath(data),
            "attack_family": attack,
            "row_selection": rows,
            "encoding": {
                "clipped_values": report.clipped_values,
                "unknown_values": report.unknown_values,
            },
        }
    )
    return result


def format_report(result: dict) -> str:
    """Human-readable table of :func:`evaluate_model`'s result."""
    lines = [
        f"model: {result['model']} ({result['model_id'] or 'no model_id'}), "
        f"kernel {result['kernel']}",
        f"data: {result['data']}, {result['row_selection']} rows: "
        f"{result['normal']} normal, {result['attack']} {result['attack_family']}",
        f"ROC-AUC: {result['roc_auc']:.4f}",
        "",
        f"{'protocol':<34}{'precision':>10}{'recall':>8}{'F1':>8}{'FPR':>8}"
        f"{'TP':>7}{'FP':>7}{'TN':>7}{'FN':>7}",
    ]
    top = result["top_fraction"]
    rows = [(f"top {top['fraction']:.4f} flagged", top)]
    if "threshold" in result:
        rows.append(
            (
                f"stored threshold {result['threshold']['value']:.6g}",
                result["threshold"],
            )
        )
    for name, m in rows:
        lines.append(
            f"{name:<34}{m['precision']:>10.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}"
            f"{m['false_positive_rate']:>8.4f}{m['tp']:>7}{m['fp']:>7}{m['tn']:>7}"
            f"{m['fn']:>7}"
        )
    return "\n".join(lines)
