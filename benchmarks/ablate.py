"""The accuracy study's ablations: one change at a time against a base preset, each row one command.

    python benchmarks/ablate.py --data $D --rows baseline,ema,erase --seeds 0,1          # run them
    python benchmarks/ablate.py --data $D --dry-run                                      # print the commands
    python benchmarks/ablate.py --data $D --change wide="--model-config '{\"widths\": [96, 192, 384, 768]}'"

Every row is ``python -m fer.train --preset BASE --epochs N --max-minutes 0 --seed S
--val-fraction 0 --data D --out OUT/<row>-s<seed> --teacher none <the row's flags>``: a fixed
number of epochs (not a time budget, so the machine's pace that day does not decide the result),
validated on PublicTest.  Then ``python -m fer.evaluate`` scores the best weights on PublicTest
alone, with flips, with ten crops and with ten crops at two scales (a ``--snapshots`` row: its
snapshots' ensemble).  The rows run one after another; a row whose folder is complete (metrics.json and
the four evaluations) is not run again, an interrupted one is resumed (``--resume``), so the
script can be stopped and restarted at will.

At the end it collects, per row: the change, the command, epochs, minutes, images/s, PublicTest
alone / flip / ten-crop / two-scale ten-crop, training accuracy of the last epoch, macro F1
(alone); and writes the table into the "Ablations" section of ``--results`` (docs/RESULTS.md),
replacing the table of the same ``--out`` folder if it is there (the section and its protocol
are created when missing).  A measurement tool, not a test: nothing here asserts a result.
"""
import argparse
import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

# The base is the preset without a teacher, as the rows measured it: distillation is a row of its
# own (the presets adopted it after), and a row's --teacher comes later on the line and wins.
BASE_FLAGS = ["--teacher", "none"]

CANDIDATES = {
    # name: (the flags that make the change, what it tests)
    "baseline": ("", "the base preset as it is (AdamW, one-cycle, label smoothing 0.1)"),
    "sgd": ("--optimizer sgd --lr 0.05 --weight-decay 5e-4", "SGD with Nesterov momentum 0.9, one-cycle"),
    "sgd-cosine": ("--optimizer sgd --lr 0.05 --weight-decay 5e-4 --schedule cosine",
                   "SGD with Nesterov momentum, cosine schedule"),
    "no-decay-bn": ("--no-decay-norm-bias", "no weight decay on batch-norm parameters and biases"),
    "ema": ("--ema 0.999", "EMA of the weights (decay 0.999, about 2 epochs), its curve picks the epoch"),
    "swa": ("--swa-last 0.25", "stochastic weight averaging over the last quarter of the epochs"),
    "erase": ("--erase 0.5", "random erasing, probability 0.5"),
    "mixup": ("--mixup 0.2", "mixup, alpha 0.2"),
    "cutmix": ("--cutmix 0.2", "cutmix, alpha 0.2"),
    "pose": ("--augment pose", "rotation (10 degrees) and zoom (10%) on the crops, besides the flips"),
    "balanced": ("--balanced-sampling", "every class drawn equally often"),
    "class-weights": ("--class-weights balanced", "the loss weighted by N / (7 n_class)"),
    "snapshots": ("--snapshots 3", "three cosine cycles, their snapshots ensembled"),
    "distill": ("--teacher {teacher} --distill-alpha 0.5 --distill-temperature 4",
                "distilled from --teacher-runs' soft labels (cached; the cost in metrics.json)"),
    "narrow": ("--model-config '{\"widths\": [48, 96, 192, 384]}'",
               "the fast network at 0.75x width (what --min-epochs trades on a slow day)"),
    "vgg-crops": ("--model vgg --model-config '{\"widths\": [32, 64, 128, 256], \"dense\": [256], "
                  "\"input_size\": 40, \"conv_dropout\": [0.0, 0.1, 0.1, 0.2], \"dense_dropout\": 0.3}'",
                  "depth for width: the narrow VGG (two 3x3 convs a block) on the same 40x40 crops"),
    "xception": ("--preset xception", "the xception preset (any-size network), for the row below"),
    "xception-progressive": ("--preset xception --progressive",
                             "xception with faces of 36, 42, then 48 pixels in the thirds of the run"),
}

TTAS = ("none", "flip", "ten-crop", "ten-crop-2scale")

SECTION = "## Ablations"

