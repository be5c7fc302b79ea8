"""Time the numba kernels on the seed CNN's shapes against plain NumPy and the GEMM.

    python benchmarks/bench_kernels.py [--batch 128] [--threads 2] [--repeat 5] [--clock wall|cpu]

For each layer of the seed CNN (conv 64 5x5 'same' on 1x48x48, pool, conv 128
3x3, pool, conv 256 3x3, pool, conv 512 3x3, pool) it prints one row per
kernel: best-of-R time, the same job done with NumPy alone, the effective
memory bandwidth (minimal bytes read + written / time) and the time as a
fraction of that layer's forward GEMM, cols (N*OH*OW, C*k*k) @ w2d.T, which
is the work the kernels exist to feed, and the bandwidth as a share of a
parallel stream copy measured at the start (the most a memory-bound kernel can
reach). Batch-norm rows use the shapes a BatchNorm2d after each conv would see;
the 3x3 layers add the transforms and adjoints of the Winograd algorithm conv2d picks.
Timings only: nothing is asserted.
"""
import argparse
import os
import sys
import time

# Thread counts must be fixed before NumPy's BLAS and numba start their pools.
_ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
_ap.add_argument("--batch", type=int, default=128)
_ap.add_argument("--threads", type=int, default=int(os.environ.get("NUMBA_NUM_THREADS", 2)))
_ap.add_argument("--repeat", type=int, default=5)
_ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                 help="cpu: process CPU time, steadier on a busy shared machine (use with --threads 1)")
ARGS = _ap.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(ARGS.threads))

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]
from minigrad import kernels as K  # noqa: E402
from minigrad.dispatch import winograd_transforms as transforms_for  # noqa: E402
from suite import stream_copy  # noqa: E402

# (C_in, H, C_out, k, pad) for each conv; each is followed by a 2x2 max pool.
SEED_CNN = [(1, 48, 64, 5, 2), (64, 24, 128, 3, 1), (128, 12, 256, 3, 1), (256, 6, 512, 3, 1)]


def best_ms(fn, repeat):
    clock = time.perf_counter if ARGS.clock == "wall" else time.process_time
    fn()                                   # compile (or load from cache) and warm up
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1e3 * min(times)


# ------------------------------------------------------------- NumPy-only versions

def np_im2col(x, k, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # (N, C, OH, OW, k, k)
    N, C, OH, OW = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * k * k)   # reshape copies


