"""Dropout with its mask drawn inside the kernel that applies it, alone or fused into 2x2 max-pooling.

Element i of a mask is kept when a 24-bit random integer r(seed, i) is at least
threshold = round(p * 2**24), so it is dropped with probability p (to within 2**-24).
r is counter-based: splitmix64's output function (Steele, Lea & Flood 2014) applied to
seed + (i + 1) * golden, keeping the top 24 bits.  Each element's number depends on its
index alone, so every thread draws its part of the mask by itself and the mask for a seed
is the same whatever the number of threads.  (NumPy's generator is one sequential stream:
uniforms, a comparison and a multiplication were four passes over memory on one thread.)

    dropout_forward:   keep[i] = r(seed, i) >= threshold;  y[i] = x[i] * (scale if keep[i] else 0)
    dropout_backward:  gx[i] = gy[i] * (scale if keep[i] else 0)

with scale = 1 / (1 - p).  keep is stored as uint8, one byte per element.

A conv block of the seed CNN ends in a 2x2 max-pool and dropout.  Fused, the pair is
one pass each way, and what backward needs is one byte per pooled value: the winner's
place in its window (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) or DROPPED,
instead of an int32 argmax and a separate mask:

    max_pool2x2_dropout_forward:   y[p, oh, ow] = max of the window * (scale if kept else 0),
                                   kept by r(seed, (p * OH + oh) * OW + ow), the same mask
                                   dropout_forward draws for the pooled array
    max_pool2x2_dropout_backward:  the winner of each kept window gets gy * scale, every
                                   other pixel 0
"""
import numba
import numpy as np
from numba import njit, prange

from .._args import as_float_array
from .pool import _check_pool, _wins

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
BITS = 24
DROPPED = 4


