"""``python -m fer.evaluate [RUN ...]``: score trained models (without RUN: the bundled model)
on a labelled split.

Prints the accuracy, per-class precision/recall/F1 and the most-confused pairs in
words, and writes next to the run (or into ``--out``)::

    eval-<split>[-tta-<mode>].json                 every number printed
    eval-<split>[-tta-<mode>].txt                  the printed report
    eval-<split>[-tta-<mode>]-confusion.csv        counts, rows = true class
    eval-<split>[-tta-<mode>]-confusion-rows.csv   the same, each row divided by its total
    eval-<split>[-tta-<mode>]-confusion.png

Several RUNs form an ensemble: their class probabilities are averaged, the
cheapest way to gain a point or two of accuracy.  ``--tta`` also averages over
each image's mirror (and, with ``--tta flip-shift``, small shifts; ``--tta ten-crop``: crops).
"""
import argparse
import sys

from .cli.common import (add_data_args, add_model_args, bare_tta_before_run, data_settings, load_models, run_cli,
                         use_threads)

BUNDLED_CONFIG = {"settings": {"data": None, "val_fraction": 0.1, "skip_bad_rows": False, "synthetic_size": None},
                  "data": {"source": "the data at hand"}}
"""The data settings of the bundled model, which carries no run folder: --data, $FER2013_DATA,
./data/, else the built-in synthetic faces, as ``fer.train`` finds its data."""


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
                                      "runs/<date>-ensemble/; for the bundled model, runs/<date>-bundled/)")
    return parser


def write_outputs(report, out_dir, prefix, title):
    """The JSON, text, CSV and PNG files of one evaluation."""
    from pathlib import Path

    import numpy as np

    from . import LABELS
    from .evaluation.charts import plot_confusion
    from .evaluation.metrics import format_report, row_normalise
    from .training.runs import write_json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{prefix}.json", report)
    (out_dir / f"{prefix}.txt").write_text(f"{title}\n\n{format_report(report)}\n")
    counts = np.array(report["confusion_matrix"])
    header = "true\\predicted," + ",".join(LABELS)
    for suffix, table, fmt in (("confusion", counts, "%d"), ("confusion-rows", row_normalise(counts), "%.4f")):
        rows = [f"{name}," + ",".join(fmt % v for v in row) for name, row in zip(LABELS, table)]
        (out_dir / f"{prefix}-{suffix}.csv").write_text("\n".join([header, *rows]) + "\n")
    plot_confusion(counts, LABELS, out_dir / f"{prefix}-confusion.png", title=title)
    return out_dir


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    use_threads(args)
    from .evaluation.inference import predict_proba
    from .evaluation.metrics import classification_report, format_report
    from .training.runs import default_run_dir, load_data, pick_split, read_config

    # the bundled model (no RUN) has no data of its own: --data, else where fer.train would look
    configs = [read_config(run) for run in args.runs] or [BUNDLED_CONFIG]
    models, names = load_models(args)
    sources = {c["data"]["source"] for c in configs}
    if len(sources) > 1 and args.data is None:
        print(f"note: the runs were trained on different data ({', '.join(sorted(sources))}); "
              f"scoring on the first run's", file=sys.stderr)
    splits = load_data(data_settings(args, configs[0]))
    split, dataset = pick_split(splits, args.split)

    probs = predict_proba(models, dataset.images, batch_size=args.batch_size, tta=args.tta)
    report = classification_report(dataset.labels, probs.argmax(axis=1))
    report.update(split=split, source=splits.source, runs=names,
                  checkpoint=args.checkpoint, tta=args.tta,
                  mean_confidence=float(probs.max(axis=1).mean()))
    what = "ensemble of " + ", ".join(names) if len(names) > 1 else names[0]
    title = f"{what}: {split} split of {splits.source}" + (f", TTA {args.tta}" if args.tta != "none" else "")
    print(title + "\n\n" + format_report(report))

    prefix = f"eval-{split}" + (f"-tta-{args.tta}" if args.tta != "none" else "")
    out_dir = args.out or (args.runs[0] if len(args.runs) == 1 else
                           default_run_dir("ensemble" if args.runs else "bundled"))
    write_outputs(report, out_dir, prefix, title)
    print(f"\nwrote {prefix}.json, .txt, -confusion.csv, -confusion-rows.csv and -confusion.png into {out_dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
