"""fer: facial-expression recognition on FER2013, built on minigrad.

It trains, evaluates and explains the study's two seed models (a CNN and a dense
network of the same size) and the efficient networks.  Its parts:

- ``fer.data``: FER2013 in its common layouts, the built-in synthetic faces when none
  is at hand, the cache, and the augmentation of training batches;
- ``fer.models``, ``fer.residual``: the networks; ``fer.presets``: the training recipes;
- ``fer.trainer`` (the loop), ``fer.budget`` (the time budget), ``fer.runs`` (run folders),
  ``fer.inference`` and ``fer.metrics``;
- ``fer.explain``: saliency maps, their sanity checks, filter visualisation, their plots;
- ``fer.report``: the study's answers on one page;
- ``fer.api``: ``EmotionRecognizer`` (``from fer import EmotionRecognizer``) and the model
  bundled in the package (``fer/bundled/``); ``fer.onnx_export``: networks as ONNX graphs.

The command lines are ``python -m fer.<command>``: ``train``, ``evaluate``, ``predict``,
``saliency``, ``filters``, ``report``, ``compare``, ``serve`` (a web page), ``export`` (ONNX, the bundle); each is a thin
module (the report's and the page's are ``fer/report/__main__.py``, ``fer/serve/__main__.py``)
over the libraries, with the pieces they share in
``fer.cli_common``.  No library imports a command line.

``LABELS[k]`` is the name of class ``k``, in FER2013's numbering.
"""

import os

# minigrad/_threads.py explains these; they are repeated here because the fer commands load
# NumPy (to read data) before minigrad, and importing minigrad just for them would slow --help.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def __getattr__(name):
    # EmotionRecognizer is imported on first use: ``import fer`` (and every command's --help)
    # stays free of NumPy and the engine.
    if name in ("EmotionRecognizer", "Face"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'fer' has no attribute {name!r}")
