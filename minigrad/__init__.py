"""minigrad: a small, readable deep-learning engine on NumPy, with numba kernels.

Start reading at :mod:`minigrad.autograd` (the backward walk), then
:mod:`minigrad.tensor`, then the ops in :mod:`minigrad.ops`.  ``docs/TOUR.md`` gives
the full reading order.
"""
from . import runtime

runtime.apply()          # process settings, before NumPy starts its threads: see minigrad/runtime.py

from .autograd import Context, Function, enable_grad, is_grad_enabled, no_grad  # noqa: E402
from .dispatch import algorithms, backend  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .random import manual_seed  # noqa: E402
from .tensor import Tensor  # noqa: E402

__version__ = "0.1.0"

runtime_settings = runtime.runtime_settings

__all__ = ["Tensor", "Function", "Context", "no_grad", "enable_grad", "is_grad_enabled",
           "gradcheck", "manual_seed", "backend", "algorithms", "runtime_settings",
           "__version__"]
