"""The bundled model: writing it from a trained run folder, and loading it back, checked.

A bundle is a folder of three files (see :mod:`fer.bundled`, the one inside the package):
``model.npz`` (a minigrad checkpoint), ``model.json`` (the manifest) and ``MODEL_CARD.md``.
:func:`load_bundle` checks the weights' SHA-256 against the manifest before reading a byte of
them as numbers, so a damaged or swapped file is a one-line :class:`DataError` naming it,
never a model that quietly predicts nonsense.

:func:`load_models` is what every command and :class:`fer.api.EmotionRecognizer` use to turn
"RUN folders, or nothing" into models: each path is a run folder (its ``best.npz``) or a bundle
folder; no path at all is the bundled model.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

import fer.bundled
from .. import LABELS
from ..errors import DataError, UsageError

WEIGHTS, MANIFEST, CARD = "model.npz", "model.json", "MODEL_CARD.md"
FORMAT, FORMAT_VERSION = "fer-bundle", 1
MAX_BYTES = 15 * 2**20
"""Largest weights file a bundle may have (it ships inside the package)."""
DTYPES = ("float32", "float16")
TRAIN_HINT = ("train one with python -m fer.train --preset best and bundle it with "
              "python -m fer.export RUN --format bundle")


def default_directory() -> Path:
    """The package's own bundle folder, ``fer/bundled/``."""
    return Path(fer.bundled.DIRECTORY)


def is_bundle(path) -> bool:
    """Whether ``path`` is a bundle folder (it has a ``model.json``)."""
    return (Path(path) / MANIFEST).is_file()


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory=None) -> dict:
    """The manifest of the bundle in ``directory`` (default: the package's); DataError when
    there is none or it is not one."""
    directory = default_directory() if directory is None else Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        if directory == default_directory():
            raise DataError(f"no bundled model in this install ({path} is missing): {TRAIN_HINT}, or pass RUN")
        raise DataError(f"{directory}: not a bundled model (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} manifest")
    return manifest


def load_bundle(directory=None):
    """``(model, manifest)`` of the bundle in ``directory`` (default: the package's), the model
    in evaluation mode with float32 weights.  DataError naming the file when the weights'
    SHA-256 is not the manifest's."""
    directory = default_directory() if directory is None else Path(directory)
    manifest = read_manifest(directory)
    path = directory / manifest["weights"]["file"]
    if not path.is_file():
        raise DataError(f"{path}: the bundled weights are missing; reinstall the package or pass RUN")
    actual, expected = sha256(path), manifest["weights"]["sha256"]
    if actual != expected:
        raise DataError(f"{path}: damaged (SHA-256 {actual[:16]}... is not the {expected[:16]}... that "
                        f"{MANIFEST} records); reinstall the package or pass RUN")
    return read_weights(path), manifest


def read_weights(path):
    """The model of a bundle's weights file, float32, in evaluation mode."""
    from minigrad.checkpoint import CheckpointError, load_checkpoint

    from ..models.networks import from_architecture

    try:
        state, header, _ = load_checkpoint(path)
        model = from_architecture(header["architecture"])
        model.load_state_dict(as_float32(state))
    except (CheckpointError, KeyError, ValueError) as error:
        raise DataError(f"{path}: not a model checkpoint ({error})") from None
    model.eval()
    return model


def as_float32(state: dict) -> dict:
    """A state dict with float16 arrays widened to float32 (what minigrad computes in)."""
    return {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in state.items()}


def describe(manifest) -> str:
    """A bundle in a few words: "the bundled model (cnn, best preset, 68.0% on test with ten-crop)"."""
    settings = manifest["training"].get("settings", {})
    report = manifest["evaluation"]
    tta = report["tta"]
    accuracy = report["reports"][tta]["accuracy"]
    preset = f", {settings['preset']} preset" if settings.get("preset") else ""
    return (f"the bundled model ({manifest['architecture']['model']}{preset}, {accuracy:.1%} on the "
            f"{report['split']} split of {report['source']} with --tta {tta})")


def load_models(runs=(), checkpoint="best"):
    """``(models, names)`` of ``runs``: run folders (their ``checkpoint``) or bundle folders;
    none at all gives the package's bundled model, named by :func:`describe`."""
    from ..training.runs import load_model

    if not runs:
        model, manifest = load_bundle()
        return [model], [describe(manifest)]
    models = [load_bundle(run)[0] if is_bundle(run) else load_model(run, checkpoint)[0] for run in runs]
    return models, [str(run) for run in runs]


