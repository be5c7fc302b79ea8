"""Losses beyond plain cross-entropy: class-weighted cross-entropy (``--class-weights balanced``)
and knowledge distillation (``--teacher RUN --distill-alpha A --distill-temperature T``).

Each has :func:`fer.training.step.classification_loss`'s signature after its own keyword
arguments are bound (``functools.partial``), so :func:`fer.training.step.train_step` takes it
as ``loss_fn``.  Shapes: ``logits`` (N, K) Tensor, ``labels`` (N,) int.
"""
import numpy as np

import minigrad
import minigrad.functional as F


def balanced_class_weights(labels, num_classes):
    """w_k = N / (K * n_k): each class weighs as much in the loss as in a balanced set
    (scikit-learn's "balanced"; a class absent from ``labels`` gets weight 0)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0).astype(np.float32)


def _smoothed_targets(labels, num_classes, label_smoothing):
    """(N, K) float32: (1 - eps) * one_hot(labels) + eps / K."""
    targets = np.full((len(labels), num_classes), label_smoothing / num_classes, np.float32)
    targets[np.arange(len(labels)), labels] += 1 - label_smoothing
    return targets


def weighted_cross_entropy(logits, labels, label_smoothing=0.0, mixed=None, *, class_weights):
    """sum_i w[y_i] * CE_i / sum_i w[y_i] with CE_i = -sum_k q_ik log softmax(logits_i)_k and q the
    label-smoothed targets (PyTorch's ``cross_entropy(weight=...)``); a mixup/cutmix batch
    (``mixed = (paired, lam)``) mixes two such losses, lam and 1 - lam."""
    log_p = F.log_softmax(logits, axis=1)
    num_classes = logits.shape[1]

    def one(targets_of):
        w = class_weights[targets_of]
        q = _smoothed_targets(targets_of, num_classes, label_smoothing) * w[:, None]
        return -(log_p * minigrad.Tensor(q)).sum() * float(1 / w.sum())

    loss = one(labels)
    if mixed is not None:
        paired, lam = mixed
        loss = lam * loss + (1 - lam) * one(paired)
    return loss


def distillation_loss(logits, labels, label_smoothing=0.0, mixed=None, *, soft_targets, alpha, temperature):
    """(1 - alpha) * CE(logits, labels) + alpha * T^2 * KL(p || softmax(logits / T)), averaged over
    the batch, with ``soft_targets`` p (N, K) the teacher's probabilities at temperature T
    (Hinton et al. 2015; T^2 keeps the soft term's gradients the size of the hard one's)."""
    if mixed is not None:
        raise ValueError("distillation with mixup or cutmix is not supported (the soft targets are not mixed)")
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    p = np.asarray(soft_targets, np.float32)
    entropy = float(np.sum(p * np.log(np.maximum(p, 1e-12))))  # the constant part of KL
    cross = (F.log_softmax(logits * (1 / temperature), axis=1) * minigrad.Tensor(p)).sum()
    kl = (entropy - cross) * float(1 / len(p))
    return hard * (1 - alpha) + kl * (alpha * temperature ** 2)
