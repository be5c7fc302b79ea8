"""Saliency maps (fer.explain.saliency_maps), their sanity checks (fer.explain.sanity) and the
command line (fer.saliency).

Exact checks on models whose gradients are known in closed form (a linear
model, a conv -> ReLU -> linear net for Grad-CAM), the guided-ReLU rule against
its formula, integrated gradients' completeness, and then the three sanity
checks on a small CNN trained for a few seconds on the synthetic faces, where
the expression cues' masks are known.  Ends with smoke tests of the command line.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor, nn
from fer import saliency as command
from fer.data import to_float
from fer.data.images import resize_bilinear
from fer.data.synthetic import make_faces
from fer.errors import UsageError
from fer.explain import layers as L
from fer.explain import options, sanity
from fer.explain import saliency_maps as S

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 1, 48, 48), dtype=np.float32)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, small_cnn_config, one_thread_env):
    """A run folder of the small CNN after 4 epochs of Adam on 1,575 synthetic faces,
    trained by ``python -m fer.train`` itself (about 12 s of one core; 55-60% test
    accuracy).  In a subprocess with one BLAS thread: in this process BLAS may
    already run several threads, which on a busy two-core machine made the same
    training ten times slower."""
    run = tmp_path_factory.mktemp("saliency") / "run"
    argv = ["--model", "cnn", "--data", "synthetic", "--synthetic-size", "2000", "--epochs", "4",
            "--batch-size", "50", "--lr", "3e-3", "--optimizer", "adam", "--schedule", "none",
            "--augment", "none", "--label-smoothing", "0", "--weight-decay", "0",
            "--model-config", json.dumps(small_cnn_config), "--no-progress", "--out", str(run)]
    done = subprocess.run([sys.executable, "-m", "fer.train", *argv], env=one_thread_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return run


@pytest.fixture(scope="module")
def trained(trained_run):
    """(model, test images float, labels, masks): the trained small CNN and 70 fresh
    synthetic faces.  The sanity checks' margins held for training seeds 0, 1 and 2."""
    from fer.training.runs import load_model

    model, _ = load_model(trained_run)
    test_x, test_y, test_masks = make_faces(70, seed=1)
    test = to_float(test_x)
    accuracy = (L.model_logits(model, test).argmax(axis=1) == test_y).mean()
    assert accuracy > 0.4, f"the fixture model did not learn (test accuracy {accuracy:.0%})"
    return model, test, test_y, test_masks


# ------------------------------------------------------------------ exact cases
def test_vanilla_of_a_linear_model_is_the_absolute_weights_of_the_predicted_class():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2304, 7))
    x = images(5)
    predicted = L.model_logits(model, x).argmax(axis=1)
    weights = np.abs(model[1].weight.data).reshape(7, 48, 48)
    np.testing.assert_array_equal(S.vanilla(model, x), weights[predicted])
    np.testing.assert_array_equal(S.saliency_maps(model, x, "vanilla", target=2), weights[[2] * 5])


