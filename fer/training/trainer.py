"""The training loop: epochs of shuffled, augmented batches, validation, checkpoints.

:class:`Trainer` owns one run folder (see :mod:`fer.training.runs`).  Per epoch it

1. trains on the training split in shuffled mini-batches (augmented, with dropout),
   showing a live progress bar (batches, loss, accuracy, images/s, ETA),
2. measures loss and accuracy on the validation split,
3. appends a row to ``history.csv`` and prints one line,
4. saves ``last.npz`` (weights, optimiser, schedule, epoch: everything needed to
   resume) and, on a new best validation accuracy, ``best.npz``.

**Exact resume.**  Every random stream of an epoch -- the shuffle, the augmentation,
the dropout masks -- is seeded from ``(seed, epoch)`` alone, never carried over from
the previous epoch.  A checkpoint taken at an epoch boundary therefore holds all
the state there is, and a resumed run reproduces the uninterrupted run's weights
exactly.  An interruption inside an epoch drops that epoch's partial work for the
same reason.

**Stopping.**  Ctrl-C (:class:`TrainingInterrupted`), a non-finite loss
(:class:`TrainingDiverged`), early stopping and the time budget (to which
:mod:`fer.training.budget` fits the run's length) all leave the run
folder complete and consistent: the history, curves and metrics are written and
``last.npz`` is the last good epoch.

**Several processes.**  Under ``mpiexec`` the Trainer is given a :class:`fer.training.distributed.MPIGroup`
(otherwise a :class:`fer.training.distributed.Single`, whose collectives do nothing): every rank trains
its share of each global batch, one Allreduce sums the gradients, and the epoch's random
streams (augmentation, dropout, mixup; not the shuffle, which makes the global batches) are
also seeded from the rank.  Validation is sharded and its sums reduced, so every rank takes
the same decisions (best epoch, early stopping, schedule); only rank 0 writes files.

**The step.**  Each batch's forward pass, loss, backward pass and update are
:func:`fer.training.step.train_step`; :meth:`Trainer.train_epoch` is what surrounds it.

**Overhead.**  Only the forward pass, backward pass and optimiser step are timed as
compute; everything else in the epoch's wall time (loading and augmenting batches,
validation, checkpoints, logging) is overhead, recorded as ``overhead_fraction``.
"""
import csv
import math
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

import minigrad
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.checkpoint import load_checkpoint, save_checkpoint

from ..data import to_float
from ..data.augment import Augmenter, mix_batch
from ..data.images import resize_images
from ..evaluation.charts import plot_curves
from ..evaluation.inference import batch_indices, predict_logits
from ..evaluation.metrics import classification_report
from ..models.networks import INPUT_SHAPE, architecture, from_architecture
from . import budget, health, recipe
from .averaging import make_averages, swa_start_epoch
from .profiling import StepProfiler
from .distributed import Single
from .runs import atomic_file, read_config, source_commit, write_json, write_text
from .step import train_step
from .sync_bn import convert_sync_batchnorm

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
                   "images_per_s", "overhead_fraction")

AUGMENTATIONS = {
    "none": dict(shift=0, flip=False, rotate=0.0, scale=0.0, brightness=0.0, contrast=0.0),
    "flip": dict(shift=0, flip=True, rotate=0.0, scale=0.0, brightness=0.0, contrast=0.0),
    "light": dict(shift=4, flip=True, rotate=0.0, scale=0.0, brightness=0.0, contrast=0.0),
    "pose": dict(shift=0, flip=True, rotate=10.0, scale=0.1, brightness=0.0, contrast=0.0),
    "strong": dict(shift=4, flip=True, rotate=10.0, scale=0.1, brightness=0.2, contrast=0.2),
}
"""--augment levels: keyword arguments of :class:`fer.data.augment.Augmenter` (--cutout adds its own)."""

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")

# The independent random streams of one epoch (see epoch_seed).
SHUFFLE, AUGMENT, DROPOUT, MIXUP = 0, 1, 2, 3


class TrainingStopped(Exception):
    """Training ended early in a way the command line reports (message: one line)."""


class TrainingInterrupted(TrainingStopped):
    """Ctrl-C: the run folder holds a resumable ``last.npz``."""


class TrainingDiverged(TrainingStopped):
    """The loss became NaN or infinite; ``last.npz`` holds the last good epoch."""


