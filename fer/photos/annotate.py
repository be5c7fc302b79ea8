"""Pictures of predictions: every face boxed and labelled, its emotion bars beside it,
and on request its saliency map laid over it.

:func:`draw_annotations` takes a photo (or a video frame) and the
:class:`fer.evaluation.inference.FacePrediction` s of its faces and returns a new RGB picture;
:func:`face_saliency` computes the maps it can overlay.  ``fer.predict --annotate``
and the web page of ``fer.serve`` both draw with them.  Drawing uses OpenCV
(imported on first use, like :mod:`fer.photos.faces`).
"""
from __future__ import annotations

import numpy as np

from .. import LABELS
from .faces import fer_square, import_cv2

COLOURS = {"angry": (220, 50, 47), "disgust": (133, 153, 0), "fear": (108, 113, 196), "happy": (255, 190, 0),
           "sad": (38, 139, 210), "surprise": (211, 54, 130), "neutral": (190, 190, 190)}
"""RGB colour of each emotion: its box, its label and its bar."""

MIN_SIDE = 480
"""A smaller picture is enlarged to this shorter side first, so that labels stay readable."""

SALIENCY_OPACITY = 0.7
"""How strongly the strongest saliency covers the face (weaker saliency proportionally less)."""


def draw_annotations(image: np.ndarray, predictions, saliency=None) -> np.ndarray:
    """``image`` ((H, W) grey or (H, W, 3) RGB uint8) with each prediction's face boxed
    and labelled in its emotion's colour and the seven probabilities as bars beside
    it; with ``saliency`` (one non-negative map per prediction, any size, e.g. 48x48),
    each map coloured and laid over its face's FER2013 square.

    Returns a new (H', W', 3) RGB uint8 picture: the input's size, or enlarged to a
    shorter side of ``MIN_SIDE`` if it was smaller.
    """
    cv2 = import_cv2()
    picture = np.ascontiguousarray(np.dstack([image] * 3) if image.ndim == 2 else image[..., :3])
    scale = max(1.0, MIN_SIDE / min(picture.shape[:2]))
    if scale > 1:
        size = (round(picture.shape[1] * scale), round(picture.shape[0] * scale))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)
    else:
        picture = picture.copy()
    boxes = [tuple(round(v * scale) for v in p.box) for p in predictions]
    if saliency is not None:
        for box, heat in zip(boxes, saliency):
            overlay_heat(picture, box, heat)
    style = Style(picture.shape)
    for box, prediction in zip(boxes, predictions):
        draw_box(picture, box, prediction.label, float(prediction.probabilities.max()), style)
    for origin, prediction in zip(place_panels(boxes, style, picture.shape), predictions):
        draw_bars(picture, origin, prediction.probabilities, style)
    return picture


class Style:
    """Sizes that follow the picture: line width, font scale, bar panel layout."""

    def __init__(self, shape):
        cv2 = import_cv2()
        side = min(shape[:2])
        self.line = max(2, round(side / 300))
        self.font_scale = max(0.4, side / 1100)
        self.text = max(1, round(side / 700))
        self.row = round(22 * self.font_scale) + 4
        self.name_scale = 0.8 * self.font_scale
        longest = max(cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, self.name_scale, self.text)[0][0]
                      for label in LABELS)
        self.name_width = longest + 8
        (_, text_height), baseline = cv2.getTextSize("surprise 100%", cv2.FONT_HERSHEY_SIMPLEX, self.font_scale,
                                                     self.text)
        self.tab = text_height + baseline + 4                 # the label's tab above a box
        self.bar_width = round(110 * self.font_scale)
        self.panel = (self.name_width + self.bar_width + 8, self.row * len(LABELS) + 6)


def overlay_heat(picture, box, heat):
    """Lay the map ``heat`` over the FER2013 square of ``box`` (in place), coloured
    with the inferno map; opacity grows with saliency, so unimportant regions show
    the face untouched."""
    cv2 = import_cv2()
    from ..explain.plots import normalise_map

    x, y, side = fer_square(box)
    strength = cv2.resize(normalise_map(np.asarray(heat, np.float32)), (side, side),
                          interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.uint8(strength * 255), cv2.COLORMAP_INFERNO)[..., ::-1]
    h, w = picture.shape[:2]
    left, top, right, bottom = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if right <= left or bottom <= top:
        return
    region = (slice(top - y, bottom - y), slice(left - x, right - x))
    alpha = SALIENCY_OPACITY * strength[region][..., None]
    under = picture[top:bottom, left:right].astype(np.float32)
    picture[top:bottom, left:right] = np.uint8((1 - alpha) * under + alpha * colours[region] + 0.5)


