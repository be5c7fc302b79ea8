"""fer.data.augment: shapes and order kept, seeded, and each distortion doing what it says."""

import numpy as np
import pytest

from fer.data.augment import Augmenter, mixup
from fer.data import to_float
from fer.data.synthetic import make_faces

OFF = dict(shift=0, flip=False, rotate=0, scale=0, brightness=0, contrast=0)


@pytest.fixture(scope="module")
def batch():
    images, labels, _ = make_faces(64, seed=0)
    return to_float(images), labels


def test_shape_dtype_range_and_input_untouched(batch):
    images, _ = batch
    before = images.copy()
    out = Augmenter(seed=0)(images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert images.min() <= out.min() and out.max() <= images.max()
    np.testing.assert_array_equal(images, before)


def test_deterministic_for_a_seed(batch):
    images, _ = batch
    a, b = Augmenter(seed=7), Augmenter(seed=7)
    first = a(images)
    np.testing.assert_array_equal(first, b(images))
    assert not np.array_equal(first, a(images))   # the next batch gets new draws
    assert not np.array_equal(first, Augmenter(seed=8)(images))


def test_each_image_stays_with_its_label():
    """Augmenting must not reorder the batch (labels[i] must still describe
    output[i]): image i is a flat grey level g[i] with faint noise, which
    the warps (with edge padding) keep, so output i must still average g[i]."""
    grey = np.linspace(0.1, 0.9, 64, dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 0.01, (64, 1, 48, 48)).astype(np.float32)
    out = Augmenter(brightness=0, contrast=0, seed=1)(grey[:, None, None, None] + noise)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), grey, atol=0.003)


def test_identity_is_a_copy(batch):
    images, _ = batch
    identity = Augmenter.identity()
    assert identity.is_identity and not Augmenter().is_identity
    out = identity(images)
    np.testing.assert_array_equal(out, images)
    assert out is not images


def test_flip_mirrors_about_half(batch):
    images, _ = batch
    out = Augmenter(**{**OFF, "flip": True}, seed=0)(images)
    flipped = np.array([np.allclose(o, i[..., ::-1]) for o, i in zip(out, images)])
    kept = np.array([np.allclose(o, i) for o, i in zip(out, images)])
    assert (flipped | kept).all() and 16 < flipped.sum() < 48


def dot_images(n, col=24):
    """A smooth spot (Gaussian, sigma 1.5 pixels) at row 23.5, the centre
    line, and column ``col``: smooth, so that resampling keeps its centre."""
    rows, cols = np.indices((48, 48))
    spot = np.exp(-((rows - 23.5) ** 2 + (cols - col) ** 2) / (2 * 1.5 ** 2)).astype(np.float32)
    return np.tile(spot, (n, 1, 1, 1))


def centre_of_mass(images):
    weights = images[:, 0]
    rows, cols = np.indices(weights.shape[1:])
    total = weights.sum(axis=(1, 2))
    return (weights * rows).sum(axis=(1, 2)) / total, (weights * cols).sum(axis=(1, 2)) / total


def test_shift_moves_by_at_most_shift_pixels():
    out = Augmenter(**{**OFF, "shift": 3}, seed=0)(dot_images(200))
    rows, cols = centre_of_mass(out)
    assert np.abs(rows - 23.5).max() <= 3.01 and np.abs(cols - 24).max() <= 3.01
    assert np.abs(cols - 24).max() > 2   # and does move
    mass = out.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(mass, mass[0], rtol=1e-3)   # and keeps the mass


def test_rotation_and_scale_keep_the_centre_and_move_the_edge():
    images = dot_images(200, col=40)   # 16.5 pixels right of the centre (23.5, 23.5)
    out = Augmenter(**{**OFF, "rotate": 10, "scale": 0.1}, seed=0)(images)
    rows, cols = centre_of_mass(out)
    radius = np.hypot(rows - 23.5, cols - 23.5)
    angle = np.degrees(np.arctan2(rows - 23.5, cols - 23.5))
    assert (radius > 16.5 * 0.9 - 0.05).all() and (radius < 16.5 * 1.1 + 0.05).all()
    assert radius.max() - radius.min() > 2   # and zooms
    assert np.abs(angle).max() <= 10.5 and np.abs(angle).max() > 5


