"""Dropout: during training, zero each element with probability p and scale the rest by 1/(1-p).

"Inverted" dropout scales at training time, so the expected value of every output
equals its input, E[y] = (1-p) * x / (1-p) = x, and evaluation is the identity.
Each call draws one 64-bit seed from a ``np.random.Generator`` (the ``generator``
argument, else :func:`minigrad.random.default_generator`, seeded by
``minigrad.manual_seed``); the kernel derives every element's mask bit from the seed
and the element's index (:mod:`minigrad.kernels.dropout`) and keeps the mask as one
byte per element for backward.

A conv block that ends in a 2x2 max-pool and dropout can run both as one op,
:func:`max_pool2d_dropout` (``nn.Sequential`` does so by itself): the same result,
one pass each way, one byte per pooled value kept for backward.
"""
from ..autograd import Function
from ..dispatch import kernel
from ..random import default_generator
from .pool import _window, max_pool2d


class Dropout(Function):
    """y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p), drawn once per call.

    Shapes: x any shape -> y the same shape and dtype.

    Forward:  y = x * mask * scale,   scale = 1 / (1 - p)  (y = 0 when p = 1)
    Gradient: dx = gy * mask * scale  (the same mask: dropped elements get no gradient)
    """

    @staticmethod
    def forward(ctx, x, p, generator):
        from ..kernels.dropout import draw_seed
        dropout_forward = kernel("dropout", "dropout_forward")

        y, keep = dropout_forward(x, p, draw_seed(generator))
        ctx.save_for_backward(keep)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx, gy):
        dropout_backward = kernel("dropout", "dropout_backward")

        (keep,) = ctx.saved_tensors
        return dropout_backward(gy, keep, ctx.p), None, None


def _check_p(op, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout (PyTorch's ``F.dropout``): identity when not training or p == 0.

    ``generator``: a ``np.random.Generator`` for the mask, else minigrad's default one.
    """
    _check_p("dropout", p)
    if not training or p == 0:
        return x
    return Dropout.apply(x, float(p), default_generator() if generator is None else generator)


class MaxPool2x2Dropout(Function):
    """dropout(max_pool2d(x, 2), p): 2x2 windows, stride 2, then the mask, in one pass.

    Shapes: x (N, C, H, W) -> y (N, C, H // 2, W // 2).

    Forward:  y[n,c,i,j] = max of window (i, j) * mask[n,c,i,j] * scale
    Gradient: dx = gy * mask * scale at each window's winner (the first maximum on ties), 0 elsewhere
    """

    @staticmethod
    def forward(ctx, x, p, generator):
        from ..kernels.dropout import draw_seed
        max_pool2x2_dropout_forward = kernel("dropout", "max_pool2x2_dropout_forward")

        y, code = max_pool2x2_dropout_forward(x, p, draw_seed(generator))
        ctx.save_for_backward(code)
        ctx.x_shape, ctx.p = x.shape, p
        return y

    @staticmethod
    def backward(ctx, gy):
        max_pool2x2_dropout_backward = kernel("dropout", "max_pool2x2_dropout_backward")

        (code,) = ctx.saved_tensors
        return max_pool2x2_dropout_backward(gy, code, ctx.x_shape, ctx.p), None, None


def max_pool2d_dropout(x, kernel_size, stride=None, padding=0, p=0.5, training=True, generator=None):
    """``dropout(max_pool2d(x, kernel_size, stride, padding), p, training, generator)``, the same
    result and the same mask; one fused op for 2x2 windows with stride 2 while training."""
    _check_p("max_pool2d_dropout", p)
    window = _window("max_pool2d", x, kernel_size, stride, padding)  # its errors name the op the user knows
    if not training or p == 0 or window != (2, 2, 0):
        return dropout(max_pool2d(x, kernel_size, stride, padding), p, training, generator)
    return MaxPool2x2Dropout.apply(x, float(p), default_generator() if generator is None else generator)
