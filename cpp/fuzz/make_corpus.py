"""Regenerate the fuzz seed corpus in cpp/fuzz/corpus/.

    PYTHONPATH=python python cpp/fuzz/make_corpus.py

Model files are built from generated weights (numpy, fixed seed) through the
project's one writer, then damaged or crafted in the ways the reader must
refuse; no dataset rows are involved. The record seeds are lines written by
hand for this corpus. corpus/PROVENANCE.json records the seed and versions.
"""

from __future__ import annotations

import json
import platform
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

from ebgan_edge.features import Normalization
from ebgan_edge.model_file import LAYER_WIDTHS
from ebgan_edge.training.model_writer import model_bytes
from ebgan_edge.training.quantize import quantize_layers

SEED = 20240611
HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# Written by hand: plausible connections, not rows of any dataset. 41 fields,
# then optionally a label and a difficulty level.
RECORD_SEEDS = {
    "labelled.csv": (
        "0,tcp,http,SF,215,4512,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,3,5,0.00,0.00,"
        "0.00,0.00,1.00,0.00,0.40,12,230,1.00,0.00,0.08,0.02,0.00,0.00,0.00,"
        "0.00,normal,21\n"
        "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,200,12,1.00,1.00,"
        "0.00,0.00,0.06,0.07,0.00,255,12,0.05,0.07,0.00,0.00,1.00,1.00,0.00,"
        "0.00,neptune,19\n"
        "2,udp,domain_u,SF,44,90,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,"
        "0.00,0.00,1.00,0.00,0.00,80,200,0.90,0.02,0.01,0.00,0.00,0.00,0.00,"
        "0.00,normal,17\n"
    ),
    "unlabelled.csv": (
        "0,icmp,ecr_i,SF,1032,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,511,511,0.00,"
        "0.00,0.00,0.00,1.00,0.00,0.00,255,255,1.00,0.00,1.00,0.00,0.00,0.00,"
        "0.00,0.00\n"
        "12,tcp,ftp_data,SF,3200,0,0,0,0,1,0,1,0,0,0,0,1,0,0,0,0,0,1,1,0.00,"
        "0.00,0.00,0.00,1.00,0.00,0.00,3,40,0.70,0.05,0.70,0.00,0.00,0.00,0.00,"
        "0.00\n"
    ),
    "spaces_crlf_blank.csv": (
        "\r\n 0 , tcp , smtp , SF , 1.2e3 , +340 ,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,"
        "0,1,1,0,0,0,0,1,0,0,30,60,0.5,0.1,0.05,0,0,0,0,0\r\n\r\n"
        "0,udp,other,SF,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,13,1,0.00,0.00,"
        "0.00,0.00,0.08,0.15,0.00,255,1,0.00,0.60,0.88,0.00,0.00,0.00,0.00,"
        "0.00\r\n"
    ),
    "unknown_categories.csv": (
        "0,sctp,quic,SF,10,10,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,"
        "0,1,1,1,0,0,0,0,0,0,0\n"
        "0,tcp,http,XYZ,10,10,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,"
        "0,1,1,1,0,0,0,0,0,0,0\n"
    ),
    "bad_negative.csv": (
        "0,tcp,telnet,RSTO,-5,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0,0,1,1,1,0,"
        "0,1,1,1,0,1,0,0,0,1,1,guess_passwd,11\n"
    ),
    "bad_field_count.csv": "0,tcp,http,SF,1,2,3\n",
    "bad_number.csv": (
        "inf,tcp,http,SF,nan,0x10,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,"
        "0,0,1,1,1,0,0,0,0,0,0,0\n"
    ),
}


def layers(rng: np.random.Generator) -> list[dict]:
    out = []
    for fan_in, fan_out in zip(LAYER_WIDTHS[:-1], LAYER_WIDTHS[1:]):
        weight = rng.normal(0, fan_in**-0.5, (fan_out, fan_in)).astype(np.float32)
        out.append({"weight": weight, "bias": np.zeros(fan_out, np.float32)})
    return out


def with_checksum(body: bytes) -> bytes:
    """A file whose declared size and CRC-32 are valid for ``body``."""
    size = len(body) + 4
    body = body[:16] + struct.pack("<Q", size) + body[24:]
    return body + struct.pack("<I", zlib.crc32(body))


def skeleton(valid: bytes, version: int = 1) -> bytes:
    """The sections of ``valid`` with the weights cut to their precision code:
    a small file with a valid checksum that the reader refuses in LAYR."""
    count = struct.unpack_from("<I", valid, 12)[0]
    entries = [struct.unpack_from("<4sIQQ", valid, 32 + 24 * i) for i in range(count)]
    payloads = []
    for tag, _, offset, size in entries:
        payloads.append((tag, valid[offset : offset + (4 if tag == b"LAYR" else size)]))
    offset = 32 + 24 * len(payloads)
    table, body = b"", b""
    for tag, payload in payloads:
        table += struct.pack("<4sIQQ", tag, 0, offset + len(body), len(payload))
        body += payload
    head = valid[:8] + struct.pack("<IIQII", version, len(payloads), 0, 0, 0)
    return with_checksum(head + table + body)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    rng = np.random.default_rng(SEED)
    normalization = Normalization(np.zeros(37), rng.uniform(1, 1000, 37))
    fp32 = layers(rng)
    models = {}
    for precision in ("int8", "fp16"):
        models[precision] = model_bytes(
            quantize_layers(fp32, precision),
            normalization,
            0.05,
            calibration={"method": "fuzz-seed"},
            metadata={"model_id": f"fuzz-seed-{precision}"},
        )

    model_dir = CORPUS / "model_file"
    model_dir.mkdir(parents=True, exist_ok=True)
    seeds = {
        "valid_int8.ebgan": models["int8"],
        "valid_fp16.ebgan": models["fp16"],
        "skeleton.ebgan": skeleton(models["int8"]),
        "newer_version.ebgan": skeleton(models["int8"], version=2),
        "truncated.ebgan": models["int8"][:4096],
    }
    for name, data in seeds.items():
        (model_dir / name).write_bytes(data)

    record_dir = CORPUS / "records"
    record_dir.mkdir(parents=True, exist_ok=True)
    for name, text in RECORD_SEEDS.items():
        (record_dir / name).write_bytes(text.encode("ascii"))

    provenance = {
        "script": "cpp/fuzz/make_corpus.py",
        "seed": SEED,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "commit": git_commit(),
        "model_file": sorted(seeds),
        "records": sorted(RECORD_SEEDS),
    }
    (CORPUS / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
