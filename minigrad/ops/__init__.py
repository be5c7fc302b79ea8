"""The differentiable operations, one family a file; each Function is followed by its wrapper.

Import them through :mod:`minigrad.functional` (``import minigrad.functional as F``).
"""
from . import activation, elementwise, loss, matmul, reduce, shape  # noqa: F401
from . import conv, dropout, norm, pool  # noqa: F401
