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
  depends on the weights; :mod:`fer.sanity` measures that.)

All methods are batched: one backward pass serves a whole batch, because the
score that is differentiated is the *sum* of the per-image target scores, and
image ``n``'s score depends on image ``n`` alone (the model runs in eval mode, so
batch norm uses its running statistics and no image sees another).

Layers are caught without touching the model's code, through
``Module.register_forward_hook`` (:class:`LayerCapture`).  Layer names are those
of ``model.named_modules()`` (``"4"``, ``"features.2"``); ``"conv1"``,
``"conv2"``, ... name the first, second, ... ``Conv2d``.

Command line: ``python -m fer.saliency RUN [--method ...] [--sanity]``
(``--help`` for the options).
"""
from __future__ import annotations

import contextlib

import numpy as np

import minigrad.functional as F
from minigrad import Tensor, nn, no_grad
from minigrad.ops.activation import LeakyReLU

METHODS = ("vanilla", "smoothgrad", "gradcam", "ig", "guided")
"""Method names accepted by :func:`saliency_maps` and ``--method``."""


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
def as_float_images(images) -> np.ndarray:
    """Images as float32 (N, C, H, W): uint8 pixels are scaled to [0, 1] as in training."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        from .data import to_float

        images = to_float(images)
    if images.ndim == 3:  # (N, H, W) grayscale
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"saliency: images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
    return images.astype(np.float32, copy=False)


def model_logits(model, images, batch_size: int = 256) -> np.ndarray:
    """Logits (N, classes) in eval mode, without recording a graph.

    Unlike :func:`fer.inference.predict_logits` (uint8 images only) this takes the
    float images the methods and checks make: noisy, interpolated, part-deleted.
    """
    images = as_float_images(images)
    with explaining(model), no_grad():
        parts = [model(Tensor(images[i:i + batch_size])).data for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


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


# --------------------------------------------------------------- array helpers
def resize_bilinear(maps: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of (N, h, w) to (N, H, W), pixel centres aligned.

    Output pixel centre ``i + 1/2`` sits at input coordinate ``(i + 1/2) * h / H``;
    clamping at the border repeats the edge values (PyTorch's
    ``align_corners=False``).
    """
    out_h, out_w = size
    _, h, w = maps.shape

    def axis(n_out, n_in):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, (pos - low).astype(np.float32)

    y0, y1, fy = axis(out_h, h)
    x0, x1, fx = axis(out_w, w)
    rows = maps[:, y0] * (1 - fy)[:, None] + maps[:, y1] * fy[:, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the last two axes, separable, edges reflected.

    A 2-D Gaussian is the product of two 1-D ones, so two passes of a
    (2r + 1)-tap kernel (r = 3 sigma) do the work of one (2r + 1)^2 kernel.
    """
    if sigma <= 0:
        return images.copy()
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(images.dtype)
    out = images
    for axis in (-2, -1):
        pad = [(0, 0)] * images.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if images.shape[axis] > radius else "edge")
        n = images.shape[axis]
        out = sum(t * np.take(padded, np.arange(i, i + n), axis=axis) for i, t in enumerate(taps))
    return out.astype(images.dtype, copy=False)


# ------------------------------------------------------------------------ CLI
def build_parser():
    import argparse

    from .cli_common import add_data_args

    parser = argparse.ArgumentParser(
        prog="python -m fer.saliency",
        description="Saliency maps of a trained model: one PNG grid per method (image, heat map, "
                    "overlay, true and predicted label), and with --sanity the three sanity checks "
                    "(model randomisation, deletion, synthetic cue masks), each printed as numbers.")
    parser.add_argument("run", metavar="RUN", help="run folder written by python -m fer.train")
    parser.add_argument("--method", default="all",
                        help=f"comma-separated methods out of {','.join(METHODS)}, or all (default)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--per-class", type=int, default=3, metavar="N",
                       help="explain N images of each class from the data split (default 3)")
    which.add_argument("--input", metavar="IMAGE",
                       help="explain one image file instead (any size, colour or grey)")
    parser.add_argument("--split", choices=("val", "test"),
                        help="where the images come from (default test)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which weights (default best)")
    parser.add_argument("--layer", help="Grad-CAM layer: a named_modules() name or conv1..convK "
                                        "(default: the activations of the last conv block)")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad noisy samples (default 25)")
    parser.add_argument("--noise", type=float, default=0.15,
                        help="SmoothGrad noise, as a share of the image's value range (default 0.15)")
    parser.add_argument("--steps", type=int, default=32, help="integrated-gradients steps (default 32)")
    parser.add_argument("--baseline", type=float, default=0.0,
                        help="integrated-gradients baseline grey value in [0, 1] (default 0: black)")
    parser.add_argument("--sanity", action="store_true", help="also run the sanity checks and print their numbers")
    parser.add_argument("--sanity-images", type=int, default=70, metavar="N",
                        help="images the sanity checks use (default 70, balanced over the classes)")
    add_data_args(parser, val_default="the run's own")
    parser.add_argument("--out", help="folder for the PNGs (default RUN/saliency)")
    parser.add_argument("--threads", type=int, help="CPU threads for numba kernels and BLAS")
    return parser


def method_options(args, method):
    """The keyword options of ``method`` from the command line."""
    return {"smoothgrad": {"samples": args.samples, "noise_level": args.noise},
            "gradcam": {"layer": args.layer},
            "ig": {"steps": args.steps, "baseline": args.baseline}}.get(method, {})


def parse_methods(text):
    from .cli_common import UsageError

    methods = list(METHODS) if text == "all" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"--method: unknown {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(METHODS)} or all")
    return methods


