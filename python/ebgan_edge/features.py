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

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

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
    "encoding_report",
    "label_family",
    "parse_records",
    "parse_text",
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
# Names of raw fields by index, then the label and the difficulty level.
_FIELD_NAMES = (*RAW_FIELD_NAMES, "label", "difficulty")
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
    category : ndarray of shape (n, 3), int16
        Vocabulary index of protocol_type, service and flag; -1 where the
        value is not in the vocabulary.
    labels : ndarray of shape (n,), str, or None
        Labels when the source had them.
    difficulty : ndarray of shape (n,), int, or None
        NSL-KDD difficulty levels when the source had them.
    source : str
        Where the records came from, for messages.
    lines : ndarray of shape (n,), int, or None
        Line of each record in its source text or file, when parsed from one.
    skipped : tuple of RecordError
        Bad records left out of the source when it was parsed with
        ``on_error="skip"``, each naming its line and field.
    """

    numeric: np.ndarray
    protocol_type: np.ndarray
    service: np.ndarray
    flag: np.ndarray
    category: np.ndarray
    labels: np.ndarray | None = None
    difficulty: np.ndarray | None = None
    source: str = "<records>"
    lines: np.ndarray | None = None
    skipped: tuple = field(default=(), compare=False)

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
            category=self.category[index],
            labels=pick(self.labels),
            difficulty=pick(self.difficulty),
            source=self.source,
            lines=pick(self.lines),
            skipped=self.skipped,
        )


_ON_ERROR = ("raise", "skip")


def _check_on_error(on_error: str) -> None:
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def parse_text(
    text: str | bytes,
    source: str = "<text>",
    first_line: int = 1,
    *,
    on_error: str = "raise",
) -> Records:
    """Parse records from CSV text, one record per line.

    Parameters
    ----------
    text : str or bytes
        Comma-separated records; blank lines are skipped.
    source : str
        Name used in error messages.
    first_line : int, default 1
        Line number of the text's first line, for text cut from a stream.
    on_error : {"raise", "skip"}
        On a malformed record (or an unknown label): raise
        :class:`RecordError`, or leave the record out and list the error in
        :attr:`Records.skipped`.

    Returns
    -------
    Records
        With :attr:`Records.lines` set to each record's line number.
    """
    _check_on_error(on_error)
    parsed, issue = _core.parse_records(text, first_line, on_error == "skip")

    def error(line, column, problem) -> RecordError:
        name = None if column < 0 else _FIELD_NAMES[column]
        return RecordError(source, line, name, problem)

    if issue is not None:
        raise error(*issue)
    skipped = [error(*i) for i in parsed["skipped"]]
    n = len(parsed["lines"])
    category = parsed["category"]
    strings = []
    for c, (_, _, vocabulary) in enumerate(_CATEGORICAL):
        values = np.array(vocabulary, dtype=object)[np.maximum(category[:, c], 0)]
        strings.append(values)
    for row, c, value in parsed["unknown"]:
        strings[c][row] = value

    labels = parsed["labels"]
    keep = None
    if labels is not None:
        labels = np.array(labels, dtype=object)
        for i, label in enumerate(labels):
            if label not in ATTACK_FAMILIES:
                bad = error(int(parsed["lines"][i]), 41, f"unknown label {label!r}")
                if on_error == "raise":
                    raise bad
                skipped.append(bad)
                keep = np.ones(n, bool) if keep is None else keep
                keep[i] = False
    difficulty = parsed["difficulty"]
    records = Records(
        numeric=parsed["numeric"].reshape(n, len(NUMERIC_FEATURES)),
        protocol_type=strings[0],
        service=strings[1],
        flag=strings[2],
        category=category,
        labels=labels,
        difficulty=None if difficulty is None else difficulty.astype(np.int64),
        source=source,
        lines=parsed["lines"].astype(np.int64),
    )
    if keep is not None:
        records = records.subset(keep)
    skipped.sort(key=lambda e: e.line)
    return replace(records, skipped=tuple(skipped))


def _row_text(row: Sequence) -> str:
    return ",".join(str(value) for value in row)


def parse_records(
    rows: Iterable[Sequence], source: str = "<rows>", *, on_error: str = "raise"
) -> Records:
    """Parse raw NSL-KDD rows.

    Parameters
    ----------
    rows : iterable of sequences
        Each row holds the 41 fields (strings or numbers), optionally followed
        by the label, or by the label and the difficulty level. All rows must
        have the same number of fields.
    source : str
        Name used in error messages.
    on_error : {"raise", "skip"}
        As for :func:`parse_text`.

    Returns
    -------
    Records

    Raises
    ------
    RecordError
        For a malformed row, naming its line (row) number and field, unless
        ``on_error="skip"``.

    Notes
    -----
    Numbers are decimal, with an optional sign, fraction and exponent, and
    must be finite and non-negative; categories are matched exactly (case
    matters, surrounding spaces do not). The compiled core does the parsing,
    the same code that parses files and CSV text.
    """
    text = "\n".join(_row_text(row) for row in rows)
    return parse_text(text, source, on_error=on_error)


def read_records(path: str | os.PathLike, *, on_error: str = "raise") -> Records:
    """Read an NSL-KDD file (comma-separated, no header) into :class:`Records`.

    Blank lines are skipped; line numbers in errors are those of the file.
    ``on_error`` is as for :func:`parse_text`.
    """
    _check_on_error(on_error)
    path = os.fspath(path)
    with open(path, "rb") as f:
        text = f.read()
    return parse_text(text, path, on_error=on_error)


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
    skipped : tuple of RecordError
        Malformed records left out by ``on_error="skip"`` (see
        :attr:`Records.skipped`), each naming its line and field.
    """

    rows: int = 0
    clipped: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, Counter] = field(default_factory=dict)
    skipped: tuple = ()

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
    out, clipped, unknown = _core.encode(
        records.numeric, records.category, normalization.minimum, normalization.maximum
    )
    return (out, encoding_report(records, clipped, unknown)) if report else out


def encoding_report(records: Records, clipped, unknown) -> EncodingReport:
    """An :class:`EncodingReport` from the encoder's counts: per numeric
    feature the values clipped, per categorical field the unknown ones (their
    values are looked up in ``records``)."""
    summary = EncodingReport(rows=len(records), skipped=records.skipped)
    for i in np.flatnonzero(clipped):
        summary.clipped[NUMERIC_FEATURES[i]] = int(clipped[i])
    for c, (name, _, _) in enumerate(_CATEGORICAL):
        if unknown[c]:
            values = (records.protocol_type, records.service, records.flag)[c]
            summary.unknown[name] = Counter(values[records.category[:, c] < 0].tolist())
    return summary
