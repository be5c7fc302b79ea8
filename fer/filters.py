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

Command line: ``python -m fer.filters RUN [--layer NAME] [--filters 0-31]``.
"""
from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, field

import numpy as np

from minigrad import Tensor, no_grad

from .saliency import LayerCapture, as_float_images, conv_layers, explaining, find_layer, gaussian_blur

ASCENT_DEFAULTS = {
    "steps": 128,         # the activation levels off by step ~64 on all 4 layers of a quick-trained CNN
    "lr": 0.05,           # pixel change per step for a unit-RMS gradient
    "start": "gray",      # "gray": 0.5 everywhere (plus 1% noise to break symmetry); "noise": 0.5 + 10% noise
    "jitter": 2,          # max random shift in pixels, each step
    "l2_decay": 0.01,     # pull towards gray: x <- 0.5 + (1 - l2_decay) * (x - 0.5)
    "blur_every": 4,      # steps between blurs (0: never)
    "blur_sigma": 0.5,    # pixels
    "tv_weight": 0.1,     # weight of the total-variation gradient against the unit-RMS activation gradient
}
"""Default regularisation of :func:`ascend`, for 48x48 grayscale inputs in [0, 1]."""


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


# ------------------------------------------------------------------------ CLI
def parse_filters(text: str) -> list:
    """"0-31" or "0,3,8-11" -> list of ints."""
    chosen = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = part.split("-")
                chosen.extend(range(int(low), int(high) + 1))
            else:
                chosen.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad filter list {text!r}: use e.g. 0-31 or 0,3,8-11") from None
    if not chosen or min(chosen) < 0:
        raise argparse.ArgumentTypeError(f"bad filter list {text!r}: use e.g. 0-31 or 0,3,8-11")
    return chosen


def build_parser():
    from .cli_common import add_data_args

    parser = argparse.ArgumentParser(
        prog="python -m fer.filters",
        description="What the filters of a trained model respond to: for each chosen conv layer, a PNG of "
                    "activation-maximisation images (gradient ascent on the input, one per filter), a PNG "
                    "of the real image patches that activate each filter most, and a PNG of one image's "
                    "feature maps.  Prints each filter's achieved activation against the best real image.")
    parser.add_argument("run", metavar="RUN", help="run folder written by python -m fer.train")
    parser.add_argument("--layer", help="comma-separated layers: named_modules() names (e.g. 0,4) or "
                                        "conv1..convK for the K-th Conv2d (default: every conv layer)")
    parser.add_argument("--filters", type=parse_filters, metavar="LIST",
                        help="filter indices, e.g. 0-31 or 0,3,8-11 (default 0-31, or fewer if the layer "
                             "has fewer)")
    parser.add_argument("--steps", type=int, default=ASCENT_DEFAULTS["steps"],
                        help=f"gradient-ascent steps (default {ASCENT_DEFAULTS['steps']})")
    parser.add_argument("--lr", type=float, default=ASCENT_DEFAULTS["lr"],
                        help=f"pixel step per ascent step (default {ASCENT_DEFAULTS['lr']})")
    parser.add_argument("--start", choices=("gray", "noise"), default=ASCENT_DEFAULTS["start"],
                        help="start image of the ascent (default gray)")
    parser.add_argument("--jitter", type=int, default=ASCENT_DEFAULTS["jitter"],
                        help=f"max random shift in pixels per step (default {ASCENT_DEFAULTS['jitter']})")
    parser.add_argument("--l2-decay", type=float, default=ASCENT_DEFAULTS["l2_decay"],
                        help=f"pull towards gray per step (default {ASCENT_DEFAULTS['l2_decay']})")
    parser.add_argument("--blur-every", type=int, default=ASCENT_DEFAULTS["blur_every"],
                        help=f"steps between blurs, 0 for none (default {ASCENT_DEFAULTS['blur_every']})")
    parser.add_argument("--blur-sigma", type=float, default=ASCENT_DEFAULTS["blur_sigma"],
                        help=f"blur sigma in pixels (default {ASCENT_DEFAULTS['blur_sigma']})")
    parser.add_argument("--tv-weight", type=float, default=ASCENT_DEFAULTS["tv_weight"],
                        help=f"total-variation weight (default {ASCENT_DEFAULTS['tv_weight']})")
    parser.add_argument("--top", type=int, default=8, help="top-activating patches per filter (default 8)")
    parser.add_argument("--real", type=int, default=1000,
                        help="real images for the top patches and the achieved-activation ratio (default 1000)")
    parser.add_argument("--input", metavar="IMAGE",
                        help="image whose feature maps to show (default: the first image of the split)")
    parser.add_argument("--split", choices=("val", "test"), help="where the real images come from (default test)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which weights (default best)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start noise and the jitter")
    add_data_args(parser, val_default="the run's own")
    parser.add_argument("--out", help="folder for the PNGs (default RUN/filters)")
    parser.add_argument("--threads", type=int, help="CPU threads for numba kernels and BLAS")
    return parser


def chosen_layers(model, text):
    """[(display name, module)]: the --layer list, or every Conv2d as conv1..convK."""
    if not text:
        return [(f"conv{k}", module) for k, (_, module) in enumerate(conv_layers(model), 1)]
    return [(name.strip(), find_layer(model, name.strip())) for name in text.split(",") if name.strip()]


def _progress_printer(name):
    """A ``progress`` callback for :func:`ascend` that prints steps/s and the ETA to stderr."""
    import sys
    import time

    started = time.perf_counter()

    def show(step, steps, activation):
        if step == 0:
            return
        rate = step / (time.perf_counter() - started)
        print(f"  {name}: step {step}/{steps}, mean activation {activation:.3f}, {rate:.1f} steps/s, "
              f"ETA {(steps - step) / rate:.0f} s", file=sys.stderr, flush=True)

    return show


def visualise_layer(model, name, module, filters, real_images, own_image, args, out):
    """Ascent images, top patches and feature maps of one layer: three PNGs, and the
    numbers for filters.json."""
    from . import plots_maps

    result = ascend(model, module, filters, image_shape=real_images.shape[1:], seed=args.seed,
                    progress=_progress_printer(name),
                    **{k: getattr(args, k) for k in ASCENT_DEFAULTS})
    real = real_activations(model, module, real_images)
    ratio = achieved_ratio(result, real)
    field = receptive_field(model, module, real_images.shape[1:])
    patches = top_patches(real_images, real, filters, field, k=args.top)
    maps = feature_maps(model, module, own_image)
    titles = [f"{f}: {r:.1f}x" if np.isfinite(r) else f"{f}: -" for f, r in zip(filters, ratio)]
    paths = [
        plots_maps.image_grid(result.images[:, 0], out / f"ascent-{name}.png", titles=titles,
                              title=f"{name}: activation maximisation ({args.steps} steps); "
                                    "filter: achieved / best real image"),
        plots_maps.top_patches_figure(patches, filters, out / f"top-{name}.png",
                                      f"{name}: top-{args.top} real patches per filter "
                                      f"(receptive field {field[0]}x{field[1]} px)"),
        plots_maps.image_grid(maps, out / f"featuremaps-{name}.png", titles=[str(k) for k in range(len(maps))],
                              title=f"{name}: feature maps of {args.input or 'the first image of the split'}"),
    ]
    if np.isfinite(ratio).any():
        print(f"{name}: {len(filters)} filters; achieved / best real image: median {np.nanmedian(ratio):.2f}, "
              f"min {np.nanmin(ratio):.2f}, max {np.nanmax(ratio):.2f}")
    else:
        print(f"{name}: {len(filters)} filters; none varies over the real images")
    for path in paths:
        print(f"  {path}")
    objective = real.mean[:, filters]
    return {"filters": [int(f) for f in filters], "activation": result.activation.tolist(),
            "start_activation": result.start_activation.tolist(), "history": result.history,
            "real_mean": objective.mean(axis=0).tolist(), "real_best": objective.max(axis=0).tolist(),
            "ratio": [float(r) if np.isfinite(r) else None for r in ratio], "receptive_field": list(field)}


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.threads:
        from .threads import limit_threads
        limit_threads(args.threads)
    from pathlib import Path

    from .cli_common import UsageError
    from .images import read_image
    from .runs import write_json
    from .saliency import load_run_and_data

    model, _, _, dataset = load_run_and_data(args)
    try:
        layers = chosen_layers(model, args.layer)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not layers:
        raise UsageError("the model has no Conv2d layer; name a layer with --layer")
    real_images = dataset.images[:args.real]
    own_image = read_image(args.input) if args.input else dataset.images[0, 0]
    out = Path(args.out or Path(args.run) / "filters")
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name, module in layers:
        channels = feature_maps(model, module, own_image)
        if channels.ndim != 3:
            raise UsageError(f"--layer {name}: its output has shape {channels.shape} per image; filter "
                             "pictures need a conv layer's (channels, height, width)")
        filters = args.filters or list(range(min(32, len(channels))))
        if max(filters) >= len(channels):
            raise UsageError(f"--filters: layer {name} has {len(channels)} filters (0..{len(channels) - 1})")
        report[name] = visualise_layer(model, name, module, filters, real_images, own_image, args, out)
        write_json(out / "filters.json", report)  # after every layer: Ctrl-C keeps what is done
    return 0


if __name__ == "__main__":
    from .cli_common import run_cli

    run_cli(main)
