"""minigrad.checkpoint: round trips (model, header, optimiser, extras), atomic saves, every error case."""
import os
import zipfile

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import Tensor, optim
from minigrad.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def make_model(hidden=8):
    return nn.Sequential(nn.Linear(6, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 3))


def batch(step):
    rng = np.random.default_rng([7, step])
    return Tensor(rng.standard_normal((16, 6)).astype(np.float32)), rng.integers(0, 3, size=16)


def train(model, optimizer, steps, start=0):
    for step in range(start, start + steps):
        x, y = batch(step)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def test_round_trip_model_header_and_extras(tmp_path):
    minigrad.manual_seed(0)
    model = make_model()
    train(model, optim.SGD(model.parameters(), lr=0.1), steps=2)  # running stats != init
    path = tmp_path / "model.npz"
    header = {"architecture": {"name": "mlp", "hidden": 8}, "epoch": 3, "classes": ["a", "b", "c"],
              "best": np.float32(0.5), "curve": np.arange(4.0)}
    save_checkpoint(path, model, header, extra_arrays={"confusion": np.eye(3, dtype=np.int64)})

    state, loaded_header, extra = load_checkpoint(path)
    assert list(state) == list(model.state_dict())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(state[key], value)
        assert state[key].dtype == value.dtype
    assert loaded_header["architecture"] == {"name": "mlp", "hidden": 8}
    assert loaded_header["epoch"] == 3 and loaded_header["classes"] == ["a", "b", "c"]
    assert loaded_header["best"] == 0.5
    np.testing.assert_array_equal(loaded_header["curve"], np.arange(4.0))
    assert loaded_header["minigrad_version"] == minigrad.__version__
    assert loaded_header["dtype"] == "float32"
    np.testing.assert_array_equal(extra["confusion"], np.eye(3))

    # Loading into a fresh model (via load_checkpoint(model=...)) gives identical outputs.
    clone = make_model()
    load_checkpoint(path, model=clone)
    x, _ = batch(99)
    model.eval(), clone.eval()
    np.testing.assert_array_equal(model(x).data, clone(x).data)

    # A plain state dict saves too, and the file is an ordinary npz without pickled objects.
    save_checkpoint(tmp_path / "plain.npz", model.state_dict(), {})
    with np.load(tmp_path / "plain.npz", allow_pickle=False) as archive:
        assert "model/1.running_mean" in archive.files and "__header__" in archive.files


def test_training_resumes_exactly_through_a_checkpoint(tmp_path):
    """Optimiser and scheduler state ride in the header; 3 + 3 steps equal 6 straight."""
    minigrad.manual_seed(1)
    straight = make_model()
    start = straight.state_dict()
    opt = optim.Adam(straight.parameters(), lr=1e-2)
    train(straight, opt, steps=6)

    model = make_model()
    model.load_state_dict(start)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.StepLR(opt, step_size=100)
    train(model, opt, steps=3)
    save_checkpoint(tmp_path / "run.npz", model,
                    {"epoch": 3, "optimizer": opt.state_dict(), "scheduler": sched.state_dict()})
    assert "header/optimizer/state/0/exp_avg" in np.load(tmp_path / "run.npz").files

    resumed = make_model()
    _, header, _ = load_checkpoint(tmp_path / "run.npz", model=resumed)
    opt2 = optim.Adam(resumed.parameters(), lr=1e-2)
    sched2 = optim.StepLR(opt2, step_size=100)
    opt2.load_state_dict(header["optimizer"])
    sched2.load_state_dict(header["scheduler"])
    assert header["optimizer"]["state"]["0"]["exp_avg"].dtype == np.float32
    train(resumed, opt2, steps=3, start=3)
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, make_model(), {"epoch": 1})
    save_checkpoint(path, make_model(), {"epoch": 2})  # overwrite in place
    assert load_checkpoint(path)[1]["epoch"] == 2
    with pytest.raises(TypeError, match="header value at 'header/bad'"):
        save_checkpoint(path, make_model(), {"bad": object()})
    assert load_checkpoint(path)[1]["epoch"] == 2  # the old checkpoint survived the failed save
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.npz: no such checkpoint file"):
        load_checkpoint(tmp_path / "nothing.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.npz"
    save_checkpoint(path, make_model(), {"epoch": 1})
    data = path.read_bytes()
    for keep in (len(data) // 2, len(data) - 10, 100):
        path.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match=r"cut\.npz: not a readable checkpoint"):
            load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("epoch 3, accuracy 0.61\n")
    with pytest.raises(CheckpointError, match=r"notes\.txt: not a readable checkpoint"):
        load_checkpoint(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, weights=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"plain\.npz: an \.npz archive but not a minigrad checkpoint"):
        load_checkpoint(plain)
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(CheckpointError, match=r"array\.npy: not a checkpoint"):
        load_checkpoint(single)
    corrupt = tmp_path / "corrupt.npz"
    np.savez(corrupt, __header__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="header is corrupt"):
        load_checkpoint(corrupt)


def test_pickled_content_is_refused_not_run(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __header__=np.zeros(1, dtype=np.uint8), payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    with zipfile.ZipFile(path) as archive:  # the object array really was stored as a pickle
        assert "payload.npy" in archive.namelist()


def test_other_architecture(tmp_path):
    path = tmp_path / "wide.npz"
    save_checkpoint(path, make_model(hidden=16), {"architecture": "mlp-16"})
    with pytest.raises(CheckpointError, match=r"wide\.npz: does not fit this Sequential(.|\n)*'0.weight' has shape "
                                              r"\(16, 6\) in the state dict but \(8, 6\)"):
        load_checkpoint(path, model=make_model(hidden=8))
    deeper = nn.Sequential(*make_model(hidden=16), nn.Linear(3, 3))
    with pytest.raises(CheckpointError, match=r"missing keys \(2\): 4.weight, 4.bias"):
        load_checkpoint(path, model=deeper)
