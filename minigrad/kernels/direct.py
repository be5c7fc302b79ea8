"""Direct convolution, without im2col: for few channels per group, depthwise above all.

A grouped convolution of x (N, C, H, W) with w (O, C/G, kh, kw) in G groups, stride s and
zero padding (ph, pw) is (output channel o in group g = o // (O/G) reads the C/G input
channels of that group, starting at c0 = g * C/G)

    y[n, o, oh, ow] = b[o] + sum_{cc, i, j} w[o, cc, i, j] * xpad[n, c0 + cc, oh*s + i, ow*s + j]

and its gradients are

    gx[n, c0 + cc] = every gy[n, o, oh, ow] * w[o, cc, i, j] added back at (oh*s + i, ow*s + j)
    gw[o, cc, i, j] = sum_{n, oh, ow} gy[n, o, oh, ow] * xpad[n, c0 + cc, oh*s + i, ow*s + j]

A depthwise convolution is G = C (each channel filtered on its own, C/G = 1); an ordinary
one is G = 1.

Why not im2col here: im2col copies every input pixel kh*kw times and hands BLAS a matrix
product with only C/G * kh * kw terms per sum.  With one channel per group (depthwise: 9
multiply-adds per value read) or a handful (a network's first layers), that product is
too thin for BLAS to run fast and the copy costs more than the arithmetic.  These kernels
instead copy each image once into a zero-padded scratch buffer (small enough to stay in
cache) and let every tap (i, j) add a shifted plane of it into the output: one contiguous
loop per tap that LLVM vectorises.  Backward does the input and the weight gradient in the
same pass over gy and x.

Work is split over images (``prange`` over N): each image owns its planes of y and gx and
its own slice of a per-image weight gradient that is summed afterwards (N*O*C/G*kh*kw
numbers), so there are no write races.

The commonest cases, 3x3 at stride 1 with one input channel per filter (depthwise layers,
and first layers on a one-channel image), have kernels of their own (``depthwise.py``) that
sum the nine taps in one pass instead of nine.
"""
import numpy as np
from numba import njit, prange

