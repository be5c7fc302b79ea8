"""Sanity checks for saliency maps: numbers that say whether a map can be trusted.

A saliency map always *looks* like something -- usually like the face.  These
three checks ask whether it shows what the model uses:

1. **Model randomisation** (Adebayo et al., "Sanity checks for saliency maps",
   NeurIPS 2018).  Re-initialise every weight and compute the maps again.  A
   method whose maps barely change is explaining the *image* (its edges), not the
   model.  Measure: Spearman rank correlation between the trained and the
   randomised model's map, averaged over images.  Low passes.  Beside it, as the
   paper does, the structural similarity (SSIM) of the absolute maps.  Both compare
   only the pixels the model sees: those whose map is non-zero for some image under
   either model (:func:`visible_pixels`).  A network behind a 40x40 centre crop has a
   zero gradient on the 704 border pixels of a 48x48 face under any weights; counted,
   those zeros tie for the lowest rank in both maps and make any two maps look alike.
   The *cascading* variant (:func:`cascading_randomization`) re-draws the layers one
   at a time from the top and measures after each.
2. **Deletion** (Samek et al., "Evaluating the visualization of what a deep
   neural network has learned", 2017; Petsiuk et al., RISE, 2018).  Remove pixels
   most-salient first and watch the predicted class's probability; a faithful
   map makes it fall faster than removing pixels in random order.  Measure: the
   area under each curve (probability against removed fraction).  Saliency AUC
   below random AUC passes.
3. **Cue masks.**  On the synthetic faces (:mod:`fer.data.synthetic`) the pixels that
   carry the expression are known.  Measure: the share of saliency mass inside
   the masks against the share a uniform map would put there (the masks' area
   fraction).  Above uniform passes.

Each check returns a small result object with the numbers, a ``passed`` flag and
a one-line ``summary()``; :func:`run_checks` runs all that apply and prints them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..data.images import gaussian_blur
from .layers import as_float_images, layer_name, model_logits
from .saliency_maps import saliency_maps

RANDOMISATION_THRESHOLD = 0.5
"""Mean rank correlation below which the randomisation check passes.

Adebayo et al. judge visually; 0.5 is a conventional line: above it the two
maps agree on most of their ordering, so the map hardly depends on the weights."""


# -------------------------------------------------------------- rank correlation
def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a 1-D array, tied values sharing their average rank.

    Ties matter here: Grad-CAM's ReLU makes whole regions exactly zero, and
    giving them arbitrary distinct ranks would invent an ordering that is not there.
    (A network that max-pools its input, like the seed DNN, has zero gradient at
    the three losers of every 2x2 window whatever its weights: that shared zero
    pattern alone gives a rank correlation near 0.97, and the check rightly says
    that most of such a map is fixed by the image.)
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # start index of each run of equal values, and the run each position belongs to
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    run = np.cumsum(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) - 1
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends - 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = average[run]
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (any shape, flattened): the Pearson
    correlation of their ranks.  0 when either map is constant (no ordering at all)."""
    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


# --------------------------------------------------------- 1. model randomisation
def visible_pixels(*map_sets) -> np.ndarray:
    """(H, W) bool: the pixels whose map is non-zero for at least one image of at least one
    of ``map_sets`` (each (N, H, W)).  A pixel outside that set has a gradient identically
    zero for every image and model compared (a crop's border): the model never sees it."""
    return np.any([np.any(np.asarray(maps) != 0, axis=0) for maps in map_sets], axis=0)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Structural similarity (Wang et al. 2004) of two 2-D maps, each scaled to [0, 1] by its maximum.

    Over every ``window`` x ``window`` patch (uniform weights, as scikit-image's default), with
    means mu, sample variances s2 and covariance s_ab:
    SSIM = (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s2_a + s2_b + C2)),
    C1 = 0.01^2, C2 = 0.03^2 (data range 1); the result is the mean over patches.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    a, b = (np.asarray(m, np.float64) / m.max() if m.max() > 0 else np.asarray(m, np.float64) for m in (a, b))
    window = min(window, *a.shape)
    pa, pb = sliding_window_view(a, (window, window)), sliding_window_view(b, (window, window))
    n = window * window
    mu_a, mu_b = pa.mean(axis=(-2, -1)), pb.mean(axis=(-2, -1))
    var_a = pa.var(axis=(-2, -1)) * n / (n - 1)
    var_b = pb.var(axis=(-2, -1)) * n / (n - 1)
    cov = ((pa * pb).mean(axis=(-2, -1)) - mu_a * mu_b) * n / (n - 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float((((2 * mu_a * mu_b + c1) * (2 * cov + c2)) /
                  ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))).mean())


