"""Training's health, per epoch and layer: is every layer learning, and is any of it dead?

For each layer with parameters (a module with parameters of its own):

* ``grad_norm``: the norm of its gradient (all its parameters together), after the ranks' sum,
* ``update_ratio``: norm of the step's change of its parameters over their norm; about 1e-3 is the
  usual healthy rate (much less: the layer barely learns; near 1: each step rewrites it),
* ``act_mean``, ``act_std``: mean and standard deviation of its output.

For each ReLU output (a ``ReLU`` module, or a module that ends in one, e.g. ``BatchNormReLU2d``):
``dead_fraction``, the share of its units (channels of a feature map, features of a vector)
that never fired (were never > 0) on the sampled batches of the epoch, and the activations'
mean and standard deviation.

Every number is the mean over ``SAMPLES`` batches spread evenly over the epoch: forward hooks
are on only for those batches (the others run exactly as without the monitor; the trainer runs
those through the unfused model, whose every layer's hooks fire) and the weights are copied
only before their steps.  The trainer writes ``health.csv`` (one row per epoch and
layer; empty cells where a column does not apply) and ``health.png``, and logs one warning per
layer and kind when a gradient *vanishes* (norm below ``VANISHING`` = 1e-7, float32 round-off
of a unit-sized number: the layer no longer learns) or *explodes* (norm above ``EXPLODING`` = 1e3,
or an update ratio above 1: a step changes the layer by more than its own size).
"""
import csv
import math
import os

import numpy as np

from .runs import atomic_file

SAMPLES = 4
VANISHING, EXPLODING = 1e-7, 1e3
COLUMNS = ("epoch", "layer", "kind", "grad_norm", "update_ratio", "act_mean", "act_std", "dead_fraction")


def is_relu(module) -> bool:
    name = type(module).__name__
    return "ReLU" in name and "Leaky" not in name


class HealthMonitor:
    """Collects the statistics of the module docstring for ``model``; see :meth:`sample`."""

    def __init__(self, model, steps_per_epoch: int, samples: int = SAMPLES):
        named = [(name, m) for name, m in model.named_modules() if name]
        self.layers = {name: m for name, m in named if any(True for _ in m.parameters(recurse=False))}
        self.watched = {name: m for name, m in named if name in self.layers or is_relu(m)}  # the model's order
        self.relus = set(self.watched) - set(self.layers)
        self.sampled_steps = set(np.linspace(0, steps_per_epoch - 1, min(samples, steps_per_epoch)).round().astype(int))
        self.warned = set()
        self._hooks, self._before = [], None
        self.sampling = False  # between sample() and gradients() of a measured step
        self._reset()

    def _reset(self):
        self.stats = {name: {"grad_norm": [], "update_ratio": [], "act_mean": [], "act_std": []}
                      for name in self.watched}
        self.fired = {}  # {ReLU name: bool per unit, any > 0 so far this epoch}

    # ------------------------------------------------------------ the trainer's three calls
    def sample(self, step: int) -> bool:
        """Before the forward of ``step``: True (and hooks on) when this step is measured."""
        if step not in self.sampled_steps:
            return False
        self.sampling = True
        for name, module in self.watched.items():
            self._hooks.append(module.register_forward_hook(
                lambda module, inputs, output, name=name: self._activation(name, output.data)))
        return True

    def gradients(self):
        """After backward (and the ranks' sum), before the optimiser's step."""
        for handle in self._hooks:
            handle.remove()
        self._hooks, self.sampling = [], False
        self._before = {}
        for name, module in self.layers.items():
            params = list(module.parameters(recurse=False))
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                self.stats[name]["grad_norm"].append(_norm(grads))
            self._before[name] = [p.data.copy() for p in params]

    def updates(self):
        """After the optimiser's step."""
        for name, module in self.layers.items():
            params = list(module.parameters(recurse=False))
            before = self._before[name]
            size = _norm(before)
            if size > 0:
                self.stats[name]["update_ratio"].append(_norm([p.data - b for p, b in zip(params, before)]) / size)
        self._before = None

    def _activation(self, name, y):
        self.stats[name]["act_mean"].append(float(y.mean()))
        self.stats[name]["act_std"].append(float(y.std()))
        if name in self.relus:
            units = (y > 0).any(axis=tuple(i for i in range(y.ndim) if i != 1))  # per channel / feature
            self.fired[name] = units if name not in self.fired else self.fired[name] | units

    # ------------------------------------------------------------ the epoch's rows
    def end_epoch(self, epoch: int, log=print) -> list[dict]:
        """This epoch's rows (one per layer) and the warnings they call for (each logged once)."""
        rows = []
        for name, stats in self.stats.items():
            row = {"epoch": epoch, "layer": name, "kind": type(self.watched[name]).__name__}
            for key, values in stats.items():
                row[key] = float(np.mean(values)) if values else None
            fired = self.fired.get(name)
            row["dead_fraction"] = None if fired is None else float(1 - fired.mean())
            rows.append(row)
            self._warn(row, log)
        self._reset()
        return rows

    def _warn(self, row, log):
        g, ratio = row["grad_norm"], row["update_ratio"]
        if g is None:
            return
        if g < VANISHING:
            kind, problem = "vanished", f"its gradient vanished (norm {g:.2g} < {VANISHING:g}): it no longer learns"
        elif g > EXPLODING or (ratio is not None and ratio > 1):
            kind, problem = "exploded", (f"its gradient exploded (norm {g:.3g}, update/weight {ratio or 0:.3g}; "
                                         f"limits {EXPLODING:g} and 1): try a lower --lr")
        else:
            return
        if (row["layer"], kind) not in self.warned:
            self.warned.add((row["layer"], kind))
            log(f"warning: epoch {row['epoch']}, layer {row['layer']} ({row['kind']}): {problem}")


