"""A training run killed at any moment (SIGKILL: no handler runs, nothing is flushed) leaves
a run folder that ``--resume`` continues, or refuses in one line that says why, and
every file in it whole: each checkpoint loads, each JSON and CSV parses, the curves
open.  Every file fer.train writes goes to a temporary file that is renamed over the
old one (fer.training.runs.atomic_file, minigrad.checkpoint.save_checkpoint), which is what
this proves.

20 kills of a real ``python -m fer.train`` (a tiny dense network on synthetic faces,
12 epochs of a fraction of a second each, a checkpoint every epoch): half at a random
moment of the whole run (start-up included), half at a random moment of its training
phase, where saves are frequent.  A stray ``.*.tmp`` file left behind shows a kill that
landed in the middle of a save.  And a checkpoint with flipped bytes is refused in one
line naming the file, or, where the flipped byte is one the zip format does not check
and the arrays do not use, loads exactly as before: never silently different.
"""
import csv
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from fer import train
from fer.cli.common import USER_ERRORS
from minigrad.checkpoint import CheckpointError, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

KILLS = 20
EPOCHS = 12
CONFIG = {"hidden": [256]}   # a checkpoint of ~2 MB: saving is a fair part of each short epoch


def train_command(tiny_args, out):
    argv = tiny_args(out, "dnn", EPOCHS)
    argv[argv.index("--model-config") + 1] = json.dumps(CONFIG)
    return [sys.executable, "-u", "-m", "fer.train", *argv, "--threads", "1"]


