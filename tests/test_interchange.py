"""ONNX export and import, precision conversion, and the C header export."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ebgan_edge import Scorer, read_model
from ebgan_edge.cli import main
from helpers import model_file_bytes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "model.ebgan"
    path.write_bytes(model_file_bytes(seed=12, threshold=0.07))
    return path


def batch(n=64, seed=0):
    return np.random.default_rng(seed).random((n, 121), dtype=np.float32)


def test_onnx_export_checks_and_matches_onnxruntime(model, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    target = tmp_path / "model.onnx"
    assert main(["convert", str(model), "--out", str(target)]) == 0
    onnx.checker.check_model(onnx.load(str(target)), full_check=True)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    x = batch()
    score, reconstruction = session.run(["score", "reconstruction"], {"records": x})
    scorer = Scorer.load(model)
    np.testing.assert_allclose(score, scorer.score(x), rtol=1e-5)
    np.testing.assert_allclose(
        reconstruction, scorer.reconstruct(x), rtol=1e-5, atol=1e-6
    )


def test_onnx_round_trip_gives_the_same_model(model, tmp_path):
    pytest.importorskip("onnx")
    onnx_path, back = tmp_path / "m.onnx", tmp_path / "back.ebgan"
    main(["convert", str(model), "--out", str(onnx_path)])
    assert main(["convert", str(onnx_path), "--out", str(back)]) == 0
    a, b = read_model(model), read_model(back)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la["weight"], lb["weight"])
        np.testing.assert_array_equal(la["bias"], lb["bias"])
    np.testing.assert_array_equal(a.normalization.maximum, b.normalization.maximum)
    assert b.threshold == a.threshold and b.metadata["converted_from"] == "m.onnx"


def test_onnx_from_torch_export_imports(model, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript", reason="torch's ONNX export needs onnxscript")
    from ebgan_edge.training.discriminator import Discriminator

    module = Discriminator()
    module.eval()
    path = tmp_path / "torch.onnx"
    torch.onnx.export(module, (torch.rand(2, 121),), str(path))
    target = tmp_path / "from_torch.ebgan"
    assert main(["convert", str(path), "--out", str(target), "--like", str(model)]) == 0
    x = batch()
    with torch.no_grad():
        expected = module.energy(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(Scorer.load(target).score(x), expected, rtol=1e-5)


def test_onnx_of_another_architecture_is_refused(tmp_path, model, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript", reason="torch's ONNX export needs onnxscript")
    other = torch.nn.Sequential(
        torch.nn.Linear(121, 64), torch.nn.ReLU(), torch.nn.Linear(64, 121)
    )
    other.eval()
    path = tmp_path / "other.onnx"
    torch.onnx.export(other, (torch.rand(2, 121),), str(path))
    assert (
        main(
            [
                "convert",
                str(path),
                "--out",
                str(tmp_path / "x.ebgan"),
                "--like",
                str(model),
            ]
        )
        == 2
    )
    assert "layer 0: weight (64, 121)" in capsys.readouterr().err


def test_onnx_without_normalisation_needs_a_model_to_take_it_from(
    tmp_path, model, capsys
):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    main(["convert", str(model), "--out", str(path)])
    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    onnx.save(graph, str(path))
    assert main(["convert", str(path), "--out", str(tmp_path / "x.ebgan")]) == 2
    assert "carries no ebgan-edge normalisation" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_precision_conversion(model, tmp_path, precision):
    target = tmp_path / f"m_{precision}.ebgan"
    assert (
        main(["convert", str(model), "--out", str(target), "--precision", precision])
        == 0
    )
    converted = Scorer.load(target)
    assert converted.precision == precision
    x = batch(500)
    reference = Scorer.load(model).score(x)
    rank = np.corrcoef(
        np.argsort(np.argsort(converted.score(x))), np.argsort(np.argsort(reference))
    )[0, 1]
    assert rank > 0.99


@pytest.fixture(scope="module")
def static_library(tmp_path_factory) -> Path:
    """libebgan.a: the one given by EBGAN_STATIC_LIBRARY, or built once here."""
    for tool in ("cmake", "ninja", "cc", "c++"):
        if shutil.which(tool) is None:
            pytest.skip(f"compiling the C header needs {tool}, which is not installed")
    given = os.environ.get("EBGAN_STATIC_LIBRARY")
    if given:
        return Path(given)
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            "cmake",
            "-S",
            str(REPO),
            "-B",
            str(build),
            "-G",
            "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "ebgan"],
        check=True,
        capture_output=True,
    )
    return build / "libebgan.a"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_c_header_scores_like_the_model_file(
    model, tmp_path, precision, static_library
):
    source = tmp_path / f"m_{precision}.ebgan"
    main(["convert", str(model), "--out", str(source), "--precision", precision])
    header = tmp_path / "shipped_model.h"
    assert main(["convert", str(source), "--out", str(header)]) == 0
    program = tmp_path / "score.c"
    program.write_text(
        '#include <stdio.h>\n#include "shipped_model.h"\n'
        "int main(void) {\n"
        "  ebgan_model* m; char err[256]; float x[3 * 121], s[3];\n"
        "  for (int i = 0; i < 3 * 121; ++i) x[i] = (float)((i * 37) % 101) / 100.0f;\n"
        "  if (ebgan_load_static(&shipped_model, NULL, &m, err, sizeof err)) {\n"
        '    fprintf(stderr, "%s\\n", err); return 1; }\n'
        "  ebgan_score(m, x, 3, s, err, sizeof err);\n"
        '  printf("%.9g %.9g %.9g %.9g\\n", s[0], s[1], s[2], ebgan_threshold(m));\n'
        "  ebgan_free(m); return 0; }\n"
    )
    library = static_library
    exe = tmp_path / "score"
    subprocess.run(
        [
            "cc",
            "-O1",
            "-c",
            str(program),
            "-o",
            str(tmp_path / "score.o"),
            f"-I{REPO / 'cpp' / 'include'}",
            f"-I{tmp_path}",
        ],
        check=True,
    )
    subprocess.run(
        ["c++", str(tmp_path / "score.o"), str(library), "-o", str(exe), "-lpthread"],
        check=True,
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    values = np.array(out.split(), dtype=np.float32)
    x = (np.arange(3 * 121) * 37 % 101 / 100).astype(np.float32).reshape(3, 121)
    np.testing.assert_array_equal(values[:3], Scorer.load(source).score(x))
    assert values[3] == np.float32(0.07)


def test_shipped_header_is_the_shipped_model():
    from ebgan_edge.training.c_header import c_header

    shipped = REPO / "firmware_models" / "default.h"
    expected = c_header(read_model(), "ebgan_default_model")
    assert shipped.read_text() == expected, (
        "firmware_models/default.h is stale: ebgan-edge convert "
        "firmware_models/default.ebgan --out firmware_models/default.h "
        "--name ebgan_default_model"
    )
