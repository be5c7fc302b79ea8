"""Data-parallel training over MPI: ``mpiexec -n N python -m fer.train ...``.

Every rank (process) holds the whole model.  Each step the N ranks split one global batch
of B images between them (:meth:`MPIGroup.shard`), each runs forward and backward on its
share, and one ``Allreduce`` sums their gradients; then every rank applies the same
optimiser step to the same weights, so the weights stay identical without ever being sent
again.  The data-parallel part of Horovod and PyTorch's DistributedDataParallel, in one file.

**Why the sum equals one process's gradient.**  A single process minimises the mean loss of
the global batch, L = (1/B) sum_i l_i.  Rank r sees b_r of the B images and computes the
mean of its own, L_r = (1/b_r) sum_{i in r} l_i, so L = sum_r (b_r / B) L_r: each rank
back-propagates its mean weighted by its share b_r / B, and the Allreduce *sums*.  With B
divisible by N every share is 1/N (the usual "average the gradients"); a batch of 65 on
2 ranks (33 + 32) or a last partial batch is weighted right too.  The weighting is applied
to the loss, not to the gradients, so that synchronised batch norm (:mod:`fer.training.sync_bn`),
whose backward all-reduces sums of the upstream gradient, sees every rank's gradient on
the same scale.

**One buffer per step.**  The gradients of all parameters are copied into one preallocated
float32 buffer, reduced by one ``Allreduce`` (latency is paid once, not once per tensor)
and copied back.  A few numbers ride along at the end of the buffer: the share's summed
loss, correct predictions and images (so rank 0 logs the global batch's figures), and two
flags that every rank must agree on: "a rank was interrupted" (Ctrl-C or SIGTERM) and "the
time budget is spent" (rank 0's clock decides).  A NaN loss on any rank makes the summed
loss NaN, so every rank sees it at the same step.

**Faults.**  A collective waits for every rank, so a rank that stops alone leaves the others
waiting forever.  Hence: the stops that can be agreed on are agreed on through the buffer
(Ctrl-C, NaN, the budget: every rank leaves at the same step, rank 0 writes the run folder
and everybody exits with the same status); every other failure on any rank (an exception,
a second Ctrl-C) goes through :meth:`MPIGroup.abort_on_failure`, which prints what
happened, with the rank, and calls ``MPI_Abort``: the launcher then ends every rank within
a second.  A rank killed outright is noticed by the launcher itself, which ends the others.
Checkpoints are written atomically at epoch ends, so ``last.npz`` is always the last good
epoch.

Without a launcher, :func:`connect` returns :class:`Single`, whose collectives are the
identity, and mpi4py is never imported.
"""
import os
import signal
import sys
import time
from contextlib import contextmanager

import numpy as np

from ..errors import DataError, UsageError

# What the common launchers put in each rank's environment: mpiexec of MPICH (and Intel MPI,
# MVAPICH) and Slurm's srun --mpi=pmi2 set PMI_SIZE; Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE;
# a PMIx launcher (srun --mpi=pmix) sets PMIX_RANK, and MPI itself is asked for the size.
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_ONLY_VARIABLES = ("PMIX_RANK",)

# Errors every rank raises together, after rank 0 found them (see MPIGroup.from_root).
USER_ERRORS = (DataError, UsageError, FileNotFoundError)


def launched_by_mpi(environ=os.environ):
    """Whether this process is one of several started by an MPI launcher (without importing MPI)."""
    for name in SIZE_VARIABLES:
        if name in environ:
            return int(environ[name]) > 1
    return any(name in environ for name in RANK_ONLY_VARIABLES)


def connect():
    """The process group of this run: :class:`MPIGroup` under a launcher with more than one
    rank, else :class:`Single` (and mpi4py stays unimported)."""
    if not launched_by_mpi():
        return Single()
    try:
        from mpi4py import MPI
    except ImportError:
        raise UsageError("started by an MPI launcher, but mpi4py is not installed: "
                         'pip install -e ".[mpi]" (or pip install mpi4py mpich)') from None
    if MPI.COMM_WORLD.Get_size() == 1:
        return Single()
    return MPIGroup(MPI.COMM_WORLD)


