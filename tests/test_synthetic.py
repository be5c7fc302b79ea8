"""fer.data.synthetic: shapes, balance, determinism, and masks that mark the cues."""

import numpy as np
import pytest

from fer.data import synthetic
from fer.data.synthetic import make_faces


@pytest.fixture(scope="module")
def faces():
    return make_faces(140, seed=0)


def test_shapes_types_and_balance(faces):
    images, labels, masks = faces
    assert images.shape == (140, 1, 48, 48) and images.dtype == np.uint8
    assert labels.shape == (140,) and labels.dtype == np.int64
    assert masks.shape == (140, 1, 48, 48) and masks.dtype == bool
    assert np.bincount(labels, minlength=7).tolist() == [20] * 7
    assert make_faces(10)[1].tolist() != sorted(make_faces(10)[1].tolist())   # shuffled
    # Real pictures, not blanks: a spread of grey levels in every image.
    assert (images.reshape(140, -1).std(axis=1) > 10).all()


def test_any_size_and_count():
    images, labels, masks = make_faces(9, seed=3, size=64)
    assert images.shape == masks.shape == (9, 1, 64, 64)
    assert np.bincount(labels, minlength=7).max() - np.bincount(labels, minlength=7).min() <= 1
    assert make_faces(0)[0].shape == (0, 1, 48, 48)


def test_deterministic_for_a_seed(faces):
    again = make_faces(140, seed=0)
    for a, b in zip(faces, again):
        np.testing.assert_array_equal(a, b)
    other = make_faces(140, seed=1)
    assert not np.array_equal(faces[0], other[0])


def test_masks_cover_small_cue_regions(faces):
    _, _, masks = faces
    area = masks.reshape(len(masks), -1).mean(axis=1)
    # Eyes, brows and mouth: a few percent of the picture; occluders may hide
    # some, so a few faces can show almost none.
    assert 0.01 < np.median(area) < 0.12
    assert (area > 0).mean() > 0.9


def render_one(params, label, seed=0):
    """Render one face's parameters with ``label``'s expression swapped in."""
    chunk = {name: np.copy(values[:1, None, None]) for name, values in params.items()}
    expression = synthetic._sample_faces(np.array([label]), np.random.default_rng(seed))
    for name in synthetic._EXPRESSION:
        chunk[name] = expression[name][:1, None, None]
    chunk["noise"][:] = 0
    chunk["blob"][:] = chunk["glasses"][:] = chunk["sunglasses"][:] = 0
    return synthetic._render(chunk, 48, np.random.default_rng(0))


@pytest.mark.parametrize("label", [0, 1, 2, 3, 4, 5])
def test_expressions_change_only_the_masked_cues(label):
    """The same face made neutral and made ``label``: the pictures differ,
    and only where one of the two cue masks says a cue was drawn (grown by a
    pixel for anti-aliased edges)."""
    params = synthetic._sample_faces(np.array([6]), np.random.default_rng(5))
    params["hairline"][:] = -0.9   # keep the fringe off the brows
    neutral, neutral_cue = render_one(params, 6)
    expressive, expressive_cue = render_one(params, label)
    changed = np.abs(expressive - neutral)[0] > 0.02
    assert changed.sum() >= 10
    cues = (neutral_cue[0] > 0.01) | (expressive_cue[0] > 0.01)
    grown = cues.copy()
    for axis in (0, 1):
        for shift in (-1, 1):
            grown |= np.roll(cues, shift, axis)
    assert not (changed & ~grown).any()


def test_expression_geometry_follows_the_table():
    labels = np.repeat(np.arange(7), 400)
    p = synthetic._sample_faces(labels, np.random.default_rng(0))
    mean = {name: np.array([p[name][labels == k].mean() for k in range(7)])
            for name in ("smile", "eye_open", "mouth_open", "brow_inner")}
    angry, disgust, fear, happy, sad, surprise, neutral = range(7)
    assert mean["smile"][happy] > mean["smile"][neutral] > mean["smile"][sad]
    assert mean["mouth_open"][surprise] > mean["mouth_open"][fear] > mean["mouth_open"][neutral]
    assert mean["eye_open"][surprise] > mean["eye_open"][neutral] > mean["eye_open"][disgust]
    assert mean["brow_inner"][angry] > mean["brow_inner"][neutral] > mean["brow_inner"][sad]


def test_drawing_stays_float32():
    """A float64 scalar slipped into a shape promotes the whole image to
    float64 and halves the speed: every primitive must keep float32."""
    u = np.linspace(-1, 1, 2 * 48 * 48, dtype=np.float32).reshape(2, 48, 48)
    assert synthetic._ellipse(u, u, 0.07, 0.025).dtype == np.float32
    distance, line = synthetic._curve(u, u, 0, 0.4, 0.2, 0.0, 0.1, opening=np.float32(0.05))
    assert distance.dtype == line.dtype == np.float32
    params = synthetic._sample_faces(np.arange(2), np.random.default_rng(0))
    assert all(values.dtype == np.float32 for values in params.values())
    chunk = {name: values[:, None, None] for name, values in params.items()}
    image, cue = synthetic._render(chunk, 48, np.random.default_rng(0))
    assert image.dtype == cue.dtype == np.float32
