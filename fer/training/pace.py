"""A slow day (``--min-epochs N`` with ``--max-minutes``): trade width for epochs.

Under a time budget a slow machine gets fewer epochs, and a short run of the one-cycle schedule
loses more than its width buys.  So, before a fresh run starts, the epoch time of the preset's
network is measured (:func:`fer.training.budget.probe_epoch_seconds`); if fewer than N epochs
fit in the budget, the network's convolution widths are scaled down, step by step
(:data:`WIDTH_SCALES`: a convolution's cost scales with the square of its width, x0.75 about
0.56x), until N epochs fit, or the narrowest is reached.  The budget then fits the epochs as
always (:mod:`fer.training.budget`).  The choice is recorded in config.json's settings
(``model_config`` and ``slow_day``), so the run can be repeated on any machine with
``--model-config '{"widths": [...]}' --epochs E --max-minutes 0``.

What it costs, measured (docs/RESULTS.md, "A slow day"): a 150-images/s hour, scaled to the
budget, read 65.1% at 0.75x width in 25 epochs against 64.8% at full width in 18.
"""
import inspect

from ..models.networks import MODELS, build_model
from .budget import probe_epoch_seconds

WIDTH_SCALES = (1.0, 0.875, 0.75, 0.625)
"""The widths tried, as fractions of the preset's, widest first."""


def base_widths(settings):
    """The network's convolution widths: its model_config's, else its builder's default."""
    if "widths" in settings["model_config"]:
        return list(settings["model_config"]["widths"])
    parameter = inspect.signature(MODELS[settings["model"]]).parameters.get("widths")
    if parameter is None:
        raise ValueError(f"--min-epochs trades convolution widths, and {settings['model']} has none")
    return list(parameter.default)


def scaled(widths, scale):
    """``widths`` times ``scale``, rounded to multiples of 4 (at least 4)."""
    return [max(4, 4 * round(w * scale / 4)) for w in widths]


def trade_width_for_epochs(settings, splits, log=print, probe=probe_epoch_seconds):
    """The settings that change (``{"model_config", "slow_day"}``), or {} when the budget holds
    ``min_epochs`` at full width, or there is no budget or floor."""
    floor, minutes = settings.get("min_epochs", 0), settings["max_minutes"]
    if not floor or not minutes:
        return {}
    widths, fits = base_widths(settings), []
    for scale in WIDTH_SCALES:
        config = {**settings["model_config"], "widths": scaled(widths, scale)}
        seconds = probe(build_model(settings["model"], **config), splits, settings["batch_size"])
        fits.append(int(0.95 * minutes * 60 / seconds))
        if fits[-1] >= floor:
            break
    if scale == 1.0:
        return {}
    log(f"slow day: {fits[0]} epochs of widths {widths} fit in {minutes:g} min, under the floor of {floor}; "
        f"training widths {config['widths']} (x{scale}), of which {fits[-1]} fit")
    return {"model_config": config,
            "slow_day": {"width_scale": scale, "epoch_seconds": round(seconds, 1), "epochs_that_fit": fits[-1]}}