PROTOCOL = """## Ablations

One change at a time against the `fast` preset without its teacher (`--teacher none`: the recipe
before distillation was adopted), each row one command of `benchmarks/ablate.py` (it prints them
with `--dry-run`):

- **fixed epochs**: 15 epochs of the `fast` network (`--epochs 15 --max-minutes 0`), so the
  machine's pace that day does not decide the result; trained on Training, validated on
  PublicTest (`--val-fraction 0`);
- **seeds**: seed 0 for every row; the baseline's own two seeds give the noise, and a row that
  gains less than a point over it is not adopted without a second seed (1);
- **scores**: PublicTest alone, with flips, with ten crops and with ten crops at two scales
  (`python -m fer.evaluate RUN --tta ...`), the training accuracy of the last epoch (how far the
  run is from overfitting), and macro F1 (what class weighting aims at);
- **winners confirmed** at full length: the adopted changes together, in the 60-minute (`fast`)
  and 120-minute (`best`) budgets, with their curves in `docs/runs/`; `fast` on two seeds alone
  on the machine (and four side by side), `best` on one (its second two hours went to a third
  generation, a student of it).

### A slow day

The hour's result should not depend on whether the machine runs at 150 or 350 images/s. The
schedule:

1. measure the pace before training (the probe of `fer.training.budget`: a few real training
   steps), then after every epoch (the budget's refit);
2. fix the epochs from it: those of the preset's network that fit the budget, but never fewer than
   a floor (say 20 for `fast`: at 16-27 epochs the one-hour curves were still rising 0.3-0.5 points
   an epoch);
3. when the floor does not fit, buy the epochs with a cheaper step rather than a shorter schedule:
   `--min-epochs N` (with `--max-minutes`) narrows the network's convolutions (x0.875, x0.75,
   x0.625; a convolution's multiply-adds scale with the square of its width, x0.75 is about 0.56x)
   until N epochs fit at the probed pace (`fer.training.pace`); for a network that takes any input
   size, `--progressive` also makes the first two thirds of the run cheaper (faces of 36 and 42
   pixels);
4. the choice is recorded in config.json (`model_config` and `slow_day`), so the run is
   reproducible on any machine with `--model-config '{"widths": [...]}' --epochs E --max-minutes 0`.

What it costs: the slow day trains a smaller or lower-resolution network for the same epochs;
the ablation rows measure how much each trade loses (a `--progressive` row and a narrow-width
row at 15 epochs), so the trade is chosen on evidence.
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python benchmarks/ablate.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="FER2013 csv(.gz) (Training + PublicTest rows)")
    parser.add_argument("--preset", default="fast", help="the base preset (default fast)")
    parser.add_argument("--epochs", type=int, default=15, help="fixed epochs of every row (default 15)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--rows", default=",".join(CANDIDATES),
                        help="comma-separated rows of CANDIDATES (default: all); see --list")
    parser.add_argument("--change", action="append", default=[], metavar="NAME=FLAGS",
                        help="an extra row: its name and its fer.train flags, in shell syntax (repeatable)")
    parser.add_argument("--teacher-runs", help="RUN[,RUN...]: the distill row's teachers (without it the row is "
                                               "skipped)")
    parser.add_argument("--out", default="runs/ablate", help="the rows' run folders go here (default runs/ablate)")
    parser.add_argument("--results", default="docs/RESULTS.md", help="where the table goes (default docs/RESULTS.md)")
    parser.add_argument("--threads", type=int, help="passed to fer.train and fer.evaluate")
    parser.add_argument("--dry-run", action="store_true", help="print the commands of the rows not yet done")
    parser.add_argument("--table", action="store_true",
                        help="run nothing: write the table of the rows already done (rows may have run in "
                             "separate processes, e.g. two at a time with --threads 1)")
    parser.add_argument("--list", action="store_true", help="list the candidate rows and exit")
    return parser.parse_args(argv)


def plan_rows(args):
    """[(name, flags list, description)] of the rows asked for, in order."""
    changes = dict(CANDIDATES)
    for item in args.change:
        name, _, flags = item.partition("=")
        if not name or not _:
            raise SystemExit(f"error: --change {item!r}: expected NAME=FLAGS")
        changes[name] = (flags, "custom: " + flags)
    names = [n for n in args.rows.split(",") if n] + [item.partition("=")[0] for item in args.change]
    rows = []
    for name in dict.fromkeys(names):  # in order, once
        if name not in changes:
            raise SystemExit(f"error: unknown row {name!r}; choose from {', '.join(changes)}")
        flags, description = changes[name]
        if "{teacher}" in flags:
            if not args.teacher_runs:
                print(f"note: row {name} skipped (give --teacher-runs RUN[,RUN...])", file=sys.stderr)
                continue
            flags = flags.replace("{teacher}", args.teacher_runs)
        rows.append((name, shlex.split(flags), description))
    return rows


def run_dir(args, name, seed):
    return Path(args.out) / f"{name}-s{seed}"


def threads(args):
    return ["--threads", str(args.threads)] if args.threads else []


def train_command(args, flags, seed, folder):
    """The row's fer.train command; a folder holding an interrupted run is resumed instead."""
    if (folder / "config.json").is_file():
        return ["python", "-m", "fer.train", "--resume", str(folder), "--no-progress", *threads(args)]
    return ["python", "-m", "fer.train", "--preset", args.preset, "--data", args.data, "--val-fraction", "0",
            "--epochs", str(args.epochs), "--max-minutes", "0", "--seed", str(seed), "--out", str(folder),
            "--no-progress", *threads(args), *BASE_FLAGS, *flags]


def scored_models(folder, flags):
    """What a row's evaluation scores: its snapshots' ensemble (a --snapshots K row), else the run."""
    if "--snapshots" in flags:
        return [str(folder / f"snapshot-{k}") for k in range(1, int(flags[flags.index("--snapshots") + 1]) + 1)]
    return [str(folder)]