from .._args import as_float_array
from . import depthwise
from ._fastmath import SUM_IN_ANY_ORDER
from .conv import _check_geometry


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def _forward_kernel(x, w, b, s, ph, pw, relu, pool, y, OH, OW):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Og = O // (C // Cg)          # output channels per group
    zero = x.dtype.type(0)
    Hp, Wp = H + 2 * ph, W + 2 * pw
    # Row t of a padded plane starts at t*Wp: at stride 1, output (oh, ow) of tap (i, j) reads
    # flat position oh*Wp + ow + (i*Wp + j).  Computing the output Wp wide (the last Wp - OW
    # columns are thrown away) turns each tap into ONE contiguous loop over the whole plane.
    L = (OH - 1) * Wp + OW if s == 1 else OW
    for n in prange(N):
        xp = np.zeros((C, Hp * Wp), x.dtype)  # the border stays zero: only the interior is written
        for c in range(C):
            for h in range(H):
                xp[c, (h + ph) * Wp + pw:(h + ph) * Wp + pw + W] = x[n, c, h]
        acc = np.empty(L, x.dtype)
        for o in range(O):
            c0 = (o // Og) * Cg
            if s == 1:
                acc[:] = b[o]
                for cc in range(Cg):
                    for i in range(kh):
                        for j in range(kw):
                            # A view, not xp[c, t + i*Wp + j]: an index numba cannot prove non-negative
                            # gets a wrap-around test that stops LLVM from vectorising the loop.
                            wv, src = w[o, cc, i, j], xp[c0 + cc, i * Wp + j:]
                            for t in range(L):
                                acc[t] += wv * src[t]
                if pool:             # evaluation: only each 2x2 window's maximum (ReLU commutes with max)
                    for p in range(OH // 2):
                        r0, r1, out = acc[2 * p * Wp:], acc[(2 * p + 1) * Wp:], y[n, o, p]
                        for q in range(OW // 2):
                            v = max(max(r0[2 * q], r0[2 * q + 1]), max(r1[2 * q], r1[2 * q + 1]))
                            out[q] = max(v, zero) if relu else v
                    continue
                for oh in range(OH):
                    row, out = acc[oh * Wp:], y[n, o, oh]
                    for ow in range(OW):
                        out[ow] = max(row[ow], zero) if relu else row[ow]
            else:                    # strided: row by row
                for oh in range(OH):
                    acc[:] = b[o]
                    for cc in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                wv, src = w[o, cc, i, j], xp[c0 + cc, (oh * s + i) * Wp + j:]
                                for ow in range(OW):
                                    acc[ow] += wv * src[ow * s]
                    for ow in range(OW):
                        y[n, o, oh, ow] = max(acc[ow], zero) if relu else acc[ow]


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def _backward_kernel(x, w, gy, s, ph, pw, need_x, need_w, gx, gw_per_image):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Og = O // (C // Cg)
    OH, OW = gy.shape[2], gy.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    L = (OH - 1) * s * Wp + (OW - 1) * s + 1
    for n in prange(N):
        xp = np.zeros((C, Hp * Wp), x.dtype)
        if need_w:
            for c in range(C):
                for h in range(H):
                    xp[c, (h + ph) * Wp + pw:(h + ph) * Wp + pw + W] = x[n, c, h]
        gxp = np.zeros((C, Hp * Wp) if need_x else (1, 1), x.dtype)
        # gy laid out Wp wide like forward's output, the extra columns zero: then every tap's
        # input gradient and weight gradient are single contiguous loops too (stride s spreads
        # output (oh, ow) to flat position oh*s*Wp + ow*s).
        g = np.zeros(L, x.dtype)
        for o in range(O):
            c0 = (o // Og) * Cg
            for oh in range(OH):
                for ow in range(OW):
                    g[oh * s * Wp + ow * s] = gy[n, o, oh, ow]
            for cc in range(Cg):
                for i in range(kh):
                    for j in range(kw):
                        if need_x:
                            wv, dst = w[o, cc, i, j], gxp[c0 + cc, i * Wp + j:]
                            for t in range(L):
                                dst[t] += wv * g[t]
                        if need_w:
                            total, src = x.dtype.type(0), xp[c0 + cc, i * Wp + j:]
                            for t in range(L):
                                total += g[t] * src[t]
                            gw_per_image[n, o, cc, i, j] = total
        if need_x:
            for c in range(C):
                for h in range(H):
                    gx[n, c, h] = gxp[c, (h + ph) * Wp + pw:(h + ph) * Wp + pw + W]


def _check(op, x, w, stride, pad_h, pad_w):
    C = x.shape[1]
    O, Cg, kh, kw = w.shape
    if Cg < 1 or C % Cg or O % (C // Cg):
        raise ValueError(f"{op}: expected w of shape (O, C/groups, kh, kw) with C={C} and O multiples of "
                         f"groups, got w {w.shape}")
    sh, sw, OH, OW = _check_geometry(op, x.shape, kh, kw, stride, pad_h, pad_w)
    if sh != sw:
        raise ValueError(f"{op}: the kernel takes one stride for both axes, got {(sh, sw)}")
    return sh, OH, OW


def _check_channel_major(op, w, stride, pad_h, pad_w, pool=False):
    if pool or not depthwise.handles(w.shape, stride, pad_h, pad_w):
        raise ValueError(f"{op}: channel-major arrays are taken by the depthwise 3x3 kernel only (w (O, 1, 3, 3), "
                         f"stride 1, padding 0-2, no pooling), got w {w.shape}, stride {stride}, "
                         f"padding {(pad_h, pad_w)}{', pool' if pool else ''}")


def direct_conv2d_forward(x, w, b, stride, pad_h, pad_w, relu=False, pool=False, channel_major=False):
    """y (N, O, OH, OW) of the grouped convolution above, G = C / w.shape[1]; b (O,) or None.
    ``relu``: max(y, 0) as it is written.  ``pool`` (stride 1, for evaluation): a 2x2 max-pool
    in the same pass, y (N, O, OH // 2, OW // 2), of which only the window maxima are written.
    ``channel_major`` (depthwise 3x3 only): x is the (C, N, H, W) array behind a channel-major
    one (``minigrad/ops/layout.py``), and y comes back the same way, (O, N, OH, OW)."""
    x = as_float_array("direct_conv2d", "x", x)
    w = as_float_array("direct_conv2d", "w", w).astype(x.dtype, copy=False)
    nchw = x.transpose(1, 0, 2, 3) if channel_major else x
    s, OH, OW = _check("direct_conv2d", nchw, w, stride, pad_h, pad_w)
    if pool and s != 1:
        raise ValueError(f"direct_conv2d: pooling in the same pass needs stride 1, got {stride}")
    if channel_major:
        _check_channel_major("direct_conv2d", w, s, pad_h, pad_w, pool)
    lead = (w.shape[0], x.shape[1]) if channel_major else (x.shape[0], w.shape[0])
    y = np.empty((*lead, *((OH // 2, OW // 2) if pool else (OH, OW))), x.dtype)
    bias = np.zeros(w.shape[0], x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    if not pool and depthwise.handles(w.shape, s, pad_h, pad_w):
        depthwise.depthwise3x3_forward(x, w, bias, pad_h, pad_w, relu, channel_major, y)
    else:
        _forward_kernel(x, w, bias, s, pad_h, pad_w, relu, pool, y, OH, OW)
    return y


def direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, need_x=True, need_w=True, channel_major=False):
    """(gx, gw) of the grouped convolution above, None for one not asked for.  The bias's
    gradient, gy summed over (N, OH, OW), is left to the caller.  ``channel_major``: gy, x and
    gx as the (C, N, H, W) arrays behind channel-major ones, as in the forward."""
    gy = as_float_array("direct_conv2d_backward", "gy", gy)
    x = as_float_array("direct_conv2d_backward", "x", x).astype(gy.dtype, copy=False)
    w = as_float_array("direct_conv2d_backward", "w", w).astype(gy.dtype, copy=False)
    nchw = x.transpose(1, 0, 2, 3) if channel_major else x
    s, OH, OW = _check("direct_conv2d_backward", nchw, w, stride, pad_h, pad_w)
    N = nchw.shape[0]
    if channel_major:
        _check_channel_major("direct_conv2d_backward", w, s, pad_h, pad_w)
    expected = (w.shape[0], N, OH, OW) if channel_major else (N, w.shape[0], OH, OW)
    if gy.shape != expected:
        raise ValueError(f"direct_conv2d_backward: gy has shape {gy.shape}, the output's is {expected}")
    gx = np.empty(x.shape if need_x else (0, 0, 0, 0), gy.dtype)
    gw_per_image = np.empty((N, *w.shape) if need_w else (0, 0, 0, 0, 0), gy.dtype)
    if depthwise.handles(w.shape, s, pad_h, pad_w):
        depthwise.depthwise3x3_backward(x, w, gy, pad_h, pad_w, need_x, need_w, channel_major, gx, gw_per_image)
    else:
        _backward_kernel(x, w, gy, s, pad_h, pad_w, need_x, need_w, gx, gw_per_image)
    return (gx if need_x else None), (gw_per_image.sum(axis=0) if need_w else None)

