"""Checkpoints: one ``.npz`` file with the model's arrays and a JSON header, loaded without pickle.

Layout of the archive (``np.load(path)`` shows it as plain arrays):

* ``__header__``: the header as UTF-8 JSON bytes in a uint8 array: the caller's
  dict (architecture config, epoch, optimiser and scheduler state, ...) plus
  ``format``, ``format_version``, ``minigrad_version`` and ``dtype``;
* ``model/<key>``: the state dict (``model/0.weight``, ``model/4.running_mean``, ...);
* ``header/<path>``: any NumPy array found inside the header, e.g. the optimiser's
  moment estimates at ``header/optimizer/state/0/exp_avg``; the JSON keeps a
  ``{"__array__": "header/optimizer/state/0/exp_avg"}`` placeholder where it was;
* ``extra/<name>``: the ``extra_arrays`` the caller passed (e.g. a confusion matrix).

JSON has its limits, which the header inherits: dict keys come back as strings
(an optimiser's ``state[0]`` returns as ``state["0"]``, which ``load_state_dict``
accepts) and tuples come back as lists.

Why not pickle: unpickling runs arbitrary code, so a checkpoint downloaded from
anywhere could do anything.  ``np.load(..., allow_pickle=False)`` reads only numbers
and JSON is only data: loading a checkpoint never runs code.

Saving is atomic: write a temporary file in the same directory, fsync it, then
``os.replace`` it over the target.  A crash mid-save leaves the old checkpoint
intact rather than a half-written one.

Everything that can go wrong on loading (missing file, truncated file, a file
that is not a checkpoint, weights of another architecture) raises
:class:`CheckpointError` naming the file and the problem.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

FORMAT = "minigrad-checkpoint"
FORMAT_VERSION = 1
HEADER_KEY = "__header__"
MODEL, HEADER_ARRAYS, EXTRA = "model/", "header/", "extra/"


class CheckpointError(Exception):
    """A checkpoint could not be saved or loaded; the message names the file and the reason."""


def _as_array(value) -> np.ndarray:
    return np.asarray(value.data if hasattr(value, "data") and not isinstance(value, np.ndarray) else value)


def _pack(value, path: str, arrays: dict):
    """Copy ``value`` into JSON-ready form, moving NumPy arrays (and Tensors) into ``arrays``."""
    if isinstance(value, dict):
        return {str(k): _pack(v, f"{path}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) or hasattr(value, "grad"):
        arrays[path] = _as_array(value)
        return {"__array__": path}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"save_checkpoint: header value at '{path}' is a {type(value).__name__}, which "
                    "JSON cannot store (use numbers, strings, lists, dicts or NumPy arrays)")


def _unpack(value, arrays: dict):
    """The inverse of :func:`_pack`: put the arrays back where their placeholders are."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value


def _dtype_name(state: dict) -> str:
    dtypes = {str(a.dtype) for a in state.values() if np.issubdtype(a.dtype, np.floating)}
    return dtypes.pop() if len(dtypes) == 1 else ("mixed" if dtypes else "none")


def save_checkpoint(path, model_or_state_dict, header: dict | None = None,
                    extra_arrays: dict | None = None) -> str:
    """Write a model (or a state dict) with a header to ``path`` atomically; returns the path.

    ``header``: JSON-able data (numbers, strings, lists, dicts), where NumPy arrays may
    appear anywhere, so ``{"epoch": 5, "optimizer": opt.state_dict()}`` just works.
    ``extra_arrays``: more named arrays, returned as the third value of ``load_checkpoint``.
    """
    from . import __version__

    path = os.fspath(path)
    source = model_or_state_dict
    state = source.state_dict() if hasattr(source, "state_dict") else source
    arrays = {MODEL + key: _as_array(value) for key, value in state.items()}
    header_arrays: dict = {}
    packed = _pack(dict(header or {}), HEADER_ARRAYS.rstrip("/"), header_arrays)
    arrays.update(header_arrays)
    arrays.update({EXTRA + name: _as_array(value) for name, value in (extra_arrays or {}).items()})
    meta = {"minigrad_version": __version__,
            "dtype": _dtype_name({k: v for k, v in arrays.items() if k.startswith(MODEL)})}
    meta.update(packed)
    meta.update(format=FORMAT, format_version=FORMAT_VERSION)
    text = json.dumps(meta, indent=1)
    arrays[HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    for key, array in arrays.items():
        if array.dtype == object:
            raise TypeError(f"save_checkpoint: '{key}' is an object array, which needs pickle; "
                            "store numbers only")

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)
    return path


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_arrays(path: str) -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a checkpoint (a single .npy array, not an .npz archive)")
        with archive:
            return {key: archive[key] for key in archive.files}  # reads everything: truncation shows here
    except CheckpointError:
        raise
    except Exception as e:  # any failure to parse is the file's fault, reported as such
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated, corrupt, or not an .npz "
                              f"archive): {type(e).__name__}: {e}") from None


def load_checkpoint(path, model=None, strict: bool = True) -> tuple[dict, dict, dict]:
    """Read a checkpoint: returns ``(state_dict, header, extra_arrays)``.

    With ``model`` given, the state dict is also loaded into it (``strict`` as in
    ``Module.load_state_dict``), and a mismatch, i.e. a checkpoint of another
    architecture, raises :class:`CheckpointError` listing the keys or shapes.
    """
    path = os.fspath(path)
    arrays = _read_arrays(path)
    if HEADER_KEY not in arrays:
        raise CheckpointError(f"{path}: an .npz archive but not a minigrad checkpoint (it has no '{HEADER_KEY}')")
    try:
        header = json.loads(arrays.pop(HEADER_KEY).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: the checkpoint header is corrupt: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: the header does not describe a {FORMAT} file")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer minigrad (format version {header['format_version']}, "
                              f"this one reads up to {FORMAT_VERSION})")
    state = {k[len(MODEL):]: v for k, v in arrays.items() if k.startswith(MODEL)}
    extra = {k[len(EXTRA):]: v for k, v in arrays.items() if k.startswith(EXTRA)}
    try:
        header = _unpack(header, arrays)
    except KeyError as e:
        raise CheckpointError(f"{path}: the header refers to an array {e} that the file does not hold") from None
    if model is not None:
        try:
            model.load_state_dict(state, strict=strict)
        except (KeyError, ValueError) as e:
            message = e.args[0] if e.args else str(e)
            raise CheckpointError(f"{path}: does not fit this {type(model).__name__} "
                                  f"(a checkpoint of another architecture?):\n{message}") from None
    return state, header, extra
