"""Matrix products: ``matmul`` (with NumPy's batching rules) and the dense layer's ``linear``.

For Y = A @ B the chain rule gives dA = dY @ B^T and dB = A^T @ dY: each input's
gradient is the output gradient multiplied by the *other* input, transposed.
Batched inputs (..., n, k) @ (..., k, m) follow the same rule matrix by matrix; a
batch axis that was broadcast is summed back by the engine.
"""
import numpy as np

from ..autograd import Function


def _swap_last(x):
    return np.swapaxes(x, -1, -2)


class MatMul(Function):
    """y = a @ b;  da = gy @ b^T,  db = a^T @ gy (1-D inputs act as a row / a column)."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not match: the last axis of the first "
                "must equal the second-to-last (or only) axis of the second")
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, gy):
        a, b = ctx.saved_tensors
        # Promote 1-D inputs to matrices so one formula covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            gy = np.expand_dims(gy, -2)
        if b.ndim == 1:
            gy = np.expand_dims(gy, -1)
        ga = gy @ _swap_last(b2) if ctx.needs_input_grad[0] else None
        gb = _swap_last(a2) @ gy if ctx.needs_input_grad[1] else None
        if ga is not None and a.ndim == 1:
            ga = ga[..., 0, :]
        if gb is not None and b.ndim == 1:
            gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x @ w^T + b with x (N, in), w (out, in), b (out,) (PyTorch's layout).

    dx = gy @ w,  dw = gy^T @ x,  db = gy summed over the batch.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
            raise ValueError(f"linear: input {x.shape} and weight {w.shape} do not match: "
                             "expected x (N, in) and w (out, in)")
        ctx.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gx = gy @ w if ctx.needs_input_grad[0] else None
        gw = gy.T @ x if ctx.needs_input_grad[1] else None
        gb = gy.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x, w, b=None):
    return Linear.apply(x, w, b)
