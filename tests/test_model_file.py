"""The model file: round trips, and damaged files refused with clear errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from ebgan_edge import ModelFileError, Scorer, read_model
from ebgan_edge.features import Normalization, parse_records
from ebgan_edge.training.model_writer import model_bytes
from helpers import generate_rows, model_file_bytes, random_layers


def sections(data: bytes) -> dict[bytes, tuple[int, int]]:
    count = struct.unpack_from("<I", data, 12)[0]
    out = {}
    for i in range(count):
        tag, _, offset, size = struct.unpack_from("<4sIQQ", data, 32 + 24 * i)
        out[tag] = (offset, size)
    return out


def with_valid_checksum(data: bytes | bytearray) -> bytes:
    """Recompute the trailer, as a crafted (not merely corrupted) file would."""
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


def patched(data: bytes, offset: int, fmt: str, *values) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return with_valid_checksum(out)


@pytest.fixture(scope="module")
def good() -> bytes:
    return _GOOD


def test_round_trip_keeps_every_array(good):
    layers = random_layers(seed=2)
    model = read_model(good)
    assert model.precision == "fp32"
    for stored, written in zip(model.layers, layers):
        np.testing.assert_array_equal(stored["weight"], written["weight"])
        np.testing.assert_array_equal(stored["bias"], written["bias"])
    expected = Normalization.fit(parse_records(generate_rows(200, 2)))
    np.testing.assert_array_equal(model.normalization.minimum, expected.minimum)
    np.testing.assert_array_equal(model.normalization.maximum, expected.maximum)
    assert model.threshold == pytest.approx(0.05)
    assert model.calibration == {"method": "test"}
    assert model.metadata == {"model_id": "test-2"}


def test_fp16_and_int8_layouts_round_trip():
    half = read_model(model_file_bytes(layers=random_layers(3, np.float16)))
    assert half.precision == "fp16" and half.layers[0]["weight"].dtype == np.float16
    np.testing.assert_array_equal(
        half.layers[0]["weight"], random_layers(3, np.float16)[0]["weight"]
    )

    layers = random_layers(4)
    for layer in layers:
        scale = np.abs(layer["weight"]).max(axis=1) / 127
        layer["weight"] = np.round(layer["weight"] / scale[:, None]).astype(np.int8)
        layer.update(
            weight_scale=scale.astype(np.float32), input_scale=0.0, input_zero_point=0
        )
    quantized = read_model(model_file_bytes(layers=layers))
    assert quantized.precision == "int8"
    np.testing.assert_array_equal(quantized.layers[5]["weight"], layers[5]["weight"])
    np.testing.assert_array_equal(
        quantized.layers[5]["weight_scale"], layers[5]["weight_scale"]
    )


def test_module_to_file_to_torch_scorer_gives_the_module_scores(tmp_path):
    torch = pytest.importorskip("torch")
    from ebgan_edge.reference import TorchScorer
    from ebgan_edge.training.discriminator import Discriminator
    from ebgan_edge.training.model_writer import write_model

    torch.manual_seed(0)
    module = Discriminator(spectral_norm=True)
    module.train()
    module(torch.rand(8, 121))  # one power iteration, as training leaves it
    module.eval()
    records = parse_records(generate_rows(64, seed=9))
    normalization = Normalization.fit(records)
    path = tmp_path / "module.ebgan"
    write_model(path, module.export_layers(), normalization, 0.01)

    x = np.random.default_rng(0).random((64, 121), dtype=np.float32)
    with torch.no_grad():
        expected = module.energy(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(TorchScorer.load(path).score(x), expected, rtol=1e-6)
    np.testing.assert_allclose(Scorer.load(path).score(x), expected, rtol=1e-5)


def test_writer_refuses_what_the_reader_would():
    layers = random_layers()
    layers[2]["weight"] = layers[2]["weight"][:, :-1]
    with pytest.raises(ValueError, match="layer 2 weight has shape"):
        model_file_bytes(layers=layers)
    with pytest.raises(ValueError, match="threshold must be finite"):
        model_file_bytes(threshold=float("nan"))


def damaged_files(good: bytes):
    s = sections(good)
    arch, layr, norm, thrs = s[b"ARCH"][0], s[b"LAYR"][0], s[b"NORM"][0], s[b"THRS"][0]
    flipped = bytearray(good)
    flipped[layr + 1000] ^= 0x10
    yield "empty", b"", "shorter than the 36-byte minimum"
    for cut in (10, 40, 200, len(good) // 2, len(good) - 1):
        yield f"truncated at {cut}", good[:cut], r"shorter than|truncated or padded"
    yield "padded", good + b"\0", "truncated or padded"
    yield "flipped byte", bytes(flipped), "checksum mismatch"
    yield "wrong magic", b"GGUF" + good[4:], "not an ebgan-edge model file"
    yield (
        "newer version",
        patched(good, 8, "<I", 2),
        ("format version 2 is newer than the version this build reads \\(1\\)"),
    )
    yield "absurd declared size", patched(good, 16, "<Q", 1 << 40), "above the limit"
    yield "zero sections", patched(good, 12, "<I", 0), "section count 0"
    yield (
        "absurd section count",
        patched(good, 12, "<I", 100000),
        "section count 100000",
    )
    yield (
        "absurd section size",
        patched(good, 32 + 8, "<Q", 1 << 62),
        "outside the file body",
    )
    yield (
        "section offset past end",
        patched(good, 32 + 8, "<Q", len(good) + 8),
        ("outside the file body"),
    )
    yield (
        "section inside the header",
        patched(good, 32 + 8, "<Q", 0),
        "outside the file body",
    )
    yield "unknown section", patched(good, 32, "<4s", b"XXXX"), "unknown section 'XXXX'"
    yield (
        "duplicate section",
        patched(good, 32 + 24, "<4s", b"ARCH"),
        "ARCH appears twice",
    )
    yield (
        "wrong layer size",
        patched(good, arch + 4 + 12 + 4, "<I", 500),
        ("layer 1 is 512->500, expected 512->256"),
    )
    yield "more layers", patched(good, arch, "<I", 7), "has 7 layers"
    yield "other activation", patched(good, arch + 4 + 8, "<I", 0), "activation code 0"
    yield "other slope", patched(good, arch + 4 + 72, "<f", 0.01), "LeakyReLU slope"
    yield "unknown precision", patched(good, layr, "<I", 7), "precision code 7"
    yield (
        "non-finite weight",
        patched(good, layr + 4, "<f", float("inf")),
        ("layer 0 has a non-finite weight"),
    )
    yield (
        "short weights",
        patched(good, 32 + 24 + 16, "<Q", s[b"LAYR"][1] - 4),
        ("LAYR section ends early"),
    )
    yield "newer encoding", patched(good, norm, "<I", 9), "feature encoding version 9"
    yield (
        "minimum above maximum",
        patched(good, norm + 8, "<f", 1e30),
        ("minimum above maximum"),
    )
    yield (
        "other vocabulary",
        patched(good, norm + 8 + 8 * 37 + 4, "<8s", b"DURATION"),
        ("different feature vocabulary"),
    )
    yield (
        "absurd names length",
        patched(good, norm + 8 + 8 * 37, "<I", 0xFFFFFFFF),
        ("NORM section ends early"),
    )
    yield (
        "nan threshold",
        patched(good, thrs, "<f", float("nan")),
        "threshold is not finite",
    )
    yield (
        "absurd calibration length",
        patched(good, thrs + 4, "<I", 0xFFFFFFF0),
        ("THRS section ends early"),
    )


_GOOD = model_file_bytes(seed=2)
_DAMAGED = list(damaged_files(_GOOD))


@pytest.mark.parametrize(
    ("data", "message"), [d[1:] for d in _DAMAGED], ids=[d[0] for d in _DAMAGED]
)
def test_damaged_file_is_refused_clearly(data, message, tmp_path):
    with pytest.raises(ModelFileError, match=message):
        read_model(data)
    path = tmp_path / "damaged.ebgan"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=message):
        Scorer.load(path)


def test_missing_section_is_named(good):
    # With the count cut to 3 the table's last two entries, THRS and META,
    # are no longer read.
    data = patched(good, 12, "<I", 3)
    with pytest.raises(ModelFileError, match="section THRS is missing"):
        read_model(data)


def test_metadata_that_is_not_json_is_refused():
    data = model_bytes(random_layers(), Normalization(np.zeros(37), np.ones(37)), 0.1)
    offset, size = sections(data)[b"META"]
    broken = bytearray(data)
    broken[offset : offset + size] = b"{" + b" " * (size - 1)
    with pytest.raises(ModelFileError, match="metadata is not valid JSON"):
        read_model(with_valid_checksum(broken))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="cannot open model file"):
        read_model(tmp_path / "absent.ebgan")


def test_default_model_is_shipped_and_valid():
    model = read_model()
    assert model.precision in ("fp32", "fp16", "int8")
    assert model.threshold > 0
    assert "method" in model.calibration
