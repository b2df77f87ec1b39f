"""The 121-feature NSL-KDD encoding and the record parser."""

from __future__ import annotations

import numpy as np
import pytest

from ebgan_edge import Scorer, features
from ebgan_edge.features import (
    FEATURE_NAMES,
    Normalization,
    RecordError,
    encode,
    label_family,
    parse_records,
    parse_text,
    read_records,
)
from helpers import generate_rows, model_file_bytes


def test_feature_order_is_numeric_then_one_hot_blocks():
    assert len(FEATURE_NAMES) == 121 == features.N_FEATURES
    assert len(set(FEATURE_NAMES)) == 121
    assert (
        FEATURE_NAMES[0] == "duration"
        and FEATURE_NAMES[36] == "dst_host_srv_rerror_rate"
    )
    assert "num_outbound_cmds" not in FEATURE_NAMES
    assert FEATURE_NAMES[37:40] == (
        "protocol_type=icmp",
        "protocol_type=tcp",
        "protocol_type=udp",
    )
    assert FEATURE_NAMES[40] == "service=aol" and FEATURE_NAMES[109] == "service=Z39_50"
    assert FEATURE_NAMES[110] == "flag=OTH" and FEATURE_NAMES[120] == "flag=SH"
    assert (
        len(features.PROTOCOL_TYPES),
        len(features.SERVICES),
        len(features.FLAGS),
    ) == (3, 70, 11)


def test_every_nsl_kdd_label_has_a_family():
    test_only_dos = ["apache2", "mailbomb", "processtable", "udpstorm"]
    for label in test_only_dos + [
        "neptune",
        "smurf",
        "back",
        "teardrop",
        "pod",
        "land",
    ]:
        assert label_family(label) == "DoS"
    assert label_family("mscan") == "Probe" and label_family("satan") == "Probe"
    assert label_family("snmpguess") == "R2L" and label_family("warezclient") == "R2L"
    assert label_family("sqlattack") == "U2R" and label_family("rootkit") == "U2R"
    assert label_family("normal") == "normal"
    assert len(features.ATTACK_FAMILIES) == 40  # 39 attack names and normal
    with pytest.raises(KeyError, match="unknown NSL-KDD label 'zeroday'"):
        label_family("zeroday")


def test_hand_checked_rows_of_the_training_file(nsl_kdd_path):
    records = read_records(nsl_kdd_path)
    assert len(records) == 25192
    assert (records.families == "normal").sum() == 13449
    normalization = Normalization.fit(records)
    x = encode(records.subset(slice(0, 3)), normalization)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}

    # Line 1: 0,tcp,ftp_data,SF,491,0,...,count 2, ..., dst_host_count 150, normal.
    # In this file src_bytes spans 0..381709090, count 1..511, dst_host_count 0..255.
    assert x[0, col["src_bytes"]] == pytest.approx(491 / 381709090, rel=1e-6)
    assert x[0, col["count"]] == pytest.approx((2 - 1) / (511 - 1), rel=1e-6)
    assert x[0, col["dst_host_count"]] == pytest.approx(150 / 255, rel=1e-6)
    assert x[0, col["dst_host_same_srv_rate"]] == pytest.approx(0.17, rel=1e-6)
    hot = {FEATURE_NAMES[j] for j in np.flatnonzero(x[0, 37:]) + 37}
    assert hot == {"protocol_type=tcp", "service=ftp_data", "flag=SF"}
    # Line 3: a neptune SYN flood: private service, S0 flag, serror rates 1.
    assert records.labels[2] == "neptune" and records.difficulty[2] == 19
    assert x[2, col["serror_rate"]] == 1.0 and x[2, col["flag=S0"]] == 1.0
    assert x[2, col["service=private"]] == 1.0
    assert x[2, col["count"]] == pytest.approx((123 - 1) / 510, rel=1e-6)


def test_encode_is_in_unit_range_with_one_category_per_block():
    records = parse_records(generate_rows(300, seed=5))
    x = encode(records, Normalization.fit(records))
    assert x.dtype == np.float32 and x.shape == (300, 121)
    assert x.min() >= 0 and x.max() <= 1
    for start, stop in ((37, 40), (40, 110), (110, 121)):
        assert np.all(x[:, start:stop].sum(axis=1) == 1)


def test_out_of_range_values_are_clipped_and_counted():
    fit = parse_records(generate_rows(100, seed=1))
    normalization = Normalization.fit(fit)
    row = generate_rows(1, seed=2)[0]
    row[4] = str(int(normalization.maximum[1]) * 10)  # src_bytes far above max
    x, report = encode([row], normalization, report=True)
    assert x[0, 1] == 1.0
    assert report.clipped == {"src_bytes": 1} and report.clipped_values == 1
    assert report.unknown_values == 0


def test_unknown_category_is_an_empty_block_and_counted():
    rows = generate_rows(3, seed=4)
    rows[1][2] = "gopher_v2"
    rows[2][3] = "RSTX"
    normalization = Normalization.fit(parse_records(generate_rows(50)))
    x, report = encode(rows, normalization, report=True)
    assert x[1, 40:110].sum() == 0 and x[1, 37:40].sum() == 1
    assert x[2, 110:121].sum() == 0
    assert report.unknown == {"service": {"gopher_v2": 1}, "flag": {"RSTX": 1}}
    assert report.unknown_values == 2


