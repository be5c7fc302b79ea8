"""fer: facial-expression recognition on FER2013, built on minigrad.

The package reads FER2013 in its common layouts (``fer.data``), makes a
built-in synthetic face set when no FER2013 is at hand (``fer.synthetic``),
augments training batches (``fer.augment``), and trains, evaluates and
explains the two seed models (a CNN and a dense network of the same size).

``LABELS[k]`` is the name of class ``k``, in FER2013's numbering.
"""

import minigrad._threads  # noqa: E402,F401  (thread-pool settings, before any NumPy import)

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
