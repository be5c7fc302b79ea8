"""``summary(model, input_shape)``: a Keras-style table of layers, output shapes and parameter counts.

Output shapes are found the honest way: run the model once on zeros (batch of one,
``no_grad``, eval mode, so no running statistic moves) and let a forward hook on
each layer record what it returned.  The batch axis is printed as ``None``.

Counting follows Keras: a layer's "Param #" is every number it stores, parameters
and buffers alike, so BatchNorm counts 4 * C (weight, bias, running mean and
variance); "Trainable" counts parameters that require grad, "Non-trainable" the
rest (buffers, frozen parameters).
"""
import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module


def _shape_text(output) -> str:
    if isinstance(output, (Tensor, np.ndarray)):
        return str(("None",) + tuple(output.shape[1:])).replace("'None'", "None")
    if isinstance(output, (tuple, list)):
        return ", ".join(_shape_text(o) for o in output)
    return type(output).__name__


def _own_counts(module: Module, seen: set) -> tuple[int, int]:
    """(trainable, non-trainable) numbers stored directly in ``module``, skipping ones already counted."""
    trainable = frozen = 0
    layers = [module, *getattr(module, "_parts", {}).values()]   # a fused module counts its layers'
    for value in [v for m in layers for v in (*m._parameters.values(), *m._buffers.values())]:
        if value is None or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Tensor) and value.requires_grad:
            trainable += value.size
        else:
            frozen += value.size
    return trainable, frozen


def summary(model: Module, input_shape, dtype=np.float32) -> str:
    """The table as a string (print it).  ``input_shape`` excludes the batch axis, e.g. (1, 48, 48).

    A row is shown for every layer without children, and for any container that
    holds parameters of its own, in the order the forward pass calls them.
    """
    named = list(model.named_modules())
    # A fused module (nn.fuse) is one row, holding the layers it runs; those get no row of their own.
    parts = {id(part): fused for _, fused in named for part in getattr(fused, "_parts", {}).values()}
    listed = [(name, m) for name, m in named if id(m) not in parts and (
              not m._modules or any(v is not None for v in (*m._parameters.values(), *m._buffers.values())))]
    shapes, call_order = {}, []

    def record(module, inputs, output):
        if id(module) not in shapes:
            shapes[id(module)] = _shape_text(output)
            call_order.append(id(module))

    handles = [m.register_forward_hook(record) for _, m in listed]
    modes = [(m, m.training) for _, m in named]
    try:
        model.eval()
        with no_grad():
            model(Tensor(np.zeros((1, *tuple(input_shape)), dtype=dtype)))
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            object.__setattr__(m, "training", training)

    # Called layers in call order, then any layer the forward pass never reached.
    position = {key: i for i, key in enumerate(call_order)}
    listed.sort(key=lambda item: position.get(id(item[1]), len(position)))

    seen, rows = set(), []
    total_trainable = total_frozen = 0
    for name, module in listed:
        trainable, frozen = _own_counts(module, seen)
        total_trainable += trainable
        total_frozen += frozen
        label = f"{name} ({type(module).__name__})" if name else type(module).__name__
        rows.append((label, shapes.get(id(module), "(not called)"), f"{trainable + frozen:,}"))

    headers = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) + 4 for i in range(3)]
    line_width = sum(widths)

    def format_row(cells):
        return "".join(f" {cell}".ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = [f'Model: "{type(model).__name__}"', "_" * line_width, format_row(headers), "=" * line_width]
    for i, row in enumerate(rows):
        out.append(format_row(row))
        out.append("_" * line_width if i < len(rows) - 1 else "=" * line_width)
    out += [f"Total params: {total_trainable + total_frozen:,}",
            f"Trainable params: {total_trainable:,}",
            f"Non-trainable params: {total_frozen:,}",
            "_" * line_width]
    return "\n".join(out)
