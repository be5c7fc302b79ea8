"""Built-in synthetic faces: a stand-in for FER2013 that needs no download.

Each face is drawn from a little facial geometry, in "face units" (the
face's half-width is about 0.65; u points right, v points down, the origin
is between the eyes and the mouth). The seven expressions differ the way
the facial action coding system describes them:

    angry     brows lowered and drawn together (inner ends down), eyes
              narrowed, mouth pressed, corners slightly down
    disgust   brows lowered, eyes squinting, one mouth corner raised
              (a sneer), wrinkles on the nose bridge
    fear      brows raised with inner ends up, eyes wide, mouth stretched
              wide and slightly open
    happy     corners of the mouth up (a smile, sometimes open with teeth),
              eyes narrowed, smile lines beside the mouth
    sad       inner ends of the brows up, corners of the mouth down
    surprise  brows raised high and arched, eyes wide, mouth open round
    neutral   everything at rest

Each face shows its class's cues at a random strength (weak ones drift
towards neutral, which is what makes sad and neutral the hardest pair) with
individual variation, and everything else is random: position (±4 pixels),
scale, rotation (±20°), face shape, skin tone, hair, background, lighting
direction, contrast, noise, and occluders (glasses, sunglasses, a fringe of
hair, a hand-like blob). Translation in particular is what a dense network,
which has to learn each position separately, finds hard and a CNN does not.

Everything is drawn with signed-distance functions on coordinate grids,
for a whole chunk of faces at once: a shape's coverage of a pixel is
``clip(0.5 - distance / pixel_size, 0, 1)``, which also anti-aliases.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 7
NEUTRAL = 6
_CHUNK = 64   # faces rendered at once: measured fastest, (64, 48, 48) float32 arrays fit in cache

# How each expression moves the face, one column per class in FER2013's order.
# A face's value is neutral + strength * (class - neutral) + jitter.
_EXPRESSION = {
    #             angry  disgust fear   happy  sad    surprise neutral
    "brow_drop":  (0.05,  0.04, -0.06, -0.01,  0.00, -0.10,  0.00),  # + lowers the brows
    "brow_inner": (0.08,  0.05, -0.05,  0.00, -0.07,  0.00,  0.00),  # + lowers their inner ends
    "brow_arch":  (0.00,  0.00,  0.01,  0.02,  0.00,  0.05,  0.015),
    "eye_open":   (0.55,  0.40,  1.00,  0.50,  0.65,  1.05,  0.75),  # height / width of the eye
    "smile":      (-0.03, -0.03, -0.04,  0.11, -0.08,  0.00,  0.00),  # + lifts the mouth corners
    "mouth_half": (0.17,  0.19,  0.25,  0.27,  0.19,  0.11,  0.20),  # half the mouth's width
    "mouth_open": (0.02,  0.03,  0.07,  0.04,  0.00,  0.16,  0.00),  # half its opening
    "sneer":      (0.00,  0.07,  0.00,  0.00,  0.00,  0.00,  0.00),  # lifts one corner
    "wrinkle":    (0.20,  1.00,  0.00,  0.00,  0.00,  0.00,  0.00),  # nose-bridge wrinkles
    "smile_line": (0.00,  0.30,  0.00,  1.00,  0.00,  0.00,  0.00),
    "teeth":      (0.40,  0.50,  0.30,  0.60,  0.00,  0.10,  0.00),  # chance teeth show
}
# Individual variation (standard deviation) of each expression parameter.
_JITTER = {"brow_drop": 0.02, "brow_inner": 0.025, "brow_arch": 0.01, "eye_open": 0.12,
           "smile": 0.025, "mouth_half": 0.025, "mouth_open": 0.02, "sneer": 0.01,
           "wrinkle": 0.1, "smile_line": 0.15, "teeth": 0.0}


def make_faces(n: int, seed: int = 0, size: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` synthetic faces, balanced over the 7 classes.

    Returns images (n, 1, size, size) uint8, labels (n,) int64 and masks
    (n, 1, size, size) bool marking where the expression cues (eyes, brows,
    mouth, wrinkles, smile lines) are visible. The same (n, seed, size)
    always gives the same faces.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.int64)
    faces = _sample_faces(labels, rng)
    images = np.empty((n, 1, size, size), np.uint8)
    masks = np.empty((n, 1, size, size), bool)
    for start in range(0, n, _CHUNK):
        chunk = {name: values[start:start + _CHUNK, None, None] for name, values in faces.items()}
        image, cue = _render(chunk, size, rng)
        images[start:start + _CHUNK, 0] = np.round(image * 255)
        masks[start:start + _CHUNK, 0] = cue > 0.5
    return images, labels, masks


def _sample_faces(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every random choice for every face, as (n,) float32 arrays."""
    n = len(labels)

    def uniform(low, high):
        return rng.uniform(low, high, n).astype(np.float32)

    def chance(p):   # 1.0 with probability p, else 0.0
        return (rng.random(n) < p).astype(np.float32)

    f = {}
    # Expression: the class's geometry at a random strength, plus variation.
    strength = uniform(0.5, 1.25)
    for name, per_class in _EXPRESSION.items():
        table = np.asarray(per_class, np.float32)
        f[name] = (table[NEUTRAL] + strength * (table[labels] - table[NEUTRAL])
                   + _JITTER[name] * rng.standard_normal(n)).astype(np.float32)
    f["mouth_half"] = np.maximum(f["mouth_half"], 0.06)   # jitter must not erase a small mouth
    f["teeth"] = (rng.random(n) < f["teeth"]).astype(np.float32)
    f["sneer"] *= rng.choice(np.float32([-1, 1]), n)   # either corner
    # Pose: where the face sits in the picture.
    f["cx"], f["cy"] = uniform(-0.16, 0.16), uniform(-0.14, 0.14)
    f["scale"] = uniform(0.92, 1.2)
    f["angle"] = np.clip(rng.normal(0, 0.14, n), -0.35, 0.35).astype(np.float32)
    # Identity: face shape, where the features sit, tones.
    f["face_a"], f["face_b"], f["chin"] = uniform(0.58, 0.70), uniform(0.80, 0.92), uniform(0.88, 1.08)
    f["eye_dx"], f["eye_y"], f["eye_w"] = uniform(0.23, 0.29), uniform(-0.12, -0.04), uniform(0.10, 0.125)
    f["brow_gap"], f["brow_half"] = uniform(0.14, 0.18), uniform(0.10, 0.13)
    f["brow_thick"], f["lip_thick"] = uniform(0.045, 0.07), uniform(0.035, 0.055)
    f["mouth_y"], f["nose_y"] = uniform(0.36, 0.44), uniform(0.18, 0.25)
    f["skin"], f["feature_dark"] = uniform(0.35, 0.85), uniform(0.25, 0.55)
    f["iris"], f["neck"] = uniform(0.05, 0.3), uniform(0.7, 0.95)
    # Surroundings and occluders.
    f["bg"], f["bg_gx"], f["bg_gy"] = uniform(0.0, 1.0), uniform(-0.3, 0.3), uniform(-0.3, 0.3)
    f["hair"] = chance(0.85)
    f["hair_tone"] = np.where(chance(0.7) > 0, uniform(0.03, 0.3), uniform(0.55, 0.9))
    f["hairline"] = uniform(-0.78, -0.38)   # at -0.4 a fringe reaches the brows
    f["glasses"], f["sunglasses"] = chance(0.2), chance(0.05)
    f["blob"], f["blob_u"], f["blob_v"] = chance(0.15), uniform(-0.55, 0.55), uniform(-0.3, 0.75)
    f["blob_r"], f["blob_tone"] = uniform(0.1, 0.25), uniform(0.1, 0.9)
    # Camera: lighting gradient, contrast, sensor noise.
    f["light"], f["light_dir"] = uniform(0.0, 0.45), uniform(0.0, 2 * np.pi)
    f["contrast"], f["noise"] = uniform(0.7, 1.3), uniform(0.01, 0.05)
    return f


