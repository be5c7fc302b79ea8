"""Max and average pooling over (k, k) windows with stride s, floor mode, padding p.

Max pooling, for x (N, C, H, W) and xpad = x padded by p on each side with -inf:

    y[n, c, oh, ow] = max_{0<=i,j<k} xpad[n, c, oh*s + i, ow*s + j]
    OH = (H + 2p - k) // s + 1,  OW = (W + 2p - k) // s + 1

As in PyTorch, p <= k/2: then every window holds at least one real pixel, so
the -inf padding never wins and need not be stored; the kernel just clips each
window to the image.

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

Average pooling (PyTorch's avg_pool2d, floor mode), with xpad zero-padded:

    y[n, c, oh, ow] = sum_{0<=i,j<k} xpad[n, c, oh*s + i, ow*s + j] / d
    d = k*k                                   (count_include_pad=True)
    d = number of real pixels in the window   (count_include_pad=False)

It is linear, so its gradient spreads gy[n, c, oh, ow] / d evenly over the
real pixels of the window (padding has no gradient), summed over windows.

Work is split over the N*C planes, which are independent, so no write races.
"""
import numpy as np
from numba import njit, prange

from .._args import as_float_array


def _check_pool(op, shape, k, stride, padding=0):
    if len(shape) != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got {tuple(shape)}")
    if k < 1 or stride < 1:
        raise ValueError(f"{op}: need kernel_size >= 1 and stride >= 1, got {k} and {stride}")
    # PyTorch's rule; it guarantees every window at least one real pixel.
    if padding < 0 or 2 * padding > k:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {k}, got {padding}")
    H, W = shape[2:]
    OH, OW = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: window {k}x{k} larger than the input plane {H}x{W} padded by {padding}")
    return OH, OW


@njit(cache=True)
def _span(o, s, pad, k, n):
    """Window o (stride s, size k) along an axis of n pixels padded by pad on each side.

    Positions count from the first real pixel, so the padding sits at -pad..-1 and
    n..n+pad-1.  Returns lo, hi: the window's first and one-past-last position, padding
    included (the area that count_include_pad divides by); r0, r1: the same clipped to
    the real pixels 0..n-1.  With pad <= k/2 every window holds a real pixel: r0 < r1.
    """
    lo = o * s - pad
    hi = min(lo + k, n + pad)
    return lo, hi, max(lo, 0), min(hi, n)


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


@njit(cache=True)
def _wins(v, best):
    """Whether v takes the window from best: larger, or the first NaN (best is not one yet).
    As arithmetic, not a branch, so that the 2x2 kernel's loop vectorises."""
    return (v > best) | ((v != v) & (best == best))


@njit(parallel=True, cache=True)
def _max_pool_2x2_kernel(x, W, y, argmax):
    # The seed CNN's pool (2x2, stride 2, no padding), with its four candidates written out:
    # the loop over ow then has no inner loops and no branches, and vectorises.
    P = x.shape[0]
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            top = 2 * oh * W
            for ow in range(OW):
                i = top + 2 * ow
                best, where = xp[i], i
                for j in (i + 1, i + W, i + W + 1):   # unrolled by numba (a tuple)
                    take = _wins(xp[j], best)
                    best = xp[j] if take else best
                    where = j if take else where
                y[p, oh, ow] = best
                argmax[p, oh, ow] = where


@njit(parallel=True, cache=True)
def _max_pool_forward_padded_kernel(x, H, W, k, s, pad, y, argmax):
    # As _max_pool_forward_kernel, with each window clipped to the image:
    # rows r0..r1-1 and columns c0..c1-1 of the plane (never empty, as pad <= k/2).
    # A separate kernel because the clipping costs: measured on the seed CNN's 2x2
    # pooling (unpadded, batch 64, one thread), these loops take 15-65% longer.
    P = x.shape[0]
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            _, _, r0, r1 = _span(oh, s, pad, k, H)
            for ow in range(OW):
                _, _, c0, c1 = _span(ow, s, pad, k, W)
                where = r0 * W + c0                  # first real pixel of the window
                best = xp[where]
                saw_nan = False
                for r in range(r0, r1):              # branch-free, as above
                    for c in range(c0, c1):
                        v = xp[r * W + c]
                        gt = v > best
                        where += gt * (r * W + c - where)
                        best = v if gt else best
                        saw_nan |= v != v
                if saw_nan:
                    where = r0 * W + c0
                    best = xp[where]
                    for r in range(r0, r1):
                        for c in range(c0, c1):
                            v = xp[r * W + c]
                            if v != v and best == best:
                                best = v
                                where = r * W + c
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


