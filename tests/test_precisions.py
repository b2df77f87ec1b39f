"""fp16 and int8 model files: quantisation, the kernels against the torch
reference of each precision, and int8 results identical on every kernel."""

from __future__ import annotations

import numpy as np
import pytest

import ebgan_edge
from ebgan_edge import Scorer, available_kernels, read_model
from ebgan_edge.training.quantize import quantize_layers
from helpers import (
    assert_fp32_scores_close,
    generate_rows,
    model_file_bytes,
    random_layers,
)


def quantized_model(precision: str, seed: int = 5, layers=None) -> bytes:
    layers = quantize_layers(layers or random_layers(seed), precision)
    return model_file_bytes(seed=seed, layers=layers)


def inputs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((700, 121), dtype=np.float32)
    x[:100, 37:] = 0  # sparse rows like one-hot encodings
    x[100] = 0  # a row of zeros: activations quantise with scale 0
    x[101] = 0
    x[101, 5] = 1  # a single hot feature
    x[102] = 1  # saturates every input quantum at 127
    return x


def test_int8_weights_are_symmetric_per_channel():
    layers = random_layers(7)
    layers[3]["weight"][4] = 0  # an all-zero output channel
    quantized = quantize_layers(layers, "int8")
    for float_layer, q in zip(layers, quantized):
        assert q["weight"].dtype == np.int8
        assert q["weight"].min() >= -127 and q["weight"].max() <= 127
        assert np.all(q["weight_scale"] > 0)
        peak_rows = np.abs(q["weight"]).max(axis=1)
        assert np.all(
            (peak_rows == 127) | (np.abs(float_layer["weight"]).max(axis=1) == 0)
        )
        error = np.abs(q["weight"] * q["weight_scale"][:, None] - float_layer["weight"])
        assert np.all(error <= q["weight_scale"][:, None] / 2 * (1 + 1e-6))
    assert np.all(quantized[3]["weight"][4] == 0)
    with pytest.raises(ValueError, match="precision must be one of"):
        quantize_layers(layers, "int4")


def test_fp16_model_scores_like_its_reference():
    pytest.importorskip("torch", reason="torch is not installed")
    from ebgan_edge import reference

    data = quantized_model("fp16")
    assert read_model(data).precision == "fp16"
    expected = reference.TorchScorer.load(data).score(inputs())
    for kernel in available_kernels("fp16"):
        scores = Scorer.load(data, kernel=kernel).score(inputs())
        assert_fp32_scores_close(scores, expected)


@pytest.mark.parametrize("kernel", available_kernels("int8"))
def test_int8_kernel_reconstructs_exactly_like_the_reference(kernel):
    pytest.importorskip("torch", reason="torch is not installed")
    from ebgan_edge import reference

    data = quantized_model("int8")
    ours = Scorer.load(data, kernel=kernel)
    torch_scorer = reference.TorchScorer.load(data)
    x = inputs()
    np.testing.assert_array_equal(ours.reconstruct(x), torch_scorer.reconstruct(x))
    # The scores differ only in the order the squared errors are summed.
    np.testing.assert_allclose(ours.score(x), torch_scorer.score(x), rtol=1e-6)


def test_int8_scores_are_identical_on_every_kernel():
    data = quantized_model("int8", seed=9)
    x = inputs(seed=4)
    kernels = available_kernels("int8")
    scores = {k: Scorer.load(data, kernel=k).score(x) for k in kernels}
    for kernel in kernels:
        np.testing.assert_array_equal(scores[kernel], scores["scalar"], err_msg=kernel)
    for n in (1, 2, 3, 17, 33):
        for kernel in kernels:
            batch = Scorer.load(data, kernel=kernel).score(x[:n])
            np.testing.assert_array_equal(batch, scores["scalar"][:n], err_msg=kernel)


def test_int8_extremes_do_not_overflow():
    # Every weight at +-127 and inputs saturating at 127 give the largest
    # accumulators: 512 * 127 * 127 in the widest layer.
    layers = random_layers(11)
    for layer in layers:
        layer["weight"] = np.where(layer["weight"] >= 0, 1.0, -1.0).astype(np.float32)
    data = quantized_model("int8", layers=layers)
    x = np.ones((4, 121), np.float32)
    x[1] = 0
    x[2, ::2] = 0
    pytest.importorskip("torch", reason="torch is not installed")
    from ebgan_edge import reference

    expected = reference.TorchScorer.load(data).reconstruct(x)
    assert np.all(np.isfinite(expected))
    for kernel in available_kernels("int8"):
        got = Scorer.load(data, kernel=kernel).reconstruct(x)
        np.testing.assert_array_equal(got, expected, err_msg=kernel)


def test_int8_model_with_static_activation_scales_is_refused():
    layers = quantize_layers(random_layers(3), "int8")
    layers[0]["input_scale"] = 0.01
    with pytest.raises(ebgan_edge.ModelFileError, match="static activation scales"):
        Scorer.load(model_file_bytes(seed=3, layers=layers))


def test_a_kernel_without_an_int8_implementation_is_refused():
    missing = set(available_kernels("fp32")) - set(available_kernels("int8"))
    data = quantized_model("int8")
    for kernel in missing:
        with pytest.raises(
            ebgan_edge.ModelFileError, match="has no int8 implementation"
        ):
            Scorer.load(data, kernel=kernel)


def _records_with_bent_values(n: int, seed: int):
    """Records with unknown categories and values outside the training range
    mixed in, so that every branch of the record encoding is taken."""
    rows = generate_rows(n, seed=seed)
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row[2] = "no_such_service"
        if i % 11 == 0:
            row[1], row[3] = "sctp", "XX"  # unknown protocol and flag: no hot column
        if i % 5 == 0:
            row[4] = "1e12"  # src_bytes far above any training maximum
    return rows


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_score_records_equals_dense_scoring_on_every_kernel(precision):
    if precision == "fp32":
        model = model_file_bytes(seed=4)
    else:
        model = quantized_model(precision)
    records = ebgan_edge.parse_records(_records_with_bent_values(300, seed=2))
    for kernel in available_kernels(precision):
        scorer = Scorer.load(model, kernel=kernel)
        dense, expected_report = ebgan_edge.encode(
            records, scorer.normalization, report=True
        )
        scores, report = scorer.score_records(records, report=True)
        # Equal, not close: the record kernels skip only terms that are
        # exactly zero in the dense sum.
        np.testing.assert_array_equal(scores, scorer.score(dense), err_msg=kernel)
        assert report == expected_report
        assert report.unknown["service"]["no_such_service"] == 43
        assert report.clipped_values >= 60
        threaded = Scorer.load(model, kernel=kernel, threads=2)
        np.testing.assert_array_equal(threaded.score_records(records), scores)


def test_fp16_kernels_equal_fp32_kernels_on_the_widened_weights():
    layers = quantize_layers(random_layers(8), "fp16")
    widened = [
        dict(layer, weight=np.asarray(layer["weight"], np.float32)) for layer in layers
    ]
    half = model_file_bytes(seed=8, layers=layers)
    full = model_file_bytes(seed=8, layers=widened)
    x = inputs()
    for kernel in available_kernels("fp16"):
        fp16 = Scorer.load(half, kernel=kernel)
        np.testing.assert_array_equal(
            fp16.score(x), Scorer.load(full, kernel=kernel).score(x), err_msg=kernel
        )
