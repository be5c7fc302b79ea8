"""Dropout: during training, zero each element with probability p and scale the rest by 1/(1-p).

"Inverted" dropout scales at training time, so the expected value of every output
equals its input, E[y] = (1-p) * x / (1-p) = x, and evaluation is the identity.
The mask is drawn from a ``np.random.Generator`` (the ``generator`` argument, else
:func:`minigrad.random.default_generator`, seeded by ``minigrad.manual_seed``) and
kept as booleans, one byte per element, for backward.
"""
import numpy as np

from ..autograd import Function
from ..random import default_generator


class Dropout(Function):
    """y = x * mask / (1 - p) with mask ~ Bernoulli(1 - p), drawn once per call.

    Shapes: x any shape -> y the same shape and dtype.

    Forward:  y = x * mask * scale,   scale = 1 / (1 - p)  (y = 0 when p = 1)
    Gradient: dx = gy * mask * scale  (the same mask: dropped elements get no gradient)
    """

    @staticmethod
    def forward(ctx, x, p, generator):
        # float32 uniforms whatever x's dtype: the mask for a seed is the same in float32 and float64.
        keep = generator.random(x.shape, dtype=np.float32) >= p
        scale = x.dtype.type(0.0 if p >= 1 else 1.0 / (1.0 - p))
        y = np.multiply(x, keep)
        y *= scale
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, gy):
        (keep,) = ctx.saved_tensors
        gx = np.multiply(gy, keep)
        gx *= ctx.scale
        return gx, None, None


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout (PyTorch's ``F.dropout``): identity when not training or p == 0.

    ``generator``: a ``np.random.Generator`` for the mask, else minigrad's default one.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, float(p), default_generator() if generator is None else generator)
