"""Weight averaging during training: an exponential moving average (``--ema DECAY``) and
stochastic weight averaging over the last epochs (``--swa-last FRACTION``).

:class:`WeightAverage` keeps a *shadow* copy of the model's whole state dict -- its
parameters **and** its batch-norm running statistics -- and moves it towards the model's
current state:

    EMA, after every training step t = 1, 2, ...:
        d_t = min(decay, (1 + t) / (10 + t))          (a warm-up: early shadows forget the
        shadow = d_t * shadow + (1 - d_t) * state       random initialisation quickly)
    SWA, after each epoch of the run's last FRACTION (n = epochs averaged so far):
        shadow = shadow + (state - shadow) / n        (the plain mean of those epochs' states)

Batch-norm running statistics are averaged like the weights (what PyTorch's
``AveragedModel(use_buffers=True)`` and timm's ``ModelEmaV2`` do), not recomputed: they are
themselves running averages over recent batches, so their average is the statistics of the
averaged trajectory to first order, and recomputing them would cost a pass over the training
set.  Integer buffers (counters) are copied.

The shadow is state, not a model: :meth:`applied` lends it to the model for a validation
pass, and :meth:`state_dict` / :meth:`load_state_dict` carry it through ``last.npz`` so that
a resumed run averages exactly as an uninterrupted one.
"""
from contextlib import contextmanager

import numpy as np


def ema_decay(decay, updates):
    """The decay of the ``updates``-th EMA update (1-based): min(decay, (1 + t) / (10 + t))."""
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """A running average of a model's state dict: ``decay`` given, an EMA; None, a plain mean."""

    def __init__(self, model, decay=None):
        if decay is not None and not 0 < decay < 1:
            raise ValueError(f"the EMA decay must be in (0, 1), e.g. 0.999; got {decay}")
        self.decay, self.updates = decay, 0
        self.shadow = model.state_dict() if decay is not None else None  # SWA starts at its first update

    def update(self, model):
        """Move the shadow towards ``model``'s current state (see the module docstring)."""
        self.updates += 1
        if self.shadow is None:
            self.shadow = model.state_dict()  # copies
            return
        weight = 1 - ema_decay(self.decay, self.updates) if self.decay is not None else 1 / self.updates
        live = {**{name: p.data for name, p in model.named_parameters()}, **dict(model.named_buffers())}
        for key, value in live.items():  # the model's own arrays, read without a copy (this runs every step)
            shadow = self.shadow[key]
            if np.issubdtype(shadow.dtype, np.floating):
                shadow += (value - shadow) * shadow.dtype.type(weight)  # in place, in the shadow's dtype
            else:
                self.shadow[key] = value.copy()

    @contextmanager
    def applied(self, model):
        """Inside the block ``model`` holds the averaged state; its own comes back after."""
        own = model.state_dict()
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(own)

    def state_dict(self):
        """For a checkpoint header: ``{"updates": n, "shadow": {name: array}}`` (shadow None before SWA starts)."""
        return {"updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, saved):
        self.updates = int(saved["updates"])
        self.shadow = None if saved["shadow"] is None else {k: np.array(v) for k, v in saved["shadow"].items()}


def swa_start_epoch(epochs, fraction):
    """The first epoch (1-based) SWA averages: the last ``fraction`` of ``epochs``, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"--swa-last takes a fraction of the epochs in (0, 1], got {fraction}")
    return epochs - max(1, round(fraction * epochs)) + 1


def make_averages(settings, model):
    """``(ema or None, swa or None)`` for the run's settings (``ema``: a decay, ``swa_last``: a fraction)."""
    ema = WeightAverage(model, settings["ema"]) if settings.get("ema") else None
    swa = WeightAverage(model) if settings.get("swa_last") else None
    if swa is not None:
        swa_start_epoch(settings["epochs"], settings["swa_last"])  # checks the fraction now, not at the end
    return ema, swa
