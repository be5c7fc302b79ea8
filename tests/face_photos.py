"""Photos with real faces for the tests and benchmarks of face detection, made from
the public-domain and CC0 pictures in tests/data (their sources: tests/data/README.md).

- ``load(name)``: one of the pictures as (H, W, 3) RGB uint8;
- ``PORTRAITS``: each portrait's face box, as the default detector finds it and as
  checked by eye (eyebrows to chin, ear to ear);
- ``group_photo(face_sizes)``: a group photo composed on a cluttered background
  (a café table), one head per size, with the boxes where its faces are.
"""
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data"

PORTRAITS = {"astronaut.jpg": (110, 41, 61, 61), "grace_hopper.jpg": (76, 50, 118, 118)}
"""Face box (x, y, width, height) in each portrait."""

HEAD = 1.8
"""A pasted head is the square this many face sides wide around the face box (hair, neck)."""


def load(name: str) -> np.ndarray:
    with Image.open(DATA / name) as im:
        return np.array(im.convert("RGB"))


def head(name: str):
    """(the square around the portrait's face, its face box within that square)."""
    x, y, w, h = PORTRAITS[name]
    side = round(HEAD * w)
    left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    return load(name)[top:top + side, left:left + side], (x - left, y - top, w, h)


def group_photo(face_sizes=(48, 64, 80, 96, 112, 56), size=(640, 480), seed=0):
    """(RGB image (H, W, 3), true face boxes left to right): one head per entry of
    ``face_sizes`` (the face's width in pixels), the portraits alternating and every
    other one mirrored, on the café background stretched to ``size`` (width, height).
    The heads sit in a grid of at most 3 columns, each jittered inside its cell."""
    rng = np.random.default_rng(seed)
    width, height = size
    with Image.open(DATA / "coffee.jpg") as im:
        photo = np.array(im.convert("RGB").resize(size, Image.Resampling.BILINEAR))
    columns = min(3, len(face_sizes))
    rows = -(-len(face_sizes) // columns)
    cell_w, cell_h = width // columns, height // rows
    names = sorted(PORTRAITS)
    boxes = []
    for k, face in enumerate(face_sizes):
        square, (fx, fy, fw, _) = head(names[k % len(names)])
        scale = face / fw
        side = round(square.shape[0] * scale)
        if side > min(cell_w, cell_h):
            raise ValueError(f"a face {face} pixels wide needs a {side}-pixel head; the cells are {cell_w}x{cell_h}")
        pasted = np.array(Image.fromarray(square).resize((side, side), Image.Resampling.LANCZOS))
        if k % 2:
            pasted, fx = pasted[:, ::-1], square.shape[0] - fx - fw
        column, row = k % columns, k // columns
        left = column * cell_w + int(rng.integers(0, cell_w - side + 1))
        top = row * cell_h + int(rng.integers(0, cell_h - side + 1))
        photo[top:top + side, left:left + side] = pasted
        boxes.append((left + round(fx * scale), top + round(fy * scale), face, face))
    return photo, sorted(boxes)


def iou(a, b) -> float:
    """Intersection over union of two boxes (x, y, width, height)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def match(found, truth, threshold=0.4):
    """(true faces found, false faces): a found box is a true face when it overlaps
    a not yet matched true box by IoU >= threshold."""
    left = list(truth)
    hits = 0
    for box in found:
        best = max(left, key=lambda t: iou(box, t), default=None)
        if best is not None and iou(box, best) >= threshold:
            left.remove(best)
            hits += 1
    return hits, len(found) - hits


def framing_ratio(face, detector, scale=4, pad=64):
    """Side of a cut-out face (e.g. FER2013's 48x48) over the side of the box the
    detector finds in it (None if it finds none).  The face is enlarged ``scale``
    times and its edges repeated ``pad`` pixels outwards, so that a box may reach
    past the square."""
    from fer.photos.faces import import_cv2

    cv2 = import_cv2()
    side = face.shape[0] * scale
    big = cv2.copyMakeBorder(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC),
                             pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = detector.boxes(big)
    return side / max(b[2] for b in boxes) if boxes else None