class _OutOfTime(Exception):
    """The time budget ran out inside an epoch (handled inside the Trainer)."""


def epoch_seed(seed, epoch, stream, rank=0):
    """A seed for one random ``stream`` of one epoch on one ``rank``, independent of every other
    (seed, epoch, stream, rank): NumPy's SeedSequence mixes the numbers.  Rank 0's streams are
    those of a single process."""
    return int(np.random.SeedSequence([seed, epoch, stream] + ([rank] if rank else [])).generate_state(1)[0])


def make_optimizer(settings, params):
    """The optimiser named by ``settings["optimizer"]``; SGD gets Nesterov momentum."""
    name, lr, decay = settings["optimizer"], settings["lr"], settings["weight_decay"]
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=settings["momentum"], nesterov=True, weight_decay=decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(settings, optimizer, steps_per_epoch):
    """``(scheduler or None, steps per batch?)``.  One-cycle moves the learning rate
    every batch; the others once an epoch."""
    name, epochs = settings["schedule"], settings["epochs"]
    if settings.get("snapshots"):  # snapshot ensembles: cyclic cosine, whatever --schedule says
        return recipe.CyclicCosineLR(optimizer, epochs * steps_per_epoch, settings["snapshots"]), True
    if name == "none":
        return None, False
    if name == "step":  # divide by 10 at 1/3 and 2/3 of the run
        return optim.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), False
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=epochs), False
    if name == "onecycle":
        return optim.OneCycleLR(optimizer, max_lr=settings["lr"], total_steps=epochs * steps_per_epoch), True
    if name == "plateau":  # on validation accuracy: halve at the 3rd epoch in a row without a gain
        return optim.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2), False
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def count_batches(n, batch_size, ranks=1):
    """Training batches per epoch: a last batch that would leave a rank (of ``ranks``) a
    single image is dropped, because batch norm cannot estimate a variance from one sample."""
    return n // batch_size + (1 if n % batch_size >= 2 * ranks else 0)


def versions():
    """Library versions and the checkout's commit for config.json, so a result can be traced to its software."""
    import numba
    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "minigrad": minigrad.__version__, "commit": source_commit()}


