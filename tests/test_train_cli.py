"""python -m fer.train on tiny synthetic data: the run folder, exact resume, Ctrl-C,
the NaN guard, early stopping, time budgets, presets, and a quick --help.

Runs use a few hundred synthetic faces and shrunken models (``tiny_args`` in
conftest.py), so each takes a second or two; the real architectures are tested in
test_models.py.  No test here times anything: speed is benchmarks/' business.
"""
import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigrad.checkpoint import load_checkpoint
from fer import train
from fer.models import presets
from fer.training import budget
from fer.cli.common import run_cli
from fer.training.distributed import Single
from fer.evaluation.inference import predict_logits
from fer.training.runs import load_data, load_model
from fer.training.trainer import HISTORY_COLUMNS, Trainer, count_batches

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def read_history(run):
    with open(Path(run) / "history.csv") as f:
        return list(csv.DictReader(f))


def read_json(path):
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------ the run folder
def test_both_models_write_complete_run_folders(tmp_path, capsys, tiny_args):
    assert train.main(tiny_args(tmp_path, "both", 2)) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "model  best epoch" in out  # says so, and compares the two
    for model in ("cnn", "dnn"):
        run = tmp_path / model
        for name in ("summary.txt", "config.json", "history.csv", "curves.png", "best.npz", "last.npz",
                     "metrics.json"):
            assert (run / name).is_file(), name
        assert "Total params" in (run / "summary.txt").read_text()
        config = read_json(run / "config.json")
        assert config["settings"]["model"] == model and config["data"]["synthetic"] is True
        assert {"python", "numpy", "numba", "minigrad"} <= set(config["versions"])
        rows = read_history(run)
        assert list(rows[0]) == list(HISTORY_COLUMNS) and [r["epoch"] for r in rows] == ["1", "2"]
        column = {name: np.array([float(r[name]) for r in rows]) for name in HISTORY_COLUMNS}
        np.testing.assert_allclose(column["images_per_s"], config["data"]["train"] / column["seconds"], rtol=1e-4)
        metrics = read_json(run / "metrics.json")
        assert metrics["status"] == "finished" and metrics["epochs_run"] == 2
        # the best epoch is the first with the highest validation accuracy, and its numbers are the history's
        assert metrics["best_epoch"] == 1 + int(np.argmax(column["val_acc"]))
        assert metrics["best_val_acc"] == pytest.approx(column["val_acc"].max(), rel=1e-5)
        assert metrics["wall_seconds"] == pytest.approx(column["seconds"].sum(), abs=0.01)
        # metrics.json rounds the mean of the exact speeds to 0.1; history.csv keeps 6 significant digits
        speed = column["images_per_s"].mean()
        assert metrics["images_per_s"] == pytest.approx(speed, abs=0.05 + 5e-6 * speed + 1e-9)
        assert metrics["overhead_fraction"] == pytest.approx(column["overhead_fraction"].mean(), abs=1e-4)
        # the test accuracy is the best weights' own, on the run's test split
        best, _ = load_model(run)
        test = load_data(config["settings"]).test
        assert metrics["test_samples"] == len(test) == config["data"]["test"]
        assert metrics["test_acc"] == np.mean(predict_logits(best, test.images).argmax(axis=1) == test.labels)
        _, header, _ = load_checkpoint(run / "last.npz")
        assert header["progress"]["epoch"] == 2 and header["architecture"]["model"] == model
        assert header["val_acc"] == float(rows[-1]["val_acc"])


# ------------------------------------------------------------------ resume
def test_resume_after_ctrl_c_gives_the_uninterrupted_weights(tmp_path, monkeypatch, capsys, tiny_args):
    # The CNN: convolutions, batch norm, dropout and augmentation all draw or keep state.
    assert train.main(tiny_args(tmp_path / "straight", "cnn", 2)) == 0

    real_epoch = Trainer.train_epoch

    def interrupted_in_second_epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "train_epoch", interrupted_in_second_epoch)
    assert train.main(tiny_args(tmp_path / "stopped", "cnn", 2)) == 130
    assert f"--resume {tmp_path / 'stopped'}" in capsys.readouterr().err
    assert read_json(tmp_path / "stopped" / "metrics.json")["status"] == "interrupted"
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)

    assert train.main(["--resume", str(tmp_path / "stopped"), "--no-progress"]) == 0
    straight, h1, _ = load_checkpoint(tmp_path / "straight" / "last.npz")
    resumed, h2, _ = load_checkpoint(tmp_path / "stopped" / "last.npz")
    assert h2["progress"]["epoch"] == 2
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)
    for index, state in h1["optimizer"]["state"].items():
        np.testing.assert_array_equal(state["exp_avg"], h2["optimizer"]["state"][index]["exp_avg"])
    assert h1["progress"]["history"]["val_loss"] == h2["progress"]["history"]["val_loss"]


