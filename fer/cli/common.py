"""What every ``python -m fer.<command>`` shares: its common options, loading the run
and data it works on, and turning user errors into one line on stderr instead of a
traceback.

    def main(argv=None):
        parser = argparse.ArgumentParser(description=...)
        add_run_args(parser)                 # RUN, --checkpoint, --split, the data options
        add_threads_arg(parser)
        args = parser.parse_args(argv)
        use_threads(args)                    # before NumPy's thread pools start
        model, splits, split, dataset = load_run_and_data(args)
        ...

    if __name__ == "__main__":
        run_cli(main)

Nothing here imports NumPy or the engine at the top: a command's ``--help`` stays quick,
and ``--threads`` is read before the thread pools are made (see :mod:`fer.cli.threads`).
Only the command modules import this one; the libraries raise :mod:`fer.errors`' errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from ..errors import DataError, DataWarning, UsageError

# Errors that are the user's to fix: reported in one line, exit status 2.
USER_ERRORS = (DataError, UsageError, FileNotFoundError)

# fer.evaluation.inference.TTA_MODES, spelt out here so that --help need not import the engine (a test
# checks that the two agree).
TTA_CHOICES = ("none", "flip", "flip-shift", "ten-crop", "ten-crop-2scale")


# ------------------------------------------------------------------ options
def add_data_args(parser: argparse.ArgumentParser, val_default: str = "0.1") -> None:
    """Add --data, --skip-bad-rows and --val-fraction.

    --val-fraction is None unless typed, so that a command can fall back to a
    preset's or a trained run's own value; ``val_default`` says which in --help."""
    parser.add_argument("--data", metavar="PATH",
                        help="FER2013: fer2013.csv[.gz], the course's train.csv/test.csv, the image "
                             "release's folder, or a folder holding one of these (default: "
                             "$FER2013_DATA, then ./data/, else built-in synthetic faces)")
    parser.add_argument("--skip-bad-rows", action="store_true",
                        help="skip malformed rows or unreadable images (and report how many) "
                             "instead of stopping at the first")
    parser.add_argument("--val-fraction", type=_fraction, default=None, metavar="F",
                        help="fraction of each class of the training data held out for "
                             f"validation (default: {val_default}); 0 trains on all of it and validates "
                             "on the labelled test set (model selection on PublicTest)")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def add_threads_arg(parser: argparse.ArgumentParser,
                    help: str = "CPU threads for numba kernels and BLAS (default: all cores)") -> None:
    """Add --threads N; :func:`use_threads` applies it."""
    parser.add_argument("--threads", type=int, metavar="N", help=help)


def use_threads(args: argparse.Namespace) -> None:
    """Limit the numba and BLAS threads to ``--threads`` when it was given: call it
    first thing after parsing, before anything loads NumPy's thread pools."""
    if args.threads:
        from .threads import limit_threads

        limit_threads(args.threads)


def add_checkpoint_arg(parser: argparse.ArgumentParser, runs: str = "the run") -> None:
    """Add --checkpoint best|last (:data:`fer.training.runs.CHECKPOINTS`)."""
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help=f"which weights of {runs} (default best)")


def add_run_args(parser: argparse.ArgumentParser, images: str = "the images") -> None:
    """Add what a command that explains one trained run needs: RUN, --checkpoint, --split
    (where ``images`` come from) and the data options, which default to the run's own."""
    parser.add_argument("run", metavar="RUN", help="run folder written by python -m fer.train")
    add_checkpoint_arg(parser)
    parser.add_argument("--split", choices=("val", "test"), help=f"where {images} come from (default test)")
    add_data_args(parser, val_default="the run's own")