@njit(cache=True)
def random_bits(seed, i):
    """r(seed, i): a 24-bit random integer (as uint64) for element i."""
    z = seed + (np.uint64(i) + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return (z ^ (z >> np.uint64(31))) >> np.uint64(64 - BITS)


if numba.config.DISABLE_JIT:
    # Run as plain Python (NUMBA_DISABLE_JIT=1), NumPy warns on every uint64 wrap-around, which
    # the hash relies on (compiled code wraps silently): the same numbers, without the warnings.
    _wrapping_random_bits = random_bits

    def random_bits(seed, i):  # noqa: F811
        with np.errstate(over="ignore"):
            return _wrapping_random_bits(seed, i)


def threshold_and_scale(p, dtype):
    """The integer threshold a kept element's r reaches, and the kept elements' scale in dtype."""
    threshold = np.uint64(min(round(p * 2 ** BITS), 2 ** BITS))
    scale = np.dtype(dtype).type(0.0 if p >= 1 else 1.0 / (1.0 - p))
    return threshold, scale


def draw_seed(generator):
    """One 64-bit seed for a mask, from a ``np.random.Generator``."""
    return np.uint64(generator.integers(0, 2 ** 64, dtype=np.uint64))


@njit(parallel=True, cache=True)
def _dropout_forward_kernel(x, seed, threshold, scale, zero, y, keep):
    for i in prange(x.size):  # numba gives each thread one contiguous run
        kept = random_bits(seed, i) >= threshold
        keep[i] = kept
        y[i] = x[i] * (scale if kept else zero)  # a product, not a 0, so NaNs propagate as in x * mask


@njit(parallel=True, cache=True)
def _dropout_backward_kernel(gy, keep, scale, zero, gx):
    for i in prange(gy.size):
        gx[i] = gy[i] * (scale if keep[i] else zero)


def dropout_forward(x, p, seed):
    """Inverted dropout of x (any shape) with the mask of ``seed``: (y like x, keep uint8 of x's shape)."""
    x = as_float_array("dropout_forward", "x", x)
    threshold, scale = threshold_and_scale(p, x.dtype)
    y = np.empty_like(x)
    keep = np.empty(x.shape, np.uint8)
    _dropout_forward_kernel(x.reshape(-1), np.uint64(seed), threshold, scale, x.dtype.type(0), y.reshape(-1),
                            keep.reshape(-1))
    return y, keep


def dropout_backward(gy, keep, p):
    """Gradient of dropout: gy * keep * scale, gy's shape and dtype."""
    gy = as_float_array("dropout_backward", "gy", gy)
    if keep.shape != gy.shape:
        raise ValueError(f"dropout_backward: gy {gy.shape} and keep {keep.shape} differ in shape")
    _, scale = threshold_and_scale(p, gy.dtype)
    gx = np.empty_like(gy)
    _dropout_backward_kernel(gy.reshape(-1), np.ascontiguousarray(keep).reshape(-1), scale, gy.dtype.type(0),
                             gx.reshape(-1))
    return gx


@njit(parallel=True, cache=True)
def _max_pool2x2_dropout_forward_kernel(x, W, seed, threshold, scale, zero, y, code):
    # x: (P, H*W) planes; the max as in pool._max_pool_2x2_kernel, its place kept as 0-3.
    P, OH, OW = y.shape
    for p in prange(P):
        xp = x[p]
        for oh in range(OH):
            top = 2 * oh * W
            for ow in range(OW):
                i = top + 2 * ow
                best, where = xp[i], 0
                for place, j in ((1, i + 1), (2, i + W), (3, i + W + 1)):  # unrolled by numba (a tuple)
                    take = _wins(xp[j], best)
                    best = xp[j] if take else best
                    where = place if take else where
                kept = random_bits(seed, (p * OH + oh) * OW + ow) >= threshold
                y[p, oh, ow] = best * (scale if kept else zero)
                code[p, oh, ow] = where if kept else DROPPED


@njit(parallel=True, cache=True)
def _max_pool2x2_dropout_backward_kernel(gy, code, W, scale, zero, gx):
    # Zero the plane (a fast streaming write), then one store per kept window, at its winner:
    # measured faster than writing all four pixels of every window with selects.
    P, OH, OW = gy.shape
    for p in prange(P):
        g = gx[p]
        g[:] = zero
        for oh in range(OH):
            top = 2 * oh * W
            for ow in range(OW):
                c = int(code[p, oh, ow])   # an int: as a uint8, c * W would wrap in plain Python
                if c < DROPPED:
                    g[top + 2 * ow + (c >> 1) * W + (c & 1)] = gy[p, oh, ow] * scale


def max_pool2x2_dropout_forward(x, p, seed):
    """2x2 max-pooling (stride 2) then inverted dropout with the mask of ``seed``:
    x (N, C, H, W) -> (y (N, C, H // 2, W // 2) in x's dtype, code uint8 of y's shape)."""
    x = as_float_array("max_pool2x2_dropout_forward", "x", x)
    OH, OW = _check_pool("max_pool2x2_dropout_forward", x.shape, 2, 2)
    N, C, H, W = x.shape
    threshold, scale = threshold_and_scale(p, x.dtype)
    y = np.empty((N * C, OH, OW), x.dtype)
    code = np.empty((N * C, OH, OW), np.uint8)
    _max_pool2x2_dropout_forward_kernel(x.reshape(N * C, H * W), W, np.uint64(seed), threshold, scale,
                                        x.dtype.type(0), y, code)
    return y.reshape(N, C, OH, OW), code.reshape(N, C, OH, OW)


def max_pool2x2_dropout_backward(gy, code, x_shape, p):
    """Gradient of max_pool2x2_dropout_forward: gy (N, C, OH, OW) -> gx (x_shape), gy's dtype."""
    gy = as_float_array("max_pool2x2_dropout_backward", "gy", gy)
    x_shape = tuple(int(d) for d in x_shape)
    out_shape = x_shape[:2] + _check_pool("max_pool2x2_dropout_backward", x_shape, 2, 2)
    if gy.shape != out_shape or code.shape != out_shape:
        raise ValueError(f"max_pool2x2_dropout_backward: for x_shape {x_shape} expected gy and code of shape "
                         f"{out_shape}, got {gy.shape} and {code.shape}")
    N, C, H, W = x_shape
    _, scale = threshold_and_scale(p, gy.dtype)
    gx = np.empty((N * C, H * W), gy.dtype)
    _max_pool2x2_dropout_backward_kernel(gy.reshape(N * C, *out_shape[2:]),
                                         np.ascontiguousarray(code).reshape(N * C, *out_shape[2:]), W, scale,
                                         gy.dtype.type(0), gx)
    return gx.reshape(x_shape)