def test_ctrl_c_in_the_real_command_saves_a_resumable_run(tmp_path, tiny_args, one_thread_env):
    """The one subprocess run of `python -m fer.train`: SIGINT after the first epoch line."""
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "fer.train", *tiny_args(run, "dnn", 1000), "--threads", "1"],
        cwd=ROOT, env=one_thread_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell ignores SIGINT in its background jobs, and children inherit that: undo it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("epoch"):
                process.send_signal(signal.SIGINT)
                break
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "built-in synthetic faces" in "".join(lines)
    assert "Traceback" not in err and f"Resume with: python -m fer.train --resume {run}" in err
    _, header, _ = load_checkpoint(run / "last.npz")
    done = header["progress"]["epoch"]
    assert done >= 1
    assert train.main(["--resume", str(run), "--epochs", str(done + 1), "--no-progress"]) == 0
    assert len(read_history(run)) == done + 1


@pytest.mark.parametrize("schedule, optimizer", [("none", "sgd"), ("step", "adam"), ("cosine", "adamw"),
                                                ("onecycle", "sgd"), ("plateau", "adam")])
def test_every_schedule_and_optimizer_resumes_into_a_longer_run(tmp_path, schedule, optimizer, tiny_args):
    extra = ("--schedule", schedule, "--optimizer", optimizer)
    assert train.main(tiny_args(tmp_path, "dnn", 1, 120, *extra)) == 0
    first = read_history(tmp_path)
    assert train.main(["--resume", str(tmp_path), "--epochs", "2", "--no-progress"]) == 0
    rows = read_history(tmp_path)
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0] == first[0]   # epoch 1 kept as it was
    config = read_json(tmp_path / "config.json")
    assert config["settings"]["optimizer"] == optimizer and config["settings"]["epochs"] == 2
    # the schedule went on from where it stood: one step a batch (one-cycle) or an epoch
    scheduler = load_checkpoint(tmp_path / "last.npz")[1]["scheduler"]
    if schedule == "none":
        assert scheduler is None and {float(r["lr"]) for r in rows} == {config["settings"]["lr"]}
    else:
        per_epoch = count_batches(config["data"]["train"], 32) if schedule == "onecycle" else 1
        assert scheduler["last_epoch"] == 2 * per_epoch


