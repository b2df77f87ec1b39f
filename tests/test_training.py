"""Training, checkpoints and export (needs torch), on generated records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ebgan_edge import Scorer, cli  # noqa: E402
from ebgan_edge.features import NUMERIC_FEATURES, encode, parse_records  # noqa: E402
from ebgan_edge.reference import TorchScorer  # noqa: E402
from ebgan_edge.training.export import export_checkpoint  # noqa: E402
from ebgan_edge.training.generator import (  # noqa: E402
    NON_FUNCTIONAL_FEATURES,
    NON_FUNCTIONAL_INDEX,
    Generator,
    pull_away,
)
from ebgan_edge.training.options import TrainOptions  # noqa: E402
from ebgan_edge.training.synthetic import synthetic_rows, write_csv  # noqa: E402
from ebgan_edge.training.trainer import load_checkpoint, train  # noqa: E402

TINY = {"epochs": 2, "batch_size": 32, "margin": 0.1}


@pytest.fixture(scope="module")
def records():
    return parse_records(synthetic_rows(seed=1), "<generated>")


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    """One tiny run shared by the tests that only read its result."""
    torch.set_num_threads(1)
    result = train(records, TrainOptions(**TINY), seed=7, progress=False)
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    result.save(path)
    return result, path


def test_non_functional_features_are_the_22_content_and_host_features():
    assert len(NON_FUNCTIONAL_FEATURES) == 22
    assert NON_FUNCTIONAL_FEATURES[0] == "hot"
    assert NON_FUNCTIONAL_FEATURES[11] == "is_guest_login"
    assert NON_FUNCTIONAL_FEATURES[12] == "dst_host_count"
    assert NON_FUNCTIONAL_FEATURES[-1] == "dst_host_srv_rerror_rate"
    assert "num_outbound_cmds" not in NUMERIC_FEATURES
    kept = {"duration", "src_bytes", "wrong_fragment", "count", "serror_rate"}
    assert not kept & set(NON_FUNCTIONAL_FEATURES)


@pytest.mark.parametrize("condition_on_attack", [True, False])
def test_generator_rewrites_only_non_functional_features(condition_on_attack):
    torch.manual_seed(0)
    generator = Generator(noise_dim=8, condition_on_attack=condition_on_attack)
    attack = torch.rand(16, 121)
    out = generator(attack, torch.randn(16, 8))

    changed = (out != attack).any(dim=0).nonzero().flatten().tolist()
    assert set(changed) <= set(NON_FUNCTIONAL_INDEX)
    assert len(changed) == 22  # a sigmoid output never equals the uniform input
    rewritten = out[:, list(NON_FUNCTIONAL_INDEX)]
    assert rewritten.min() >= 0 and rewritten.max() <= 1

    out.sum().backward()
    assert all(p.grad is not None for p in generator.parameters())


def test_pull_away_hand_example():
    codes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # Squared cosines: (1,2) 0, (1,3) 1/2, (2,3) 1/2; twice over ordered
    # pairs: 2, divided by n (n - 1) = 6.
    assert pull_away(codes).item() == pytest.approx(1 / 3)
    # Parallel codes of any length: every squared cosine is 1.
    assert pull_away(torch.tensor([[1.0, 2.0], [2.0, 4.0]])).item() == pytest.approx(1)
    # Orthogonal codes: 0.
    assert pull_away(torch.eye(4)).item() == pytest.approx(0)
    with pytest.raises(ValueError, match="at least 2"):
        pull_away(torch.ones(1, 3))


def test_training_is_deterministic_with_a_seed(records, trained):
    first, _ = trained
    again = train(records, TrainOptions(**TINY), seed=7, progress=False)
    other = train(records, TrainOptions(**TINY), seed=8, progress=False)

    a, b, c = (r.discriminator.state_dict() for r in (first, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert first.threshold == again.threshold
    assert first.history == again.history


def test_training_reports_calibration_and_validation(trained):
    result, _ = trained
    assert len(result.history) == 2
    assert result.calibration["quantile"] == 0.99
    assert result.calibration["rows"] == len(result.splits.normal_calibration)
    assert result.calibration["expected_false_positive_rate"] == pytest.approx(0.01)
    for which in ("unseen", "seen"):
        assert 0 <= result.validation[which]["roc_auc"] <= 1
        assert result.validation[which]["threshold"]["value"] == result.threshold


@pytest.mark.parametrize(
    "options",
    [
        {"trainer": "autoencoder", "spectral_norm": False},
        {"energy": "l1", "condition_on_attack": False, "real_attack_fraction": 0.5},
        {"epochs": 3, "patience": 1, "normalize_on": "fit"},
    ],
)
def test_training_variants_run(records, options):
    result = train(records, TrainOptions(**{**TINY, **options}), seed=0, progress=False)
    assert 1 <= result.best_epoch <= result.options.epochs
    assert np.isfinite(result.threshold)


def test_options_are_validated():
    with pytest.raises(ValueError, match="attack"):
        TrainOptions(attack="u2r")
    with pytest.raises(ValueError, match="quantile"):
        TrainOptions(quantile=1.0)


def test_checkpoint_export_scores_like_the_module(records, trained, tmp_path):
    result, checkpoint = trained
    module, run = load_checkpoint(checkpoint)
    assert run["options"]["margin"] == 0.1 and run["seed"] == 7

    model_path = tmp_path / "model.ebgan"
    metadata = export_checkpoint(checkpoint, model_path)
    x = encode(records, result.normalization)
    with torch.no_grad():
        expected = module.energy(torch.from_numpy(x)).numpy()
        assert np.array_equal(
            expected, result.discriminator.energy(torch.from_numpy(x))
        )

    for scorer_class in (Scorer, TorchScorer):
        scorer = scorer_class.load(model_path)
        np.testing.assert_allclose(scorer.score(x), expected, rtol=1e-5, atol=1e-7)
        assert scorer.threshold == pytest.approx(result.threshold, rel=1e-7)
        assert scorer.metadata["model_id"] == metadata["model_id"]
        assert scorer.calibration["quantile"] == 0.99
    np.testing.assert_array_equal(
        Scorer.load(model_path).normalization.minimum, result.normalization.minimum
    )
    for key in ("options", "seed", "validation", "model_id", "export_code_version"):
        assert key in metadata


def test_export_writes_lower_precisions(trained, records, tmp_path):
    result, checkpoint = trained
    with pytest.raises(ValueError, match="fp32, fp16, int8"):
        export_checkpoint(checkpoint, tmp_path / "m.ebgan", precision="fp64")
    assert not (tmp_path / "m.ebgan").exists()

    export_checkpoint(checkpoint, tmp_path / "fp32.ebgan")
    fp32 = Scorer.load(tmp_path / "fp32.ebgan")
    x = encode(records, result.normalization)
    for precision in ("fp16", "int8"):
        path = tmp_path / f"{precision}.ebgan"
        metadata = export_checkpoint(checkpoint, path, precision=precision)
        scorer = Scorer.load(path)
        assert scorer.precision == metadata["precision"] == precision
        assert metadata["model_id"] == f"{fp32.metadata['model_id']}-{precision}"
        # Without the training file the fp32 threshold is kept, and said so.
        assert scorer.threshold == fp32.threshold
        assert scorer.calibration["recalibrated_for"] is None
        # Detection barely moves: scores rank the rows as fp32 does.
        ranks = [np.argsort(np.argsort(s.score(x))) for s in (scorer, fp32)]
        assert np.corrcoef(*ranks)[0, 1] > 0.99


def test_cli_train_export_evaluate_end_to_end(tmp_path, capsys):
    data = tmp_path / "records.csv"
    write_csv(data, synthetic_rows(seed=2))
    run = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--margin",
            "0.1",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    assert {p.name for p in run.iterdir()} >= {
        "checkpoint.pt",
        "run.json",
        "curves.png",
        "scores.png",
    }
    run_info = json.loads((run / "run.json").read_text())
    assert len(run_info["provenance"]["data_sha256"]) == 64

    model = tmp_path / "model.ebgan"
    assert cli.main(["export", str(run), "--out", str(model)]) == 0
    int8 = tmp_path / "int8.ebgan"
    export = ["export", str(run), "--out", str(int8), "--precision", "int8"]
    assert cli.main([*export, "--validate-on", str(data)]) == 0
    converted, original = Scorer.load(int8), Scorer.load(model)
    assert converted.calibration["recalibrated_for"] == "int8"
    assert converted.calibration["fp32_threshold"] == pytest.approx(original.threshold)
    report = converted.metadata["quantization"]
    assert report["thresholds"]["int8"] == pytest.approx(converted.threshold)
    assert report["rows"] > 0 and -1 <= report["rank_correlation"] <= 1

    capsys.readouterr()
    assert (
        cli.main(["evaluate", "--model", str(model), "--data", str(data), "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["model_id"] == Scorer.load(model).metadata["model_id"]
    assert result["model_id"].startswith("ids-ebgan-dos-")


def test_cli_does_not_import_torch():
    code = (
        "import sys; from ebgan_edge import cli; cli.build_parser(); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    env_path = str(Path(cli.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": env_path},
        cwd="/",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
