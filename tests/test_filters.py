"""Filter visualisation (fer.explain.features): the ascent objective and its gradient, the
regularisers, measured receptive fields, top patches, feature maps, and the command line
(fer.filters).

A small randomly initialised CNN is enough here: every property tested holds
for any weights.
"""
import json

import numpy as np
import pytest
from PIL import Image

import minigrad.functional as F
from minigrad import Tensor
from fer import filters as command
from fer.data.images import gaussian_blur
from fer.errors import UsageError
from fer.explain import features as FL
from fer.explain.layers import explaining
from fer.explain.options import ASCENT_DEFAULTS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(small_cnn):
    return small_cnn(0)  # conv1 is "0", conv2 is "5"


def write_run(folder, model, config, synthetic_size=112):
    """A run folder as fer.training.runs.load_model and fer.training.runs.load_data read it (weights
    untrained: every property tested here holds for any weights)."""
    from minigrad.checkpoint import save_checkpoint
    from fer.models.networks import architecture
    from fer.training.runs import write_json

    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.npz", model, {"architecture": architecture("cnn", **config)})
    write_json(folder / "config.json", {"settings": {"data": "synthetic", "synthetic_size": synthetic_size,
                                                     "val_fraction": 0.1, "skip_bad_rows": False}})
    return folder


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 1, 48, 48), dtype=np.float32)


def test_objective_gradient_matches_finite_differences(model):
    # conv1's output is linear in the input, so a central difference is exact up to rounding
    x, filters = images(2), np.array([3, 6])
    direction = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    with explaining(model):
        _, grad = FL.filter_objective(model, model[0], x, filters)
        up, _ = FL.filter_objective(model, model[0], x + 0.1 * direction, filters, gradient=False)
        down, _ = FL.filter_objective(model, model[0], x - 0.1 * direction, filters, gradient=False)
    np.testing.assert_allclose((grad * direction).sum(axis=(1, 2, 3)), (up - down) / 0.2, rtol=1e-3, atol=1e-6)


def test_one_backward_serves_each_image_its_own_filter(model):
    x, filters = images(2), np.array([3, 11])
    with explaining(model):
        together = FL.filter_objective(model, model[5], x, filters)
        alone = [FL.filter_objective(model, model[5], x[i:i + 1], filters[i:i + 1]) for i in range(2)]
    np.testing.assert_allclose(together[0], [a[0][0] for a in alone], rtol=1e-5)
    np.testing.assert_allclose(together[1], np.concatenate([a[1] for a in alone]), rtol=1e-4, atol=1e-9)


def test_objective_is_each_images_own_filter_mean(model):
    x = images(3)
    with explaining(model):
        activation, _ = FL.filter_objective(model, model[0], x, np.array([0, 5, 7]), gradient=False)
    conv = F.conv2d(Tensor(x), model[0].weight, model[0].bias, padding=2).data
    np.testing.assert_allclose(activation, conv[[0, 1, 2], [0, 5, 7]].mean(axis=(1, 2)), rtol=1e-5)


def test_gradient_ascent_raises_every_target_activation(model):
    for layer in ("conv1", "conv2"):
        result = FL.ascend(model, layer, range(6), steps=24)
        assert result.images.shape == (6, 1, 48, 48) and result.images.dtype == np.float32
        assert 0 <= result.images.min() and result.images.max() <= 1
        gain = result.activation - result.start_activation
        assert (gain > 0).all() and gain.mean() > 0.1, (layer, gain)


def test_ascent_beats_real_images_on_early_filters(model):
    real = FL.real_activations(model, "conv1", images(64))
    result = FL.ascend(model, "conv1", range(4), steps=48, start="noise")
    assert np.nanmedian(FL.achieved_ratio(result, real)) > 1


def test_tv_gradient_matches_finite_differences():
    x = np.random.default_rng(0).random((1, 1, 6, 6))

    def tv(a):
        return np.abs(np.diff(a, axis=-2)).sum() + np.abs(np.diff(a, axis=-1)).sum()

    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (tv(x + step) - tv(x - step)) / 2e-6
    np.testing.assert_allclose(FL.tv_gradient(x), numeric, atol=1e-5)


def test_gaussian_blur_keeps_flat_images_and_smooths_noise():
    flat = np.full((2, 1, 10, 10), 0.3, np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 1.0), flat, rtol=1e-6)
    noise = images(1)
    assert gaussian_blur(noise, 1.0).std() < 0.5 * noise.std()
    np.testing.assert_array_equal(gaussian_blur(noise, 0), noise)


