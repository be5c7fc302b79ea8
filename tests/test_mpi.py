"""Data-parallel training under ``mpiexec -n 2`` (fer.training.distributed, fer.training.sync_bn).

The MPI tests start ``mpiexec -n 2 python -m fer.train ...`` (or tests/mpi_helper.py, which
plants a fault on rank 1) as a subprocess on tiny synthetic runs, and compare with
``python -m fer.train`` in one process.  They skip when mpi4py or mpiexec is missing
(``pip install -e ".[mpi]"`` brings both).  Every subprocess has a timeout: a rank left
waiting on a collective fails the test instead of hanging it.

Exactness: SGD (linear in the gradient, so a wrongly weighted or missing gradient shows;
Adam would hide a factor) on a model without batch norm and dropout, after 12 steps of
uneven shares (batch 31 = 16 + 15, last batch 6 = 3 + 3): weights within 1e-6 of one
process's (float32 sums in another order; measured 1.5e-8, against a change of ~0.1 from
the initial weights and 0.06 when the shares are not weighted).
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigrad.checkpoint import load_checkpoint
from fer.training.distributed import Single, launched_by_mpi, shares
from fer.training.trainer import count_batches, epoch_seed

ROOT = Path(__file__).resolve().parents[1]
HELPER = str(ROOT / "tests" / "mpi_helper.py")
TIMEOUT = 120  # seconds for one tiny run; a hang fails the test instead of stalling CI

# The seed CNN's layers at a tiny width (conftest's TINY_CONFIGS); PLAIN without batch norm and dropout.
CNN = {"widths": [4, 8, 8, 8], "dense": [16, 16, 16]}
PLAIN = {**CNN, "batch_norm": False, "conv_dropout": [0, 0, 0, 0], "dense_dropout": 0}
NO_DROPOUT = {**CNN, "conv_dropout": [0, 0, 0, 0], "dense_dropout": 0}


def find_mpiexec():
    """mpiexec beside this Python (the mpich wheel puts it there), else on PATH; None without mpi4py."""
    try:
        import mpi4py  # noqa: F401  (only asks whether it is installed)
    except ImportError:
        return None
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason='needs mpi4py and mpiexec (pip install -e ".[mpi]")')


def run_args(out, model_config, epochs=2, *extra):
    return ["--model", "cnn", "--data", "synthetic", "--synthetic-size", "200", "--epochs", str(epochs),
            "--batch-size", "31", "--model-config", json.dumps(model_config), "--out", str(out), "--no-progress",
            "--max-minutes", "0", *extra]


def launch(argv, env, ranks=2, helper=None):
    """Run fer.train (or the helper, ``(mode, folder)``) on ``ranks`` processes (1: no mpiexec)."""
    if helper is not None:
        program = [HELPER, helper[0], str(helper[1])]
    else:
        program = ["-m", "fer.train"]
    command = [sys.executable, *program, *argv]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def weights(run):
    return load_checkpoint(Path(run) / "last.npz")[0]


def train_losses(run):
    lines = (Path(run) / "history.csv").read_text().splitlines()
    column = lines[0].split(",").index("train_loss")
    return np.array([float(line.split(",")[column]) for line in lines[1:]])


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[key] - b[key]).max()) for key in a)


# ------------------------------------------------------------------ without MPI
def test_without_a_launcher_mpi4py_is_never_imported(tmp_path, one_thread_env):
    code = ("import sys\nfrom fer import train\n"
            f"assert train.main({run_args(tmp_path / 'run', CNN, 1)!r}) == 0\n"
            "print('mpi4py' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=one_thread_env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 1


def test_the_launchers_variables_are_read_without_mpi():
    assert not launched_by_mpi({})
    assert not launched_by_mpi({"PMI_SIZE": "1"})  # mpiexec -n 1: an ordinary single process
    assert launched_by_mpi({"PMI_SIZE": "4"}) and launched_by_mpi({"OMPI_COMM_WORLD_SIZE": "2"})
    assert launched_by_mpi({"PMIX_RANK": "0"})  # srun --mpi=pmix: MPI is asked for the size


def test_shares_split_a_batch_evenly_and_whole():
    for n in range(1, 70):
        for size in (1, 2, 3, 8):
            parts = shares(n, size)
            assert sum(parts) == n and max(parts) - min(parts) <= 1 and parts == sorted(parts, reverse=True)
    index = np.arange(10, 41)
    assert np.array_equal(Single().shard(index), index)


def test_a_last_batch_is_kept_only_when_every_rank_gets_two_images():
    assert count_batches(100, 32) == 4 and count_batches(97, 32) == 3  # one process: 4 images, then 1
    assert count_batches(100, 32, ranks=2) == 4 and count_batches(99, 32, ranks=2) == 3  # 4 = 2 + 2; 3 = 2 + 1
    assert count_batches(101, 32, ranks=4) == 3  # 5 images on 4 ranks: dropped


def test_rank_zero_draws_a_single_processs_streams_and_the_others_their_own():
    assert epoch_seed(7, 3, 1, rank=0) == epoch_seed(7, 3, 1)
    assert len({epoch_seed(7, 3, 1, rank) for rank in range(4)}) == 4


# ------------------------------------------------------------------ under mpiexec -n 2
@pytest.fixture(scope="module")
def single_plain(tmp_path_factory, one_thread_env):
    """One process trained without batch norm and dropout, by SGD: the reference for exactness."""
    out = tmp_path_factory.mktemp("single") / "plain"
    done = launch(run_args(out, PLAIN, 2, "--augment", "none", "--optimizer", "sgd", "--lr", "0.1"),
                     one_thread_env, ranks=1)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def straight(tmp_path_factory, one_thread_env):
    """Two ranks, the tiny seed CNN with batch norm, dropout and augmentation, 2 epochs, each
    rank writing the checksum of its final weights; the reference for resume."""
    out = tmp_path_factory.mktemp("mpi") / "straight"
    out.mkdir()
    done = launch(run_args(out / "run", CNN, 2, "--schedule", "cosine"), one_thread_env,
                     helper=("checksums", out))
    assert done.returncode == 0, done.stderr
    return out


@needs_mpi
def test_two_ranks_give_one_processs_weights(tmp_path, one_thread_env, single_plain):
    done = launch(run_args(tmp_path, PLAIN, 2, "--augment", "none", "--optimizer", "sgd", "--lr", "0.1"),
                     one_thread_env)
    assert done.returncode == 0, done.stderr
    assert "on 2 processes" in done.stdout
    assert json.loads((tmp_path / "config.json").read_text())["world_size"] == 2
    one, two = weights(single_plain), weights(tmp_path)
    import minigrad
    from fer.models.networks import build_model

    minigrad.manual_seed(0)
    initial = build_model("cnn", **PLAIN).state_dict()
    assert max_difference(one, initial) > 0.05  # the 12 steps moved the weights...
    assert max_difference(one, two) < 1e-6      # ...and both ways alike
    np.testing.assert_allclose(train_losses(tmp_path), train_losses(single_plain), rtol=1e-5)


@needs_mpi
def test_synchronised_batch_norm_gives_one_processs_epoch(tmp_path, one_thread_env):
    """The seed CNN (tiny) with batch norm: --sync-bn normalises by the global batch's statistics,
    as one process does, so one epoch (6 steps) ends with one process's weights and running
    statistics (measured 5e-7 apart; 0.27 without --sync-bn) and train loss (equal to 6 digits;
    0.9% apart without).  Only one epoch: after some 7 steps the trajectory is chaotic, and
    multiplying one process's own initial weights by 1 +- 1e-7 moves its second epoch's loss by
    up to 0.3%, as much as training without --sync-bn does; in the first epoch such a nudge
    moved the weights and statistics by up to 1.7e-3 and the loss by up to 2.4e-4."""
    argv = ["--augment", "none", "--optimizer", "sgd", "--lr", "0.05"]
    one = launch(run_args(tmp_path / "one", NO_DROPOUT, 1, *argv), one_thread_env, ranks=1)
    two = launch(run_args(tmp_path / "two", NO_DROPOUT, 1, *argv, "--sync-bn"), one_thread_env)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert max_difference(weights(tmp_path / "one"), weights(tmp_path / "two")) < 1e-2
    np.testing.assert_allclose(train_losses(tmp_path / "two"), train_losses(tmp_path / "one"), rtol=1e-3)
    assert json.loads((tmp_path / "two" / "config.json").read_text())["settings"]["sync_bn"] is True


@needs_mpi
def test_ranks_end_with_identical_weights_and_buffers(straight):
    """Batch norm with each rank's own statistics, dropout and augmentation drawn per rank: the
    weights still agree bit for bit (same sums, same steps) and the running statistics, averaged
    at each epoch's end, too; rank 0 saved exactly those."""
    checksums = [(straight / f"rank-{rank}.sha256").read_text() for rank in range(2)]
    assert checksums[0] == checksums[1]
    from mpi_helper import state_checksum
    from fer.training.runs import load_model

    model, _ = load_model(straight / "run", "last")
    assert state_checksum(model) == checksums[0]