def draw_box(picture, box, label, probability, style):
    """The face's box, and its label with the probability on a tab above it (in place)."""
    cv2 = import_cv2()
    x, y, w, h = box
    colour = COLOURS[label]
    cv2.rectangle(picture, (x, y), (x + w, y + h), colour, style.line)
    text = f"{label} {probability:.0%}"
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.text)
    top = y - style.tab if y >= style.tab else y + h                 # below the box at the top edge
    cv2.rectangle(picture, (x, top), (x + tw + 6, top + style.tab), colour, cv2.FILLED)
    cv2.putText(picture, text, (x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, style.font_scale,
                (0, 0, 0), style.text, cv2.LINE_AA)


def place_panels(boxes, style, shape):
    """Top left of each face's bar panel: beside its face (right, left, below or
    above, in that order of preference), wherever it covers the least of the faces
    (with their label tabs) and of the panels placed before it; always inside the picture."""
    width, height = style.panel
    gap = style.line * 2
    faces = [(x, y - style.tab, w, h + style.tab) for x, y, w, h in boxes]
    placed = []
    for x, y, w, h in boxes:
        candidates = [(x + w + gap, y), (x - gap - width, y), (x, y + h + gap), (x, y - style.tab - gap - height)]
        inside = [(min(max(0, left), max(0, shape[1] - width)), min(max(0, top), max(0, shape[0] - height)))
                  for left, top in candidates]
        covered = [sum(overlap((left, top, width, height), other) for other in [*faces, *placed])
                   for left, top in inside]
        left, top = inside[covered.index(min(covered))]
        placed.append((left, top, width, height))
    return [(left, top) for left, top, _, _ in placed]


def overlap(a, b) -> int:
    """Area shared by two boxes (x, y, width, height)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def draw_bars(picture, origin, probabilities, style):
    """The seven probabilities as labelled bars on a darkened panel at ``origin`` (in place)."""
    cv2 = import_cv2()
    left, top = origin
    width, height = style.panel
    area = picture[top:top + height, left:left + width]
    area[:] = area // 3                                   # darken, so the text reads on any photo
    for k, (label, p) in enumerate(zip(LABELS, probabilities)):
        row_top = top + 3 + k * style.row
        baseline = row_top + style.row - 6
        cv2.putText(picture, label, (left + 3, baseline), cv2.FONT_HERSHEY_SIMPLEX, style.name_scale,
                    (255, 255, 255), style.text, cv2.LINE_AA)
        bar_left = left + style.name_width
        bar = round(float(p) * style.bar_width)
        cv2.rectangle(picture, (bar_left, row_top + 3), (bar_left + style.bar_width, row_top + style.row - 3),
                      (90, 90, 90), 1)
        if bar > 0:
            cv2.rectangle(picture, (bar_left, row_top + 3), (bar_left + bar, row_top + style.row - 3),
                          COLOURS[label], cv2.FILLED)


def face_saliency(models, predictions, method: str = "smoothgrad") -> list[np.ndarray]:
    """One (48, 48) saliency map per prediction, for its predicted emotion: the
    ``method`` of :func:`fer.explain.saliency_maps.saliency_maps`, each model's map
    scaled to [0, 1] and averaged over the models of an ensemble."""
    from ..explain.plots import normalise_map
    from ..explain.saliency_maps import saliency_maps

    if not predictions:
        return []
    models = models if isinstance(models, (list, tuple)) else [models]
    faces = np.stack([p.image for p in predictions])[:, None]
    targets = np.array([LABELS.index(p.label) for p in predictions])
    total = np.zeros((len(faces), *faces.shape[2:]), np.float32)
    for model in models:
        maps = saliency_maps(model, faces, method, target=targets)
        total += np.stack([normalise_map(m) for m in maps])
    return list(total / len(models))
