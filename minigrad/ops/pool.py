"""Pooling: max and average over k x k windows, and adaptive average pooling to a fixed size.

The numba kernels in :mod:`minigrad.kernels.pool` do the windowed work.  Max pooling's
forward records, for every output, which element of its window won (``argmax``), so
backward is a scatter-add of ``gy`` into those positions.  Windows may overlap (stride <
kernel size), so one input element can win several windows and must receive the sum of
their gradients.  Average pooling is linear: backward spreads each ``gy`` evenly back
over its window.

Padding follows PyTorch: implicit -inf for max (padding never wins), zeros for average,
and at most half the kernel size, so that every window holds at least one real pixel.
"""
import numpy as np

from .._args import pair, shape_text
from ..autograd import Function
from ..dispatch import for_layout, kernel


def _size(op, value, name):
    """An int, or a pair of equal ints, as an int: the windows here are square."""
    a, b = pair(value, name, op)
    if a != b:
        raise ValueError(f"{op}: {name} must be an int (or a pair of equal ints), got {value!r}")
    return a


def _window(op, x, kernel_size, stride, padding):
    """Check a pooling's arguments against x; return (k, stride, padding) as ints."""
    k = _size(op, kernel_size, "kernel_size")
    s = k if stride is None else _size(op, stride, "stride")
    p = _size(op, padding, "padding")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected x (N,C,H,W), got x {shape_text(x)}")
    if k < 1 or s < 1:
        raise ValueError(f"{op}: kernel_size and stride must be at least 1, got {k} and {s}")
    # PyTorch's rule: with more padding some windows would hold padding only.
    if p < 0 or 2 * p > k:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size, "
                         f"got padding={p} for kernel_size={k}")
    H, W = x.shape[2:]
    if H + 2 * p < k or W + 2 * p < k:
        padded = f" padded by {p}" if p else ""
        raise ValueError(f"{op}: kernel {k}x{k} is larger than the input {H}x{W}{padded} (x {shape_text(x)})")
    return k, s, p


class MaxPool2d(Function):
    """y = max over each k x k window of x padded with -inf, windows ``stride`` apart (floor mode).

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2p - k) // stride + 1 (likewise OW).

    Forward:  y[n,c,p,q] = max_{i,j < k} xpad[n,c,stride*p+i,stride*q+j]
    Gradient: dx[n,c,h,w] = sum of gy[n,c,p,q] over the windows (p, q) whose maximum is
              x[n,c,h,w] (the first one in the window on ties), 0 elsewhere.  The padding
              never wins (p <= k/2 leaves every window a real pixel), so it takes no gradient.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding=0):
        max_pool2d_forward = kernel("pool", "max_pool2d_forward")

        k, s, p = _window("max_pool2d", x, kernel_size, stride, padding)
        y, argmax = max_pool2d_forward(x, k, s, p)
        ctx.save_for_backward(argmax)
        ctx.x_shape, ctx.k, ctx.stride, ctx.padding = x.shape, k, s, p
        return y

    @staticmethod
    def backward(ctx, gy):
        max_pool2d_backward = kernel("pool", "max_pool2d_backward")

        (argmax,) = ctx.saved_tensors
        gx = max_pool2d_backward(gy, argmax, ctx.x_shape, ctx.k, ctx.stride, ctx.padding)
        return gx, None, None, None


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling over k x k windows (PyTorch's ``F.max_pool2d``); stride defaults to kernel_size.

    x (N, C, H, W) -> (N, C, (H + 2p - k) // stride + 1, (W + 2p - k) // stride + 1), with
    implicit -inf padding p <= k / 2 (e.g. ResNet's stem: kernel 3, stride 2, padding 1).
    """
    return for_layout(MaxPool2d, x).apply(x, kernel_size, stride, padding)