def recommended_tta(model) -> str:
    """The test-time augmentation a bundle is scored with: ten crops for a network that takes
    crops (a leading CentreCrop, or global pooling: xception), else the mirror image."""
    from ..models.networks import input_side
    from ..models.residual import Xception

    return "ten-crop" if input_side(model) or isinstance(model, Xception) else "flip"


def write_bundle(run, directory=None, checkpoint="best", dtype="float32", tta=None, data=None) -> dict:
    """Bundle the run folder ``run`` into ``directory`` (default: the package's ``fer/bundled/``):
    its weights as ``dtype``, scored (as stored) on the labelled test split of its data (or
    ``data``) without and with ``tta`` (default :func:`recommended_tta`), the manifest and the
    model card (scored first: a failure leaves a bundle already there as it was).  Returns the
    manifest.  UsageError when the weights would exceed MAX_BYTES."""
    from minigrad.checkpoint import save_checkpoint

    from ..models.networks import INPUT_SHAPE, from_architecture, input_side
    from ..training.runs import load_model, read_config, source_commit, write_json
    from .model_card import model_card

    if dtype not in DTYPES:
        raise UsageError(f"bundle dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    config = read_config(run)
    model, header = load_model(run, checkpoint)
    state = {k: v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v for k, v in model.state_dict().items()}
    size = sum(v.nbytes for v in state.values())
    if size > MAX_BYTES:
        raise UsageError(f"{run}: its weights take {size / 2**20:.1f} MiB as {dtype}, more than the "
                         f"{MAX_BYTES / 2**20:.0f} MiB a bundle may have"
                         + ("; try --dtype float16" if dtype == "float32" else ""))
    # scored as it will be used (float16 rounding included), before any file of a bundle is replaced
    stored = from_architecture(header["architecture"])
    stored.load_state_dict(as_float32(state))
    stored.eval()
    tta = tta or recommended_tta(stored)
    evaluation = evaluate(stored, config, tta, data)

    directory = default_directory() if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS
    save_checkpoint(weights, state, {"architecture": header["architecture"]})
    weights.chmod(0o644)   # package data: readable by everyone (the temporary file it was written as is not)
    metrics_path = Path(run) / "metrics.json"
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "weights": {"file": WEIGHTS, "sha256": sha256(weights), "bytes": weights.stat().st_size, "dtype": dtype},
        "labels": list(LABELS),
        "architecture": header["architecture"],
        "parameters": int(sum(p.size for p in stored.parameters())),
        "input": {"shape": list(INPUT_SHAPE), "side": input_side(stored) or INPUT_SHAPE[1],
                  "pixels": "grey 0-255, a face framed the way FER2013 framed its faces (fer.photos.faces)"},
        "training": {"run": Path(run).name, "checkpoint": checkpoint, "command": config.get("command"),
                     "commit": config.get("versions", {}).get("commit"), "started": config.get("started"),
                     "data": config.get("data"), "settings": config.get("settings"),
                     "versions": config.get("versions"),
                     "metrics": json.loads(metrics_path.read_text()) if metrics_path.is_file() else None},
        "evaluation": evaluation,
        "bundled": {"commit": source_commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S")},
    }
    write_json(directory / MANIFEST, manifest)
    (directory / CARD).write_text(model_card(manifest))
    load_bundle(directory)   # the round trip: what was written loads and passes its check
    return manifest


def evaluate(model, config, tta, data=None) -> dict:
    """The model's classification reports on the labelled test split (else the validation
    split) of the data in ``config`` (or ``data``): ``{"split", "source", "tta", "reports":
    {"none": ..., tta: ...}}``."""
    from ..evaluation.inference import predict_proba
    from ..evaluation.metrics import classification_report
    from ..training.runs import load_data, pick_split

    settings = dict(config["settings"])
    if data is not None:
        settings["data"] = data
    splits = load_data(settings)
    split, dataset = pick_split(splits)
    reports = {mode: classification_report(dataset.labels, predict_proba(model, dataset.images, tta=mode).argmax(1))
               for mode in dict.fromkeys(("none", tta))}
    return {"split": split, "source": splits.source, "synthetic": bool(splits.synthetic),
            "tta": tta, "reports": reports}