# ------------------------------------------------------------------ stopping
def test_nan_loss_stops_and_keeps_the_last_good_epoch(tmp_path, monkeypatch, capsys, tiny_args):
    import minigrad.functional as F
    real_loss, calls = F.cross_entropy, []

    def loss_turning_nan(*args, **kwargs):  # epoch 1: 3 training batches + 1 validation call
        calls.append(1)
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if len(calls) > 4 else loss

    monkeypatch.setattr(F, "cross_entropy", loss_turning_nan)
    assert train.main(tiny_args(tmp_path, "dnn", 3)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the loss became nan in epoch 2, batch 1") and "last good epoch (1)" in err
    _, header, _ = load_checkpoint(tmp_path / "last.npz")
    assert header["progress"]["epoch"] == 1
    assert read_json(tmp_path / "metrics.json")["status"] == "diverged"


def test_early_stopping_when_validation_accuracy_stalls(tmp_path, tiny_args, tiny_configs):
    # Learning rate 0 and no batch norm (whose running statistics move even then): the
    # accuracy of epoch 1 is never beaten.
    frozen = json.dumps({**tiny_configs["dnn"], "batch_norm": False})
    args = tiny_args(tmp_path, "dnn", 6, 120, "--lr", "0", "--schedule", "none", "--early-stopping", "1",
                     "--model-config", frozen)
    assert train.main(args) == 0
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["status"].startswith("early stopping") and metrics["epochs_run"] == 2
    accuracies = [float(r["val_acc"]) for r in read_history(tmp_path)]
    assert accuracies[0] == accuracies[1] and metrics["best_epoch"] == 1


def test_time_budget_stops_cleanly(tmp_path, capsys, tiny_args):
    assert train.main(tiny_args(tmp_path, "dnn", 5, 120, "--max-minutes", "1e-9", "--schedule", "none")) == 0
    assert "time budget" in read_json(tmp_path / "metrics.json")["status"]
    assert load_checkpoint(tmp_path / "last.npz")[1]["progress"]["epoch"] == 0


def test_time_budget_shortens_the_schedule_to_fit(tmp_path, tiny_args):
    assert train.main(tiny_args(tmp_path, "dnn", 100000, 120, "--max-minutes", "0.01")) == 0
    settings = read_json(tmp_path / "config.json")["settings"]
    assert settings["epochs_requested"] == 100000 and 1 <= settings["epochs"] < 100000


@pytest.mark.parametrize("guess,minutes,seconds,expected", [(2, 10, (0.2, 0.2), 6), (6, 0.05, (1.0, 1.0), 2),
                                                              (2, 0.15, (3.0, 0.5), 6)])
def test_early_epochs_refit_the_schedule_to_the_budget(tmp_path, monkeypatch, guess, minutes, seconds, expected,
                                                       tiny_args):
    """The probe guessed ``guess`` of 6 epochs; the first two epochs' times (``seconds``, told
    to the re-fit instead of the real ones, so that a busy machine changes nothing) decide.
    All 6 fit in 10 minutes (the schedule is stretched); at a second an epoch 2 fit in 3
    seconds (it is shortened); a slow first epoch (3 s: still 2 of 9 s) followed by a fast
    one (0.5 s) stretches it to 6 after the second."""
    def probe(trainer):
        trainer.settings["epochs_requested"] = 6
        trainer.set_epochs(guess)

    real_refit = budget.refit
    told = {1: (seconds[0], [seconds[0]]), 2: (sum(seconds), list(seconds))}
    monkeypatch.setattr(budget, "fit", probe)
    # after epoch 2 (a pace of 1 ms: nothing to shorten, all asked for fit) the re-fit keeps the length
    monkeypatch.setattr(budget, "refit", lambda trainer, elapsed, recent:
                        real_refit(trainer, *told.get(trainer.epoch, (0.0, [1e-3]))))
    assert train.main(tiny_args(tmp_path, "dnn", 6, 120, "--max-minutes", str(minutes))) == 0
    metrics, settings = read_json(tmp_path / "metrics.json"), read_json(tmp_path / "config.json")["settings"]
    assert metrics["epochs_run"] == settings["epochs"] == expected and metrics["status"] == "finished"
    assert load_checkpoint(tmp_path / "last.npz")[1]["progress"]["epochs"] == expected
    lrs = [float(row["lr"]) for row in read_history(tmp_path)]
    assert lrs[-1] < 0.2 * settings["lr"]           # the schedule ran to its end (6 steps: coarse)
    if expected == 6 and guess == 2 and seconds[0] < 1:  # stretched after epoch 1: near its peak in epoch 2,
        assert lrs[1] > 0.5 * settings["lr"]              # where a 2-epoch cycle would have ended


class Budgeted:
    """A Trainer as fer.training.budget sees one: its settings and epoch, and what it logs and is set to."""

    def __init__(self, epoch=0, **settings):
        self.settings, self.epoch, self.model, self.splits = settings, epoch, None, None
        self.group = Single()  # one process
        self.lines, self.lengths = [], []

    def log(self, line):
        self.lines.append(line)

    def set_epochs(self, epochs):
        self.lengths.append(epochs)
        self.settings["epochs"] = epochs


def test_the_probe_sets_the_run_to_the_epochs_that_fit(monkeypatch):
    monkeypatch.setattr(budget, "probe_epoch_seconds", lambda model, splits, batch_size: 20.0)
    trainer = Budgeted(max_minutes=1.0, schedule="onecycle", epochs=9, batch_size=32)
    budget.fit(trainer)                # 95% of 60 s holds 2.85 epochs of 20 s
    assert trainer.lengths == [2] and trainer.settings["epochs_requested"] == 9
    assert "2 of the 9 epochs fit in 1 min" in trainer.lines[0]
    for settings in ({"max_minutes": 1.0, "schedule": "onecycle", "epochs": 2},    # they all fit
                     {"max_minutes": 0.0, "schedule": "onecycle", "epochs": 9},    # no budget
                     {"max_minutes": 1.0, "schedule": "plateau", "epochs": 9}):    # no length to fit
        untouched = Budgeted(batch_size=32, **settings)
        budget.fit(untouched)
        assert untouched.lengths == [] and "epochs_requested" not in untouched.settings


def test_the_refit_uses_the_measured_epochs():
    trainer = Budgeted(epoch=1, max_minutes=1.0, schedule="onecycle", epochs=2, epochs_requested=9)
    budget.refit(trainer, elapsed=10.0, recent=[10.0])   # 98% of 60 s - 10 s: 4.88 more
    assert trainer.lengths == [5] and "5 epochs fit in 1 min, not 2" in trainer.lines[0]
    budget.refit(trainer, elapsed=10.0, recent=[1.0])    # never more than asked for
    assert trainer.lengths == [5, 9]
    unfitted = Budgeted(epoch=1, max_minutes=1.0, schedule="onecycle", epochs=2)
    budget.refit(unfitted, elapsed=50.0, recent=[10.0])  # a length the budget did not set
    assert unfitted.lengths == []


def test_after_two_epochs_the_refit_shortens_at_the_mean_pace_and_lengthens_at_the_slowest():
    trainer = Budgeted(epoch=3, max_minutes=1.0, schedule="onecycle", epochs=8, epochs_requested=20)
    budget.refit(trainer, elapsed=30.0, recent=[10.0, 10.0, 10.0])  # 98% of 60 s - 30 s holds 2.88 more
    assert trainer.lengths == [5]
    budget.refit(trainer, elapsed=30.0, recent=[20.0, 4.0, 4.0])    # the mean (9.3) holds 3 more: 6 fit,
    assert trainer.lengths == [5]                                    # the slowest (20) only 1: it stays at 5
    budget.refit(trainer, elapsed=30.0, recent=[6.0, 5.0, 4.0])     # even the slowest holds 4 more
    assert trainer.lengths == [5, 7] and "7 epochs fit in 1 min, not 5" in trainer.lines[-1]
    trainer.epoch = 5                                                # 5 of 7 done: past two-thirds,
    budget.refit(trainer, elapsed=40.0, recent=[1.0, 1.0, 1.0])     # so it is not lengthened again
    assert trainer.lengths == [5, 7]
    budget.refit(trainer, elapsed=50.0, recent=[8.0, 8.0, 8.0])     # but still shortened: 8.8 s hold 1 more
    assert trainer.lengths == [5, 7, 6]


def test_the_probe_times_the_fused_model_the_trainer_trains_and_leaves_the_model_as_it_was(small_cnn, monkeypatch):
    from fer.data import synthetic_splits

    model = small_cnn()
    before = {key: value.copy() for key, value in model.state_dict().items()}
    splits = synthetic_splits(120)
    fused_steps, fuse = [], budget.nn.fuse

    def counted_fuse(module):
        fused = fuse(module)
        fused.register_forward_pre_hook(lambda *_: fused_steps.append(1))
        return fused

    monkeypatch.setattr(budget.nn, "fuse", counted_fuse)
    assert budget.probe_epoch_seconds(model, splits, 16, warmup_steps=1, timed_steps=2) > 0
    assert len(fused_steps) == 3     # every step of the probe ran through the fused model
    after = model.state_dict()       # batch norm's running statistics moved in the probe, and are back
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def test_bad_data_is_one_line_error_without_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train.main, ["--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing.csv" in err


def test_bad_model_config_is_a_usage_error(tmp_path, capsys, tiny_args):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train.main, tiny_args(tmp_path, "dnn", 1, 120, "--model-config", '{"layers": 3}'))
    assert exit_info.value.code == 2 and "bad config for model 'dnn'" in capsys.readouterr().err


def test_a_finished_run_is_never_overwritten(tmp_path, capsys, tiny_args):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train.main, tiny_args(tmp_path, "dnn"))
    assert exit_info.value.code == 2 and f"--resume {tmp_path}" in capsys.readouterr().err
    assert (tmp_path / "config.json").read_text() == "{}"


