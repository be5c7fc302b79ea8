"""Image files (one user photo, or FER2013's image release), and image arrays.

Any image Pillow reads becomes a 48x48 uint8 grey image, the way the model
sees FER2013: converted to Pillow's 'L' (luma) mode, cropped to a centred
square (so a face is not squashed) and resized with Lanczos filtering.

The image release lays its files out as ``<root>/<split>/<emotion>/*.jpg``
(split: train, test), with emotion folders named after ``fer.LABELS`` (or
0..6). A folder that directly holds emotion folders is one split.

Two helpers work on image arrays of any shape whose last two axes are the
picture: :func:`gaussian_blur` (filter ascent's regulariser, the deletion check's
fill) and :func:`resize_bilinear` (Grad-CAM's upsampling).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fer import LABELS
from .formats import IMAGE_SIZE, Dataset
from fer.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff",
                              ".webp", ".pgm", ".ppm"})
# Files an operating system leaves in folders; never data.
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})
_EMOTION_FOLDERS = {name: k for k, name in enumerate(LABELS)} | {str(k): k for k in range(len(LABELS))}


def is_image_file(path: str | Path) -> bool:
    """Whether the name has a common image extension (the file is not opened)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path) -> np.ndarray:
    """Read any image file as (48, 48) uint8 grey values; DataError if unreadable."""
    return read_image_converted(path)[0]


def read_image_converted(path: str | Path) -> tuple[np.ndarray, bool]:
    """(image (48, 48) uint8, whether it had to be converted or resized)."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)   # phone photos are stored sideways
            converted = im.mode != "L" or im.size != (IMAGE_SIZE, IMAGE_SIZE)
            im = im.convert("L")
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                im = ImageOps.fit(im, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
            return np.array(im, dtype=np.uint8), converted
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        # Pillow's UnidentifiedImageError is an OSError, as is a truncated file.
        reason = "not an image file" if isinstance(e, Image.UnidentifiedImageError) else str(e)
        raise DataError(f"{path}: cannot read the image ({reason})") from None


def find_image_splits(root: Path) -> dict[str, Path]:
    """{split name: folder of emotion folders} in an image-release layout,
    empty if ``root`` is not one."""
    if _has_emotion_folders(root):
        return {root.name.lower() if root.name.lower() in ("train", "test") else "train": root}
    return {sub.name.lower(): sub for sub in sorted(root.iterdir())
            if sub.is_dir() and _has_emotion_folders(sub)}


def read_image_folder(root: Path, skip_bad_rows: bool = False) -> tuple[dict[str, Dataset], Counter, int]:
    """Read an image-release folder.

    Returns ({split: Dataset}, {reason: files skipped}, number of images that
    were converted to 48x48 grey). Raises DataError on the first unreadable
    file (unless ``skip_bad_rows``) or an unknown emotion folder.
    """
    splits, skipped, converted = {}, Counter(), 0
    for split, folder in find_image_splits(root).items():
        images, labels = [], []
        for label, emotion_dir in _emotion_folders(folder):
            for file in sorted(emotion_dir.iterdir()):
                if file.name.startswith(".") or file.name.lower() in _SYSTEM_FILES or file.is_dir():
                    continue
                try:
                    image, was_converted = read_image_converted(file)
                except DataError:
                    if not skip_bad_rows:
                        raise
                    skipped["unreadable image"] += 1
                    continue
                images.append(image)
                labels.append(label)
                converted += was_converted
        if images:
            splits[split] = Dataset(np.stack(images)[:, None], np.array(labels, np.int64),
                                    source=f"FER2013 images ({root.name}/)")
    return splits, skipped, converted


def _emotion_folders(folder: Path) -> list[tuple[int, Path]]:
    """[(label, folder)] in label order; DataError for a folder that is not an emotion."""
    found = []
    for sub in folder.iterdir():
        if sub.is_dir():
            if sub.name.lower() not in _EMOTION_FOLDERS:
                raise DataError(f"{sub}: unknown emotion folder (expected one of {', '.join(LABELS)})")
            found.append((_EMOTION_FOLDERS[sub.name.lower()], sub))
    return sorted(found)


def _has_emotion_folders(folder: Path) -> bool:
    return folder.is_dir() and any(sub.is_dir() and sub.name.lower() in _EMOTION_FOLDERS
                                   for sub in folder.iterdir())


# --------------------------------------------------------------- image arrays
def resize_bilinear(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of (N, h, w) to (N, H, W), pixel centres aligned.

    Output pixel centre ``i + 1/2`` sits at input coordinate ``(i + 1/2) * h / H``;
    clamping at the border repeats the edge values (PyTorch's
    ``align_corners=False``).
    """
    out_h, out_w = size
    _, h, w = maps.shape

    def axis(n_out, n_in):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, (pos - low).astype(np.float32)

    y0, y1, fy = axis(out_h, h)
    x0, x1, fx = axis(out_w, w)
    rows = maps[:, y0] * (1 - fy)[:, None] + maps[:, y1] * fy[:, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def resize_images(images, side):
    """(N, C, H, W) float32 -> (N, C, side, side), bilinear (:func:`resize_bilinear`)."""
    n, c, h, w = images.shape
    if (h, w) == (side, side):
        return images
    flat = resize_bilinear(images.reshape(n * c, h, w), (side, side))
    return np.ascontiguousarray(flat.reshape(n, c, side, side), dtype=np.float32)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the last two axes, separable, edges reflected.

    A 2-D Gaussian is the product of two 1-D ones, so two passes of a
    (2r + 1)-tap kernel (r = 3 sigma) do the work of one (2r + 1)^2 kernel.
    """
    if sigma <= 0:
        return images.copy()
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(images.dtype)
    out = images
    for axis in (-2, -1):
        pad = [(0, 0)] * images.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if images.shape[axis] > radius else "edge")
        n = images.shape[axis]
        out = sum(t * np.take(padded, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))
    return out.astype(images.dtype, copy=False)
