"""fer: facial-expression recognition on FER2013, built on minigrad.

It trains, evaluates and explains the study's two seed models (a CNN and a dense
network of the same size) and the efficient networks.

A module at the top of ``fer/`` is a command, ``python -m fer.<command>``: ``train``, ``evaluate``,
``predict``, ``saliency``, ``filters``, ``compare``, and the packages ``report`` (the study on one page)
and ``serve`` (a web page).  Everything else is a library in a sub-package:

- ``fer.data``: FER2013 in its common layouts, the built-in synthetic faces, the cache, augmentation;
- ``fer.models``: the networks and the training recipes (presets);
- ``fer.training``: the trainer, the time budget, run folders, several processes under MPI;
- ``fer.evaluation``: inference (with test-time augmentation), metrics, the charts;
- ``fer.explain``: saliency maps, their sanity checks, filter visualisation, their figures;
- ``fer.photos``: faces in photos and videos, and the annotated pictures;
- ``fer.cli``: what the command lines share.

No library imports a command line; ``fer.errors`` holds the errors both raise.

``LABELS[k]`` is the name of class ``k``, in FER2013's numbering.
"""

import os

# minigrad/_threads.py explains these; they are repeated here because the fer commands load
# NumPy (to read data) before minigrad, and importing minigrad just for them would slow --help.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
