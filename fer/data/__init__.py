"""fer's data: FER2013 in its common layouts, or the built-in synthetic faces, and
the augmentation of training batches.

    from fer.data import load_splits, to_float
    splits = load_splits()              # --data, $FER2013_DATA, ./data/, else synthetic
    x = to_float(splits.train.images)   # (N, 1, 48, 48) float32 in [0, 1]

The parts, in reading order:

- :mod:`fer.data.formats`: the in-memory :class:`Dataset`; the CSV layouts, parsed with row checks;
- :mod:`fer.data.images`: image files (a user's photo, the image release's folders), and the
  image-array helpers ``gaussian_blur`` and ``resize_bilinear``;
- :mod:`fer.data.loading`: where the data comes from, :class:`Splits`, ``load_splits``, ``to_float``;
- :mod:`fer.data.cache`: the parsed arrays kept as .npz files;
- :mod:`fer.data.synthetic`: ``make_faces``, the built-in stand-in for FER2013;
- :mod:`fer.data.augment`: ``Augmenter``, ``mixup`` and ``cutmix`` (imports numba: not loaded here).

The names below are the ones the rest of fer uses; the errors are :mod:`fer.errors`'.
"""

from fer.errors import DataError, DataWarning

from .formats import Dataset
from .loading import (SYNTHETIC_SIZE, Splits, load_file, load_splits, resolve_data_path, stratified_split,
                      synthetic_splits, to_float)

__all__ = ["DataError", "DataWarning", "Dataset", "SYNTHETIC_SIZE", "Splits", "load_file", "load_splits",
           "resolve_data_path", "stratified_split", "synthetic_splits", "to_float"]