def balanced_indices(labels, per_class, seed=None):
    """``per_class`` indices of each class, class by class: the first ones, or with a
    ``seed`` a random choice."""
    rng = None if seed is None else np.random.default_rng(seed)
    chosen = []
    for k in np.unique(labels[labels >= 0]):
        where = np.flatnonzero(labels == k)
        chosen.extend(where[:per_class] if rng is None else np.sort(rng.permutation(where)[:per_class]))
    return np.array(chosen, dtype=np.int64)


def load_run_and_data(args, need_data=True):
    """(model, splits or None, chosen split name, Dataset or None) for a CLI: the run's own
    data settings unless --data/--val-fraction/--skip-bad-rows say otherwise."""
    from .evaluate import data_settings, pick_split
    from .runs import load_data, load_model, read_config

    model, _ = load_model(args.run, args.checkpoint)
    if not need_data:
        return model, None, None, None
    splits = load_data(data_settings(args, read_config(args.run)))
    if splits.synthetic:
        print(f"note: using the built-in synthetic faces ({splits.source}), not FER2013", flush=True)
    name, dataset = pick_split(splits, args.split)
    return model, splits, name, dataset


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.threads:
        from .threads import limit_threads
        limit_threads(args.threads)
    from pathlib import Path

    from . import plots_maps
    from .images import read_image

    from .cli_common import UsageError

    methods = parse_methods(args.method)
    model, _, split, dataset = load_run_and_data(args, need_data=args.input is None or args.sanity)
    if args.layer:
        try:
            find_layer(model, args.layer)
        except ValueError as error:
            raise UsageError(f"--layer: {error}") from None
    if args.input:
        images = read_image(args.input)[None, None]
        labels = np.array([-1])
    else:
        index = balanced_indices(dataset.labels, args.per_class)
        images, labels = dataset.images[index], dataset.labels[index]
    x = as_float_images(images)
    predictions = model_logits(model, x).argmax(axis=1)
    out = Path(args.out or Path(args.run) / "saliency")
    out.mkdir(parents=True, exist_ok=True)
    for method in methods:
        try:
            maps = saliency_maps(model, x, method, **method_options(args, method))
        except ValueError as error:  # e.g. Grad-CAM on a dense network
            print(f"{method}: skipped ({error})")
            continue
        path = plots_maps.saliency_figure(x[:, 0], maps, out / f"saliency-{method}.png", method,
                                          labels, predictions, per_row=min(args.per_class, 4))
        print(f"{method}: {path}")
    if args.sanity:
        run_sanity(args, model, dataset, split, methods, out)
    return 0


def run_sanity(args, model, dataset, split, methods, out):
    """The three sanity checks on a balanced sample of the split; numbers printed and
    written to sanity.json, deletion curves to deletion.png."""
    from . import plots_maps
    from .runs import write_json
    from .sanity import as_json, run_checks

    per_class = max(1, int(np.ceil(args.sanity_images / 7)))
    index = balanced_indices(dataset.labels, per_class, seed=0)[:args.sanity_images]
    masks = None if dataset.masks is None else dataset.masks[index]
    print(f"sanity checks on {len(index)} {split} images"
          + ("" if masks is not None else " (no cue masks: real data, so check 3 is skipped)"))
    results = {}
    for method in methods:
        try:
            results.update(run_checks(model, dataset.images[index], masks, (method,),
                                      options={method: method_options(args, method)}))
        except ValueError as error:
            print(f"{method}: skipped ({error})")
    write_json(out / "sanity.json", as_json(results))
    if results:
        plots_maps.deletion_figure([found["deletion"] for found in results.values()], out / "deletion.png")
    print(f"sanity: {out / 'sanity.json'}, {out / 'deletion.png'}")
    return results


if __name__ == "__main__":
    from .cli_common import run_cli

    run_cli(main)
