"""Loading FER2013 (any common layout) or the built-in synthetic faces.

    splits = load_splits()              # --data, $FER2013_DATA, ./data/, else synthetic
    x = to_float(splits.train.images)   # (N, 1, 48, 48) float32 in [0, 1]

Where the data comes from, in order: the ``data`` argument (the ``--data``
option), the FER2013_DATA environment variable, the folder ./data/. A path
given either way must exist; only when neither is given and ./data/ holds
nothing recognisable do we fall back to the synthetic faces, and say so.

A folder may hold fer2013.csv[.gz], the course's train.csv and test.csv,
or the image release's train/<emotion>/ folders, directly or one level
down (data/fer2013/fer2013.csv.gz). The file layouts are in
:mod:`fer.data.formats` and :mod:`fer.data.images`.

What was parsed (or drawn: large synthetic sets) is read back from the cache of
:mod:`fer.data.cache` the next time.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import synthetic
from .cache import CACHE_MISSES, cache_entry, default_cache_dir, read_cache, write_cache
from .formats import N_CLASSES, Dataset, read_csv_file
from .images import find_image_splits, read_image_folder
from .synthetic import make_faces
from fer.errors import DataError, DataWarning

__all__ = ["Splits", "load_file", "load_splits", "synthetic_splits", "resolve_data_path", "stratified_split",
           "to_float"]

DEFAULT_DATA_DIR = Path("data")
SYNTHETIC_SIZE = 8000   # 6,300 train, 700 validation, 1,000 test at val_fraction 0.1
_CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz", "train.csv", "train.csv.gz")
_CACHE_SYNTHETIC_FROM = 2000   # smaller synthetic sets are drawn faster than the cache is managed


@dataclass
class Splits:
    """The three sets a run uses. ``test`` is None when the source has no
    labelled test set (the course's test.csv has no labels)."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    source: str
    synthetic: bool

    @property
    def val_is_test(self) -> bool:
        """True when the run validates (selects its model) on the test set itself."""
        return self.val is self.test

    def summary(self) -> str:
        """One line for the console: "FER2013 (fer2013.csv.gz): 25,837 train, ..."."""
        if self.val_is_test:
            return f"{self.source}: {len(self.train):,} train, validation on the {len(self.test):,} test images"
        test = f"{len(self.test):,} test" if self.test is not None else "no labelled test set"
        return f"{self.source}: {len(self.train):,} train, {len(self.val):,} validation, {test}"


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 grey values (N, 1, 48, 48) -> float32 in [0, 1], same shape."""
    return images.astype(np.float32) / np.float32(255)


def resolve_data_path(data: str | Path | None = None) -> Path | None:
    """The data path to use: ``data``, else $FER2013_DATA, else ./data/ if it
    holds FER2013, else None. A path the user named must exist."""
    for given, origin in ((data, "--data"), (os.environ.get("FER2013_DATA") or None, "FER2013_DATA")):
        if given is not None:
            path = Path(given).expanduser()
            if not path.exists():
                raise DataError(f"{path}: no such file or directory (from {origin})")
            return path
    return DEFAULT_DATA_DIR if _find_sources(DEFAULT_DATA_DIR) else None


def load_file(path: str | Path, skip_bad_rows: bool = False,
              cache_dir: str | Path | None = None) -> dict[str, Dataset]:
    """Load every split a file or folder holds: {"Training": ..., "PublicTest": ...}
    for Kaggle's CSV, {"train": ..., "test": ...} for the course files and the
    image release. Raises DataError naming the file (and line) on bad input."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    sources = _find_sources(path)
    if not sources:
        raise DataError(f"{path}: no FER2013 data found (looked for fer2013.csv[.gz], "
                        "train.csv and test.csv, or train/<emotion>/ image folders)")
    splits = {}
    for source in sources:
        splits.update(_load_cached(source, skip_bad_rows, cache_dir))
    return splits


def load_splits(data: str | Path | None = None, val_fraction: float = 0.1, seed: int = 0,
                skip_bad_rows: bool = False, synthetic_size: int | None = None,
                quiet: bool = False, cache_dir: str | Path | None = None) -> Splits:
    """Training data split into train and validation (stratified by class,
    ``val_fraction`` of each class, chosen by ``seed``), plus the test set
    (PublicTest). Falls back to ``synthetic_size`` synthetic faces (default
    8,000) when no data is configured and ./data/ holds none.

    ``val_fraction=0`` trains on all the training data and validates on the
    labelled test set: "model selection on PublicTest", as FER2013 papers do.
    The test accuracy of the selected epoch is then slightly optimistic."""
    path = resolve_data_path(data)
    if path is None:
        total = synthetic_size or SYNTHETIC_SIZE
        if not quiet:
            print(f"No FER2013 data found (looked in $FER2013_DATA and {DEFAULT_DATA_DIR.resolve()}/): "
                  f"using {total:,} built-in synthetic faces.")
        return synthetic_splits(total, val_fraction, seed)
    parts = load_file(path, skip_bad_rows, cache_dir)
    training = _first_of(parts, ("Training", "train"))
    if training is None or not training.labelled:
        raise DataError(f"{path}: no labelled training data (found {', '.join(parts) or 'nothing'})")
    train, val = _split(training, val_fraction, seed)
    test = _first_of(parts, ("PublicTest", "test"))
    if test is not None and not test.labelled:
        test = None   # the course's test.csv: nothing to score against
    return _splits(train, val, test, training.source, False, val_fraction)


def _splits(train: Dataset, val: Dataset, test: Dataset | None, source: str, synthetic: bool,
            val_fraction: float) -> Splits:
    """The Splits, with the test set standing in as validation when ``val_fraction`` is 0."""
    if val_fraction == 0:
        if test is None:
            raise DataError(f"{source}: --val-fraction 0 validates on the labelled test set, and there is none")
        val = test
    return Splits(train, val, test, source, synthetic)


def _first_of(parts: dict[str, Dataset], names: tuple[str, ...]) -> Dataset | None:
    return next((parts[name] for name in names if name in parts), None)


def synthetic_splits(total: int, val_fraction: float = 0.1, seed: int = 0) -> Splits:
    """The built-in synthetic set: like FER2013, a fixed set whatever the
    seed. An eighth of ``total`` is the test set (faces from seed 1); the
    rest (seed 0) is split into train and validation by ``seed``."""
    if total < 4 * N_CLASSES:
        raise DataError(f"the synthetic set needs at least {4 * N_CLASSES} faces, got {total}")
    n_test = total // 8
    train, val = _split(_synthetic_faces(total - n_test, seed=0), val_fraction, seed)
    test = _synthetic_faces(n_test, seed=1)
    return _splits(train, val, test, train.source, True, val_fraction)


def _synthetic_faces(n: int, seed: int) -> Dataset:
    """make_faces(n, seed) as a Dataset, through the cache for large sets
    (8,000 faces take seconds to draw, a tenth of a second to load). The key
    holds the generator's source code and NumPy's version: a change to
    either draws the faces again."""
    if n < _CACHE_SYNTHETIC_FROM:
        return _draw_faces(n, seed)
    key = hashlib.blake2b(f"{n} {seed} {np.__version__}".encode(), digest_size=10)
    key.update(Path(synthetic.__file__).read_bytes())
    entry = default_cache_dir() / f"synthetic-{n}-{seed}-{key.hexdigest()}.npz"
    try:
        return read_cache(entry)[0]["faces"]
    except CACHE_MISSES:
        faces = _draw_faces(n, seed)
        write_cache(entry, {"faces": faces}, {})
        return faces


def _draw_faces(n: int, seed: int) -> Dataset:
    images, labels, masks = make_faces(n, seed)
    return Dataset(images, labels, source=f"synthetic faces (seed {seed})", synthetic=True, masks=masks)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val), each sorted: ``round(fraction * count)`` of each
    class goes to val, chosen at random by ``seed``."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        in_val[members[:int(round(fraction * len(members)))]] = True
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


