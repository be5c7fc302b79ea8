"""minigrad: a small, readable deep-learning engine on NumPy, with numba kernels.

Start reading at :mod:`minigrad.autograd` (the backward walk), then
:mod:`minigrad.tensor`, then the ops in :mod:`minigrad.ops`.  ``docs/TOUR.md`` gives
the full reading order.
"""
from . import runtime

runtime.apply()          # process settings, before NumPy starts its threads: see minigrad/runtime.py

from .autograd import Context  # noqa: E402  (after runtime.apply), Function, enable_grad, is_grad_enabled, no_grad
from .dispatch import algorithms, backend
from .gradcheck import gradcheck
from .random import manual_seed
from .tensor import Tensor

__version__ = "0.1.0"

runtime_settings = runtime.runtime_settings

__all__ = ["Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled",
           "gradcheck", "manual_seed", "backend", "algorithms", "runtime_settings",
           "__version__"]
