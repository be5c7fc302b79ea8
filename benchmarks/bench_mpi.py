"""Data-parallel training: images/s for each layout of ranks and threads, the all-reduce's
cost per step, and the scaling model of docs/MPI.md filled in from them.

    python benchmarks/bench_mpi.py                    # the measurement (a quiet machine, ~5 min)
    python benchmarks/bench_mpi.py --quick            # a smoke run: tiny sizes, figures meaningless

For each network (the seed CNN and the ``xception`` preset's mini-Xception) it trains, with the
real training loop (:meth:`fer.training.trainer.Trainer.train_epoch`: loading, augmentation, forward,
backward, all-reduce, optimiser step) on random images, first in one process with 2 threads
(1 rank x 2 threads), then under ``mpiexec -n 2`` with 1 thread each (2 ranks x 1 thread),
without and with ``--sync-bn``, and times the second of two epochs.  It prints images/s, the time per step spent in the
gradient all-reduce (including the wait for the slower rank), and the pure all-reduce of the
same buffer timed alone after a barrier (bytes, ms).

Then the scaling model (see docs/MPI.md): from the one-machine images/s r and the gradient
bytes S, per step on N machines with link bandwidth W and per-message latency a,

    compute  t_c = b / r                 (b images per machine and step)
    reduce   t_a = 2 (N-1)/N * S / W + 2 (N-1) a      (ring all-reduce)
    images/s X = N b / (t_c + t_a)

for a fixed global batch (b = B/N: each machine's share shrinks) and for a fixed batch per
machine (b = B: the global batch grows, N B), and the hours to the preset's measured
accuracy, n E / X (n training images, E epochs), assuming the epochs needed stay the same.
Asserts nothing; tests never time anything.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESET = {"cnn": "seed-cnn", "xception": "xception"}
# What each preset reached on FER2013 in one process (docs/RESULTS.md): epochs, accuracy.
MEASURED_RESULT = {"cnn": (9, "60.6%"), "xception": (34, "63.2%")}
FER_TRAIN_IMAGES = 28709
BANDWIDTHS_GBIT = (1, 10, 100)
MACHINES = (1, 2, 4, 8, 16, 32, 64)


# ------------------------------------------------------------------ one worker (one rank)
def worker(model_name, batch, steps, threads, quick, sync_bn):
    """Train two epochs of ``steps`` batches on random images; rank 0 prints a JSON line."""
    from fer.cli.threads import limit_threads

    limit_threads(threads)
    import numpy as np

    from fer.models import presets
    from fer.data.formats import Dataset
    from fer.data.loading import Splits
    from fer.training.distributed import connect
    from fer.training.trainer import Trainer

    group = connect()
    explicit = {"batch_size": batch, "epochs": 2, "max_minutes": 0, "sync_bn": sync_bn}
    if quick:  # narrow networks: only that the machinery runs
        explicit["model_config"] = {"cnn": {"widths": [8, 16, 16, 16], "dense": [32, 32, 32]},
                                    "xception": {"stem": [4, 4], "widths": [8, 16, 16, 16]}}[model_name]
    settings = presets.resolve(PRESET[model_name], None, False, explicit)
    rng = np.random.default_rng(0)
    n = batch * steps

    def images(count):
        return Dataset(rng.integers(0, 256, (count, 1, 48, 48), dtype=np.uint8), rng.integers(0, 7, count))

    splits = Splits(images(n), images(2 * group.size), None, "random images", True)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(settings, splits, run_dir, log=lambda *args: None, progress=False, group=group)
        reduce_seconds = []
        if group.size > 1:
            reduce_step = group.reduce_step

            def timed_reduce(*args):
                tic = time.perf_counter()
                result = reduce_step(*args)
                reduce_seconds.append(time.perf_counter() - tic)
                return result

            group.reduce_step = timed_reduce
        trainer.train_epoch()  # compiles kernels, warms caches
        reduce_seconds.clear()
        tic = time.perf_counter()
        trainer.train_epoch()
        seconds = float(group.maximum(time.perf_counter() - tic))
    parameters = sum(p.size for p in trainer.model.parameters())
    result = {"model": model_name, "ranks": group.size, "threads": threads, "sync_bn": sync_bn,
              "images_per_s": n / seconds,
              "step_ms": 1e3 * seconds / steps, "parameters": parameters, "bytes": 4 * parameters}
    if group.size > 1:
        result["reduce_in_step_ms"] = 1e3 * float(group.maximum(np.mean(reduce_seconds)))
        result["allreduce_ms"] = 1e3 * pure_allreduce_seconds(group, 5 if quick else 30)
    if group.is_root:
        print(json.dumps(result), flush=True)


def pure_allreduce_seconds(group, repeats):
    """Median seconds of one Allreduce of the step's buffer, every rank starting together."""
    import numpy as np

    times = []
    for _ in range(repeats):
        group.comm.Barrier()
        tic = time.perf_counter()
        group.comm.Allreduce(group.MPI.IN_PLACE, group.buffer, op=group.MPI.SUM)
        times.append(time.perf_counter() - tic)
    return float(group.maximum(np.median(times)))


