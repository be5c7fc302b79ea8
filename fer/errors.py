"""The errors that are the user's to fix, shared by the libraries and the command lines.

A command reports each of them in one line, without a traceback
(:func:`fer.cli.common.run_cli`).  They live here, apart from both, so that a library
can raise them without importing a command line, and a command line can name them
without importing NumPy before ``--threads`` is read.
"""


class DataError(Exception):
    """Bad or missing input data; the message is one line meant for the user,
    e.g. ``"data/fer2013.csv, line 17: expected 2304 pixels, got 2303"``."""


class DataWarning(UserWarning):
    """Something the user should know about their data that does not stop the
    load: skipped rows, converted images."""


class UsageError(ValueError):
    """A mistake in what the user asked for (a bad option value, a checkpoint
    that does not fit the model); reported like a DataError."""
