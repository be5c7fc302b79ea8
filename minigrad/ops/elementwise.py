"""Element-wise arithmetic: each output element depends on the same element of each input.

For y = f(a, b) element-wise, the chain rule is element-wise too:
dL/da = dL/dy * df/da.  Inputs may broadcast against each other; backward returns
gradients of the broadcast shape and the engine sums them back to each input's shape
(:func:`minigrad.autograd.unbroadcast`).

Each Function is followed by its wrapper; ``pow`` and ``abs`` shadow Python's builtins
inside this module (so that ``F.abs`` reads like ``torch.abs``), which uses neither.
"""
import numpy as np

from ..autograd import Function


class Add(Function):
    """y = a + b;  da = gy,  db = gy."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, gy):
        return gy, gy


def add(a, b):
    return Add.apply(a, b)


class Sub(Function):
    """y = a - b;  da = gy,  db = -gy."""

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, gy):
        return gy, (-gy if ctx.needs_input_grad[1] else None)


def sub(a, b):
    return Sub.apply(a, b)


class Mul(Function):
    """y = a * b;  da = gy * b,  db = gy * a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        ga = gy * b if ctx.needs_input_grad[0] else None
        gb = gy * a if ctx.needs_input_grad[1] else None
        return ga, gb


def mul(a, b):
    return Mul.apply(a, b)


class Div(Function):
    """y = a / b;  da = gy / b,  db = -gy * a / b**2 = -gy * y / b."""

    @staticmethod
    def forward(ctx, a, b):
        y = a / b
        ctx.save_for_backward(b, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        b, y = ctx.saved_tensors
        ga = gy / b if ctx.needs_input_grad[0] else None
        gb = -gy * y / b if ctx.needs_input_grad[1] else None
        return ga, gb


def div(a, b):
    return Div.apply(a, b)


class Neg(Function):
    """y = -x;  dx = -gy."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


def neg(x):
    return Neg.apply(x)


class Pow(Function):
    """y = x ** p for a constant p;  dx = gy * p * x ** (p - 1)."""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        p = ctx.p
        return gy * (p * x ** (p - 1)), None


def pow(x, p):
    if not np.isscalar(p):
        raise TypeError(f"pow: the exponent must be a constant number, got {type(p).__name__}")
    return Pow.apply(x, p)


class Exp(Function):
    """y = e**x;  dx = gy * y (the exponential is its own derivative)."""

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y


def exp(x):
    return Exp.apply(x)


class Log(Function):
    """y = ln x;  dx = gy / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy / x


def log(x):
    return Log.apply(x)


class Sqrt(Function):
    """y = sqrt(x);  dx = gy / (2 y)."""

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy / (2 * y)


def sqrt(x):
    return Sqrt.apply(x)


class Abs(Function):
    """y = |x|;  dx = gy * sign(x) (0 at x = 0, the subgradient PyTorch uses)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return gy * np.sign(x)


def abs(x):
    return Abs.apply(x)


class Clip(Function):
    """y = min(max(x, low), high);  dx = gy where low <= x <= high, else 0."""

    @staticmethod
    def forward(ctx, x, low, high):
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save_for_backward(inside)
        return np.clip(x, low, high)

    @staticmethod
    def backward(ctx, gy):
        (inside,) = ctx.saved_tensors
        return gy * inside, None, None


def clip(x, low=None, high=None):
    return Clip.apply(x, low, high)


class Maximum(Function):
    """y = max(a, b) element-wise; the gradient goes to the larger input (split evenly on ties)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        share_a = (a > b) + 0.5 * (a == b)
        return gy * share_a.astype(gy.dtype), gy * (1 - share_a).astype(gy.dtype)


def maximum(a, b):
    return Maximum.apply(a, b)


class Minimum(Function):
    """y = min(a, b) element-wise; the gradient goes to the smaller input (split evenly on ties)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        share_a = (a < b) + 0.5 * (a == b)
        return gy * share_a.astype(gy.dtype), gy * (1 - share_a).astype(gy.dtype)


def minimum(a, b):
    return Minimum.apply(a, b)


class Cast(Function):
    """y = x converted to another float dtype;  dx = gy converted back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        return gy.astype(ctx.dtype), None


def cast(x, dtype):
    return Cast.apply(x, np.dtype(dtype))