def _render(f: dict[str, np.ndarray], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a chunk of B faces. ``f`` holds (B, 1, 1) parameters.

    Returns (images (B, size, size) float32 in [0, 1], cue coverage (B, size,
    size) float32 in [0, 1]).
    """
    grid = (np.arange(size, dtype=np.float32) + 0.5) * (2 / size) - 1   # pixel centres in [-1, 1]
    x, y = grid[None, None, :], grid[None, :, None]
    # Face coordinates: undo the translation, rotation and scale.
    cos, sin = np.cos(f["angle"]), np.sin(f["angle"])
    dx, dy = x - f["cx"], y - f["cy"]
    u = (cos * dx + sin * dy) / f["scale"]
    v = (cos * dy - sin * dx) / f["scale"]
    # Eyes, brows, glasses and smile lines come in mirror pairs: drawing them
    # at |u| draws both sides at once.
    side = np.abs(u)
    pixel = (2 / size) / f["scale"]

    def cover(distance):   # coverage of each pixel by the shape inside distance < 0
        return np.clip(0.5 - distance / pixel, 0, 1)

    img = (f["bg"] + f["bg_gx"] * x + f["bg_gy"] * y).astype(np.float32)
    skin, dark = f["skin"], f["skin"] * f["feature_dark"]
    head_v = np.where(v > 0, v / f["chin"], v)
    # Head: hair behind, neck, face.
    back_hair = _ellipse(u, v + 0.08, f["face_a"] * 1.22, f["face_b"] * 1.12)
    _paint(img, f["hair"] * cover(back_hair), f["hair_tone"])
    _paint(img, cover(np.maximum(np.abs(u) - 0.3, 0.55 - v)), skin * f["neck"])
    _paint(img, cover(_ellipse(u, head_v, f["face_a"], f["face_b"])), skin)
    _paint(img, 0.4 * cover(_ellipse(u, v - f["nose_y"], 0.07, 0.025)), dark)   # nostrils' shadow

    # Expression cues; ``cue`` tracks how much of each pixel shows one.
    eye_h = f["eye_w"] * 0.6 * np.maximum(f["eye_open"], 0.15)
    eye_u, eye_v = side - f["eye_dx"], v - f["eye_y"]   # from the eye's centre
    eye_r = np.hypot(eye_u, eye_v)
    eye = cover(_ellipse(eye_u, eye_v, f["eye_w"], eye_h))
    _paint(img, eye, 0.45 + 0.5 * skin)   # the white of the eye
    _paint(img, eye * cover(eye_r - f["eye_w"] * 0.5), f["iris"])
    # Brows: inner end at small |u|, so a positive brow_inner tilts it down there.
    brow_v = f["eye_y"] - f["brow_gap"] + f["brow_drop"]
    brow_d, _ = _curve(side, v, f["eye_dx"] + 0.01, brow_v, f["brow_half"], -f["brow_inner"], -f["brow_arch"])
    brow = cover(brow_d - f["brow_thick"] / 2)
    _paint(img, brow, dark)
    mouth_d, lips_meet = _curve(u, v, 0, f["mouth_y"], f["mouth_half"], f["sneer"], f["smile"],
                                np.maximum(f["mouth_open"], 0))
    mouth = cover(mouth_d - f["lip_thick"] / 2)
    _paint(img, mouth, dark * 0.5)
    # Teeth: the upper half of an open mouth, above the line where closed lips meet.
    teeth = f["teeth"] * (f["mouth_open"] > 0.03) * cover(np.maximum(mouth_d + 0.01, v - lips_meet))
    _paint(img, teeth, 0.6 + 0.35 * skin)
    # Two short lines across the nose bridge; arcs from the nose to the mouth corners.
    wrinkle_d = np.maximum(np.abs(u) - 0.06, np.abs(np.abs(eye_v - 0.1) - 0.025) - 0.01)
    wrinkle = np.clip(f["wrinkle"], 0, 1) * 0.8 * cover(wrinkle_d)
    _paint(img, wrinkle, dark)
    line_d = np.abs(np.hypot(side - 0.05, v - f["mouth_y"] + 0.12) - f["mouth_half"] - 0.1) - 0.012
    line_d = np.maximum(line_d, np.abs(v - f["mouth_y"] + 0.04) - 0.1)
    smile_line = np.clip(f["smile_line"], 0, 1) * 0.6 * cover(line_d) * (side > f["mouth_half"])
    _paint(img, smile_line, dark)
    cue = eye.copy()
    for drawn in (brow, mouth, wrinkle, smile_line):
        np.maximum(cue, drawn, out=cue)

    # Occluders, each hiding the cues beneath it.
    fringe = f["hair"] * cover(np.maximum(_ellipse(u, head_v, f["face_a"] + 0.03, f["face_b"] + 0.03),
                                          v - f["hairline"] - 0.3 * (u / f["face_a"]) ** 2))
    rim = np.abs(eye_r - 0.15) - 0.015
    bridge = np.maximum(eye_u + 0.15, np.abs(eye_v + 0.03) - 0.015)
    glasses = f["glasses"] * cover(np.minimum(rim, bridge))
    sunglasses = f["sunglasses"] * cover(eye_r - 0.15)
    blob = f["blob"] * cover(np.hypot(u - f["blob_u"], v - f["blob_v"]) - f["blob_r"])
    for alpha, tone in ((fringe, f["hair_tone"]), (glasses, 0.1), (sunglasses, 0.08), (blob, f["blob_tone"])):
        _paint(img, alpha, tone)
        cue *= 1 - alpha

    # Camera: light from one side, contrast, noise.
    img *= 1 + f["light"] * (np.cos(f["light_dir"]) * x + np.sin(f["light_dir"]) * y)
    img = 0.5 + (np.clip(img, 0, 1) - 0.5) * f["contrast"]
    img += f["noise"] * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0, 1), cue


def _paint(img: np.ndarray, alpha: np.ndarray, tone) -> None:
    """Blend ``tone`` over ``img`` in place where ``alpha`` (coverage) says."""
    img += alpha * (tone - img)


def _ellipse(u, v, a, b):
    """Approximate signed distance to an ellipse with half-axes a, b
    (exact on the shorter axis, good enough for anti-aliasing elsewhere)."""
    # dtype: np.minimum of two Python floats is a float64 scalar, which would
    # turn the whole float32 image float64 (and twice as slow).
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * np.minimum(a, b, dtype=np.float32)


def _curve(u, v, u0, v0, half, tilt, bend, opening=None):
    """Approximate signed distance to a curved stroke region, and its centre line.

    The centre line runs over u0 ± half as v = v0 + tilt*t + bend*(1 - t²)
    with t = (u - u0)/half in [-1, 1]: ``tilt`` lowers the right end,
    ``bend`` lowers the middle (a frown for brows, a smile for a mouth).
    Around it the region is ``opening * sqrt(1 - t²)`` thick on each side,
    an open mouth; with no opening it is the line itself, to be thickened
    by subtracting half the stroke width from the distance.

    Returns (distance, centre line v at each pixel's u), both like ``u``.
    """
    t = np.clip((u - u0) / half, -1, 1)
    line = v0 + tilt * t + bend * (1 - t * t) - bend / 2
    across = np.abs(v - line)
    if opening is not None:
        across -= opening * np.sqrt(1 - t * t)
    # Vertical distance overstates the true one where the line slopes;
    # correcting by each face's mean slope is cheap and close enough.
    across /= np.sqrt(1 + (tilt / half) ** 2)
    along = np.abs(u - u0) - half
    # Distance to a rounded box made of the two: outside both, the corner.
    distance = (np.hypot(np.maximum(along, 0), np.maximum(across, 0))
                + np.minimum(np.maximum(along, across), 0))
    return distance, line
