"""The accuracy study's recipe options (fer.training.recipe, averaging, losses, distill; the
augmentations and the two-scale ten-crop): each changes what it should, on small seeded data."""
import json

import numpy as np
import pytest

import minigrad
from minigrad import nn, optim
from minigrad.checkpoint import load_checkpoint, save_checkpoint

from fer.data.augment import Augmenter, cutmix
from fer.data.images import resize_images
from fer.evaluation.inference import predict_proba, tta_views
from fer.models import presets
from fer.models.networks import architecture, from_architecture
from fer.training import recipe
from fer.training.averaging import WeightAverage, ema_decay, swa_start_epoch
from fer.training.distill import soft_targets, teacher_logits
from fer.training.losses import balanced_class_weights, distillation_loss, weighted_cross_entropy

pytestmark = pytest.mark.usefixtures("one_thread")


def small_bn_model():
    minigrad.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


# ------------------------------------------------------------------ weight averaging
def test_the_ema_after_three_steps_is_the_hand_computed_average_of_weights_and_batch_norm_statistics():
    model = small_bn_model()
    states = [model.state_dict()]
    ema = WeightAverage(model, decay=0.9)
    for step in range(3):
        for p in model.parameters():
            p.data += np.float32(step + 1)
        for _, buf in model.named_buffers():
            if np.issubdtype(buf.dtype, np.floating):
                buf += np.float32(0.5)
        ema.update(model)
        states.append(model.state_dict())
    d1, d2, d3 = (ema_decay(0.9, t) for t in (1, 2, 3))
    assert (d1, d2, d3) == (2 / 11, 3 / 12, 4 / 13)  # the warm-up, below 0.9
    for key in states[0]:
        if not np.issubdtype(states[0][key].dtype, np.floating):
            continue
        s0, s1, s2, s3 = (s[key].astype(np.float64) for s in states)
        expected = ((s0 * d1 + (1 - d1) * s1) * d2 + (1 - d2) * s2) * d3 + (1 - d3) * s3
        np.testing.assert_allclose(ema.shadow[key], expected, rtol=1e-5, err_msg=key)
    with ema.applied(model):  # lent to the model, then its own state comes back
        np.testing.assert_array_equal(model.state_dict()["0.weight"], ema.shadow["0.weight"])
    np.testing.assert_array_equal(model.state_dict()["0.weight"], states[3]["0.weight"])


def test_swa_is_the_plain_mean_of_the_states_it_saw_from_the_last_fraction_of_the_epochs():
    model = small_bn_model()
    swa, seen = WeightAverage(model), []
    for step in range(4):
        for p in model.parameters():
            p.data *= np.float32(1.5)
        swa.update(model)
        seen.append(model.state_dict()["4.weight"])
    np.testing.assert_allclose(swa.shadow["4.weight"], np.mean(seen, axis=0), rtol=1e-6)
    assert [swa_start_epoch(20, 0.25), swa_start_epoch(15, 0.25), swa_start_epoch(3, 0.01)] == [16, 12, 3]


