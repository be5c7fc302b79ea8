"""``python -m fer.saliency RUN``: saliency maps of a trained model, and their sanity checks.

Writes one PNG grid per method into ``RUN/saliency/`` (or ``--out``): each image with
its map and the map over the face, its true and predicted label.  With ``--sanity``
it also runs the three sanity checks on a balanced sample of the split, prints their
numbers and writes ``sanity.json`` and ``deletion.png``.

The methods are :mod:`fer.explain.saliency_maps`, the checks :mod:`fer.explain.sanity`,
the figures :mod:`fer.explain.plots`; this module is only the command line.
"""
import argparse

from .cli.common import (UsageError, add_run_args, add_threads_arg, load_run_and_data, run_cli,
                         use_threads)
from .explain.options import METHODS


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.saliency",
        description="Saliency maps of a trained model: one PNG grid per method (image, heat map, "
                    "overlay, true and predicted label), and with --sanity the three sanity checks "
                    "(model randomisation, deletion, synthetic cue masks), each printed as numbers.")
    add_run_args(parser, images="the images")
    parser.add_argument("--method", default="all",
                        help=f"comma-separated methods out of {','.join(METHODS)}, or all (default)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--per-class", type=int, default=3, metavar="N",
                       help="explain N images of each class from the data split (default 3)")
    which.add_argument("--input", metavar="IMAGE",
                       help="explain one image file instead (any size, colour or grey)")
    parser.add_argument("--layer", help="Grad-CAM layer: a named_modules() name or conv1..convK "
                                        "(default: the activations of the last conv block)")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad noisy samples (default 25)")
    parser.add_argument("--noise", type=float, default=0.15,
                        help="SmoothGrad noise, as a share of the image's value range (default 0.15)")
    parser.add_argument("--steps", type=int, default=32, help="integrated-gradients steps (default 32)")
    parser.add_argument("--baseline", type=float, default=0.0,
                        help="integrated-gradients baseline grey value in [0, 1] (default 0: black)")
    parser.add_argument("--sanity", action="store_true", help="also run the sanity checks and print their numbers")
    parser.add_argument("--cascade", action="store_true",
                        help="with --sanity: also the cascading randomisation (maps once per layer with "
                             "parameters, re-drawn from the top; cascade.png)")
    parser.add_argument("--sanity-images", type=int, default=70, metavar="N",
                        help="images the sanity checks use (default 70, balanced over the classes)")
    parser.add_argument("--out", help="folder for the PNGs (default RUN/saliency)")
    add_threads_arg(parser)
    return parser


def method_options(args, method):
    """The keyword options of ``method`` from the command line."""
    return {"smoothgrad": {"samples": args.samples, "noise_level": args.noise},
            "gradcam": {"layer": args.layer},
            "ig": {"steps": args.steps, "baseline": args.baseline}}.get(method, {})


def parse_methods(text):
    methods = list(METHODS) if text == "all" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"--method: unknown {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(METHODS)} or all")
    return methods


def balanced_indices(labels, per_class, seed=None):
    """``per_class`` indices of each class, class by class: the first ones, or with a
    ``seed`` a random choice."""
    import numpy as np

    rng = None if seed is None else np.random.default_rng(seed)
    chosen = []
    for k in np.unique(labels[labels >= 0]):
        where = np.flatnonzero(labels == k)
        chosen.extend(where[:per_class] if rng is None else np.sort(rng.permutation(where)[:per_class]))
    return np.array(chosen, dtype=np.int64)


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args)
    from pathlib import Path

    import numpy as np

    from .data.images import read_image
    from .explain import plots
    from .explain.layers import as_float_images, find_layer, model_logits
    from .explain.saliency_maps import saliency_maps

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
        path = plots.saliency_figure(x[:, 0], maps, out / f"saliency-{method}.png", method,
                                     labels, predictions, per_row=min(args.per_class, 4))
        print(f"{method}: {path}")
    if args.sanity:
        run_sanity(args, model, dataset, split, methods, out)
    return 0


def run_sanity(args, model, dataset, split, methods, out):
    """The three sanity checks on a balanced sample of the split; numbers printed and
    written to sanity.json, deletion curves to deletion.png."""
    import numpy as np

    from .explain import plots
    from .explain.sanity import as_json, run_checks
    from .training.runs import write_json

    per_class = max(1, int(np.ceil(args.sanity_images / 7)))
    index = balanced_indices(dataset.labels, per_class, seed=0)[:args.sanity_images]
    masks = None if dataset.masks is None else dataset.masks[index]
    print(f"sanity checks on {len(index)} {split} images"
          + ("" if masks is not None else " (no cue masks: real data, so check 3 is skipped)")
          + "; the randomisation checks compare only the pixels the model sees (a map non-zero there for "
            "some image under either model), not a crop's border")
    results = {}
    for method in methods:
        try:
            results.update(run_checks(model, dataset.images[index], masks, (method,),
                                      options={method: method_options(args, method)}, cascade=args.cascade))
        except ValueError as error:
            print(f"{method}: skipped ({error})")
    write_json(out / "sanity.json", as_json(results))
    if results:
        plots.deletion_figure([found["deletion"] for found in results.values()], out / "deletion.png")
        if args.cascade:
            plots.cascade_figure([found["cascade"] for found in results.values()], out / "cascade.png")
            print(f"cascade: {out / 'cascade.png'}")
    print(f"sanity: {out / 'sanity.json'}, {out / 'deletion.png'}")
    return results


if __name__ == "__main__":
    run_cli(main)
