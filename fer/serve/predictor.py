"""The trained models behind the web page: faces found and classified, saliency on request,
one request at a time.

waitress answers each request on one of a few threads, but a model is not safe to run
from two threads at once (a forward pass keeps state in its modules: hooks, the
``requires_grad`` flags an explanation turns off), numba's default thread pool must not
be entered from two threads at once, and an OpenCV cascade keeps scratch buffers.  So
:class:`Predictor` holds a lock around everything that touches them; the work
inside already uses every thread that ``--threads`` allows, so requests taking turns
lose nothing.  Decoding uploads and encoding answers happen outside the lock.

numba's thread count is a per-thread setting: a waitress thread would start with the
whole pool, whatever ``--threads`` set in the main thread.  So the Predictor notes the
count it was made with and sets it again in whichever thread runs the models.
"""
from __future__ import annotations

import base64
import io
import threading
import time

import numba
import numpy as np

from .. import LABELS
from ..explain.options import METHODS as SALIENCY_METHODS

DETECTORS = ("photo", "live")
"""The face detector's settings a request asks for: ``photo`` (every face, the default) or
``live`` (:meth:`fer.photos.faces.FaceDetector.realtime`: several times faster, blind to small
faces; what the webcam mode uses)."""

OVERLAY_ALPHA = 0.85
"""Opacity of the saliency overlay where the map is at its strongest.  It falls with the
square of the map, so the weak, noisy part of a map leaves the photo clear."""


class Predictor:
    """``models`` (one or an ensemble, named by ``names``), test-time augmentation ``tta``,
    and the face detectors of :data:`DETECTORS` (None: :func:`fer.photos.faces.default_detector`
    for photos, :meth:`fer.photos.faces.FaceDetector.realtime` for live video, made on first use)."""

    def __init__(self, models, names, tta: str = "none", detector=None, live_detector=None):
        self.models = list(models)
        self.names = list(names)
        self.tta = tta
        self.detector = detector
        self.live_detector = live_detector
        self.threads = numba.get_num_threads()
        self._lock = threading.Lock()

    def predict(self, image: np.ndarray, saliency: str | None = None, detector: str = "photo") -> dict:
        """The JSON-ready answer for an (H, W, 3) uint8 image: every face's box, label and
        probabilities, with ``saliency`` (a method of :data:`SALIENCY_METHODS`) its map too,
        and the milliseconds each step took; ``detector`` is one of :data:`DETECTORS`."""
        from ..evaluation.inference import predict_faces

        started = time.perf_counter()
        with self._lock:
            numba.set_num_threads(self.threads)
            found = predict_faces(self.models, image, self._detector(detector), tta=self.tta)
            predicted = time.perf_counter()
            maps = self._saliency_maps(found, saliency) if saliency and found else None
        faces = [face_json(face) for face in found]
        timing = {"predict": milliseconds(predicted - started)}
        if maps is not None:
            for face, prediction, heat in zip(faces, found, maps):
                face["saliency"] = saliency_json(prediction, heat, image.shape, saliency)
            timing["saliency"] = milliseconds(time.perf_counter() - predicted)
        return {"faces": faces, "timing_ms": timing}

    def warm_up(self) -> None:
        """A blank photo for each detector (its cascade loads) and a blank face with its
        saliency map (numba's kernels compile, or load from its cache), so that the first
        visitor does not wait."""
        for detector in DETECTORS:
            self.predict(np.zeros((128, 128, 3), np.uint8), detector=detector)
        self.predict(np.zeros((48, 48, 3), np.uint8), saliency="vanilla")

    def _detector(self, kind: str):
        if kind == "photo":
            return self.detector
        if self.live_detector is None:
            from ..photos.faces import FaceDetector

            self.live_detector = FaceDetector.realtime()
        return self.live_detector

    def _saliency_maps(self, found, method: str) -> list[np.ndarray]:
        """(48, 48) maps in [0, 1], as ``fer.predict --annotate --saliency`` draws them
        (:func:`fer.photos.annotate.face_saliency`); a method the models cannot give (Grad-CAM
        of a dense network) is a :class:`SaliencyError`."""
        from ..photos.annotate import face_saliency

        try:
            return face_saliency(self.models, found, method)
        except ValueError as error:
            raise SaliencyError(f"{method} saliency: {error}") from None


class SaliencyError(ValueError):
    """A saliency method that the models cannot give (the message says why)."""


def milliseconds(seconds: float) -> float:
    return round(1000 * seconds, 1)


def face_json(face) -> dict:
    """One face of the answer: box, label and each class's probability (4 decimals)."""
    return {"box": [int(v) for v in face.box],
            "label": face.label,
            "probabilities": {label: round(float(p), 4) for label, p in zip(LABELS, face.probabilities)}}


def face_square(box, image_shape) -> list[int]:
    """[x, y, side, side]: the square of the photo that became the 48x48 face (and so the
    area its saliency map covers), as :mod:`fer.photos.faces` cut it."""
    from ..photos.faces import CROP_MAX, fer_square

    if max(image_shape[:2]) <= CROP_MAX:   # a small image is one face, taken whole
        x, y, side = box[0], box[1], box[2]
    else:
        x, y, side = fer_square(box)
    return [int(x), int(y), int(side), int(side)]


def saliency_json(face, heat: np.ndarray, image_shape, method: str) -> dict:
    """The saliency part of a face's answer: the method, the square of the photo the
    map covers, the 48x48 face the model saw and the map as a see-through heat overlay
    (both PNG data URLs, for an ``<img>`` to show)."""
    return {"method": method, "square": face_square(face.box, image_shape),
            "face": png_data_url(face.image), "overlay": png_data_url(heat_overlay(heat))}


def heat_overlay(heat: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA: ``heat`` in [0, 1] through the inferno colour map, nearly
    opaque where salient and clear where not, so the face shows through the rest."""
    from matplotlib import colormaps

    from ..explain.plots import HEAT_CMAP

    rgba = colormaps[HEAT_CMAP](heat)
    rgba[..., 3] = OVERLAY_ALPHA * heat ** 2
    return (255 * rgba).round().astype(np.uint8)


def png_data_url(pixels: np.ndarray) -> str:
    """``data:image/png;base64,...`` of a uint8 (H, W) grey or (H, W, 4) RGBA array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
