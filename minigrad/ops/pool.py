"""Max pooling: each output is the largest value of its window; the gradient goes to that one element.

The numba kernels in :mod:`minigrad.kernels.pool` do the work; forward records, for every
output, which element of its window won (``argmax``), so backward is a scatter-add of
``gy`` into those positions.  Windows may overlap (stride < kernel size), so one input
element can win several windows and must receive the sum of their gradients.
"""
import numpy as np

from ..autograd import Function
from .conv import _shape


def _size(value, name):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1]:
        return int(value[0])
    raise ValueError(f"max_pool2d: {name} must be an int (or a pair of equal ints), got {value!r}")


class MaxPool2d(Function):
    """y = max over each k x k window of x, windows ``stride`` apart (no padding, floor mode).

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - k) // stride + 1 (likewise OW).

    Forward:  y[n,c,p,q] = max_{i,j < k} x[n,c,stride*p+i,stride*q+j]
    Gradient: dx[n,c,h,w] = sum of gy[n,c,p,q] over the windows (p, q) whose maximum is
              x[n,c,h,w] (the first one in the window on ties), 0 elsewhere.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride):
        from ..kernels.pool import max_pool2d_forward

        k = _size(kernel_size, "kernel_size")
        s = k if stride is None else _size(stride, "stride")
        if x.ndim != 4:
            raise ValueError(f"max_pool2d: expected x (N,C,H,W), got x {_shape(x)}")
        if k < 1 or s < 1:
            raise ValueError(f"max_pool2d: kernel_size and stride must be at least 1, got {k} and {s}")
        if x.shape[2] < k or x.shape[3] < k:
            raise ValueError(f"max_pool2d: kernel {k}x{k} is larger than the input {x.shape[2]}x{x.shape[3]} "
                             f"(x {_shape(x)})")
        y, argmax = max_pool2d_forward(x, k, s)
        ctx.save_for_backward(argmax)
        ctx.x_shape, ctx.k, ctx.stride = x.shape, k, s
        return y

    @staticmethod
    def backward(ctx, gy):
        from ..kernels.pool import max_pool2d_backward

        (argmax,) = ctx.saved_tensors
        gx = max_pool2d_backward(gy, argmax, ctx.x_shape, ctx.k, ctx.stride)
        return gx, None, None


def max_pool2d(x, kernel_size, stride=None):
    """Max pooling over k x k windows (PyTorch's ``F.max_pool2d``); stride defaults to kernel_size.

    x (N, C, H, W) -> (N, C, (H - k) // stride + 1, (W - k) // stride + 1).
    """
    return MaxPool2d.apply(x, kernel_size, stride)
