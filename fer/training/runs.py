"""Run folders: where a training run keeps its files, and loading a model back from one.

A run folder (default ``runs/<YYYYmmdd-HHMMSS>-<model>/``) holds::

    config.json    every setting, the data source, the synthetic flag, versions
    summary.txt    the model's Keras-style layer table
    history.csv    one row per epoch
    curves.png     loss and accuracy, train vs validation
    best.npz       weights of the best validation epoch (header: architecture)
    last.npz       weights + optimiser + schedule state of the last finished epoch
    metrics.json   the final numbers: best epoch, validation and test accuracy, speed

Every file of a run folder is written atomically (:func:`atomic_file`): into a temporary
file beside it, flushed to disk, then renamed over the old one, so that a run killed at
any moment leaves each file whole, old or new, never half written.  The checkpoints do
the same in :func:`minigrad.checkpoint.save_checkpoint`.

A checkpoint's JSON header carries the architecture (``{"model": "cnn", ...}``), so
:func:`load_model` rebuilds the network from data alone: no stored code runs, and
:func:`load_data` re-loads the data a run was trained on from its settings
(:func:`pick_split` picks the split a command scores).
"""
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..data import SYNTHETIC_SIZE, DataError, load_splits, synthetic_splits

CHECKPOINTS = ("best", "last")


def default_run_dir(model, root="runs", now=None):
    """``runs/<YYYYmmdd-HHMMSS>-<model>``; a numbered suffix avoids reusing a folder
    when two runs start within the same second (as ``--model both`` can)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = Path(root) / f"{stamp}-{model}"
    suffix = 2
    while path.exists():
        path = Path(root) / f"{stamp}-{model}-{suffix}"
        suffix += 1
    return path


@contextmanager
def atomic_file(path):
    """``with atomic_file(path) as tmp:`` write ``tmp`` (a path beside ``path``); when the
    block ends without error the file is flushed to disk and renamed over ``path``
    (``os.replace`` is atomic), otherwise it is removed and ``path`` left as it was.
    A crash at any moment leaves ``path`` old or new, and at worst a stray ``.*.tmp``."""
    from minigrad.checkpoint import _fsync_directory   # the checkpoints' own, so that both do the same

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())   # the data reaches the disk before the name points at it
        os.replace(tmp, path)
        _fsync_directory(str(path.parent))   # and the rename too, should the power fail
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def write_json(path, data):
    """Write ``data`` as indented JSON, atomically (a reader never sees half a file)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def source_commit():
    """The git commit of the code that runs (``<sha>-dirty`` with uncommitted changes), or None
    outside a git checkout (an installed package): config.json records it with the versions."""
    import subprocess

    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def read_config(run_dir):
    """The run's config.json as a dict; DataError when ``run_dir`` is not a run folder."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise DataError(f"{run_dir}: not a training run folder (no config.json)")
    return json.loads(path.read_text())


def checkpoint_path(run_dir, checkpoint="best"):
    """``RUN/best.npz`` or ``RUN/last.npz``."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    return Path(run_dir) / f"{checkpoint}.npz"


def load_model(run_dir, checkpoint="best"):
    """Rebuild a trained model from a run folder: ``(model, header)``.

    The architecture comes from the checkpoint's header, the weights from its
    arrays; the model is returned in evaluation mode.
    """
    from minigrad.checkpoint import CheckpointError, load_checkpoint

    from ..models.networks import from_architecture

    path = checkpoint_path(run_dir, checkpoint)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint (is {run_dir} a training run that finished an epoch?)")
    try:
        state_dict, header, _ = load_checkpoint(path)
    except CheckpointError as error:
        raise DataError(str(error)) from None
    model = from_architecture(header["architecture"])
    model.load_state_dict(state_dict)
    model.eval()
    return model, header


def load_data(settings):
    """The splits a run trains on, from its settings; evaluation calls it again with
    the run's config.json to get the very same validation split (always seed 0:
    runs with different seeds must be scored on the same images).

    ``data`` None searches --data/$FER2013_DATA/./data/ and falls back to the
    synthetic faces; "synthetic" asks for those directly (what --quick does).
    """
    if settings["data"] == "synthetic":
        return synthetic_splits(settings["synthetic_size"] or SYNTHETIC_SIZE, settings["val_fraction"], seed=0)
    return load_splits(settings["data"], val_fraction=settings["val_fraction"], seed=0, quiet=True,
                       skip_bad_rows=settings["skip_bad_rows"], synthetic_size=settings["synthetic_size"])


def pick_split(splits, name=None):
    """``(name, Dataset)`` of the labelled split to score or explain: ``name`` ("val" or
    "test"), by default the test split when it has labels, else the validation split;
    DataError when the split has no labels."""
    if name is None:
        name = "test" if splits.test is not None else "val"
    dataset = splits.test if name == "test" else splits.val
    if dataset is None or not len(dataset):
        raise DataError(f"the data ({splits.source}) has no labelled {name} split; try --split val")
    return name, dataset
