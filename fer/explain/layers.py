"""Reaching inside a trained model: naming its layers, catching their outputs, running
it the way an explanation needs.

Shared by the saliency methods (:mod:`fer.explain.saliency_maps`), their sanity checks
(:mod:`fer.explain.sanity`) and filter visualisation (:mod:`fer.explain.features`).

Layers are caught without touching the model's code, through
``Module.register_forward_hook`` (:class:`LayerCapture`).  Layer names are those
of ``model.named_modules()`` (``"4"``, ``"features.2"``); ``"conv1"``,
``"conv2"``, ... name the first, second, ... ``Conv2d``.
"""
from __future__ import annotations

import contextlib

import numpy as np

from minigrad import Tensor, nn, no_grad

from ..data import to_float


# --------------------------------------------------------------------------- layers
def find_layer(model, name):
    """The sub-module of ``model`` called ``name``: a ``named_modules()`` name, or
    ``"convK"`` for the K-th ``Conv2d`` (1-based) in definition order."""
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    if name.startswith("conv") and name[4:].isdigit():
        convs = conv_layers(model)
        k = int(name[4:])
        if 1 <= k <= len(convs):
            return convs[k - 1][1]
        raise ValueError(f"layer {name!r}: the model has {len(convs)} Conv2d layers, conv1..conv{len(convs)}")
    names = ", ".join(n for n, m in modules.items() if n and not m._modules)
    convs = len(conv_layers(model))
    aliases = f" (or conv1..conv{convs} for the Conv2d layers)" if convs else ""
    raise ValueError(f"no layer {name!r} in the model; its layers are {names}{aliases}")


def conv_layers(model):
    """``[(name, Conv2d module), ...]`` in definition (= forward, for Sequential) order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def layer_name(model, module) -> str:
    """The ``named_modules()`` name of ``module`` inside ``model``."""
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError("the module is not part of the model")


class StopForward(Exception):
    """Raised by a :class:`LayerCapture` with ``stop=True`` once it has the output,
    so that the layers after it are not computed; the ``with`` block swallows it."""


class LayerCapture:
    """Catch one module's output Tensor, and after backward its gradient.

    ::

        with LayerCapture(layer) as cap:
            logits = model(x)
            logits.sum().backward()
        cap.output.data, cap.output.grad     # (N, K, h, w) each

    A forward hook stores the output and calls ``retain_grad()`` on it, so that the
    backward walk keeps the gradient of this intermediate tensor (normally only
    leaves keep theirs).  With ``stop=True`` the hook ends the forward pass right
    there (:class:`StopForward`): activation maximisation needs nothing beyond the
    layer, and skipping the rest saves most of the time for early layers.
    """

    def __init__(self, module, stop: bool = False):
        self.module, self.stop = module, stop
        self.output = None
        self._handle = None

    def _hook(self, module, inputs, output):
        if output.requires_grad:
            output.retain_grad()
        self.output = output
        if self.stop:
            raise StopForward

    def __enter__(self):
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, kind, error, traceback):
        self._handle.remove()
        return kind is StopForward


@contextlib.contextmanager
def explaining(model):
    """Eval mode and frozen parameters for the duration of the block, then restored.

    Eval mode makes the explanation that of the deployed model (dropout off,
    batch norm on running statistics) and makes images in a batch independent.
    Freezing the parameters spares the backward pass the weight gradients,
    which nobody reads, and leaves any ``.grad`` a training loop keeps untouched.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in params:
        p.requires_grad = False
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
        for p, flag in params:
            p.requires_grad = flag


# ------------------------------------------------------------- running the model
def as_float_images(images) -> np.ndarray:
    """Images as float32 (N, C, H, W): uint8 pixels are scaled to [0, 1] as in training."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = to_float(images)
    if images.ndim == 3:  # (N, H, W) grayscale
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
    return images.astype(np.float32, copy=False)


def model_logits(model, images, batch_size: int = 256) -> np.ndarray:
    """Logits (N, classes) in eval mode, without recording a graph.

    Unlike :func:`fer.evaluation.inference.predict_logits` (uint8 images only) this takes the
    float images the saliency methods and sanity checks make: noisy, interpolated,
    part-deleted.
    """
    images = as_float_images(images)
    with explaining(model), no_grad():
        parts = [model(Tensor(images[i:i + batch_size])).data for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)