def shares(n, size):
    """The sizes of ``size`` contiguous shares of ``n`` items: differ by at most one, larger first."""
    return [n // size + (1 if r < n % size else 0) for r in range(size)]


class Single:
    """One process: the same interface as :class:`MPIGroup`, every collective the identity."""

    rank, size, is_root = 0, 1, True

    def shard(self, index):
        return index

    def from_root(self, fn):
        return fn()

    def maximum(self, values):
        return values

    def sum(self, values):
        return np.asarray(values, dtype=np.float64)

    def broadcast_model(self, model):
        pass

    def average_buffers(self, model):
        pass

    def reduce_step(self, params, totals, deadline):
        return totals

    def out_of_time(self, deadline):
        return time.perf_counter() > deadline

    @contextmanager
    def abort_on_failure(self):
        yield


class MPIGroup:
    """The ranks of an MPI job (``comm``: mpi4py's COMM_WORLD), and the collectives training needs.

    Only rank 0 (``is_root``) reads the data and the checkpoint to resume from (and sends them,
    :meth:`from_root`), writes files or prints to stdout: on the other ranks stdout is sent to
    ``os.devnull``.
    """

    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        self.local_size = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()  # ranks on this machine
        self.buffer = None       # the flat float32 gradient buffer, made at the first step
        self.interrupted = False  # set by the signal handler, shipped with the next step
        self.stop_for_time = False  # agreed at the last step
        if not self.is_root:
            sys.stdout = open(os.devnull, "w")
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    # ------------------------------------------------------------------ stopping together
    def _on_signal(self, signum, frame):
        """The first Ctrl-C (or SIGTERM, which Slurm sends at a job's time limit) asks every rank to
        stop after the current step; a second one aborts at once.  mpiexec passes Ctrl-C on to
        every rank, but a rank may be inside an Allreduce, where Python cannot raise: so the
        request travels with the step's gradients instead of as an exception."""
        if self.interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.interrupted = True
        if self.is_root:
            print(f"\n{signal.Signals(signum).name}: every rank stops after this step "
                  f"(press Ctrl-C again to abort at once)", file=sys.stderr, flush=True)

    @contextmanager
    def abort_on_failure(self):
        """End every rank when this one fails alone.  Errors every rank raised together
        (marked ``collective`` by :meth:`from_root`) leave normally: rank 0 reports them,
        the others exit quietly with the same status."""
        try:
            yield
        except BaseException as error:
            if getattr(error, "collective", False):
                if self.is_root:
                    raise
                raise SystemExit(2) from None
            if isinstance(error, SystemExit) and error.code in (0, None):
                raise
            import traceback

            code = 130 if isinstance(error, KeyboardInterrupt) else 1
            what = "interrupted" if code == 130 else f"{type(error).__name__}: {error}"
            if code == 1 and not isinstance(error, USER_ERRORS):
                traceback.print_exc()
            print(f"error: rank {self.rank} of {self.size} failed ({what}); ending all {self.size} ranks. "
                  f"The run folder keeps its last completed epoch (last.npz).", file=sys.stderr, flush=True)
            self.comm.Abort(code)

    # ------------------------------------------------------------------ agreeing before training
    def from_root(self, fn):
        """``fn()`` run on rank 0 and its result sent to every rank; a user error there is raised
        on every rank (marked ``collective``), so all of them stop together."""
        outcome = None
        if self.is_root:
            try:
                outcome = ("value", fn())
            except USER_ERRORS as error:
                outcome = ("error", error)
        kind, value = self.comm.bcast(outcome, root=0)
        if kind == "error":
            value.collective = True
            raise value
        return value

    def maximum(self, values):
        """Elementwise maximum over the ranks: the slowest rank's times decide the budget."""
        values = np.asarray(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.MAX)
        return values

    def sum(self, values):
        values = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM)
        return values

    # ------------------------------------------------------------------ the model
    def broadcast_model(self, model):
        """Rank 0's weights and buffers (batch-norm statistics) to every rank, in place."""
        for array in [p.data for p in model.parameters()] + list(model.buffers()):
            self.comm.Bcast(array, root=0)

    def average_buffers(self, model):
        """Average the batch-norm running statistics over the ranks (each rank's moved with its
        own batches), so that every rank validates and saves the same model."""
        buffers = list(model.buffers())
        if not buffers:
            return
        flat = self.sum(np.concatenate([b.ravel() for b in buffers])) / self.size
        offset = 0
        for b in buffers:
            b[...] = flat[offset:offset + b.size].reshape(b.shape)
            offset += b.size

    # ------------------------------------------------------------------ each step
    def shard(self, index):
        """This rank's contiguous share of a global batch's indices (see :func:`shares`)."""
        sizes = shares(len(index), self.size)
        start = sum(sizes[:self.rank])
        return index[start:start + sizes[self.rank]]

    def reduce_step(self, params, totals, deadline):
        """Sum the gradients of ``params`` over the ranks, in place, with one Allreduce, and with
        them ``totals`` (this rank's loss sum, correct predictions, images): returns their sums.

        Raises KeyboardInterrupt on every rank when any rank was interrupted (before the
        optimiser step: the epoch's partial work is dropped anyway), and records whether rank
        0's clock passed ``deadline`` (:meth:`out_of_time` answers it at the next step)."""
        sizes = [p.size for p in params]
        n = sum(sizes)
        if self.buffer is None or len(self.buffer) != n + len(totals) + 2:
            self.buffer = np.empty(n + len(totals) + 2, dtype=np.float32)
        buffer, offset = self.buffer, 0
        for p, size in zip(params, sizes):
            buffer[offset:offset + size] = 0 if p.grad is None else p.grad.ravel()
            offset += size
        buffer[n:n + len(totals)] = totals
        buffer[-2] = self.interrupted
        buffer[-1] = self.is_root and time.perf_counter() > deadline
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        if buffer[-2] > 0:
            self.interrupted = False
            raise KeyboardInterrupt
        self.stop_for_time = bool(buffer[-1] > 0)
        offset = 0
        for p, size in zip(params, sizes):  # views into the buffer: no copy back
            if p.grad is not None:
                p.grad = buffer[offset:offset + size].reshape(p.grad.shape)
            offset += size
        return [float(v) for v in buffer[n:n + len(totals)]]

    def out_of_time(self, deadline):
        """Rank 0's verdict from the last step, the same on every rank."""
        return self.stop_for_time

    def threads_per_rank(self):
        """The default of --threads: the cores this rank may use, when the launcher pinned it to
        some (Slurm's --cpus-per-task), else the machine's cores shared among its ranks."""
        machine = os.cpu_count() or 1
        mine = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else machine
        return mine if mine < machine else max(1, machine // self.local_size)
