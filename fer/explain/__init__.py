"""Explaining a trained model: which pixels its decision rests on, and what its filters
respond to.  In reading order:

- :mod:`fer.explain.layers`: naming a model's layers, catching their outputs with forward
  hooks, running the model for an explanation (eval mode, frozen weights);
- :mod:`fer.explain.saliency_maps`: the saliency methods (vanilla gradient, SmoothGrad, Grad-CAM,
  integrated gradients, guided backpropagation with its ``GuidedReLU``);
- :mod:`fer.explain.sanity`: whether a map can be trusted (model randomisation, deletion,
  the synthetic faces' cue masks);
- :mod:`fer.explain.features`: what a conv filter responds to (activation maximisation,
  top-activating patches, receptive fields, feature maps);
- :mod:`fer.explain.plots`: their figures;
- :mod:`fer.explain.options`: the method names and ascent defaults the command lines offer.

The command lines are ``python -m fer.saliency`` and ``python -m fer.filters``.
Nothing is imported here: the engine loads only with the module that needs it.
"""
