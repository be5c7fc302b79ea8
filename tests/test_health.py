"""fer.health: per-layer gradient norms, update/weight ratios, activations and dead ReLU units;
health.csv after a training run (one row per epoch and layer); a layer whose gradient vanishes
(weights after it zeroed) is warned about, once."""
import csv

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from fer.training import health
from minigrad import nn, optim

pytestmark = pytest.mark.usefixtures("one_thread")


def run_epoch(model, monitor, opt, steps, epoch, log):
    rng = np.random.default_rng(epoch)
    for step in range(steps):
        sampled = monitor.sample(step)
        loss = F.cross_entropy(model(minigrad.Tensor(rng.random((8, 6), dtype=np.float32))), rng.integers(0, 3, 8))
        opt.zero_grad()
        loss.backward()
        if sampled:
            monitor.gradients()
        opt.step()
        if sampled:
            monitor.updates()
    return monitor.end_epoch(epoch, log)


def test_statistics_of_one_sampled_step():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    model[0].bias.data[:] = [-100.0, -100.0, 100.0, 100.0, 100.0]  # units 0 and 1 of the ReLU never fire
    opt = optim.SGD(model.parameters(), lr=0.1)
    monitor = health.HealthMonitor(model, steps_per_epoch=1)
    w = [p.data.copy() for p in model[2].parameters()]
    first = model[0](minigrad.Tensor(np.random.default_rng(1).random((8, 6), dtype=np.float32))).data  # run_epoch's x
    rows = {r["layer"]: r for r in run_epoch(model, monitor, opt, 1, 1, log=print)}
    assert list(rows) == ["0", "1", "2"] and rows["1"]["kind"] == "ReLU" and rows["1"]["grad_norm"] is None
    grads = [p.grad for p in model[2].parameters()]
    g = np.sqrt(sum((x ** 2).sum() for x in grads))
    assert rows["2"]["grad_norm"] == pytest.approx(g, rel=1e-5)
    # plain SGD: the step is lr * g, so update/weight = lr * |g| / |w|
    assert rows["2"]["update_ratio"] == pytest.approx(0.1 * g / np.sqrt(sum((x ** 2).sum() for x in w)), rel=1e-4)
    assert rows["1"]["dead_fraction"] == pytest.approx(2 / 5)
    assert rows["2"]["dead_fraction"] is None
    assert (rows["0"]["act_mean"], rows["0"]["act_std"]) == pytest.approx((first.mean(), first.std()))


def test_vanishing_gradient_is_warned_once(tmp_path):
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    model[2].weight.data[...] = 0  # nothing flows back through layer 2: layer 0's gradient vanishes
    opt = optim.SGD(model.parameters(), lr=0.0)
    monitor = health.HealthMonitor(model, steps_per_epoch=3, samples=2)
    assert monitor.sampled_steps == {0, 2}
    lines = []
    for epoch in (1, 2):
        rows = run_epoch(model, monitor, opt, 3, epoch, lines.append)
        health.save_epoch(rows, tmp_path)
    assert len(lines) == 1 and "layer 0 (Linear): its gradient vanished" in lines[0]
    assert [r["grad_norm"] for r in rows if r["layer"] == "0"] == [0.0]
    saved = health.read_csv(tmp_path / "health.csv")
    assert [(r["epoch"], r["layer"]) for r in saved] == [(e, l) for e in (1, 2) for l in ("0", "1", "2", "3", "4")]


def test_exploding_gradient_is_warned():
    model = nn.Sequential(nn.Linear(6, 3))
    monitor = health.HealthMonitor(model, steps_per_epoch=1)
    lines = []
    monitor._warn({"epoch": 1, "layer": "0", "kind": "Linear", "grad_norm": 5e3, "update_ratio": 0.1}, lines.append)
    assert "exploded" in lines[0]


def test_health_csv_after_a_training_run(tiny_run, tiny_configs):
    folder = tiny_run("cnn", 2, 120)
    with open(folder / "health.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    minigrad.manual_seed(0)
    from fer.models.networks import build_model
    model = build_model("cnn", **tiny_configs["cnn"])
    layers = [name for name, m in model.named_modules()
              if name and (any(True for _ in m.parameters(recurse=False)) or health.is_relu(m))]
    assert [(r["epoch"], r["layer"]) for r in rows] == [(str(e), name) for e in (1, 2) for name in layers]
    assert all(float(r["grad_norm"]) > 0 for r in rows if r["kind"] == "Conv2d")
    # the trainer trains a fused model; the measured batches still run every layer (their hooks fire)
    assert all(r["act_std"] != "" for r in rows)
    assert all(0 <= float(r["dead_fraction"]) <= 1 for r in rows if r["kind"] == "ReLU")
    assert (folder / "health.png").exists()
