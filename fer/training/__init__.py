"""Training one run:

- :mod:`fer.training.step`: one optimisation step (forward, loss, backward, update);
- :mod:`fer.training.trainer`: ``Trainer``, the epochs around the step (shuffling, augmentation,
  the deadline, checkpoints, the history and curves);
- :mod:`fer.training.budget`: fitting the number of epochs to a time budget;
- :mod:`fer.training.runs`: run folders (config, checkpoints, loading a trained model and its data);
- :mod:`fer.training.distributed`, :mod:`fer.training.sync_bn`: several processes under ``mpiexec``.

Nothing is imported here, so that importing one part does not load the others.
"""
