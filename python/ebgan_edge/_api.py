"""The public scoring API, shared by :class:`ebgan_edge.Scorer` (the compiled
kernels) and :class:`ebgan_edge.reference.TorchScorer` (torch, the
reference). Subclasses provide only the arithmetic; everything a caller sees
is defined once, here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import _core
from .features import (
    Normalization,
    Records,
    encoding_report,
    parse_records,
    parse_text,
    read_records,
)
from .model_file import ModelFile


def _as_records(rows, on_error: str = "raise") -> Records:
    if isinstance(rows, Records):
        return rows
    if isinstance(rows, (str, bytes)):
        return parse_text(rows, on_error=on_error)
    if isinstance(rows, Path):
        return read_records(rows, on_error=on_error)
    return parse_records(rows, on_error=on_error)


class BaseScorer:
    """Scores encoded NSL-KDD records with an IDS-EBGAN discriminator.

    The anomaly score (energy) of a record is the mean over its 121 features
    of the squared error between the record and the autoencoder's
    reconstruction of it: higher means more anomalous.

    Batches are array-likes of shape (n, 121) with finite real values; a
    single row of shape (121,) is scored as a batch of one, so the result
    then has shape (1,). A C-contiguous float32 array is used without a copy;
    anything else is converted to float32 once.
    """

    def __init__(self, model: ModelFile, kernel: str, threads: int):
        self._model = model
        self._kernel = kernel
        self._threads = threads

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | bytes | None = None,
        *,
        kernel: str | None = None,
        threads: int = 1,
    ):
        """Load a model file.

        Parameters
        ----------
        path : path, bytes or None
            A model file, its bytes, or None for the model shipped with the
            package.
        kernel : str, optional
            Which implementation computes the scores; None picks the best one
            available (see :attr:`kernel`).
        threads : int, default 1
            Threads used to split large batches. Threads are started per call
            and never left spinning between calls.

        Raises
        ------
        ModelFileError
            The file is damaged, not a model file, or cannot be run here.
        """
        raise NotImplementedError

    # -- state ---------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """Decision threshold: a score strictly above it is an attack."""
        return self._model.threshold

    @property
    def kernel(self) -> str:
        """Name of the implementation computing the scores."""
        return self._kernel

    @property
    def threads(self) -> int:
        """Threads used to split large batches."""
        return self._threads

    @property
    def precision(self) -> str:
        """Weight precision of the model file: fp32, fp16 or int8."""
        return self._model.precision

    @property
    def normalization(self) -> Normalization:
        """Min-max statistics used by :meth:`score_records`."""
        return self._model.normalization

    @property
    def calibration(self) -> dict:
        """How the threshold was calibrated, as stored in the model file."""
        return self._model.calibration

    @property
    def metadata(self) -> dict:
        """Provenance of the model, as stored in the model file."""
        return self._model.metadata

    # -- scoring ------------------------------------------------------------

    def score(self, batch) -> np.ndarray:
        """Anomaly scores of a batch.

        Parameters
        ----------
        batch : array-like of shape (n, 121) or (121,)
            Encoded records (see :func:`ebgan_edge.features.encode`).

        Returns
        -------
        ndarray of shape (n,), float32

        Raises
        ------
        ValueError
            Wrong shape, or a NaN or infinite value (its row and column are
            named).
        TypeError
            Values that are not real numbers.
        """
        return self._score(_core.as_batch(batch))

    def reconstruct(self, batch) -> np.ndarray:
        """The autoencoder's reconstruction of a batch.

        Parameters
        ----------
        batch : array-like of shape (n, 121) or (121,)

        Returns
        -------
        ndarray of shape (n, 121), float32
        """
        return self._reconstruct(_core.as_batch(batch))

    def predict(self, batch) -> np.ndarray:
        """Verdicts: True where the score is strictly above :attr:`threshold`.

        Parameters
        ----------
        batch : array-like of shape (n, 121) or (121,)

        Returns
        -------
        ndarray of shape (n,), bool
        """
        return self.score(batch) > np.float32(self.threshold)

    def score_records(self, rows, *, report: bool = False, on_error: str = "raise"):
        """Anomaly scores of raw NSL-KDD records.

        Equal to ``score(encode(rows, self.normalization))``. The compiled
        kernels get there without building the one-hot blocks: a category
        becomes a column lookup in the first layer, and its squared error is
        formed from the hot column's index.

        Parameters
        ----------
        rows : Records, str, bytes, pathlib.Path or iterable of sequences
            Raw records (41 fields, optionally label and difficulty): parsed
            records, CSV text (str or bytes, one record per line), a file given
            as a :class:`pathlib.Path`, or rows of fields. They are encoded with
            the normalisation stored in the model.
        report : bool, default False
            Also return an :class:`~ebgan_edge.features.EncodingReport` of the
            values clipped to the training range and the unknown categories
            (encoded as all-zero blocks), and of the records skipped.
        on_error : {"raise", "skip"}
            For rows still to be parsed: raise on a malformed record, or leave
            it out (one score fewer) and list it in the report's ``skipped``.
            To know which line each score belongs to when skipping, parse
            first (:func:`~ebgan_edge.parse_text`) and read ``Records.lines``.

        Returns
        -------
        scores : ndarray of shape (n,), float32
        report : EncodingReport
            Only when ``report=True``.

        Raises
        ------
        RecordError
            For a malformed record, naming its line and field (unless
            ``on_error="skip"``).
        """
        records = _as_records(rows, on_error)
        scores, clipped, unknown = self._score_records(records)
        if report:
            return scores, encoding_report(records, clipped, unknown)
        return scores

    # -- implemented by each backend ------------------------------------------

    def _score(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _reconstruct(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_records(self, records: Records):
        """Scores and the encoder's clipped and unknown counts; a backend
        with a faster path than dense encoding overrides this."""
        features, clipped, unknown = _core.encode(
            records.numeric,
            records.category,
            self.normalization.minimum,
            self.normalization.maximum,
        )
        return self.score(features), clipped, unknown

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(precision={self.precision!r}, "
            f"kernel={self.kernel!r}, threshold={self.threshold:.6g})"
        )