def test_one_batched_backward_equals_one_image_at_a_time(small_cnn):
    model, x = small_cnn(), images(4)
    together = S.vanilla(model, x)
    alone = np.concatenate([S.vanilla(model, x[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-8)


def test_explaining_leaves_mode_parameters_and_gradients_as_they_were(small_cnn):
    model = small_cnn().train()
    S.vanilla(model, images(2))
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_guided_relu_forward_and_backward_follow_the_formula(slope):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    gy = rng.standard_normal((3, 5)).astype(np.float32)
    y = S.GuidedReLU.apply(x, slope)
    np.testing.assert_array_equal(y.data, np.where(x.data > 0, x.data, slope * x.data))
    y.backward(gy)
    expected = gy * np.where(x.data > 0, 1, slope) * (gy > 0)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6)


def test_guided_backprop_gates_negative_gradients_and_removes_its_hooks(small_cnn):
    model, x = small_cnn(), images(3)
    plain = S.vanilla(model, x)
    guided = S.guided_backprop(model, x)
    assert not np.allclose(plain, guided)
    assert all(not m._forward_hooks for m in model.modules())
    np.testing.assert_array_equal(S.vanilla(model, x), plain)  # ordinary backward again


def test_guided_backprop_needs_relu_modules():
    with pytest.raises(ValueError, match="ReLU"):
        S.guided_backprop(nn.Sequential(nn.Flatten(), nn.Linear(2304, 7)), images(1))


def test_gradcam_equals_the_formula_on_conv_relu_linear():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 48 * 48, 7))
    x = images(2)
    cam = S.gradcam(model, x, layer="1")
    a = np.maximum(F.conv2d(Tensor(x), model[0].weight, model[0].bias, padding=1).data, 0)
    target = L.model_logits(model, x).argmax(axis=1)
    # d logit_c / d A = the c-th row of the dense weights, reshaped to (K, h, w)
    alpha = model[3].weight.data[target].reshape(2, 3, 48 * 48).mean(axis=2)
    expected = np.maximum((alpha[:, :, None, None] * a).sum(axis=1), 0)
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-6)


def test_gradcam_is_upsampled_to_the_image_and_non_negative(small_cnn):
    model, x = small_cnn(), images(3)
    for layer in (None, "conv1", "conv2", "4"):
        cam = S.saliency_maps(model, x, "gradcam", layer=layer)
        assert cam.shape == (3, 48, 48) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() > 0
    assert S.default_gradcam_layer(model) is model[7]  # the ReLU of the last conv block


def test_resize_bilinear_matches_pytorch_align_corners_false():
    out = resize_bilinear(np.array([[[0.0, 1.0], [2.0, 3.0]]]), (4, 4))
    np.testing.assert_allclose(out[0, 0], [0, 0.25, 0.75, 1])
    np.testing.assert_allclose(out[0, 1], [0.5, 0.75, 1.25, 1.5])
    np.testing.assert_allclose(resize_bilinear(np.full((1, 3, 3), 2.0), (48, 48)), 2.0)


def test_smoothgrad_without_noise_is_vanilla(small_cnn):
    model, x = small_cnn(), images(2)
    np.testing.assert_allclose(S.smoothgrad(model, x, noise_level=0.0, samples=3), S.vanilla(model, x),
                               rtol=1e-6)


def test_integrated_gradients_add_up_to_the_score_difference(trained):
    model, x = trained[0], trained[1][:3]
    attributions = S.ig_attributions(model, x, steps=256)
    logits, base = L.model_logits(model, x), L.model_logits(model, np.zeros_like(x))
    target = logits.argmax(axis=1)
    difference = logits[np.arange(3), target] - base[np.arange(3), target]
    # the midpoint rule on a piecewise-linear path: at 64 steps up to 7% off on a face whose
    # difference is small, at 256 steps under 1%; a missing (x - x') factor or 1/steps
    # would be off by far more
    np.testing.assert_allclose(attributions.sum(axis=(1, 2, 3)), difference, rtol=0.02)


def test_layer_names_and_errors(small_cnn):
    model = small_cnn()
    assert L.find_layer(model, "conv2") is model[5] and L.find_layer(model, "0") is model[0]
    with pytest.raises(ValueError, match="conv1..conv2"):
        L.find_layer(model, "conv3")
    with pytest.raises(ValueError, match="no layer 'fc'"):
        L.find_layer(model, "fc")
    with pytest.raises(ValueError, match="unknown saliency method"):
        S.saliency_maps(model, images(1), "lime")
    with pytest.raises(ValueError, match="0..6"):
        S.vanilla(model, images(1), target=7)
    with pytest.raises(ValueError, match="Conv2d"):
        S.gradcam(nn.Sequential(nn.Flatten(), nn.Linear(2304, 7)), images(1))


