"""``EmotionRecognizer``: the faces and emotions of photos, video frames and videos, for scripts
and notebooks.

    from fer import EmotionRecognizer

    recognizer = EmotionRecognizer()                  # the bundled model
    faces = recognizer.detect("photo.jpg")            # or a PIL image, or an (H, W, 3) uint8 RGB array
    faces[0].box, faces[0].label, faces[0].probabilities
    recognizer.top_emotion("photo.jpg")               # ("happy", 0.83): the largest face, or None
    recognizer.classify(faces_48x48)                  # (N, 7) probabilities of faces already cut
    recognizer.analyze_video("clip.mp4", fps=5)       # a pandas DataFrame, one row per face per frame

It is a thin layer over the pieces the commands use: :mod:`fer.photos.faces` finds and frames the
faces, :mod:`fer.evaluation.inference` runs the model(s) (with test-time augmentation), :mod:`fer.photos.video`
samples a video's frames, :mod:`fer.api.bundle` loads the models.  Mistakes in the input are
one-line :class:`fer.errors.DataError` or :class:`fer.errors.UsageError` exceptions naming it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import LABELS
from ..errors import UsageError

DETECTORS = ("photo", "live")


@dataclass(frozen=True)
class Face:
    """One face found in an image, and the emotion the model(s) see in it."""
    box: tuple
    """(x, y, width, height) of the face in the image's pixels."""
    label: str
    """The most probable emotion, one of ``fer.LABELS``."""
    probabilities: dict
    """{emotion: probability} for the seven emotions, in ``fer.LABELS`` order; they sum to 1."""
    image: np.ndarray
    """The (48, 48) uint8 grey face the model saw, framed as FER2013's faces are."""

    def to_dict(self) -> dict:
        """The face as ``python -m fer.serve``'s JSON API gives it:
        ``{"box": [x, y, w, h], "label": ..., "probabilities": {emotion: p}}``, p to 4 decimals."""
        return {"box": [int(v) for v in self.box], "label": self.label,
                "probabilities": {label: round(float(p), 4) for label, p in self.probabilities.items()}}


