"""Channel-major memory: a tensor's shape stays (N, C, H, W), its bytes are laid out (C, N, H, W).

NCHW memory keeps each image together.  A 1x1 convolution then mixes channels image by image:
N small matrix products (O, C) @ (C, H*W), which on few pixels (6x6 at the end of a network)
leave the matrix units mostly idle.  Laid out channel by channel instead, all N images of one
channel are one contiguous row of N*H*W values, and the whole batch is one matrix product:

    y (O, N*H*W) = W (O, C) @ x (C, N*H*W)        dW = gy @ x^T        dx = W^T @ gy

Batch norm's statistics (per channel, over N*H*W values) read one contiguous block, and
depthwise convolution and pooling, which work plane by plane, do not care in which order the
planes lie.  So a network of those layers (Xception, MobileNet) runs channel-major end to end
and never copies between layouts, as PyTorch's ``channels_last`` does for its own kernels.

The shape does not change, only the strides: ``x.transpose(1, 0, 2, 3)`` of a channel-major
array is C-contiguous.  Ops that know the layout keep it (their outputs are channel-major
too); any other op sees an ordinary, if non-contiguous, array and is still correct, at the
cost of a copy.  :func:`channel_major` (the op) moves a tensor into the layout.

This file is the whole layer: the generic ops (``pool.py``, ``norm.py``, ``direct.py``) know
nothing of it.  Below are their channel-major twins (batch norm, max and adaptive average
pooling, the depthwise 3x3 and the 1x1 convolutions), and :func:`minigrad.dispatch.for_layout`
gives an op its twin when its input is channel-major.
"""
import numpy as np

from ..autograd import Function


def is_channel_major(a) -> bool:
    """Whether a 4-D array lies in memory as (C, N, H, W) (and not also as (N, C, H, W), which
    one image or one channel would allow: those count as ordinary NCHW)."""
    return a.ndim == 4 and not a.flags.c_contiguous and a.transpose(1, 0, 2, 3).flags.c_contiguous


def planes(a):
    """The (C, N, H, W) C-contiguous array behind a channel-major ``a`` (a view); for any other
    4-D array, a channel-major copy of it seen that way (so a gradient arriving in the other
    layout can be used as it is)."""
    return np.ascontiguousarray(a.transpose(1, 0, 2, 3))


def from_planes(p):
    """The (N, C, H, W) view of a (C, N, H, W) C-contiguous array: channel-major."""
    return p.transpose(1, 0, 2, 3)


class ChannelMajor(Function):
    """y = x, its memory laid out (C, N, H, W) (see the module docstring); dx = gy, laid out NCHW."""

    @staticmethod
    def forward(ctx, x):
        if x.ndim != 4:
            raise ValueError(f"channel_major: expected x of shape (N, C, H, W), got {x.shape}")
        return x if is_channel_major(x) else from_planes(planes(x))

    @staticmethod
    def backward(ctx, gy):
        return np.ascontiguousarray(gy)


def channel_major(x):
    """x with the same shape and values, laid out channel by channel in memory (a copy unless it
    already is); the layers that know the layout keep it from there on."""
    return ChannelMajor.apply(x)


# ------------------------------------------------------------------ the ops on channel-major tensors
# Each is the plain op of pool.py, norm.py or direct.py run on the (C, N, H, W) planes behind a
# channel-major x, its result given back channel-major.  :func:`minigrad.dispatch.for_layout`
# picks them when x is channel-major; nothing else does.

def _rows(a):
    """A channel-major (N, C, H, W) array as (1, C, N*H*W): one contiguous row per channel (a view)."""
    p = planes(a)
    return p.reshape(1, p.shape[0], -1)


def _from_rows(r, shape):
    N, C, H, W = shape
    return from_planes(r.reshape(C, N, H, W))


def _channel_major_batch_norm(plain):
    """The channel-major twin of a batch-norm Function: its statistics over N*H*W values per channel
    are one contiguous row each, x seen as (1, C, N*H*W)."""

    class ChannelMajor(Function):
        __doc__ = f"{plain.__name__} on a channel-major x (N, C, H, W): the same formulas on x as (1, C, N*H*W)."

        @staticmethod
        def forward(ctx, x, *args, **kwargs):
            ctx.cm_shape = x.shape
            return _from_rows(plain.forward(ctx, _rows(x), *args, **kwargs), x.shape)

        @staticmethod
        def backward(ctx, gy):
            gx, *rest = plain.backward(ctx, _rows(gy))
            return (None if gx is None else _from_rows(gx, ctx.cm_shape), *rest)

    ChannelMajor.__name__ = ChannelMajor.__qualname__ = f"ChannelMajor{plain.__name__}"
    return ChannelMajor


