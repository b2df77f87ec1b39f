"""The ebgan-edge command line: score and info."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ebgan_edge import Scorer
from ebgan_edge.cli import main
from helpers import generate_rows


def write_csv(path, rows):
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_score_writes_one_json_line_per_record(tmp_path, model_path, capsys):
    rows = generate_rows(30, seed=21)
    assert (
        main(
            [
                "score",
                "--model",
                str(model_path),
                "--input",
                str(write_csv(tmp_path / "r.csv", rows)),
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = Scorer.load(model_path).score_records(rows)
    assert [d["line"] for d in lines] == list(range(1, 31))
    np.testing.assert_allclose([d["score"] for d in lines], expected, rtol=1e-7)
    assert [d["attack"] for d in lines] == list(expected > np.float32(0.05))
    assert {d["model"] for d in lines} == {"test-1"}


def test_score_streams_in_micro_batches_and_plain_scores(
    tmp_path, model_path, capsys, monkeypatch
):
    monkeypatch.setattr("ebgan_edge.cli._BATCH_ROWS", 7)
    rows = generate_rows(23, seed=22, labels=False)
    main(
        [
            "score",
            "--model",
            str(model_path),
            "--format",
            "scores",
            "--input",
            str(write_csv(tmp_path / "r.csv", rows)),
        ]
    )
    scores = np.array(capsys.readouterr().out.split(), dtype=np.float32)
    np.testing.assert_allclose(
        scores, Scorer.load(model_path).score_records(rows), rtol=1e-7
    )


def test_a_bad_record_is_named_by_its_file_line(
    tmp_path, model_path, capsys, monkeypatch
):
    monkeypatch.setattr("ebgan_edge.cli._BATCH_ROWS", 4)
    rows = generate_rows(10, seed=23)
    rows[8][4] = "-1"
    path = write_csv(tmp_path / "r.csv", rows)
    assert main(["score", "--model", str(model_path), "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 9, field 'src_bytes': negative value '-1'" in err


def test_score_reads_standard_input(model_path):
    rows = generate_rows(5, seed=24)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ebgan_edge.cli",
            "score",
            "--model",
            str(model_path),
            "--input",
            "-",
            "--format",
            "scores",
        ],
        input="\n".join(",".join(r) for r in rows),
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(out.stdout.split()) == 5


def test_a_damaged_model_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.ebgan"
    path.write_bytes(b"not a model at all, just some bytes padding it out")
    assert main(["info", "--model", str(path)]) == 2
    assert "not an ebgan-edge model file" in capsys.readouterr().err


def info_widths():
    from ebgan_edge.model_file import LAYER_WIDTHS

    return list(LAYER_WIDTHS)


def test_info_describes_the_model(model_path, capsys):
    assert main(["info", "--model", str(model_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["precision"] == "fp32" and info["threshold"] == pytest.approx(0.05)
    assert info["kernel"] in info["available_kernels"]
    assert info["provenance"]["model_id"] == "test-1"
    assert info["format_version"] == 1 and info["quantization"] is None
    # fp32 weights padded to whole registers: a little over 4 bytes a weight.
    weights = sum(a * b for a, b in zip(info_widths(), info_widths()[1:]))
    assert 4 * weights < info["kernel_weight_bytes"] < 4.3 * weights


def test_bad_records_can_be_skipped_and_are_reported(
    tmp_path, model_path, capsys, monkeypatch
):
    monkeypatch.setattr("ebgan_edge.cli._BATCH_ROWS", 4)
    rows = generate_rows(10, seed=25)
    rows[2][2] = ""
    rows[6] = rows[6][:30]
    path = write_csv(tmp_path / "r.csv", rows)
    assert (
        main(
            [
                "score",
                "--model",
                str(model_path),
                "--input",
                str(path),
                "--on-error",
                "skip",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    lines = [json.loads(line)["line"] for line in captured.out.splitlines()]
    assert lines == [1, 2, 4, 5, 6, 8, 9, 10]
    assert "line 3, field 'service': is empty" in captured.err
    assert "line 7: has 30 fields" in captured.err
    summary = json.loads(captured.err.strip().splitlines()[-1].split(": ", 1)[1])
    assert summary["records"] == 8 and summary["skipped"] == 2


def test_clipped_values_and_unknown_categories_are_reported(
    tmp_path, model_path, capsys
):
    rows = generate_rows(6, seed=26)
    rows[1][2] = "quic"
    rows[3][4] = "99999999999"
    path = write_csv(tmp_path / "r.csv", rows)
    assert main(["score", "--model", str(model_path), "--input", str(path)]) == 0
    summary = json.loads(capsys.readouterr().err.strip().split(": ", 1)[1])
    assert summary["unknown_categories"] == {"service": 1}
    assert summary["clipped_values"]["src_bytes"] >= 1


def test_verify_compares_kernels_with_the_torch_reference(tmp_path, model_path, capsys):
    pytest.importorskip("torch")
    path = write_csv(tmp_path / "r.csv", generate_rows(300, seed=27))
    assert main(["verify", "--model", str(model_path), "--data", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["records"] == 300 and result["verdict_flips"] == 0
    assert result["max_relative_error"] < 1e-4
    assert result["rank_correlation"] > 0.9999


def test_convert_without_data_keeps_the_threshold_and_says_so(tmp_path, model_path):
    out = tmp_path / "int8.ebgan"
    command = ["convert", str(model_path), "--out", str(out), "--precision", "int8"]
    assert main(command) == 0
    original, converted = Scorer.load(model_path), Scorer.load(out)
    assert converted.threshold == original.threshold
    assert converted.calibration["recalibrated_for"] is None
    assert "not recalibrated for int8" in converted.calibration["note"]