def np_col2im(g, shape, k, pad):
    N, C, H, W = shape
    gp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), g.dtype)
    g6 = g.reshape(N, H, W, C, k, k)       # 'same' conv: OH = H
    for i in range(k):
        for j in range(k):
            gp[:, :, i:i + H, j:j + W] += g6[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return gp[:, :, pad:pad + H, pad:pad + W]


def np_pool_forward(x):   # 2x2 stride 2, with argmax as an index into the window
    N, C, H, W = x.shape
    win = x.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    idx = win.argmax(axis=-1)
    return np.take_along_axis(win, idx[..., None], axis=-1)[..., 0], idx


def np_pool_backward(gy, idx):
    N, C, OH, OW = gy.shape
    g = np.zeros((N, C, OH, OW, 4), gy.dtype)
    np.put_along_axis(g, idx[..., None], gy[..., None], axis=-1)
    return g.reshape(N, C, OH, OW, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, 2 * OH, 2 * OW)


def np_bn_forward(x, w, b, eps=1e-5):
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    var = x.var(axis=(0, 2), dtype=np.float64)
    invstd = (1 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - mean.astype(x.dtype)[:, None]) * invstd[:, None]
    return w[:, None] * xhat + b[:, None], mean, invstd


def np_bn_backward(gy, x, mean, invstd, w):
    M = x.shape[0] * x.shape[2]
    xhat = (x - mean[:, None]) * invstd[:, None]
    gb = gy.sum(axis=(0, 2))
    gw = (gy * xhat).sum(axis=(0, 2))
    return (w * invstd / M)[:, None] * (M * gy - gb[:, None] - xhat * gw[:, None]), gw, gb


# ------------------------------------------------------------- the table

HEAD = f"{'kernel':<22}{'shape':<26}{'ms':>8}{'numpy ms':>10}{'speedup':>9}{'GB/s':>7}{'/copy':>7}{'/GEMM':>7}"
COPY_GBPS = None  # set by main(): the stream copy's bandwidth


def bench_layer(C, H, O, k, pad, N, R, rng):
    """Print the rows of one conv layer (+ BN and 2x2 pool after it); return (GEMM ms, kernels ms)."""
    f32 = np.float32
    x = rng.standard_normal((N, C, H, H)).astype(f32)
    w2d = rng.standard_normal((O, C * k * k)).astype(f32)
    cols = K.im2col(x, k, k, 1, pad, pad)
    gemm = best_ms(lambda: cols @ w2d.T, R)
    print(f"{'GEMM cols @ w2d.T':<22}{str(cols.shape) + '@' + str(w2d.T.shape):<26}{gemm:8.1f}"
          f"{'':10}{'':9}{'':7}{'':7}{1:7.2f}")
    spent = []

    def row(name, shape, ms, np_ms, nbytes, counted=True):
        npm, sp = (f"{np_ms:10.1f}", f"{np_ms / ms:8.1f}x") if np_ms else (f"{'':10}", f"{'':9}")
        gbps = nbytes / ms / 1e6
        print(f"{name:<22}{str(shape):<26}{ms:8.1f}{npm}{sp}{gbps:7.1f}{gbps / COPY_GBPS:7.0%}{ms / gemm:7.2f}")
        if counted:
            spent.append(ms)

    row("im2col", x.shape, best_ms(lambda: K.im2col(x, k, k, 1, pad, pad), R),
        best_ms(lambda: np_im2col(x, k, pad), R), x.nbytes + cols.nbytes)
    row("col2im", cols.shape, best_ms(lambda: K.col2im(cols, x.shape, k, k, 1, pad, pad), R),
        best_ms(lambda: np_col2im(cols, x.shape, k, pad), R), x.nbytes + cols.nbytes)

    y = np.ascontiguousarray((cols @ w2d.T).reshape(N, H, H, O).transpose(0, 3, 1, 2))
    x3, wb = y.reshape(N, O, H * H), np.ones(O, f32)
    _, mean, invstd = K.batch_norm_forward_train(x3, wb, wb)
    row("batch_norm fwd", x3.shape, best_ms(lambda: K.batch_norm_forward_train(x3, wb, wb), R),
        best_ms(lambda: np_bn_forward(x3, wb, wb), R), 2 * x3.nbytes)
    row("batch_norm fwd+relu", x3.shape, best_ms(lambda: K.batch_norm_forward_train(x3, wb, wb, relu=True), R),
        0, 2 * x3.nbytes, counted=False)
    row("batch_norm bwd", x3.shape, best_ms(lambda: K.batch_norm_backward(x3, x3, mean, invstd, wb), R),
        best_ms(lambda: np_bn_backward(x3, x3, mean, invstd, wb), R), 3 * x3.nbytes)

    yp, idx = K.max_pool2d_forward(y, 2)
    _, np_idx = np_pool_forward(y)
    pool_bytes = y.nbytes + yp.nbytes + idx.nbytes
    row("max_pool2d fwd", y.shape, best_ms(lambda: K.max_pool2d_forward(y, 2), R),
        best_ms(lambda: np_pool_forward(y), R), pool_bytes)
    row("max_pool2d bwd", yp.shape, best_ms(lambda: K.max_pool2d_backward(yp, idx, y.shape, 2), R),
        best_ms(lambda: np_pool_backward(yp, np_idx), R), pool_bytes)
    if k == 3:
        bench_winograd(x, y, pad, R, row)
    return gemm, sum(spent)


def bench_winograd(x, y, pad, R, row):
    """The four data-movement kernels of a Winograd 3x3 convolution, in the algorithm conv2d
    picks for the layer (F(4x4, 3x3) on 24x24 and 12x12, F(2x2, 3x3) on 6x6): x -> V, M -> y, and back."""
    N, C, H, W = x.shape
    t = transforms_for((y.shape[1], C, 3, 3), H, W)
    TH, TW = t.tile_counts(H, W)
    V = t.input_transform(x, pad, TH, TW)
    M = np.ascontiguousarray(np.broadcast_to(V[:, :1], (t.K, y.shape[1], V.shape[2])))
    no_bias = np.zeros(0, x.dtype)
    name = "F(4x4)" if t.m == 4 else "F(2x2)"
    row(f"{name} input", x.shape, best_ms(lambda: t.input_transform(x, pad, TH, TW), R), 0, x.nbytes + V.nbytes)
    row(f"{name} input adj", V.shape, best_ms(lambda: t.input_adjoint(V, N, H, W, pad, TH, TW), R), 0,
        x.nbytes + V.nbytes)
    row(f"{name} output", M.shape, best_ms(lambda: t.output_transform(M, no_bias, N, H, W, TH, TW), R), 0,
        y.nbytes + M.nbytes)
    row(f"{name} output adj", y.shape, best_ms(lambda: t.output_adjoint(y, TH, TW), R), 0, y.nbytes + M.nbytes)


def main():
    global COPY_GBPS
    K.set_num_threads(ARGS.threads)
    COPY_GBPS = stream_copy() / 1e9
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"batch {ARGS.batch}, {K.get_num_threads()} numba threads, BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}, float32, best of {ARGS.repeat} ({ARGS.clock} clock), "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at start; stream copy {COPY_GBPS:.1f} GB/s\n")
    print(HEAD)
    print("-" * len(HEAD))
    gemm_total = kernel_total = 0.0
    for layer in SEED_CNN:
        gemm, spent = bench_layer(*layer, ARGS.batch, ARGS.repeat, rng)
        gemm_total += gemm
        kernel_total += spent
        print()
    print(f"forward GEMMs {gemm_total:.0f} ms (a training step runs three GEMMs a conv: about "
          f"{3 * gemm_total:.0f} ms);\ndata movement of one step (im2col, col2im, both transposes, "
          f"BN fwd+bwd, pool fwd+bwd) {kernel_total:.0f} ms")


if __name__ == "__main__":
    main()
