"""The optimisers' updates as one pass over each parameter.

Written in NumPy, Adam's update is ten array operations, each a pass over memory
(w, g, m, v and a scratch array: 16 MB each for the seed CNN's 4M weights); here it
is one pass that reads w, g, m, v once and writes w, m, v once.  The formula, and
the NumPy version it must match, are in ``reference.adam_update``.
"""
import math

from numba import njit, prange

from . import reference


@njit(parallel=True, cache=True)
def _adam_kernel(w, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled):
    step_size = lr / (1.0 - beta1 ** t)
    root_bias2 = math.sqrt(1.0 - beta2 ** t)
    shrink = 1.0 - lr * weight_decay if decoupled else 1.0
    l2 = 0.0 if decoupled else weight_decay
    for i in prange(w.size):
        d = g[i] + l2 * w[i]
        mi = beta1 * m[i] + (1.0 - beta1) * d
        vi = beta2 * v[i] + (1.0 - beta2) * d * d
        m[i] = mi
        v[i] = vi
        w[i] = shrink * w[i] - step_size * mi / (math.sqrt(vi) / root_bias2 + eps)


def adam_update(w, g, m, v, lr, beta1, beta2, eps, t, weight_decay=0.0, decoupled=False):
    """Adam's t-th step (t >= 1) on one parameter, in place on w, m and v (same shape and dtype,
    any layout).  ``decoupled``: AdamW's weight decay (w shrinks) instead of L2 (added to g)."""
    if not all(a.flags.c_contiguous for a in (w, m, v)):  # reshape would copy, and the update be lost
        return reference.adam_update(w, g, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled)
    _adam_kernel(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), float(lr), float(beta1),
                 float(beta2), float(eps), float(t), float(weight_decay), bool(decoupled))
