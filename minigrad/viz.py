"""Seeing the computation graph: :func:`graph` draws it, :func:`trace_backward` replays its backward walk.

    loss = F.cross_entropy(model(x), y)
    g = graph(loss, modules=model)           # before backward(): the walk frees the graph
    loss.backward()
    g.render("graph.svg")                    # op nodes now show the norm of their gradient
    print(graph(loss2, modules=model, fold=True).source)   # one node per layer, as DOT text

A tensor made by an op remembers the op's :class:`~minigrad.autograd.Context`, whose
``inputs`` are the tensors it was made from: following them from the loss visits every op
once.  Gradient norms are caught by a hook on each op's output tensor (hooks run only during
that tensor's backward, so a plain ``backward()`` elsewhere pays nothing); a leaf shows the
norm of its ``.grad``.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .autograd import topological_order, unbroadcast
from .tensor import Tensor


@dataclass
class Node:
    """An op (``kind`` "op": the op's name) or a leaf ("leaf": a parameter's dotted name, or "input")."""
    id: int
    kind: str
    name: str
    shape: tuple
    dtype: str
    module: str | None = None  # the module whose parameters the op reads (or that it follows)
    tensor: Tensor | None = field(default=None, repr=False)
    grad_norm: float | None = None  # set by the hook during backward (ops) or read from .grad (leaves)

    def gradient_norm(self):
        if self.kind == "leaf" and self.tensor is not None and self.tensor.grad is not None:
            return float(np.linalg.norm(self.tensor.grad))
        return self.grad_norm


def _parameter_names(modules) -> dict:
    """{id(parameter): dotted name} from a Module (``named_parameters``) or a {name: tensor} dict."""
    if modules is None:
        return {}
    items = modules.items() if isinstance(modules, dict) else modules.named_parameters()
    return {id(tensor): name for name, tensor in items}


class Graph:
    """The ops and leaves that produced a tensor, and the edges between them in the data's direction.

    ``nodes``: {id: Node}; ``edges``: [(from id, to id)], one per use (``a + a`` gives two).
    ``source`` is the Graphviz DOT text, ``backward_source`` the same graph with the edges
    reversed (the way gradients flow); :meth:`render` writes SVG or PNG with Graphviz's ``dot``.
    """

    def __init__(self, nodes: dict, edges: list, fold: bool = False, expand=(), module_types=None):
        self.nodes, self.edges, self.fold, self.expand = nodes, edges, fold, tuple(expand)
        self.module_types = module_types or {}  # {module name: its class name}, for folded labels

    def with_folding(self, fold: bool = True, expand=()) -> "Graph":
        """The same graph drawn with other folding (the nodes, and their gradient norms, are shared)."""
        return Graph(self.nodes, self.edges, fold, expand, self.module_types)

    def _folded(self, node) -> bool:
        return self.fold and node.module is not None and node.module not in self.expand

    def groups(self, backward: bool = False) -> tuple[dict, list]:
        """The drawn nodes ({key: (label, kind)}) and edges after folding each module into one node;
        ``backward`` names each op's backward (``MulBackward``)."""
        suffix = "Backward" if backward else ""
        drawn, members = {}, {}
        for node in self.nodes.values():
            if self._folded(node):
                members.setdefault(node.module, []).append(node)
                continue
            name = node.name + suffix if node.kind == "op" else node.name
            drawn[f"n{node.id}"] = (f"{name}\\n{_shape_text(node)}" + _grad_text(node), node.kind)
        for module, nodes in members.items():
            ops = [n for n in nodes if n.kind == "op"]
            last = ops[-1] if ops else nodes[-1]  # nodes are in topological order: the module's output
            names = ", ".join(dict.fromkeys(n.name + suffix for n in ops))
            kind = self.module_types.get(module)
            title = f"{module}: {kind}" if kind else module
            label = f"{title}\\n{names}\\n{_shape_text(last)}" + _grad_text(last)
            drawn[f"m_{module}"] = (label, "module")

        def key(i):
            node = self.nodes[i]
            return f"m_{node.module}" if self._folded(node) else f"n{i}"
        edges = []
        for a, b in self.edges:
            edge = (key(a), key(b))
            if edge[0] != edge[1] and (not self.fold or edge not in edges):
                edges.append(edge)
        return drawn, edges

    def dot(self, backward: bool = False) -> str:
        """DOT text: data flowing down from the inputs (or, ``backward``, gradients flowing up from the loss)."""
        drawn, edges = self.groups(backward)
        style = {"op": 'shape=box, style="rounded,filled", fillcolor="#dbe8f5"',
                 "module": 'shape=box3d, style=filled, fillcolor="#d9ecd0"',
                 "leaf": 'shape=ellipse, style=filled, fillcolor="#f6e7c8"'}
        lines = ["digraph minigrad {", '  node [fontname="Helvetica", fontsize=10];',
                 '  edge [color="#b04040"];' if backward else "  edge [color=\"#555555\"];"]
        for key, (label, kind) in drawn.items():
            lines.append(f'  {key} [label="{_escape(label)}", {style[kind]}];')
        for a, b in edges:
            lines.append(f"  {b} -> {a};" if backward else f"  {a} -> {b};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @property
    def source(self) -> str:
        return self.dot()

    @property
    def backward_source(self) -> str:
        return self.dot(backward=True)

    def render(self, path, backward: bool = False) -> Path:
        """Write the picture to ``path`` (.svg or .png) with Graphviz's ``dot``; returns the path."""
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower()
        if fmt not in ("svg", "png"):
            raise ValueError(f"Graph.render: {path} must end in .svg or .png")
        if shutil.which("dot") is None:
            raise RuntimeError("Graph.render: Graphviz's `dot` is not installed (apt install graphviz); "
                               "the DOT text is in Graph.source")
        subprocess.run(["dot", f"-T{fmt}", "-o", str(path)], input=self.dot(backward).encode(), check=True)
        return path


def _escape(label: str) -> str:
    return label.replace('"', '\\"')


def _shape_text(node) -> str:
    return f"{tuple(node.shape)} {node.dtype}".replace(",)", ")")


def _grad_text(node) -> str:
    norm = node.gradient_norm()
    return "" if norm is None else f"\\n|grad| {norm:.3g}"


def graph(tensor: Tensor, modules=None, fold: bool = False, expand=()) -> Graph:
    """The :class:`Graph` of everything that produced ``tensor``; call it before ``backward()``.

    ``modules``: a Module (parameters are named by ``named_parameters``: ``features.0.weight``)
    or a {name: tensor} dict naming any leaves.  ``fold``: one node per module that owns
    parameters (the module of the parameters an op reads; a parameter-free op such as a
    ReLU, a pooling or the loss joins the module of the op it follows); ``expand``: module
    names to keep op by op inside a folded graph.
    """
    if tensor._ctx is not None and tensor._ctx._released:
        raise RuntimeError("graph(): backward() already freed this graph; call graph() before backward() "
                           "(or backward(retain_graph=True))")
    names = _parameter_names(modules)
    nodes, edges, order = {}, [], []
    stack, seen = [(tensor, False)], set()
    while stack:  # the same iterative post-order as autograd.topological_order, over every Tensor input
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._ctx is not None:
            stack.extend((p, False) for p in t._ctx.inputs if isinstance(p, Tensor) and id(p) not in seen)
    for number, t in enumerate(order):
        if t._ctx is None:
            name = names.get(id(t), "parameter" if t.requires_grad else "input")
            module = names[id(t)].rpartition(".")[0] if id(t) in names else None
            nodes[id(t)] = Node(number, "leaf", name, t.shape, str(t.dtype), module, t)
            continue
        inputs = [p for p in t._ctx.inputs if isinstance(p, Tensor)]
        owners = [nodes[id(p)].module for p in inputs if nodes[id(p)].kind == "leaf" and nodes[id(p)].module]
        followed = [nodes[id(p)].module for p in inputs if nodes[id(p)].kind == "op" and nodes[id(p)].module]
        node = Node(number, "op", t._ctx.function.__name__, t.shape, str(t.dtype),
                    (owners or followed or [None])[0], t)
        t.register_hook(lambda g, node=node: setattr(node, "grad_norm", float(np.linalg.norm(g))))
        nodes[id(t)] = node
        edges.extend((nodes[id(p)].id, number) for p in inputs)
    types = {} if modules is None or isinstance(modules, dict) else \
        {name: type(m).__name__ for name, m in modules.named_modules()}
    return Graph({n.id: n for n in nodes.values()}, edges, fold, expand, types)


# ------------------------------------------------------------------ the backward walk, replayed
@dataclass
class Step:
    """One node of the backward walk: the gradients its uses sent and their sum, which it passes on."""
    name: str
    op: str | None  # the op that made the node (None for a leaf)
    contributions: list  # [(consumer's name, gradient array)], in the order they arrived
    gradient: np.ndarray


class Trace(list):
    """The steps of :func:`trace_backward`, in the walk's order; ``str()`` explains them."""

    def __str__(self) -> str:
        lines = ["backward walk, loss first; a node runs only after every node that used it has sent",
                 "its gradient (the topological order), and a node used several times adds them up (+=):"]
        for number, step in enumerate(self, 1):
            made = f" = {step.op}(...)" if step.op else " (leaf)"
            lines.append(f"{number:>2}. {step.name}{made}")
            if not step.contributions:
                lines.append(f"      start: dL/d{step.name} = {_value(step.gradient)}")
            for sender, g in step.contributions:
                lines.append(f"      from {sender:<8} {_value(g)}")
            if len(step.contributions) > 1:
                lines.append(f"      sum (+=) dL/d{step.name} = {_value(step.gradient)}")
        return "\n".join(lines)


def _value(array) -> str:
    return np.array2string(np.asarray(array), precision=4, threshold=8, edgeitems=2)


def trace_backward(loss: Tensor, names: dict | None = None) -> Trace:
    """Replay ``loss.backward()`` step by step without changing anything (no ``.grad`` set, graph kept).

    ``names``: {name: tensor} to print instead of ``Mul#3``.  Each :class:`Step` holds the
    gradient every use of the node sent and their sum: the order is
    :func:`minigrad.autograd.topological_order` reversed, and the sums are formed exactly as
    :func:`minigrad.autograd.run_backward` forms them.
    """
    label = {id(t): name for name, t in (names or {}).items()}
    order = topological_order(loss)
    for number, t in enumerate(order):
        label.setdefault(id(t), f"{t._ctx.function.__name__}#{number}" if t._ctx else f"leaf#{number}")
    arriving = {id(loss): []}
    trace = Trace()
    for node in reversed(order):
        parts = arriving.pop(id(node), None)
        if parts is None:
            continue
        if node is loss:
            g, parts = np.ones_like(node.data), []
        else:
            g = parts[0][1]
            for _, part in parts[1:]:
                g = g + part  # run_backward's sum, in the same order
        trace.append(Step(label[id(node)], node._ctx.function.__name__ if node._ctx else None, parts, g))
        if node._ctx is None:
            continue
        node._ctx.check_alive()
        grads = node._ctx.function.backward(node._ctx, g)
        for parent, pg in zip(node._ctx.inputs, grads if isinstance(grads, tuple) else (grads,)):
            if pg is not None and getattr(parent, "requires_grad", False):
                arriving.setdefault(id(parent), []).append((label[id(node)], unbroadcast(np.asarray(pg), parent.shape)))
    return trace
