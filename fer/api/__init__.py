"""fer ready to use, from Python: :class:`EmotionRecognizer` and the bundled model.

- :mod:`fer.api.recognizer`: :class:`EmotionRecognizer` (faces found and classified in photos,
  frames and videos) and the :class:`Face` s it returns;
- :mod:`fer.api.bundle`: the model shipped in the package (``fer/bundled/``): writing it from a
  run folder, loading it with its SHA-256 checked, and "RUN folders or the bundled model" for
  every command (:func:`load_models`);
- :mod:`fer.api.model_card`: the bundle's MODEL_CARD.md.

``from fer import EmotionRecognizer`` imports this package on first use.
"""
from .recognizer import EmotionRecognizer, Face

__all__ = ["EmotionRecognizer", "Face"]
