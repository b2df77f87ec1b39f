"""The production scorer: the compiled kernels behind the public API."""

from __future__ import annotations

import os

import numpy as np

from . import _core
from ._api import BaseScorer
from .model_file import default_model_path, model_from_core

__all__ = ["Scorer", "available_kernels"]


def available_kernels(precision: str = "fp32") -> list[str]:
    """Kernels this build contains and this CPU (and OS) can run.

    Parameters
    ----------
    precision : {"fp32", "fp16", "int8"}
        Only kernels that score models of this precision (fp16 models run on
        the fp32 kernels).
    """
    return list(_core.usable_kernels(precision))


class Scorer(BaseScorer):
    __doc__ = (
        BaseScorer.__doc__
        + """
    Scores are computed by the C++ kernels; :attr:`kernel` names the
    instruction-set path in use (scalar, avx2_fma, avx512 or neon). The GIL is
    released while a kernel runs, and one Scorer may be shared by threads.
    """
    )

    def __init__(self, engine, model):
        super().__init__(model, engine.kernel, engine.threads)
        self._engine = engine

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | bytes | None = None,
        *,
        kernel: str | None = None,
        threads: int = 1,
    ) -> Scorer:
        if path is None:
            path = default_model_path()
        source = path if isinstance(path, (bytes, bytearray)) else os.fspath(path)
        engine = _core.Engine(source, kernel or "", threads)
        return cls(engine, model_from_core(engine.model()))

    load.__doc__ = (
        BaseScorer.load.__doc__
        + """
        Kernels are "scalar", "avx2_fma", "avx512", "neon" or "auto"; None
        also consults the EBGAN_EDGE_KERNEL environment variable. A kernel the
        CPU cannot run is refused, never silently replaced.
        """
    )

    # The engine validates and converts the batch itself (the same check as
    # _core.as_batch), so these skip the base class's Python-level pass.
    def score(self, batch) -> np.ndarray:
        return self._engine.score(batch)

    def reconstruct(self, batch) -> np.ndarray:
        return self._engine.reconstruct(batch)

    def _score_records(self, records):
        return self._engine.score_records(records.numeric, records.category)

    score.__doc__ = BaseScorer.score.__doc__
    reconstruct.__doc__ = BaseScorer.reconstruct.__doc__