# ------------------------------------------------------------------ optimiser groups
def test_no_decay_norm_bias_leaves_batch_norm_and_biases_out_of_the_weight_decay():
    model = small_bn_model()
    settings = {"weight_decay": 0.1, "no_decay_norm_bias": True}
    groups = recipe.parameter_groups(model, settings)
    opt = optim.AdamW(groups, lr=0.5, weight_decay=0.1)
    before = model.state_dict()
    for p in model.parameters():
        p.grad = np.zeros_like(p.data)  # no gradient: only the decay can move a weight
    opt.step()
    after = model.state_dict()
    for name, _ in model.named_parameters():
        if before[name].ndim > 1:
            np.testing.assert_allclose(after[name], before[name] * (1 - 0.5 * 0.1), rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert recipe.parameter_groups(model, {"weight_decay": 0.1}) == list(model.parameters())  # off: one group


# ------------------------------------------------------------------ augmentation and sampling
def test_random_erasing_replaces_one_rectangle_in_about_the_given_share_of_images():
    images = np.full((2002, 1, 20, 20), 0.5, np.float32)
    images[0, 0, 0, 0], images[1, 0, 0, 0] = 0, 1  # the noise's range, [0, 1]; these two are left out below
    augment = Augmenter(shift=0, flip=False, rotate=0, scale=0, brightness=0, contrast=0, erase=0.3, seed=0)
    out, images = augment(images)[2:], images[2:]
    changed = out != images
    hit = changed.any(axis=(1, 2, 3))
    assert abs(hit.mean() - 0.3) < 0.04
    for mask in changed[hit][:200, 0]:  # the changed pixels fill their bounding box: one rectangle
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box.all() and 0.01 <= box.size / mask.size <= 0.41
    assert 0 <= out.min() and out.max() <= 1  # noise within the batch's range


def test_cutmix_pastes_one_box_of_the_paired_images_and_lam_is_the_share_kept():
    rng = np.random.default_rng(0)
    images = np.arange(8, dtype=np.float32)[:, None, None, None] * np.ones((8, 1, 16, 16), np.float32)
    labels = np.arange(8)
    mixed, same, paired, lam = cutmix(images, labels, 1.0, rng)
    kept = (mixed == images).mean(axis=(1, 2, 3))
    moved = mixed != images
    assert same is labels and 0.5 <= lam <= 1
    np.testing.assert_allclose(kept[paired != labels], lam)
    np.testing.assert_array_equal(mixed[moved], np.broadcast_to(paired[:, None, None, None], mixed.shape)[moved])


def test_balanced_sampling_draws_every_class_about_equally_often():
    labels = np.repeat(np.arange(7), [4000, 400, 1000, 200, 3000, 2000, 100])
    order = recipe.epoch_order(labels, np.random.default_rng(0), balanced=True)
    counts = np.bincount(labels[order], minlength=7)
    assert len(order) == len(labels)
    np.testing.assert_allclose(counts / len(order), 1 / 7, atol=0.01)
    plain = recipe.epoch_order(labels, np.random.default_rng(0))
    assert sorted(plain) == list(range(len(labels)))  # off: a permutation


def test_progressive_resizing_trains_each_third_of_the_run_at_its_size_and_only_where_the_network_allows():
    sizes = [recipe.progressive_sizes(epoch, 9, 44) for epoch in range(9)]
    assert sizes == [(36, 33)] * 3 + [(42, 38)] * 3 + [(48, 44)] * 3
    assert recipe.progressive_sizes(14, 15, 0) == (48, 0)
    assert resize_images(np.zeros((2, 1, 48, 48), np.float32), 36).shape == (2, 1, 36, 36)
    with pytest.raises(ValueError, match="any input size"):
        recipe.check({**presets.resolve("fast"), "progressive": True})
    recipe.check({**presets.resolve("xception"), "progressive": True})


# ------------------------------------------------------------------ losses
def test_distillation_loss_is_the_hand_computed_mix_of_cross_entropy_and_scaled_kl():
    rng = np.random.default_rng(0)
    z, teacher = rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(2, 5, 7)).astype(np.float32)
    labels, alpha, t = rng.integers(0, 7, 5), 0.7, 3.0
    p = soft_targets(teacher, t)
    np.testing.assert_allclose(p, np.exp(log_softmax(teacher[0] / t)) / 2 + np.exp(log_softmax(teacher[1] / t)) / 2,
                               rtol=1e-5)
    loss = distillation_loss(minigrad.Tensor(z), labels, soft_targets=p, alpha=alpha, temperature=t)
    ce = -log_softmax(z)[np.arange(5), labels].mean()
    kl = np.sum(p * (np.log(p) - log_softmax(z / t))) / 5
    assert loss.item() == pytest.approx((1 - alpha) * ce + alpha * t * t * kl, rel=1e-5)


def test_balanced_class_weights_weigh_the_loss_of_each_sample_by_its_class():
    labels = np.array([0, 0, 0, 1])
    w = balanced_class_weights(labels, 3)
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 0])
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    loss = weighted_cross_entropy(minigrad.Tensor(z), labels, class_weights=w)
    per_sample = -log_softmax(z)[np.arange(4), labels]
    assert loss.item() == pytest.approx(np.sum(w[labels] * per_sample) / w[labels].sum(), rel=1e-5)


# ------------------------------------------------------------------ schedules, presets, TTA
def test_the_snapshot_schedule_restarts_at_the_peak_each_cycle_and_fixed_epochs_drop_the_budget():
    params = [minigrad.Tensor(np.zeros(1, np.float32), requires_grad=True)]
    opt = optim.SGD(params, lr=0.1)
    schedule = recipe.CyclicCosineLR(opt, total_steps=12, cycles=3)
    rates = []
    for _ in range(12):
        rates.append(opt.lr)
        schedule.step()
    assert rates[0] == rates[4] == rates[8] == pytest.approx(0.1) and rates[2] == pytest.approx(0.05)
    assert [e for e in range(1, 16) if recipe.snapshot_due(e, 15, 3)] == [5, 10, 15]
    assert presets.resolve("fast", explicit={"epochs": 15})["max_minutes"] == 0
    assert presets.resolve("fast", explicit={"epochs": 15, "max_minutes": 60.0})["max_minutes"] == 60
    assert presets.resolve("fast")["max_minutes"] == 60