def launch(command, env):
    """(process, the moment it started, an Event set once it prints its 'training ...' line)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    training = threading.Event()

    def watch():
        for line in process.stdout:
            if line.startswith("training "):
                training.set()

    threading.Thread(target=watch, daemon=True).start()
    return process, time.perf_counter(), training


def check_files_whole(run):
    """Every file in ``run`` reads whole; returns the epoch last.npz holds (None: no last.npz)."""
    for path in sorted(run.rglob("*.npz")):
        load_checkpoint(path)   # a CheckpointError here is a corrupt checkpoint: the test fails
    for path in run.glob("*.json"):
        json.loads(path.read_text())
    for path in run.glob("*.csv"):   # history.csv, health.csv
        with open(path) as f:
            rows = list(csv.reader(f))
        assert rows and all(len(row) == len(rows[0]) for row in rows), (path, rows)
    for path in run.glob("*.png"):   # curves.png, health.png
        with Image.open(path) as image:
            image.load()
    return load_checkpoint(run / "last.npz")[1]["progress"]["epoch"] if (run / "last.npz").exists() else None


def resume(run, epochs, capsys):
    """(status, its one-line refusal or None) of ``fer.train --resume RUN --epochs N``, as run_cli reports it."""
    capsys.readouterr()
    try:
        status = train.main(["--resume", str(run), "--epochs", str(epochs), "--no-progress"])
    except USER_ERRORS as error:
        return 2, str(error)
    return status, None


def test_a_run_killed_at_random_moments_resumes_or_says_why(tmp_path, tiny_args, one_thread_env, capsys):
    env = {**one_thread_env, "PYTHONUNBUFFERED": "1"}
    rng = random.Random(35)
    whole = tmp_path / "whole"
    process, started, training = launch(train_command(tiny_args, whole), env)
    assert process.wait(timeout=120) == 0
    duration = time.perf_counter() - started
    outcomes, mid_save, finished = Counter(), 0, 0
    for kill in range(KILLS):
        run = tmp_path / f"killed-{kill}"
        process, started, training = launch(train_command(tiny_args, run), env)
        if kill % 2:   # somewhere in the training phase
            assert training.wait(timeout=120)
            time.sleep(rng.uniform(0, max(0.1, duration - (time.perf_counter() - started))))
        else:          # anywhere in the run, start-up included
            time.sleep(rng.uniform(0, duration))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        if process.returncode == 0:
            finished += 1   # the kill came after the end: still resumed below, into one more epoch
        if not run.exists():
            outcomes["killed before its folder existed"] += 1
            continue
        mid_save += any(name.startswith(".") and name.endswith(".tmp") for name in os.listdir(run))
        saved = check_files_whole(run)
        status, refusal = resume(run, (saved or 0) + 1, capsys)
        if refusal is not None:
            assert "\n" not in refusal and str(run) in refusal, refusal
            assert ("no config.json" in refusal) if not (run / "config.json").exists() else \
                ("cannot resume" in refusal and "last.npz" in refusal and saved is None), refusal
            outcomes["refused with a message"] += 1
            continue
        assert status == 0
        assert json.loads((run / "metrics.json").read_text())["status"] == "finished"
        assert check_files_whole(run) == saved + 1
        outcomes["resumed"] += 1
    print(f"\n{KILLS} kills: " + ", ".join(f"{what} {n}" for what, n in sorted(outcomes.items()))
          + f" ({finished} had finished before the kill); {mid_save} landed in the middle of a save; corrupt: 0")
    assert outcomes["resumed"] >= KILLS // 2   # the training-phase kills all leave a last.npz


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_run):
    return tiny_run("dnn", 1, 120) / "last.npz"


def test_a_checkpoint_with_flipped_bytes_is_refused_in_one_line_or_loads_unchanged(checkpoint, tmp_path):
    from fer.data import DataError
    from fer.training.runs import load_model

    data = checkpoint.read_bytes()
    state, header, _ = load_checkpoint(checkpoint)
    rng = np.random.default_rng(35)
    outcomes = Counter()
    damaged = tmp_path / "last.npz"
    for trial in range(60):
        flipped = np.frombuffer(data, np.uint8).copy()
        at = rng.integers(0, len(flipped), 1 + trial % 3)
        flipped[at] ^= (1 << rng.integers(0, 8, len(at))).astype(np.uint8)
        damaged.write_bytes(flipped.tobytes())
        try:
            loaded, loaded_header, _ = load_checkpoint(damaged)
        except CheckpointError as error:
            message = str(error)
            assert message.startswith(f"{damaged}: ") and "\n" not in message, message
            outcomes["refused"] += 1
            continue
        assert loaded_header == header and loaded.keys() == state.keys()
        assert all(np.array_equal(loaded[k], state[k]) for k in state)
        outcomes["unchanged"] += 1
    assert outcomes["refused"] >= 50, outcomes   # nearly every byte of the file is covered by a CRC
    with pytest.raises(DataError, match=f"^{damaged}: ") as error:   # as every command reports it
        damaged.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
        load_model(tmp_path, "last")
    assert "\n" not in str(error.value)
    print(f"\nflipped checkpoints: {dict(outcomes)}")


SAVE_LOOP = """
import sys
import numpy as np
from fer.training.runs import write_json, write_text
from minigrad.checkpoint import save_checkpoint
folder = sys.argv[1]
rows = "".join(f"row {k}\\n" for k in range(20_000))   # made once: the loop is (nearly) all writing
print("ready", flush=True)
version = 0
while True:
    version += 1
    save_checkpoint(f"{folder}/last.npz", {"w": np.full(500_000, version, np.float32)}, {"version": version})
    write_text(f"{folder}/history.csv", f"{version}\\n" + rows)
    write_json(f"{folder}/metrics.json", {"version": version, "rows": 5_000 * [version]})
"""


def test_a_loop_of_saves_killed_mid_write_leaves_every_file_whole(tmp_path, one_thread_env):
    """The same writers in a loop that does nothing else, so that nearly every kill lands
    inside a write: each file left is one whole version, never a mix or a torn half."""
    rng = random.Random(35)
    torn = 0
    for kill in range(KILLS):
        folder = tmp_path / str(kill)
        folder.mkdir()
        process = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(folder)], env=one_thread_env,
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        torn += any(name.endswith(".tmp") for name in os.listdir(folder))
        if (folder / "last.npz").exists():
            state, header, _ = load_checkpoint(folder / "last.npz")
            assert (state["w"] == header["version"]).all() and state["w"].size == 500_000
        if (folder / "history.csv").exists():
            assert len((folder / "history.csv").read_text().splitlines()) == 20_001
        if (folder / "metrics.json").exists():
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["rows"] == 5_000 * [metrics["version"]]
    print(f"\n{KILLS} kills of a loop of saves: {torn} in the middle of a write, every file left whole")
    assert torn >= 3   # the kills did land in writes (about half do)
