"""The default random-number generator for random ops (dropout), and ``manual_seed``.

Random ops take an optional ``generator`` (a ``np.random.Generator``); without one they
draw from the module's default generator.  ``minigrad.manual_seed(seed)`` replaces it
with a freshly seeded one, so a run that calls it first draws the same masks every time.
Until then the default generator is seeded from the operating system's entropy.
"""
import numpy as np

_default = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the default generator (as ``torch.manual_seed``); returns it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    """The generator random ops use when they are not given one."""
    return _default
