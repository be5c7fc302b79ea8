"""fer: facial-expression recognition on FER2013, built on minigrad.

It trains, evaluates and explains the study's two seed models (a CNN and a dense
network of the same size) and the efficient networks.

A module at the top of ``fer/`` is a command, ``python -m fer.<command>``: ``train``, ``evaluate``,
``predict``, ``saliency``, ``filters``, ``compare``, ``export`` (ONNX, the bundled model), and the
packages ``report`` (the study on one page) and ``serve`` (a web page).  Everything else is a library in a sub-package:

- ``fer.data``: FER2013 in its common layouts, the built-in synthetic faces, the cache, augmentation;
- ``fer.models``: the networks and the training recipes (presets);
- ``fer.training``: the trainer, the time budget, run folders, several processes under MPI;
- ``fer.evaluation``: inference (with test-time augmentation), metrics, the charts;
- ``fer.explain``: saliency maps, their sanity checks, filter visualisation, their figures;
- ``fer.photos``: faces in photos and videos, and the annotated pictures;
- ``fer.cli``: what the command lines share;
- ``fer.api``: ``EmotionRecognizer`` (``from fer import EmotionRecognizer``) and the model bundled
  in the package (``fer/bundled/``); ``fer.onnx_export``: networks as ONNX graphs.

No library imports a command line; ``fer.errors`` holds the errors both raise.

``LABELS[k]`` is the name of class ``k``, in FER2013's numbering.
"""

import os

# minigrad/runtime.py explains these; set here too, as commands load NumPy before minigrad (cheap for --help).
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
