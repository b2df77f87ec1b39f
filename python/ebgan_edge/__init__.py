"""ebgan-edge: intrusion scoring of NSL-KDD connection records with an
IDS-EBGAN discriminator, on a C++ core with per-CPU SIMD kernels.

>>> from ebgan_edge import Scorer
>>> scorer = Scorer.load()          # the model shipped with the package
>>> scores = scorer.score(batch)    # (n, 121) encoded records -> (n,) float32
"""

from .features import (
    FEATURE_NAMES,
    N_FEATURES,
    EncodingReport,
    Normalization,
    RecordError,
    Records,
    encode,
    parse_records,
    parse_text,
    read_records,
)
from .model_file import ModelFile, ModelFileError, default_model_path, read_model
from .scorer import Scorer, available_kernels

__version__ = "0.1.0"

__all__ = [
    "FEATURE_NAMES",
    "N_FEATURES",
    "EncodingReport",
    "ModelFile",
    "ModelFileError",
    "Normalization",
    "RecordError",
    "Records",
    "Scorer",
    "__version__",
    "available_kernels",
    "default_model_path",
    "encode",
    "parse_records",
    "parse_text",
    "read_model",
    "read_records",
]