@needs_mpi
def test_ctrl_c_on_one_rank_stops_both_and_resume_gives_the_uninterrupted_weights(tmp_path, one_thread_env,
                                                                                  straight):
    run = tmp_path / "run"
    argv = run_args(run, CNN, 2, "--schedule", "cosine")
    done = launch(argv, one_thread_env, helper=("interrupt", tmp_path))
    assert done.returncode == 130, done.stderr
    assert "interrupted in epoch 2" in done.stderr and f"mpiexec -n 2 python -m fer.train --resume {run}" in done.stderr
    assert json.loads((run / "metrics.json").read_text())["status"] == "interrupted"
    assert load_checkpoint(run / "last.npz")[1]["epoch"] == 1

    done = launch(["--resume", str(run), "--no-progress"], one_thread_env)
    assert done.returncode == 0, done.stderr
    assert max_difference(weights(run), weights(straight / "run")) == 0  # every stream is (seed, epoch, rank)'s


@needs_mpi
@pytest.mark.parametrize("fault, status, message", [
    ("fail", 1, "rank 1 of 2 failed (RuntimeError: planted failure on rank 1)"),
    ("kill", None, ""),  # the launcher notices and ends rank 0 (its own message)
    ("nan", 1, "the loss became nan in epoch 2, batch 1"),
])
def test_a_fault_on_one_rank_ends_both_promptly_and_keeps_the_checkpoint(tmp_path, one_thread_env, fault, status,
                                                                          message):
    run = tmp_path / "run"
    done = launch(run_args(run, CNN, 3), one_thread_env, helper=(fault, tmp_path))
    assert done.returncode != 0 and (status is None or done.returncode == status), done.stderr
    assert message in done.stderr
    assert load_checkpoint(run / "last.npz")[1]["epoch"] == 1  # the last good epoch


