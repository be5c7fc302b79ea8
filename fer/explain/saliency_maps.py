"""Saliency maps: which input pixels does a classifier's score depend on?

Every method here starts from the same quantity, the gradient of one class score
with respect to the input image, computed by minigrad's backward pass.  The score
``S_c(x)`` is the *logit* (pre-softmax) of the target class ``c``, by default the
class the model predicts.  The logit and not the probability, because the
probability also rises when the *other* classes' logits fall, which mixes evidence
for ``c`` with evidence against everything else (Simonyan et al., 2014, sec. 3).

Methods (each maps images (N, C, H, W) to non-negative maps (N, H, W)):

* :func:`vanilla` -- ``|dS_c/dx|``, maximised over colour channels.
  Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks", 2014.
* :func:`smoothgrad` -- the vanilla map averaged over noisy copies of the image,
  which averages away the gradient's pixel-to-pixel jitter.
  Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017.
* :func:`gradcam` -- a conv layer's feature maps ``A_k`` weighted by the spatial
  mean of their gradients, ``ReLU(sum_k alpha_k A_k)``, upsampled to the image.
  Selvaraju et al., "Grad-CAM", ICCV 2017.
* :func:`integrated_gradients` -- the gradient averaged along the straight path
  from a baseline ``x'`` to ``x``, times ``x - x'``; the attributions add up to
  ``S_c(x) - S_c(x')`` (completeness).  Sundararajan, Taly & Yan, "Axiomatic
  attribution for deep networks", ICML 2017.
* :func:`guided_backprop` -- backward through every ReLU passes only positive
  gradients at positive inputs.  Springenberg et al., "Striving for simplicity:
  the all convolutional net", 2015.  (Adebayo et al., 2018, show it barely
  depends on the weights; :mod:`fer.explain.sanity` measures that.)

All methods are batched: one backward pass serves a whole batch, because the
score that is differentiated is the *sum* of the per-image target scores, and
image ``n``'s score depends on image ``n`` alone (the model runs in eval mode, so
batch norm uses its running statistics and no image sees another).

Layers are named and caught as in :mod:`fer.explain.layers`.  The command line is
``python -m fer.saliency RUN [--method ...] [--sanity]`` (:mod:`fer.saliency`).
"""
from __future__ import annotations

import contextlib

import numpy as np

import minigrad.functional as F
from minigrad import Tensor, nn
from minigrad.ops.activation import LeakyReLU

from ..data.images import resize_bilinear
from .layers import LayerCapture, as_float_images, explaining, find_layer, model_logits
from .options import METHODS


# ------------------------------------------------------------------ Grad-CAM's layer
def default_gradcam_layer(model):
    """The last conv block's activations: in a network with global average pooling, the
    layer feeding it (a residual network's last block); otherwise the first ReLU after the
    last Conv2d, or that Conv2d itself when no ReLU follows.

    Grad-CAM wants the deepest feature maps that still have a spatial layout
    (Selvaraju et al. use the rectified output of the last conv layer): deep
    enough to be class-specific, spatial enough to say *where*.
    """
    children = list(model.children())
    pools = [i for i, m in enumerate(children) if isinstance(m, nn.AdaptiveAvgPool2d)]
    if pools and pools[0] > 0:
        return children[pools[0] - 1]
    leaves = [m for _, m in model.named_modules() if not m._modules]
    convs = [i for i, m in enumerate(leaves) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("Grad-CAM needs a Conv2d layer, and the model has none "
                         "(a dense network has no spatial feature maps to weight)")
    for module in leaves[convs[-1] + 1:]:
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            return module
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Flatten)):
            break
    return leaves[convs[-1]]


# ----------------------------------------------------------------- guided ReLU
class GuidedReLU(LeakyReLU):
    """ReLU (or leaky ReLU) forward, guided-backpropagation backward.

    Forward:  y = x if x > 0 else slope * x            (slope 0: plain ReLU)
    Backward: dx = gy * [x > 0 ? 1 : slope] * (gy > 0)

    The ordinary ReLU gradient is the first two factors.  Guided backprop adds the
    third: only *positive* gradient signals, i.e. features whose increase would
    raise the score, travel further back (Springenberg et al., 2015).  This is
    not the gradient of anything, which is exactly why it must be sanity-checked.
    """

    # forward is LeakyReLU's; backward keeps its gradient only where gy > 0.
    @staticmethod
    def backward(ctx, gy):
        local, _ = LeakyReLU.backward(ctx, gy)
        return local * (gy > 0), None


