"""How fast the data side is: parsing FER2013's CSV, loading it from the
cache, drawing synthetic faces, augmenting batches.

    python benchmarks/bench_data.py [--csv PATH]

Without the real fer2013.csv.gz (../shared/data/fer2013/ or --csv), a file
of the same shape (32,298 rows of random pixels, gzip) is written to a
temporary folder and timed instead. The cache goes to a temporary folder
too, so the first load really parses. Prints timings; asserts nothing.
"""

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer.data.augment import Augmenter  # noqa: E402
from fer.data import load_file, to_float  # noqa: E402
from fer.data.synthetic import make_faces  # noqa: E402

REAL_FILE = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"


def timed(fn, *args, **kwargs):
    """(result, wall-clock seconds, CPU seconds). On a shared machine the CPU
    time is what the code costs; the wall time adds the wait for a core."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def seconds(wall, cpu):
    return f"{wall:6.2f} s ({cpu:.2f} s CPU)"


def stand_in_csv(folder: Path, rows: int = 32298) -> Path:
    """A gzip CSV in Kaggle's layout with random pixels, as long as FER2013."""
    pixels = np.random.default_rng(0).integers(0, 256, (rows, 2304))
    lines = ["emotion,pixels,Usage"]
    lines += [f"{k % 7},{' '.join(map(str, row))},Training" for k, row in enumerate(pixels)]
    path = folder / "stand-in.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=REAL_FILE, help="the CSV to time (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = args.csv if args.csv.exists() else stand_in_csv(tmp)
        splits, *cold = timed(load_file, path, cache_dir=tmp / "cache")
        _, *warm = timed(load_file, path, cache_dir=tmp / "cache")
    rows = sum(len(d) for d in splits.values())
    print(f"{path.name}: {rows:,} rows")
    print(f"  parse (first load, no cache)  {seconds(*cold)}")
    print(f"  cached load                   {seconds(*warm)}")

    (images, _, _), *drawing = timed(make_faces, 10_000, seed=0)
    print(f"synthetic faces: 10,000 in      {seconds(*drawing)}")

    batch = to_float(images[:256])
    shift_flip = Augmenter(rotate=0, scale=0, brightness=0, contrast=0)
    for name, augmenter in (("default", Augmenter(seed=0)), ("shift+flip", shift_flip)):
        augmenter(batch)   # compile (or load numba's cache) first
        _, wall, cpu = timed(lambda: [augmenter(batch) for _ in range(40)])
        print(f"augmentation ({name:10s}): {40 * len(batch) / wall:8,.0f} images/s "
              f"({40 * len(batch) / cpu:,.0f} per CPU second), batches of 256")


if __name__ == "__main__":
    main()