def max_pool2d_forward(x, k, stride=None, padding=0):
    """Max pooling: x (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW) int32).

    y has x's dtype; argmax[n, c, oh, ow] = h*W + w is the flat position of the
    winning pixel in the (H, W) plane of x[n, c] (never in the padding).
    stride defaults to k; padding (implicit -inf) must be at most k / 2.
    """
    k, stride, padding = int(k), int(k if stride is None else stride), int(padding)
    x = as_float_array("max_pool2d_forward", "x", x)
    OH, OW = _check_pool("max_pool2d_forward", x.shape, k, stride, padding)
    N, C, H, W = x.shape
    y = np.empty((N * C, OH, OW), x.dtype)
    argmax = np.empty((N * C, OH, OW), np.int32)
    if k == 2 and stride == 2 and padding == 0:
        _max_pool_2x2_kernel(x.reshape(N * C, H * W), W, y, argmax)
    elif padding == 0:
        _max_pool_forward_kernel(x.reshape(N * C, H * W), W, k, stride, y, argmax)
    else:
        _max_pool_forward_padded_kernel(x.reshape(N * C, H * W), H, W, k, stride, padding, y, argmax)
    return y.reshape(N, C, OH, OW), argmax.reshape(N, C, OH, OW)


def max_pool2d_backward(gy, argmax, x_shape, k, stride=None, padding=0):
    """Gradient of max pooling: gy (N, C, OH, OW) -> gx (x_shape), gy's dtype.

    gx[n, c].flat[argmax[n, c, oh, ow]] += gy[n, c, oh, ow]; every other pixel
    gets 0. k, stride and padding are only used to check the shapes.
    """
    k, stride, padding = int(k), int(k if stride is None else stride), int(padding)
    gy = as_float_array("max_pool2d_backward", "gy", gy)
    x_shape = tuple(int(d) for d in x_shape)
    out_shape = x_shape[:2] + _check_pool("max_pool2d_backward", x_shape, k, stride, padding)
    argmax = np.asarray(argmax)
    if gy.shape != out_shape or argmax.shape != out_shape:
        raise ValueError(f"max_pool2d_backward: for x_shape {x_shape}, k={k}, stride={stride}, padding={padding} "
                         f"expected gy and argmax of shape {out_shape}, got {gy.shape} and {argmax.shape}")
    N, C, H, W = x_shape
    P = N * C
    gx = np.empty((P, H * W), gy.dtype)
    _max_pool_backward_kernel(gy.reshape(P, *out_shape[2:]),
                              np.ascontiguousarray(argmax).reshape(P, *out_shape[2:]), gx)
    return gx.reshape(x_shape)


# ---------------------------------------------------------------- average pooling

@njit(parallel=True, cache=True)
def _avg_pool_forward_kernel(x, H, W, k, s, pad, count_include_pad, y):
    # x: (P, H, W) planes. Only the real pixels are summed (zero padding adds
    # nothing); the divisor is the window's area, padding included or not.
    P = x.shape[0]
    OH, OW = y.shape[1], y.shape[2]
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            h0, h1, r0, r1 = _span(oh, s, pad, k, H)
            for ow in range(OW):
                w0, w1, c0, c1 = _span(ow, s, pad, k, W)
                total = 0.0                     # float64 sum, rounded once to x's dtype on the store
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        total += xp[r, c]
                d = (h1 - h0) * (w1 - w0) if count_include_pad else (r1 - r0) * (c1 - c0)
                y[p, oh, ow] = total / d


