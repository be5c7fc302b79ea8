"""Cross-entropy loss, fused with the softmax for speed and numerical stability.

With p = softmax(z) and a target distribution q (one-hot, or smoothed), the loss of one
sample is  L = -sum_k q_k log p_k  and its gradient is simply  dL/dz = p - q.
Computing log p as z - logsumexp(z) (shifted by the max) keeps it finite even for
logits of +-1e4, where a separate softmax followed by a log would give log(0).
"""
import numpy as np

from ..autograd import Function
from .activation import log_softmax_array

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """loss = -sum_k q_k log softmax(z)_k per row, then mean/sum/none;  dz = (p - q) * g."""

    @staticmethod
    def forward(ctx, logits, labels, reduction, label_smoothing):
        n, classes = logits.shape
        log_p = log_softmax_array(logits, axis=1)
        q = np.full(logits.shape, label_smoothing / classes, dtype=logits.dtype)
        q[np.arange(n), labels] += 1 - label_smoothing
        losses = -(q * log_p).sum(axis=1)
        ctx.save_for_backward(log_p, q)
        ctx.reduction = reduction
        if reduction == "mean":
            return np.asarray(losses.mean())
        if reduction == "sum":
            return np.asarray(losses.sum())
        return losses

    @staticmethod
    def backward(ctx, gy):
        log_p, q = ctx.saved_tensors
        g = np.exp(log_p) - q
        if ctx.reduction == "mean":
            g *= gy / g.dtype.type(len(g))
        elif ctx.reduction == "sum":
            g *= gy
        else:
            g *= gy[:, None]
        return g, None, None, None


def cross_entropy(logits, labels, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,).

    ``reduction``: "mean" (default), "sum" or "none" (one loss per sample).
    ``label_smoothing`` s in [0, 1): the target becomes (1 - s) * one_hot + s / C.
    """
    labels = np.asarray(getattr(labels, "data", labels))
    shape = logits.shape
    if len(shape) != 2 or labels.shape != (shape[0],):
        raise ValueError(f"cross_entropy: expected logits (N, C) and labels (N,), got {shape} and {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"cross_entropy: labels must be integers, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= shape[1]):
        raise ValueError(f"cross_entropy: labels must lie in 0..{shape[1] - 1}, "
                         f"got values from {labels.min()} to {labels.max()}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    return CrossEntropy.apply(logits, labels, reduction, label_smoothing)