# ------------------------------------------------------------- sanity helpers
def test_rank_correlation_handles_ties_and_order():
    np.testing.assert_array_equal(sanity.rankdata(np.array([3.0, 1.0, 3.0, 0.0])), [2.5, 1, 2.5, 0])
    a = np.random.default_rng(0).random(100)
    assert sanity.spearman(a, a ** 3) == pytest.approx(1.0)
    assert sanity.spearman(a, -a) == pytest.approx(-1.0)
    assert sanity.spearman(a, np.zeros(100)) == 0.0


def test_randomized_copy_reinitialises_everything_and_leaves_the_original(small_cnn):
    model = small_cnn()
    model[1].running_mean[...] = 3.0
    before = model.state_dict()
    twin = sanity.randomized_copy(model, seed=1)
    after, changed = model.state_dict(), twin.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert not np.array_equal(changed["0.weight"], before["0.weight"])
    assert (changed["1.running_mean"] == 0).all() and (changed["1.running_var"] == 1).all()
    # seeded like the model's own construction, the copy must still not redraw its initial weights
    assert not np.array_equal(sanity.randomized_copy(small_cnn(0), seed=0).state_dict()["0.weight"],
                              small_cnn(0).state_dict()["0.weight"])


def test_mask_share_of_a_perfect_and_of_a_flat_map():
    masks = np.zeros((2, 1, 48, 48), bool)
    masks[:, :, 10:20, 10:30] = True
    perfect = sanity.mask_check(masks[:, 0].astype(np.float32), masks)
    flat = sanity.mask_check(np.ones((2, 48, 48), np.float32), masks)
    assert perfect.share_inside == pytest.approx(1.0) and perfect.passed
    assert flat.share_inside == pytest.approx(200 / 2304) == pytest.approx(flat.uniform_share)
    assert not flat.passed


# --------------------------------------------- sanity checks on a trained model
@pytest.mark.parametrize("method", ["vanilla", "gradcam"])
def test_trained_model_passes_the_sanity_checks(trained, method):
    model, x, _, masks = trained
    lines = []
    found = sanity.run_checks(model, x, masks, (method,), echo=lines.append)[method]
    print("\n".join(lines))
    assert found["randomisation"].correlation < sanity.RANDOMISATION_THRESHOLD
    assert found["deletion"].saliency_auc < found["deletion"].random_auc
    assert found["masks"].share_inside > found["masks"].uniform_share
    assert all(result.passed for result in found.values())


# ------------------------------------------------------------------- the CLI
def test_cli_writes_a_grid_per_method_and_the_sanity_numbers(trained_run, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "maps"
    assert command.main([str(trained_run), "--method", "vanilla,gradcam", "--per-class", "1", "--sanity",
                         "--sanity-images", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "sanity.json").read_text())
    assert set(report) == {"vanilla", "gradcam"}
    for method in ("vanilla", "gradcam"):
        with Image.open(out / f"saliency-{method}.png") as grid:   # one row of face, map, overlay per image
            assert grid.format == "PNG" and grid.height > 1.5 * grid.width
        checks = report[method]
        assert set(checks) == {"randomisation", "deletion", "masks"}
        correlation = checks["randomisation"]["correlation"]
        assert f"{method:10s} randomisation: rank correlation trained vs random weights {correlation:.3f}" in printed
        assert checks["randomisation"]["passed"] == (correlation < checks["randomisation"]["threshold"])
        deletion = checks["deletion"]
        assert deletion["fractions"][0] == 0 and deletion["fractions"][-1] == 1
        assert deletion["saliency_curve"][0] == pytest.approx(deletion["random_curve"][0])   # nothing removed yet
        assert len(checks["randomisation"]["per_image"]) == 7
    with Image.open(out / "deletion.png") as curves:
        assert curves.format == "PNG"


def test_cli_explains_a_users_colour_photo_of_any_size(trained_run, tmp_path):
    from PIL import Image

    photo = tmp_path / "me.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 70, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "maps"
    assert command.main([str(trained_run), "--input", str(photo), "--method", "smoothgrad", "--samples", "2",
                         "--out", str(out)]) == 0
    with Image.open(out / "saliency-smoothgrad.png") as grid:   # one image: face, map and overlay side by side
        assert grid.width > 1.5 * grid.height
    with pytest.raises(UsageError, match="unknown"):
        command.main([str(trained_run), "--input", str(photo), "--method", "lime"])


def test_help_imports_no_engine(imported_after, one_thread_env):
    parsers = "import fer.saliency, fer.filters\nfer.saliency.build_parser(); fer.filters.build_parser()"
    assert imported_after(parsers) == "[]"
    libraries = "import fer.explain.saliency_maps, fer.explain.sanity, fer.explain.features, fer.explain.plots"
    loaded = imported_after(libraries)       # numba with the first kernel, matplotlib with the first figure
    assert "minigrad" in loaded and "numba" not in loaded and "matplotlib" not in loaded
    for module, listed in (("fer.saliency", ",".join(options.METHODS)), ("fer.filters", "--tv-weight")):
        shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                               cwd=ROOT, env=one_thread_env, timeout=60)
        assert shown.returncode == 0 and shown.stdout.startswith(f"usage: python -m {module}")
        assert listed in shown.stdout