@contextlib.contextmanager
def guided_relus(model):
    """Within the block, every ``ReLU``/``LeakyReLU`` module, and the ReLU of every
    ``BatchNormReLU2d``, backpropagates the guided way.

    A forward hook replaces each activation's output by ``GuidedReLU`` applied to
    the same input (for a fused batch norm, to the batch norm's output, recomputed):
    the forward value is unchanged, only the backward rule differs.
    """
    handles = []

    def hook(module, inputs, output):
        slope = float(getattr(module, "negative_slope", 0.0))
        return GuidedReLU.apply(inputs[0], slope)

    def fused_hook(module, inputs, output):
        normalised = F.batch_norm(inputs[0], module.running_mean, module.running_var, module.weight,
                                  module.bias, module.training, module.momentum, module.eps)
        return GuidedReLU.apply(normalised, 0.0)

    for module in model.modules():
        if isinstance(module, nn.BatchNormReLU2d):
            handles.append(module.register_forward_hook(fused_hook))
        elif isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            handles.append(module.register_forward_hook(hook))
    if not handles:
        raise ValueError("guided backprop needs nn.ReLU or nn.LeakyReLU modules; the model has none "
                         "(an activation called as a function inside forward cannot be hooked)")
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


# -------------------------------------------------------------- the core gradient
def _targets(logits: np.ndarray, target) -> np.ndarray:
    """Target class per image: the predicted class (None), one class for all (int), or (N,)."""
    if target is None:
        return logits.argmax(axis=1)
    target = np.broadcast_to(np.asarray(target, dtype=np.int64), (len(logits),))
    if target.min() < 0 or target.max() >= logits.shape[1]:
        raise ValueError(f"saliency: target classes must lie in 0..{logits.shape[1] - 1}, got {target}")
    return target


def score_gradient(model, images: np.ndarray, target=None):
    """d(target logit)/d(input) for a batch, with ONE backward pass.

    images: (N, C, H, W) float32.  Returns (grad (N, C, H, W), logits (N, K),
    target (N,)).  The backward pass starts from the one-hot matrix of the
    targets: that is the gradient of ``sum_n logits[n, target_n]``, and since
    image n's logits depend on image n only, row n of the input gradient is the
    gradient of image n's own score.  Call inside :func:`explaining`.
    """
    x = Tensor(images, requires_grad=True)
    logits = model(x)
    target = _targets(logits.data, target)
    seed = np.zeros_like(logits.data)
    seed[np.arange(len(seed)), target] = 1
    logits.backward(seed)
    return x.grad, logits.data, target


# --------------------------------------------------------------------- methods
def vanilla(model, images, target=None) -> np.ndarray:
    """``|dS_c/dx|`` maximised over channels: (N, C, H, W) -> (N, H, W).

    For a linear model ``S = W x + b`` this is exactly ``|W_c|``: the map shows the
    weights the score reads, which makes it the natural first check of the code.
    """
    images = as_float_images(images)
    with explaining(model):
        grad, _, _ = score_gradient(model, images, target)
    return np.abs(grad).max(axis=1)


def smoothgrad(model, images, target=None, noise_level: float = 0.15, samples: int = 25,
               seed: int = 0) -> np.ndarray:
    """Mean of vanilla maps over ``samples`` noisy copies: (N, C, H, W) -> (N, H, W).

    The noise is Gaussian with standard deviation ``noise_level * (max - min)`` of
    each image; Smilkov et al. find 10-20% best, hence 0.15.  The target class
    is fixed from the clean image, so every sample explains the same decision.
    Each sample is one batched backward pass.
    """
    images = as_float_images(images)
    rng = np.random.default_rng(seed)
    spread = images.max(axis=(1, 2, 3), keepdims=True) - images.min(axis=(1, 2, 3), keepdims=True)
    sigma = (noise_level * spread).astype(np.float32)
    with explaining(model):
        target = _targets(model_logits(model, images), target)
        total = np.zeros((images.shape[0],) + images.shape[2:], np.float32)
        for _ in range(samples):
            noisy = images + sigma * rng.standard_normal(images.shape, dtype=np.float32)
            grad, _, _ = score_gradient(model, noisy, target)
            total += np.abs(grad).max(axis=1)
    return total / samples


