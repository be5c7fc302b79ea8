"""Data movement for convolution: im2col and its adjoint col2im.

A 2-D convolution of x (N, C, H, W) with weights w (O, C, kh, kw), stride s and
zero padding (ph, pw) is

    y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[n, c, oh*s + i, ow*s + j]

im2col lays every receptive field out as one row of a matrix,

    cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = xpad[n, c, oh*s + i, ow*s + j]

so the whole convolution becomes one GEMM done by NumPy's BLAS,

    Y = w.reshape(O, C*kh*kw) @ cols.T          # (O, N*OH*OW)

(see ``minigrad/ops/conv.py`` for why this orientation, and for backward:
gw = gY @ cols, gcols = gY.T @ w2d, gx = col2im(gcols)). Each row of cols is
one patch, contiguous, so im2col writes and the GEMM reads memory in order.
col2im is the adjoint of im2col: every
column entry goes back to the input pixel it was copied from, and pixels shared
by overlapping windows receive the sum of their contributions.

How the kernels are made fast: each image is first copied into a small
zero-padded scratch buffer (it fits in the core's L2 cache). In that buffer the
pixel feeding column k of row (oh, ow) sits at

    base(oh, ow) + off[k],   base = oh*s*Wp + ow*s,   off[k] = (c*Hp + i)*Wp + j

so filling a row is a branch-free gather of length C*kh*kw with contiguous
writes -- about 2x faster than loops that test the padding bounds per pixel,
and within a small factor of a plain memory copy. Work is split over images
(`prange` over N): each image owns its rows of cols and its slice of gx, so
there are no write races.
"""
import numpy as np
from numba import njit, prange

from .._args import as_float_array, pair


def conv_output_size(H, W, kh, kw, stride, pad_h, pad_w):
    """Output plane (OH, OW) of a convolution: OH = (H + 2*pad_h - kh) // sh + 1."""
    sh, sw = pair(stride, "stride")
    return (H + 2 * pad_h - kh) // sh + 1, (W + 2 * pad_w - kw) // sw + 1


def _check_geometry(op, x_shape, kh, kw, stride, pad_h, pad_w):
    sh, sw = pair(stride, "stride", op)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got {tuple(x_shape)}")
    if min(kh, kw, sh, sw) < 1 or min(pad_h, pad_w) < 0:
        raise ValueError(f"{op}: need kernel >= 1, stride >= 1, padding >= 0; "
                         f"got kernel {kh}x{kw}, stride {(sh, sw)}, padding {(pad_h, pad_w)}")
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, kh, kw, (sh, sw), pad_h, pad_w)
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: kernel {kh}x{kw} does not fit the padded input "
                         f"{H + 2 * pad_h}x{W + 2 * pad_w} (x {tuple(x_shape)}, padding {(pad_h, pad_w)})")
    return sh, sw, OH, OW


@njit(cache=True)
def _patch_offsets(C, kh, kw, Hp, Wp):
    """off[(c*kh + i)*kw + j] = position of pixel (c, i, j) in a padded (C, Hp, Wp) image."""
    off = np.empty(C * kh * kw, np.int64)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                off[(c * kh + i) * kw + j] = (c * Hp + i) * Wp + j
    return off


@njit(parallel=True, cache=True)
def _im2col_kernel(x, kh, kw, sh, sw, ph, pw, OH, OW, cols):
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    off = _patch_offsets(C, kh, kw, Hp, Wp)
    for n in prange(N):
        xp = np.zeros(C * Hp * Wp, x.dtype)   # this image, zero-padded, flat
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    xp[(c * Hp + h + ph) * Wp + w + pw] = x[n, c, h, w]
        for oh in range(OH):
            for ow in range(OW):
                row = cols[(n * OH + oh) * OW + ow]
                base = oh * sh * Wp + ow * sw
                for k in range(off.shape[0]):
                    row[k] = xp[base + off[k]]


@njit(parallel=True, cache=True)
def _col2im_kernel(cols, kh, kw, sh, sw, ph, pw, OH, OW, gx):
    N, C, H, W = gx.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    off = _patch_offsets(C, kh, kw, Hp, Wp)
    for n in prange(N):
        gp = np.zeros(C * Hp * Wp, gx.dtype)  # gradient of the padded image
        for oh in range(OH):
            for ow in range(OW):
                row = cols[(n * OH + oh) * OW + ow]
                base = oh * sh * Wp + ow * sw
                for k in range(off.shape[0]):
                    gp[base + off[k]] += row[k]
        # Gradient that landed on the padding belongs to no input pixel: drop it.
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    gx[n, c, h, w] = gp[(c * Hp + h + ph) * Wp + w + pw]


def im2col(x, kh, kw, stride=1, pad_h=0, pad_w=0):
    """Unfold image patches into rows: x (N, C, H, W) -> cols (N*OH*OW, C*kh*kw).

    cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = xpad[n, c, oh*sh + i, ow*sw + j]
    where xpad is x with `pad_h` zero rows above and below and `pad_w` zero
    columns left and right, OH = (H + 2*pad_h - kh)//sh + 1 (floor), same for OW.
    `stride` is an int or a pair (sh, sw).

    Returns a fresh cols with x's dtype (float32 or float64).  Conv2d calls it
    per chunk of images of at most 32 MB (``ops/conv.py``), a size that malloc
    recycles between calls, so a fresh array costs no page faults.
    """
    x = as_float_array("im2col", "x", x)
    kh, kw, pad_h, pad_w = int(kh), int(kw), int(pad_h), int(pad_w)
    sh, sw, OH, OW = _check_geometry("im2col", x.shape, kh, kw, stride, pad_h, pad_w)
    N, C = x.shape[:2]
    cols = np.empty((N * OH * OW, C * kh * kw), x.dtype)
    _im2col_kernel(x, kh, kw, sh, sw, pad_h, pad_w, OH, OW, cols)
    return cols


def col2im(gcols, x_shape, kh, kw, stride=1, pad_h=0, pad_w=0):
    """Adjoint of im2col: gcols (N*OH*OW, C*kh*kw) -> gx (N, C, H, W) = x_shape.

    gx[n, c, h, w] = sum of gcols[row, col] over every (row, col) that im2col
    filled from x[n, c, h, w]; entries that came from the zero padding are
    dropped. This is exactly the gradient of im2col, and satisfies
    <im2col(x), g> == <x, col2im(g)> for all x, g. Returns gcols' dtype.
    """
    gcols = as_float_array("col2im", "gcols", gcols)
    x_shape = tuple(int(d) for d in x_shape)
    kh, kw, pad_h, pad_w = int(kh), int(kw), int(pad_h), int(pad_w)
    sh, sw, OH, OW = _check_geometry("col2im", x_shape, kh, kw, stride, pad_h, pad_w)
    N, C = x_shape[:2]
    expected = (N * OH * OW, C * kh * kw)
    if gcols.shape != expected:
        raise ValueError(f"col2im: for x_shape {x_shape}, kernel {kh}x{kw}, stride {(sh, sw)}, "
                         f"padding {(pad_h, pad_w)} expected gcols of shape {expected}, got {gcols.shape}")
    gx = np.empty(x_shape, gcols.dtype)
    _col2im_kernel(gcols, kh, kw, sh, sw, pad_h, pad_w, OH, OW, gx)
    return gx
