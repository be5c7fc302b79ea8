"""A trained network as a flat list of inference steps, batch norm folded away (NumPy only).

:func:`lower` walks a model of :mod:`fer.models` (a ``Sequential`` of the seed CNN, the seed
DNN, the VGG-style net, with or without a leading ``CentreCrop``; or an ``Xception``) and
returns its evaluation-mode computation as :class:`Step` s, which :mod:`fer.onnx_export.nodes`
writes out as ONNX nodes.  Dropout is the identity in evaluation and leaves no step.

Batch norm in evaluation is a per-channel affine map y = scale * z + shift
(``scale = weight / sqrt(running_var + eps)``, ``shift = bias - scale * running_mean``), so it
is folded (in float64, then stored as float32) into the layer next to it:

* after a convolution or linear layer with weights w and bias b (the CNN, VGG, Xception):
  w' = scale * w (each output channel's filter), b' = scale * b + shift;
* before a linear layer (the DNN puts its batch norm after the activation, so the next layer
  takes it): W' = W * scale (each input column), b' = b + W @ shift.

A batch norm that fits neither stays as its own ``affine`` step (none of the study's networks
has one).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from minigrad import nn

from ..errors import UsageError
from ..models.networks import CentreCrop, Standardize
from ..models.residual import SeparableConv2d, Xception, XceptionBlock


@dataclass
class Step:
    """One inference step.  ``kind`` is one of ``conv`` (params w, b; attrs stride, pads,
    groups), ``linear`` (w (out, in), b), ``affine`` (scale, shift per channel; attr image: of a 2-D
    batch norm), ``relu``,
    ``leaky_relu`` (slope), ``max_pool`` (kernel, stride, pad), ``global_avg_pool``, ``flatten``,
    ``standardize`` (eps) or ``residual`` (``branches``: two lists of steps whose outputs add)."""
    kind: str
    params: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    branches: tuple = ()


def lower(model) -> list[Step]:
    """The model's steps, batch norm folded.  UsageError naming a layer it cannot write."""
    return fold(list(_steps(model)))


def _steps(module):
    """Yield the unfolded steps of ``module`` (batch norm still as ``affine``)."""
    if isinstance(module, (nn.Dropout, nn.Identity)) or isinstance(module, CentreCrop):
        return   # dropout: identity in evaluation; CentreCrop: the graph takes crops of its side already
    if isinstance(module, nn.Sequential):
        for child in module:
            yield from _steps(child)
    elif isinstance(module, Xception):
        yield from _steps(module.stem)
        yield from _steps(module.blocks)
        yield Step("global_avg_pool")
        yield Step("flatten")
        yield from _steps(module.classifier)
    elif isinstance(module, XceptionBlock):
        main = [*_steps(module.conv1), *_steps(module.bn1), *_steps(module.conv2), *_steps(module.bn2),
                *_steps(module.pool)]
        yield Step("residual", branches=(main, [*_steps(module.shortcut), *_steps(module.shortcut_bn)]))
    elif isinstance(module, SeparableConv2d):
        yield from _steps(module.depthwise)
        yield from _steps(module.pointwise)
    elif isinstance(module, nn.Conv2d):
        yield Step("conv", _weights(module), {"stride": _pair(module.stride), "pads": _pads(module),
                                              "groups": module.groups})
    elif isinstance(module, nn.Linear):
        yield Step("linear", _weights(module))
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        scale, shift = module.scale_and_shift()
        yield Step("affine", {"scale": scale, "shift": np.asarray(shift, np.float64)},
                   {"image": isinstance(module, nn.BatchNorm2d)})
        if getattr(module, "includes_relu", False):
            yield Step("relu")
    elif isinstance(module, nn.ReLU):
        yield Step("relu")
    elif isinstance(module, nn.LeakyReLU):
        yield Step("leaky_relu", attrs={"slope": float(module.negative_slope)})
    elif isinstance(module, nn.MaxPool2d):
        yield Step("max_pool", attrs={"kernel": _pair(module.kernel_size), "stride": _pair(module.stride),
                                      "pad": _pair(module.padding)})
    elif isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
        yield Step("global_avg_pool")
    elif isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
        yield Step("flatten")
    elif isinstance(module, Standardize):
        yield Step("standardize", attrs={"eps": float(module.eps)})
    else:
        raise UsageError(f"ONNX export: no ONNX form for the layer {type(module).__name__} ({module!r})")


def _weights(layer) -> dict:
    w = layer.weight.data.astype(np.float64)
    b = np.zeros(w.shape[0]) if layer.bias is None else layer.bias.data.astype(np.float64)
    return {"w": w, "b": b}


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pads(conv) -> tuple[int, int]:
    """(padding of height, of width) of a convolution; "same" is (k // 2) at stride 1."""
    if conv.padding == "same":
        return tuple(k // 2 for k in conv.kernel_size)
    return _pair(conv.padding)


def fold(steps: list[Step]) -> list[Step]:
    """``steps`` with each ``affine`` merged into the convolution or linear layer before it,
    or else into the linear layer after it (see the module docstring); branches too."""
    steps = [Step(s.kind, s.params, s.attrs, tuple(fold(b) for b in s.branches)) for s in steps]
    folded: list[Step] = []
    pending = None   # an affine waiting for the linear layer after it
    for step in steps:
        if step.kind == "affine" and folded and folded[-1].kind in ("conv", "linear") and pending is None:
            folded[-1] = _fold_after(folded[-1], step)
        elif step.kind == "affine" and pending is None:
            pending = step
        elif step.kind == "linear" and pending is not None:
            folded.append(_fold_before(pending, step))
            pending = None
        else:
            if pending is not None:   # nothing to fold it into: keep it as its own step
                folded.append(pending)
                pending = None
            folded.append(step)
    if pending is not None:
        folded.append(pending)
    return folded


def _fold_after(layer: Step, affine: Step) -> Step:
    scale, shift = affine.params["scale"], affine.params["shift"]
    w = layer.params["w"] * scale.reshape(-1, *[1] * (layer.params["w"].ndim - 1))
    return Step(layer.kind, {"w": w, "b": scale * layer.params["b"] + shift}, layer.attrs)


def _fold_before(affine: Step, linear: Step) -> Step:
    scale, shift = affine.params["scale"], affine.params["shift"]
    w = linear.params["w"]
    return Step("linear", {"w": w * scale[None, :], "b": linear.params["b"] + w @ shift})
