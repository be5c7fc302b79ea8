"""The cache of parsed data: .npz files that load in a tenth of a second.

Parsing FER2013's 32,298-row CSV takes seconds, and drawing 8,000 synthetic faces
about as long, so :mod:`fer.data.loading` keeps what it parsed or drew as an
uncompressed .npz file in $XDG_CACHE_HOME/minigrad-fer (default
~/.cache/minigrad-fer), never beside the data, which may be read-only.  An entry is
named by its source's path and keyed by the source's size, modification time and
content hash (an image folder: its files' names, sizes and times), so a changed
source misses the cache; a damaged or absent entry is one of :data:`CACHE_MISSES`,
and the caller parses again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .formats import Dataset
from fer.errors import DataError, DataWarning

CACHE_VERSION = 1      # bump when the parsers change what they return
# What reading an absent or damaged cache file raises: then parse again.
CACHE_MISSES = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/minigrad-fer, or ~/.cache/minigrad-fer."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minigrad-fer"


def cache_entry(source: Path, skip_bad_rows: bool, cache_dir) -> Path:
    """The cache file for ``source`` as it is now: named after its path, with
    its size, mtime and content hash in the name."""
    source = source.resolve()
    key = hashlib.blake2b(f"{CACHE_VERSION} {skip_bad_rows}".encode(), digest_size=10)
    try:
        if source.is_dir():
            # An image folder is keyed by its files' names, sizes and mtimes:
            # reading 35,000 images only to hash them would cost about as
            # much as decoding them.
            for file in sorted(source.rglob("*")):
                stat = file.stat()
                key.update(f"{file.relative_to(source)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        else:
            stat = source.stat()
            key.update(f"{stat.st_size} {stat.st_mtime_ns}\n".encode())
            with open(source, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    key.update(block)
    except OSError as e:
        raise DataError(f"{source}: cannot read ({e.strerror or e})") from None
    where = hashlib.blake2b(str(source).encode(), digest_size=4).hexdigest()
    return Path(cache_dir or default_cache_dir()) / f"{source.name}-{where}-{key.hexdigest()}.npz"


def read_cache(entry: Path) -> tuple[dict[str, Dataset], dict]:
    """({split: Dataset}, meta) from a cache file; one of CACHE_MISSES if
    it is absent or damaged."""
    with np.load(entry, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    splits = {name: Dataset(arrays[f"{name}/images"], arrays[f"{name}/labels"], arrays.get(f"{name}/ids"),
                            meta["sources"][name], meta["synthetic"][name], arrays.get(f"{name}/masks"))
              for name in meta["splits"]}
    return splits, meta


def write_cache(entry: Path, splits: dict[str, Dataset], meta: dict) -> None:
    """Write atomically, replacing older entries for the same source. A
    cache that cannot be written is not an error: the next load parses again."""
    arrays = {}
    for name, data in splits.items():
        for field in ("images", "labels", "ids", "masks"):
            if getattr(data, field) is not None:
                arrays[f"{name}/{field}"] = getattr(data, field)
    meta = {**meta, "splits": list(splits), "sources": {name: d.source for name, d in splits.items()},
            "synthetic": {name: d.synthetic for name, d in splits.items()}}
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f".partial-{os.getpid()}-{entry.name}")
        np.savez(partial, meta=np.array(json.dumps(meta)), **arrays)   # uncompressed: loads in 0.1 s
        prefix = entry.name.rsplit("-", 1)[0] + "-"
        for old in entry.parent.glob(prefix + "*.npz"):
            old.unlink(missing_ok=True)
        os.replace(partial, entry)
    except OSError as e:
        warnings.warn(f"could not write the data cache {entry} ({e})", DataWarning, stacklevel=3)
