"""Speed of conv2d, max_pool2d, batch_norm and dropout at the seed CNN's shapes (batch 128).

    python benchmarks/bench_conv.py [--batch 128] [--repeats 5] [--no-torch] [--memory]

For each op: forward and backward time in ms (the best of ``--repeats`` runs, since
other processes only ever make a run slower), next to PyTorch on the same number of
threads when it is installed, and the ratio minigrad / torch.  For conv2d a breakdown
shows where the time goes (im2col, the three GEMMs, the layout shuffles, col2im),
which should be mostly GEMM.  ``--memory`` measures the peak memory that NumPy
allocates for one forward + backward pass of the seed CNN's convolutional part, with
and without keeping im2col's matrix for backward.

A measurement, not a test: nothing here asserts a timing.
"""
import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

import minigrad.functional as F
import minigrad.ops.conv as conv_module
from minigrad import Tensor
from minigrad.kernels.conv import col2im, im2col

# (name, C_in, H, C_out, kernel): the seed CNN, "same" padding, each layer after a 2x2 pool.
CONV_LAYERS = [("conv1", 1, 48, 64, 5), ("conv2", 64, 24, 128, 3),
               ("conv3", 128, 12, 256, 3), ("conv4", 256, 6, 512, 3)]


#: time.perf_counter (wall clock) or time.process_time (CPU time of all this process's threads,
#: steadier than the wall clock on a machine shared with other jobs; use it with one thread).
CLOCK = time.perf_counter


def best_ms(fn, repeats):
    fn()  # warm-up: numba compilation, page faults of first allocations
    best = float("inf")
    for _ in range(repeats):
        start = CLOCK()
        fn()
        best = min(best, CLOCK() - start)
    return best * 1e3


def forward_backward_ms(make_output, gy, repeats):
    """(forward ms, backward ms), each the best of ``repeats``; backward of a fresh forward each time."""
    fwd = best_ms(make_output, repeats)
    bwd = float("inf")
    for _ in range(repeats + 1):  # the first one is a warm-up
        y = make_output()
        start = CLOCK()
        y.backward(gy)
        bwd = min(bwd, CLOCK() - start)
    return fwd, bwd * 1e3


def torch_forward_backward_ms(torch, make_output, gy, repeats):
    return forward_backward_ms(make_output, torch.from_numpy(gy), repeats)


def ratio(a, b):
    return f"{a / b:6.2f}x" if b > 0.05 else "     - "


def row(name, ours, theirs):
    cells = [f"{name:<26}", f"{ours[0]:8.1f}", f"{ours[1]:8.1f}"]
    if theirs is not None:
        cells += [f"{theirs[0]:8.1f}", f"{theirs[1]:8.1f}",
                  ratio(ours[0], theirs[0]), ratio(ours[1], theirs[1])]
    print(" ".join(cells), flush=True)


def header(with_torch):
    cells = [f"{'op (batch N)':<26}", f"{'fwd ms':>8}", f"{'bwd ms':>8}"]
    if with_torch:
        cells += [f"{'torch fw':>8}", f"{'torch bw':>8}", f"{'fwd/t':>7}", f"{'bwd/t':>7}"]
    print(" ".join(cells))


