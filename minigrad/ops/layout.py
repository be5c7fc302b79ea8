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
