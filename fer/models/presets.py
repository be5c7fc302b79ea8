"""Named training recipes (``python -m fer.train --preset NAME``).

A setting is decided in this order, later winning:

1. :data:`DEFAULTS` (what every run starts from),
2. the preset (``--preset NAME``; without one, the model's own preset from
   :data:`MODEL_PRESET`, so ``--model dnn`` alone trains the DNN's recipe),
3. :data:`QUICK` when ``--quick`` is given (about half a minute on synthetic data,
   with narrow versions of the models),
4. the flags given explicitly on the command line.  ``--epochs N`` typed without
   ``--max-minutes`` fixes the run's length (no time budget): an ablation's result must not
   depend on the machine's speed that day.

This module imports nothing heavy: ``--help`` lists the presets from it.
"""
import textwrap

DEFAULTS = {
    "model": "cnn",
    "model_config": {},      # keyword arguments of the model builder (fer.models.networks)
    "epochs": 30,
    "batch_size": 128,
    "lr": 1e-3,              # the peak learning rate under the one-cycle schedule
    "optimizer": "adamw",
    "momentum": 0.9,         # SGD only (Nesterov)
    "weight_decay": 0.0,
    "schedule": "onecycle",
    "label_smoothing": 0.0,
    "augment": "light",
    "cutout": 0,             # side of the square cut out of each training image, in pixels; 0 = off
    "crop": 0,               # side of the random square each training image is cropped to; 0 = off
    "mixup": 0.0,            # mixup's Beta(alpha, alpha); 0 = off
    "early_stopping": 0,     # patience in epochs; 0 = off
    "max_minutes": 0.0,      # time budget; 0 = none
    "average_last": 0,       # average the weights of the last K epochs at the end; 0 = off
    "seed": 0,
    "sync_bn": False,        # under mpiexec: batch-norm statistics over the global batch (fer.training.sync_bn)
    # The accuracy study's recipe options (fer.training.recipe), all off:
    "no_decay_norm_bias": False,  # no weight decay on batch-norm parameters and biases
    "ema": 0.0,              # decay of an exponential moving average of the weights; 0 = off
    "swa_last": 0.0,         # stochastic weight averaging over this last fraction of the epochs; 0 = off
    "erase": 0.0,            # random-erasing probability; 0 = off
    "cutmix": 0.0,           # cutmix's Beta(alpha, alpha); 0 = off
    "progressive": False,    # progressive resizing (any-size networks only)
    "class_weights": "none",  # "balanced": the loss weighs each class as in a balanced set
    "balanced_sampling": False,  # draw each class equally often
    "snapshots": 0,          # snapshot ensemble: cycles of a cyclic cosine schedule; 0 = off
    "teacher": None,         # "RUN[,RUN...]" or "bundled": distil from their soft labels; "none" = off
    "distill_alpha": 0.5,    # weight of the soft (teacher) term
    "distill_temperature": 4.0,
    "min_epochs": 0,         # a slow day: narrow the network until this many epochs fit the budget; 0 = off
    "data": None,            # None: --data, $FER2013_DATA, ./data/, else synthetic; "synthetic": those
    "skip_bad_rows": False,
    "val_fraction": 0.1,
    "synthetic_size": None,  # images of the built-in synthetic set (None: its default)
}

# The recipe every preset starts from (the DNN's departs from it only where a dense network needs it).
# It is tuned for CPU budgets of one or two hours, i.e. a handful of epochs: batch 64 (more updates per
# epoch, and faster per image on 1-2 cores than 128), light augmentation, and light dropout -- the
# report's dropout (0.2-0.5 in every block) is meant for 100 epochs and keeps a short run underfitting.
RECIPE = {
    "epochs": 60,
    "max_minutes": 60.0,
    "batch_size": 64,
    "lr": 2e-3,
    "optimizer": "adamw",
    "weight_decay": 0.05,
    "schedule": "onecycle",
    "label_smoothing": 0.1,
    "augment": "light",
}

# The study's CNN with its dropout lowered for a short run.
SEED_CNN = {"conv_dropout": [0.0, 0.1, 0.1, 0.2], "dense_dropout": 0.3}

