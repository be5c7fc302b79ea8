"""The networks and how they are trained:

- :mod:`fer.models.networks`: the seed CNN and DNN, the narrow VGG, mini-Xception; ``build_model``
  and the architecture records a checkpoint keeps;
- :mod:`fer.models.residual`: the residual depthwise-separable blocks of mini-Xception;
- :mod:`fer.models.presets`: the named training recipes (``--preset``) and ``--quick``.

Nothing is imported here: ``presets`` is read by ``python -m fer.train --help``, which must not load
the engine.
"""
