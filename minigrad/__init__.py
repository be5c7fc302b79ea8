"""minigrad: a small, readable deep-learning engine on NumPy, with numba kernels.

Start reading at :mod:`minigrad.autograd` (the backward walk), then
:mod:`minigrad.tensor`, then the ops in :mod:`minigrad.ops`.  ``docs/TOUR.md`` gives
the full reading order.
"""
from . import _threads  # noqa: F401  (before NumPy starts its threads)
from ._memory import keep_freed_memory
from .autograd import Context, Function, enable_grad, is_grad_enabled, no_grad
from .dispatch import algorithms, backend
from .gradcheck import gradcheck
from .random import manual_seed
from .tensor import Tensor

__version__ = "0.1.0"

keep_freed_memory()

__all__ = ["Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled",
           "gradcheck", "manual_seed", "backend", "algorithms", "__version__"]
