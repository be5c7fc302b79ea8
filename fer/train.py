"""``python -m fer.train``: train the seed CNN and DNN (by default both, for the comparison).

Examples::

    python -m fer.train --quick                      # about half a minute, synthetic faces
    python -m fer.train --data ../shared/data/fer2013/fer2013.csv.gz --preset seed-cnn
    python -m fer.train --resume runs/20250101-120000-cnn
    mpiexec -n 4 python -m fer.train --preset fast   # one model on 4 processes (docs/MPI.md)

Each run writes a folder (see :mod:`fer.training.runs`).  This module imports nothing heavy of
its own at the top, so that ``--help`` answers at once: numba, the engine and
matplotlib are imported inside :func:`main`, after ``--threads`` has had its say
(see :mod:`fer.cli.threads` for what that can still change).
"""
import argparse
import json
import shlex
import sys

from .models import presets
from .cli.common import UsageError, add_data_args, add_threads_arg, run_cli, use_threads

MODEL_CHOICES = ("cnn", "dnn", "vgg", "xception", "both")


def json_object(text):
    """argparse type of --model-config: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {text!r}")
    return value


# The flags that override a preset's settings, {setting: add_argument keywords} (--name-with-dashes,
# in --help's order); argparse leaves them None unless typed.
SETTING_OPTIONS = {
    "synthetic_size": dict(type=int, help="images in the synthetic set, when it is used"),
    "epochs": dict(type=int, help="number of epochs, fixed (the preset's time budget is dropped) unless "
                                  "--max-minutes is also given: then at most this many, cut to what is measured to "
                                  "fit the budget (with a onecycle/cosine/step schedule)"),
    "batch_size": dict(type=int, help="images per training batch"),
    "lr": dict(type=float, help="learning rate (the peak rate under --schedule onecycle)"),
    "optimizer": dict(choices=("sgd", "adam", "adamw"), help="sgd is SGD with Nesterov momentum"),
    "momentum": dict(type=float, help="SGD momentum (default 0.9)"),
    "schedule": dict(choices=("none", "step", "cosine", "onecycle", "plateau"),
                     help="learning-rate schedule; plateau halves it after 3 epochs without a validation-accuracy "
                          "gain"),
    "weight_decay": dict(type=float, help="weight decay (decoupled for adamw)"),
    "label_smoothing": dict(type=float, help="label smoothing of the loss, in [0, 1)"),
    "augment": dict(choices=("none", "flip", "light", "pose", "strong"),
                    help="flip: mirror images only (what a dense network can use); light: shifts and flips; pose: "
                         "flips, rotation and zoom (shifts come from --crop); strong: shifts, flips, rotation, "
                         "zoom, brightness, contrast"),
    "cutout": dict(type=int, metavar="PIXELS",
                   help="also set a random PIXELS x PIXELS square of each training image to its mean"),
    "crop": dict(type=int, metavar="PIXELS",
                 help="train on random PIXELS x PIXELS crops of each face (e.g. 40; 0: whole faces); for networks "
                      "that take any input size (xception) or crop their input (cnn and vgg with "
                      "model_config input_size, as the fast preset); prediction takes whole faces"),
    "mixup": dict(type=float, metavar="ALPHA",
                  help="train on blends of image pairs, weights drawn from Beta(ALPHA, ALPHA) (0.2 is usual), "
                       "with their labels blended alike"),
    "early_stopping": dict(type=int, metavar="PATIENCE",
                           help="stop after PATIENCE epochs without a validation-accuracy gain"),
    "max_minutes": dict(type=float, help="time budget: stop cleanly (everything saved) before it runs out"),
    "average_last": dict(type=int, metavar="K", help="at the end, average the weights of the last K epochs; "
                                                     "kept as best.npz if it validates better"),
    "model_config": dict(type=json_object, metavar="JSON",
                         help='keyword arguments of the model builder (fer.models.networks), e.g. '
                              '\'{"widths": [32, 64, 128, 256]}\'; with --model both, one object per model: '
                              '\'{"cnn": {...}, "dnn": {...}}\''),
    "seed": dict(type=int, help="random seed (weights, shuffling, augmentation, dropout)"),
    # the accuracy study's recipe options (fer.training.recipe; docs/RESULTS.md, "Ablations")
    "no_decay_norm_bias": dict(action="store_const", const=True,
                               help="no weight decay on batch-norm parameters and biases"),
    "ema": dict(type=float, metavar="DECAY",
                help="keep an exponential moving average of the weights (and batch-norm statistics), updated "
                     "every step (e.g. 0.999); its validation curve picks the best epoch and best.npz holds it"),
    "swa_last": dict(type=float, metavar="FRACTION",
                     help="stochastic weight averaging: the mean of the weights at the end of each epoch of the "
                          "last FRACTION of the run (e.g. 0.25); best.npz if it validates better"),
    "erase": dict(type=float, metavar="P", help="random erasing: a random rectangle of each training image, "
                                                "with probability P, replaced by noise"),
    "cutmix": dict(type=float, metavar="ALPHA", help="cutmix: paste a rectangle of another face, its area from "
                                                     "Beta(ALPHA, ALPHA); with --mixup each batch picks one"),
    "progressive": dict(action="store_const", const=True,
                        help="progressive resizing: faces downscaled to 36, then 42, then 48 pixels in the three "
                             "thirds of the run, crops alike (networks that take any size: xception)"),
    "class_weights": dict(choices=("none", "balanced"), help="balanced: weigh each class's loss by N / (7 n_class)"),
    "balanced_sampling": dict(action="store_const", const=True,
                              help="draw the training faces so that every class comes equally often"),
    "snapshots": dict(type=int, metavar="K", help="snapshot ensemble: K cosine cycles, each cycle's end saved as "
                                                  "RUN/snapshot-k (score with fer.evaluate RUN/snapshot-*)"),
    "teacher": dict(metavar="RUN[,RUN...]", help="distil from these trained runs' (or bundles'; 'bundled': the "
                                                 "package's model) averaged soft labels (computed once, cached in "
                                                 "the user cache dir); 'none': no teacher, though the preset "
                                                 "has one (fast and best distil from the bundled model)"),
    "distill_alpha": dict(type=float, metavar="A", help="weight of the teacher's soft term (default 0.5)"),
    "distill_temperature": dict(type=float, metavar="T", help="distillation temperature (default 4)"),
    "min_epochs": dict(type=int, metavar="N",
                       help="with --max-minutes: if fewer than N epochs fit at the measured pace, narrow the "
                            "network's convolutions (x0.875, 0.75, 0.625) until they do (fer.training.pace)"),
    "sync_bn": dict(action="store_const", const=True,
                    help="under mpiexec: batch norm normalises by the statistics of the whole global batch, "
                         "not of each rank's share (costs two small all-reduces per batch-norm layer and step)"),
}
SETTING_FLAGS = tuple(SETTING_OPTIONS)

# The only settings a resumed run may change.
RESUME_FLAGS = ("epochs", "max_minutes")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train the seed CNN and/or DNN on FER2013 (or, when none is found, on the built-in\n"
                    "synthetic faces) into a run folder: summary.txt, config.json, history.csv, curves.png,\n"
                    "best.npz, last.npz, metrics.json.",
        epilog="presets (--preset NAME; explicit flags override them):\n" + presets.describe()
               + "\n\nCtrl-C saves a resumable checkpoint; continue with --resume RUN.\n"
                 "Under mpiexec -n N the N processes train one model on shares of each batch; see docs/MPI.md.")
    parser.add_argument("--model", choices=MODEL_CHOICES, default=None,
                        help="which network to train (default: both, the CNN then the DNN, each with its "
                             "own preset, unless --preset names one)")
    parser.add_argument("--preset", choices=sorted(presets.PRESETS), help="a named training recipe")
    parser.add_argument("--quick", action="store_true",
                        help="about half a minute on a small synthetic set (a smoke run; the first run also "
                             "compiles numba's kernels)")
    add_data_args(parser, val_default="the preset's, 0.1")
    for name, options in SETTING_OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), **options)
    add_threads_arg(parser, help="CPU threads for numba kernels and BLAS (default: all cores). On a machine "
                                 "shared with other jobs, 1 can be several times faster")
    parser.add_argument("--out", help="run folder (default runs/<date>-<model>/; with --model both, "
                                      "OUT/cnn and OUT/dnn)")
    parser.add_argument("--resume", metavar="RUN",
                        help="continue the run in folder RUN from its last.npz (only --epochs, "
                             "--max-minutes and --threads may change)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile N training steps of the first epoch op by op: print the table, write "
                             "profile.txt and trace.json (Chrome trace, for Perfetto) into the run folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log files)")
    return parser


def models_to_train(args):
    """The model names of this invocation, in training order."""
    if args.model == "both" or (args.model is None and args.preset is None):
        return ["cnn", "dnn"]
    return [args.model or presets.PRESETS[args.preset]["model"]]


def plan_runs(args):
    """[(settings, run_dir)] for a fresh invocation (not --resume)."""
    from pathlib import Path

    from .training.runs import default_run_dir

    explicit = {name: getattr(args, name) for name in SETTING_FLAGS if getattr(args, name) is not None}
    models = models_to_train(args)
    plans = []
    for model in models:
        settings = presets.resolve(args.preset, model, args.quick, explicit)
        if args.data is not None:
            settings["data"] = args.data
        settings["skip_bad_rows"] = args.skip_bad_rows
        if args.val_fraction is not None:
            settings["val_fraction"] = args.val_fraction
        if args.out is None:
            run_dir = default_run_dir(model)
        else:
            run_dir = Path(args.out) / model if len(models) > 1 else Path(args.out)
        if (run_dir / "config.json").exists():  # never overwrite a run that may have cost an hour
            raise UsageError(f"{run_dir} already holds a training run: continue it with --resume {run_dir}, "
                             f"or choose another --out")
        plans.append((settings, run_dir))
    return plans


def plan_resume(args, world_size=1):
    """[(settings, run_dir)] for --resume RUN: the run's own settings, plus the few
    that may change (and the number of processes, which is recorded)."""
    from pathlib import Path

    from .training.runs import read_config, write_json

    run_dir = Path(args.resume)
    config = read_config(run_dir)
    settings = config["settings"]
    ignored = [name for name in SETTING_FLAGS if getattr(args, name) is not None and name not in RESUME_FLAGS]
    if ignored or args.preset or args.quick or args.model or args.data:
        print("note: --resume continues the run with its own settings; only --epochs and --max-minutes "
              "may change", file=sys.stderr)
    changed = {name: getattr(args, name) for name in RESUME_FLAGS if getattr(args, name) is not None}
    if world_size != config.get("world_size", 1):
        print(f"note: the run was trained on {config.get('world_size', 1)} process(es), now on {world_size}: "
              f"the same global batches, but other augmentation and dropout draws", file=sys.stderr)
        config["world_size"] = changed["world_size"] = world_size
    if changed:
        settings.update({k: v for k, v in changed.items() if k in RESUME_FLAGS})
        config.setdefault("changed_on_resume", []).append(changed)
        write_json(run_dir / "config.json", config)  # so that a later resume sees the new length
    return [(settings, run_dir)]


def data_info(splits, settings):
    """What config.json records about the data."""
    return {"source": splits.source, "synthetic": bool(splits.synthetic), "path": settings["data"],
            "train": len(splits.train), "val": len(splits.val), "val_is_test": splits.val_is_test,
            "test": 0 if splits.test is None else len(splits.test)}


def train_one(settings, splits, run_dir, resume, progress, command, group, profile_steps=0):
    """Train (or resume) one run on ``group`` (:mod:`fer.training.distributed`); returns its metrics dict."""
    from .training.pace import trade_width_for_epochs
    from .training.trainer import Trainer

    try:
        if not resume:  # --min-epochs on a slow day: a narrower network (fer.training.pace)
            settings.update(group.from_root(lambda: trade_width_for_epochs(settings, splits)))
        trainer = Trainer(settings, splits, run_dir, progress=progress, group=group, profile_steps=profile_steps)
    except ValueError as error:  # a bad --model-config, or an impossible setting
        usage = UsageError(str(error))
        usage.collective = True  # every rank builds the same Trainer, so every rank stops here
        raise usage from None
    if settings.get("sync_bn") and group.size == 1:
        print("note: --sync-bn has no effect in a single process", file=sys.stderr)
    if resume:
        from minigrad.checkpoint import CheckpointError

        from .errors import DataError

        try:
            trainer.restore()
        except CheckpointError as error:   # killed before its first checkpoint, or a damaged one
            raise DataError(f"cannot resume {run_dir}: {error}") from None
        print(f"resuming {run_dir} at epoch {trainer.epoch + 1} of {settings['epochs']}")
    else:
        trainer.start(data_info(splits, settings), command)
    n_params = sum(p.size for p in trainer.model.parameters())
    ranks = f" on {group.size} processes" if group.size > 1 else ""
    print(f"training {settings['model']} (preset {settings['preset']}, {n_params:,} parameters) on "
          f"{splits.summary()}{ranks} -> {run_dir}",
          flush=True)
    metrics = trainer.fit()
    if not metrics["best_epoch"]:
        print(f"{settings['model']}: {metrics['status']} before the first epoch ended; files in {run_dir}")
        return metrics
    test = f", test accuracy {metrics['test_acc']:.2%}" if "test_acc" in metrics else ""
    print(f"{settings['model']}: {metrics['status']}; best validation accuracy {metrics['best_val_acc']:.2%} "
          f"at epoch {metrics['best_epoch']}{test}; {metrics['images_per_s']:.0f} images/s; files in {run_dir}")
    return metrics


def drop_preset_teachers(plans):
    """On the synthetic faces a preset's teacher (the bundled model, trained on FER2013) would only
    teach its guesses about drawings: train those runs without it (a typed --teacher stays)."""
    for settings, _ in plans:
        if settings.get("teacher"):
            print(f"note: the {settings['preset']} preset's teacher ({settings['teacher']}) knows FER2013 faces, "
                  f"not the synthetic ones: training without it", flush=True)
            settings["teacher"] = None


def print_comparison(results):
    """The CNN-vs-DNN table at the end of --model both."""
    print("\nmodel  best epoch  val acc  test acc  images/s  run")
    for (settings, run_dir), m in results:
        if not m["best_epoch"]:
            print(f"{settings['model']:<6} {'-':>10} {'-':>8} {'-':>8} {'-':>9} {run_dir}")
            continue
        test = f"{m['test_acc']:8.2%}" if "test_acc" in m else f"{'-':>8}"
        print(f"{settings['model']:<6} {m['best_epoch']:>10} {m['best_val_acc']:8.2%} {test} "
              f"{m['images_per_s']:>9.0f} {run_dir}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    from .training.distributed import connect

    group = connect()  # one process, or one rank of an mpiexec job (docs/MPI.md)
    if group.size > 1 and not args.threads:
        args.threads = group.threads_per_rank()  # the machine's cores shared among its ranks
    use_threads(args)
    with group.abort_on_failure():  # a rank failing alone ends them all, never leaves them waiting
        return train_all(args, argv, group)


def train_all(args, argv, group):
    """Train the runs this invocation asks for; returns the exit status."""
    from .training.runs import load_data
    from .training.trainer import TrainingDiverged, TrainingInterrupted

    plans = group.from_root(lambda: plan_resume(args, group.size) if args.resume else plan_runs(args))
    # --model both: the runs share data settings.  Rank 0 reads the data and sends it: only its machine needs it.
    splits = group.from_root(lambda: load_data(plans[0][0]))
    if splits.synthetic:
        print(f"No FER2013 data given or found: training on the built-in synthetic faces ({splits.source}). "
              f"Use --data PATH for the real thing.", flush=True)
        if not args.resume and args.teacher is None:
            drop_preset_teachers(plans)
    progress = not args.no_progress and sys.stderr.isatty()
    launcher = f"mpiexec -n {group.size} " if group.size > 1 else ""
    results = []
    for number, (settings, run_dir) in enumerate(plans):
        try:
            metrics = train_one(settings, splits, run_dir, bool(args.resume), progress,
                                launcher + shlex.join(["python", "-m", "fer.train", *argv]), group, args.profile)
            results.append(((settings, run_dir), metrics))
        except TrainingInterrupted as stop:
            skipped = [s["model"] for s, _ in plans[number + 1:]]
            if group.is_root:
                print(f"\n{stop}.\nResume with: {launcher}python -m fer.train --resume {run_dir}"
                      + (f"\n(not started: {', '.join(skipped)})" if skipped else ""), file=sys.stderr)
            return 130
        except TrainingDiverged as stop:
            if group.is_root:
                print(f"error: {stop}", file=sys.stderr)
            return 1
    if len(results) > 1:
        print_comparison(results)
    return 0


if __name__ == "__main__":
    run_cli(main)