def eval_file(folder, tta):
    return folder / ("eval-test.json" if tta == "none" else f"eval-test-tta-{tta}.json")


def evaluate_commands(args, folder, flags):
    """The fer.evaluate commands of the scores not yet in ``folder``."""
    return [["python", "-m", "fer.evaluate", *scored_models(folder, flags), "--split", "test", "--tta", tta,
             "--out", str(folder), *threads(args)] for tta in TTAS if not eval_file(folder, tta).is_file()]


def trained(folder):
    """Whether the row's training is over (metrics.json written, not by an interruption)."""
    path = folder / "metrics.json"
    return path.is_file() and json.loads(path.read_text()).get("status") not in ("interrupted", None)


def collect(folder):
    """One row's figures from its run folder (None where a file is missing)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    with open(folder / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    scores = {}
    for tta in TTAS:
        path = eval_file(folder, tta)
        scores[tta] = json.loads(path.read_text()) if path.is_file() else None
    alone = scores["none"]
    return {"command": config.get("command", ""), "epochs": metrics.get("epochs_run"),
            "minutes": (metrics.get("wall_seconds") or 0) / 60, "images_per_s": metrics.get("images_per_s"),
            "train_acc": float(history[-1]["train_acc"]) if history else None,
            "macro_f1": alone["macro_f1"] if alone else metrics.get("val_macro_f1"),
            **{tta: (s["accuracy"] if s else None) for tta, s in scores.items()}}


def percent(value):
    return "-" if value is None else f"{value:.2%}"


def table(args, rows, seeds):
    """The markdown table of the rows done so far, one line per row and seed, and the mean per row."""
    lines = [f"Base `{args.preset}`, {args.epochs} epochs, PublicTest; run folders in `{args.out}`.", "",
             "| change | seed | flags | epochs | minutes | images/s | PublicTest | flip | ten-crop | ten-crop 2 scales "
             "| train acc (last epoch) | macro F1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    means = []
    for name, flags, description in rows:
        accs = []
        for seed in seeds:
            folder = run_dir(args, name, seed)
            if not (folder / "metrics.json").is_file():
                continue
            r = collect(folder)
            macro_f1 = "-" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
            accs.append(r["none"])
            lines.append(f"| {name}: {description} | {seed} | `{shlex.join(flags)}` | {r['epochs']} | "
                         f"{r['minutes']:.1f} | {r['images_per_s']:.0f} | **{percent(r['none'])}** | "
                         f"{percent(r['flip'])} | {percent(r['ten-crop'])} | {percent(r['ten-crop-2scale'])} | "
                         f"{percent(r['train_acc'])} | {macro_f1} |")
        accs = [a for a in accs if a is not None]
        if accs:
            means.append((name, sum(accs) / len(accs), len(accs)))
    if means:
        base = dict((n, m) for n, m, _ in means).get("baseline")
        lines += ["", "| change | seeds | mean PublicTest | against the baseline |", "|---|---|---|---|"]
        lines += [f"| {n} | {k} | {m:.2%} | {'-' if base is None else f'{(m - base) * 100:+.2f} points'} |"
                  for n, m, k in means]
    return "\n".join(lines)


def write_table(path, out, text):
    """Put ``text`` in the Ablations section of ``path`` between markers named after ``out``,
    replacing what the markers held; the section (with its protocol) is created when missing."""
    path = Path(path)
    doc = path.read_text() if path.is_file() else "# Results\n"
    begin, end = f"<!-- ablate: {out} -->", f"<!-- /ablate: {out} -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        if SECTION not in doc:
            doc = doc.rstrip("\n") + "\n\n" + PROTOCOL
        start = doc.index(SECTION) + len(SECTION)
        following = doc.find("\n## ", start)
        at = len(doc) if following < 0 else following
        doc = doc[:at].rstrip("\n") + "\n\n" + block + "\n" + doc[at:]
    path.write_text(doc if doc.endswith("\n") else doc + "\n")


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, (flags, description) in CANDIDATES.items():
            print(f"{name:<22} {flags or '(none)':<60} {description}")
        return 0
    rows, seeds = plan_rows(args), [int(s) for s in args.seeds.split(",") if s]
    for name, flags, _ in ([] if args.table else rows):
        for seed in seeds:
            folder = run_dir(args, name, seed)
            training = [] if trained(folder) else [train_command(args, flags, seed, folder)]
            if args.dry_run:
                for command in training + evaluate_commands(args, folder, flags):
                    print(shlex.join(command))
                continue
            for command in training + evaluate_commands(args, folder, flags):
                folder.parent.mkdir(parents=True, exist_ok=True)
                print(f"== {name} seed {seed}: {shlex.join(command)}", flush=True)
                quiet = subprocess.DEVNULL if command[2] == "fer.evaluate" else None  # its report is in the files
                subprocess.run([sys.executable, *command[1:]], check=True, stdout=quiet)
    if not args.dry_run:
        text = table(args, rows, seeds)
        write_table(args.results, args.out, text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
