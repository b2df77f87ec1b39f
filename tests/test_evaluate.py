"""Evaluation metrics, ``evaluate_model`` and ``ebgan-edge evaluate``.

None of these tests needs torch: models are written from random numpy
weights with the model writer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ebgan_edge import Scorer, cli
from ebgan_edge.features import Normalization, encode, read_records
from ebgan_edge.model_file import LAYER_WIDTHS
from ebgan_edge.training.evaluate import evaluate_model
from ebgan_edge.training.metrics import (
    confusion_metrics,
    evaluate_scores,
    roc_auc,
    top_fraction_flags,
)
from ebgan_edge.training.model_writer import write_model
from ebgan_edge.training.splits import FITTING_TYPES, make_splits
from ebgan_edge.training.synthetic import synthetic_rows, write_csv

REAL_DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "datasets"
    / "nsl-kdd"
    / "KDDTrain+_20Percent.txt"
)
needs_real_data = pytest.mark.skipif(
    not REAL_DATA.exists(),
    reason=f"the NSL-KDD training file is not at {REAL_DATA}",
)


# -- metrics on hand-made score vectors --------------------------------------


def test_roc_auc_hand_example():
    # Pairs (attack, normal): 0.35 > 0.1, 0.35 < 0.4, 0.8 > both -> 3 of 4.
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([False, False, True, True])
    assert roc_auc(scores, labels) == pytest.approx(0.75)


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    scores = np.array([1.0, 2.0, 2.0, 3.0])
    labels = np.array([False, True, False, True])
    # Pairs: (2 vs 1) 1, (2 vs 2) 0.5, (3 vs 1) 1, (3 vs 2) 1 -> 3.5 / 4.
    assert roc_auc(scores, labels) == pytest.approx(0.875)


def test_roc_auc_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(500), 2)  # rounding makes ties
    labels = rng.random(500) < 0.3
    assert roc_auc(scores, labels) == pytest.approx(
        metrics.roc_auc_score(labels, scores)
    )


def test_roc_auc_of_one_class_is_nan():
    assert np.isnan(roc_auc(np.array([1.0, 2.0]), np.array([True, True])))


def test_confusion_metrics_hand_example():
    flags = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    labels = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    m = confusion_metrics(flags, labels)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 2, 1)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["false_positive_rate"] == pytest.approx(1 / 3)


def test_confusion_metrics_without_flags_is_zero_not_nan():
    m = confusion_metrics(np.zeros(3, bool), np.array([True, False, False]))
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)


def test_top_fraction_flags_exact_count_and_stable_ties():
    scores = np.array([0.2, 0.9, 0.5, 0.5, 0.1])
    assert top_fraction_flags(scores, 0.4).tolist() == [False, True, True, False, False]
    assert top_fraction_flags(scores, 0.0).sum() == 0
    assert top_fraction_flags(scores, 1.0).all()
    with pytest.raises(ValueError, match="fraction"):
        top_fraction_flags(scores, 1.5)


def test_evaluate_scores_both_protocols():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8])
    labels = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    result = evaluate_scores(scores, labels, threshold=0.35)
    assert result["top_fraction"]["fraction"] == 0.5  # the true attack share
    assert result["top_fraction"]["f1"] == 1.0
    assert result["roc_auc"] == 1.0
    t = result["threshold"]
    assert (t["tp"], t["fp"], t["flagged"]) == (3, 0, 3)
    # Strictly above: a score equal to the threshold is not flagged.
    assert evaluate_scores(scores, labels, threshold=0.4)["threshold"]["tp"] == 2
    custom = evaluate_scores(scores, labels, top_fraction=1 / 6)
    assert custom["top_fraction"]["flagged"] == 1 and "threshold" not in custom


# -- evaluate_model and the command line on generated files -----------------


def _random_model(path, normalization, threshold, metadata=None):
    rng = np.random.default_rng(0)
    layers = [
        {
            "weight": (rng.standard_normal((o, i)) * 0.05).astype(np.float32),
            "bias": np.zeros(o, np.float32),
        }
        for i, o in zip(LAYER_WIDTHS[:-1], LAYER_WIDTHS[1:])
    ]
    write_model(path, layers, normalization, threshold, metadata=metadata or {})


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = root / "records.csv"
    write_csv(data, synthetic_rows(seed=5))
    records = read_records(data)
    normalization = Normalization.fit(records.subset(records.families == "normal"))
    model = root / "model.ebgan"
    _random_model(
        model,
        normalization,
        0.05,
        {"model_id": "test-model", "options": {"split_seed": 0}},
    )
    return data, model, records


def test_evaluate_model_matches_scorer_scores(generated):
    data, model, records = generated
    result = evaluate_model(model, data, "dos")

    scorer = Scorer.load(model)
    keep = np.isin(records.families, ["normal", "DoS"])
    scores = scorer.score(encode(records.subset(keep), scorer.normalization))
    expected = evaluate_scores(
        scores, records.families[keep] == "DoS", scorer.threshold
    )
    assert result["top_fraction"] == expected["top_fraction"]
    assert result["threshold"] == expected["threshold"]
    assert result["roc_auc"] == expected["roc_auc"]
    assert result["normal"] == 400 and result["attack"] == 203
    assert result["model_id"] == "test-model"


def test_evaluate_model_validation_rows(generated):
    data, model, records = generated
    result = evaluate_model(model, data, "dos", rows="validation-unseen")
    splits = make_splits(records, "dos", 0)
    assert result["normal"] == len(splits.normal_validation)
    assert result["attack"] == len(splits.attack_unseen) == 20 + 15 + 8
    assert not np.isin(records.labels[splits.attack_unseen], FITTING_TYPES["dos"]).any()


def test_evaluate_command_json(generated, capsys):
    data, model, _ = generated
    code = cli.main(
        [
            "evaluate",
            "--model",
            str(model),
            "--data",
            str(data),
            "--top",
            "0.25",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["top_fraction"]["fraction"] == 0.25
    assert result["top_fraction"]["flagged"] == round(0.25 * 603)
    assert set(result["threshold"]) >= {"precision", "recall", "f1", "value"}


def test_evaluate_command_table_and_errors(generated, capsys):
    data, model, _ = generated
    assert cli.main(["evaluate", "--model", str(model), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "stored threshold" in out and "ROC-AUC" in out
    # No Probe rows in the generated file: an error naming the family.
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(data),
                "--attack",
                "probe",
            ]
        )
        == 2
    )
    assert "no probe rows" in capsys.readouterr().err


# -- the real training file ----------------------------------------------------


@needs_real_data
def test_splits_of_the_training_file_are_disjoint_and_documented():
    records = read_records(REAL_DATA)
    splits = make_splits(records, "dos", 0)
    assert splits.sizes() == {
        "normal_fit": 9414,
        "normal_calibration": 1345,
        "normal_validation": 2690,
        "attack_fit": 7049,
        "attack_seen": 1762,
        "attack_unseen": 423,
    }
    parts = [getattr(splits, name) for name in splits.sizes()]
    everything = np.concatenate(parts)
    assert len(np.unique(everything)) == len(everything)
    assert set(records.labels[splits.attack_unseen]) == {
        "back",
        "teardrop",
        "pod",
        "land",
    }


@needs_real_data
def test_shipped_model_reproduces_its_validation_metrics():
    # The metrics were measured on the fp32 original of the shipped model.
    fp32 = (
        Path(__file__).resolve().parents[1]
        / "firmware_models"
        / "ids-ebgan-dos-fp32.ebgan"
    )
    scorer = Scorer.load(fp32)
    stored = scorer.metadata.get("validation")
    assert stored, "the shipped model must carry its validation metrics"
    for which in ("unseen", "seen"):
        result = evaluate_model(fp32, REAL_DATA, "dos", rows=f"validation-{which}")
        # Torch (training) and the compiled kernels may order float sums
        # differently; a flipped row or two moves these by ~1e-3 at most.
        assert result["roc_auc"] == pytest.approx(stored[which]["roc_auc"], abs=1e-3)
        for protocol in ("top_fraction", "threshold"):
            assert result[protocol]["f1"] == pytest.approx(
                stored[which][protocol]["f1"], abs=5e-3
            )


def test_experiments_combine_both_validation_sets_exactly():
    from ebgan_edge.training.experiments import _combined_f1

    # Shared normals: 100 rows, 4 false positives; unseen 10 attacks (6 found),
    # seen 30 attacks (27 found). Combined: TP 33, FP 4, positives 40.
    def f1(tp, positives):
        return 2 * tp / (tp + 4 + positives)

    row = {
        "unseen": {"f1_threshold": f1(6, 10), "fpr_threshold": 0.04},
        "seen": {"f1_threshold": f1(27, 30), "fpr_threshold": 0.04},
    }
    combined = _combined_f1(row, 100, {"unseen": 10, "seen": 30})
    assert combined == pytest.approx(2 * 33 / (33 + 4 + 40))


@needs_real_data
def test_shipped_int8_model_is_its_fp32_original_converted_and_recalibrated(tmp_path):
    models = Path(__file__).resolve().parents[1] / "firmware_models"
    out = tmp_path / "int8.ebgan"
    assert (
        cli.main(
            [
                "convert",
                str(models / "ids-ebgan-dos-fp32.ebgan"),
                "--out",
                str(out),
                "--precision",
                "int8",
                "--validate-on",
                str(REAL_DATA),
            ]
        )
        == 0
    )
    shipped, converted = Scorer.load(models / "default.ebgan"), Scorer.load(out)
    fp32 = Scorer.load(models / "ids-ebgan-dos-fp32.ebgan")
    assert shipped.threshold == converted.threshold != fp32.threshold
    calibration = converted.calibration
    assert calibration["recalibrated_for"] == "int8"
    assert calibration["fp32_threshold"] == pytest.approx(fp32.threshold)
    # The same share of calibration rows is flagged as the fp32 model flags.
    assert calibration["calibration_false_positive_rate"] == pytest.approx(
        fp32.calibration["calibration_false_positive_rate"], abs=1.5 / 1345
    )
    report = converted.metadata["quantization"]
    assert report["thresholds"]["int8"] == pytest.approx(converted.threshold)
    assert abs(report["difference"]["f1_threshold"]) <= 0.003
