"""Figures for saliency maps, sanity checks and filter visualisation.

Matplotlib is reached only through :func:`fer.evaluation.charts.pyplot` (lazy import, Agg
backend), so this module is as cheap to import as :mod:`fer.evaluation.charts`.  Every
function takes plain arrays and a path, writes one PNG and returns the path.

Display choices, and why:

* A saliency map is shown scaled by its own 99th percentile, clipped to 1:
  a handful of extreme gradient pixels would otherwise squeeze everything
  else into black.  The colour scale is therefore *per image*; the maps say
  where, not how much compared with another image.
* The overlay draws the heat map over the gray face with transparency that
  grows with saliency, so unimportant regions show the face untouched.
* Ascent images are shown on their own min-max range, feature maps likewise:
  their absolute level is reported as numbers in the titles instead.
"""
from __future__ import annotations

import numpy as np

from .. import LABELS
from ..evaluation.charts import pyplot, save_figure

HEAT_CMAP = "inferno"
GRID_DPI = 100
"""Resolution of the picture grids (ascent images, feature maps): a 48-pixel picture drawn
2.5 times its size, and the 7-point titles 10 pixels high.  Higher only adds interpolated
pixels, which the report pays for in bytes."""
PATCH_DPI = 70
"""Resolution of the top-patches grid: its 0.7-inch cells are 49 pixels, so a patch of up to
48 pixels is shown at its own resolution; its labels are 8-point (8 pixels) for that."""


def normalise_map(m: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """A non-negative map scaled to [0, 1] by its ``percentile``-th value."""
    top = np.percentile(m, percentile)
    if top <= 0:
        top = m.max() if m.max() > 0 else 1.0
    return np.clip(m / top, 0, 1)


def _stretch(image: np.ndarray) -> np.ndarray:
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _tidy(fig, title: str, hspace: float = 0.45):
    """The figure title in a fixed band at the top, and fixed spacing for a grid of
    images.  (``tight_layout`` measures every axis' text, which took seconds for a
    grid of a hundred images; the band is in inches so it fits any grid height.)"""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.1 / height, top=1 - 0.6 / height,
                        wspace=0.08, hspace=hspace)
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / height, va="top")


def _label(k) -> str:
    return "?" if k is None or k < 0 else LABELS[int(k)]


def saliency_figure(images, maps, path, method: str, labels=None, predictions=None, per_row: int = 3):
    """One row block per image: the face, the heat map, the overlay.

    images (N, H, W) floats in [0, 1]; maps (N, H, W) non-negative; labels and
    predictions (N,) class indices (label -1 or None: unknown, e.g. a user photo).
    """
    plt = pyplot()
    n = len(images)
    per_row = max(1, min(per_row, n))
    rows = int(np.ceil(n / per_row))
    fig, axes = plt.subplots(rows, 3 * per_row, figsize=(3 * per_row * 1.1, rows * 1.45 + 0.6), squeeze=False)
    cmap = plt.get_cmap(HEAT_CMAP)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        row, col = divmod(i, per_row)
        face, heat = images[i], normalise_map(maps[i])
        ax_face, ax_heat, ax_over = axes[row, 3 * col:3 * col + 3]
        ax_face.imshow(face, cmap="gray", vmin=0, vmax=1)
        true = _label(None if labels is None else labels[i])
        pred = _label(None if predictions is None else predictions[i])
        colour = "black" if true in ("?", pred) else "firebrick"
        ax_face.set_title(f"true {true}\npred {pred}", fontsize=7, color=colour, y=1.0)
        ax_heat.imshow(heat, cmap=HEAT_CMAP, vmin=0, vmax=1)
        ax_heat.set_title("map", fontsize=7, y=1.0)
        overlay = cmap(heat)
        overlay[..., 3] = 0.75 * heat  # opaque where salient, transparent elsewhere
        ax_over.imshow(face, cmap="gray", vmin=0, vmax=1)
        ax_over.imshow(overlay)
        ax_over.set_title("overlay", fontsize=7, y=1.0)
    _tidy(fig, f"saliency: {method}")
    # 80 dpi: a 48-pixel face in an 88-pixel panel, 7-point titles 8 pixels high; more only adds
    # interpolated pixels, and a grid of noisy maps at 120 dpi made megabyte PNGs
    return save_figure(fig, path, dpi=80)


def image_grid(images, path, title: str, titles=None, cmap: str = "gray", columns: int = 8,
               stretch: bool = True):
    """A grid of (K, H, W) images, each on its own range (``stretch``) or on [0, 1]."""
    plt = pyplot()
    k = len(images)
    columns = max(1, min(columns, k))
    rows = int(np.ceil(k / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.35 + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:k]):
        picture = _stretch(images[i]) if stretch else images[i]
        ax.imshow(picture, cmap=cmap, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7, y=1.0)
    _tidy(fig, title)
    return save_figure(fig, path, dpi=GRID_DPI)


def top_patches_figure(patches, filters, path, title: str):
    """One row per filter: its top-activating real patches (K, k, ph, pw), strongest first."""
    plt = pyplot()
    n_filters, k = patches.shape[:2]
    fig, axes = plt.subplots(n_filters, k, figsize=(k * 0.7 + 0.6, n_filters * 0.7 + 0.6), squeeze=False)
    for r in range(n_filters):
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(patches[r, c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(f"{filters[r]}", fontsize=8, rotation=0, labelpad=10)
    _tidy(fig, title, hspace=0.1)
    return save_figure(fig, path, dpi=PATCH_DPI)


def deletion_figure(results, path):
    """Deletion curves of several methods: probability of the predicted class
    against the share of pixels removed, saliency order (solid) vs random (dashed)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn_random = []
    for i, result in enumerate(results):
        colour = f"C{i}"
        ax.plot(result.fractions, result.saliency_curve, "-", color=colour,
                label=f"{result.method} (AUC {result.saliency_auc:.3f})")
        # the CLI checks every method on the same images and random orders: draw that curve once
        if not any(np.array_equal(result.random_curve, c) for c in drawn_random):
            drawn_random.append(result.random_curve)
            ax.plot(result.fractions, result.random_curve, "--", color="gray" if i == 0 else colour,
                    label=f"random order (AUC {result.random_auc:.3f})")
    ax.set_xlabel("share of pixels removed (most salient first)")
    ax.set_ylabel("probability of the predicted class")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("deletion check: lower is better than random")
    return save_figure(fig, path)


def cascade_figure(results, path):
    """Cascading randomisation of several methods: mean rank correlation (solid) and SSIM
    (dashed) with the trained model's maps, as the layers are re-drawn from the top."""
    plt = pyplot()
    layers = results[0].layers
    fig, ax = plt.subplots(figsize=(max(5.5, 0.45 * len(layers) + 2), 4))
    for i, result in enumerate(results):
        ax.plot(range(len(layers)), result.correlation, "o-", color=f"C{i}", label=f"{result.method} rank corr.")
        ax.plot(range(len(layers)), result.ssim, "x--", color=f"C{i}", label=f"{result.method} SSIM")
    ax.set_xticks(range(len(layers)), layers, rotation=60, fontsize=7)
    ax.set_xlabel("re-drawn down to layer (from the output)")
    ax.set_ylabel("similarity to the trained model's maps")
    ax.axhline(0, color="gray", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("cascading randomisation: a faithful map changes as soon as the top layers do")
    return save_figure(fig, path)