@njit(parallel=True, cache=True)
def _avg_pool_backward_kernel(gy, H, W, k, s, pad, count_include_pad, gx):
    P, OH, OW = gy.shape
    for p in prange(P):
        g = gx[p]
        g[:] = 0
        for oh in range(OH):
            h0, h1, r0, r1 = _span(oh, s, pad, k, H)
            for ow in range(OW):
                w0, w1, c0, c1 = _span(ow, s, pad, k, W)
                d = (h1 - h0) * (w1 - w0) if count_include_pad else (r1 - r0) * (c1 - c0)
                share = gy[p, oh, ow] / d
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        g[r, c] += share


@njit(parallel=True, cache=True)
def _avg_pool_2x2_forward_kernel(x, W, y):
    # The common 2x2 / stride 2 / no padding case, written out as the 2x2 max-pool kernel is:
    # no window arithmetic per output, and a loop over ow that vectorises.
    P, OH, OW = y.shape
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            top = 2 * oh * W
            for ow in range(OW):
                i = top + 2 * ow
                y[p, oh, ow] = (xp[i] + xp[i + 1] + xp[i + W] + xp[i + W + 1]) * 0.25


@njit(parallel=True, cache=True)
def _avg_pool_2x2_backward_kernel(gy, H, W, gx):
    # Windows do not overlap, so each pixel is written once; only the row or column that floor
    # mode leaves out of every window needs zeroing.
    P, OH, OW = gy.shape
    for p in prange(P):
        g = gx[p]
        if 2 * OH < H or 2 * OW < W:
            g[:] = 0
        for oh in range(OH):
            top = 2 * oh * W
            for ow in range(OW):
                i = top + 2 * ow
                share = gy[p, oh, ow] * 0.25
                g[i] = share
                g[i + 1] = share
                g[i + W] = share
                g[i + W + 1] = share


def avg_pool2d_forward(x, k, stride=None, padding=0, count_include_pad=True):
    """Average pooling: x (N, C, H, W) -> y (N, C, OH, OW), x's dtype.

    y = sum of each window of the zero-padded x / d, d = k*k (count_include_pad)
    or the number of real pixels in the window. stride defaults to k; padding
    must be at most k / 2.
    """
    k, stride, padding = int(k), int(k if stride is None else stride), int(padding)
    x = as_float_array("avg_pool2d_forward", "x", x)
    OH, OW = _check_pool("avg_pool2d_forward", x.shape, k, stride, padding)
    N, C, H, W = x.shape
    y = np.empty((N * C, OH, OW), x.dtype)
    if k == 2 and stride == 2 and padding == 0:
        _avg_pool_2x2_forward_kernel(x.reshape(N * C, H * W), W, y)
    else:
        _avg_pool_forward_kernel(x.reshape(N * C, H, W), H, W, k, stride, padding, bool(count_include_pad), y)
    return y.reshape(N, C, OH, OW)


def avg_pool2d_backward(gy, x_shape, k, stride=None, padding=0, count_include_pad=True):
    """Gradient of average pooling: gy (N, C, OH, OW) -> gx (x_shape), gy's dtype.

    gx[n, c, h, w] = sum of gy[n, c, oh, ow] / d over the windows that hold (h, w).
    """
    k, stride, padding = int(k), int(k if stride is None else stride), int(padding)
    gy = as_float_array("avg_pool2d_backward", "gy", gy)
    x_shape = tuple(int(d) for d in x_shape)
    out_shape = x_shape[:2] + _check_pool("avg_pool2d_backward", x_shape, k, stride, padding)
    if gy.shape != out_shape:
        raise ValueError(f"avg_pool2d_backward: for x_shape {x_shape}, k={k}, stride={stride}, padding={padding} "
                         f"expected gy of shape {out_shape}, got {gy.shape}")
    N, C, H, W = x_shape
    P = N * C
    gx = np.empty((P, H, W), gy.dtype)
    if k == 2 and stride == 2 and padding == 0:
        _avg_pool_2x2_backward_kernel(gy.reshape(P, *out_shape[2:]), H, W, gx.reshape(P, H * W))
    else:
        _avg_pool_backward_kernel(gy.reshape(P, *out_shape[2:]), H, W, k, stride, padding,
                                  bool(count_include_pad), gx)
    return gx.reshape(x_shape)