@needs_mpi
def test_the_time_budget_stops_every_rank_at_the_same_step(tmp_path, one_thread_env):
    """Rank 0's clock decides, the all-reduce tells the others: if they decided apart, one would
    wait for the other forever (the timeout would fail the test).  The budget, 30 ms, runs out some
    steps into the first epoch, which takes 0.26-0.32 s on an idle 2-core machine (0.5-0.8 s under
    load); a budget near an epoch's length (it was 0.3 s) let the epoch finish first on an idle
    machine, and the run stop after it."""
    argv = run_args(tmp_path, CNN, 5, "--schedule", "none", "--max-minutes", "0.0005", "--synthetic-size", "3000")
    done = launch(argv, one_thread_env)
    assert done.returncode == 0, done.stderr
    status = json.loads((tmp_path / "metrics.json").read_text())["status"]
    assert status == "time budget of 0.0005 min reached during epoch 1 (its partial work is dropped)"


@needs_mpi
@pytest.mark.parametrize("extra, message", [
    (["--data", "no-such-file.csv"], "error: no-such-file.csv: no such file"),  # found by rank 0 alone
    (["--batch-size", "3"], "error: a batch of 3 images cannot be shared by 2 ranks"),  # by every rank
])
def test_a_users_mistake_is_reported_once_and_ends_every_rank(tmp_path, one_thread_env, extra, message):
    done = launch(run_args(tmp_path / "run", CNN, 1, *extra), one_thread_env)
    assert done.returncode == 2 and done.stderr.count(message) == 1, done.stderr
    assert "Traceback" not in done.stderr and "Abort" not in done.stderr


def test_sync_batch_norm_in_one_process_is_batch_norm_and_passes_its_gradient_check():
    import minigrad.functional as F
    from minigrad import Tensor, gradcheck
    from fer.training.sync_bn import sync_batch_norm

    rng = np.random.default_rng(0)
    for relu in (False, True):
        x, w, b = (Tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True) for shape in ((4, 3, 2, 2), 3, 3))
        assert gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, True, relu=relu, group=Single()), x, w, b)

        x = rng.standard_normal((8, 3, 5, 5)).astype(np.float32) * 2 + 1
        stats = [[np.zeros(3, np.float32), np.ones(3, np.float32)] for _ in range(2)]
        plain = F.batch_norm_relu if relu else F.batch_norm
        results = []
        for fn, (mean, var) in ((plain, stats[0]), (lambda *a: sync_batch_norm(*a, relu=relu, group=Single()),
                                                    stats[1])):
            t = Tensor(x, requires_grad=True)
            y = fn(t, mean, var, Tensor(np.full(3, 1.5, np.float32)), Tensor(np.full(3, 0.2, np.float32)), True)
            y.backward(np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape))
            results.append((y.data, t.grad, mean, var))
        for one, other in zip(*results):
            np.testing.assert_allclose(one, other, rtol=1e-5, atol=1e-6)