class EmotionRecognizer:
    """The faces and emotions of images and videos with trained model(s).

    ``runs``: None for the model bundled in the package; a run folder written by
    ``python -m fer.train`` (or a bundle folder), or a list of them for an ensemble (their
    probabilities averaged, as in ``fer.predict``).  ``checkpoint``: ``best`` or ``last``
    weights of each run.  ``tta``: test-time augmentation, one of
    :data:`fer.evaluation.inference.TTA_MODES` (``ten-crop`` suits the bundled model best).
    ``detector``: the face detector's settings: ``"photo"`` (every face, the default),
    ``"live"`` (several times faster, blind to small faces: for video), a dict of
    :class:`fer.photos.faces.FaceDetector` keyword arguments, or a FaceDetector.
    """

    def __init__(self, runs=None, checkpoint: str = "best", tta: str = "none", detector="photo"):
        from ..evaluation.inference import TTA_MODES
        from .bundle import load_models

        if tta not in TTA_MODES:
            raise UsageError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
        runs = [] if runs is None else [runs] if isinstance(runs, (str, Path)) else list(runs)
        self.models, self.names = load_models(runs, checkpoint)
        self.tta = tta
        self.detector = make_detector(detector)

    def __repr__(self):
        return f"EmotionRecognizer({', '.join(self.names)}, tta={self.tta!r})"

    def detect(self, image, bgr: bool = False) -> list[Face]:
        """Every face of ``image``, left to right (an empty list: none found).

        ``image``: a file path, a PIL image, or an (H, W, 3) uint8 array, RGB (``bgr=True``
        for OpenCV's BGR frames), or (H, W) grey.  An image of at most 96 pixels a side is
        one face already cut out, taken whole."""
        from ..evaluation.inference import predict_faces

        pixels = read_image(image, bgr)
        return [Face(tuple(int(v) for v in p.box), p.label,
                     {label: float(v) for label, v in zip(LABELS, p.probabilities)}, p.image)
                for p in predict_faces(self.models, pixels, self.detector, tta=self.tta)]

    def top_emotion(self, image, bgr: bool = False):
        """``(emotion, probability)`` of the largest face of ``image`` (see :meth:`detect`),
        e.g. ``("happy", 0.83)``; None when no face is found."""
        faces = self.detect(image, bgr)
        if not faces:
            return None
        largest = max(faces, key=lambda face: face.box[2] * face.box[3])
        return largest.label, largest.probabilities[largest.label]

    def classify(self, faces) -> np.ndarray:
        """(N, 7) float32 probabilities, in ``fer.LABELS`` order, of faces already cut out:
        uint8 grey (N, 48, 48), (N, 1, 48, 48) or one (48, 48) face (then (1, 7))."""
        from ..evaluation.inference import predict_proba

        faces = np.asarray(faces)
        if faces.dtype != np.uint8 or faces.ndim not in (2, 3, 4) or faces.shape[-2:] != (48, 48) \
                or (faces.ndim == 4 and faces.shape[1] != 1):
            raise UsageError(f"classify: expected uint8 grey faces of shape (N, 48, 48) or (N, 1, 48, 48), "
                             f"got {faces.dtype} {faces.shape} (cut faces out of photos with detect())")
        return predict_proba(self.models, faces.reshape(-1, 1, 48, 48), tta=self.tta)

    def analyze_video(self, path, fps: float = 5.0, progress: bool = False):
        """A pandas DataFrame of every face in the video file ``path``, sampled ``fps`` frames
        a second: one row per face per sampled frame (frames without a face have none), columns
        ``frame`` (index in the video), ``time`` (seconds), ``face`` (0, 1, ... left to right),
        ``box`` ((x, y, w, h)), ``label``, then one probability column per emotion."""
        import pandas as pd

        from ..photos.video import predict_video

        if not fps > 0:
            raise UsageError(f"{path}: fps must be positive, got {fps}")
        rows = [{"frame": index, "time": time, "face": k, "box": tuple(int(v) for v in p.box), "label": p.label,
                 **{label: float(v) for label, v in zip(LABELS, p.probabilities)}}
                for index, time, predictions in predict_video(self.models, path, fps, self.detector, self.tta,
                                                              progress=progress)
                for k, p in enumerate(predictions)]
        return pd.DataFrame(rows, columns=["frame", "time", "face", "box", "label", *LABELS])


def make_detector(detector):
    """A :class:`fer.photos.faces.FaceDetector` from ``"photo"``, ``"live"``, a dict of its keyword
    arguments, or a FaceDetector (returned as it is)."""
    from ..photos.faces import FaceDetector, default_detector

    if isinstance(detector, FaceDetector):
        return detector
    if isinstance(detector, dict):
        try:
            return FaceDetector(**detector)
        except TypeError as error:
            raise UsageError(f"detector settings {detector}: {error}") from None
    if detector == "photo":
        return default_detector()
    if detector == "live":
        return FaceDetector.realtime()
    raise UsageError(f"detector must be one of {', '.join(DETECTORS)}, a dict of FaceDetector settings "
                     f"or a FaceDetector, got {detector!r}")


def read_image(image, bgr: bool = False) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) grey uint8 pixels of a path, a PIL image or an array."""
    from ..photos.faces import read_photo

    if isinstance(image, (str, Path)):
        return read_photo(image)
    if hasattr(image, "convert") and hasattr(image, "size"):   # a PIL image
        return np.array(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise UsageError(f"expected an image file's path, a PIL image or a uint8 array, got {type(image).__name__}")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise UsageError(f"expected an (H, W, 3) RGB or (H, W) grey uint8 array, got {image.dtype} {image.shape}")
    if bgr and image.ndim == 3:
        image = image[..., 2::-1]
    return np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image)