# ------------------------------------------------------------------ presets
def test_explicit_flags_override_the_preset_which_overrides_defaults():
    settings = presets.resolve("seed-cnn", None, False, {"lr": 0.5})
    assert settings["lr"] == 0.5 and settings["label_smoothing"] == 0.1 and settings["model"] == "cnn"
    assert presets.resolve(None, "dnn")["preset"] == "seed-dnn"
    quick = presets.resolve("best", None, True, {"epochs": 7})
    assert quick["data"] == "synthetic" and quick["epochs"] == 7 and quick["model"] == "cnn"
    assert presets.resolve(None, "xception")["preset"] == "xception"
    assert presets.resolve(None, "vgg")["preset"] == "narrow-vgg"


def test_model_config_merges_preset_quick_and_typed_keys():
    preset = presets.PRESETS["seed-cnn"]["model_config"]
    typed = presets.resolve("seed-cnn", None, False, {"model_config": {"widths": [8, 8, 8, 8]}})
    assert typed["model_config"] == {**preset, "widths": [8, 8, 8, 8]}
    quick = presets.resolve("seed-cnn", None, True)["model_config"]
    assert quick == {**preset, **presets.QUICK["model_config"]["cnn"]}
    # A preset's model settings never reach another model (the CNN's dropout list would break the DNN).
    assert presets.resolve("seed-cnn", "dnn")["model_config"] == {}


