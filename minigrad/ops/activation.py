"""Activations: the non-linearities between layers, and softmax."""
import numpy as np

from ..autograd import Function


class ReLU(Function):
    """y = max(x, 0);  dx = gy where x > 0, else 0."""

    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (y > 0)


def relu(x):
    return ReLU.apply(x)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x;  dx = gy * (1 if x > 0 else slope)."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        return np.where(positive, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx, gy):
        (positive,) = ctx.saved_tensors
        return np.where(positive, gy, gy * gy.dtype.type(ctx.slope)), None


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, negative_slope)


class Sigmoid(Function):
    """y = 1 / (1 + e**-x);  dx = gy * y * (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        # Written with exp(-|x|) so that neither branch overflows for large |x|.
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * y * (1 - y)


def sigmoid(x):
    return Sigmoid.apply(x)


class Tanh(Function):
    """y = tanh x;  dx = gy * (1 - y**2)."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy * (1 - y * y)


def tanh(x):
    return Tanh.apply(x)


def softmax_array(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)), shifted by the max first so that exp never overflows."""
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def log_softmax_array(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - log(sum(exp(x))), via the same max shift: finite even for logits of 1e4."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """y_i = e**x_i / sum_j e**x_j;  dx = y * (gy - sum(gy * y)) along the axis."""

    @staticmethod
    def forward(ctx, x, axis):
        y = softmax_array(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return y * (gy - (gy * y).sum(axis=ctx.axis, keepdims=True)), None


def softmax(x, axis=-1):
    return Softmax.apply(x, axis)


class LogSoftmax(Function):
    """y = x - logsumexp(x);  dx = gy - softmax(x) * sum(gy) along the axis."""

    @staticmethod
    def forward(ctx, x, axis):
        y = log_softmax_array(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, gy):
        (y,) = ctx.saved_tensors
        return gy - np.exp(y) * gy.sum(axis=ctx.axis, keepdims=True), None


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis)