def test_two_scale_ten_crop_averages_the_probabilities_of_twenty_views():
    x = np.random.default_rng(0).random((3, 1, 48, 48)).astype(np.float32)
    views = tta_views(x, "ten-crop-2scale", side=40)
    assert len(views) == 20 and all(v.shape == (3, 1, 40, 40) for v in views)
    arch = architecture("cnn", widths=[4, 4, 4, 4], dense=[8], input_size=40)
    minigrad.manual_seed(0)
    model = from_architecture(arch)
    images = (x * 255).astype(np.uint8)
    from fer.data import to_float
    views = tta_views(to_float(images), "ten-crop-2scale", side=40)
    model.eval()
    with minigrad.no_grad():
        expected = np.mean([np.exp(log_softmax(model(minigrad.Tensor(v)).data)) for v in views], axis=0)
    np.testing.assert_allclose(predict_proba(model, images, tta="ten-crop-2scale"), expected, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ teacher cache and a run
def test_teacher_logits_are_computed_once_then_read_from_the_cache(tmp_path):
    arch = architecture("cnn", widths=[4, 4, 4, 4], dense=[8])
    minigrad.manual_seed(0)
    run = tmp_path / "teacher"
    run.mkdir()
    save_checkpoint(run / "best.npz", from_architecture(arch), {"architecture": arch})
    images = np.random.default_rng(0).integers(0, 255, (10, 1, 48, 48), dtype=np.uint8)
    first, info = teacher_logits(str(run), images, cache_dir=tmp_path / "cache", log=lambda _: None)
    again, cached = teacher_logits(str(run), images, cache_dir=tmp_path / "cache", log=lambda _: None)
    assert first.shape == (1, 10, 7) and not info["cached"] and cached["cached"]
    assert cached["seconds"] == pytest.approx(info["seconds"], abs=0.01)
    np.testing.assert_array_equal(first, again)
    assert (tmp_path / "cache" / "teachers").is_dir() and len(list((tmp_path / "cache").rglob("*.npz"))) == 1


def test_a_bundle_or_the_word_bundled_can_teach(tmp_path, monkeypatch):
    import fer.bundled
    from bundle_helpers import write_run
    from fer.api.bundle import write_bundle
    from fer.evaluation.inference import predict_logits
    from fer.training.distill import teacher_runs
    from fer.training.runs import load_model

    run = write_run(tmp_path / "run", "fast")
    write_bundle(run, tmp_path / "bundle")
    monkeypatch.setattr(fer.bundled, "DIRECTORY", tmp_path / "bundle")
    assert teacher_runs("bundled") == [tmp_path / "bundle"]
    images = np.random.default_rng(0).integers(0, 255, (6, 1, 48, 48), dtype=np.uint8)
    logits, info = teacher_logits("bundled", images, cache_dir=tmp_path / "cache", log=lambda _: None)
    model = load_model(run)[0]
    expected = (predict_logits(model, images) + predict_logits(model, images[..., ::-1])) / 2
    np.testing.assert_allclose(logits[0], expected, rtol=1e-5, atol=1e-5)
    assert info["teachers"] == [str(tmp_path / "bundle")]
    with pytest.raises(ValueError, match="nowhere: no best.npz there .*bundle folder"):
        teacher_runs(str(tmp_path / "nowhere"))


def test_a_run_records_the_new_flags_keeps_the_ema_in_best_npz_and_reports_macro_f1(tmp_path, tiny_args):
    from fer import train

    out = tmp_path / "run"
    argv = tiny_args(out, "cnn", 2, 120, "--ema", "0.9", "--swa-last", "0.5", "--erase", "0.5",
                     "--balanced-sampling", "--no-decay-norm-bias", "--weight-decay", "0.01", "--snapshots", "2")
    assert train.main(argv) == 0
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert (settings["ema"], settings["swa_last"], settings["erase"], settings["snapshots"]) == (0.9, 0.5, 0.5, 2)
    assert settings["balanced_sampling"] and settings["no_decay_norm_bias"] and settings["cutmix"] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["val_macro_f1"] <= 1 and metrics["swa"]["epochs"] == [2, 2]
    _, header, _ = load_checkpoint(out / "last.npz")
    best, best_header, _ = load_checkpoint(out / "best.npz")
    if not metrics.get("best_is_average") and best_header["epoch"] == 2:
        for key, value in best.items():  # the EMA's weights, not the raw ones
            np.testing.assert_array_equal(value, header["ema"]["shadow"][key])
    assert (out / "snapshot-1" / "best.npz").is_file() and (out / "snapshot-2" / "config.json").is_file()


def test_a_run_with_the_averages_resumes_exactly_after_ctrl_c(tmp_path, tiny_args, monkeypatch):
    from fer import train
    from fer.training.trainer import Trainer

    flags = ("--ema", "0.9", "--swa-last", "0.5", "--erase", "0.3", "--cutmix", "0.5")
    assert train.main(tiny_args(tmp_path / "straight", "cnn", 2, 120, *flags)) == 0
    real_epoch = Trainer.train_epoch

    def interrupted_in_second_epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted_in_second_epoch)
    assert train.main(tiny_args(tmp_path / "resumed", "cnn", 2, 120, *flags)) == 130
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    assert train.main(["--resume", str(tmp_path / "resumed"), "--no-progress"]) == 0
    (straight, one, _), (resumed, other, _) = (load_checkpoint(tmp_path / run / "last.npz")
                                               for run in ("straight", "resumed"))
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)
        np.testing.assert_array_equal(other["ema"]["shadow"][key], one["ema"]["shadow"][key], err_msg=key)
        np.testing.assert_array_equal(other["swa"]["shadow"][key], one["swa"]["shadow"][key], err_msg=key)


