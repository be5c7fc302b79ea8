"""Depthwise 3x3 convolution at stride 1, all nine taps in one pass (Xception's and MobileNet's layer).

Depthwise means one input channel per output channel: w (O, 1, 3, 3) with groups = C, output
channel o reading input channel o // (O/C).  That includes a depth multiplier O/C > 1 and a
network's first layer (C = 1: every filter reads the one image channel).

The general direct kernels (``direct.py``) add one tap at a time into an accumulator plane:
nine passes that each load and store the whole plane.  With one input channel and a 3x3
window, the nine weights fit in registers, so here every output value is computed at once
from nine shifted reads of the zero-padded plane and stored once:

    y[t]  = b + sum_{i,j} w[i, j] * xp[t + i*Wp + j]          (forward)
    gw[i, j] = sum_t g[t] * xp[t + i*Wp + j]                    (nine sums in one pass)
    gx[u] += sum_{i,j} w[i, j] * gq[u + (2-i)*Wq + (2-j)]       (the adjoint as a gather, not a scatter)

Planes are flat and Wp (or Wq) wide, as in ``direct.py``: position t = oh*Wp + ow, so each
tap's read is one contiguous view and each sum is one long loop that LLVM vectorises (a
view, not ``xp[t + off]``, because an index numba cannot prove non-negative gets a
wrap-around test that stops vectorisation).  The Wp - OW extra columns of each row are
computed and thrown away.  gq is the output gradient zero-padded by 2 - pad on each side:
then input pixel (h, x) reads it at rows h..h+2 and columns x..x+2 whatever the padding.
Padding 0, 1 or 2 on each axis (2 - pad >= 0); ``direct.py`` takes the other cases.

Threads take whole images in NCHW and whole channels in the channel-major layout, so that each
thread reads and writes one contiguous block either way (``_split``): in (C, N, H, W) memory a
channel's N planes lie together, an image's C planes N*H*W apart.
"""
import numpy as np
from numba import njit, prange

from ._fastmath import SUM_IN_ANY_ORDER


def handles(w_shape, stride, pad_h, pad_w) -> bool:
    """Whether these kernels take the convolution: one input channel per filter (w of shape
    (O, 1, 3, 3), groups = C), 3x3, stride 1, padding at most 2."""
    return tuple(w_shape[1:]) == (1, 3, 3) and stride == 1 and 0 <= pad_h <= 2 and 0 <= pad_w <= 2


@njit(cache=True)
def _nchw(shape, cm):
    """(N, C, H, W) of an array given as it is (NCHW) or as its (C, N, H, W) planes (``cm``)."""
    return (shape[1], shape[0], shape[2], shape[3]) if cm else (shape[0], shape[1], shape[2], shape[3])


@njit(cache=True)
def _split(N, C, cm):
    """(outer, inner) loop lengths: threads share the images in NCHW, the channels channel-major."""
    return (C, N) if cm else (N, C)


@njit(cache=True)
def _image_channel(outer, inner, cm):
    """(n, c) at these indices of the two loops ``_split`` sizes."""
    outer, inner = np.int64(outer), np.int64(inner)   # prange's index may be unsigned: one type for both
    return (inner, outer) if cm else (outer, inner)