def _split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    train, val = stratified_split(data.labels, fraction, seed)
    return data.subset(train), data.subset(val)


def _find_sources(path: Path) -> list[Path]:
    """The files (or image-release folder) to read for ``path``: the path
    itself if a file; in a folder, the first layout found there, else in
    its subfolders (data/fer2013/)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    for folder in [path] + sorted(sub for sub in path.iterdir() if sub.is_dir()):
        for name in _CSV_NAMES:
            if (folder / name).is_file():
                if not name.startswith("train"):
                    return [folder / name]
                tests = [folder / "test.csv", folder / "test.csv.gz"]   # the course's pair
                return [folder / name] + [test for test in tests if test.is_file()]
        if find_image_splits(folder):
            return [folder]
    return []


def _load_cached(source: Path, skip_bad_rows: bool, cache_dir) -> dict[str, Dataset]:
    """Read ``source`` through the cache; report skipped rows and converted
    images as DataWarnings, on cache hits too."""
    entry = cache_entry(source, skip_bad_rows, cache_dir)
    try:
        splits, meta = read_cache(entry)
    except CACHE_MISSES:
        if source.is_dir():
            splits, skipped, converted = read_image_folder(source, skip_bad_rows)
        else:
            (splits, skipped), converted = read_csv_file(source, skip_bad_rows), 0
        meta = {"skipped": dict(skipped), "converted": converted}
        write_cache(entry, splits, meta)
    if meta["skipped"]:
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in Counter(meta["skipped"]).most_common())
        total = sum(meta["skipped"].values())
        noun = ("file" if source.is_dir() else "row") + ("s" if total > 1 else "")
        warnings.warn(f"{source}: skipped {total:,} bad {noun} ({reasons})", DataWarning, stacklevel=3)
    if meta["converted"]:
        warnings.warn(f"{source}: converted {meta['converted']:,} images that were not 48x48 "
                      "grayscale (to grayscale, centre-cropped, resized)", DataWarning, stacklevel=3)
    return splits