def add_model_args(parser: argparse.ArgumentParser, batch_size: bool = True) -> None:
    """Add what the commands that run trained models over images share (fer.evaluate,
    fer.predict, fer.serve): RUN [RUN ...] as an ensemble, --checkpoint, --tta, --threads,
    and unless told otherwise --batch-size (fer.serve has one photo at a time)."""
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="run folder(s) written by python -m fer.train; several form an ensemble "
                             "(their probabilities are averaged); none: the model bundled in the package")
    add_checkpoint_arg(parser, "each run")
    parser.add_argument("--tta", nargs="?", const="flip", default="none", choices=TTA_CHOICES,
                        help="test-time augmentation: flip (the image and its mirror; what a bare --tta "
                             "means), flip-shift (also shifted by 2 pixels: 10 views), ten-crop (corner and "
                             "centre crops and their mirrors, for networks trained on crops: fast, best, xception) "
                             "or ten-crop-2scale (those and ten of the face at 90%%: 20 views)")
    if batch_size:
        parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    add_threads_arg(parser)


def bare_tta_before_run(argv: list[str] | None) -> list[str]:
    """``--tta RUN ...`` with the mode left out: argparse would take the run folder for the
    mode and reject it, so put the bare flag's ``flip`` in.  A token that is no folder is
    left alone, for argparse to name as an unknown mode."""
    argv = list(sys.argv[1:] if argv is None else argv)
    fixed = []
    for arg, following in zip(argv, argv[1:] + [None]):
        fixed.append(arg)
        if arg == "--tta" and following not in (None, *TTA_CHOICES) and os.path.isdir(following):
            fixed.append("flip")
    return fixed


# ------------------------------------------------------------------ the run and its data
def data_settings(args: argparse.Namespace, config: dict) -> dict:
    """A run's own data settings (so its validation split is the one it saw), replaced by
    --data / --val-fraction / --skip-bad-rows where given."""
    settings = dict(config["settings"])
    if args.data is not None:
        settings["data"] = args.data
    if args.val_fraction is not None:
        settings["val_fraction"] = args.val_fraction
    settings["skip_bad_rows"] = args.skip_bad_rows or settings.get("skip_bad_rows", False)
    return settings


def load_run_and_data(args: argparse.Namespace, need_data: bool = True):
    """(model, splits, split name, Dataset) of a command made by :func:`add_run_args`: the
    run's --checkpoint, and its data as it was trained on unless the data options say
    otherwise; the last three None when not ``need_data``."""
    from ..training.runs import load_data, load_model, pick_split, read_config

    model, _ = load_model(args.run, args.checkpoint)
    if not need_data:
        return model, None, None, None
    splits = load_data(data_settings(args, read_config(args.run)))
    if splits.synthetic:
        print(f"note: using the built-in synthetic faces ({splits.source}), not FER2013", flush=True)
    name, dataset = pick_split(splits, args.split)
    return model, splits, name, dataset


def load_models(args: argparse.Namespace):
    """(models, names) of a command made by :func:`add_model_args`: its RUNs' --checkpoint, or
    the bundled model when no RUN was given (said once, on stderr)."""
    from ..api.bundle import load_models as load

    models, names = load(args.runs, args.checkpoint)
    if not args.runs:
        print(f"note: no RUN given: using {names[0]}", file=sys.stderr, flush=True)
    return models, names


# ------------------------------------------------------------------ running a command
def run_cli(main_fn, argv: list[str] | None = None) -> None:
    """Run ``main_fn(argv)`` and exit with its return value (None: 0).

    A user error prints ``error: <message>`` to stderr and exits 2; Ctrl-C
    exits 130 (the shell's convention) without a traceback. DataWarnings
    print as ``warning: <message>``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = _plain_data_warnings(warnings.showwarning)
        try:
            status = main_fn(argv)
        except USER_ERRORS as e:
            message = f"{e.filename}: {e.strerror}" if isinstance(e, FileNotFoundError) and e.filename else e
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(file=sys.stderr)   # end the line ^C left behind
            sys.exit(130)
    sys.exit(status or 0)


def _plain_data_warnings(show):
    """Wrap ``warnings.showwarning`` so that DataWarnings print as one line
    (no file name and source line: they are about the data, not the code)."""
    def show_plain(message, category, *args, **kwargs):
        if issubclass(category, DataWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)
    return show_plain
