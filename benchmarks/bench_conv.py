"""Speed of conv2d, max_pool2d, batch_norm and dropout at the seed CNN's shapes (batch 128).

    python benchmarks/bench_conv.py [--batch 128] [--repeats 5] [--no-torch] [--memory]

For each op: forward and backward time in ms (the best of ``--repeats`` runs, since
other processes only ever make a run slower), next to PyTorch on the same number of
threads when it is installed, and the ratio minigrad / torch.  For conv2d a breakdown
shows where the time goes (im2col, the three GEMMs, the layout shuffles, col2im),
which should be mostly GEMM.  ``--memory`` measures the peak memory that NumPy
allocates for one forward + backward pass of the seed CNN's convolutional part, with
the batch in chunks of images (the default) and all at once.

Thread pools: numba's kernels and OpenBLAS's GEMMs take turns on the same cores, and
by default each library's idle threads spin for a while after every call, slowing
the other.  Compare with ``OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4``.

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
    def run(step):
        for c in chunks:
            step(c)  # each result dropped at once, as in the op, so malloc can recycle it

    return len(chunks), {name: best_ms(lambda: run(step), repeats) for name, step in steps.items()}


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


def make_cases(N, torch):
    """The benchmarked calls: name, minigrad and torch closures making the output, and its gy."""
    tf = None if torch is None else torch.nn.functional
    rng = np.random.default_rng(0)

    def as_torch(t):
        return torch.tensor(t.data, requires_grad=t.requires_grad)

    cases = []
    for name, C, H, O, k in CONV_LAYERS:
        # conv1's input is the data: no gradient for it, as in training.
        x = Tensor(rng.standard_normal((N, C, H, H), dtype=np.float32), requires_grad=(C > 1))
        w = Tensor(rng.standard_normal((O, C, k, k), dtype=np.float32), requires_grad=True)
        b = Tensor(rng.standard_normal(O, dtype=np.float32), requires_grad=True)
        tx, tw, tb = (as_torch(t) for t in (x, w, b)) if torch else (None,) * 3
        cases.append(dict(name=f"conv2d {name} {C}->{O} {k}x{k} {H}",
                          ours=lambda x=x, w=w, b=b: F.conv2d(x, w, b, padding="same"),
                          torch=lambda x=tx, w=tw, b=tb: tf.conv2d(x, w, b, padding="same"),
                          gy=rng.standard_normal((N, O, H, H), dtype=np.float32)))
    for C, H in [(64, 48), (128, 24), (256, 12), (512, 6)]:
        x = Tensor(rng.standard_normal((N, C, H, H), dtype=np.float32), requires_grad=True)
        tx = as_torch(x) if torch else None
        cases.append(dict(name=f"max_pool2d {C}x{H}x{H}", ours=lambda x=x: F.max_pool2d(x, 2),
                          torch=lambda x=tx: tf.max_pool2d(x, 2),
                          gy=rng.standard_normal((N, C, H // 2, H // 2), dtype=np.float32)))
    for shape in [(N, 64, 48, 48), (N, 128, 24, 24), (N, 1024)]:
        C = shape[1]
        x = Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
        w = Tensor(np.ones(C, np.float32), requires_grad=True)
        b = Tensor(np.zeros(C, np.float32), requires_grad=True)
        stats = np.zeros(C, np.float32), np.ones(C, np.float32)
        tx, tw, tb = (as_torch(t) for t in (x, w, b)) if torch else (None,) * 3
        tstats = (torch.zeros(C), torch.ones(C)) if torch else None
        cases.append(dict(name=f"batch_norm {'x'.join(map(str, shape[1:]))}",
                          ours=lambda x=x, w=w, b=b, s=stats: F.batch_norm(x, *s, w, b, training=True),
                          torch=lambda x=tx, w=tw, b=tb, s=tstats: tf.batch_norm(x, *s, w, b, training=True),
                          gy=rng.standard_normal(shape, dtype=np.float32)))
    shape = (N, 64, 24, 24)
    x = Tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
    tx = as_torch(x) if torch else None
    cases.append(dict(name="dropout 64x24x24 p=0.2", ours=lambda: F.dropout(x, 0.2, True),
                      torch=lambda: tf.dropout(tx, 0.2, True), gy=rng.standard_normal(shape, dtype=np.float32)))
    return cases


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
    print(f"batch {N}, best of {R}, {args.clock} clock; cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}; torch threads {args.threads}")
    cases = make_cases(N, torch)
    # All of minigrad first, then all of torch: each library's idle threads keep spinning a
    # while after its last call, which would slow the other down if they alternated.
    ours = [forward_backward_ms(case["ours"], case["gy"], R) for case in cases]
    theirs = [None] * len(cases)
    if torch is not None:
        theirs = [forward_backward_ms(case["torch"], torch.from_numpy(case["gy"]), R) for case in cases]
    header(torch is not None)
    for case, o, t in zip(cases, ours, theirs):
        row(case["name"], o, t)

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
