"""``Tensor``: a NumPy array that remembers how it was made, so gradients can flow back.

A Tensor holds

* ``data``: the NumPy array (float32 by default; a float64 array stays float64),
* ``requires_grad``: whether a gradient should be computed for it,
* ``grad``: a NumPy array of the same shape once ``backward()`` has reached it,
  ``None`` before,
* ``_ctx``: the :class:`~minigrad.autograd.Context` of the operation that produced
  it (``None`` for a leaf: data you made yourself, or a parameter).

Every operator below is a one-line call into :mod:`minigrad.ops`, where the forward
formula and its gradient sit side by side.
"""
from __future__ import annotations

import numpy as np

from .autograd import run_backward


class Tensor:
    # Makes ``ndarray * Tensor`` call Tensor.__rmul__ instead of NumPy broadcasting over it.
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, dtype=None, _copy: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        given_array = isinstance(data, np.ndarray)
        array = np.array(data, dtype=dtype, copy=None) if not _copy else np.array(data, dtype=dtype)
        if dtype is None and not given_array and array.dtype == np.float64:
            array = array.astype(np.float32)  # Python floats and lists default to float32
        if requires_grad and not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got {array.dtype}")
        self.data: np.ndarray = array
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._ctx = None
        self._hooks: list = []
        self._retains_grad = False

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function class that produced this tensor (None for a leaf)."""
        return None if self._ctx is None else self._ctx.function

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a number, shape is {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph (no gradient flows through it)."""
        return Tensor(self.data, _copy=False)

    def astype(self, dtype) -> "Tensor":
        """A float copy of another precision that still carries gradients (cast back in backward)."""
        from .ops.elementwise import cast
        return cast(self, dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2, prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        if self._ctx is not None:
            extra += f", grad_fn={self._ctx.function.__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # --------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, accumulating into ``.grad``.

        ``grad`` is dL/d(self); it may be omitted only for a one-element tensor (a loss),
        where it is 1.  The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for a one-element output; "
                    f"this output has shape {self.shape}. Pass grad= of that shape, or reduce first "
                    "(e.g. loss = y.sum())."
                )
            grad = np.ones_like(self.data)
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): grad has shape {grad.shape}, expected {self.shape}")
        run_backward(self, grad, retain_graph=retain_graph)

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    def register_hook(self, hook) -> None:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned array replaces it."""
        self._hooks.append(hook)

    def zero_grad(self) -> None:
        self.grad = None

    # -------------------------------------------------------------- operators
    def _operand(self, other):
        """Tensors pass through; arrays take this tensor's float dtype (no silent float64)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.ndarray) and other.dtype != self.dtype and np.issubdtype(self.dtype, np.floating):
            return other.astype(self.dtype)
        return other

    def __add__(self, other):
        return ops.elementwise.add(self, self._operand(other))

    def __radd__(self, other):
        return ops.elementwise.add(self._operand(other), self)

    def __sub__(self, other):
        return ops.elementwise.sub(self, self._operand(other))

    def __rsub__(self, other):
        return ops.elementwise.sub(self._operand(other), self)

    def __mul__(self, other):
        return ops.elementwise.mul(self, self._operand(other))

    def __rmul__(self, other):
        return ops.elementwise.mul(self._operand(other), self)

    def __truediv__(self, other):
        return ops.elementwise.div(self, self._operand(other))

    def __rtruediv__(self, other):
        return ops.elementwise.div(self._operand(other), self)

    def __neg__(self):
        return ops.elementwise.neg(self)

    def __pow__(self, exponent):
        return ops.elementwise.pow(self, exponent)

    def __matmul__(self, other):
        return ops.matmul.matmul(self, self._operand(other))

    def __rmatmul__(self, other):
        return ops.matmul.matmul(self._operand(other), self)

    def __getitem__(self, index):
        return ops.shape.getitem(self, index)

    # ---------------------------------------------------------------- methods
    def exp(self):
        return ops.elementwise.exp(self)

    def log(self):
        return ops.elementwise.log(self)

    def sqrt(self):
        return ops.elementwise.sqrt(self)

    def abs(self):
        return ops.elementwise.abs(self)

    def clip(self, low=None, high=None):
        return ops.elementwise.clip(self, low, high)

    def relu(self):
        return ops.activation.relu(self)

    def sigmoid(self):
        return ops.activation.sigmoid(self)

    def tanh(self):
        return ops.activation.tanh(self)

    def softmax(self, axis=-1):
        return ops.activation.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return ops.activation.log_softmax(self, axis)

    def sum(self, axis=None, keepdims=False):
        return ops.reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.reduce.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return ops.reduce.min(self, axis, keepdims)

    def argmax(self, axis=None) -> np.ndarray:
        """Indices of the maxima as a NumPy array (not differentiable)."""
        return self.data.argmax(axis=axis)

    def reshape(self, *shape):
        return ops.shape.reshape(self, *shape)

    def transpose(self, *dims):
        """``t.transpose()`` reverses the axes; ``t.transpose(a, b)`` swaps two (PyTorch's meaning)."""
        return ops.shape.transpose(self, *dims)

    def permute(self, *dims):
        return ops.shape.permute(self, *dims)

    @property
    def T(self):
        return ops.shape.transpose(self)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.shape.flatten(self, start_dim, end_dim)


from . import ops  # noqa: E402  (ops need Tensor defined first only at call time)