# The efficient networks (fer.models.residual): a widened mini-Xception trained on random 44x44 crops and
# predicting on whole faces, cheap enough per image for 30-odd epochs an hour.  A small network
# wants a higher peak rate (4e-3) than the seed CNN's recipe.
XCEPTION = {
    **RECIPE,
    "model": "xception",
    "epochs": 100,
    "lr": 4e-3,
    "augment": "pose",
    "crop": 44,
    "model_config": {"stem": [8, 8], "widths": [16, 64, 128, 256], "dropout": 0.1},
}

# The seed CNN's layers trained on random 40x40 crops of each face (a CentreCrop layer in front
# takes whole faces everywhere else): 0.7x the compute per image, so an hour holds a quarter more
# epochs, and the crops are its shift augmentation.  Crops of 40 of 48 pixels are the usual
# FER2013 choice (Khaireddin & Chen 2021), tested with ten crops.
CROP_CNN = {
    **RECIPE,
    "model": "cnn",
    "augment": "flip",
    "crop": 40,
    "model_config": {**SEED_CNN, "input_size": 40},
}

NARROW_VGG = {"widths": [32, 64, 128, 256], "dense": [256], "conv_dropout": [0.0, 0.1, 0.1, 0.2],
              "dense_dropout": 0.3}

PRESETS = {
    # Each recipe runs for up to `epochs`, cut to what fits `max_minutes` (measured at the start
    # of the run and after its epochs, see fer.training.budget) so the one-cycle schedule completes.
    "seed-cnn": {
        **RECIPE,
        "description": "the report's CNN (its dropout lowered for a short run) with a modern recipe: AdamW, "
                       "one-cycle, label smoothing 0.1, shift+flip augmentation, batch 64; the epochs that "
                       "fit 60 minutes",
        "model": "cnn",
        "model_config": SEED_CNN,
    },
    "seed-dnn": {
        **RECIPE,
        "description": "the report's dense network with lighter dropout and per-image standardisation, "
                       "mirror flips as its only augmentation (a dense network cannot share what it learns across "
                       "positions), 40 epochs",
        "model": "dnn",
        "epochs": 40,
        "augment": "flip",
        "model_config": {"standardize": True, "input_dropout": 0.1, "dropout": 0.3},
    },
    "narrow-vgg": {
        **RECIPE,
        "description": "a narrow VGG-style net (two 3x3 convs a block, widths 32-256, 1.8M parameters), "
                       "shift+flip augmentation; 60 minutes",
        "model": "vgg",
        "model_config": NARROW_VGG,
    },
    # Knowledge distillation from the model that ships in the package (fer.training.distill; alpha
    # and temperature as in DEFAULTS): +1.6 points in the 15-epoch ablation, and two one-hour runs
    # alone on the machine read 67.6% and 68.2% in 50-55 epochs, against 64.7-66.1% in 23-27 without
    # it (docs/RESULTS.md, "Ablations").  fer.train drops this teacher on the synthetic faces;
    # `--teacher none` trains without it.
    # A slow day (fer.training.pace): fewer than 20 epochs in the hour cost more than a narrower
    # network does (the one-hour curves read 62.9% at 16 epochs, 66.1% at 27; 0.75x width cost 0.2
    # points at 15 epochs), so below that floor the convolutions are narrowed until 20 fit.  A
    # 150-images/s hour (scaled to the budget) read 65.1% narrowed to 0.75x (25 epochs), 64.8% at full
    # width (18): still 2.5-3 points under the hour at 440 images/s.
    "fast": {**CROP_CNN, "teacher": "bundled", "min_epochs": 20,
             "description": "the seed CNN's layers on random 40x40 crops with flips (a centre-crop layer in front "
                            "takes whole faces elsewhere), distilled from the bundled model, the seed-cnn recipe "
                            "otherwise; the epochs that fit 60 minutes; test with --tta ten-crop"},
    "xception": {**XCEPTION, "description": "a widened mini-Xception (residual blocks of depthwise-separable "
                                        "convolutions, widths 16-256, 0.18M parameters) on random 44x44 crops "
                                        "with flips, rotation and zoom; peak lr 4e-3; the epochs that fit 60 minutes"},
    # Two hours as one two-hour run of the fast recipe, distilled: 100 epochs in 106 minutes read
    # 68.8% (69.1% with ten crops), against 66.6% (68.0%) for 49 epochs without the teacher and
    # 68.6% for two distilled one-hour runs ensembled (docs/RESULTS.md, "`best`").  RECIPE's
    # cap of 60 epochs would stop it after an hour at this machine's pace, hence 100.
    "best": {
        **CROP_CNN,
        "teacher": "bundled",
        "epochs": 100,
        "max_minutes": 120.0,
        "description": "the fast network and recipe, distilled from the bundled model, for up to 100 epochs "
                       "that fit 120 minutes (100 on 2 cores at 450 images/s); test with --tta ten-crop",
    },
}