@njit(cache=True)
def _plane(a, n, c, cm):
    """Image n's plane of channel c, in either layout."""
    return a[c, n] if cm else a[n, c]


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def depthwise3x3_forward(x, w, b, ph, pw, relu, cm, y):
    """y (N, O, OH, OW) = the depthwise convolution of x (N, C, H, W) with w (O, 1, 3, 3) and
    b (O,), then max(y, 0) if ``relu``.  ``cm`` (channel-major): x and y come as the
    (C, N, H, W) and (O, N, OH, OW) arrays behind channel-major ones (``ops/layout.py``)."""
    N, C, H, W = _nchw(x.shape, cm)
    O, OH, OW = w.shape[0], y.shape[2], y.shape[3]
    Og = O // C                                    # the depth multiplier
    Hp, Wp = H + 2 * ph, W + 2 * pw
    L = (OH - 1) * Wp + OW
    zero = x.dtype.type(0)
    outer, inner = _split(N, C, cm)
    for p in prange(outer):
        xp = np.zeros((Hp, Wp), x.dtype)            # the border stays zero: only the interior is written
        acc = np.empty(OH * Wp, x.dtype)
        flat = xp.reshape(Hp * Wp)
        x00, x01, x02 = flat[0:], flat[1:], flat[2:]
        x10, x11, x12 = flat[Wp:], flat[Wp + 1:], flat[Wp + 2:]
        x20, x21, x22 = flat[2 * Wp:], flat[2 * Wp + 1:], flat[2 * Wp + 2:]
        for m in range(inner):
            n, c = _image_channel(p, m, cm)
            xp[ph:ph + H, pw:pw + W] = _plane(x, n, c, cm)
            for o in range(c * Og, (c + 1) * Og):
                k = w[o, 0]
                w00, w01, w02, w10, w11, w12, w20, w21, w22 = (k[0, 0], k[0, 1], k[0, 2], k[1, 0], k[1, 1],
                                                               k[1, 2], k[2, 0], k[2, 1], k[2, 2])
                bias = b[o]
                for t in range(L):
                    acc[t] = (bias + w00 * x00[t] + w01 * x01[t] + w02 * x02[t]
                              + w10 * x10[t] + w11 * x11[t] + w12 * x12[t]
                              + w20 * x20[t] + w21 * x21[t] + w22 * x22[t])
                yo = _plane(y, n, o, cm)
                for oh in range(OH):
                    row, out = acc[oh * Wp:], yo[oh]
                    for ow in range(OW):
                        out[ow] = max(row[ow], zero) if relu else row[ow]


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def depthwise3x3_backward(x, w, gy, ph, pw, need_x, need_w, cm, gx, gw_per_image):
    """gx (N, C, H, W) and gw_per_image (N, O, 1, 3, 3): each image's share of the weight
    gradient (the caller sums them; each (image, channel) is one thread's, so threads never race).
    ``cm``: x, gy and gx are channel-major's (C, N, ...) arrays, as in the forward."""
    N, C, H, W = _nchw(x.shape, cm)
    O, OH, OW = w.shape[0], gy.shape[2], gy.shape[3]
    Og = O // C
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Hq, Wq = H + 2, W + 2                           # gy padded by 2 - pad: OH + 4 - 2*ph = H + 2 rows
    L = (OH - 1) * Wp + OW
    Lx = (H - 1) * Wq + W
    zero = x.dtype.type(0)
    outer, inner = _split(N, C, cm)
    for p in prange(outer):
        xp = np.zeros((Hp, Wp), x.dtype)
        g = np.zeros((OH, Wp), x.dtype)             # gy laid out Wp wide, the extra columns zero
        gq = np.zeros((Hq, Wq), x.dtype)
        acc = np.empty(H * Wq, x.dtype)
        xf, gf, qf = xp.reshape(Hp * Wp), g.reshape(OH * Wp), gq.reshape(Hq * Wq)
        x00, x01, x02 = xf[0:], xf[1:], xf[2:]
        x10, x11, x12 = xf[Wp:], xf[Wp + 1:], xf[Wp + 2:]
        x20, x21, x22 = xf[2 * Wp:], xf[2 * Wp + 1:], xf[2 * Wp + 2:]
        # tap (i, j) of the gather reads gq at offset (2-i)*Wq + (2-j)
        q00, q01, q02 = qf[2 * Wq + 2:], qf[2 * Wq + 1:], qf[2 * Wq:]
        q10, q11, q12 = qf[Wq + 2:], qf[Wq + 1:], qf[Wq:]
        q20, q21, q22 = qf[2:], qf[1:], qf[0:]
        for m in range(inner):
            n, c = _image_channel(p, m, cm)
            if need_w:
                xp[ph:ph + H, pw:pw + W] = _plane(x, n, c, cm)
            if need_x:
                acc[:] = zero
            for o in range(c * Og, (c + 1) * Og):
                if need_w:
                    g[:, :OW] = _plane(gy, n, o, cm)
                    s00 = s01 = s02 = s10 = s11 = s12 = s20 = s21 = s22 = zero
                    for t in range(L):
                        v = gf[t]
                        s00 += v * x00[t]
                        s01 += v * x01[t]
                        s02 += v * x02[t]
                        s10 += v * x10[t]
                        s11 += v * x11[t]
                        s12 += v * x12[t]
                        s20 += v * x20[t]
                        s21 += v * x21[t]
                        s22 += v * x22[t]
                    out = gw_per_image[n, o, 0]
                    out[0, 0], out[0, 1], out[0, 2] = s00, s01, s02
                    out[1, 0], out[1, 1], out[1, 2] = s10, s11, s12
                    out[2, 0], out[2, 1], out[2, 2] = s20, s21, s22
                if need_x:
                    gq[2 - ph:2 - ph + OH, 2 - pw:2 - pw + OW] = _plane(gy, n, o, cm)
                    k = w[o, 0]
                    w00, w01, w02, w10, w11, w12, w20, w21, w22 = (k[0, 0], k[0, 1], k[0, 2], k[1, 0], k[1, 1],
                                                                   k[1, 2], k[2, 0], k[2, 1], k[2, 2])
                    for u in range(Lx):
                        acc[u] += (w00 * q00[u] + w01 * q01[u] + w02 * q02[u]
                                   + w10 * q10[u] + w11 * q11[u] + w12 * q12[u]
                                   + w20 * q20[u] + w21 * q21[u] + w22 * q22[u])
            if need_x:
                gxc = _plane(gx, n, c, cm)
                for h in range(H):
                    gxc[h] = acc[h * Wq:h * Wq + W]