class Trainer:
    """Trains one model into one run folder.

    ``settings``: the resolved settings (see :mod:`fer.models.presets`).
    ``splits``: a :class:`fer.data.Splits` (train, val, optional labelled test).
    ``log``: where the one-line-per-epoch report goes; ``progress``: show tqdm bars.
    ``group``: the processes training together (:mod:`fer.training.distributed`; default one).
    """

    def __init__(self, settings, splits, run_dir, log=print, progress=True, group=None, profile_steps=0):
        self.settings, self.splits, self.run_dir = settings, splits, Path(run_dir)
        self.group = group = group or Single()
        self.log, self.progress = log, progress and group.is_root
        if settings["batch_size"] < 2 * group.size:
            raise ValueError(f"a batch of {settings['batch_size']} images cannot be shared by {group.size} ranks: "
                             f"each needs at least 2 (batch norm); use --batch-size {2 * group.size} or more")
        for key in ("cutout", "mixup", "crop"):  # (absent from older runs' settings)
            if settings.get(key, 0) < 0:
                raise ValueError(f"{key} must be >= 0, got {settings[key]}")
        self.architecture = architecture(settings["model"], **settings["model_config"])
        minigrad.manual_seed(settings["seed"])  # the initial weights
        self.model = from_architecture(self.architecture)
        group.broadcast_model(self.model)  # the same start on every rank, whatever their libraries
        if settings.get("sync_bn") and group.size > 1:
            convert_sync_batchnorm(self.model, group)
        # The fast path: the same model with its conv blocks, batch norm + ReLU and max-pool +
        # dropout fused (minigrad.nn.fuse); it shares every parameter with self.model.
        self.fused_model = nn.fuse(self.model)
        recipe.check(settings)
        self.optimizer = make_optimizer(settings, recipe.parameter_groups(self.model, settings))
        self.ema, self.swa = make_averages(settings, self.model)
        self.soft_targets, self.teacher_info = self.group.from_root(partial(recipe.teacher_targets, settings,
                                                                            splits.train.images, log))
        self.class_weights = recipe.class_weights(settings, splits.train.labels)
        self.steps_per_epoch = count_batches(len(splits.train), settings["batch_size"], group.size)
        self.scheduler, self.schedule_per_batch = make_scheduler(settings, self.optimizer, self.steps_per_epoch)
        self.health = health.HealthMonitor(self.model, self.steps_per_epoch)  # health.csv (fer.training.health)
        self.profiler = StepProfiler(profile_steps if group.is_root else 0, self.steps_per_epoch, self.run_dir, log)
        self.epoch = 0  # epochs finished
        self.best_val_acc, self.best_epoch, self.stale_epochs = -1.0, 0, 0
        self.history = {column: [] for column in HISTORY_COLUMNS}
        self.stop_reason = None
        self.saved_epoch = 0  # the epoch last.npz holds
        self.deadline = math.inf  # set by fit() from max_minutes

    # ------------------------------------------------------------------ run folder
    def start(self, data_info, command=""):
        """A fresh run: fit the epochs to the time budget (:func:`fer.training.budget.fit`), then write
        summary.txt, config.json and an epoch-0 ``last.npz`` (so that even a run stopped in
        its first epoch can be resumed)."""
        budget.fit(self)
        if self.group.is_root:
            self.write_start(data_info, command)
        self.save_last()

    def write_start(self, data_info, command):
        """The files a fresh run starts with (rank 0's job)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.run_dir / "summary.txt", nn.summary(self.model, INPUT_SHAPE) + "\n")
        write_json(self.run_dir / "config.json", {
            "settings": self.settings, "architecture": self.architecture, "data": data_info,
            "parameters": sum(p.size for p in self.model.parameters()),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command,
            "world_size": self.group.size, "versions": versions()})

    def set_epochs(self, epochs):
        """Change the run's length (what the time budget does, :mod:`fer.training.budget`): the
        schedule is rebuilt for it.  Once an epoch is done, the new schedule continues
        from the step reached, and last.npz and config.json record the new length, which
        a resume must see."""
        reached = None if self.scheduler is None else self.scheduler.state_dict().get("last_epoch")
        self.settings["epochs"] = epochs
        self.scheduler, self.schedule_per_batch = make_scheduler(self.settings, self.optimizer, self.steps_per_epoch)
        if not self.epoch:
            return  # a fresh run: start() writes the files
        if reached is not None:
            self.scheduler.load_state_dict({"last_epoch": reached})
        self.save_last()
        if not self.group.is_root:
            return
        config = read_config(self.run_dir)
        config["settings"] = self.settings
        write_json(self.run_dir / "config.json", config)

    def restore(self):
        """Continue a run from its ``last.npz``: weights, optimiser, schedule, history (read by rank 0,
        sent to the others: their machines need no copy of the run folder)."""
        state_dict, header = self.group.from_root(lambda: load_checkpoint(self.run_dir / "last.npz")[:2])
        self.model.load_state_dict(state_dict)
        self.optimizer.load_state_dict(header["optimizer"])
        progress = header["progress"]
        if self.scheduler is not None:
            saved = header["scheduler"]
            if progress["epochs"] != self.settings["epochs"] and "last_epoch" in saved and "best" not in saved:
                # --epochs changed on resume: keep the freshly built schedule of the new length
                # and only move it to the step reached (plateau, with its "best", has no length).
                saved = {"last_epoch": saved["last_epoch"]}
                self.log(f"note: the {self.settings['schedule']} schedule is stretched from {progress['epochs']} "
                         f"to {self.settings['epochs']} epochs; the learning rate jumps to match")
            self.scheduler.load_state_dict(saved)
        for name, average in (("ema", self.ema), ("swa", self.swa)):
            if average is not None:
                average.load_state_dict(header[name])
        self.epoch = progress["epoch"]
        self.best_val_acc, self.best_epoch = progress["best_val_acc"], progress["best_epoch"]
        self.stale_epochs = progress["stale_epochs"]
        self.history = {column: list(progress["history"][column]) for column in HISTORY_COLUMNS}

    def header(self, **extra):
        """The JSON header every checkpoint of this run carries."""
        return {"architecture": self.architecture, "epoch": self.epoch, "model": self.settings["model"],
                "val_acc": self.history["val_acc"][-1] if self.history["val_acc"] else None, **extra}

    def save_last(self):
        """Everything a resume needs; the header may hold arrays (the optimiser's moments)."""
        self.saved_epoch = self.epoch
        if not self.group.is_root:
            return
        progress = {"epoch": self.epoch, "epochs": self.settings["epochs"], "best_val_acc": self.best_val_acc,
                    "best_epoch": self.best_epoch, "stale_epochs": self.stale_epochs, "history": self.history}
        scheduler = None if self.scheduler is None else self.scheduler.state_dict()
        averages = {name: average.state_dict() for name, average in (("ema", self.ema), ("swa", self.swa)) if average}
        save_checkpoint(self.run_dir / "last.npz", self.model,
                        self.header(optimizer=self.optimizer.state_dict(), scheduler=scheduler, progress=progress,
                                    **averages))

    def save_snapshot(self):
        """Keep this epoch's weights for --average-last K (only the newest K stay)."""
        keep = self.settings["average_last"]
        if not self.group.is_root:
            return
        folder = self.run_dir / "snapshots"
        folder.mkdir(exist_ok=True)
        save_checkpoint(folder / f"epoch-{self.epoch:03d}.npz", self.model, self.header())
        for old in sorted(folder.glob("epoch-*.npz"))[:-keep]:
            old.unlink()

    def save_cycle_snapshot(self):
        """The end of a --snapshots cycle: its weights as a run folder of their own, ``RUN/snapshot-K``
        (config.json and best.npz), so that ``fer.evaluate RUN/snapshot-*`` scores the ensemble."""
        if not self.group.is_root:
            return
        folder = self.run_dir / f"snapshot-{self.epoch // (self.settings['epochs'] // self.settings['snapshots'])}"
        folder.mkdir(exist_ok=True)
        write_json(folder / "config.json", read_config(self.run_dir))
        save_checkpoint(folder / "best.npz", self.model, self.header())

    def write_history(self):
        if not self.group.is_root:
            return
        with atomic_file(self.run_dir / "history.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows(zip(*(self.history[c] for c in HISTORY_COLUMNS)))

    # ------------------------------------------------------------------ the loop
    @property
    def lr(self):
        return float(self.optimizer.lr)

    def fit(self):
        """Train the remaining epochs; returns the final metrics (also in metrics.json).

        Raises TrainingInterrupted on Ctrl-C and TrainingDiverged on a NaN loss,
        after writing everything a later ``--resume`` needs.
        """
        allowed = self.settings["max_minutes"] * 60
        started = time.perf_counter()
        self.deadline = started + allowed if allowed > 0 else math.inf
        clock = started
        first_epoch = self.epoch + 1
        try:
            while self.epoch < self.settings["epochs"] and self.stop_reason is None:
                clock = self.run_epoch(clock)
                # the slowest rank's times, so that every rank takes the same decision
                elapsed, *recent = self.group.maximum([time.perf_counter() - started,
                                                       *self.history["seconds"][-3:]])
                if first_epoch == 1:
                    budget.refit(self, elapsed, recent)
                if allowed > 0 and self.epoch < self.settings["epochs"] and elapsed + recent[-1] > allowed:
                    self.stop_reason = (f"time budget of {self.settings['max_minutes']:g} min reached after "
                                        f"epoch {self.epoch} (another epoch would not fit)")
        except _OutOfTime:
            self.stop_reason = (f"time budget of {self.settings['max_minutes']:g} min reached "
                                f"during epoch {self.epoch + 1} (its partial work is dropped)")
        except KeyboardInterrupt:
            self.finish("interrupted")
            done = f"epochs 1-{self.saved_epoch} are" if self.saved_epoch else "the initial state is"
            raise TrainingInterrupted(f"interrupted in epoch {self.saved_epoch + 1}; {done} saved in "
                                      f"{self.run_dir / 'last.npz'}") from None
        except TrainingDiverged as error:
            self.finish("diverged")
            raise TrainingDiverged(f"{error}; training stopped, the last good epoch ({self.saved_epoch}) "
                                   f"is kept in {self.run_dir / 'last.npz'}") from None
        return self.finish(self.stop_reason or "finished")

    def run_epoch(self, epoch_start):
        """One epoch of training and validation, then its bookkeeping.

        Returns the moment its clock stopped: the next epoch's clock starts there, so
        the bookkeeping after it (saving last.npz, history.csv, the log line) counts
        as the next epoch's overhead rather than as nobody's.
        """
        train_loss, train_acc, compute = self.train_epoch()
        val_loss, val_acc = self.validate()
        raw = ""
        if self.ema is not None:  # the EMA's curve picks the best epoch, and best.npz holds it
            raw = f"  (raw weights: val acc {val_acc:6.2%})"
            with self.ema.applied(self.model):
                val_loss, val_acc = self.validate()
        if not math.isfinite(val_loss):  # the last step broke the weights: do not save them
            raise TrainingDiverged(f"the validation loss became {val_loss} after epoch {self.epoch + 1}")
        self.epoch += 1
        rows = self.health.end_epoch(self.epoch, self.log if self.group.is_root else (lambda line: None))
        if self.group.is_root:
            health.save_epoch(rows, self.run_dir)
        improved = val_acc > self.best_val_acc
        if improved:
            self.best_val_acc, self.best_epoch, self.stale_epochs = val_acc, self.epoch, 0
        else:
            self.stale_epochs += 1
        if self.scheduler is not None and not self.schedule_per_batch:
            if self.settings["schedule"] == "plateau":
                self.scheduler.step(val_acc)
            else:
                self.scheduler.step()
        patience = self.settings["early_stopping"]
        if patience and self.stale_epochs >= patience:
            self.stop_reason = f"early stopping: no gain in validation accuracy for {patience} epochs"

        # Checkpoints are saved before the clock stops, so their cost counts as overhead.
        if improved and self.group.is_root:
            save_checkpoint(self.run_dir / "best.npz", self.ema.shadow if self.ema else self.model, self.header())
        if self.settings["average_last"]:
            self.save_snapshot()
        if self.swa is not None and self.epoch >= swa_start_epoch(self.settings["epochs"], self.settings["swa_last"]):
            self.swa.update(self.model)
        if recipe.snapshot_due(self.epoch, self.settings["epochs"], self.settings.get("snapshots", 0)):
            self.save_cycle_snapshot()
        clock = time.perf_counter()
        seconds = clock - epoch_start
        row = {"epoch": self.epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
               "val_acc": val_acc, "lr": self.lr, "seconds": seconds,
               "images_per_s": len(self.splits.train) / seconds, "overhead_fraction": 1 - compute / seconds}
        for column in HISTORY_COLUMNS:  # 6 significant digits keep history.csv readable
            self.history[column].append(float(f"{row[column]:.6g}") if isinstance(row[column], float)
                                        else row[column])
        self.save_last()
        self.write_history()
        self.log(f"epoch {self.epoch:>3}/{self.settings['epochs']}  train loss {train_loss:.4f} "
                 f"acc {train_acc:6.2%}  val loss {val_loss:.4f} acc {val_acc:6.2%}  lr {self.lr:.2e}  "
                 f"{seconds:5.1f}s  {row['images_per_s']:.0f} img/s  overhead {row['overhead_fraction']:.1%}"
                 + raw + ("  *best" if improved else ""))
        return clock

    def train_epoch(self):
        """One pass over the shuffled training set: (mean loss, accuracy, compute seconds).

        With several ranks each takes its share of every global batch (the same shuffle on
        all), back-propagates its mean loss weighted by its share, and the gradients are
        summed over the ranks (:meth:`fer.training.distributed.MPIGroup.reduce_step`) before the step;
        the loss and accuracy are the global batches'."""
        from tqdm import tqdm

        s, train, group = self.settings, self.splits.train, self.group
        seed, epoch, rank = s["seed"], self.epoch, group.rank
        order = recipe.epoch_order(train.labels, np.random.default_rng(epoch_seed(seed, epoch, SHUFFLE)),
                                   s.get("balanced_sampling", False))
        face, crop = (recipe.progressive_sizes(epoch, s["epochs"], s.get("crop", 0)) if s.get("progressive")
                      else (None, s.get("crop", 0)))
        augmenter = Augmenter(**AUGMENTATIONS[s["augment"]], cutout=s.get("cutout", 0), crop=crop,
                              erase=s.get("erase", 0.0), seed=epoch_seed(seed, epoch, AUGMENT, rank))
        mixing = (np.random.default_rng(epoch_seed(seed, epoch, MIXUP, rank)) if s.get("mixup") or s.get("cutmix")
                  else None)
        minigrad.manual_seed(epoch_seed(seed, epoch, DROPOUT, rank))
        self.model.train()
        params = list(self.model.parameters())

        total_loss = correct = seen = 0
        compute = 0.0
        bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch + 1}/{s['epochs']}", unit="batch",
                   leave=False, disable=not self.progress, dynamic_ncols=True, file=sys.stderr)
        try:
            for step, batch in enumerate(batch_indices(len(train), s["batch_size"], order)):
                if step == self.steps_per_epoch:
                    break  # the dropped small last batch (see count_batches)
                if group.out_of_time(self.deadline):
                    raise _OutOfTime
                index = group.shard(batch)
                x = to_float(train.images[index])
                if face:
                    x = resize_images(x, face)
                if not augmenter.is_identity:
                    x = augmenter(x)
                y = train.labels[index]
                mixed = None
                if mixing is not None:  # y stays the main label (lam >= 0.5): train accuracy counts it
                    x, y, paired, lam = mix_batch(x, y, s.get("mixup", 0), s.get("cutmix", 0), mixing)
                    mixed = (paired, lam)

                sampled = self.health.sample(step)  # a few batches an epoch feed health.csv
                self.profiler.start(step)  # --profile N: the op profiler over N steps, once
                tic = time.perf_counter()
                share = len(index) / len(batch)  # of the global batch: see fer.training.distributed
                _, _, (batch_loss, batch_correct, batch_seen) = train_step(
                    self.model if sampled else self.fused_model,  # the hooks must see every layer run
                    self.optimizer, x, y, s["label_smoothing"], mixed, scale=share,
                    before_update=partial(self.reduce_batch, params, y, step),
                    loss_fn=recipe.loss_function(s, index, self.soft_targets, self.class_weights))
                self.profiler.stop(step)
                if sampled:
                    self.health.updates()
                if self.ema is not None:
                    self.ema.update(self.model)
                if self.schedule_per_batch:
                    self.scheduler.step()
                compute += time.perf_counter() - tic

                total_loss += batch_loss
                correct += int(batch_correct)
                seen += int(batch_seen)
                bar.set_postfix_str(f"loss {total_loss / seen:.4f} acc {correct / seen:.2%} "
                                    f"{seen / max(bar.format_dict['elapsed'], 1e-9):.0f} img/s", refresh=False)
                bar.update(1)
        finally:
            bar.close()
        group.average_buffers(self.model)
        return total_loss / seen, correct / seen, compute

    def reduce_batch(self, params, labels, step, logits, loss):
        """Between a step's backward pass and its update: the gradients and the batch's (loss sum,
        correct, images) summed over the ranks, which it returns.  A non-finite loss stops every
        rank here, after the reduction, before the update."""
        sums = self.group.reduce_step(params, [float(loss.item()) * len(labels),
                                               int((logits.data.argmax(axis=1) == labels).sum()), len(labels)],
                                      self.deadline)
        if not math.isfinite(sums[0]):
            raise TrainingDiverged(f"the loss became {sums[0] / sums[2]} in epoch {self.epoch + 1}, "
                                   f"batch {step + 1} (learning rate {self.lr:.3g}; try a lower --lr)")
        if self.health.sampling:  # the summed gradients, before the update
            self.health.gradients()
        return sums

    def validate(self):
        """(loss, accuracy) on the validation split, with the training loss function
        (label smoothing included) so the two loss curves are comparable.  With several
        ranks each scores its share of the images and the sums are reduced: N times
        faster than rank 0 alone, and every rank gets the same figures to decide on."""
        val = self.splits.val
        index = self.group.shard(np.arange(len(val)))
        loss_sum = correct = 0.0
        if len(index):
            logits = predict_logits(self.model, val.images[index], batch_size=max(256, self.settings["batch_size"]))
            with minigrad.no_grad():
                loss = F.cross_entropy(minigrad.Tensor(logits), val.labels[index],
                                       label_smoothing=self.settings["label_smoothing"])
            loss_sum, correct = float(loss.item()) * len(index), np.sum(logits.argmax(axis=1) == val.labels[index])
        loss_sum, correct = self.group.sum([loss_sum, correct])
        return float(loss_sum / len(val)), float(correct / len(val))

    # ------------------------------------------------------------------ the end
    def average_snapshots(self):
        """Average the weights (and batch-norm statistics) of the kept epoch snapshots;
        returns (state_dict, validation accuracy, first epoch, last epoch) or None."""
        averaged = self.group.from_root(self._read_snapshot_average)  # the snapshots are rank 0's
        if averaged is None:
            return None
        average, first, last = averaged
        current = self.model.state_dict()
        self.model.load_state_dict(average)
        val_acc = self.validate()[1]
        self.model.load_state_dict(current)
        return average, val_acc, first, last

    def _read_snapshot_average(self):
        """(averaged state dict, first epoch, last epoch) of the kept snapshots, or None."""
        paths = sorted((self.run_dir / "snapshots").glob("epoch-*.npz"))
        if len(paths) < 2:
            return None
        states = [load_checkpoint(p)[0] for p in paths]
        average = {key: np.mean([st[key] for st in states], axis=0).astype(states[-1][key].dtype)
                   for key in states[-1]}
        first, last = (load_checkpoint(p)[1]["epoch"] for p in (paths[0], paths[-1]))
        return average, first, last

    def keep_swa(self, metrics):
        """--swa-last: validate the averaged weights; they become best.npz if they validate better."""
        with self.swa.applied(self.model):
            val_acc = self.validate()[1]
        start = swa_start_epoch(self.settings["epochs"], self.settings["swa_last"])
        metrics["swa"] = {"epochs": [start, self.epoch], "val_acc": val_acc}
        if val_acc > metrics["best_val_acc"]:
            if self.group.is_root:
                save_checkpoint(self.run_dir / "best.npz", self.swa.shadow,
                                self.header(averaged_epochs=[start, self.epoch], val_acc=val_acc))
            metrics["best_val_acc"], metrics["best_is_average"] = val_acc, True

    def macro_f1(self, dataset, logits=None):
        """Macro F1 of the model as it stands on a labelled ``dataset`` (what --class-weights aims at)."""
        logits = predict_logits(self.model, dataset.images) if logits is None else logits
        return round(classification_report(dataset.labels, logits.argmax(axis=1))["macro_f1"], 4)

    def finish(self, status):
        """Write history.csv, curves.png and metrics.json; evaluate the best weights on
        the labelled test split if there is one (rank 0 alone: once a run, no need to share it).
        Returns the metrics dict."""
        root = self.group.is_root
        self.write_history()
        if self.history["epoch"] and root:
            plot_curves(self.history, self.run_dir / "curves.png",
                        title=f"{self.settings['model']} ({self.run_dir.name})",
                        val_label="test set (used for validation)" if self.splits.val_is_test
                        else "validation")
            health.plot_run(self.run_dir, title=f"{self.settings['model']} ({self.run_dir.name}): training health")
        metrics = {"status": status, "epochs_run": self.epoch, "best_epoch": self.best_epoch,
                   "best_val_acc": self.best_val_acc if self.best_epoch else None,
                   "wall_seconds": round(sum(self.history["seconds"]), 2),
                   "images_per_s": round(float(np.mean(self.history["images_per_s"])), 1)
                   if self.history["epoch"] else None,
                   "overhead_fraction": round(float(np.mean(self.history["overhead_fraction"])), 4)
                   if self.history["epoch"] else None}
        if status not in ("interrupted", "diverged") and self.best_epoch:
            if self.settings["average_last"]:
                averaged = self.average_snapshots()
                if averaged is not None:
                    state, val_acc, first, last = averaged
                    metrics["averaged"] = {"epochs": [first, last], "val_acc": val_acc}
                    if val_acc > self.best_val_acc:  # the average becomes the model evaluate/predict load
                        if root:
                            save_checkpoint(self.run_dir / "best.npz", state,
                                            self.header(averaged_epochs=[first, last], val_acc=val_acc))
                        metrics["best_val_acc"], metrics["best_is_average"] = val_acc, True
            if self.swa is not None and self.swa.shadow is not None:
                self.keep_swa(metrics)
            if not root:
                return metrics
            best, _, _ = load_checkpoint(self.run_dir / "best.npz")
            self.model.load_state_dict(best)
            if len(self.splits.val):
                metrics["val_macro_f1"] = self.macro_f1(self.splits.val)
            test = self.splits.test
            if test is not None and len(test) and bool((test.labels >= 0).all()):
                logits = predict_logits(self.model, test.images)
                metrics["test_acc"] = float(np.mean(logits.argmax(axis=1) == test.labels))
                metrics["test_macro_f1"] = self.macro_f1(test, logits)
                metrics["test_samples"] = len(test)
        if self.teacher_info is not None:
            metrics["teacher"] = self.teacher_info
        if root:
            write_json(self.run_dir / "metrics.json", metrics)
        return metrics