def compare_maps(maps: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Spearman per image, SSIM per image, visible mask): Spearman over the visible pixels,
    SSIM of the absolute maps over the smallest rectangle that holds them (a crop's window)."""
    visible = visible_pixels(maps, other)
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    if not len(rows):  # every map all zero: nothing to order
        return np.zeros(len(maps)), np.zeros(len(maps)), visible
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    correlation = np.array([spearman(a[visible], b[visible]) for a, b in zip(maps, other)])
    similarity = np.array([ssim(np.abs(a[box]), np.abs(b[box])) for a, b in zip(maps, other)])
    return correlation, similarity, visible


def randomized_copy(model, seed: int = 0):
    """A deep copy of ``model`` with every layer re-initialised from its own
    initialiser (``reset_parameters``), batch norm reset to weight 1, bias 0,
    running mean 0 and variance 1.  The original is untouched.

    This is Adebayo et al.'s full ("independent") randomisation: nothing the
    model learned survives, so whatever the map still shows comes from the image
    and the architecture.

    The generator is seeded with the pair ``(seed, 1)``, a stream apart from the
    plain ``seed`` that ``minigrad.manual_seed`` uses: seeded alike, the "random"
    copy would redraw the model's own initial weights, and an untrained model
    would be compared with itself.
    """
    rng = np.random.default_rng([seed, 1])
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()
            module.weight.data[...] = 1
            module.bias.data[...] = 0
        elif hasattr(module, "reset_parameters"):
            module.reset_parameters(generator=rng)
    return twin


class CheckResult:
    """What the three checks' results share: ``passed``, and a one-line ``summary()``
    naming the method, the check, the numbers and the verdict against the rule."""

    check = ""   # the check's name in the summary
    rule = ""    # what passes, in words

    def summary(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return f"{self.method:10s} {self.check}: {self.measured()} ({verdict}: {self.rule})"


@dataclass
class RandomizationResult(CheckResult):
    method: str
    correlation: float        # mean over images of Spearman(trained map, random-model map), visible pixels
    per_image: np.ndarray     # (N,)
    ssim: float = float("nan")  # mean SSIM of the absolute maps over the visible rectangle
    visible: int = 0          # pixels compared: those the model sees
    pixels: int = 0           # pixels of the image
    threshold: float = RANDOMISATION_THRESHOLD
    check = "randomisation"

    @property
    def passed(self) -> bool:
        return self.correlation < self.threshold

    def measured(self) -> str:
        return (f"rank correlation trained vs random weights {self.correlation:.3f}, SSIM {self.ssim:.3f}, "
                f"over the {self.visible} of {self.pixels} pixels the model sees")

    @property
    def rule(self) -> str:
        return f"< {self.threshold}"


def randomization_check(model, images, method: str = "vanilla", maps=None, seed: int = 0,
                        options=None) -> RandomizationResult:
    """Check 1.  ``images`` (N, C, H, W); ``maps`` of the trained model if already computed;
    ``options``: keyword options of the saliency method.

    Both models explain the *trained* model's predicted class, so the comparison
    changes the weights and nothing else.  Only the pixels the model sees are compared
    (:func:`compare_maps`).
    """
    options = _portable(model, options)
    if maps is None:
        maps = saliency_maps(model, images, method, **options)
    target = model_logits(model, images).argmax(axis=1)
    random_maps = saliency_maps(randomized_copy(model, seed), images, method, target=target, **options)
    per_image, similarity, visible = compare_maps(maps, random_maps)
    return RandomizationResult(method, float(per_image.mean()), per_image, float(similarity.mean()),
                               int(visible.sum()), visible.size)


def _portable(model, options) -> dict:
    """The method's options, a Grad-CAM layer given by name: a deep copy's module would differ."""
    options = dict(options or {})
    if options.get("layer") is not None and not isinstance(options["layer"], str):
        options["layer"] = layer_name(model, options["layer"])
    return options


@dataclass
class CascadeResult:
    """Cascading randomisation: entry k after the top k+1 layers with parameters are re-drawn."""
    method: str
    layers: list              # their names, top (output) first
    correlation: np.ndarray   # (L,) mean rank correlation with the trained model's maps
    ssim: np.ndarray          # (L,) mean SSIM of the absolute maps
    check = "cascade"

    def summary(self) -> str:
        steps = ", ".join(f"{name} {c:.2f}" for name, c in zip(self.layers, self.correlation))
        return (f"{self.method:10s} cascade: rank correlation as layers are re-drawn from the top: {steps} "
                f"(a method that explains the model falls early)")


def cascading_randomization(model, images, method: str = "vanilla", maps=None, seed: int = 0,
                            options=None) -> CascadeResult:
    """Adebayo et al.'s cascading randomisation: re-draw the layers with parameters one at a
    time from the output down (each stays re-drawn), comparing the maps after each step with
    the trained model's (same pixels, target and measures as :func:`randomization_check`, and
    the same re-drawn weights: the last step is that check)."""
    options = _portable(model, options)
    if maps is None:
        maps = saliency_maps(model, images, method, **options)
    target = model_logits(model, images).argmax(axis=1)
    drawn = dict(randomized_copy(model, seed).named_modules())  # the same draws as the full check
    twin = copy.deepcopy(model)
    layers = [(name, m) for name, m in twin.named_modules()
              if name and any(True for _ in m.parameters(recurse=False))][::-1]
    correlation, similarity = [], []
    for name, module in layers:
        module.load_state_dict(drawn[name].state_dict())
        per_image, per_image_ssim, _ = compare_maps(maps, saliency_maps(twin, images, method, target=target,
                                                                        **options))
        correlation.append(per_image.mean())
        similarity.append(per_image_ssim.mean())
    return CascadeResult(method, [name for name, _ in layers], np.array(correlation), np.array(similarity))


# ------------------------------------------------------------------- 2. deletion
@dataclass
class DeletionResult(CheckResult):
    method: str
    fractions: np.ndarray      # (S + 1,) removed share of the pixels, 0 .. 1
    saliency_curve: np.ndarray  # (S + 1,) mean probability of the original class
    random_curve: np.ndarray    # (S + 1,)
    check, rule = "deletion", "saliency < random"

    @property
    def saliency_auc(self) -> float:
        return float(np.trapezoid(self.saliency_curve, self.fractions))

    @property
    def random_auc(self) -> float:
        return float(np.trapezoid(self.random_curve, self.fractions))

    @property
    def passed(self) -> bool:
        return self.saliency_auc < self.random_auc

    def measured(self) -> str:
        return f"AUC saliency order {self.saliency_auc:.3f}, random order {self.random_auc:.3f}"


def _fill_values(images: np.ndarray, fill: str) -> np.ndarray:
    """What a removed pixel becomes: the image's blurred self, or its mean.

    Blurring (sigma 4 px, about a feature's width on a 48x48 face) erases the
    detail a pixel carries while keeping the image's overall brightness layout;
    a constant fill would instead paint sharp-edged flat patches that the model
    never saw in training and may react to for their own sake.
    """
    if fill == "blur":
        return gaussian_blur(images, sigma=4.0)
    if fill == "mean":
        return np.broadcast_to(images.mean(axis=(1, 2, 3), keepdims=True), images.shape).copy()
    raise ValueError(f"deletion fill must be 'blur' or 'mean', got {fill!r}")


def deletion_curve(model, images: np.ndarray, orders: np.ndarray, classes: np.ndarray,
                   steps: int = 20, fill: str = "blur", batch_size: int = 256) -> np.ndarray:
    """Probability of ``classes`` (N,) as pixels are removed in ``orders`` (N, H*W).

    Returns (N, steps + 1): column s after removing the first ``s/steps`` of each
    image's order.  All N * (steps + 1) perturbed images go through the model
    without a graph, ``batch_size`` at a time.
    """
    n, c, h, w = images.shape
    fillers = _fill_values(images, fill).reshape(n, c, h * w)
    flat = images.reshape(n, c, h * w)
    ranks = np.empty_like(orders)
    np.put_along_axis(ranks, orders, np.arange(h * w)[None].repeat(n, 0), axis=1)
    probabilities = np.empty((n, steps + 1), np.float32)
    for s in range(steps + 1):
        removed = (ranks < round(s / steps * h * w))[:, None, :]  # (N, 1, H*W)
        perturbed = np.where(removed, fillers, flat).reshape(images.shape)
        logits = model_logits(model, perturbed, batch_size)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax, shifted against overflow
        probabilities[:, s] = (z / z.sum(axis=1, keepdims=True))[np.arange(n), classes]
    return probabilities


def deletion_check(model, images, method: str = "vanilla", maps=None, steps: int = 20,
                   fill: str = "blur", random_orders: int = 3, seed: int = 0, options=None) -> DeletionResult:
    """Check 2: the mean deletion curve in saliency order against random order.

    Ties in a map (Grad-CAM's zeros) are broken at random, so they favour neither
    curve.  The random curve is averaged over ``random_orders`` permutations.
    """
    images = as_float_images(images)
    if maps is None:
        maps = saliency_maps(model, images, method, **(options or {}))
    rng = np.random.default_rng(seed)
    n, pixels = len(images), maps[0].size
    classes = model_logits(model, images).argmax(axis=1)
    flat = maps.reshape(n, pixels)
    # lexsort: the last key is primary -> most salient first, a random key breaking ties
    salient = np.stack([np.lexsort((rng.random(pixels), -row)) for row in flat])
    saliency_curve = deletion_curve(model, images, salient, classes, steps, fill).mean(axis=0)
    random_curve = np.mean([
        deletion_curve(model, images, np.stack([rng.permutation(pixels) for _ in range(n)]),
                       classes, steps, fill).mean(axis=0)
        for _ in range(random_orders)], axis=0)
    return DeletionResult(method, np.linspace(0, 1, steps + 1), saliency_curve, random_curve)


# ----------------------------------------------------------------- 3. cue masks
@dataclass
class MaskResult(CheckResult):
    method: str
    share_inside: float    # mean over images of (saliency inside masks) / (total saliency)
    uniform_share: float   # mean mask area fraction: the share of a flat map
    check, rule = "cue masks", "> uniform"

    @property
    def ratio(self) -> float:
        return self.share_inside / self.uniform_share if self.uniform_share > 0 else float("nan")

    @property
    def passed(self) -> bool:
        return self.share_inside > self.uniform_share

    def measured(self) -> str:
        return (f"saliency share inside {self.share_inside:.3f}, uniform {self.uniform_share:.3f} "
                f"({self.ratio:.2f}x)")


def mask_check(maps: np.ndarray, masks: np.ndarray, method: str = "") -> MaskResult:
    """Check 3.  maps (N, H, W) non-negative; masks (N, 1, H, W) or (N, H, W) bool.

    Images whose map is all zero (possible for Grad-CAM) carry no evidence either
    way and are left out of the mean.
    """
    masks = np.asarray(masks, bool).reshape(maps.shape)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    keep = total > 0
    inside = (maps * masks).reshape(len(maps), -1).sum(axis=1)
    share = inside[keep] / total[keep]
    uniform = masks.reshape(len(masks), -1).mean(axis=1)[keep]
    return MaskResult(method, float(share.mean()), float(uniform.mean()))


# ------------------------------------------------------------------------ all
def run_checks(model, images, masks=None, methods=("vanilla",), echo=print, options=None,
               cascade: bool = False) -> dict:
    """Run every applicable check for each method; ``echo`` each summary line.

    images (N, C, H, W) float or uint8; masks (N, 1, H, W) bool or None (then the
    cue-mask check is skipped); ``options``: ``{method: keyword options}``; ``cascade``:
    also the cascading randomisation (one set of maps per layer with parameters).
    Returns ``{method: {"randomisation": ..., "deletion": ..., "masks": ..., "cascade": ...}}``.
    """
    images = as_float_images(images)
    results = {}
    for method in methods:
        method_options = (options or {}).get(method, {})
        maps = saliency_maps(model, images, method, **method_options)
        found = {"randomisation": randomization_check(model, images, method, maps, options=method_options),
                 "deletion": deletion_check(model, images, method, maps, options=method_options)}
        if masks is not None:
            found["masks"] = mask_check(maps, masks, method)
        if cascade:
            found["cascade"] = cascading_randomization(model, images, method, maps, options=method_options)
        for result in found.values():
            echo(result.summary())
        results[method] = found
    return results


def as_json(results: dict) -> dict:
    """:func:`run_checks`' results as JSON-able dicts: every field (curves as lists),
    plus the verdict and the derived numbers (AUCs, ratio)."""
    def numbers(result):
        found = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in vars(result).items()}
        for name in ("passed", "saliency_auc", "random_auc", "ratio"):
            if hasattr(result, name):
                found[name] = getattr(result, name)
        return found

    return {method: {check: numbers(result) for check, result in checks.items()}
            for method, checks in results.items()}
