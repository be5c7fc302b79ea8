"""``python -m fer.train`` under mpiexec with a probe or a fault planted on one rank (for test_mpi.py).

    mpiexec -n 2 python tests/mpi_helper.py MODE OUT_DIR [fer.train arguments...]

MODE:
  checksums   each rank writes the SHA-256 of its final weights and buffers to OUT_DIR/rank-R.sha256
  fail        rank 1 raises an exception at the start of epoch 2
  kill        rank 1 kills itself (SIGKILL) at the start of epoch 2
  interrupt   rank 1 gets a Ctrl-C (SIGINT) at the start of epoch 2
  nan         rank 1's loss becomes NaN in epoch 2

Faults come at the start of epoch 2, when rank 0 is about to wait in the first step's
Allreduce for a rank that will never join it: what must not hang.
"""
import hashlib
import os
import signal
import sys
from pathlib import Path

import minigrad.functional as F
from fer import train
from fer.cli.common import run_cli
from fer.training.trainer import Trainer


def state_checksum(model):
    state = model.state_dict()
    return hashlib.sha256(b"".join(state[key].tobytes() for key in sorted(state))).hexdigest()


def plant(mode, out):
    from mpi4py import MPI  # here, not at the top: test_mpi.py imports state_checksum without MPI

    rank = MPI.COMM_WORLD.Get_rank()
    train_epoch, finish, cross_entropy = Trainer.train_epoch, Trainer.finish, F.cross_entropy

    def faulty_epoch(self):
        if self.epoch == 1 and rank == 1:
            if mode == "fail":
                raise RuntimeError("planted failure on rank 1")
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "interrupt":
                os.kill(os.getpid(), signal.SIGINT)
            if mode == "nan":
                F.cross_entropy = lambda *args, **kwargs: cross_entropy(*args, **kwargs) * float("nan")
        return train_epoch(self)

    def finish_with_checksum(self, status):
        Path(out, f"rank-{rank}.sha256").write_text(state_checksum(self.model))
        return finish(self, status)

    if mode == "checksums":
        Trainer.finish = finish_with_checksum
    elif mode != "plain":
        Trainer.train_epoch = faulty_epoch


if __name__ == "__main__":
    mode, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    plant(mode, out)
    run_cli(train.main, argv)
