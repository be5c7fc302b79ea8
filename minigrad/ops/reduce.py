"""Reductions over axes: sum, mean, max, min (``axis`` None, an int or a tuple; ``keepdims``).

The gradient of a reduction must be spread back over the reduced axes, so backward
first re-inserts them as size-1 axes (:func:`_expand`) and lets broadcasting copy
the gradient along them.

The wrappers ``sum``, ``max`` and ``min`` shadow Python's builtins inside this module
(so that ``F.sum`` reads like ``torch.sum``); nothing here uses the builtins.
"""
import numpy as np

from ..autograd import Function


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return tuple(a % ndim for a in axes)


def _expand(g, axes, keepdims):
    """Give the reduced gradient back its size-1 axes so it broadcasts against the input."""
    return g if keepdims else np.expand_dims(g, axes)


class Sum(Function):
    """y = sum of x over axes;  dx = gy copied along those axes."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        return np.asarray(x.sum(axis=ctx.axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, gy):
        return np.broadcast_to(_expand(gy, ctx.axes, ctx.keepdims), ctx.shape), None, None


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis, keepdims)


class Mean(Function):
    """y = sum / n over axes;  dx = gy / n copied along those axes."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _axes(axis, x.ndim), keepdims
        ctx.count = int(np.prod([x.shape[a] for a in ctx.axes]))
        return np.asarray(x.mean(axis=ctx.axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, gy):
        g = _expand(gy, ctx.axes, ctx.keepdims) / gy.dtype.type(ctx.count)
        return np.broadcast_to(g, ctx.shape), None, None


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis, keepdims)


class _Extremum(Function):
    """y = max (or min) over axes;  dx = gy at the extreme elements, shared equally among ties.

    An abstract helper, not an op (hence the underscore): Max and Min below each set ``reduce``.
    """

    reduce = None  # np.max or np.min

    @classmethod
    def forward(cls, ctx, x, axis, keepdims):
        axes = _axes(axis, x.ndim)
        y = cls.reduce(x, axis=axes, keepdims=True)
        winners = x == y
        ctx.save_for_backward(winners / winners.sum(axis=axes, keepdims=True).astype(x.dtype))
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, gy):
        (share,) = ctx.saved_tensors
        return share * _expand(gy, ctx.axes, ctx.keepdims), None, None


class Max(_Extremum):
    reduce = staticmethod(np.max)


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis, keepdims)


class Min(_Extremum):
    reduce = staticmethod(np.min)


def min(x, axis=None, keepdims=False):
    return Min.apply(x, axis, keepdims)

