"""Shared test setup.

The tests folder is importable (test_autograd reads test_ops.CASES; test_models and the
engine tests read torch_twins).  The fer tests share, as fixtures:

- ``one_thread``: numba and BLAS on one thread for a test module's in-process work, restored
  after (``pytestmark = pytest.mark.usefixtures("one_thread")``); on a small shared machine,
  threads fighting over the cores made training steps up to 30x slower;
- ``one_thread_env``: the environment for a subprocess (``python -m fer....``) on one thread,
  with this checkout first on the import path;
- ``tiny_args``: argv of ``python -m fer.train`` for a tiny synthetic run, and
  ``tiny_configs``: the shrunken models it trains;
- ``small_cnn_config`` and ``small_cnn``: a two-block version of the seed CNN, as
  ``fer.models.networks`` builds it (so ``fer.train`` can train it into an ordinary run folder);
- ``imported_after``: which heavy modules a snippet of Python imports, run in a fresh process.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]

TINY_CONFIGS = {"cnn": {"widths": [4, 8, 8, 8], "dense": [16, 16, 16]},
                "dnn": {"hidden": [32, 32]},
                "vgg": {"widths": [4, 4, 8, 8], "convs_per_block": 1, "dense": [16]},
                "xception": {"stem": [4], "widths": [4, 8]}}

SMALL_CNN = {"widths": [8, 16], "conv_dropout": [0.0, 0.0], "dense": [32], "dense_dropout": 0.0}
"""conv-BN-ReLU-pool twice, dense 32, 7: layer "0" is conv1, "5" is conv2, "7" its ReLU."""


def tiny_train_args(out, model="dnn", epochs=1, size=120, *extra):
    """argv of ``python -m fer.train`` for a tiny synthetic run of ``model`` ("both": the CNN
    and the DNN) into ``out``: a few hundred faces, batches of 32, no time budget."""
    config = TINY_CONFIGS if model == "both" else TINY_CONFIGS[model]
    return ["--model", model, "--data", "synthetic", "--synthetic-size", str(size), "--epochs", str(epochs),
            "--batch-size", "32", "--model-config", json.dumps(config), "--out", str(out), "--no-progress",
            "--max-minutes", "0", *extra]


@pytest.fixture(scope="session")
def tiny_args():
    return tiny_train_args


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``tiny_run(model, epochs, size)``: the folder of a tiny run trained on synthetic faces."""
    def train_run(model, epochs, size):
        from fer import train

        folder = tmp_path_factory.mktemp("run")
        assert train.main(tiny_train_args(folder, model, epochs, size)) == 0
        return folder
    return train_run


@pytest.fixture(scope="session")
def tiny_configs():
    return TINY_CONFIGS


@pytest.fixture(scope="session")
def one_thread_env():
    return {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def one_thread():
    """One numba thread, and one BLAS thread where threadpoolctl can set it, for the module."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits = None
    else:
        limits = threadpool_limits(1)
    yield
    numba.set_num_threads(before)
    if limits is not None:
        limits.restore_original_limits()


@pytest.fixture(scope="session")
def small_cnn_config():
    return dict(SMALL_CNN)


@pytest.fixture(scope="session")
def small_cnn():
    """``small_cnn(seed=0)``: the small CNN, its weights drawn after ``minigrad.manual_seed(seed)``."""
    def build(seed=0):
        import minigrad
        from fer.models.networks import build_model

        minigrad.manual_seed(seed)
        return build_model("cnn", **SMALL_CNN)

    return build


@pytest.fixture(scope="session")
def imported_after(one_thread_env):
    """``imported_after(code)``: the sorted names among numpy, numba, minigrad and matplotlib
    that running ``code`` in a fresh Python imports (its last output line).  What a
    command's ``--help`` must not load is checked this way, never by timing it."""
    def run(code):
        heavy = "('numpy', 'numba', 'minigrad', 'matplotlib')"
        script = f"{code}\nimport sys\nprint(sorted(m for m in {heavy} if m in sys.modules))"
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=one_thread_env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    return run
