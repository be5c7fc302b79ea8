"""Coverage-guided fuzzing of fer.serve's upload decoder with Atheris (libFuzzer for Python).

    pip install atheris
    python benchmarks/fuzz_uploads.py -max_total_time=120 [libFuzzer flags ...]

:func:`fer.serve.uploads.read_upload` (and the face detector behind it, on what
decodes) must either give an (H, W, 3) uint8 image or raise ``UploadError``: any other
exception is a crash, which libFuzzer reports with the input that caused it (saved as
``crash-*``; replay it with ``python benchmarks/fuzz_uploads.py crash-...``).  The corpus
starts from tests/fuzz_inputs.py (the suite's photos, whole and broken, 64 pixels a side).
Not part of the test suite: it runs for as long as it is told to.
"""
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

with atheris.instrument_imports():
    from PIL import Image  # noqa: F401 (instrumented: Pillow's Python plugins are what is fuzzed)

from fer.photos.faces import FaceDetector  # noqa: E402
from fer.serve.uploads import UploadError, read_upload  # noqa: E402

MAX_PIXELS = 4_000_000   # smaller than the server's limit, so that one input never takes long
detector = FaceDetector()


def one_input(data: bytes) -> None:
    try:
        image = read_upload(data, "fuzz", MAX_PIXELS)
    except UploadError:
        return
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8", image.shape
    detector.detect(image)


def seed_corpus() -> str:
    """A folder of the suite's fuzz inputs, whole and broken, to start from."""
    from fuzz_inputs import fuzz_inputs

    folder = Path(tempfile.mkdtemp(prefix="fuzz-uploads-"))
    for k, upload in enumerate(fuzz_inputs(seed=0, side=64, truncations=20, flips=20, magics=10)):
        (folder / f"{k:03d}").write_bytes(upload.data)
    return str(folder)


if __name__ == "__main__":
    warnings.simplefilter("ignore")   # Pillow warns of corrupt EXIF data on every other input
    arguments = sys.argv + ([seed_corpus()] if not any(Path(a).exists() for a in sys.argv[1:]) else [])
    atheris.Setup(arguments, one_input)
    atheris.Fuzz()
