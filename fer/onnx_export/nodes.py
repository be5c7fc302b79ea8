"""The steps of :mod:`fer.onnx_export.steps` written as an ONNX graph with ``onnx.helper``.

The graph's input ``faces`` is float32 (N, 1, S, S): grey pixels from 0 to 255, S = 48, or the
side of the centre crop a network takes (40 for the ``fast`` and ``best`` presets: the caller
cuts the crop, which is also how ten-crop test-time augmentation feeds it).  The first node
divides by 255, as :func:`fer.data.to_float` does, so every normalisation is inside the graph.
The output ``logits`` is (N, 7); softmax of it gives the probabilities.  The class names, in
order, are in the model's ``metadata_props`` (``labels``, comma-separated).

Opset 17, the oldest opset whose operators cover these networks; ONNX Runtime and OpenCV's
``cv2.dnn`` read it.
"""
from __future__ import annotations

import numpy as np

from .. import LABELS
from ..errors import UsageError
from ..models.networks import INPUT_SHAPE, input_side
from .steps import Step, lower

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "faces", "logits"
INSTALL_HINT = "pip install 'minigrad-fer[onnx]' (or pip install onnx)"


def import_onnx():
    """The ``onnx`` package, or a UsageError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise UsageError(f"ONNX export needs the onnx package, which is not installed: {INSTALL_HINT}") from None
    return onnx


def to_onnx(model, metadata: dict | None = None):
    """An ``onnx.ModelProto`` of the network ``model`` (evaluation mode), checked by
    ``onnx.checker``; ``metadata``: more strings for ``metadata_props``."""
    onnx = import_onnx()
    from onnx import TensorProto, helper

    side = input_side(model) or INPUT_SHAPE[1]
    writer = _Writer(helper)
    scaled = writer.node("Div", [INPUT_NAME, writer.constant("pixel_scale", np.float32(255))])
    out = writer.steps(lower(model), scaled)
    writer.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME]))
    graph = helper.make_graph(
        writer.nodes, "fer", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, side, side])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", len(LABELS)])], writer.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fer",
                              doc_string="Facial-expression logits of grey faces (0-255) framed as FER2013's.")
    # an IR version every runtime that knows opset 17 reads (the newest onnx writes a later one)
    proto.ir_version = 8
    props = {"labels": ",".join(LABELS), "input": f"grey pixels 0-255, (N, 1, {side}, {side})",
             "input_side": str(side), **(metadata or {})}
    helper.set_model_props(proto, {k: str(v) for k, v in props.items()})
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model, path, metadata: dict | None = None):
    """Write ``model`` as an ONNX file at ``path`` (see :func:`to_onnx`); returns the path."""
    onnx = import_onnx()
    onnx.save(to_onnx(model, metadata), str(path))
    return path


class _Writer:
    """Collects the nodes and initialisers (weights) of the graph, naming each uniquely."""

    def __init__(self, helper):
        self.helper, self.nodes, self.initializers, self.count = helper, [], [], 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def constant(self, base: str, array) -> str:
        name = self.name(base)
        array = np.asarray(array, dtype=np.float32)
        self.initializers.append(self.helper.make_tensor(name, 1, array.shape, array.ravel().tolist()))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def steps(self, steps: list[Step], x: str) -> str:
        for step in steps:
            x = self.step(step, x)
        return x

    def step(self, step: Step, x: str) -> str:
        p, a = step.params, step.attrs
        if step.kind == "conv":
            w = self.constant("weight", p["w"])
            (ph, pw), kh, kw = a["pads"], *p["w"].shape[2:]
            return self.node("Conv", [x, w, self.constant("bias", p["b"])], kernel_shape=[kh, kw],
                             strides=list(a["stride"]), pads=[ph, pw, ph, pw], group=a["groups"])
        if step.kind == "linear":
            return self.node("Gemm", [x, self.constant("weight", p["w"]), self.constant("bias", p["b"])], transB=1)
        if step.kind == "affine":   # per channel: axis 1 of (N, C) or (N, C, H, W)
            shape = (-1, 1, 1) if a["image"] else (-1,)
            scaled = self.node("Mul", [x, self.constant("scale", p["scale"].reshape(shape))])
            return self.node("Add", [scaled, self.constant("shift", p["shift"].reshape(shape))])
        if step.kind == "relu":
            return self.node("Relu", [x])
        if step.kind == "leaky_relu":
            return self.node("LeakyRelu", [x], alpha=a["slope"])
        if step.kind == "max_pool":
            (ph, pw) = a["pad"]
            return self.node("MaxPool", [x], kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                             pads=[ph, pw, ph, pw])
        if step.kind == "global_avg_pool":
            return self.node("GlobalAveragePool", [x])
        if step.kind == "flatten":
            return self.node("Flatten", [x], axis=1)
        if step.kind == "standardize":
            # (x - mean) / sqrt(mean((x - mean)^2) + eps), over each image's pixels (Standardize)
            axes = [1, 2, 3]
            centred = self.node("Sub", [x, self.node("ReduceMean", [x], axes=axes, keepdims=1)])
            square = self.node("Mul", [centred, centred])
            variance = self.node("ReduceMean", [square], axes=axes, keepdims=1)
            spread = self.node("Sqrt", [self.node("Add", [variance, self.constant("eps", a["eps"])])])
            return self.node("Div", [centred, spread])
        if step.kind == "residual":
            main, shortcut = (self.steps(branch, x) for branch in step.branches)
            return self.node("Add", [main, shortcut])
        raise UsageError(f"ONNX export: no ONNX form for the step {step.kind!r}")

