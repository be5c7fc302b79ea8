"""Shape operations: they move elements around without changing them.

Their gradients move the gradient elements back: reshape undoes the reshape,
transpose applies the inverse permutation, indexing scatters into zeros, concatenate
splits, pad crops.
"""
import numpy as np

from ..autograd import Function


class Reshape(Function):
    """y = x viewed with a new shape;  dx = gy reshaped to x's shape."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape input of shape {x.shape} "
                             f"({x.size} elements) to {shape}") from None

    @staticmethod
    def backward(ctx, gy):
        return gy.reshape(ctx.shape), None


def reshape(x, *shape):
    if len(shape) == 1 and not np.isscalar(shape[0]):
        shape = tuple(shape[0])
    return Reshape.apply(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one: (N, C, H, W).flatten(1) -> (N, C*H*W)."""
    start, end = start_dim % x.ndim, end_dim % x.ndim
    shape = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
    return Reshape.apply(x, shape)


class Permute(Function):
    """y = x with axes reordered by ``dims``;  dx = gy reordered by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, gy):
        return gy.transpose(ctx.inverse), None


def permute(x, *dims):
    if len(dims) == 1 and not np.isscalar(dims[0]):
        dims = tuple(dims[0])
    if sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, tuple(d % x.ndim for d in dims))


def transpose(x, *dims):
    """No dims: reverse all axes.  Two dims: swap them (PyTorch).  More: a full permutation."""
    if not dims:
        return Permute.apply(x, tuple(reversed(range(x.ndim))))
    if len(dims) == 2:
        order = list(range(x.ndim))
        a, b = dims[0] % x.ndim, dims[1] % x.ndim
        order[a], order[b] = order[b], order[a]
        return Permute.apply(x, tuple(order))
    return permute(x, *dims)


class GetItem(Function):
    """y = x[index] (slices, integers, integer or boolean arrays);  dx = zeros with gy added at index.

    ``np.add.at`` rather than ``gx[index] = gy``: with an integer array an element
    may be picked twice (``x[[0, 0]]``), and both picks must add to its gradient.
    """

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return np.asarray(x[index])

    @staticmethod
    def backward(ctx, gy):
        gx = np.zeros(ctx.shape, dtype=gy.dtype)
        np.add.at(gx, ctx.index, gy)
        return gx, None


def getitem(x, index):
    if hasattr(index, "data") and not isinstance(index, np.ndarray):
        index = index.data  # a Tensor used as an index
    return GetItem.apply(x, index)


class Concatenate(Function):
    """y = the inputs joined along ``axis``;  each dx is its own slice of gy."""

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError as e:
            raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} do not fit along axis {axis}: {e}") from None

    @staticmethod
    def backward(ctx, gy):
        return (None, *np.split(gy, ctx.splits, axis=ctx.axis))


def concatenate(tensors, axis=0):
    return Concatenate.apply(axis, *tensors)


class Stack(Function):
    """y = the inputs stacked along a new ``axis``;  each dx is gy indexed along that axis."""

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.axis = axis
        try:
            return np.stack(xs, axis=axis)
        except ValueError:
            raise ValueError(f"stack: all inputs need the same shape, got {[x.shape for x in xs]}") from None

    @staticmethod
    def backward(ctx, gy):
        return (None, *np.moveaxis(gy, ctx.axis, 0))


def stack(tensors, axis=0):
    return Stack.apply(axis, *tensors)


class Pad(Function):
    """y = x surrounded by constant values;  dx = gy with the border cropped off."""

    @staticmethod
    def forward(ctx, x, pad_width, value):
        pad_width = np.broadcast_to(np.asarray(pad_width, dtype=int), (x.ndim, 2))
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
        return np.pad(x, pad_width, constant_values=value)

    @staticmethod
    def backward(ctx, gy):
        return gy[ctx.crop], None, None


def pad(x, pad_width, value=0.0):
    """NumPy's pad_width: an int, (before, after), or one (before, after) pair per axis."""
    return Pad.apply(x, pad_width, value)