def gradcam(model, images, target=None, layer=None) -> np.ndarray:
    """Grad-CAM on ``layer``: (N, C, H, W) -> (N, H, W), non-negative.

    With ``A`` the layer's output (N, K, h, w) and ``G = dS_c/dA``::

        alpha[n, k] = mean over (i, j) of G[n, k, i, j]       (how much map k matters)
        cam[n]      = ReLU(sum_k alpha[n, k] * A[n, k])        (h, w)

    then bilinearly upsampled to (H, W).  The ReLU keeps the regions that speak
    *for* class c.  ``layer`` is a module, a name (see :func:`find_layer`), or
    None for :func:`default_gradcam_layer`.
    """
    images = as_float_images(images)
    module = default_gradcam_layer(model) if layer is None else (
        find_layer(model, layer) if isinstance(layer, str) else layer)
    with explaining(model), LayerCapture(module) as cap:
        score_gradient(model, images, target)
    if cap.output is None:
        raise ValueError("Grad-CAM: the chosen layer was not run by the model's forward")
    maps, grads = cap.output.data, cap.output.grad
    if maps.ndim != 4:
        raise ValueError(f"Grad-CAM needs a layer with (N, K, h, w) output, got shape {maps.shape}")
    alpha = grads.mean(axis=(2, 3), keepdims=True)
    cam = np.maximum((alpha * maps).sum(axis=1), 0)
    return resize_bilinear(cam.astype(np.float32), images.shape[2:])


def ig_attributions(model, images, target=None, baseline=0.0, steps: int = 32) -> np.ndarray:
    """Integrated-gradients attributions, signed, (N, C, H, W)::

        IG(x) = (x - x') * mean_{k<steps} dS_c/dx at x' + (k + 1/2)/steps * (x - x')

    the midpoint rule for the path integral.  Completeness: the attributions sum
    to about ``S_c(x) - S_c(x')`` (the tests check it); 32 steps get within a few
    per cent for these small nets.  ``baseline`` is a number (0 = black, the
    usual choice) or an array broadcastable to the images.
    """
    images = as_float_images(images)
    baseline = np.broadcast_to(np.asarray(baseline, np.float32), images.shape)
    delta = images - baseline
    with explaining(model):
        target = _targets(model_logits(model, images), target)
        total = np.zeros_like(images)
        for k in range(steps):
            alpha = np.float32((k + 0.5) / steps)
            grad, _, _ = score_gradient(model, baseline + alpha * delta, target)
            total += grad
    return delta * total / steps


def integrated_gradients(model, images, target=None, baseline=0.0, steps: int = 32) -> np.ndarray:
    """``|IG|`` summed over channels: (N, C, H, W) -> (N, H, W).  See :func:`ig_attributions`."""
    return np.abs(ig_attributions(model, images, target, baseline, steps).sum(axis=1))


def guided_backprop(model, images, target=None) -> np.ndarray:
    """Guided-backprop map ``|guided dS_c/dx|``, max over channels: (N, C, H, W) -> (N, H, W).

    The same backward pass as :func:`vanilla`, but every ReLU lets through only
    positive gradients (:class:`GuidedReLU`).
    """
    images = as_float_images(images)
    with explaining(model), guided_relus(model):
        grad, _, _ = score_gradient(model, images, target)
    return np.abs(grad).max(axis=1)


_FUNCTIONS = {"vanilla": vanilla, "smoothgrad": smoothgrad, "gradcam": gradcam,
              "ig": integrated_gradients, "guided": guided_backprop}


def saliency_maps(model, images, method: str = "vanilla", target=None, batch_size: int = 64,
                  **options) -> np.ndarray:
    """Maps (N, H, W) of ``method`` (one of :data:`METHODS`) for any number of images.

    Images go through in batches of ``batch_size`` to bound memory; ``options``
    go to the method (``noise_level``, ``samples``, ``layer``, ``baseline``,
    ``steps``, ``seed``).  ``target``: None (predicted class), an int, or (N,).
    """
    if method not in _FUNCTIONS:
        raise ValueError(f"unknown saliency method {method!r}; choose from {', '.join(METHODS)}")
    images = as_float_images(images)
    if target is not None:
        target = np.broadcast_to(np.asarray(target, np.int64), (len(images),))
    parts = []
    for i in range(0, len(images), batch_size):
        part_target = None if target is None else target[i:i + batch_size]
        parts.append(_FUNCTIONS[method](model, images[i:i + batch_size], part_target, **options))
    return np.concatenate(parts).astype(np.float32, copy=False)
