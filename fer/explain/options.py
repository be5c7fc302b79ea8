"""The choices and defaults of the explanation tools, as the command lines offer them.

Plain constants, importable without NumPy or the engine: ``python -m fer.saliency
--help`` and ``fer.filters --help`` list them before ``--threads`` has been applied
(see :mod:`fer.cli.threads`), and the libraries take their defaults from here.
"""

METHODS = ("vanilla", "smoothgrad", "gradcam", "ig", "guided")
"""Saliency method names accepted by :func:`fer.explain.saliency_maps.saliency_maps` and ``--method``."""

ASCENT_DEFAULTS = {
    "steps": 128,         # the activation levels off by step ~64 on all 4 layers of a quick-trained CNN
    "lr": 0.05,           # pixel change per step for a unit-RMS gradient
    "start": "gray",      # "gray": 0.5 everywhere (plus 1% noise to break symmetry); "noise": 0.5 + 10% noise
    "jitter": 2,          # max random shift in pixels, each step
    "l2_decay": 0.01,     # pull towards gray: x <- 0.5 + (1 - l2_decay) * (x - 0.5)
    "blur_every": 4,      # steps between blurs (0: never)
    "blur_sigma": 0.5,    # pixels
    "tv_weight": 0.1,     # weight of the total-variation gradient against the unit-RMS activation gradient
}
"""Default regularisation of :func:`fer.explain.features.ascend`, for 48x48 grayscale inputs in [0, 1]."""
