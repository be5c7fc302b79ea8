"""Measuring a trained model:

- :mod:`fer.evaluation.inference`: predictions in batches, test-time augmentation, ensembles,
  every face of a photo;
- :mod:`fer.evaluation.metrics`: accuracy, the confusion matrix, per-class precision and recall;
- :mod:`fer.evaluation.charts`: the training curves, the confusion matrix and accuracy against
  minutes as figures (the one module that imports matplotlib).

Nothing is imported here.
"""
