"""The time budget (``--max-minutes``): fitting a run's length to it.

A schedule that must know the run's length (one-cycle, cosine, step) would be stopped
half-way, at a high learning rate, if the budget ran out first.  So a run with a budget
is set for the epochs that fit, and set again as it goes:

1. :func:`fit`, before the first epoch, from a **probe**
   (:func:`probe_epoch_seconds`): a few training steps of the real model, fused as the
   trainer trains it, on real images with a learning rate of 0 (the weights are restored
   afterwards), plus a third of a step per validation image (forward only) and 10% overhead;
2. :func:`refit`, after each epoch, from the **measured** times: the epochs done plus
   as many epochs as fit in what is left.  The probe's few steps can be off by 10-20%,
   and the first epoch runs ~5% slower than the rest, so the second epoch's time
   decides.  After it a shared machine's pace wanders (one run's epochs took 117 to
   165 s), so the run is shortened at the mean pace of the last three epochs when the
   machine slows down, and lengthened again at the pace of the slowest of them when
   it speeds up, but only in the first two-thirds of the run, where stretching the
   schedule moves its learning rate little.  The two paces leave a band in which the
   length stays, so that it does not go back and forth.

Either way the run is never set for more than the epochs asked for, and the schedule
is rebuilt for the new length (:meth:`fer.training.trainer.Trainer.set_epochs`).  Stopping at
the budget, whatever the schedule, is the training loop's own job.
"""
import time

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import nn, optim

from ..data import to_float

LENGTH_SCHEDULES = ("onecycle", "cosine", "step")
"""The schedules that must know the run's length; the others need no fitting."""


def probe_epoch_seconds(model, splits, batch_size, warmup_steps=1, timed_steps=2):
    """Estimated seconds of one epoch (training and validation) of ``model`` on ``splits``,
    from ``timed_steps`` training steps after ``warmup_steps`` (the first steps pay for
    compilation and cold caches).  The model's weights and buffers are restored."""
    initial = model.state_dict()
    probe = optim.SGD(list(model.parameters()), lr=0.0)
    index = np.arange(min(batch_size, len(splits.train)))
    x, y = minigrad.Tensor(to_float(splits.train.images[index])), splits.train.labels[index]
    model.train()
    fast = nn.fuse(model)  # the trainer trains the fused model (the same parameters): time that
    for step in range(warmup_steps + timed_steps):
        if step == warmup_steps:
            tic = time.perf_counter()
        probe.zero_grad()
        F.cross_entropy(fast(x), y).backward()
        probe.step()
    per_image = (time.perf_counter() - tic) / timed_steps / len(index)
    model.load_state_dict(initial)
    probe.zero_grad()
    return 1.1 * per_image * (len(splits.train) + len(splits.val) / 3)


def fit(trainer):
    """Before a fresh run's first epoch: cut ``epochs`` to what the probe says fits in
    ``max_minutes`` (keeping 5% in hand), and remember the epochs asked for as
    ``epochs_requested``.  Nothing happens without a budget or a length schedule."""
    s = trainer.settings
    if not s["max_minutes"] or s["schedule"] not in LENGTH_SCHEDULES:
        return
    # With N ranks each probes its share of a batch, all at once (as they will train), and the
    # slowest rank's time for its share of the epoch counts.  The Allreduce is not probed.
    group = trainer.group
    share = -(-s["batch_size"] // group.size)
    epoch_seconds = float(group.maximum(probe_epoch_seconds(trainer.model, trainer.splits, share))) / group.size
    fitting = int(0.95 * s["max_minutes"] * 60 / epoch_seconds)
    if fitting < 1:
        trainer.log(f"warning: one epoch takes about {epoch_seconds / 60:.1f} min, more than the budget of "
                    f"{s['max_minutes']:g} min: the run will stop without finishing an epoch")
        fitting = 1
    if fitting < s["epochs"]:
        trainer.log(f"about {epoch_seconds / 60:.1f} min per epoch: {fitting} of the {s['epochs']} epochs fit "
                    f"in {s['max_minutes']:g} min, so the run and its {s['schedule']} schedule are set for {fitting}")
        s["epochs_requested"] = s["epochs"]
        trainer.set_epochs(fitting)


LENGTHEN_UNTIL = 2 / 3
"""The share of a run's epochs after which :func:`refit` no longer lengthens it."""


def refit(trainer, elapsed, recent):
    """After each epoch of a run whose length :func:`fit` set: set it again from ``elapsed``
    seconds of training and ``recent``, the last (up to three) epochs' seconds, newest
    last, keeping 2% in hand.  The schedule continues from the step reached; its learning
    rate moves a little to match.

    In the first two epochs the latest one's pace decides either way.  Later a run is
    shortened when the mean of ``recent`` says it no longer fits (a run whose schedule
    still had epochs to go when the budget ran out would end with its learning rate up),
    and lengthened when even the slowest of ``recent`` says more fit, before
    :data:`LENGTHEN_UNTIL` of it is done (so that a slow spell early on does not cost
    the run its epochs for good)."""
    s = trainer.settings
    if "epochs_requested" not in s:
        return
    left = 0.98 * s["max_minutes"] * 60 - elapsed

    def fitting(pace):
        return min(s["epochs_requested"], trainer.epoch + max(0, int(left / pace)))

    if trainer.epoch <= 2:
        pace = recent[-1]
        epochs = fitting(pace)
    else:
        pace = sum(recent) / len(recent)
        epochs = min(s["epochs"], fitting(pace))
        if epochs == s["epochs"] and trainer.epoch < LENGTHEN_UNTIL * s["epochs"]:
            pace = max(recent)
            epochs = max(s["epochs"], fitting(pace))
    if epochs == s["epochs"]:
        return
    trainer.log(f"epoch {trainer.epoch}: {pace / 60:.1f} min per epoch, {epochs} epochs fit in "
                f"{s['max_minutes']:g} min, not {s['epochs']}; the {s['schedule']} schedule is set for {epochs}")
    trainer.set_epochs(epochs)