def test_brightness_and_contrast():
    images = np.random.default_rng(0).uniform(0.3, 0.7, (200, 1, 48, 48)).astype(np.float32)
    out = Augmenter(**{**OFF, "brightness": 0.1, "contrast": 0.2}, seed=0)(images)
    value_range = images.max() - images.min()
    mean_shift = out.mean(axis=(1, 2, 3)) - images.mean(axis=(1, 2, 3))
    assert np.abs(mean_shift).max() <= 0.1 * value_range + 1e-4
    ratio = out.std(axis=(1, 2, 3)) / images.std(axis=(1, 2, 3))
    assert ratio.min() >= 0.8 - 1e-3 and ratio.max() <= 1.2 + 1e-3 and ratio.max() - ratio.min() > 0.2


def test_cutout_sets_one_square_per_image_to_the_image_mean():
    images = np.random.default_rng(0).uniform(0.2, 0.8, (300, 1, 48, 48)).astype(np.float32)
    out = Augmenter(**OFF, cutout=10, seed=0)(images)
    sides = []
    for before, after in zip(images[:, 0], out[:, 0]):
        rows, cols = np.nonzero(np.abs(before - after) > 1e-6)   # (the identity warp is exact to 1 ulp)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert height * width == len(rows)                   # one filled rectangle...
        np.testing.assert_allclose(after[rows, cols], before.mean(), rtol=1e-5)   # ...of the mean
        sides += [height, width]
    # the centre is anywhere: whole 10-pixel squares inside, clipped ones at the borders
    assert max(sides) == 10 and min(sides) <= 5
    assert Augmenter(**OFF, seed=0)(images).tobytes() == images.tobytes()


def test_crop_cuts_a_window_of_each_image_at_a_random_place():
    images = np.random.default_rng(0).random((200, 2, 48, 48)).astype(np.float32)
    out = Augmenter(**OFF, crop=44, seed=0)(images)
    assert out.shape == (200, 2, 44, 44) and out.dtype == np.float32
    offsets = []
    for image, crop in zip(images, out):
        found = [(y, x) for y in range(5) for x in range(5)   # (the identity warp is exact to 1 ulp)
                 if np.allclose(image[:, y:y + 44, x:x + 44], crop, rtol=0, atol=1e-6)]
        assert len(found) == 1                    # one window, both channels from one place
        offsets.append(found[0])
    assert {y for y, _ in offsets} == {x for _, x in offsets} == set(range(5))  # every offset 0..4 occurs
    with pytest.raises(ValueError, match="crop 50 is larger"):
        Augmenter(**OFF, crop=50)(images)


def test_mixup_blends_pairs_and_returns_both_labels():
    images = np.random.default_rng(0).random((32, 1, 8, 8)).astype(np.float32)
    labels = np.arange(32) % 7
    mixed, first, second, lam = mixup(images, labels, 0.4, np.random.default_rng(1))
    assert 0.5 <= lam <= 1 and mixed.dtype == np.float32 and (first == labels).all()
    partners = np.array([np.argmin(np.abs(mixed[i] - lam * images[i] - (1 - lam) * images).sum(axis=(1, 2, 3)))
                         for i in range(32)])
    np.testing.assert_array_equal(labels[partners], second)
    np.testing.assert_allclose(mixed, lam * images + (1 - lam) * images[partners], atol=1e-6)
    assert sorted(partners) == list(range(32))                # a permutation of the batch
    with pytest.raises(ValueError, match="alpha"):
        mixup(images, labels, 0.0, np.random.default_rng(1))


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="N, C, H, W"):
        Augmenter()(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError):
        Augmenter(scale=1.5)
    with pytest.raises(ValueError):
        Augmenter(cutout=-1)
