"""What does a filter respond to?  Activation maximisation, top images, feature maps.

**Activation maximisation** (Erhan, Bengio, Courville & Vincent, "Visualizing
higher-layer features of a deep network", 2009): start from a flat gray (or
noise) image and climb the gradient of one filter's activation with respect to
the *input*.  The objective of filter k at a layer with output A (N, C, h, w) is
its spatial mean ``mean_ij A[n, k, i, j]``.  Many filters climb at once: image n
of a batch serves filter ``filters[n]``, and the batch objective is the sum of
each image's own filter mean, so one backward pass moves every image (each
image's objective depends on that image alone).

Plain ascent produces high-frequency noise that excites the filter but means
nothing to a reader; four regularisers turn it into readable pictures
(Yosinski et al., "Understanding neural networks through deep visualization",
2015; Mahendran & Vedaldi, "Understanding deep image representations by
inverting them", 2015; Olah et al., "Feature visualization", Distill 2017):

* **jitter** -- shift the image by a random few pixels before each step, so the
  picture must work at every nearby position instead of exploiting exact pixels;
* **L2 decay** -- pull every pixel a little towards mid-gray each step, so only
  pixels the filter keeps asking for stay away from it;
* **periodic blur** -- a light Gaussian blur every few steps removes the
  high frequencies the gradient keeps injecting;
* **total variation** -- a penalty on the differences between neighbouring
  pixels, favouring piecewise-smooth images.

Defaults (:data:`ASCENT_DEFAULTS`) are chosen for 48x48 grayscale faces in
[0, 1]: jitter of 2 px (4% of the width; a face's features are 5-10 px),
blur sigma 0.5 px every 4 steps (a stronger blur erases eye- and mouth-sized
detail), L2 decay 1% a step, and TV weight 0.1 relative to the normalised
activation gradient (see :func:`ascend`).

**How much is achieved** is reported against real images (same objective, the
spatial mean): the ascended activation's excess over the real images' mean, as
a multiple of the best real image's excess (:func:`achieved_ratio`).  Above 1
the picture drives the filter harder than every real face; well below 1 the
ascent failed or was over-regularised.

**Top-activating images** show the real image regions that excite each filter
most: the filter's strongest single unit, cropped to that unit's receptive
field (found from the gradient, so it works for any architecture).

The command line is ``python -m fer.filters RUN [--layer NAME] [--filters 0-31]``
(:mod:`fer.filters`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from minigrad import Tensor, no_grad

from ..data.images import gaussian_blur
from .layers import LayerCapture, as_float_images, explaining, find_layer
from .options import ASCENT_DEFAULTS


# ----------------------------------------------------------------- the objective
def filter_objective(model, module, images: np.ndarray, filters: np.ndarray, gradient: bool = True):
    """Each image's own filter mean at ``module``'s output, and its input gradient.

    images: (K, C, H, W) float32; filters: (K,) channel indices.  Returns
    (activation (K,), gradient (K, C, H, W) or None).  The forward pass stops at
    the layer.  The backward pass starts at the layer's output, seeded with
    ``1 / (h * w)`` at image n's own channel ``filters[n]`` and 0 elsewhere:
    that is the gradient of the summed objective.  Call inside ``explaining``.
    """
    x = Tensor(images, requires_grad=gradient)
    with (contextlib.nullcontext() if gradient else no_grad()), LayerCapture(module, stop=True) as cap:
        model(x)
    output = cap.output
    if output is None or output.ndim != 4:
        raise ValueError("filters: the layer must be run by the model and give (N, C, h, w) output")
    channels = output.shape[1]
    if filters.max() >= channels:
        raise ValueError(f"filters: the layer has {channels} filters (0..{channels - 1}), "
                         f"asked for filter {filters.max()}")
    rows = np.arange(len(filters))
    activation = output.data[rows, filters].mean(axis=(1, 2))
    if not gradient:
        return activation, None
    seed = np.zeros_like(output.data)
    seed[rows, filters] = 1.0 / (output.shape[2] * output.shape[3])
    output.backward(seed)
    return activation, x.grad


def tv_gradient(x: np.ndarray) -> np.ndarray:
    """Gradient of the anisotropic total variation ``sum |x[i+1,j] - x[i,j]| + |x[i,j+1] - x[i,j]|``
    over the last two axes: each difference d contributes sign(d) to its far pixel and
    -sign(d) to its near one."""
    grad = np.zeros_like(x)
    down = np.sign(x[..., 1:, :] - x[..., :-1, :])
    grad[..., 1:, :] += down
    grad[..., :-1, :] -= down
    right = np.sign(x[..., :, 1:] - x[..., :, :-1])
    grad[..., :, 1:] += right
    grad[..., :, :-1] -= right
    return grad


# ------------------------------------------------------------------- the ascent
@dataclass
class AscentResult:
    layer: str
    filters: np.ndarray      # (K,)
    images: np.ndarray       # (K, C, H, W) in [0, 1]
    activation: np.ndarray   # (K,) final objective of each image's own filter
    start_activation: np.ndarray  # (K,) objective at the start image
    history: list = field(default_factory=list)  # mean activation every 16 steps


def ascend(model, layer, filters, image_shape=(1, 48, 48), steps=None, lr=None, start=None, jitter=None,
           l2_decay=None, blur_every=None, blur_sigma=None, tv_weight=None, seed: int = 0,
           progress=None) -> AscentResult:
    """Activation maximisation of ``filters`` (list of channel indices) at ``layer`` (name or module).

    One step, for all K images at once::

        g  = d objective / d x, at x shifted by a random (dy, dx) <= jitter, shifted back
        g  = g / rms(g) - tv_weight * dTV/dx      (per image: the step size does not
                                                    depend on the layer's activation scale)
        x  = clip(0.5 + (1 - l2_decay) * (x + lr * g - 0.5), 0, 1)
        x  = blur(x, blur_sigma)   every blur_every steps

    Normalising the gradient makes ``lr`` a pixel step whatever the layer, and gives
    ``tv_weight`` a meaning shared by all layers.  Unset arguments take
    :data:`ASCENT_DEFAULTS`.  ``progress(step, steps, mean activation)``, if
    given, is called every 16 steps.
    """
    given = dict(steps=steps, lr=lr, start=start, jitter=jitter, l2_decay=l2_decay, blur_every=blur_every,
                 blur_sigma=blur_sigma, tv_weight=tv_weight)
    opts = {k: ASCENT_DEFAULTS[k] if v is None else v for k, v in given.items()}
    name = layer if isinstance(layer, str) else None
    module = find_layer(model, layer) if isinstance(layer, str) else layer
    filters = np.asarray(filters, dtype=np.int64)
    rng = np.random.default_rng(seed)
    shape = (len(filters),) + tuple(image_shape)
    noise = {"gray": 0.01, "noise": 0.1}
    if opts["start"] not in noise:
        raise ValueError(f"ascent start must be 'gray' or 'noise', got {opts['start']!r}")
    x = np.clip(0.5 + noise[opts["start"]] * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    jitter = int(opts["jitter"])
    history = []
    with explaining(model):
        start_activation, _ = filter_objective(model, module, x, filters, gradient=False)
        for step in range(int(opts["steps"])):
            dy, dx = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
            activation, grad = filter_objective(model, module, np.roll(x, (dy, dx), axis=(2, 3)), filters)
            grad = np.roll(grad, (-dy, -dx), axis=(2, 3))
            rms = np.sqrt((grad ** 2).mean(axis=(1, 2, 3), keepdims=True)) + 1e-12
            step_direction = grad / rms - opts["tv_weight"] * tv_gradient(x)
            x = 0.5 + (1 - opts["l2_decay"]) * (x + opts["lr"] * step_direction - 0.5)
            if opts["blur_every"] and (step + 1) % opts["blur_every"] == 0:
                x = gaussian_blur(x, opts["blur_sigma"])
            x = np.clip(x, 0, 1).astype(np.float32)
            if step % 16 == 0:
                history.append(float(activation.mean()))
                if progress is not None:
                    progress(step, int(opts["steps"]), history[-1])
        final, _ = filter_objective(model, module, x, filters, gradient=False)
    return AscentResult(name or "", filters, x, final, start_activation, history)


# ------------------------------------------------------------------ real images
@dataclass
class RealActivations:
    """A layer's response to real images, summarised per image and channel."""
    mean: np.ndarray      # (N, C) spatial mean (the ascent's objective)
    peak: np.ndarray      # (N, C) spatial max
    where: np.ndarray     # (N, C, 2) (i, j) of the max on the layer's (h, w) grid
    grid: tuple           # (h, w)


def real_activations(model, layer, images, batch_size: int = 128) -> RealActivations:
    """Run real images (N, C, H, W) up to ``layer``, keeping only per-channel summaries
    (the full maps of 1,000 images at the first conv layer would take 600 MB)."""
    module = find_layer(model, layer) if isinstance(layer, str) else layer
    images = as_float_images(images)
    means, peaks, wheres = [], [], []
    with explaining(model), no_grad():
        for i in range(0, len(images), batch_size):
            with LayerCapture(module, stop=True) as cap:
                model(Tensor(images[i:i + batch_size]))
            a = cap.output.data
            n, c, h, w = a.shape
            flat = a.reshape(n, c, h * w)
            index = flat.argmax(axis=2)
            means.append(flat.mean(axis=2))
            peaks.append(flat.max(axis=2))
            wheres.append(np.stack(np.unravel_index(index, (h, w)), axis=-1))
    return RealActivations(np.concatenate(means), np.concatenate(peaks), np.concatenate(wheres), (h, w))


def achieved_ratio(result: AscentResult, real: RealActivations) -> np.ndarray:
    """(K,) how far the ascent got, in units of the best real image::

        ratio = (ascended - mean over real images) / (best real image - mean over real images)

    all on the same objective (the filter's spatial mean).  1 means "as strong as
    the strongest real image", above 1 stronger than any real image, 0 no better
    than an average one.  Measured from the real images' mean and not from 0
    because a convolution that feeds batch norm has an arbitrary offset (batch
    norm subtracts it again): its raw output may be negative on every image,
    and a plain quotient would then mean nothing.  NaN when the filter gives
    every real image the same value.
    """
    objective = real.mean[:, result.filters]
    typical, best = objective.mean(axis=0), objective.max(axis=0)
    spread = best - typical
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, (result.activation - typical) / spread, np.nan)