MODEL_PRESET = {"cnn": "seed-cnn", "dnn": "seed-dnn", "vgg": "narrow-vgg", "xception": "xception"}
"""The recipe a model trains with when no --preset is named."""

QUICK = {
    "data": "synthetic",
    "synthetic_size": 3000,
    "epochs": 8,
    "max_minutes": 0.0,
    "average_last": 0,
    "teacher": None,  # a smoke run needs no teacher (and synthetic faces cannot use one)
    # The full-size CNN trains at about 150 images/s on a 2-core machine (docs/RESULTS.md): its
    # 8 epochs of these 2,359 training faces alone would take two minutes.  --quick trains the
    # same layer stacks at 1/8 of the width (and, since narrow layers cannot afford it, without
    # the heavy dropout): both networks in about half a minute.
    "model_config": {
        "cnn": {"widths": [8, 16, 32, 32], "dense": [64], "conv_dropout": [0, 0, 0, 0], "dense_dropout": 0.0},
        "dnn": {"hidden": [256, 256, 256, 256], "input_dropout": 0.1, "dropout": 0.2},
        "vgg": {"widths": [8, 16, 32, 32], "dense": [64], "conv_dropout": [0, 0, 0, 0], "dense_dropout": 0.0},
        "xception": {"stem": [8], "widths": [8, 16, 32, 32], "dropout": 0.0},
    },
}
"""--quick: about half a minute on the synthetic set on 2 cores, whatever the preset."""


def resolve(preset=None, model=None, quick=False, explicit=None):
    """The full settings dict for one run (see the module docstring for the order).

    ``explicit``: the flags the user typed, {name: value}, without the ones left
    unset.  A ``model_config`` keyed by model names ({"cnn": {...}, "dnn": {...}})
    gives each model its own; a typed one changes only the keys it names.  Raises
    ValueError for an unknown preset.
    """
    explicit = dict(explicit or {})
    if preset is None:
        preset = MODEL_PRESET.get(model or DEFAULTS["model"])
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    settings = dict(DEFAULTS)
    if preset is not None:
        settings.update({k: v for k, v in PRESETS[preset].items() if k != "description"})
    settings["preset"] = preset
    if quick:
        settings.update(QUICK)
    if model is not None:
        settings["model"] = model
    settings.update(explicit)
    if str(settings.get("teacher")).lower() == "none":  # --teacher none: a preset's teacher switched off
        settings["teacher"] = None
    if "epochs" in explicit and "max_minutes" not in explicit:
        settings["max_minutes"] = 0.0  # a fixed length, whatever the machine's pace
    settings["quick"] = bool(quick)
    # The model's keyword arguments merge in the same order: the preset's (only when it trains
    # the preset's own model), then --quick's, then the typed ones.
    own_model = preset is not None and PRESETS[preset]["model"] == settings["model"]
    layers = [PRESETS[preset].get("model_config", {}) if own_model else {},
              QUICK["model_config"] if quick else {}, explicit.get("model_config", {})]
    settings["model_config"] = {}
    for config in layers:
        if config and set(config) <= set(MODEL_PRESET):  # one config per model: keep this model's
            config = config.get(settings["model"], {})
        settings["model_config"].update(config)
    return settings


def describe():
    """One line per preset, for ``--help``."""
    return "\n".join(textwrap.fill(p["description"], 100, initial_indent=f"  {name:<9} ", subsequent_indent=" " * 12,
                                   break_on_hyphens=False) for name, p in PRESETS.items())
