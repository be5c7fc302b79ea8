"""Faces in photos: find them with OpenCV's Haar cascades, frame them as FER2013 does.

FER2013's faces were found by OpenCV's Haar-cascade face detector in images from
the web, then cut out as squares and shrunk to 48x48 grey; measured, the square
is the detector's box itself (``FRAMING``: 1.03 times its side, same centre).  A
model trained on them expects that framing: forehead to chin, cheek to cheek,
hardly any hair or background.  :func:`detect_faces` reproduces it on
any photo, so that a face in a holiday photo reaches the model looking like the
faces it learned from.

- :class:`FaceDetector` holds a cascade and its settings (chosen by measurement,
  see ``CASCADE`` and the numbers beside each setting), and ``detect(image)``
  returns the :class:`Face` s of an image, left to right.
- An image no larger than ``CROP_MAX`` pixels a side is taken as one face
  already cut out (FER2013's own 48x48 files, a face crop from another dataset):
  too small a picture for the detector, it is framed whole, the way
  :func:`fer.data.images.read_image` frames it (centred square, 48x48).

OpenCV (``opencv-python-headless<5``: 5.0 no longer ships the cascade files) is
imported on first use, so that ``import fer`` stays quick.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError

FACE_SIZE = 48
"""FER2013's faces are 48x48."""

CASCADE = "haarcascade_frontalface_alt2.xml"
"""The cascade file under ``cv2.data.haarcascades``, with the settings of :class:`FaceDetector`.

Chosen by measurement (``python benchmarks/compare_detectors.py``): on 74 faces in
the shipped portraits and group photos, 180 FER2013 faces pasted into group
photos, and 23 pictures without a person, ``alt2`` with 5 neighbours found all 74
and 138 of the 180 with 2 false faces in all; ``default`` found 136 with 10 false
faces (7 of them in the pictures without a person), ``alt`` 140 with 15, and
``alt_tree`` missed most faces.  Fewer neighbours find a few more faces and more
false ones; a scale factor of 1.05 finds more of both and is twice as slow."""

FRAMING = 1.03
"""Side of FER2013's square over the side of the Haar box around the same face.

Measured on the first 3,000 faces of fer2013.csv (``benchmarks/compare_detectors.py``:
each enlarged 4x, its edges repeated outwards so that a box may reach past the
square): the ``alt2`` cascade finds 2,442 of them, and the 48x48 square is 1.027
times the box's side (median; quartiles 0.97 and 1.10; 1.016 with the default
cascade, 1.027 with ``alt``), with the same centre (offsets under 1% of the
side).  FER2013's faces are the Haar box itself, with no margin to speak of:
the dataset was cut out with this detector."""

CROP_MAX = 96
"""Images this small (both sides, in pixels) are taken as one face already cut out."""

INSTALL_HINT = "pip install 'opencv-python-headless>=4.5,<5'"


def import_cv2():
    """OpenCV's module, or a UsageError that says how to install it."""
    try:
        import cv2
    except ImportError:
        raise UsageError(f"finding faces in photos needs OpenCV, which is not installed: {INSTALL_HINT}") from None
    return cv2


@dataclass(frozen=True)
class Face:
    box: tuple
    """(x, y, width, height) of the face in the input image's pixels (ints)."""
    image: np.ndarray
    """(48, 48) uint8 grey, framed the way FER2013 frames its faces."""


