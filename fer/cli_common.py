"""What every ``python -m fer.<command>`` shares: the data options, and
turning user errors into one line on stderr instead of a traceback.

    def main(argv=None):
        parser = argparse.ArgumentParser(description=...)
        add_data_args(parser)
        args = parser.parse_args(argv)
        splits = load_splits(args.data, skip_bad_rows=args.skip_bad_rows)
        ...

    if __name__ == "__main__":
        run_cli(main)
"""

from __future__ import annotations

import argparse
import sys
import warnings

from fer.formats import DataError, DataWarning


class UsageError(ValueError):
    """A mistake in what the user asked for (a bad option value, a checkpoint
    that does not fit the model); reported like a DataError."""


# Errors that are the user's to fix: reported in one line, exit status 2.
USER_ERRORS = (DataError, UsageError, FileNotFoundError)


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