def test_augment_choices_are_the_trainers_levels():
    from fer.training.trainer import AUGMENTATIONS
    action = next(a for a in train.build_parser()._actions if a.dest == "augment")
    assert set(action.choices) == set(AUGMENTATIONS)


def test_cutout_and_mixup_change_the_training_batches(tmp_path, capsys, tiny_args):
    losses = {}
    for name, extra in (("base", []), ("cutout", ["--cutout", "12"]), ("mixup", ["--mixup", "0.4"])):
        assert train.main(tiny_args(tmp_path / name, "cnn", 1, 120, *extra)) == 0
        losses[name] = read_history(tmp_path / name)[0]["train_loss"]
        settings = read_json(tmp_path / name / "config.json")["settings"]
        assert (settings["cutout"], settings["mixup"]) == {"base": (0, 0), "cutout": (12, 0),
                                                          "mixup": (0, 0.4)}[name]
    assert len(set(losses.values())) == 3   # same seed: only the batches differ
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train.main, tiny_args(tmp_path / "bad", "dnn", 1, 120, "--mixup", "-1"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: mixup must be >= 0, got -1.0\n"


def test_val_fraction_zero_selects_the_model_on_the_test_set(tmp_path, tiny_args):
    assert train.main(tiny_args(tmp_path, "dnn", 2, 160, "--val-fraction", "0")) == 0
    config, metrics = read_json(tmp_path / "config.json"), read_json(tmp_path / "metrics.json")
    assert config["data"]["val_is_test"] and config["data"]["val"] == config["data"]["test"] == 20
    assert config["data"]["train"] == 140
    assert metrics["test_acc"] == metrics["best_val_acc"]


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_every_preset_trains_a_tiny_run(tmp_path, name, tiny_configs):
    model = presets.PRESETS[name]["model"]
    extra = ["--epochs", "2", "--average-last", "2"] if name == "best" else []
    argv = ["--preset", name, "--data", "synthetic", "--synthetic-size", "100", "--epochs", "1",
            "--batch-size", "32", "--model-config", json.dumps(tiny_configs[model]), "--out", str(tmp_path),
            "--no-progress", *extra]
    assert train.main(argv) == 0
    config = read_json(tmp_path / "config.json")
    assert config["settings"]["preset"] == name and config["settings"]["model"] == model
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["status"] == "finished"
    if name == "best":
        assert metrics["averaged"]["epochs"] == [1, 2]
    # fast and best train on 40x40 crops (their networks crop whole faces to that), xception on 44x44.
    assert config["settings"]["crop"] == {"fast": 40, "best": 40, "xception": 44}.get(name, 0)
    if name in ("fast", "best"):
        assert config["architecture"]["input_size"] == 40


def test_crop_trains_on_smaller_faces_and_validates_on_whole_ones(tmp_path, monkeypatch, tiny_args):
    from fer.training.trainer import Trainer

    seen = []
    forward = Trainer.__init__

    def spy(self, *args, **kwargs):
        forward(self, *args, **kwargs)
        for model in (self.model, self.fused_model):   # training runs the fused model (nn.fuse)
            model.forward = lambda x, call=model.forward: (seen.append(tuple(x.shape[2:])), call(x))[1]

    monkeypatch.setattr(Trainer, "__init__", spy)
    assert train.main(tiny_args(tmp_path, "xception", 1, 100, "--crop", "40")) == 0
    assert (40, 40) in seen and (48, 48) in seen and set(seen) == {(40, 40), (48, 48)}
    assert read_json(tmp_path / "config.json")["settings"]["crop"] == 40


# ------------------------------------------------------------------ --help
def test_help_imports_no_engine(imported_after, one_thread_env):
    """--help answers without numba, the engine or matplotlib, or even NumPy: --threads must be
    read before NumPy makes its thread pools (how fast it answers: benchmarks/bench_startup.py)."""
    parsers = ("import fer.train, fer.evaluate, fer.predict\n"
               "for m in (fer.train, fer.evaluate, fer.predict): m.build_parser().format_help()")
    assert imported_after(parsers) == "[]"
    for command, option in (("fer.train", "--preset"), ("fer.evaluate", "--tta"), ("fer.predict", "--input")):
        result = subprocess.run([sys.executable, "-m", command, "--help"], cwd=ROOT, env=one_thread_env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("usage: python -m " + command), result.stderr
        assert option in result.stdout
