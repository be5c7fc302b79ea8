"""``python -m fer.filters RUN``: what the conv filters of a trained model respond to.

For each chosen layer (default: every Conv2d) it writes three PNGs into ``RUN/filters/``
(or ``--out``): the input each filter responds to most, found by gradient ascent; the
real image patches that excite each filter most; and the filters' feature maps of one
image.  It prints how strongly each ascended image drives its filter against the best
real image, and keeps every number in ``filters.json``.

The ascent and the measurements are :mod:`fer.explain.features`, the figures
:mod:`fer.explain.plots`; this module is only the command line.
"""
import argparse

from .cli.common import (UsageError, add_run_args, add_threads_arg, load_run_and_data, run_cli,
                         use_threads)
from .explain.options import ASCENT_DEFAULTS


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
    parser = argparse.ArgumentParser(
        prog="python -m fer.filters",
        description="What the filters of a trained model respond to: for each chosen conv layer, a PNG of "
                    "activation-maximisation images (gradient ascent on the input, one per filter), a PNG "
                    "of the real image patches that activate each filter most, and a PNG of the filters' "
                    "feature maps of one image.  Prints each filter's achieved activation against the best real image.")
    add_run_args(parser, images="the real images")
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the start noise and the jitter")
    parser.add_argument("--out", help="folder for the PNGs (default RUN/filters)")
    add_threads_arg(parser)
    return parser


def chosen_layers(model, text):
    """[(display name, module)]: the --layer list, or every Conv2d as conv1..convK."""
    from .explain.layers import conv_layers, find_layer

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


def visualise_layer(model, name, module, filters, real_images, maps, args, out):
    """Ascent images, top patches and ``maps`` (the filters' feature maps of one image) of
    one layer: three PNGs, and the numbers for filters.json."""
    import numpy as np

    from .explain import plots
    from .explain.features import achieved_ratio, ascend, real_activations, receptive_field, top_patches

    result = ascend(model, module, filters, image_shape=real_images.shape[1:], seed=args.seed,
                    progress=_progress_printer(name),
                    **{k: getattr(args, k) for k in ASCENT_DEFAULTS})
    real = real_activations(model, module, real_images)
    ratio = achieved_ratio(result, real)
    field = receptive_field(model, module, real_images.shape[1:])
    patches = top_patches(real_images, real, filters, field, k=args.top)
    titles = [f"{f}: {r:.1f}x" if np.isfinite(r) else f"{f}: -" for f, r in zip(filters, ratio)]
    paths = [
        plots.image_grid(result.images[:, 0], out / f"ascent-{name}.png", titles=titles,
                         title=f"{name}: activation maximisation ({args.steps} steps); "
                               "filter: achieved / best real image"),
        plots.top_patches_figure(patches, filters, out / f"top-{name}.png",
                                 f"{name}: top-{args.top} real patches per filter "
                                 f"(receptive field {field[0]}x{field[1]} px)"),
        plots.image_grid(maps, out / f"featuremaps-{name}.png", titles=[str(f) for f in filters],
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
    use_threads(args)
    from pathlib import Path

    from .data.images import read_image
    import numpy as np

    from .explain.features import feature_maps
    from .models.networks import input_side
    from .training.runs import write_json

    model, _, _, dataset = load_run_and_data(args)
    try:
        layers = chosen_layers(model, args.layer)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not layers:
        raise UsageError("the model has no Conv2d layer; name a layer with --layer")
    real_images = dataset.images[:args.real]
    side = input_side(model)
    if side:  # a network that crops its input sees the centre only: ascend on, and show, that square
        top = (real_images.shape[-1] - side) // 2
        real_images = np.ascontiguousarray(real_images[..., top:top + side, top:top + side])
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
        report[name] = visualise_layer(model, name, module, filters, real_images, channels[filters], args, out)
        write_json(out / "filters.json", report)  # after every layer: Ctrl-C keeps what is done
    return 0


if __name__ == "__main__":
    run_cli(main)
