"""The figures of training and evaluation, and the only module that imports matplotlib.

matplotlib is imported inside :func:`pyplot`, never at the top: importing it costs
about half a second, which ``--help`` and ``import fer`` should not pay, and the
Agg backend draws to files without a display (servers, CI, SSH sessions).

Each figure is one function that takes plain arrays and a path, writes a PNG and
closes the figure (an open figure per epoch would leak memory over a long run).

Sections: training curves; confusion matrices.  The explanation figures (saliency
maps, filter grids) are :mod:`fer.explain.plots`, drawn through :func:`pyplot` too.
"""
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend, imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi=120):
    """Write ``fig`` to ``path`` (its format from the extension) atomically, and close it."""
    from ..training.runs import atomic_file

    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or None, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


# ------------------------------------------------------------------ training curves
def plot_curves(history, path, title="", val_label="validation"):
    """Loss and accuracy per epoch, train vs validation, side by side.

    ``history``: a dict of equal-length sequences with keys ``epoch``,
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (accuracies in 0..1),
    as :class:`fer.training.trainer.Trainer` keeps it.  ``val_label``: the legend of the
    validation curve (a run that validates on the test set says so).
    """
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    epochs = history["epoch"]
    for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="train", markersize=3)
        ax.plot(epochs, history[f"val_{key}"], "o-", label=val_label, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    from matplotlib.ticker import PercentFormatter
    ax_acc.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))  # decimals only when ticks need them
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_accuracy_vs_minutes(curves, path, title="", ylabel="validation accuracy"):
    """Accuracy against wall-clock minutes of training, one line per run, on one set of axes.

    ``curves``: {label: (minutes, accuracy)}, minutes cumulative at the end of each epoch and
    accuracies in 0..1.  What a user with a time budget wants to compare: which recipe is
    ahead after any given number of minutes.
    """
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for label, (minutes, accuracy) in curves.items():
        # The final figures go in the legend: beside the curves' ends they overlap when runs finish level.
        ax.plot(minutes, accuracy, "o-", markersize=3,
                label=f"{label}: {accuracy[-1]:.1%} after {minutes[-1]:.0f} min")
    ax.set_xlabel("minutes of training (2-core CPU)")
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


# ------------------------------------------------------------------ confusion matrices
def plot_confusion(counts, class_names, path, title=""):
    """The confusion matrix, coloured by row share (recall per true class) and
    annotated with the share and the raw count, so that rare classes (disgust has
    ~1.5% of FER2013) are as readable as common ones."""
    plt = pyplot()
    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = 1.0 + 0.8 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for t in ticks:
        for p in ticks:
            colour = "white" if shares[t, p] > 0.5 else "black"
            ax.text(p, t, f"{shares[t, p]:.0%}\n{counts[t, p]}", ha="center", va="center",
                    fontsize=7, color=colour)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
