"""Running a trained model over images: batching, probabilities, test-time augmentation.

Shared by training (validation), ``fer.evaluate``, ``fer.predict`` and the saliency
tools, so that all of them see a model the same way: images arrive as uint8
(N, 1, 48, 48), are turned into float32 in 0..1 one batch at a time (the whole
FER2013 training set in float32 would be 265 MB), and go through the model in
evaluation mode without recording a graph.
"""
from dataclasses import dataclass

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import nn

from .. import LABELS
from ..data import to_float
from ..data.images import resize_images
from ..errors import UsageError
from ..models.networks import input_side

TTA_MODES = ("none", "flip", "flip-shift", "ten-crop", "ten-crop-2scale")
"""Test-time augmentation: the views averaged by :func:`predict_proba`.

``flip``       the image and its mirror (faces are near-symmetric; expressions are)
``flip-shift`` those two, each also shifted by 2 pixels up, down, left and right
               (10 views; costs 10x the time of ``none``)
``ten-crop``   the four corner squares and the centre square and their mirrors: the classic
               ten-crop test, for networks trained on crops.  A network with a fixed input
               side (a leading ``CentreCrop``, the ``fast`` preset) gets crops of that side;
               one that takes any size (``xception``) gets squares 2 pixels smaller than the
               image (46x46 of 48x48; measured on the ``xception`` run: 65.3% on PublicTest,
               against 65.0% with ``flip-shift`` and 64.1% with ``flip``)
``ten-crop-2scale`` those ten crops and ten more of the face downscaled to
               :data:`SECOND_SCALE` of its side (a crop of the same side then
               covers more of the face): 20 views, 2x the time of ``ten-crop``
"""

SECOND_SCALE = 0.9
"""``ten-crop-2scale``: the second scale's face side, as a fraction of the image's (43 of 48)."""

TEN_CROP_MARGIN = 2
"""Pixels the ten-crop squares of an any-size network are smaller than the image (46 of 48:
measured best of 40, 44, 46 on the ``xception`` run)."""


def batch_indices(n, batch_size, order=None):
    """Yield index arrays of consecutive batches of ``order`` (default 0..n-1).
    The last batch may be smaller; none is empty."""
    order = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def shift(x, dy, dx):
    """Shift images x (N, C, H, W) by (dy, dx) pixels, repeating the edge pixels
    into the gap (a black bar would be a feature the model never saw in training)."""
    pad = max(abs(dy), abs(dx))
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    h, w = x.shape[2:]
    return padded[:, :, pad - dy:pad - dy + h, pad - dx:pad - dx + w]


def tta_views(x, mode="none", side=None):
    """The list of views of the batch x (N, C, H, W) that ``mode`` averages over; ``side``:
    the ten crops' side (default: the image's less :data:`TEN_CROP_MARGIN`)."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {mode!r}; choose one of {', '.join(TTA_MODES)}")
    if mode == "ten-crop":
        return ten_crops(x, side)
    if mode == "ten-crop-2scale":
        small = resize_images(x, max(round(SECOND_SCALE * min(x.shape[2:])), side or 0))  # never below the crop
        return ten_crops(x, side) + ten_crops(small, side)
    views = [x]
    if mode in ("flip", "flip-shift"):
        views.append(np.ascontiguousarray(x[..., ::-1]))
    if mode == "flip-shift":
        views += [shift(v, dy, dx) for v in views[:2] for dy, dx in ((2, 0), (-2, 0), (0, 2), (0, -2))]
    return views


def ten_crops(x, side=None):
    """The four corner squares and the centre square of side ``side`` (default min(H, W) -
    :data:`TEN_CROP_MARGIN`) of the batch x (N, C, H, W), each followed by its mirror: 10 views."""
    h, w = x.shape[2:]
    side = min(h, w) - TEN_CROP_MARGIN if side is None else side
    if not 0 < side <= min(h, w):
        raise ValueError(f"ten-crop: crops of side {side} do not fit images of shape {x.shape}")
    views = []
    for top, left in ((0, 0), (0, w - side), (h - side, 0), (h - side, w - side), ((h - side) // 2, (w - side) // 2)):
        crop = np.ascontiguousarray(x[:, :, top:top + side, left:left + side])
        views += [crop, np.ascontiguousarray(crop[..., ::-1])]
    return views


def predict_logits(model, images, batch_size=256):
    """Logits (N, num_classes) float32 of uint8 ``images`` (N, 1, 48, 48), in eval mode."""
    model.eval()
    model = nn.fuse(model)      # the fast path: conv blocks folded into one op (same weights, same result)
    outputs = []
    with minigrad.no_grad():
        for index in batch_indices(len(images), batch_size):
            outputs.append(model(minigrad.Tensor(to_float(images[index]))).data)
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def predict_proba(models, images, batch_size=256, tta="none"):
    """Class probabilities (N, num_classes) of uint8 ``images`` (N, 1, 48, 48).

    ``models``: one model or a list of them; the probabilities are averaged over
    the models (an ensemble) and over the test-time views of ``tta``.
    """
    models = models if isinstance(models, (list, tuple)) else [models]
    for model in models:
        model.eval()
    sides = [input_side(model) for model in models]
    if tta.startswith("ten-crop"):
        for model, side in zip(models, sides):
            # (fer.models.networks' whole-face networks are Sequentials that flatten; xception pools globally)
            if side is None and isinstance(model, nn.Sequential) and any(isinstance(m, nn.Flatten) for m in model):
                raise UsageError("--tta ten-crop: a network that flattens whole 48x48 faces into dense layers "
                                 "cannot take crops (train it on crops, as the fast and best presets do, "
                                 "or use --tta flip)")
    fast = [nn.fuse(model) for model in models]   # the fast path, as in predict_logits
    outputs = []
    with minigrad.no_grad():
        for index in batch_indices(len(images), batch_size):
            batch = to_float(images[index])
            views = {side: tta_views(batch, tta, side) for side in set(sides)}
            probs = [F.softmax(model(minigrad.Tensor(view)), axis=1).data
                     for model, side in zip(fast, sides) for view in views[side]]
            outputs.append(np.mean(probs, axis=0, dtype=np.float32))
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class FacePrediction:
    """One face of a photo and what the model(s) make of it."""
    box: tuple
    """(x, y, width, height) of the face in the photo's pixels."""
    label: str
    """The most probable emotion, one of ``fer.LABELS``."""
    probabilities: np.ndarray
    """(7,) float32, in ``fer.LABELS`` order."""
    image: np.ndarray
    """The (48, 48) uint8 face the model saw."""


def predict_faces(models, image, detector=None, tta="none"):
    """Every face of a photo, found, framed as FER2013's faces and predicted in one
    batch: a list of :class:`FacePrediction`, left to right (empty: no face).

    ``image``: (H, W) grey or (H, W, 3) RGB uint8.  A small image (a face already
    cut out, such as FER2013's own) is one face, whole (see :mod:`fer.photos.faces`).
    """
    from ..photos.faces import detect_faces

    faces = detect_faces(image, detector)
    if not faces:
        return []
    probs = predict_proba(models, np.stack([face.image for face in faces])[:, None], tta=tta)
    return [FacePrediction(face.box, LABELS[p.argmax()], p, face.image) for face, p in zip(faces, probs)]
