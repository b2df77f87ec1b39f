"""NSL-KDD records and their 121-feature encoding.

A raw record has the 41 NSL-KDD fields, optionally followed by a label and a
difficulty level. :func:`encode` turns records into the (n, 121) float32
matrix the model scores:

* features 0..36: the 37 numeric fields (``num_outbound_cmds`` is dropped,
  it is zero throughout NSL-KDD), min-max normalised with statistics fitted
  on training rows (:class:`Normalization`, stored in every model file);
* features 37..39: one-hot ``protocol_type``;
* features 40..109: one-hot ``service`` (the 70 NSL-KDD services);
* features 110..120: one-hot ``flag``.

The vocabulary and the feature order are fixed in the compiled core (one
table shared by every implementation) and exposed here as
:data:`FEATURE_NAMES`; they are never learned from the file being read.

Policy for values the training data did not show, the same in every
implementation:

* a numeric value outside the training [minimum, maximum] is clipped to
  [0, 1] after normalisation, and counted per feature;
* an unknown ``protocol_type``, ``service`` or ``flag`` encodes as an
  all-zero block (no category set), and is counted per field and value.

Neither stops scoring; both are reported by ``encode(..., report=True)``.
A malformed record (wrong field count, a non-numeric or non-finite value, a
negative count, an empty category, an unknown label) raises
:class:`RecordError` naming the source, the line and the field.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _core

__all__ = [
    "ATTACK_FAMILIES",
    "FAMILIES",
    "FEATURE_NAMES",
    "FLAGS",
    "NUMERIC_FEATURES",
    "N_FEATURES",
    "PROTOCOL_TYPES",
    "RAW_FIELD_NAMES",
    "SERVICES",
    "EncodingReport",
    "Normalization",
    "RecordError",
    "Records",
    "encode",
    "label_family",
    "parse_records",
    "read_records",
]

_SCHEMA = _core.schema()

#: The 41 raw NSL-KDD fields, in file order.
RAW_FIELD_NAMES: tuple[str, ...] = tuple(_SCHEMA["raw_field_names"])
#: The 121 encoded features, in the order the model sees them.
FEATURE_NAMES: tuple[str, ...] = tuple(_SCHEMA["feature_names"].split("\n"))
N_FEATURES = len(FEATURE_NAMES)
PROTOCOL_TYPES: tuple[str, ...] = tuple(_SCHEMA["protocol_types"])
SERVICES: tuple[str, ...] = tuple(_SCHEMA["services"])
FLAGS: tuple[str, ...] = tuple(_SCHEMA["flags"])

_NUMERIC_FIELDS: tuple[int, ...] = tuple(_SCHEMA["numeric_feature_fields"])
_DROPPED_FIELD: int = _SCHEMA["dropped_field"]
_PARSED_NUMERIC_FIELDS = tuple(sorted((*_NUMERIC_FIELDS, _DROPPED_FIELD)))
#: Names of features 0..36, the min-max normalised ones.
NUMERIC_FEATURES: tuple[str, ...] = FEATURE_NAMES[: len(_NUMERIC_FIELDS)]

_CATEGORICAL = (
    ("protocol_type", 1, PROTOCOL_TYPES),
    ("service", 2, SERVICES),
    ("flag", 3, FLAGS),
)

FAMILIES = ("normal", "DoS", "Probe", "R2L", "U2R")

#: Every NSL-KDD label (training and test files) and its attack family.
ATTACK_FAMILIES: dict[str, str] = {"normal": "normal"}
for _family, _names in {
    "DoS": "apache2 back land mailbomb neptune pod processtable smurf teardrop "
    "udpstorm",
    "Probe": "ipsweep mscan nmap portsweep saint satan",
    "R2L": "ftp_write guess_passwd httptunnel imap multihop named phf sendmail "
    "snmpgetattack snmpguess spy warezclient warezmaster worm xlock xsnoop",
    "U2R": "buffer_overflow loadmodule perl ps rootkit sqlattack xterm",
}.items():
    ATTACK_FAMILIES.update(dict.fromkeys(_names.split(), _family))
del _family, _names


class RecordError(ValueError):
    """A raw record that cannot be read.

    Attributes
    ----------
    source : str
        The file name, or a description of the rows' origin.
    line : int
        1-based line (row) number within the source.
    field : str or None
        Name of the offending field, when one is to blame.
    """

    def __init__(self, source: str, line: int, field: str | None, problem: str):
        self.source, self.line, self.field = source, line, field
        where = f"{source}, line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")


def label_family(label: str) -> str:
    """Return the family (normal, DoS, Probe, R2L, U2R) of an NSL-KDD label.

    Raises
    ------
    KeyError
        For a label that is not in NSL-KDD; an unknown label is never
        silently taken for an attack.
    """
    try:
        return ATTACK_FAMILIES[label]
    except KeyError:
        raise KeyError(f"unknown NSL-KDD label {label!r}") from None


@dataclass(frozen=True)
class Records:
    """Parsed raw records, column-wise.

    Attributes
    ----------
    numeric : ndarray of shape (n, 37), float64
        Raw values of the numeric features, in :data:`NUMERIC_FEATURES` order.
    protocol_type, service, flag : ndarray of shape (n,), str
        The categorical fields as written.
    labels : ndarray of shape (n,), str, or None
        Labels when the source had them.
    difficulty : ndarray of shape (n,), int, or None
        NSL-KDD difficulty levels when the source had them.
    source : str
        Where the records came from, for messages.
    """

    numeric: np.ndarray
    protocol_type: np.ndarray
    service: np.ndarray
    flag: np.ndarray
    labels: np.ndarray | None = None
    difficulty: np.ndarray | None = None
    source: str = "<records>"

    def __len__(self) -> int:
        return len(self.numeric)

    @property
    def families(self) -> np.ndarray:
        """Attack family of every record (``normal`` for normal traffic)."""
        if self.labels is None:
            raise ValueError(f"{self.source} has no labels")
        return np.array([ATTACK_FAMILIES[label] for label in self.labels], dtype=object)

    def subset(self, index) -> Records:
        """Records selected by a boolean mask or an index array."""

        def pick(a):
            return None if a is None else a[index]

        return Records(
            numeric=self.numeric[index],
            protocol_type=self.protocol_type[index],
            service=self.service[index],
            flag=self.flag[index],
            labels=pick(self.labels),
            difficulty=pick(self.difficulty),
            source=self.source,
        )


def _parse_number(text, source: str, line: int, column: int) -> float:
    name = RAW_FIELD_NAMES[column]
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise RecordError(source, line, name, f"{text!r} is not a number") from None
    if not np.isfinite(value):
        raise RecordError(source, line, name, f"{text!r} is not a finite number")
    if value < 0:
        raise RecordError(source, line, name, f"negative value {text!r}")
    return value


def parse_records(rows: Iterable[Sequence], source: str = "<rows>") -> Records:
    """Parse raw NSL-KDD rows.

    Parameters
    ----------
    rows : iterable of sequences
        Each row holds the 41 fields (strings or numbers), optionally followed
        by the label, or by the label and the difficulty level. All rows must
        have the same number of fields.
    source : str
        Name used in error messages.

    Returns
    -------
    Records

    Raises
    ------
    RecordError
        For a malformed row, naming its line number and field.
    """
    numeric, categorical, labels, difficulty = [], ([], [], []), [], []
    width = None
    for line, row in enumerate(rows, start=1):
        row = list(row)
        if len(row) not in (41, 42, 43):
            raise RecordError(
                source, line, None, f"has {len(row)} fields, expected 41, 42 or 43"
            )
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise RecordError(
                source, line, None, f"has {len(row)} fields, earlier rows had {width}"
            )
        numeric.append(
            [_parse_number(row[c], source, line, c) for c in _PARSED_NUMERIC_FIELDS]
        )
        for values, (name, column, _) in zip(categorical, _CATEGORICAL):
            value = str(row[column]).strip()
            if not value:
                raise RecordError(source, line, name, "is empty")
            values.append(value)
        if width >= 42:
            label = str(row[41]).strip()
            if label not in ATTACK_FAMILIES:
                raise RecordError(source, line, "label", f"unknown label {label!r}")
            labels.append(label)
        if width == 43:
            try:
                difficulty.append(int(str(row[42]).strip()))
            except ValueError:
                raise RecordError(
                    source, line, "difficulty", f"{row[42]!r} is not an integer"
                ) from None

    parsed = np.array(numeric, dtype=np.float64).reshape(
        -1, len(_PARSED_NUMERIC_FIELDS)
    )
    keep = [i for i, c in enumerate(_PARSED_NUMERIC_FIELDS) if c != _DROPPED_FIELD]
    return Records(
        numeric=np.ascontiguousarray(parsed[:, keep]),
        protocol_type=np.array(categorical[0], dtype=object),
        service=np.array(categorical[1], dtype=object),
        flag=np.array(categorical[2], dtype=object),
        labels=np.array(labels, dtype=object) if width and width >= 42 else None,
        difficulty=np.array(difficulty, dtype=np.int64) if width == 43 else None,
        source=source,
    )


def read_records(path: str | os.PathLike) -> Records:
    """Read an NSL-KDD file (comma-separated, no header) into :class:`Records`.

    Blank lines are skipped; line numbers in errors are those of the file.
    """
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    return _parse_csv_text(text, path)


def _parse_csv_text(text: str, source: str) -> Records:
    numbered = [
        (i, row) for i, row in enumerate(csv.reader(io.StringIO(text)), start=1) if row
    ]
    try:
        records = parse_records((row for _, row in numbered), source)
    except RecordError as e:
        # parse_records counts non-blank rows; report the file's own line.
        line = numbered[e.line - 1][0]
        raise RecordError(source, line, e.field, str(e).split(": ", 1)[1]) from None
    return records


@dataclass(frozen=True)
class Normalization:
    """Min-max statistics of the 37 numeric features.

    Feature ``i`` encodes as ``(x - minimum[i]) / (maximum[i] - minimum[i])``,
    computed in float64 from the float32 statistics and then rounded to
    float32; a feature with ``maximum == minimum`` encodes as ``x - minimum``
    (so 0 for the training value). The result is clipped to [0, 1].
    """

    minimum: np.ndarray
    maximum: np.ndarray

    def __post_init__(self):
        for name in ("minimum", "maximum"):
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != (len(NUMERIC_FEATURES),):
                raise ValueError(
                    f"{name} must have shape ({len(NUMERIC_FEATURES)},), "
                    f"got {value.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} has non-finite values")
            object.__setattr__(self, name, value)
        if np.any(self.minimum > self.maximum):
            bad = NUMERIC_FEATURES[int(np.argmax(self.minimum > self.maximum))]
            raise ValueError(f"minimum is above maximum for feature {bad!r}")

    @classmethod
    def fit(cls, records: Records) -> Normalization:
        """Fit the statistics on training records."""
        if len(records) == 0:
            raise ValueError("cannot fit a normalisation on zero records")
        return cls(records.numeric.min(axis=0), records.numeric.max(axis=0))


@dataclass
class EncodingReport:
    """What :func:`encode` had to bend to fit the training statistics.

    Attributes
    ----------
    rows : int
        Records encoded.
    clipped : dict of str to int
        Per numeric feature, how many values fell outside the training
        [minimum, maximum] and were clipped.
    unknown : dict of str to Counter
        Per categorical field, the unknown values seen and how often; each
        encoded as an all-zero block.
    """

    rows: int = 0
    clipped: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, Counter] = field(default_factory=dict)

    @property
    def clipped_values(self) -> int:
        return sum(self.clipped.values())

    @property
    def unknown_values(self) -> int:
        return sum(sum(c.values()) for c in self.unknown.values())


def encode(
    records: Records | Iterable[Sequence],
    normalization: Normalization,
    *,
    report: bool = False,
):
    """Encode raw records into the model's (n, 121) float32 features.

    Parameters
    ----------
    records : Records or iterable of sequences
        Parsed records, or raw rows as :func:`parse_records` takes them.
    normalization : Normalization
        Training statistics, usually those stored in the model file.
    report : bool, default False
        Also return an :class:`EncodingReport` of clipped values and unknown
        categories.

    Returns
    -------
    features : ndarray of shape (n, 121), float32
    report : EncodingReport
        Only when ``report=True``.
    """
    if not isinstance(records, Records):
        records = parse_records(records)
    n = len(records)
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    summary = EncodingReport(rows=n)

    low = normalization.minimum.astype(np.float64)
    span = normalization.maximum.astype(np.float64) - low
    span[span == 0] = 1.0
    scaled = ((records.numeric - low) / span).astype(np.float32)
    outside = (scaled < 0) | (scaled > 1)
    for i in np.flatnonzero(outside.any(axis=0)):
        summary.clipped[NUMERIC_FEATURES[i]] = int(outside[:, i].sum())
    out[:, : len(NUMERIC_FEATURES)] = np.clip(scaled, 0.0, 1.0)

    offset = len(NUMERIC_FEATURES)
    for (name, _, vocabulary), values in zip(
        _CATEGORICAL, (records.protocol_type, records.service, records.flag)
    ):
        lookup = {v: i for i, v in enumerate(vocabulary)}
        index = np.fromiter((lookup.get(v, -1) for v in values), np.int64, count=n)
        known = index >= 0
        out[np.flatnonzero(known), offset + index[known]] = 1.0
        if not known.all():
            summary.unknown[name] = Counter(values[~known].tolist())
        offset += len(vocabulary)

    return (out, summary) if report else out
