"""Optimisers: SGD (momentum, Nesterov, weight decay), Adam and AdamW, with PyTorch's update rules.

An optimiser holds *parameter groups*: lists of parameters with their own
hyper-parameters (``optimizer.param_groups[0]["lr"]``, as in PyTorch; the shortcut
``optimizer.lr`` reads the first group and sets them all).  ``step()`` updates every
parameter whose ``.grad`` is set; parameters without a gradient (frozen, or unused in
this forward pass) are skipped.

Updates happen *in place* on ``p.data`` and on the state arrays (``buf *= momentum``
rather than ``buf = buf * momentum``) so that nobody holding a reference sees a stale
array, and so that float32 stays float32: hyper-parameters are turned into Python
floats first, which NumPy treats as "weak" scalars that adopt the array's dtype
(an ``np.float64`` learning rate would silently promote every temporary to float64).
``p.grad`` itself is never modified.

``state_dict()`` returns ``{"state": {index: {name: array or number}}, "param_groups":
[{hyper-parameters..., "params": [indices]}]}``, PyTorch's layout, with parameters
numbered in the order they were given: NumPy arrays and plain numbers only, so it can
be stored in a checkpoint without pickle and training resumes exactly.
"""
from __future__ import annotations

import numpy as np

from .. import autograd, dispatch
from ..tensor import Tensor


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``state_dict``; subclasses define ``_update``."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[int, dict] = {}  # keyed by id(param): the optimiser keeps each param alive
        self.param_groups: list[dict] = []
        params = list(params) if not isinstance(params, Tensor) else [params]
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list (did the model build any layers?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add parameters with their own hyper-parameters (missing ones take the defaults)."""
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if id(p) in known:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
            known.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.param_groups:
            group["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (they accumulate over backward calls otherwise)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self) -> None:
        """Update every parameter that has a gradient, group by group."""
        if autograd._profiler is not None:  # minigrad.profiler times the step as one event
            return autograd._profiler.optimizer_step(self, self._step)
        self._step()

    def _step(self) -> None:
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.step: a gradient of shape {p.grad.shape} "
                                     f"for a parameter of shape {p.shape}")
                self._update(p.data, p.grad, self.state.setdefault(id(p), {}), hyper)

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------- state dict
    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """Copies of the per-parameter state and the hyper-parameters (see the module docstring)."""
        index = {id(p): i for i, p in enumerate(self._all_params())}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {}
        for p in self._all_params():
            if self.state.get(id(p)):
                state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                       for k, v in self.state[id(p)].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` for the same parameters.

        State keys may be ints or their string form (a JSON round trip makes them strings).
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(saved_groups)} parameter groups saved, "
                             f"{len(self.param_groups)} in this optimiser")
        for saved, group in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: a group of {len(saved['params'])} parameters "
                                 f"was saved, this group has {len(group['params'])}")
        params = self._all_params()
        new_state = {}
        for key, saved in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there are {len(params)}")
            p, entry = params[i], {}
            for k, v in saved.items():
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{k}' of parameter {i} has shape "
                                         f"{v.shape}, the parameter has {p.shape}")
                    v = np.array(v, dtype=p.dtype)  # a copy in the parameter's dtype
                elif isinstance(v, np.ndarray):
                    v = v.item()
                entry[k] = v
            new_state[id(p)] = entry
        for saved, group in zip(saved_groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    group[k] = tuple(v) if isinstance(v, list) else v  # JSON turns betas into a list
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's formulation.

    With d = grad + weight_decay * w (L2 regularisation as a gradient term):

        momentum 0:   w -= lr * d
        momentum m:   buf = m * buf + (1 - dampening) * d    (buf = d on the first step)
                      w -= lr * buf                          (heavy ball)
                      w -= lr * (d + m * buf)                (nesterov: look ahead along buf)
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def _update(self, w, g, state, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
        d = g
        if weight_decay:
            d = g + weight_decay * w  # a new array: p.grad stays untouched
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, dtype=w.dtype)
            else:
                buf *= momentum
                buf += d if dampening == 0 else (1 - dampening) * d
            d = d + momentum * buf if group["nesterov"] else buf
        w -= lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's formulation; weight decay is L2 added to the gradient.

    With d = grad + weight_decay * w and t the step count of this parameter:

        m = b1 * m + (1 - b1) * d            (mean of the gradient)
        v = b2 * v + (1 - b2) * d**2         (mean of its square)
        w -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    The (1 - b**t) factors undo the bias of m and v towards their zero start.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: invalid hyper-parameters lr={lr}, betas={betas}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, w, g, state, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        # The compiled kernel, or its NumPy twin under the reference backend (minigrad.dispatch).
        adam_update = dispatch.kernel("optim", "adam_update")
        adam_update(w, g, m, v, lr, beta1, beta2, eps, t, weight_decay, self.decoupled_weight_decay)


class AdamW(Adam):
    """Adam with *decoupled* weight decay (Loshchilov & Hutter): w *= 1 - lr * weight_decay each step.

    With L2 in Adam the decay term is divided by sqrt(v) like the gradient, so weights
    with large gradients are barely regularised; decoupling decays all weights alike.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