# ------------------------------------------------------------------ the launcher
def measure(model_name, ranks, threads, args, mpiexec, sync_bn=False):
    command = [sys.executable, __file__, "--worker", model_name, "--threads", str(threads),
               "--batch", str(args.batch), "--steps", str(args.steps)] + (["--quick"] if args.quick else [])
    command += ["--sync-bn"] if sync_bn else []
    if ranks > 1:
        command = [mpiexec, "-n", str(ranks)] + command
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_measurements(rows):
    print("| network | ranks x threads | images/s | step (ms) | all-reduce in the step (ms) | "
          "all-reduce alone (ms) | gradient bytes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        reduce = f"{r['reduce_in_step_ms']:.1f}" if "reduce_in_step_ms" in r else "-"
        alone = f"{r['allreduce_ms']:.2f}" if "allreduce_ms" in r else "-"
        layout = f"{r['ranks']} x {r['threads']}" + (", --sync-bn" if r["sync_bn"] else "")
        print(f"| {r['model']} | {layout} | {r['images_per_s']:.0f} | {r['step_ms']:.0f} | "
              f"{reduce} | {alone} | {r['bytes'] / 1e6:.2f} MB |")


def step_model(r, S, N, W, a, b):
    """(compute s, all-reduce s) of one step on N machines (see the module docstring)."""
    t_c = b / r
    t_a = 0.0 if N == 1 else 2 * (N - 1) / N * S / W + 2 * (N - 1) * a
    return t_c, t_a


def print_model(row, batch, latency_s):
    """The scaling model's table for one network, from its one-machine images/s ``r``."""
    r, S = row["images_per_s"], row["bytes"]
    epochs, accuracy = MEASURED_RESULT[row["model"]]
    print(f"\n{row['model']}: r = {r:.0f} images/s on one machine (1 rank x {row['threads']} threads), "
          f"S = {S / 1e6:.2f} MB of gradients, a = {latency_s * 1e6:.0f} us per message, "
          f"{epochs} epochs of {FER_TRAIN_IMAGES:,} images to {accuracy}")
    print("| Gb/s | N | global batch | images/s | speed-up | all-reduce share | hours to "
          f"{accuracy} | global batch | images/s | speed-up | all-reduce share | hours to {accuracy} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for gbit in BANDWIDTHS_GBIT:
        W = gbit * 1e9 / 8
        for N in MACHINES:
            cells = []
            for b, global_batch in ((batch / N, batch), (batch, batch * N)):  # fixed global, fixed per machine
                if b < 2:  # batch norm needs two images a machine
                    cells += [f"{global_batch}"] + ["-"] * 4
                    continue
                t_c, t_a = step_model(r, S, N, W, latency_s, b)
                X = global_batch / (t_c + t_a)
                cells += [f"{global_batch}", f"{X:,.0f}", f"{X / r:.1f}x", f"{t_a / (t_c + t_a):.0%}",
                          f"{epochs * FER_TRAIN_IMAGES / X / 3600:.2f}"]
            print(f"| {gbit} | {N} | " + " | ".join(cells) + " |")
        crossover = next((N for N in range(2, 100000)
                          if step_model(r, S, N, W, latency_s, batch / N)[1] >= batch / N / r), None)
        print(f"| {gbit} | all-reduce >= compute from N = {crossover} at a global batch of {batch} | | | | | | | | | | |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(PRESET), default=["cnn", "xception"])
    parser.add_argument("--batch", type=int, default=64, help="global batch (default 64, the presets')")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per layout (default 20)")
    parser.add_argument("--latency-us", type=float, default=50.0,
                        help="per-message latency of the network in the model (default 50 us: TCP on Ethernet)")
    parser.add_argument("--quick", action="store_true", help="tiny networks and a few steps: only that it runs")
    parser.add_argument("--worker", choices=sorted(PRESET), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--sync-bn", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.batch, args.steps, args.threads, args.quick, args.sync_bn)
    if args.quick:
        args.batch, args.steps = min(args.batch, 16), min(args.steps, 3)
    mpiexec = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if mpiexec is None:
        raise SystemExit('needs mpiexec and mpi4py: pip install -e ".[mpi]"')
    rows = []
    for model_name in args.models:
        rows.append(measure(model_name, 1, 2, args, mpiexec))
        rows.append(measure(model_name, 2, 1, args, mpiexec))
        rows.append(measure(model_name, 2, 1, args, mpiexec, sync_bn=True))
    print(f"Global batch {args.batch}, {args.steps} steps timed (the second of two epochs), random images, "
          f"{os.cpu_count()} CPUs{' (--quick: tiny networks, figures meaningless)' if args.quick else ''}.\n")
    print_measurements(rows)
    for row in rows:
        if row["ranks"] == 1:
            two, synced = (o for o in rows if o["model"] == row["model"] and o["ranks"] == 2)
            print(f"\n{row['model']}: 2 ranks x 1 thread run at {two['images_per_s'] / row['images_per_s']:.2f}x "
                  f"the images/s of 1 rank x 2 threads; with --sync-bn at "
                  f"{synced['images_per_s'] / two['images_per_s']:.2f}x of without")
    for row in rows:
        if row["ranks"] == 1:
            print_model(row, args.batch, args.latency_us * 1e-6)


if __name__ == "__main__":
    main()
