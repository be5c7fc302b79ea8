"""``python -m fer.evaluate RUN [RUN ...]``: score trained models on a labelled split.

Prints the accuracy, per-class precision/recall/F1 and the most-confused pairs in
words, and writes next to the run (or into ``--out``)::

    eval-<split>[-tta-<mode>].json                 every number printed
    eval-<split>[-tta-<mode>].txt                  the printed report
    eval-<split>[-tta-<mode>]-confusion.csv        counts, rows = true class
    eval-<split>[-tta-<mode>]-confusion-rows.csv   the same, each row divided by its total
    eval-<split>[-tta-<mode>]-confusion.png

Several RUNs form an ensemble: their class probabilities are averaged, the
cheapest way to gain a point or two of accuracy.  ``--tta`` also averages over
each image's mirror (and, with ``--tta flip-shift``, small shifts).
"""
import argparse
import os
import sys

from .cli_common import add_data_args, run_cli

# fer.inference.TTA_MODES, spelt out here so that --help need not import the engine (a test
# checks that the two agree).
TTA_CHOICES = ("none", "flip", "flip-shift")


def add_model_args(parser):
    """The arguments shared by the commands that run trained models (evaluate, predict)."""
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run folder(s) written by python -m fer.train; several form an ensemble "
                             "(their probabilities are averaged)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which weights of each run (default best)")
    parser.add_argument("--tta", nargs="?", const="flip", default="none", choices=TTA_CHOICES,
                        help="test-time augmentation: flip (the image and its mirror; what a bare --tta "
                             "means) or flip-shift (also shifted by 2 pixels: 10 views)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    parser.add_argument("--threads", type=int, help="CPU threads for numba kernels and BLAS")


def bare_tta_before_run(argv):
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.evaluate",
        description="Evaluate one trained run, or an ensemble of several, on the validation or test split: "
                    "accuracy, per-class precision/recall/F1, confusion matrix (PNG and CSV), and the "
                    "most-confused pairs in words.")
    add_model_args(parser)
    add_data_args(parser, val_default="the run's own")
    parser.add_argument("--split", choices=("val", "test"),
                        help="which split to score (default: test if it has labels, else val)")
    parser.add_argument("--out", help="folder for the files (default: the run folder; for an ensemble, "
                                      "runs/<date>-ensemble/)")
    return parser


def data_settings(args, config):
    """The run's own data settings (so its validation split is the one it saw),
    replaced by --data / --val-fraction / --skip-bad-rows where given."""
    settings = dict(config["settings"])
    if args.data is not None:
        settings["data"] = args.data
    if args.val_fraction is not None:
        settings["val_fraction"] = args.val_fraction
    settings["skip_bad_rows"] = args.skip_bad_rows or settings.get("skip_bad_rows", False)
    return settings


def pick_split(splits, name):
    """The split to score and its name; DataError if it has no labels."""
    from .data import DataError

    if name is None:
        name = "test" if splits.test is not None else "val"
    dataset = splits.test if name == "test" else splits.val
    if dataset is None or not len(dataset):
        raise DataError(f"the data ({splits.source}) has no labelled {name} split; try --split val")
    return name, dataset


def write_outputs(report, out_dir, prefix, title):
    """The JSON, text, CSV and PNG files of one evaluation."""
    from pathlib import Path

    import numpy as np

    from . import LABELS, plots
    from .metrics import format_report, row_normalise
    from .runs import write_json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{prefix}.json", report)
    (out_dir / f"{prefix}.txt").write_text(f"{title}\n\n{format_report(report)}\n")
    counts = np.array(report["confusion_matrix"])
    header = "true\\predicted," + ",".join(LABELS)
    for suffix, table, fmt in (("confusion", counts, "%d"), ("confusion-rows", row_normalise(counts), "%.4f")):
        rows = [f"{name}," + ",".join(fmt % v for v in row) for name, row in zip(LABELS, table)]
        (out_dir / f"{prefix}-{suffix}.csv").write_text("\n".join([header, *rows]) + "\n")
    plots.plot_confusion(counts, LABELS, out_dir / f"{prefix}-confusion.png", title=title)
    return out_dir


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    if args.threads:
        from .threads import limit_threads
        limit_threads(args.threads)
    from .inference import predict_proba
    from .metrics import classification_report, format_report
    from .runs import default_run_dir, load_data, load_model, read_config

    configs = [read_config(run) for run in args.runs]
    models = [load_model(run, args.checkpoint)[0] for run in args.runs]
    sources = {c["data"]["source"] for c in configs}
    if len(sources) > 1 and args.data is None:
        print(f"note: the runs were trained on different data ({', '.join(sorted(sources))}); "
              f"scoring on the first run's", file=sys.stderr)
    splits = load_data(data_settings(args, configs[0]))
    split, dataset = pick_split(splits, args.split)

    probs = predict_proba(models, dataset.images, batch_size=args.batch_size, tta=args.tta)
    report = classification_report(dataset.labels, probs.argmax(axis=1))
    report.update(split=split, source=splits.source, runs=[str(r) for r in args.runs],
                  checkpoint=args.checkpoint, tta=args.tta,
                  mean_confidence=float(probs.max(axis=1).mean()))
    what = "ensemble of " + ", ".join(args.runs) if len(args.runs) > 1 else args.runs[0]
    title = f"{what}: {split} split of {splits.source}" + (f", TTA {args.tta}" if args.tta != "none" else "")
    print(title + "\n\n" + format_report(report))

    prefix = f"eval-{split}" + (f"-tta-{args.tta}" if args.tta != "none" else "")
    out_dir = args.out or (args.runs[0] if len(args.runs) == 1 else default_run_dir("ensemble"))
    write_outputs(report, out_dir, prefix, title)
    print(f"\nwrote {prefix}.json, .txt, -confusion.csv, -confusion-rows.csv and -confusion.png into {out_dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