def _channel_major_planes(plain):
    """The channel-major twin of a Function that works plane by plane (pooling): the plain op on the
    (C, N, H, W) planes, which it takes for (N', C', H, W), so the planes come out in the same order."""

    class ChannelMajor(Function):
        __doc__ = f"{plain.__name__} on a channel-major x: the same op on its (C, N, H, W) planes."

        @staticmethod
        def forward(ctx, x, *args, **kwargs):
            return from_planes(plain.forward(ctx, planes(x), *args, **kwargs))

        @staticmethod
        def backward(ctx, gy):
            gx, *rest = plain.backward(ctx, planes(gy))
            return (from_planes(gx), *rest)

    ChannelMajor.__name__ = ChannelMajor.__qualname__ = f"ChannelMajor{plain.__name__}"
    return ChannelMajor


class ChannelMajorPointwiseConv2d(Function):
    """A 1x1 convolution without padding of a channel-major x as one matrix product for the whole
    batch (y is channel-major too).  With xs = x[:, :, ::sh, ::sw] seen as (C, N*L), W2 = w as (O, C):

    Forward:   y = W2 @ xs + b                       (O, N*L)
    Gradients: dxs = W2^T @ gy,  dW2 = gy @ xs^T,  db = gy summed over N*L
    """

    @staticmethod
    def forward(ctx, x, w, b, stride, padding=0):
        from .direct import pointwise_geometry

        (sh, sw), OH, OW = pointwise_geometry(x, w, b, stride, padding)
        (N, C), O = x.shape[:2], w.shape[0]
        w2 = w.reshape(O, C)
        xs = planes(x[:, :, ::sh, ::sw]).reshape(C, N * OH * OW)
        y = w2 @ xs
        if b is not None:
            y += b[:, None]
        ctx.stride, ctx.x_shape, ctx.has_bias = (sh, sw), x.shape, b is not None
        ctx.save_for_backward(xs if ctx.needs_input_grad[1] else None, w2)
        return from_planes(y.reshape(O, N, OH, OW))

    @staticmethod
    def backward(ctx, gy):
        xs, w2 = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        (sh, sw), (N, C, H, W) = ctx.stride, ctx.x_shape
        O, (OH, OW) = w2.shape[0], gy.shape[2:]
        g = planes(gy).reshape(O, N * OH * OW)
        gx = gw = gb = None
        if need_x:
            gxs = from_planes((w2.T @ g).reshape(C, N, OH, OW))
            if (sh, sw) == (1, 1):
                gx = gxs
            else:                                    # the sampled pixels get it, the others 0
                gx = from_planes(np.zeros((C, N, H, W), gy.dtype))
                gx[:, :, ::sh, ::sw] = gxs
        if need_w:
            gw = (g @ xs.T).reshape(O, C, 1, 1)
        if need_b and ctx.has_bias:
            gb = g.sum(axis=1)
        return gx, gw, gb, None, None


class ChannelMajorDirectConv2d(Function):
    """DirectConv2d of a channel-major x: the depthwise 3x3 kernel takes the (C, N, H, W) planes as
    they lie (``channel_major=True``) and gives y channel-major; any other grouped convolution runs
    the plain :class:`~minigrad.ops.direct.DirectConv2d` on an NCHW copy."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, groups):
        from ..kernels import depthwise
        from .conv import _check_conv_inputs, conv2d_geometry
        from .direct import DirectConv2d

        _check_conv_inputs(x, w, b, groups)
        (sh, sw), pad_h, pad_w, _, _ = conv2d_geometry(x.shape, w.shape, stride, padding)
        ctx.plain = sh != sw or not depthwise.handles(w.shape, sh, pad_h, pad_w)
        if ctx.plain:
            return DirectConv2d.forward(ctx, x, w, b, stride, padding, groups)
        from ..kernels.direct import direct_conv2d_forward

        ctx.geometry, ctx.has_bias = (sh, pad_h, pad_w), b is not None
        ctx.save_for_backward(x, w)
        return from_planes(direct_conv2d_forward(planes(x), w, b, sh, pad_h, pad_w, channel_major=True))

    @staticmethod
    def backward(ctx, gy):
        from ..kernels.direct import direct_conv2d_backward
        from .direct import DirectConv2d

        if ctx.plain:
            return DirectConv2d.backward(ctx, gy)
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = None
        if need_x or need_w:
            gx, gw = direct_conv2d_backward(planes(gy), planes(x), w, *ctx.geometry, need_x=need_x, need_w=need_w,
                                            channel_major=True)
            gx = None if gx is None else from_planes(gx)
        gb = gy.sum(axis=(0, 2, 3)) if need_b and ctx.has_bias else None
        return gx, gw, gb, None, None, None


def channel_major_twins():
    """plain Function -> its channel-major twin (for :func:`minigrad.dispatch.for_layout`)."""
    from .direct import DirectConv2d, PointwiseConv2d
    from .norm import BatchNorm, BatchNormEval, BatchNormReLU, BatchNormReLUEval
    from .pool import AdaptiveAvgPool2d, MaxPool2d

    twins = {f: _channel_major_batch_norm(f) for f in (BatchNorm, BatchNormReLU, BatchNormEval, BatchNormReLUEval)}
    twins.update({f: _channel_major_planes(f) for f in (MaxPool2d, AdaptiveAvgPool2d)})
    twins.update({PointwiseConv2d: ChannelMajorPointwiseConv2d, DirectConv2d: ChannelMajorDirectConv2d})
    return twins