def receptive_field(model, layer, image_shape=(1, 48, 48), samples: int = 8, seed: int = 0) -> tuple:
    """(height, width) of the input region one unit of ``layer`` sees, measured.

    The input gradient of the centre unit is non-zero exactly on the pixels that
    unit depends on.  Max-pooling passes the gradient to one pixel per window
    only, so the supports of ``samples`` random images are united.
    """
    module = find_layer(model, layer) if isinstance(layer, str) else layer
    rng = np.random.default_rng(seed)
    x = Tensor(rng.random((samples,) + tuple(image_shape), dtype=np.float32), requires_grad=True)
    with explaining(model), LayerCapture(module, stop=True) as cap:
        model(x)
    out = cap.output
    seed_grad = np.zeros_like(out.data)
    seed_grad[:, :, out.shape[2] // 2, out.shape[3] // 2] = 1
    out.backward(seed_grad)
    rows, cols = np.nonzero(np.abs(x.grad).sum(axis=(0, 1)))
    if len(rows) == 0:
        return tuple(image_shape[1:])
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def top_patches(images, real: RealActivations, filters, field_size, k: int = 8) -> np.ndarray:
    """The k real-image patches that excite each filter most: (K, k, ph, pw).

    For filter f the images are ranked by their peak unit; each patch is the
    ``field_size`` window centred on that unit's position in the input (a unit
    (i, j) of an (h, w) grid sits at ((i + 1/2) H / h, (j + 1/2) W / w)), moved
    inside the image where it would stick out.
    """
    images = as_float_images(images)
    _, _, height, width = images.shape
    ph, pw = min(field_size[0], height), min(field_size[1], width)
    h, w = real.grid
    out = np.empty((len(filters), k, ph, pw), np.float32)
    for row, f in enumerate(filters):
        best = np.argsort(-real.peak[:, f], kind="stable")[:k]
        for col, n in enumerate(best):
            i, j = real.where[n, f]
            top = int(np.clip(round((i + 0.5) * height / h - ph / 2), 0, height - ph))
            left = int(np.clip(round((j + 0.5) * width / w - pw / 2), 0, width - pw))
            out[row, col] = images[n, 0, top:top + ph, left:left + pw]
    return out


def feature_maps(model, layer, image) -> np.ndarray:
    """The output of ``layer`` for one image (C, H, W) or (H, W): (channels, h, w)."""
    module = find_layer(model, layer) if isinstance(layer, str) else layer
    image = as_float_images(np.asarray(image)[None] if np.ndim(image) == 3 else np.asarray(image)[None, None])
    with explaining(model), no_grad(), LayerCapture(module, stop=True) as cap:
        model(Tensor(image))
    return cap.output.data[0]
