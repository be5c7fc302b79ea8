"""The recipe options of the accuracy study, as the :class:`fer.training.trainer.Trainer` uses them:
parameter groups without weight decay, the epoch's order of faces (balanced sampling), the
epoch's image sizes (progressive resizing), the loss (class weights, distillation) and the
cyclic schedule of snapshot ensembles.  Each is off by default; each is one setting of
:mod:`fer.models.presets` and one flag of ``fer.train``.
"""
import math
from functools import partial

import numpy as np

from minigrad.optim.schedules import LRScheduler

from ..models.networks import INPUT_SHAPE, NUM_CLASSES
from .losses import balanced_class_weights, distillation_loss, weighted_cross_entropy

ANY_SIZE_MODELS = ("xception",)
"""The networks that take any input size (global average pooling before their classifier):
the only ones progressive resizing can feed smaller faces.  cnn, vgg and dnn end in dense
layers sized for one input (the fast preset's 40x40 crop, through its CentreCrop layer)."""

PROGRESSIVE_SCALES = (0.75, 0.875, 1.0)
"""--progressive: the face's side as a fraction of 48 in each third of the run (36, 42, then 48
pixels), crops shrunk alike; the last third trains at the size the network is tested at."""


def parameter_groups(model, settings):
    """The optimiser's parameter groups: one, or with ``no_decay_norm_bias`` two, the second
    (every parameter of one dimension: batch-norm scales and shifts, biases) with no weight decay."""
    params = list(model.parameters())
    if not settings.get("no_decay_norm_bias") or not settings["weight_decay"]:
        return params
    return [{"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def progressive_sizes(epoch, epochs, crop, full=INPUT_SHAPE[1]):
    """``(face side, crop side)`` of 0-based ``epoch`` of ``epochs`` under --progressive: the face
    downscaled to PROGRESSIVE_SCALES[third] of ``full``, the crop (0: none) scaled alike."""
    scale = PROGRESSIVE_SCALES[min(len(PROGRESSIVE_SCALES) - 1, epoch * len(PROGRESSIVE_SCALES) // epochs)]
    return round(full * scale), round(crop * scale) if crop else 0


def epoch_order(labels, rng, balanced=False):
    """The order of training faces for one epoch: a permutation, or with ``balanced`` as many
    draws with replacement, each face with probability 1 / (K * n_its_class): every class
    equally often in expectation (the 436 disgust faces about 9 times each an epoch)."""
    if not balanced:
        return rng.permutation(len(labels))
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    present = np.count_nonzero(counts)
    weights = 1.0 / (present * counts[labels])
    return rng.choice(len(labels), size=len(labels), p=weights / weights.sum())


def check(settings, model_name=None):
    """ValueError for a setting that cannot work with the others (raised before a run starts)."""
    model_name = model_name or settings["model"]
    if settings.get("progressive") and model_name not in ANY_SIZE_MODELS:
        raise ValueError(f"--progressive needs a network that takes any input size ({', '.join(ANY_SIZE_MODELS)}); "
                         f"{model_name} ends in dense layers sized for one input")
    no_teacher = " (the fast preset distils: add --teacher none)"
    if settings.get("teacher") and (settings.get("mixup") or settings.get("cutmix")):
        raise ValueError("--teacher cannot be combined with --mixup or --cutmix (the soft targets are not mixed)"
                         + no_teacher)
    if settings.get("teacher") and settings.get("class_weights", "none") != "none":
        raise ValueError("--teacher and --class-weights: choose one loss" + no_teacher)
    if settings.get("class_weights") not in (None, "none", "balanced"):
        raise ValueError(f"--class-weights: 'balanced' or 'none', got {settings['class_weights']!r}")
    if not 0 <= settings.get("distill_alpha", 0.5) <= 1 or settings.get("distill_temperature", 1.0) <= 0:
        raise ValueError("--distill-alpha must be in [0, 1] and --distill-temperature > 0")
    cycles = settings.get("snapshots", 0)
    if cycles:
        if settings["epochs"] % cycles:
            raise ValueError(f"--snapshots {cycles}: the epochs ({settings['epochs']}) must be a multiple of it")
        if settings["max_minutes"]:
            raise ValueError("--snapshots needs a fixed number of epochs: give --max-minutes 0")


def class_weights(settings, train_labels):
    """(K,) float32 weights of --class-weights balanced, or None."""
    if settings.get("class_weights") == "balanced":
        return balanced_class_weights(train_labels, NUM_CLASSES)
    return None


def teacher_targets(settings, train_images, log=print):
    """``(soft targets (N, K) or None, teacher info or None)`` of --teacher (:mod:`fer.training.distill`)."""
    if not settings.get("teacher"):
        return None, None
    from .distill import soft_targets, teacher_logits

    logits, info = teacher_logits(settings["teacher"], train_images, log=log)
    return soft_targets(logits, settings["distill_temperature"]), info


def loss_function(settings, index, soft_targets=None, weights=None):
    """The step's loss for the batch ``index`` of the training set (None: plain cross-entropy)."""
    if soft_targets is not None:
        return partial(distillation_loss, soft_targets=soft_targets[index], alpha=settings["distill_alpha"],
                       temperature=settings["distill_temperature"])
    if weights is not None:
        return partial(weighted_cross_entropy, class_weights=weights)
    return None


class CyclicCosineLR(LRScheduler):
    """Snapshot ensembles' schedule (Huang et al. 2017), stepped every batch: ``cycles`` equal
    cosine annealings from the peak rate to 0, lr_t = lr / 2 * (1 + cos(pi * (t mod C) / C)),
    C = total_steps / cycles; each cycle's end is a snapshot."""

    def __init__(self, optimizer, total_steps, cycles, last_epoch=-1):
        self.cycle_steps = max(1, total_steps // cycles)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        phase = (self.last_epoch % self.cycle_steps) / self.cycle_steps
        return [base / 2 * (1 + math.cos(math.pi * phase)) for base in self.base_lrs]


def snapshot_due(epoch, epochs, cycles):
    """Whether 1-based ``epoch`` ends a cycle of --snapshots ``cycles``."""
    return bool(cycles) and epoch % (epochs // cycles) == 0
