"""Layers and models: ``Module`` and its state, the layers, initialisers and ``summary``.

``minigrad.nn`` mirrors ``torch.nn``: a model is a :class:`Module` whose parameters
and buffers have PyTorch's names, so weights move between the two::

    model = nn.Sequential(nn.Linear(576, 1024), nn.LeakyReLU(), nn.BatchNorm1d(1024), nn.Linear(1024, 7))
    model.state_dict().keys()   # 0.weight, 0.bias, 2.weight, 2.bias, 2.running_mean, 2.running_var, ...
    print(nn.summary(model, (576,)))

Every layer runs on its own; ``nn.fuse(model)`` is the fast layer on top, the same model
(same parameters, same state-dict keys) with runs of layers fused into one op each.
"""
from . import fused, init
from .fuse import fuse
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, BatchNormReLU2d, Conv2d, Dropout,
                     Flatten, Identity, LeakyReLU, Linear, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh)
from .module import IncompatibleKeys, Module, ModuleList, Parameter, RemovableHandle, Sequential, StateDictKeyError
from .summary import summary

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "RemovableHandle", "IncompatibleKeys", "StateDictKeyError",
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "BatchNormReLU2d", "Dropout", "Flatten",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Identity", "init", "summary", "fuse", "fused",
]
