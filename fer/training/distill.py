"""Knowledge distillation's teacher: the soft labels of an ensemble of trained runs, computed
once and cached.

The teachers (``--teacher RUN[,RUN...]``, each run's ``best.npz``, or a bundle folder; the word
``bundled`` names the model that ships in the package, so a student can be distilled without
training a teacher first) score every training face
once, whole and mirrored (the mean of the two logits: the student trains on flips, so its
targets should not depend on which way a face looks).  Their logits, (runs, N, 7) float32, are
cached in the user's cache directory (:func:`fer.data.cache.default_cache_dir`, never beside
the data) under a key made of the teachers' checkpoint bytes and the training images, so every
student of the same teachers reuses them.  The student's targets at temperature T are the
ensemble's mean probability:

    p = mean_runs softmax(logits_run / T)                                     (N, 7)

The student sees augmented crops of the faces the teachers saw whole: the usual offline
distillation trade (one teacher pass instead of one per student step).
"""
import hashlib
import time
from pathlib import Path

import numpy as np

from ..data.cache import default_cache_dir
from ..evaluation.inference import predict_logits
from .runs import checkpoint_path, load_model


def teacher_runs(text):
    """``"RUN[,RUN...]"`` -> [Path]; each must hold a best.npz or be a bundle folder
    (``bundled``: the package's own)."""
    from ..api.bundle import default_directory, is_bundle

    runs = [default_directory() if part == "bundled" else Path(part) for part in str(text).split(",") if part]
    for run in runs:
        if not (is_bundle(run) or checkpoint_path(run).is_file()):
            raise ValueError(f"--teacher {run}: no best.npz there (a finished training run folder, a bundle "
                             "folder or the word bundled is needed)")
    if not runs:
        raise ValueError("--teacher needs at least one run folder")
    return runs


def weights_file(run):
    """The file holding a teacher's weights: a bundle's model.npz, else the run's best.npz."""
    from ..api.bundle import WEIGHTS, is_bundle

    return Path(run) / WEIGHTS if is_bundle(run) else checkpoint_path(run)


def load_teacher(run):
    """A teacher's model, in evaluation mode (a bundle's hash is checked as it loads)."""
    from ..api.bundle import is_bundle, load_bundle

    return load_bundle(run)[0] if is_bundle(run) else load_model(run)[0]


def cache_key(runs, images):
    """SHA-256 of the teachers' checkpoints and the images they score (first 16 hex digits)."""
    digest = hashlib.sha256()
    for run in runs:
        digest.update(weights_file(run).read_bytes())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:16]


def teacher_logits(runs, images, cache_dir=None, log=print):
    """``(logits (runs, N, K) float32, info)`` of the teachers on uint8 ``images`` (N, 1, 48, 48),
    from the cache when it has them.  ``info``: {"teachers", "cache", "cached", "seconds"},
    where seconds is what computing them cost (read back from the cache on a hit)."""
    runs = teacher_runs(runs) if isinstance(runs, str) else [Path(r) for r in runs]
    cache = Path(cache_dir or default_cache_dir()) / "teachers" / f"{cache_key(runs, images)}.npz"
    info = {"teachers": [str(r) for r in runs], "cache": str(cache)}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            return saved["logits"], {**info, "cached": True, "seconds": float(saved["seconds"])}
    tic = time.perf_counter()
    logits = []
    for run in runs:
        model = load_teacher(run)
        logits.append((predict_logits(model, images) + predict_logits(model, images[..., ::-1])) / 2)
    logits = np.stack(logits).astype(np.float32)
    seconds = time.perf_counter() - tic
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.stem + ".partial.npz")
    np.savez(partial, logits=logits, seconds=np.float64(seconds))
    partial.replace(cache)
    log(f"teacher soft labels: {len(runs)} run(s) on {len(images)} faces in {seconds:.0f} s, cached in {cache}")
    return logits, {**info, "cached": False, "seconds": round(seconds, 2)}


def soft_targets(logits, temperature):
    """(N, K) float32: mean over the runs of softmax(logits / T); ``logits`` (runs, N, K)."""
    z = logits / temperature
    z = z - z.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    return p.mean(axis=0).astype(np.float32)