class AvgPool2d(Function):
    """y = mean over each k x k window of x zero-padded by p, windows ``stride`` apart (floor mode).

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2p - k) // stride + 1 (likewise OW).

    Forward:  y[n,c,p,q] = sum_{i,j < k} xpad[n,c,stride*p+i,stride*q+j] / d[p,q]
              d = k*k with count_include_pad, else the number of real pixels in window (p, q).
    Gradient: linear, so dx[n,c,h,w] = sum of gy[n,c,p,q] / d[p,q] over the windows holding (h, w).
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding=0, count_include_pad=True):
        avg_pool2d_forward = kernel("pool", "avg_pool2d_forward")

        k, s, p = _window("avg_pool2d", x, kernel_size, stride, padding)
        ctx.x_shape, ctx.k, ctx.stride, ctx.padding = x.shape, k, s, p
        ctx.count_include_pad = bool(count_include_pad)
        return avg_pool2d_forward(x, k, s, p, ctx.count_include_pad)

    @staticmethod
    def backward(ctx, gy):
        avg_pool2d_backward = kernel("pool", "avg_pool2d_backward")

        gx = avg_pool2d_backward(gy, ctx.x_shape, ctx.k, ctx.stride, ctx.padding, ctx.count_include_pad)
        return gx, None, None, None, None


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling over k x k windows (PyTorch's ``F.avg_pool2d``, floor mode); stride defaults to kernel_size.

    x (N, C, H, W) -> (N, C, (H + 2p - k) // stride + 1, (W + 2p - k) // stride + 1).  Zero padding
    p <= k / 2; with count_include_pad=False the padded zeros are left out of each window's mean.
    """
    return AvgPool2d.apply(x, kernel_size, stride, padding, count_include_pad)


def _output_size(x, output_size):
    """(OH, OW) from an int or a pair; None in the pair keeps that input size (as PyTorch)."""
    pair = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(pair) != 2 or not all(v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
                                 for v in pair):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair of ints, got {output_size!r}")
    size = tuple(int(x.shape[2 + i] if v is None else v) for i, v in enumerate(pair))
    if min(size) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be at least 1, got {output_size!r}")
    return size


def _bins(n, out):
    """PyTorch's bins: output i averages input start..end-1, start = floor(i*n/out), end = ceil((i+1)*n/out)."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


class AdaptiveAvgPool2d(Function):
    """y = mean of x over an OH x OW grid of bins that cover the input plane, whatever H and W are.

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW).  Bin i of the rows spans
    floor(i*H/OH) <= h < ceil((i+1)*H/OH) (likewise columns); neighbouring bins may overlap
    by a pixel when OH does not divide H.

    Forward:  y[n,c,i,j] = mean of x[n,c,h,w] over bin (i, j)
    Gradient: dx[n,c,h,w] = sum of gy[n,c,i,j] / |bin (i, j)| over the bins holding (h, w).
    Output size 1 is global average pooling: y = x.mean over (H, W), dx = gy / (H*W) everywhere.
    """

    @staticmethod
    def forward(ctx, x, output_size):
        if x.ndim != 4:
            raise ValueError(f"adaptive_avg_pool2d: expected x (N,C,H,W), got x {shape_text(x)}")
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise ValueError(f"adaptive_avg_pool2d: the input plane is empty (x {shape_text(x)})")
        OH, OW = _output_size(x, output_size)
        ctx.x_shape, ctx.out = x.shape, (OH, OW)
        if (OH, OW) == (1, 1):
            # Global average pooling (every classifier head): one reduction, no bins.
            return x.mean(axis=(2, 3), keepdims=True)
        # The output grid is small (a few cells), so a NumPy reduction per cell is cheap.
        y = np.empty(x.shape[:2] + (OH, OW), x.dtype)
        for i, (h0, h1) in enumerate(_bins(x.shape[2], OH)):
            for j, (w0, w1) in enumerate(_bins(x.shape[3], OW)):
                y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        return y

    @staticmethod
    def backward(ctx, gy):
        N, C, H, W = ctx.x_shape
        OH, OW = ctx.out
        if (OH, OW) == (1, 1):
            gx = np.empty(ctx.x_shape, gy.dtype)
            gx[...] = gy / gy.dtype.type(H * W)          # broadcast over the plane; stays gy's dtype
            return gx, None
        gx = np.zeros(ctx.x_shape, gy.dtype)
        for i, (h0, h1) in enumerate(_bins(H, OH)):
            for j, (w0, w1) in enumerate(_bins(W, OW)):
                gx[:, :, h0:h1, w0:w1] += (gy[:, :, i, j] / gy.dtype.type((h1 - h0) * (w1 - w0)))[:, :, None, None]
        return gx, None


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (PyTorch's ``F.adaptive_avg_pool2d``).

    x (N, C, H, W) -> (N, C, OH, OW) for output_size OH (square) or (OH, OW); None keeps
    that input size.  output_size=1 is global average pooling.
    """
    return for_layout(AdaptiveAvgPool2d, x).apply(x, output_size)