def conv_breakdown(N, C, H, O, k, repeats):
    """Time each step of Conv2d's forward and backward on its own, over the op's chunks (ms)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w2 = rng.standard_normal((O, C * k * k), dtype=np.float32)
    b = rng.standard_normal(O, dtype=np.float32)
    gy = rng.standard_normal((N, O, H * H), dtype=np.float32)
    p, L, K = k // 2, H * H, C * k * k
    chunks = conv_module.image_chunks(N, max(K, O) * L * 4)
    y = np.empty((N, O, L), np.float32)
    cols = {c: im2col(x[c[0]:c[1]], k, k, 1, p, p) for c in chunks}
    yt = {c: (w2 @ cols[c].T).reshape(O, c[1] - c[0], L) for c in chunks}
    gyt = {c: np.ascontiguousarray(gy[c[0]:c[1]].transpose(1, 0, 2)).reshape(O, -1) for c in chunks}
    gcols = {c: gyt[c].T @ w2 for c in chunks}
    steps = {
        "im2col": lambda c: im2col(x[c[0]:c[1]], k, k, 1, p, p),
        "gemm y": lambda c: w2 @ cols[c].T,
        "layout y+b": lambda c: np.add(yt[c].transpose(1, 0, 2), b[:, None], out=y[c[0]:c[1]]),
        "layout gy": lambda c: np.ascontiguousarray(gy[c[0]:c[1]].transpose(1, 0, 2)),
        "gb": lambda c: gyt[c].sum(axis=1),
        "gemm gw": lambda c: gyt[c] @ cols[c],
        "gemm gcols": lambda c: gyt[c].T @ w2,
        "col2im": lambda c: col2im(gcols[c], (c[1] - c[0], C, H, H), k, k, 1, p, p),
    }
    times = {name: best_ms(lambda: [step(c) for c in chunks], repeats) for name, step in steps.items()}
    return len(chunks), times


def seed_cnn_peak_mb(N, chunk_bytes):
    """Peak NumPy memory (MB) of forward + backward through the seed CNN's conv blocks."""
    rng = np.random.default_rng(0)
    params = [(Tensor(rng.standard_normal((O, C, k, k), dtype=np.float32) * 0.05, requires_grad=True),
               Tensor(np.zeros(O, np.float32), requires_grad=True)) for _, C, _, O, k in CONV_LAYERS]
    x = Tensor(rng.standard_normal((N, 1, 48, 48), dtype=np.float32))
    saved, conv_module.CHUNK_BYTES = conv_module.CHUNK_BYTES, chunk_bytes
    tracemalloc.start()
    try:
        h = x
        for (w, b), p in zip(params, (0.2, 0.3, 0.4, 0.5)):
            h = F.conv2d(h, w, b, padding="same")
            h = F.dropout(F.max_pool2d(F.relu(h), 2), p, training=True)
        h.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        conv_module.CHUNK_BYTES = saved
    return peak / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (minigrad uses what BLAS/numba use)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: CPU time, steadier on a busy machine (pair with --threads 1 and "
                             "OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1)")
    parser.add_argument("--memory", action="store_true", help="also measure the seed CNN's peak memory")
    args = parser.parse_args(argv)
    N, R = args.batch, args.repeats
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            print("(torch not installed: minigrad only)")
    tf = None if torch is None else torch.nn.functional
    rng = np.random.default_rng(0)
    print(f"batch {N}, best of {R}, {args.clock} clock; cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}; torch threads {args.threads}")
    header(torch is not None)

    for name, C, H, O, k in CONV_LAYERS:
        x = Tensor(rng.standard_normal((N, C, H, H), dtype=np.float32), requires_grad=(C > 1))
        w = Tensor(rng.standard_normal((O, C, k, k), dtype=np.float32), requires_grad=True)
        b = Tensor(rng.standard_normal(O, dtype=np.float32), requires_grad=True)
        gy = rng.standard_normal((N, O, H, H), dtype=np.float32)
        ours = forward_backward_ms(lambda: F.conv2d(x, w, b, padding="same"), gy, R)
        theirs = None
        if torch is not None:
            tx = torch.tensor(x.data, requires_grad=x.requires_grad)
            tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (w, b))
            theirs = torch_forward_backward_ms(torch, lambda: tf.conv2d(tx, tw, tb, padding="same"), gy, R)
        row(f"conv2d {name} {C}->{O} {k}x{k} {H}", ours, theirs)

    for C, H in [(64, 48), (128, 24), (256, 12), (512, 6)]:
        x = Tensor(rng.standard_normal((N, C, H, H), dtype=np.float32), requires_grad=True)
        gy = rng.standard_normal((N, C, H // 2, H // 2), dtype=np.float32)
        ours = forward_backward_ms(lambda: F.max_pool2d(x, 2), gy, R)
        theirs = None
        if torch is not None:
            tx = torch.tensor(x.data, requires_grad=True)
            theirs = torch_forward_backward_ms(torch, lambda: tf.max_pool2d(tx, 2), gy, R)
        row(f"max_pool2d {C}x{H}x{H}", ours, theirs)

    for shape in [(N, 64, 48, 48), (N, 128, 24, 24), (N, 1024)]:
        C = shape[1]
        x = Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        wt = Tensor(np.ones(C, np.float32), requires_grad=True)
        bs = Tensor(np.zeros(C, np.float32), requires_grad=True)
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
        gy = rng.standard_normal(shape, dtype=np.float32)
        ours = forward_backward_ms(lambda: F.batch_norm(x, rm, rv, wt, bs, training=True), gy, R)
        theirs = None
        if torch is not None:
            tx, tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (x, wt, bs))
            trm, trv = torch.zeros(C), torch.ones(C)
            theirs = torch_forward_backward_ms(
                torch, lambda: tf.batch_norm(tx, trm, trv, tw, tb, training=True), gy, R)
        row(f"batch_norm {'x'.join(map(str, shape[1:]))}", ours, theirs)

    shape = (N, 64, 24, 24)
    x = Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
    gy = rng.standard_normal(shape, dtype=np.float32)
    ours = forward_backward_ms(lambda: F.dropout(x, 0.2, True), gy, R)
    theirs = None
    if torch is not None:
        tx = torch.tensor(x.data, requires_grad=True)
        theirs = torch_forward_backward_ms(torch, lambda: tf.dropout(tx, 0.2, True), gy, R)
    row("dropout 64x24x24 p=0.2", ours, theirs)

    print("\nconv2d breakdown, each step summed over the op's chunks of images (ms; GEMM share):")
    for name, C, H, O, k in CONV_LAYERS:
        count, parts = conv_breakdown(N, C, H, O, k, R)
        gemm = sum(v for key, v in parts.items() if key.startswith("gemm"))
        total = sum(parts.values())
        print(f"  {name} ({count} chunks): " + "  ".join(f"{key} {v:.1f}" for key, v in parts.items())
              + f"  | GEMM {100 * gemm / total:.0f}%")

    if args.memory:
        print(f"\nseed CNN conv blocks (conv, relu, pool, dropout) x 4, forward + backward, batch {N}, "
              "peak of NumPy's allocations:")
        for chunk_bytes, label in [(conv_module.CHUNK_BYTES, "chunks of images (default)"),
                                   (2**62, "whole batch at once")]:
            print(f"  {label:<28} {seed_cnn_peak_mb(N, chunk_bytes):6.0f} MB")


if __name__ == "__main__":
    main()
