"""``python -m fer.export [RUN] --format onnx|bundle``: a trained model for use elsewhere.

* ``--format onnx`` (``--output``, default ``model.onnx``): the network as an ONNX graph
  (:mod:`fer.onnx_export`): input ``faces`` float32 (N, 1, S, S) grey pixels 0-255, output
  ``logits`` (N, 7), the class names in its metadata.  Without RUN: the bundled model.
  Needs the ``onnx`` package (``pip install -e ".[onnx]"``).
* ``--format bundle`` (``--output``, default the package's ``fer/bundled/``): the run's weights,
  the manifest with their SHA-256 and accuracy, and MODEL_CARD.md (:mod:`fer.api.bundle`);
  the accuracy is measured here, on the labelled test split of the run's data.
"""
import argparse

from .cli.common import TTA_CHOICES, add_checkpoint_arg, add_threads_arg, run_cli, use_threads
from .errors import UsageError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.export",
        description="Export a trained run: as an ONNX graph (the bundled model when RUN is omitted), or as "
                    "the model bundled inside the package (weights, SHA-256 manifest, model card).")
    parser.add_argument("run", nargs="?", metavar="RUN",
                        help="run folder written by python -m fer.train, or a bundle folder (default for "
                             "--format onnx: the bundled model)")
    parser.add_argument("--format", choices=("onnx", "bundle"), required=True, help="what to write")
    parser.add_argument("--output", metavar="PATH",
                        help="the ONNX file (default model.onnx) or the bundle folder (default: the package's "
                             "fer/bundled/)")
    add_checkpoint_arg(parser)
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                        help="--format bundle: how the weights are stored (default float32)")
    parser.add_argument("--tta", choices=TTA_CHOICES[1:],
                        help="--format bundle: the test-time augmentation the model card reports beside plain "
                             "accuracy (default: ten-crop for networks trained on crops, else flip)")
    parser.add_argument("--data", metavar="PATH",
                        help="--format bundle: the data to score on (default: the run's own)")
    add_threads_arg(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    use_threads(args)
    if args.format == "bundle":
        from .api.bundle import describe, write_bundle

        if args.run is None:
            raise UsageError("--format bundle needs the RUN folder to bundle")
        manifest = write_bundle(args.run, args.output, args.checkpoint, args.dtype, args.tta, args.data)
        where = args.output or "fer/bundled/"
        print(f"bundled {args.run} into {where}: {describe(manifest)}; {manifest['weights']['bytes']:,} bytes, "
              f"SHA-256 {manifest['weights']['sha256']}")
        return 0
    from .api.bundle import load_models
    from .onnx_export import OPSET, export_onnx
    from .onnx_export.nodes import import_onnx

    import_onnx()   # the missing package is named before any model is loaded
    models, names = load_models([args.run] if args.run else [], args.checkpoint)
    output = args.output or "model.onnx"
    export_onnx(models[0], output, {"source": names[0]})
    print(f"wrote {output} (ONNX opset {OPSET}) of {names[0]}")
    return 0


if __name__ == "__main__":
    run_cli(main)
