"""One behavioural suite for every implementation of the scoring API:
ebgan_edge.Scorer with each kernel this machine runs, and the torch
reference TorchScorer."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import ebgan_edge
from ebgan_edge import Scorer, available_kernels, encode, parse_records
from ebgan_edge._api import BaseScorer
from helpers import assert_fp32_scores_close, generate_rows

# The fp32 original of the shipped (int8) default model.
SHIPPED_FP32 = (
    Path(__file__).resolve().parents[1] / "firmware_models" / "ids-ebgan-dos-fp32.ebgan"
)

BACKENDS = [f"Scorer:{k}" for k in available_kernels()] + ["TorchScorer"]


def _reference():
    """ebgan_edge.reference, or a skip where torch is not installed."""
    pytest.importorskip("torch", reason="torch is not installed")
    from ebgan_edge import reference

    return reference


def load(backend: str, path, threads: int = 1):
    if backend == "TorchScorer":
        reference = _reference()
        return reference.TorchScorer.load(path, threads=threads)
    return Scorer.load(path, kernel=backend.split(":")[1], threads=threads)


@pytest.fixture(params=BACKENDS)
def scorer(request, model_path):
    return load(request.param, model_path)


def batch(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 121), dtype=np.float32)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 15, 16, 17, 33, 1000])
def test_score_shape_and_consistency_over_batch_sizes(scorer, n):
    x = batch(1000, seed=1)[:n]
    scores = scorer.score(x)
    assert scores.shape == (n,) and scores.dtype == np.float32
    assert np.all(scores >= 0)
    if n:
        # Scoring rows one at a time gives the same answer as in a batch.
        single = np.concatenate([scorer.score(x[i : i + 1]) for i in range(min(n, 20))])
        np.testing.assert_allclose(single, scores[: len(single)], rtol=1e-5)


def test_a_single_row_is_a_batch_of_one(scorer):
    x = batch(1)
    assert scorer.score(x[0]).shape == (1,)
    np.testing.assert_array_equal(scorer.score(x[0]), scorer.score(x))


def test_reconstruction_gives_the_score(scorer):
    x = batch(20)
    reconstruction = scorer.reconstruct(x)
    assert reconstruction.shape == (20, 121) and reconstruction.dtype == np.float32
    np.testing.assert_allclose(
        ((reconstruction - x) ** 2).mean(axis=1), scorer.score(x), rtol=1e-5
    )


def test_predict_is_score_above_threshold(scorer):
    x = batch(500)
    scores = scorer.score(x)
    np.testing.assert_array_equal(
        scorer.predict(x), scores > np.float32(scorer.threshold)
    )
    assert scorer.predict(x).dtype == bool


def test_score_records_equals_encode_then_score(scorer):
    rows = generate_rows(40, seed=11)
    expected = scorer.score(encode(parse_records(rows), scorer.normalization))
    np.testing.assert_array_equal(scorer.score_records(rows), expected)


def test_inputs_of_other_types_are_converted(scorer):
    x = batch(9)
    expected = scorer.score(x)
    np.testing.assert_allclose(scorer.score(x.astype(np.float64)), expected, rtol=1e-6)
    np.testing.assert_allclose(scorer.score(x.tolist()), expected, rtol=1e-6)
    wide = np.zeros((9, 242), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(
        scorer.score(wide[:, ::2]), expected
    )  # non-contiguous
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(scorer.score(fortran), expected)
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(scorer.score(frozen), expected)
    assert scorer.score(x > 0.5).shape == (9,)  # booleans are numbers too


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (
            np.zeros((3, 120), np.float32),
            ValueError,
            r"shape \(n, 121\), got \(3, 120\)",
        ),
        (np.zeros((2, 3, 121), np.float32), ValueError, r"got \(2, 3, 121\)"),
        (
            np.zeros(120, np.float32),
            ValueError,
            "single row must have 121 features, got 120",
        ),
        (np.float32(1.0), ValueError, r"shape \(n, 121\), got \(\)"),
        (np.full((2, 121), "a"), TypeError, "dtype <U1"),
        (np.zeros((2, 121), np.complex64), TypeError, "dtype complex64"),
        ([[1.0] * 121, [1.0] * 120], ValueError, "not a rectangular array of numbers"),
    ],
)
def test_bad_batches_are_refused_clearly(scorer, bad, error, message):
    with pytest.raises(error, match=message):
        scorer.score(bad)
    with pytest.raises(error, match=message):
        scorer.predict(bad)


@pytest.mark.parametrize(
    "value,name", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")]
)
def test_non_finite_values_are_refused_with_their_position(scorer, value, name):
    x = batch(5)
    x[3, 17] = value
    with pytest.raises(
        ValueError, match=rf"non-finite value \({name}\) at row 3, column 17"
    ):
        scorer.score(x)


def test_state_is_visible(scorer):
    assert scorer.threshold == pytest.approx(0.05)
    assert scorer.precision == "fp32"
    assert scorer.calibration == {"method": "test"}
    assert scorer.metadata["model_id"] == "test-1"
    assert scorer.normalization.minimum.shape == (37,)
    assert isinstance(scorer.kernel, str) and scorer.kernel in repr(scorer)


def test_public_api_of_scorer_and_reference_is_identical():
    reference = _reference()

    def api(cls):
        names = {n for n in dir(cls) if not n.startswith("_")} - {"from_module"}

        def shape(member):
            if not callable(member):
                return "attribute"
            # Each class returns its own type from load(); compare the arguments.
            return inspect.signature(member).replace(
                return_annotation=inspect.Signature.empty
            )

        return {n: shape(getattr(cls, n)) for n in names}

    assert api(Scorer) == api(reference.TorchScorer) == api(BaseScorer)
    assert {
        "load",
        "score",
        "reconstruct",
        "predict",
        "threshold",
        "score_records",
        "kernel",
    } <= set(api(Scorer))


@pytest.mark.parametrize("kernel", available_kernels())
def test_kernels_agree_with_torch_reference(model_path, kernel):
    reference = _reference()
    torch_scores = reference.TorchScorer.load(model_path)
    ours = Scorer.load(model_path, kernel=kernel)
    bound = ebgan_edge._core.schema()["fp32_relative_bound"]
    for x in (batch(2000, seed=5), batch(300, seed=6) * 3.0):
        assert_fp32_scores_close(ours.score(x), torch_scores.score(x))
        np.testing.assert_allclose(
            ours.reconstruct(x),
            torch_scores.reconstruct(x),
            rtol=bound,
            atol=bound * np.abs(x).max(),
        )


@pytest.mark.slow
@pytest.mark.parametrize("kernel", available_kernels())
def test_kernels_agree_with_torch_on_the_training_file(nsl_kdd_path, kernel):
    reference = _reference()
    torch_scores = reference.TorchScorer.load(SHIPPED_FP32)
    ours = Scorer.load(SHIPPED_FP32, kernel=kernel)
    x = encode(ebgan_edge.read_records(nsl_kdd_path), ours.normalization)
    a, b = ours.score(x), torch_scores.score(x)
    assert_fp32_scores_close(a, b)
    # Verdicts agree on every row not within the error bound of the threshold.
    schema = ebgan_edge._core.schema()
    t = np.float32(ours.threshold)
    margin = schema["fp32_relative_bound"] * t + schema["fp32_sqrt_bound"] * np.sqrt(t)
    clear = np.abs(b - t) > margin
    np.testing.assert_array_equal((a > t)[clear], (b > t)[clear])


def test_unknown_or_unusable_kernels_are_refused(model_path):
    with pytest.raises(ValueError, match="unknown kernel 'sse9'"):
        Scorer.load(model_path, kernel="sse9")
    others = {"avx2_fma", "avx512", "neon"} - set(available_kernels())
    for name in others:
        with pytest.raises(ValueError, match=f"kernel '{name}'"):
            Scorer.load(model_path, kernel=name)


def test_kernel_can_be_forced_by_environment(model_path):
    code = "import ebgan_edge, sys; print(ebgan_edge.Scorer.load(sys.argv[1]).kernel)"
    env_run = subprocess.run(
        [sys.executable, "-c", code, str(model_path)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "EBGAN_EDGE_KERNEL": "scalar"},
        check=True,
    )
    assert env_run.stdout.strip() == "scalar"


def test_threads_split_large_batches_with_identical_results(model_path):
    x = batch(3001, seed=7)
    one = Scorer.load(model_path).score(x)
    np.testing.assert_array_equal(Scorer.load(model_path, threads=2).score(x), one)
    np.testing.assert_array_equal(Scorer.load(model_path, threads=7).score(x), one)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        Scorer.load(model_path, threads=0)


def test_one_scorer_shared_by_many_threads(model_path):
    scorer = Scorer.load(model_path)
    inputs = [batch(n, seed=n) for n in (1, 5, 64, 333, 1000, 17, 2, 256)]
    expected = [scorer.score(x) for x in inputs]
    failures = []

    def work(worker: int):
        for round_ in range(25):
            i = (worker + round_) % len(inputs)
            if not np.array_equal(scorer.score(inputs[i]), expected[i]):
                failures.append((worker, round_))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_import_does_not_import_torch():
    code = (
        "import sys, ebgan_edge; ebgan_edge.Scorer.load(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_default_model_loads_without_a_path():
    scorer = Scorer.load()
    assert scorer.kernel in available_kernels(scorer.precision)
    assert scorer.score(batch(3)).shape == (3,)