def test_constant_feature_encodes_without_dividing_by_zero():
    normalization = Normalization(np.zeros(37), np.zeros(37))
    x = encode(generate_rows(5), normalization)
    assert np.all(np.isfinite(x)) and x[:, :37].max() <= 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r[:40], None, "has 40 fields, expected 41, 42 or 43"),
        (lambda r: r[:5] + ["abc"] + r[6:], "dst_bytes", "'abc' is not a number"),
        (lambda r: r[:4] + ["-5"] + r[5:], "src_bytes", "negative value '-5'"),
        (lambda r: r[:4] + ["nan"] + r[5:], "src_bytes", "not a finite number"),
        (lambda r: r[:4] + ["inf"] + r[5:], "src_bytes", "not a finite number"),
        (lambda r: r[:2] + [" "] + r[3:], "service", "is empty"),
        (lambda r: r[:41] + ["zeroday", "3"], "label", "unknown label 'zeroday'"),
        (lambda r: r[:41] + ["normal", "x"], "difficulty", "'x' is not an integer"),
    ],
)
def test_malformed_rows_name_source_line_and_field(change, field, message):
    rows = generate_rows(3, seed=6)
    rows[1] = change(rows[1])
    with pytest.raises(RecordError, match=message) as info:
        parse_records(rows, source="capture.csv")
    assert (info.value.source, info.value.line, info.value.field) == (
        "capture.csv",
        2,
        field,
    )
    assert str(info.value).startswith("capture.csv, line 2")


def test_rows_must_agree_on_their_width():
    rows = generate_rows(2)
    rows[1] = rows[1][:41]
    with pytest.raises(RecordError, match="has 41 fields, earlier rows had 43"):
        parse_records(rows)


def test_read_records_reports_file_line_numbers(tmp_path):
    rows = generate_rows(4, seed=7)
    rows[3][10] = "many"
    lines = [",".join(r) for r in rows]
    path = tmp_path / "records.csv"
    path.write_text(lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n")
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert info.value.line == 5 and info.value.field == "num_failed_logins"
    assert str(path) in str(info.value)


def test_records_without_labels_have_no_families():
    records = parse_records(generate_rows(3, labels=False))
    assert records.labels is None and records.difficulty is None
    with pytest.raises(ValueError, match="has no labels"):
        _ = records.families


def test_numbers_are_accepted_as_well_as_strings():
    as_text = generate_rows(5, seed=8, labels=False)
    as_numbers = [
        [float(v) if i not in (1, 2, 3) else v for i, v in enumerate(r)]
        for r in as_text
    ]
    normalization = Normalization.fit(parse_records(as_text))
    np.testing.assert_array_equal(
        encode(as_text, normalization), encode(as_numbers, normalization)
    )


@pytest.mark.parametrize("bad", [np.full(36, 1.0), np.array([np.nan] * 37)])
def test_normalization_validates_its_statistics(bad):
    with pytest.raises(ValueError):
        Normalization(bad, np.ones_like(bad))


def test_normalization_refuses_minimum_above_maximum():
    with pytest.raises(
        ValueError, match="minimum is above maximum for feature 'duration'"
    ):
        Normalization(np.r_[2.0, np.zeros(36)], np.ones(37))


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (b"0,tcp,ht\xfftp,SF" + b",0" * 37, "service", r"'ht\\xfftp' has bytes"),
        (b"\xff\xfe,tcp,http,SF" + b",0" * 37, "duration", r"'\\xff\\xfe' is not a"),
        (b"0,tcp,http,SF" + b",0" * 37 + b",norm\xc3al", "label", "not printable"),
    ],
)
def test_bytes_that_are_not_text_are_malformed_records(text, field, message):
    with pytest.raises(RecordError, match=message) as info:
        features.parse_text(text, "capture.bin")
    assert info.value.field == field and info.value.line == 1


def test_a_ten_megabyte_field_gives_a_short_message():
    text = "0,tcp,http,SF," + "9" * 10_000_000 + "x" + ",0" * 36
    with pytest.raises(RecordError, match=r"'9{40}\.\.\.' is not a number") as info:
        features.parse_text(text)
    assert len(str(info.value)) < 200


def test_bad_records_can_be_skipped_and_are_named():
    good = generate_rows(6, seed=3)
    text_rows = [",".join(row) for row in good]
    bad_number = good[1][:]
    bad_number[4] = "12x"
    bad_label = good[2][:]
    bad_label[41] = "not_an_attack"
    lines = [
        text_rows[0],
        ",".join(bad_number),  # line 2: src_bytes
        text_rows[3],
        "",  # blank: skipped, but counted as a line
        ",".join(bad_label),  # line 5: label
        ",".join(good[4][:41]),  # line 6: 41 fields where the others have 43
        text_rows[5],
    ]
    text = "\n".join(lines)
    with pytest.raises(RecordError, match="line 2, field 'src_bytes'"):
        parse_text(text)
    records = parse_text(text, "capture.csv", on_error="skip")
    assert records.lines.tolist() == [1, 3, 7]
    expected = parse_text("\n".join([text_rows[0], text_rows[3], text_rows[5]]))
    np.testing.assert_array_equal(records.numeric, expected.numeric)
    assert records.labels.tolist() == expected.labels.tolist()
    assert [(e.line, e.field) for e in records.skipped] == [
        (2, "src_bytes"),
        (5, "label"),
        (6, None),
    ]
    assert all(str(e).startswith("capture.csv, line") for e in records.skipped)
    with pytest.raises(ValueError, match="on_error"):
        parse_text(text, on_error="ignore")

    scorer = Scorer.load(model_file_bytes(seed=2))
    scores, report = scorer.score_records(text, report=True, on_error="skip")
    np.testing.assert_array_equal(scores, scorer.score_records(expected))
    assert [e.line for e in report.skipped] == [2, 5, 6]
