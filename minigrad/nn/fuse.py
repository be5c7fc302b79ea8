"""``fuse(model)``: the same model with runs of layers replaced by fused modules (:mod:`.fused`).

A plain ``Sequential`` runs its layers one by one, so hooks, a debugger and a reader see
each.  ``fuse`` is the opt-in fast layer on top: it returns a model that computes the same
function (to rounding) with fewer passes over memory, sharing every Parameter and buffer
with ``model`` (training one trains the other; ``state_dict`` keys are the same)::

    model = fer.models.seed_cnn()
    fast = nn.fuse(model)          # train and evaluate `fast`; save `model` or `fast`, same keys
    print(fast)                    # shows which layers run as one op

Patterns, in a Sequential, tried at each layer in this order:

* ``Conv2d`` -> ``BatchNorm2d`` [-> ``ReLU``] [-> ``MaxPool2d`` [-> ``Dropout``]]
  -> :class:`~.fused.ConvBatchNormReLUMaxPool2d`
* ``BatchNorm1d`` / ``BatchNorm2d`` -> ``ReLU``  -> :class:`~.fused.BatchNormReLU`
* ``MaxPool2d`` -> ``Dropout``                   -> :class:`~.fused.MaxPool2dDropout`

Only layers of exactly these classes fuse (a subclass may compute something else), and
only layers without hooks (a hook expects to see its layer run).  Other modules are kept;
their children are fused the same way: a custom module gets a shallow copy whose children
are the fused ones, its own forward unchanged (as PyTorch's ``fuse_modules`` copies the
model).  The copy shares the original's parameters, buffers, hooks and every object its
attributes hold, but an attribute its forward *reassigns* (``self.calls += 1``) changes on the
copy only.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

from .fused import BatchNormReLU, ConvBatchNormReLUMaxPool2d, MaxPool2dDropout
from .layers import BatchNorm1d, BatchNorm2d, BatchNormReLU2d, Conv2d, Dropout, MaxPool2d, ReLU
from .module import Module, Sequential


def fuse(model: Module) -> Module:
    """``model`` with its fusable runs of layers as fused modules; ``model`` itself is not changed."""
    if type(model) is Sequential:
        return _fuse_sequential(model)
    children = OrderedDict((name, fuse(child) if child is not None else None) for name, child in model._modules.items())
    if all(children[name] is child for name, child in model._modules.items()):
        return model                    # nothing inside fused: the module itself
    clone = copy.copy(model)            # shares parameters, buffers and hooks; its own children
    object.__setattr__(clone, "_modules", children)
    return clone


def _is(module, *classes) -> bool:
    return (module is not None and type(module) in classes
            and not (module._forward_hooks or module._forward_pre_hooks))


def _fuse_sequential(model: Sequential) -> Sequential:
    named = model._modules
    names, modules = list(named), list(named.values())
    fused, i = OrderedDict(), 0
    while i < len(modules):
        run = modules[i:i + 5] + [None] * 5
        if _is(run[0], Conv2d) and _is(run[1], BatchNorm2d, BatchNormReLU2d):
            j = 2
            relu = run[j] if type(run[1]) is BatchNorm2d and _is(run[j], ReLU) else None
            j += relu is not None
            pool = run[j] if _is(run[j], MaxPool2d) else None
            dropout = run[j + 1] if pool is not None and _is(run[j + 1], Dropout) else None
            module = ConvBatchNormReLUMaxPool2d(named, run[0], run[1], relu, pool, dropout)
        elif _is(run[0], BatchNorm1d, BatchNorm2d) and _is(run[1], ReLU):
            module = BatchNormReLU(named, run[0], run[1])
        elif _is(run[0], MaxPool2d) and _is(run[1], Dropout):
            module = MaxPool2dDropout(named, run[0], run[1])
        else:
            module = fuse(modules[i]) if modules[i] is not None else None
        fused[names[i]] = module
        i += len(module._parts) if hasattr(module, "_parts") else 1
    return Sequential(fused)
