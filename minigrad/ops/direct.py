"""Convolutions without im2col: direct loops for few channels per group, and 1x1 as a matrix product.

These are what depthwise-separable networks (Xception, MobileNet) are made of.  A full 3x3
convolution from C to O channels costs 9*C*O multiply-adds a pixel.  Split into a depthwise
3x3 (each channel filtered on its own: 9*C) and a pointwise 1x1 (channels mixed, no
spatial extent: C*O), it costs 9*C + C*O -- about 8x less for 64 channels.

* :class:`DirectConv2d`: the convolution's defining sum as numba loops
  (``minigrad/kernels/direct.py``), one pass over each image forward and one backward.
  Used for depthwise convolutions, other grouped ones with few channels per group, and
  ordinary ones with few channels (a network's first layers), where im2col's copy and thin
  matrix product cost more than the arithmetic.  Memory speed sets its pace.
* :class:`PointwiseConv2d` (a 1x1 kernel, no padding): a matrix product per image,
  ``y[n] = W @ x[n]`` with x[n] seen as (C, H*W).  Unlike im2col it needs no copy of the
  input and gives NCHW directly; a stride s just samples every s-th pixel first.  (On a
  channel-major x, ``ops/layout.py``'s twins make it one product for the whole batch.)
"""
import numpy as np

from .._args import shape_text
from ..autograd import Function
from .conv import _check_conv_inputs, conv2d_geometry


class DirectConv2d(Function):
    """Grouped convolution by direct loops; depthwise is groups == C.

    Shapes: x (N, C, H, W), w (O, C/G, kh, kw), b (O,) or None -> y (N, O, OH, OW), where
    G = C / w.shape[1] groups; output channel o reads input channels c0.. c0 + C/G - 1 of its
    group, c0 = (o // (O/G)) * C/G.

    Forward:   y[n,o,p,q] = b[o] + sum_{cc,i,j} w[o,cc,i,j] * xpad[n, c0+cc, s*p+i, s*q+j]
    Gradients: dx[n,c0+cc] = every gy[n,o,p,q] * w[o,cc] added back over its window
               dw[o,cc,i,j] = sum_{n,p,q} gy[n,o,p,q] * xpad[n, c0+cc, s*p+i, s*q+j]
               db[o] = sum_{n,p,q} gy[n,o,p,q]
    """

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, groups):
        from ..kernels.direct import direct_conv2d_forward

        _check_conv_inputs(x, w, b, groups)
        (sh, sw), pad_h, pad_w, _, _ = conv2d_geometry(x.shape, w.shape, stride, padding)
        if sh != sw:
            raise ValueError(f"conv2d: the direct kernel needs one stride for both axes, got {stride}")
        ctx.geometry, ctx.has_bias = (sh, pad_h, pad_w), b is not None
        ctx.save_for_backward(x, w)
        return direct_conv2d_forward(x, w, b, sh, pad_h, pad_w)

    @staticmethod
    def backward(ctx, gy):
        from ..kernels.direct import direct_conv2d_backward

        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx, gw = (None, None)
        if need_x or need_w:
            gx, gw = direct_conv2d_backward(gy, x, w, *ctx.geometry, need_x=need_x, need_w=need_w)
        gb = gy.sum(axis=(0, 2, 3)) if need_b and ctx.has_bias else None
        return gx, gw, gb, None, None, None


def direct_conv2d(x, w, b=None, stride=1, padding=0, groups=1):
    """``F.conv2d(x, w, b, stride, padding, groups)`` by direct loops (see :class:`DirectConv2d`);
    ``groups=C`` with ``w`` of shape (C, 1, kh, kw) is a depthwise convolution."""
    return DirectConv2d.apply(x, w, b, stride, padding, groups)


def pointwise_geometry(x, w, b, stride, padding):
    """Check a 1x1 convolution's arrays (no padding allowed) and return ((sh, sw), OH, OW)."""
    _check_conv_inputs(x, w, b)
    (sh, sw), pad_h, pad_w, OH, OW = conv2d_geometry(x.shape, w.shape, stride, padding)
    if w.shape[2:] != (1, 1) or (pad_h, pad_w) != (0, 0):
        raise ValueError(f"pointwise_conv2d: needs a 1x1 kernel and no padding, got w {shape_text(w)} "
                         f"and padding {padding}")
    return (sh, sw), OH, OW


class PointwiseConv2d(Function):
    """A 1x1 convolution without padding, as one matrix product per image.

    Shapes: x (N, C, H, W), w (O, C, 1, 1), b (O,) or None -> y (N, O, OH, OW), OH = (H - 1) // sh + 1.
    With xs = x[:, :, ::sh, ::sw] seen as (N, C, L) and W2 = w as (O, C):

    Forward:   y[n] = W2 @ xs[n] + b
    Gradients: dxs[n] = W2^T @ gy[n]   (dx is dxs at the sampled pixels, 0 elsewhere)
               dW2 = sum_n gy[n] @ xs[n]^T,   db = gy summed over (N, OH, OW)
    """

    @staticmethod
    def forward(ctx, x, w, b, stride, padding=0):
        (sh, sw), OH, OW = pointwise_geometry(x, w, b, stride, padding)
        N, C = x.shape[:2]
        O = w.shape[0]
        w2 = w.reshape(O, C)
        ctx.stride, ctx.x_shape, ctx.has_bias = (sh, sw), x.shape, b is not None
        xs = x[:, :, ::sh, ::sw] if (sh, sw) != (1, 1) else x
        xs = np.ascontiguousarray(xs).reshape(N, C, OH * OW)
        y = np.matmul(w2, xs)                       # N GEMMs, each (O, C) @ (C, L): NCHW at once
        if b is not None:
            y += b[:, None]
        ctx.save_for_backward(xs if ctx.needs_input_grad[1] else None, w2)
        return y.reshape(N, O, OH, OW)

    @staticmethod
    def backward(ctx, gy):
        xs, w2 = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        (sh, sw), (N, C, H, W) = ctx.stride, ctx.x_shape
        O, (OH, OW) = w2.shape[0], gy.shape[2:]
        g = np.ascontiguousarray(gy).reshape(N, O, OH * OW)
        gx = gw = gb = None
        if need_x:
            gxs = np.matmul(w2.T, g).reshape(N, C, OH, OW)
            if (sh, sw) == (1, 1):
                gx = gxs
            else:                                    # the sampled pixels get it, the others 0
                gx = np.zeros((N, C, H, W), gy.dtype)
                gx[:, :, ::sh, ::sw] = gxs
        if need_w:
            gw = np.zeros((O, C), gy.dtype)
            for n in range(N):                       # accumulate: no (N, O, C) temporary
                gw += g[n] @ xs[n].T
            gw = gw.reshape(O, C, 1, 1)
        if need_b and ctx.has_bias:
            gb = g.sum(axis=(0, 2))
        return gx, gw, gb, None, None


def pointwise_conv2d(x, w, b=None, stride=1, padding=0):
    """A 1x1 convolution, ``F.conv2d(x, w, b, stride)`` with w (O, C, 1, 1), as a matrix product
    (``padding`` must come to 0: 0, "valid", or "same" at stride 1)."""
    return PointwiseConv2d.apply(x, w, b, stride, padding)
