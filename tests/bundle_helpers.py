"""Run folders made without training, for the tests of the bundle, the API and the ONNX export:
small versions of the study's four networks with random weights and random batch-norm
statistics (so that folding them is tested on more than the identity map)."""
import numpy as np

NETWORKS = {
    "cnn": ("cnn", {"widths": [8, 16, 16, 16], "dense": [32, 16]}),
    "dnn": ("dnn", {"hidden": [64, 32], "standardize": True}),
    "fast": ("cnn", {"widths": [8, 16, 16, 16], "dense": [32], "input_size": 40}),
    "xception": ("xception", {"stem": [4, 4], "widths": [8, 16]}),
}
"""The seed CNN, the seed DNN (with its per-image standardisation), the fast/best presets' CNN
on 40x40 centre crops, and mini-Xception, each narrowed."""

COMMAND = "python -m fer.train --preset fast --data fer2013.csv --val-fraction 0"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def network(kind, seed=0):
    """A model of ``NETWORKS[kind]`` in evaluation mode, weights and batch-norm statistics random."""
    import minigrad
    from fer.models.networks import build_model

    name, config = NETWORKS[kind]
    minigrad.manual_seed(seed)
    return randomise_batch_norm(build_model(name, **config), seed)


def randomise_batch_norm(model, seed=0):
    """``model`` in evaluation mode, its batch norms' statistics, scales and the biases drawn
    at random (a fresh network's batch norm is the identity map in evaluation)."""
    rng = np.random.default_rng(seed)
    for key, value in model.state_dict().items():
        if key.endswith("running_mean"):
            value[...] = rng.normal(0, 0.5, value.shape)
        elif key.endswith("running_var"):
            value[...] = rng.uniform(0.5, 2.0, value.shape)
        elif value.ndim == 1 and key.endswith("weight"):     # a batch norm's scale
            value[...] = rng.uniform(0.5, 1.5, value.shape)
        elif value.ndim == 1 and key.endswith("bias"):
            value[...] += rng.normal(0, 0.2, value.shape)
    model.eval()
    return model


def write_run(folder, kind="fast", seed=0):
    """A run folder of ``network(kind, seed)`` as fer.train writes one (best.npz, config.json with
    the command and commit, metrics.json), on the synthetic faces."""
    from minigrad.checkpoint import save_checkpoint
    from fer.models.networks import architecture
    from fer.training.runs import write_json

    name, config = NETWORKS[kind]
    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.npz", network(kind, seed), {"architecture": architecture(name, **config)})
    write_json(folder / "config.json", {
        "settings": {"data": "synthetic", "synthetic_size": 400, "val_fraction": 0.1, "skip_bad_rows": False,
                     "preset": "fast"},
        "data": {"source": "synthetic faces (seed 0)", "train": 320}, "command": COMMAND,
        "started": "2026-01-01 00:00:00", "versions": {"commit": COMMIT}})
    write_json(folder / "metrics.json", {"epochs_run": 3, "best_epoch": 2, "wall_seconds": 5400.0})
    return folder
