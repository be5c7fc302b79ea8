"""FER2013's CSV layouts: the in-memory `Dataset`, and parsing with row checks.

Four CSV layouts are recognised from their header (case-insensitive):

    emotion,pixels,Usage   Kaggle's fer2013.csv; one split per Usage value
    emotion,pixels         the same without Usage; one split, "train"
    label,feature          the course's train.csv; split "train"
    id,feature             the course's test.csv; split "test", no labels

``pixels``/``feature`` hold 2,304 space-separated grey values (48x48,
row-major). Files may be plain or gzip, whatever their name says: the
gzip magic bytes decide.

Every row is checked. A bad row either stops the load with a `DataError`
naming the file and line (the header is line 1), or, with
``skip_bad_rows``, is dropped and counted by reason.
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer.errors import DataError

IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
N_CLASSES = 7
USAGES = ("Training", "PublicTest", "PrivateTest")


@dataclass
class Dataset:
    """Images with their labels.

    images: (N, 1, 48, 48) uint8 grey values.
    labels: (N,) int64 class indices 0..6 (see ``fer.LABELS``), -1 where
        unknown (the course's test.csv).
    ids: (N,) int64 row ids where the source has them (course test.csv).
    source: what the data is, for people: "FER2013 (fer2013.csv.gz)".
    synthetic: True for the built-in synthetic faces.
    masks: (N, 1, 48, 48) bool, where the synthetic faces' expression cues
        (eyes, brows, mouth) were drawn; None for real data.
    """

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None = None
    source: str = ""
    synthetic: bool = False
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def labelled(self) -> bool:
        return bool(len(self)) and bool((self.labels >= 0).all())

    def subset(self, index: np.ndarray) -> Dataset:
        """The rows picked by an integer or boolean index array."""
        ids = None if self.ids is None else self.ids[index]
        masks = None if self.masks is None else self.masks[index]
        return Dataset(self.images[index], self.labels[index], ids, self.source, self.synthetic, masks)

    def class_counts(self) -> np.ndarray:
        """(7,) int64: how many images of each class."""
        return np.bincount(self.labels[self.labels >= 0], minlength=N_CLASSES)


# The layouts, by their sorted lower-case column names: (label column or
# None, id column or None, whether a Usage column names the splits). The
# pixels are in "pixels" or "feature".
_LAYOUTS = {
    ("emotion", "pixels", "usage"): ("emotion", None, True),
    ("emotion", "pixels"): ("emotion", None, False),
    ("feature", "label"): ("label", None, False),
    ("feature", "id"): (None, "id", False),
}
_EXPECTED = ("emotion,pixels,Usage (Kaggle), emotion,pixels, "
             "label,feature (course train.csv) or id,feature (course test.csv)")


def read_csv_file(path: Path, skip_bad_rows: bool = False) -> tuple[dict[str, Dataset], Counter]:
    """Parse one FER2013 CSV file.

    Returns ({split name: Dataset}, {reason: rows skipped}). Raises DataError
    on the first bad row (unless ``skip_bad_rows``) or a bad file.
    """
    # The header alone first: a wrong one is reported without parsing the rest.
    gzipped = _is_gzip(path)
    header = _read_header(path, gzipped)
    layout = _LAYOUTS.get(tuple(sorted(name.strip().lower() for name in header)))
    if layout is None:
        raise DataError(f"{path}, line 1: expected columns {_EXPECTED}; got {','.join(header)}")
    label_col, id_col, has_usage = layout
    table = _read_rows(path, gzipped)
    columns = {name.strip().lower(): k for k, name in enumerate(header)}
    text = {key: table[name].to_numpy(dtype=object) for key, name in columns.items()}

    # A blank line is not a bad row: pandas keeps it (so that row k stays
    # on line k + 2) and we drop it here, silently.
    blank = _blank_rows(table)
    problems: dict[int, tuple[str, str]] = {}   # row -> (reason, detail); first wins
    if label_col:
        labels = _parse_integers(text[label_col], 0, N_CLASSES - 1, label_col, "label", problems)
    else:
        labels = np.full(len(table), -1, np.int64)
    ids = _parse_integers(text[id_col], 0, None, id_col, "id", problems) if id_col else None
    if has_usage:
        usage = pd.Series(text["usage"], dtype=str).str.strip().to_numpy(dtype=object)
        for row in np.flatnonzero(~np.isin(usage, USAGES)):
            detail = f"Usage {usage[row]!r} is not one of {', '.join(USAGES)}"
            problems.setdefault(row, ("unknown Usage", detail))
    else:   # one split, named like the course files' and the image release's
        usage = np.full(len(table), "train" if label_col else "test", dtype=object)
    pixels = parse_pixel_rows(text["pixels" if "pixels" in text else "feature"], problems)

    for row in [row for row in problems if blank[row]]:
        del problems[row]
    if problems and not skip_bad_rows:
        first = min(problems)
        raise DataError(f"{path}, line {first + 2}: {problems[first][1]}")
    keep = ~blank
    keep[list(problems)] = False
    if not keep.any():
        raise DataError(f"{path}: no usable data rows")

    kind = "FER2013" if label_col == "emotion" else "FER2013 course file"
    splits = {}
    for name in dict.fromkeys(usage[keep]):   # first-seen order
        rows = keep & (usage == name)
        splits[name] = Dataset(
            images=pixels[rows].reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE), labels=labels[rows],
            ids=None if ids is None else ids[rows], source=f"{kind} ({path.name})")
    return splits, Counter(reason for reason, _ in problems.values())


def parse_pixel_rows(rows: np.ndarray, problems: dict[int, tuple[str, str]]) -> np.ndarray:
    """Parse (N,) strings of space-separated grey values into (N, 2304) uint8.

    One C-level ``np.fromstring`` call per row, not per pixel: measured
    faster than splitting in pandas or parsing one joined string, and it
    tells us which row went wrong. Bad rows are recorded in ``problems``
    (row -> (reason, detail)) and left zero.
    """
    out = np.zeros((len(rows), N_PIXELS), np.uint8)
    with warnings.catch_warnings():
        # Older NumPy warns (instead of raising) on text it cannot parse.
        warnings.simplefilter("error", DeprecationWarning)
        for row, text in enumerate(rows):
            try:
                # int64 so that an out-of-range value cannot wrap into 0..255
                values = np.fromstring(text, dtype=np.int64, sep=" ")
            except (ValueError, DeprecationWarning):
                problems.setdefault(row, ("non-integer pixel", _first_non_integer(text)))
                continue
            if values.size != N_PIXELS:
                problems.setdefault(row, ("wrong pixel count",
                                          f"expected {N_PIXELS} pixels, got {values.size}"))
            # Seen as unsigned, a negative value is huge: one pass checks both ends.
            elif values.view(np.uint64).max() > 255:
                k = int(np.flatnonzero((values < 0) | (values > 255))[0])
                problems.setdefault(row, ("pixel out of range",
                                          f"pixel {k + 1} is {values[k]}, outside 0..255"))
            else:
                out[row] = values
    return out


def _first_non_integer(text: str) -> str:
    for k, token in enumerate(text.split()):
        if not re.fullmatch(r"[+-]?[0-9]+", token):
            return f"pixel {k + 1} is not an integer: {token[:20]!r}"
    return "pixel values are not space-separated integers"


def _parse_integers(column: np.ndarray, low: int, high: int | None, name: str,
                    what: str, problems: dict[int, tuple[str, str]]) -> np.ndarray:
    """(N,) strings -> (N,) int64, recording non-integers and values outside
    low..high (high None: no upper bound) in ``problems``; bad rows get -1."""
    text = pd.Series(column, dtype=str).str.strip()
    is_int = text.str.fullmatch(r"[+-]?[0-9]{1,18}").to_numpy()
    values = np.full(len(text), -1, np.int64)
    values[is_int] = text[is_int].astype(np.int64).to_numpy()
    bounds = f"{low}..{high}" if high is not None else f">= {low}"
    out_of_range = is_int & ((values < low) | (values > (high if high is not None else np.inf)))
    for row in np.flatnonzero(~is_int):
        problems.setdefault(row, (f"{what} not an integer", f"{name} {column[row]!r} is not an integer"))
    for row in np.flatnonzero(out_of_range):
        problems.setdefault(row, (f"{what} outside {bounds}", f"{name} {values[row]} is outside {bounds}"))
    values[out_of_range] = -1
    return values


def _blank_rows(table: pd.DataFrame) -> np.ndarray:
    """(N,) bool: rows whose fields are all empty. Each column is only
    looked at where the previous ones were empty, so the long pixel strings
    are almost never stripped."""
    blank = np.ones(len(table), bool)
    for name in table.columns:
        blank[blank] = (table[name][blank].str.strip() == "").to_numpy()
    return blank


def _is_gzip(path: Path) -> bool:
    """Whether the file starts with gzip's magic bytes, whatever its name."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _read_header(path: Path, gzipped: bool) -> list[str]:
    """The first line's fields."""
    try:
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8", newline="") as f:
            line = f.readline()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file") from None
    except (OSError, EOFError) as e:   # a damaged gzip file
        raise DataError(f"{path}: cannot read ({e})") from None
    if not line.strip():
        raise DataError(f"{path}: the file is empty")
    return next(csv.reader([line]))


def _read_rows(path: Path, gzipped: bool) -> pd.DataFrame:
    """Every row after the header as strings, columns numbered from 0."""
    try:
        # header=None: the header is row 0 for the tokenizer, so that every
        # row must have as many fields as the header (with a header, pandas
        # would quietly take a surplus first field for the index).
        table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skip_blank_lines=False,
                            compression="gzip" if gzipped else None, engine="c")
    except pd.errors.ParserError as e:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if found:
            want, line, got = found.groups()
            message = f"expected {want} comma-separated fields, got {got}"
            raise DataError(f"{path}, line {line}: {message}") from None
        raise DataError(f"{path}: not a readable CSV file ({str(e).strip()})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file") from None
    except (OSError, EOFError) as e:   # a truncated gzip file
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(table) < 2:
        raise DataError(f"{path}: no data rows, only a header")
    return table.iloc[1:].reset_index(drop=True)