# ------------------------------------------- comparing only what the model sees
def cropped_cnn(seed):
    """A small CNN behind a 40x40 centre crop of 48x48 faces: 704 border pixels it never sees."""
    from fer.models.networks import CentreCrop

    minigrad.manual_seed(seed)
    return nn.Sequential(CentreCrop(40), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 20 * 20, 7))


def test_the_border_of_a_crop_no_longer_counts():
    model = cropped_cnn(0)
    images = np.random.default_rng(0).random((3, 1, 48, 48), dtype=np.float32)
    result = sanity.randomization_check(model, images, "vanilla", seed=0)
    assert (result.visible, result.pixels) == (40 * 40, 48 * 48)
    assert "over the 1600 of 2304 pixels the model sees" in result.summary()
    # the same numbers by hand, on the crop alone; the border's shared zeros would inflate them
    maps = sanity.saliency_maps(model, images, "vanilla")
    target = model.eval()(minigrad.Tensor(images)).data.argmax(axis=1)
    twin = sanity.saliency_maps(sanity.randomized_copy(model, 0), images, "vanilla", target=target)
    assert (maps[:, :4] == 0).all() and (twin[:, :, -4:] == 0).all()
    crop = np.s_[4:44, 4:44]
    by_hand = [sanity.spearman(a[crop], b[crop]) for a, b in zip(maps, twin)]
    np.testing.assert_allclose(result.per_image, by_hand)
    whole = np.mean([sanity.spearman(a, b) for a, b in zip(maps, twin)])
    assert whole > result.correlation + 0.1
    assert result.ssim == pytest.approx(np.mean([sanity.ssim(np.abs(a[crop]), np.abs(b[crop]))
                                                 for a, b in zip(maps, twin)]))


def test_ssim_of_equal_scaled_and_unrelated_maps():
    rng = np.random.default_rng(0)
    a = rng.random((20, 20))
    assert sanity.ssim(a, a) == pytest.approx(1.0)
    assert sanity.ssim(a, 3 * a) == pytest.approx(1.0)  # each map is scaled by its maximum
    assert abs(sanity.ssim(a, rng.random((20, 20)))) < 0.2
    assert sanity.ssim(a, 1 - a) < 0


def test_cascading_randomisation_redraws_layers_from_the_top():
    model = cropped_cnn(1)
    images = np.random.default_rng(1).random((2, 1, 48, 48), dtype=np.float32)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    result = sanity.cascading_randomization(model, images, "vanilla", seed=0)
    assert result.layers == ["5", "1"]  # the linear layer first, then the convolution
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())
    # the last step has re-drawn every layer: the full randomisation check's numbers
    full = sanity.randomization_check(model, images, "vanilla", seed=0)
    assert result.correlation[-1] == pytest.approx(full.correlation)
    assert result.ssim[-1] == pytest.approx(full.ssim)
    assert "cascade: rank correlation as layers are re-drawn from the top: 5 " in result.summary()
