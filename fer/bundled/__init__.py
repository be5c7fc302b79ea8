"""The trained model shipped inside the package (package data, so ``pip install .`` has it).

When one is bundled, this folder holds:

    model.npz       the weights: a minigrad checkpoint (float32 or float16 arrays and a JSON
                    header with the architecture, read with allow_pickle=False)
    model.json      the manifest: the weights' SHA-256 (checked at every load), the architecture,
                    the input it expects, the training command and commit, the accuracy figures
    MODEL_CARD.md   the same for people: data, accuracy, per-class recall, confusion matrix, limits

``python -m fer.export RUN --format bundle`` writes the three files from a trained run folder;
:mod:`fer.api.bundle` loads them.  Nothing here is code but this docstring.
"""
from pathlib import Path

DIRECTORY = Path(__file__).parent