def _norm(arrays) -> float:
    return math.sqrt(sum(float(np.vdot(a, a)) for a in arrays))


def write_csv(path, rows):
    """Rewrite ``path`` with the rows of earlier epochs it holds plus ``rows`` (a resumed run
    replaces the epochs it re-trains); written atomically (:func:`fer.training.runs.atomic_file`)."""
    epochs = {row["epoch"] for row in rows}
    kept = []
    if os.path.exists(path):
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if int(r["epoch"]) < min(epochs)]
    with atomic_file(path) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
        writer.writerows({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v)
                          for k, v in row.items()} for row in rows)


def read_csv(path) -> list[dict]:
    """health.csv's rows with numbers as floats (None for empty cells)."""
    with open(path, newline="") as f:
        return [{k: (v if k in ("layer", "kind") else int(v) if k == "epoch" else float(v) if v else None)
                 for k, v in row.items()} for row in csv.DictReader(f)]


def save_epoch(rows, run_dir):
    """Write this epoch's rows into ``run_dir/health.csv``."""
    write_csv(os.path.join(run_dir, "health.csv"), rows)


def plot_run(run_dir, title=""):
    """``run_dir/health.png`` from its health.csv (nothing when there is none)."""
    path = os.path.join(run_dir, "health.csv")
    if os.path.exists(path):
        plot_health(read_csv(path), os.path.join(run_dir, "health.png"), title)


def plot_health(rows, path, title=""):
    """Layers (rows, in the model's order) against epochs (columns), one panel per measure, each
    panel showing the layers it applies to: log10 gradient norm, log10 update/weight, the
    activations' standard deviation, dead ReLU units."""
    from ..evaluation.charts import pyplot, save_figure

    plt = pyplot()
    epochs = sorted({r["epoch"] for r in rows})
    kinds = {r["layer"]: r["kind"] for r in rows}
    panels = (("grad_norm", "log10 gradient norm", True), ("update_ratio", "log10 update / weight", True),
              ("act_std", "activations' std", False), ("dead_fraction", "dead ReLU units (fraction)", False))
    height = 0.3 * len(kinds) + 1.8
    fig, axes = plt.subplots(1, len(panels), figsize=(16, height))
    for ax, (key, label, log) in zip(axes, panels):
        layers = list(dict.fromkeys(r["layer"] for r in rows if r[key] is not None))
        grid = np.full((max(len(layers), 1), len(epochs)), np.nan)
        for r in rows:
            if r[key] is not None:
                value = math.log10(max(r[key], 1e-12)) if log else r[key]
                grid[layers.index(r["layer"]), epochs.index(r["epoch"])] = value
        image = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest",
                          **({"vmin": 0, "vmax": 1} if key == "dead_fraction" else {}))
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
        ax.set_yticks(range(len(layers)), [f"{name} {kinds[name]}" for name in layers], fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.05)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
