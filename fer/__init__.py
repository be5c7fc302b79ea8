"""fer: facial-expression recognition on FER2013, built on minigrad.

The package reads FER2013 in its common layouts (``fer.data``), makes a
built-in synthetic face set when no FER2013 is at hand (``fer.synthetic``),
augments training batches (``fer.augment``), and trains, evaluates and
explains the two seed models (a CNN and a dense network of the same size).

``LABELS[k]`` is the name of class ``k``, in FER2013's numbering.
"""

import os

# minigrad/_threads.py explains these; they are repeated here because the fer commands load
# NumPy (to read data) before minigrad, and importing minigrad just for them would slow --help.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