def test_a_distilled_run_caches_its_teachers_labels_and_a_progressive_run_trains_xception(tmp_path, tiny_args,
                                                                                          monkeypatch):
    from fer import train

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert train.main(tiny_args(tmp_path / "teacher", "cnn", 1, 120)) == 0
    for student in ("first", "second"):
        assert train.main(tiny_args(tmp_path / student, "cnn", 1, 120, "--teacher", str(tmp_path / "teacher"),
                                    "--distill-alpha", "0.7")) == 0
    first, second = (json.loads((tmp_path / s / "metrics.json").read_text())["teacher"] for s in ("first", "second"))
    assert not first["cached"] and second["cached"] and first["seconds"] >= 0
    assert first["cache"].startswith(str(tmp_path / "cache")) and first["cache"] == second["cache"]
    with pytest.raises(Exception, match="any input size"):
        train.main(tiny_args(tmp_path / "no", "cnn", 1, 120, "--progressive"))
    assert train.main(tiny_args(tmp_path / "progressive", "xception", 3, 120, "--progressive", "--crop", "44")) == 0
    assert json.loads((tmp_path / "progressive" / "metrics.json").read_text())["epochs_run"] == 3


def test_a_slow_day_narrows_the_network_until_the_floor_of_epochs_fits_the_budget():
    from fer.training.pace import trade_width_for_epochs

    def conv_weights(model):
        return sum(p.size for p in model.parameters() if p.ndim == 4)

    def probe(model, splits, batch_size):  # 200 s an epoch at full width, in proportion to the convolutions
        return 200 * conv_weights(model) / full

    settings = {**presets.resolve("fast"), "min_epochs": 20}  # 60 minutes: 17 epochs of 200 s fit
    full = conv_weights(from_architecture(architecture("cnn", **settings["model_config"])))
    changed = trade_width_for_epochs(settings, None, log=lambda _: None, probe=probe)
    assert changed["model_config"]["widths"] == [56, 112, 224, 448] and changed["slow_day"]["width_scale"] == 0.875
    assert changed["slow_day"]["epochs_that_fit"] >= 20 and changed["model_config"]["input_size"] == 40
    narrowest = trade_width_for_epochs({**settings, "min_epochs": 60}, None, log=lambda _: None, probe=probe)
    assert narrowest["slow_day"]["width_scale"] == 0.625 and narrowest["slow_day"]["epochs_that_fit"] < 60
    assert trade_width_for_epochs({**settings, "min_epochs": 17}, None, probe=probe) == {}  # fits at full width
    assert trade_width_for_epochs({**settings, "max_minutes": 0}, None, probe=probe) == {}


def test_fast_and_best_distil_from_the_bundle_unless_told_none_quick_or_on_synthetic_faces(tmp_path, monkeypatch,
                                                                                            capsys):
    from fer import train
    from fer.api.bundle import default_directory

    assert presets.resolve("fast")["teacher"] == presets.resolve("best")["teacher"] == "bundled"
    assert presets.resolve("fast", explicit={"teacher": "none"})["teacher"] is None
    assert presets.resolve("fast", quick=True)["teacher"] is presets.resolve("best", quick=True)["teacher"] is None
    assert presets.resolve("seed-cnn")["teacher"] is None and presets.resolve("xception")["teacher"] is None
    with pytest.raises(ValueError, match="add --teacher none"):
        recipe.check({**presets.resolve("fast"), "mixup": 0.2})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    small = ["--preset", "fast", "--data", "synthetic", "--synthetic-size", "120", "--epochs", "1", "--batch-size",
             "32", "--model-config", json.dumps({"widths": [4, 8, 8, 8], "dense": [16]}), "--no-progress"]
    assert train.main([*small, "--out", str(tmp_path / "plain")]) == 0
    assert "teacher (bundled) knows FER2013 faces, not the synthetic ones" in capsys.readouterr().out
    assert "teacher" not in json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert train.main([*small, "--out", str(tmp_path / "typed"), "--teacher", "bundled"]) == 0
    teacher = json.loads((tmp_path / "typed" / "metrics.json").read_text())["teacher"]
    assert teacher["teachers"] == [str(default_directory())]
