"""The reference backend (plain NumPy, no numba call) and NUMBA_DISABLE_JIT give the compiled numbers.

Dropout draws its mask from a counter-based hash of (seed, element index), in numba in
kernels/dropout.py and in NumPy in kernels/reference.py: the same seed gives the same mask on
both backends, so seeded training steps can be compared number for number.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad import Tensor

ROOT = Path(__file__).resolve().parents[1]


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.3), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(8, 3))


def _cast(model, dtype):
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    for m in model.modules():
        for name, value in m._buffers.items():
            m._buffers[name] = value.astype(dtype)
    return model


def _train(backend, dtype, fused, steps=3):
    """Losses and the last step's gradients of a few seeded SGD steps."""
    minigrad.manual_seed(0)
    model = _cast(small_cnn(), dtype)
    net = nn.fuse(model) if fused else model
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 1, 12, 12)).astype(dtype), rng.integers(0, 3, 6)
    losses = []
    with minigrad.backend(backend):
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(net(Tensor(x)), y)
            loss.backward()
            opt.step()
            losses.append(float(loss.data))
    return np.array(losses), {name: p.grad for name, p in model.named_parameters()}


def _relative_gap(got, expected):
    """Largest difference over the largest gradient of the model (biases before a batch norm
    have a zero gradient up to rounding, so a per-tensor relative error would be noise)."""
    scale = max(np.abs(g).max() for g in expected.values())
    return max(np.abs(got[name] - expected[name]).max() for name in expected) / scale


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("dtype,tolerance", [(np.float64, 1e-8), (np.float32, 1e-4)])
def test_reference_backend_trains_a_small_cnn_as_the_compiled_one(dtype, tolerance, fused):
    compiled_losses, compiled = _train("numba", dtype, fused)
    reference_losses, reference = _train("reference", dtype, fused)
    np.testing.assert_allclose(reference_losses, compiled_losses, rtol=tolerance)
    assert _relative_gap(reference, compiled) <= tolerance


def test_reference_backend_calls_no_numba_kernel(monkeypatch):
    """Every numba dispatcher in minigrad.kernels raises if called: a fused training step with
    an Adam update and a folded evaluation of a small CNN still run."""
    import numba.core.registry

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"numba kernel {self.py_func.__name__} called under the reference backend")

    monkeypatch.setattr(numba.core.registry.CPUDispatcher, "__call__", refuse)
    minigrad.manual_seed(0)
    model = small_cnn()
    x = Tensor(np.random.default_rng(2).standard_normal((4, 1, 12, 12)).astype(np.float32))
    optimizer = optim.AdamW(model.parameters(), lr=1e-3)
    with minigrad.backend("reference"):
        F.cross_entropy(nn.fuse(model)(x), np.array([0, 1, 2, 0])).backward()
        optimizer.step()
        model.eval()
        with minigrad.no_grad():
            nn.fuse(model)(x)
    with pytest.raises(AssertionError, match="numba kernel"):
        F.max_pool2d(x, 2)


STEP = """
import sys
import numpy as np
import minigrad, minigrad.functional as F
from minigrad import Tensor, nn
from fer.models.networks import seed_cnn
minigrad.manual_seed(0)
model = seed_cnn()
x = np.random.default_rng(0).standard_normal((2, 1, 48, 48)).astype(np.float32)
with minigrad.backend(sys.argv[2]):
    minigrad.manual_seed(5)
    loss = F.cross_entropy(nn.fuse(model)(Tensor(x)), np.array([1, 2]))
    loss.backward()
np.savez(sys.argv[1], loss=loss.data, **{name: p.grad for name, p in model.named_parameters()})
"""


def test_seed_cnn_step_is_the_same_compiled_under_numba_disable_jit_and_on_the_reference_backend(tmp_path):
    """One full-size training step of the fused seed CNN (batch 2, 48x48, float32).  Measured: the
    loss within 5e-7 (relative) both ways; the gradients within 2.8e-4 (reference) and 4.8e-4
    (no JIT) of the largest, at the first dense layer: float32 sums in another order, amplified by
    batch norm over two images."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    runs = {"compiled": ({}, "numba"), "reference": ({}, "reference"), "no-jit": ({"NUMBA_DISABLE_JIT": "1"}, "numba")}
    results = {}
    for name, (extra, backend) in runs.items():
        out = tmp_path / f"{name}.npz"
        done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", STEP, str(out), backend],
                              env={**env, **extra}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        with np.load(out) as data:
            results[name] = {key: data[key] for key in data.files}
    compiled = results.pop("compiled")
    loss = compiled.pop("loss")
    for name, got in results.items():
        np.testing.assert_allclose(got.pop("loss"), loss, rtol=1e-5, err_msg=name)
        assert _relative_gap(got, compiled) <= 1e-3, name
