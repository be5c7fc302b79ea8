"""3x3 and 5x5 stride-1 convolutions by Winograd's minimal filtering: F(2x2, 3x3) (16 GEMMs
doing 4/9 of im2col's work), F(4x4, 3x3) (36 GEMMs, 1/4 of it) and F(2x2, 5x5) (36 GEMMs,
36/100 of it).

The algorithms and their transforms are in ``minigrad/kernels/winograd.py`` (F(2x2, 3x3))
and ``winograd6.py`` (the two with 6x6 tiles); :func:`minigrad.dispatch.winograd_transforms`
picks one.  With K
= 16 or 36 transformed positions per tile, per chunk of images (the same chunks as the
im2col path, so the same memory bound):

    forward     V = input_transform(x)          (K, C, T)
                M = U @ V  (K GEMMs)            (K, O, T)      U = G w G^T, (K, O, C)
                y = output_transform(M) + b
    backward    dM = output_adjoint(gy)         (K, O, T)
                dU += dM @ V^T                  (K, O, C)      then dw = G^T dU G
                dV = U^T @ dM                   (K, C, T)      then dx = input_adjoint(dV)

Backward is the exact gradient of forward's arithmetic (each step's adjoint in
reverse order); forward equals the convolution up to rounding, so both match the
im2col path to float32 precision.  As in the im2col path, V is rebuilt in backward
from x rather than kept from forward.
"""
import numpy as np

from .. import dispatch
from ..autograd import Function
from .conv import _check_conv_inputs, conv2d_geometry, image_chunks


class WinogradConv2d(Function):
    """y = conv2d(x, w) + b for r x r kernels (r = 3 or 5), stride 1, padding p on both
    axes, by Winograd; with ``relu``, y = max(conv2d(x, w) + b, 0) from the same pass.

    Shapes: x (N, C, H, W), w (O, C, r, r), b (O,) or None -> y (N, O, H + 2p - r + 1, W + 2p - r + 1).
    Same result and gradients as :class:`~minigrad.ops.conv.Conv2d` (to rounding); with
    ``relu`` the incoming gradient is first zeroed where y is 0, as ReLU's backward does.
    """

    @staticmethod
    def forward(ctx, x, w, b, padding, relu=False):
        y, x, U, K, geometry, chunks = _forward(x, w, b, padding, relu, pool=False)
        ctx.transforms, ctx.geometry, ctx.chunks, ctx.has_bias = K, geometry, chunks, b is not None
        ctx.x_shape = x.shape
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, U, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, U, y = ctx.saved_tensors
        K = ctx.transforms
        pad, TH, TW = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        N, C, H, W = ctx.x_shape
        gy = gy * (y > 0) if y is not None else np.ascontiguousarray(gy)
        gx = np.empty((N, C, H, W), gy.dtype) if need_x else None
        dU = np.zeros(U.shape, gy.dtype) if need_w else None
        for n0, n1 in ctx.chunks:
            dM = K.output_adjoint(gy[n0:n1], TH, TW)
            if need_w:
                V = K.input_transform(x[n0:n1], pad, TH, TW)
                dU += np.matmul(dM, V.transpose(0, 2, 1))
            if need_x:
                gx[n0:n1] = K.input_adjoint(np.matmul(U.transpose(0, 2, 1), dM), n1 - n0, H, W, pad, TH, TW)
        gw = K.filter_adjoint(dU) if need_w else None
        gb = gy.sum(axis=(0, 2, 3)) if need_b and ctx.has_bias else None
        return gx, gw, gb, None


def _forward(x, w, b, padding, relu, pool):
    """WinogradConv2d's forward on arrays, optionally 2x2 max-pooled: y and what backward keeps."""
    from ..kernels.winograd import output_shape

    _check_conv_inputs(x, w, b)
    _, pad, _, OH, OW = conv2d_geometry(x.shape, w.shape, 1, padding)
    K = dispatch.winograd_transforms(w.shape, OH, OW)
    (N, C), O = x.shape[:2], w.shape[0]
    TH, TW = K.tile_counts(OH, OW)
    x = np.ascontiguousarray(x)
    U = K.filter_transform(w)
    bias = b if b is not None else np.empty(0, x.dtype)
    y = np.empty(output_shape(N, O, OH, OW, pool), x.dtype)
    chunks = image_chunks(N, U.shape[0] * max(C, O) * TH * TW * x.itemsize)
    for n0, n1 in chunks:
        M = np.matmul(U, K.input_transform(x[n0:n1], pad, TH, TW))   # the K GEMMs
        K.output_transform(M, bias, n1 - n0, OH, OW, TH, TW, relu, pool, out=y[n0:n1])
    return y, x, U, K, (pad, TH, TW), chunks


def winograd_conv2d_max_pool(x, w, b, padding, relu=False):
    """max_pool2d(conv2d(x, w, b, padding=padding, relu=relu), 2) by Winograd with the pooling
    in the output transform, for evaluation: NumPy arrays in and out, no gradient.  Only the
    window maxima are written, a quarter of the convolution's output, and no pass reads it back."""
    return _forward(x, w, b, padding, relu, pool=True)[0]
