"""Learning-rate schedules: StepLR, CosineAnnealingLR (+ linear warm-up), OneCycleLR, ReduceLROnPlateau.

Names, arguments and the calling pattern are PyTorch's (``torch.optim.lr_scheduler``)::

    scheduler = StepLR(optimizer, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        train_one_epoch(...)            # optimizer.step() inside
        scheduler.step()                # then advance the schedule

Creating a scheduler sets the learning rate of step 0; each ``step()`` moves to the
next.  Schedules here are written in *closed form*, lr = f(base_lr, step), which reads
like the formula and cannot drift; they agree with PyTorch's to rounding.  Each
keeps only plain numbers, so ``state_dict()`` goes into a checkpoint's JSON header.
"""
from __future__ import annotations

import math


class LRScheduler:
    """Base class: ``last_epoch`` counts steps taken; ``get_lr()`` gives each group's lr for it."""

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs 'initial_lr' "
                               "in every param group (load the optimiser's state dict first)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self._last_lr = [float(lr) for lr in self.get_lr()]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last step, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute but the optimiser: plain numbers, strings and lists."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the schedule and set the optimiser's lr (and cycled momentum) for its step."""
        self.__dict__.update(state_dict)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (step // step_size): divide by 1/gamma every step_size steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to eta_min over T_max steps, after an optional linear warm-up.

    Without warm-up (PyTorch's CosineAnnealingLR):
        lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2.
    With ``warmup_epochs = W`` (not in PyTorch): lr(t) = base_lr * (t + 1) / (W + 1) for
    t < W, a ramp that avoids the large, noisy first steps of a fresh model; then the
    cosine runs from base_lr at t = W to eta_min at t = T_max (T_max counts the warm-up).
    Past T_max the cosine climbs again (as PyTorch's does): size T_max to the whole run.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, warmup_epochs: int = 0,
                 last_epoch: int = -1):
        if not 0 <= warmup_epochs < T_max:
            raise ValueError(f"CosineAnnealingLR: need 0 <= warmup_epochs < T_max, got {warmup_epochs} and {T_max}")
        self.T_max, self.eta_min, self.warmup_epochs = T_max, eta_min, warmup_epochs
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, warm = self.last_epoch, self.warmup_epochs
        if t < warm:
            return [base * (t + 1) / (warm + 1) for base in self.base_lrs]
        progress = (t - warm) / (self.T_max - warm)
        cosine = (1 + math.cos(math.pi * progress)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


def _anneal(start: float, end: float, pct: float, strategy: str) -> float:
    if strategy == "cos":
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
    return start + (end - start) * pct


class OneCycleLR(LRScheduler):
    """Smith's one-cycle policy, PyTorch's version; step it after every *batch*.

    The lr climbs from max_lr / div_factor to max_lr over the first pct_start of
    ``total_steps`` (= epochs * steps_per_epoch), then anneals to
    initial_lr / final_div_factor.  ``three_phase`` comes back down to the initial lr
    before the final anneal.  With ``cycle_momentum`` the momentum (SGD) or beta1
    (Adam) moves the opposite way, between max_momentum and base_momentum.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if total_steps is None:
            if not (epochs and steps_per_epoch):
                raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps < 1 or not 0 < pct_start < 1 or anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: need total_steps >= 1, 0 < pct_start < 1 and anneal_strategy "
                             f"'cos' or 'linear'; got {total_steps}, {pct_start}, {anneal_strategy!r}")
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimiser with momentum or betas")
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
                    self._set_momentum(group, max_momentum)
        # Each phase: [last step, start lr key, end lr key, start momentum key, end momentum key].
        up_end = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [[up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                           [2 * up_end, "max_lr", "initial_lr", "base_momentum", "max_momentum"],
                           [total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"]]
        else:
            self.phases = [[up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                           [total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"]]
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times, but total_steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if t <= end or i == len(self.phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(_anneal(group[lr_from], group[lr_to], pct, self.anneal_strategy))
                    if self.cycle_momentum:
                        self._set_momentum(group, _anneal(group[m_from], group[m_to], pct, self.anneal_strategy))
                    break
                start = end
        return lrs


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric has not improved for ``patience`` steps.

    ``step(metric)`` once per epoch, e.g. with the validation loss (mode "min") or
    accuracy (mode "max").  "Improved" means better than the best so far by more than
    ``threshold`` (relative: best * (1 -/+ threshold); absolute: best -/+ threshold).
    After a reduction, ``cooldown`` steps pass before bad steps count again; the lr
    never goes below ``min_lr``, and changes smaller than ``eps`` are skipped.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0.0, eps: float = 1e-8):
        if factor >= 1.0 or mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: need factor < 1, mode 'min'/'max', threshold_mode "
                             f"'rel'/'abs'; got {factor}, {mode!r}, {threshold_mode!r}")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def is_better(self, value: float) -> bool:
        sign = 1 if self.mode == "min" else -1  # compare -value for "max"
        if self.threshold_mode == "rel":
            return sign * value < sign * self.best * (1 - sign * self.threshold)
        return sign * value < sign * self.best - self.threshold

    def step(self, metric) -> None:
        value = float(metric)
        self.last_epoch += 1
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, floor)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
