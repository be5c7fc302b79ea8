"""Reverse-mode automatic differentiation: ``Function``, ``Context`` and the backward walk.

Every differentiable operation is a subclass of :class:`Function` with two static
methods, exactly like ``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # x: a NumPy array
            y = np.exp(x)
            ctx.save_for_backward(y)    # what backward will need
            return y

        @staticmethod
        def backward(ctx, gy):          # gy = dL/dy, same shape as y
            (y,) = ctx.saved_tensors
            return gy * y               # dL/dx = dL/dy * dy/dx, one gradient per input

``Exp.apply(t)`` unwraps the Tensor arguments into arrays, runs ``forward`` and, when
gradients are being recorded, wraps the result in a Tensor that remembers its
``Context``.  The contexts link every result to the tensors it was made from: that
chain *is* the computation graph.

``Tensor.backward()`` walks the graph from the output back to the leaves (see
:func:`run_backward`).  Three rules keep it correct and cheap:

* The order is built iteratively (an explicit stack instead of recursion), so a
  graph 100,000 operations deep never hits Python's recursion limit.
* A tensor used twice (``b = a + a``) receives the *sum* of the gradients of its
  uses: gradients are collected in one dict and each node runs backward once,
  after all of its consumers have contributed.
* Broadcasting is undone in one place, :func:`unbroadcast`, instead of in every op:
  ``backward`` may return a gradient of the broadcast shape and the walk sums it
  back to the shape of the input.

Gradients *accumulate* into leaves (``x.grad += ...``) as in PyTorch, so two
``backward()`` calls add up; call ``zero_grad()`` (on an optimiser or module) or set
``x.grad = None`` between steps.  After the walk the graph's saved arrays are freed
unless ``retain_graph=True``; walking a freed graph again raises a clear error.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

_grad_mode = threading.local()

# The active minigrad.profiler.Profile, or None: the one check Function.apply and the
# backward walk make, so that an unprofiled run pays one comparison per op and nothing else.
_profiler = None


def is_grad_enabled() -> bool:
    """True when operations record the graph (the default)."""
    return getattr(_grad_mode, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    """Context manager *and* decorator that switches graph recording on or off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.previous = is_grad_enabled()
        _grad_mode.enabled = self.enabled

    def __exit__(self, *exc):
        _grad_mode.enabled = self.previous
        return False


def no_grad():
    """Disable graph recording, e.g. for evaluation: ``with no_grad(): y = model(x)``.

    Also usable as a decorator (``@no_grad()``).  Inside, results have no
    ``grad_fn`` and keep no intermediate arrays alive, which saves memory and time.
    """
    return _GradMode(False)


def enable_grad():
    """Re-enable graph recording inside a ``no_grad`` block."""
    return _GradMode(True)


class Context:
    """What a Function's forward leaves for its backward.

    ``save_for_backward(*arrays)`` stores arrays; ``saved_tensors`` returns them.
    ``needs_input_grad`` is a tuple of booleans, one per positional input of
    ``forward``, so backward can skip gradients nobody asked for.  Any other
    attribute (``ctx.shape = x.shape``) may be set freely.
    """

    def __init__(self, function, inputs, needs_input_grad):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._released = False

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        self.check_alive()
        return self._saved

    def release(self):
        """Free everything backward needed (saved arrays, extra attributes, the inputs)."""
        function, needs = self.function, self.needs_input_grad
        self.__dict__.clear()
        self.function, self.needs_input_grad = function, needs
        self.inputs, self._saved, self._released = (), (), True

    def check_alive(self):
        if self._released:
            raise RuntimeError(
                f"{self.function.__name__}: trying to backward through the graph a second "
                "time, but its saved arrays were freed after the first backward. "
                "Pass retain_graph=True to the first backward() to keep them."
            )


class Function:
    """Base class of differentiable operations (the ``torch.autograd.Function`` contract).

    Subclasses define::

        @staticmethod
        def forward(ctx, *args, **kwargs) -> np.ndarray
        @staticmethod
        def backward(ctx, grad) -> np.ndarray | tuple[np.ndarray | None, ...]

    ``forward`` receives NumPy arrays where ``apply`` was given Tensors (other
    arguments pass through unchanged).  ``backward`` receives the gradient of the
    loss with respect to forward's output and returns one gradient per *positional*
    input of forward, ``None`` where there is none (integer labels, flags, or an
    input with ``needs_input_grad`` False).  A returned gradient may have the
    broadcast shape; the engine sums it back to the input's shape.

    Check a new Function with :func:`minigrad.gradcheck` before trusting it (the test suite
    finds every subclass through ``Function.__subclasses__()`` and fails for one that no
    gradient check reaches).  A subclass whose name starts with an underscore is an abstract
    helper that shares code between ops (``reduce._Extremum`` for Max and Min), not an op.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor

        arrays = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(needs)
        ctx = Context(cls, args if record else (), needs)
        try:
            if _profiler is None:
                out = cls.forward(ctx, *arrays, **kwargs)
            else:
                out = _profiler.forward(cls, ctx, arrays, kwargs)
        except ValueError as error:
            if "broadcast" not in str(error):
                raise
            shapes = " and ".join(str(np.shape(a)) for a in arrays if isinstance(a, np.ndarray))
            raise ValueError(f"{cls.__name__.lower()}: shapes {shapes} cannot be broadcast together") from None
        result = Tensor(out, requires_grad=record, _copy=False)
        if record:
            result._ctx = ctx
        return result


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1;
    the gradient of a copy is the sum over the copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def topological_order(root) -> list:
    """Tensors reachable from ``root``, each after all the tensors it was made from.

    An iterative depth-first search: a node is appended when all its inputs have
    been appended (post-order), so reversing the list gives a valid order for the
    backward walk.  No recursion, so the depth of the graph is unlimited.
    """
    from .tensor import Tensor

    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def run_backward(root, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (dL/droot) to every leaf that requires a gradient.

    Leaves accumulate into ``.grad``; a non-leaf keeps its gradient only when
    ``retain_grad()`` was called on it.  Hooks registered with ``register_hook``
    see (and may replace) each tensor's gradient before it flows on.
    """
    order = topological_order(root)
    grads = {id(root): grad}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        for hook in node._hooks:
            replaced = hook(g)
            if replaced is not None:
                g = replaced
        ctx = node._ctx
        if ctx is None or node._retains_grad:
            node.grad = g.copy() if node.grad is None else node.grad + g
        if ctx is None:
            continue
        ctx.check_alive()
        input_grads = ctx.function.backward(ctx, g) if _profiler is None else _profiler.backward(ctx, g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, pg in zip(ctx.inputs, input_grads):
            if pg is None or not getattr(parent, "requires_grad", False):
                continue
            pg = unbroadcast(np.asarray(pg), parent.shape)
            previous = grads.get(id(parent))
            # never add in place: pg may alias an array another op still owns
            grads[id(parent)] = pg if previous is None else previous + pg
        if not retain_graph:
            ctx.release()

