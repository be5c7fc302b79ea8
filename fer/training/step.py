"""One training step on one batch: forward, loss, backward, update.

:class:`fer.training.trainer.Trainer` calls :func:`train_step` once per batch; everything
around it (shuffling, the seeded random streams, augmentation and mixup, sharding the batch
over MPI ranks, the deadline, the progress bar) is the trainer's.
"""
import minigrad
import minigrad.functional as F


def classification_loss(logits, labels, label_smoothing=0.0, mixed=None):
    """Mean cross-entropy of ``logits`` (N, 7) against integer ``labels`` (N,).

    ``mixed``: ``(paired_labels, lam)`` for a mixup batch (:func:`fer.data.augment.mixup`), whose
    loss is ``lam * CE(labels) + (1 - lam) * CE(paired_labels)``.
    """
    loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if mixed is not None:
        paired, lam = mixed
        loss = lam * loss + (1 - lam) * F.cross_entropy(logits, paired, label_smoothing=label_smoothing)
    return loss


def train_step(model, optimizer, images, labels, label_smoothing=0.0, mixed=None, scale=1.0, before_update=None,
               loss_fn=None):
    """Forward ``images`` (N, 1, H, W) float32, take the loss, back-propagate it, update the parameters.

    ``scale`` multiplies the loss before ``backward`` only (a rank's share of a global batch,
    so that the gradients summed over the ranks are the global batch's mean).  ``before_update(logits,
    loss)``, if given, runs between the backward pass and the update: the trainer sums the gradients
    over the ranks there, and raises to stop before a diverged step.

    ``loss_fn``: the loss in place of :func:`classification_loss`, with its signature
    (:mod:`fer.training.losses`: class weights, distillation).

    Returns ``(logits, loss, what before_update returned or None)``; ``loss`` is unscaled.
    """
    logits = model(minigrad.Tensor(images))                          # forward: (N, 7) class scores
    loss = (loss_fn or classification_loss)(logits, labels, label_smoothing, mixed)
    optimizer.zero_grad()
    (loss if scale == 1 else loss * scale).backward()                # backward: d loss / d parameter
    synced = before_update(logits, loss) if before_update else None
    optimizer.step()                                                 # update: the parameters move
    return logits, loss, synced
