"""Small argument helpers shared by the ops, the kernels and the layers.

They live in one place so that every error message about the same mistake reads the same:
a stride of ``(2, 1, 1)`` is refused by ``conv2d``, by the im2col kernel and by
``nn.Conv2d`` with one sentence, and a float64 array sneaking into a float32 kernel is
named by the op that caught it.
"""
import numpy as np


def _is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool (True is an int to Python, never a size to us)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pair(value, name: str, op: str = "") -> tuple[int, int]:
    """An int n as (n, n), a pair (a, b) as (a, b); anything else is a TypeError.

    ``name`` is the argument (``"stride"``), ``op`` who asks (``"conv2d"``); both appear in
    the message: ``conv2d: stride must be an int or a pair of ints, got (2, 1, 1)``.
    """
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return int(value[0]), int(value[1])
    prefix = f"{op}: " if op else ""
    raise TypeError(f"{prefix}{name} must be an int or a pair of ints, got {value!r}")


def shape_text(a) -> str:
    """An array's shape written compactly for error messages: (8,3,48,48), (3,)."""
    return "(" + ",".join(str(n) for n in a.shape) + ("," if a.ndim == 1 else "") + ")"


def as_float_array(op: str, name: str, a) -> np.ndarray:
    """``a`` as a C-contiguous float32 or float64 array; any other dtype is a TypeError.

    Kernels never silently upcast: a float64 array sneaking into a float32 network would
    halve its speed, so other dtypes are refused by name (``op: name must be ...``).
    """
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
    return np.ascontiguousarray(a)
