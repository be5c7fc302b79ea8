"""What the command lines share:

- :mod:`fer.cli.common`: the shared options (data, run, model, ``--tta``, ``--threads``) and
  ``run_cli``, which reports a user's mistake in one line;
- :mod:`fer.cli.threads`: ``--threads N`` applied to numba and BLAS.

Both import nothing heavy, so that every ``--help`` stays quick.
"""