def read_photo(path) -> np.ndarray:
    """(H, W, 3) RGB uint8 of any image file Pillow reads, turned upright as its EXIF
    says (phones store photos sideways); DataError naming the file if it cannot be read."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return np.array(ImageOps.exif_transpose(im).convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        reason = "not an image file" if isinstance(e, Image.UnidentifiedImageError) else str(e)
        raise DataError(f"{path}: cannot read the image ({reason})") from None


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 from (H, W) grey or (H, W, 3) RGB uint8 (ITU-R 601 luma, as Pillow's 'L')."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise UsageError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        cv2 = import_cv2()
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    raise UsageError(f"expected an (H, W) grey or (H, W, 3) RGB image, got shape {image.shape}")


def crop_square(grey: np.ndarray, x: int, y: int, side: int, size: int = FACE_SIZE) -> np.ndarray:
    """The ``side``-pixel square of ``grey`` whose top left is (x, y), shrunk to
    size x size; parts outside the image repeat its edge pixels (as a face at the
    border of a photo would be framed by a detector that could see past it)."""
    cv2 = import_cv2()
    h, w = grey.shape
    pad = max(0, -x, -y, x + side - w, y + side - h)
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    square = grey[y + pad:y + pad + side, x + pad:x + pad + side]
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def whole_face(grey: np.ndarray) -> Face:
    """The image taken as one face: its centred square at 48x48, shrunk exactly as
    :func:`fer.data.images.read_image` shrinks an image file (Lanczos)."""
    from PIL import Image, ImageOps

    h, w = grey.shape
    side = min(h, w)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        grey = np.array(ImageOps.fit(Image.fromarray(grey), (FACE_SIZE, FACE_SIZE), Image.Resampling.LANCZOS))
    return Face(((w - side) // 2, (h - side) // 2, side, side), grey.copy())


class FaceDetector:
    """A Haar cascade with its settings; ``detect(image)`` returns the faces.

    ``scale_factor``: how much the search window grows between passes (smaller
    finds more faces, slower); ``min_neighbors``: how many overlapping windows a
    face needs (higher drops false faces, and some real ones); ``min_size``: the
    smallest face looked for, as a fraction of the shorter side of the image
    (with ``min_pixels`` as a floor); ``detect_width``: the image is shrunk to at
    most this width before the search (speed), and the boxes scaled back.
    """

    def __init__(self, cascade: str = CASCADE, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: float = 0.04, min_pixels: int = 24, detect_width: int | None = 1280):
        cv2 = import_cv2()
        path = cascade if Path(cascade).name != cascade else cv2.data.haarcascades + cascade   # a bare name
        self.classifier = cv2.CascadeClassifier(path)
        if self.classifier.empty():
            raise UsageError(f"{path}: cannot load this Haar cascade")
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.min_pixels = min_pixels
        self.detect_width = detect_width

    @classmethod
    def realtime(cls) -> FaceDetector:
        """Settings for live video (a webcam): the frame searched at 480 pixels wide,
        for faces at least a tenth of its height, in coarser scale steps (1.2) and
        with 3 neighbours.  Measured with ``benchmarks/compare_detectors.py``'s
        photos: 135 of the 180 FER2013 faces (138 with the photo settings) and no
        false face, in about a quarter of the photo settings' time on a 640x480
        frame; faces under about 48 pixels in such a frame are not looked for."""
        return cls(scale_factor=1.2, min_neighbors=3, min_size=0.1, detect_width=480)

    def boxes(self, grey: np.ndarray) -> list[tuple]:
        """Haar boxes (x, y, width, height) in ``grey``'s pixels, left to right."""
        cv2 = import_cv2()
        scale = 1.0
        if self.detect_width and grey.shape[1] > self.detect_width:
            scale = grey.shape[1] / self.detect_width
            # at least one row: a 3000x1 image would shrink to none, which OpenCV refuses
            small = cv2.resize(grey, (self.detect_width, max(1, round(grey.shape[0] / scale))),
                               interpolation=cv2.INTER_AREA)
        else:
            small = grey
        smallest = max(self.min_pixels, round(self.min_size * min(small.shape)))
        found = self.classifier.detectMultiScale(small, scaleFactor=self.scale_factor,
                                                 minNeighbors=self.min_neighbors,
                                                 minSize=(smallest, smallest))
        return sorted(tuple(round(v * scale) for v in box) for box in found)

    def detect(self, image: np.ndarray) -> list[Face]:
        """The faces of an (H, W) grey or (H, W, 3) RGB uint8 image, left to right.
        An image of at most ``CROP_MAX`` pixels a side is one face, whole."""
        grey = to_grey(image)
        if max(grey.shape) <= CROP_MAX:
            return [whole_face(grey)]
        return [Face(box, crop_square(grey, *fer_square(box))) for box in self.boxes(grey)]


def fer_square(box) -> tuple[int, int, int]:
    """(x, y, side) of the square FER2013 would cut around the Haar box (x, y, w, h)."""
    x, y, w, h = box
    side = round(FRAMING * max(w, h))
    return round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side


_default_detector = None


def default_detector() -> FaceDetector:
    """One FaceDetector with the chosen settings, made on first use."""
    global _default_detector
    if _default_detector is None:
        _default_detector = FaceDetector()
    return _default_detector


def detect_faces(image: np.ndarray, detector: FaceDetector | None = None) -> list[Face]:
    """The faces of an (H, W) grey or (H, W, 3) RGB uint8 image, left to right
    (by the left edge of their boxes), each framed as FER2013 frames its faces."""
    return (detector or default_detector()).detect(image)
