"""Max pooling over (k, k) windows with stride s, floor mode, no padding.

Forward, for x (N, C, H, W):

    y[n, c, oh, ow] = max_{0<=i,j<k} x[n, c, oh*s + i, ow*s + j]
    OH = (H - k) // s + 1,  OW = (W - k) // s + 1

The max is piecewise the identity on one input, so its gradient routes each
gy[n, c, oh, ow] to the one pixel that won its window. The forward pass
records that pixel:

    argmax[n, c, oh, ow] = h*W + w     (int32 flat index into the H*W plane of
                                        the same (n, c), not into the window;
                                        PyTorch's return_indices convention)

Backward: gx[n, c].flat[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]. With
overlapping windows (s < k) one pixel can win several windows; its gradient
is then the sum, hence `+=`.

Ties go to the first maximum in row-major window order (as in PyTorch), and
a NaN wins its window (the first NaN, if several) so that NaNs propagate
instead of vanishing.
Work is split over the N*C planes, which are independent, so no write races.
"""
import numpy as np
from numba import njit, prange

from .conv import _as_float_array


def _check_pool(op, shape, k, stride):
    if len(shape) != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got {tuple(shape)}")
    if k < 1 or stride < 1:
        raise ValueError(f"{op}: need kernel_size >= 1 and stride >= 1, got {k} and {stride}")
    H, W = shape[2:]
    OH, OW = (H - k) // stride + 1, (W - k) // stride + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: window {k}x{k} larger than the input plane {H}x{W}")
    return OH, OW


@njit(parallel=True, cache=True)
def _max_pool_forward_kernel(x, W, k, s, y, argmax):
    # x: (P, H*W), the N*C independent planes, each flattened.
    P = x.shape[0]
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            for ow in range(OW):
                where = oh * s * W + ow * s          # window's top-left pixel
                best = xp[where]
                saw_nan = False
                # Branch-free running max: on real data `if v > best` is a
                # coin flip that the CPU mispredicts, and those mispredictions
                # made the kernel 3x slower. So the comparison becomes arithmetic.
                for i in range(k):
                    row = (oh * s + i) * W + ow * s
                    for j in range(k):
                        v = xp[row + j]
                        gt = v > best
                        where += gt * (row + j - where)
                        best = v if gt else best
                        saw_nan |= v != v
                if saw_nan:
                    # Rare: redo the window, letting the first NaN win.
                    where = oh * s * W + ow * s
                    best = xp[where]
                    for i in range(k):
                        row = (oh * s + i) * W + ow * s
                        for j in range(k):
                            v = xp[row + j]
                            if v != v and best == best:
                                best = v
                                where = row + j
                y[p, oh, ow] = best
                argmax[p, oh, ow] = where


@njit(parallel=True, cache=True)
def _max_pool_backward_kernel(gy, argmax, gx):
    P, OH, OW = gy.shape
    for p in prange(P):
        g = gx[p]
        g[:] = 0
        for oh in range(OH):
            for ow in range(OW):
                g[argmax[p, oh, ow]] += gy[p, oh, ow]


def max_pool2d_forward(x, k, stride=None):
    """Max pooling: x (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW) int32).

    y has x's dtype; argmax[n, c, oh, ow] = h*W + w is the flat position of the
    winning pixel in the (H, W) plane of x[n, c]. stride defaults to k.
    """
    k, stride = int(k), int(k if stride is None else stride)
    x = _as_float_array("max_pool2d_forward", "x", x)
    OH, OW = _check_pool("max_pool2d_forward", x.shape, k, stride)
    N, C, H, W = x.shape
    y = np.empty((N * C, OH, OW), x.dtype)
    argmax = np.empty((N * C, OH, OW), np.int32)
    _max_pool_forward_kernel(x.reshape(N * C, H * W), W, k, stride, y, argmax)
    return y.reshape(N, C, OH, OW), argmax.reshape(N, C, OH, OW)


def max_pool2d_backward(gy, argmax, x_shape, k, stride=None):
    """Gradient of max pooling: gy (N, C, OH, OW) -> gx (x_shape), gy's dtype.

    gx[n, c].flat[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]; every other pixel
    gets 0. k and stride are only used to check the shapes.
    """
    k, stride = int(k), int(k if stride is None else stride)
    gy = _as_float_array("max_pool2d_backward", "gy", gy)
    x_shape = tuple(int(d) for d in x_shape)
    out_shape = x_shape[:2] + _check_pool("max_pool2d_backward", x_shape, k, stride)
    argmax = np.asarray(argmax)
    if gy.shape != out_shape or argmax.shape != out_shape:
        raise ValueError(f"max_pool2d_backward: for x_shape {x_shape}, k={k}, stride={stride} "
                         f"expected gy and argmax of shape {out_shape}, got {gy.shape} and {argmax.shape}")
    N, C, H, W = x_shape
    P = N * C
    gx = np.empty((P, H * W), gy.dtype)
    _max_pool_backward_kernel(gy.reshape(P, *out_shape[2:]),
                              np.ascontiguousarray(argmax).reshape(P, *out_shape[2:]), gx)
    return gx.reshape(x_shape)
