"""Compare training runs: validation accuracy against wall-clock minutes, one line per run.

    python -m fer.compare RUN [RUN ...] [--out accuracy-vs-minutes.png]

Reads each run's own ``history.csv`` (its epochs' seconds and validation accuracy) and
``config.json`` (its preset or model, for the legend), prints a table of where each run
stood and draws them on one set of axes.
"""
import argparse
import csv
import sys
from pathlib import Path

from .errors import DataError


def read_curve(run_dir):
    """(label, minutes, accuracies) of one run: minutes cumulative at each epoch's end."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise DataError(f"{run_dir}: no history.csv (not a training run, or one that finished no epoch)")
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        raise DataError(f"{path}: no epochs recorded")
    try:
        seconds = [float(row["seconds"]) for row in rows]
        accuracy = [float(row["val_acc"]) for row in rows]
    except (KeyError, ValueError) as error:
        raise DataError(f"{path}: not a history file of fer.train ({error})") from None
    minutes = [sum(seconds[:i + 1]) / 60 for i in range(len(seconds))]
    from .training.runs import read_config

    settings = read_config(run_dir).get("settings", {})
    label = settings.get("preset") or settings.get("model", Path(run_dir).name)
    return label, minutes, accuracy


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m fer.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by fer.train")
    parser.add_argument("--out", default="accuracy-vs-minutes.png", help="the PNG to write")
    parser.add_argument("--title", default="", help="a title for the figure")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .evaluation.charts import plot_accuracy_vs_minutes

    curves = {}
    try:
        for run in args.runs:
            label, minutes, accuracy = read_curve(run)
            if label in curves:             # two runs of one preset: the folder tells them apart
                label = f"{label}/{Path(run).name}"
            while label in curves:
                label += "'"
            curves[label] = (minutes, accuracy)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{'run':<12} {'epochs':>6} {'minutes':>8} {'last':>7} {'best':>7}")
    for label, (minutes, accuracy) in curves.items():
        print(f"{label:<12} {len(minutes):>6} {minutes[-1]:>8.1f} {accuracy[-1]:>7.2%} {max(accuracy):>7.2%}")
    print(f"wrote {plot_accuracy_vs_minutes(curves, args.out, args.title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