def test_receptive_fields_are_measured_from_the_gradient(model):
    # 5x5 conv -> 5; then a 2x2 pool (6) and a 3x3 conv at stride 2 -> 6 + 2 * 2 = 10
    assert FL.receptive_field(model, "conv1") == (5, 5)
    assert FL.receptive_field(model, "conv2") == (10, 10)


def test_top_patches_come_from_the_strongest_images(model):
    x = images(20)
    x[7, :, 20:30, 20:30] = 1.0  # a bright square excites some filter most
    real = FL.real_activations(model, "conv1", x)
    filters = [int(real.peak.max(axis=0).argmax())]
    patches = FL.top_patches(x, real, filters, (5, 5), k=3)
    assert patches.shape == (1, 3, 5, 5)
    best = int(real.peak[:, filters[0]].argmax())
    i, j = real.where[best, filters[0]]
    top, left = int(np.clip(i + 0.5 - 2.5, 0, 43).round()), int(np.clip(j + 0.5 - 2.5, 0, 43).round())
    np.testing.assert_array_equal(patches[0, 0], x[best, 0, top:top + 5, left:left + 5])


def test_feature_maps_are_the_layers_output(model):
    x = images(1)
    maps = FL.feature_maps(model, "conv1", x[0])
    np.testing.assert_allclose(maps, F.conv2d(Tensor(x), model[0].weight, model[0].bias, padding=2).data[0],
                               rtol=1e-5, atol=1e-6)
    assert FL.feature_maps(model, "conv2", x[0, 0]).shape == (16, 24, 24)


def test_achieved_ratio_is_relative_to_the_real_images():
    real = FL.RealActivations(mean=np.array([[1.0, -2.0], [3.0, -2.0]]), peak=None, where=None, grid=(1, 1))
    result = FL.AscentResult("x", np.array([0, 1]), None, np.array([5.0, 0.0]), None)
    ratio = FL.achieved_ratio(result, real)
    assert ratio[0] == pytest.approx(3.0)  # (5 - 2) / (3 - 2)
    assert np.isnan(ratio[1])               # every real image gives the same value


def test_the_command_offers_the_ascent_defaults():
    args = command.build_parser().parse_args(["RUN"])
    assert {key: getattr(args, key) for key in ASCENT_DEFAULTS} == ASCENT_DEFAULTS
    assert (args.split, args.checkpoint, args.filters) == (None, "best", None)


def test_parse_filters():
    assert command.parse_filters("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(Exception, match="bad filter list"):
        command.parse_filters("a-b")


def test_cli_writes_ascent_top_and_feature_map_grids(model, small_cnn_config, tmp_path, capsys):
    run = write_run(tmp_path / "run", model, small_cnn_config)
    out = tmp_path / "filters"
    assert command.main([str(run), "--layer", "conv1,5", "--filters", "0-3", "--steps", "4", "--real", "40",
                         "--top", "3", "--out", str(out)]) == 0
    for name in ("conv1", "5"):
        for kind in ("ascent", "featuremaps"):      # one row of the 4 filters
            with Image.open(out / f"{kind}-{name}.png") as grid:
                assert grid.format == "PNG" and grid.width > 1.5 * grid.height
        with Image.open(out / f"top-{name}.png") as rows:   # a row of 3 patches per filter
            assert rows.format == "PNG"
    report = json.loads((out / "filters.json").read_text())
    assert report["5"]["filters"] == [0, 1, 2, 3] and report["5"]["receptive_field"] == [10, 10]
    for numbers in report.values():    # the ratio is the achieved activation against the real images'
        activation, typical, best = (np.array(numbers[k]) for k in ("activation", "real_mean", "real_best"))
        np.testing.assert_allclose(numbers["ratio"], (activation - typical) / (best - typical), rtol=1e-5)
        assert len(numbers["history"]) == 1 and len(numbers["start_activation"]) == 4   # 4 steps: logged at 0
    assert "conv1: 4 filters" in capsys.readouterr().out
    with pytest.raises(UsageError, match="0..7"):
        command.main([str(run), "--layer", "conv1", "--filters", "6-9", "--steps", "1", "--out", str(out)])
    with pytest.raises(UsageError, match="no layer"):
        command.main([str(run), "--layer", "fc9", "--out", str(out)])
