"""minigrad.viz: the graph of a small CNN's loss (one node per op and per parameter, with shapes;
folded, one per layer), its DOT text (always) and picture (only where Graphviz's dot exists), and
the replayed backward walk (its order, the summed gradient of a reused node)."""
import shutil

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import autograd
from minigrad.viz import graph, trace_backward

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cnn_loss(small_cnn):
    model = small_cnn()
    x = minigrad.Tensor(np.random.default_rng(0).random((4, 1, 48, 48), dtype=np.float32))
    return model, F.cross_entropy(model(x), np.array([0, 1, 2, 3]))


def test_one_node_per_op_and_parameter_with_shapes_and_gradient_norms(cnn_loss):
    model, loss = cnn_loss
    ops = [t for t in autograd.topological_order(loss) if t._ctx is not None]
    g = graph(loss, modules=model)
    op_nodes = [n for n in g.nodes.values() if n.kind == "op"]
    assert len(op_nodes) == len(ops) and [n.name for n in op_nodes] == [t._ctx.function.__name__ for t in ops]
    assert {n.shape for n in op_nodes} == {t.shape for t in ops}
    params = dict(model.named_parameters())
    leaves = {n.name: n.shape for n in g.nodes.values() if n.kind == "leaf"}
    assert leaves == {**{name: p.shape for name, p in params.items()}, "input": (4, 1, 48, 48)}
    source = g.source
    assert source.count("->") == len(g.edges) == sum(
        sum(isinstance(p, minigrad.Tensor) for p in t._ctx.inputs) for t in ops)
    assert "0.weight\\n(8, 1, 5, 5) float32" in source and "|grad|" not in source
    loss.backward()
    norms = {n.name: n.gradient_norm() for n in g.nodes.values()}
    assert norms["0.weight"] == pytest.approx(float(np.linalg.norm(params["0.weight"].grad)))
    assert next(n for n in op_nodes if n.name == "CrossEntropy").grad_norm == pytest.approx(1.0)
    assert g.source.count("|grad|") == len(op_nodes) + len(params)
    assert g.backward_source.count("->") == len(g.edges) and "CrossEntropyBackward" in g.backward_source


def test_folding_gives_one_node_per_layer_with_parameters(cnn_loss):
    model, loss = cnn_loss
    g = graph(loss, modules=model, fold=True)
    drawn, edges = g.groups()
    layers = {name.rpartition(".")[0] for name, _ in model.named_parameters()}
    assert {k for k in drawn if k.startswith("m_")} == {f"m_{name}" for name in layers}
    assert [label for label, kind in drawn.values() if kind == "leaf"] == ["input\\n(4, 1, 48, 48) float32"]
    assert len(edges) == len(layers)  # a chain: input -> first layer -> ... -> last layer
    assert "0: Conv2d" in g.source
    expanded = graph(loss, modules=model, fold=True, expand=("0",)).groups()[0]
    assert "m_0" not in expanded and any(label.startswith("0.weight") for label, _ in expanded.values())


def test_render_or_a_clear_error(cnn_loss, tmp_path, monkeypatch):
    _, loss = cnn_loss
    g = graph(loss)
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: only the rendering is skipped (the DOT text is tested above)")
    path = g.render(tmp_path / "graph.svg")
    assert path.read_text().lstrip().startswith("<?xml") and "<svg" in path.read_text()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz's `dot` is not installed"):
        g.render(tmp_path / "g.png")
    assert g.source.startswith("digraph")


def test_graph_after_backward_says_to_call_it_before():
    x = minigrad.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="before backward"):
        graph(y)


def test_trace_backward_order_and_the_sum_at_a_reused_node():
    x = minigrad.Tensor(2.0, requires_grad=True, dtype=np.float64)
    y = minigrad.Tensor(3.0, requires_grad=True, dtype=np.float64)
    a = x * y
    b = a + a
    c = b * a
    trace = trace_backward(c, dict(x=x, y=y, a=a, b=b, c=c))
    assert [s.name for s in trace][:3] == ["c", "b", "a"]  # a waits for both of its users
    step_a = trace[2]
    assert [sender for sender, _ in step_a.contributions] == ["c", "b", "b"]
    parts = [float(g) for _, g in step_a.contributions]
    assert parts == [12.0, 6.0, 6.0] and float(step_a.gradient) == sum(parts) == 4 * 6.0  # dc/da = 4a
    assert x.grad is None and "sum (+=) dL/da = 24." in str(trace)
    c.backward()  # the trace kept the graph and agrees with the real walk
    assert {s.name: float(s.gradient) for s in trace if s.op is None} == {"x": x.grad, "y": y.grad}


def test_trace_backward_matches_backward_on_a_network(cnn_loss):
    model, loss = cnn_loss
    trace = trace_backward(loss, dict(model.named_parameters()))
    loss.backward()
    for step in trace:
        if step.op is None:
            assert np.allclose(step.gradient, dict(model.named_parameters())[step.name].grad, atol=1e-6)
    assert len({s.name for s in trace}) == len(trace)


def test_fer_graph_draws_an_untrained_model_and_a_run(tmp_path, tiny_run):
    from fer import graph as command
    from fer.cli.common import UsageError

    with pytest.raises(UsageError, match="RUN or --model"):
        command.main([])
    assert command.main(["--model", "cnn", "--out", str(tmp_path / "cnn")]) == 0
    layers = (tmp_path / "cnn" / "graph.dot").read_text()
    assert layers.count("shape=box3d") == 4 * 2 + 3 * 2 + 1  # conv+BN per block, linear+BN per dense, the last
    assert "0: Conv2d" in layers and "|grad|" in layers
    assert "CrossEntropyBackward" in (tmp_path / "cnn" / "graph-backward.dot").read_text()
    assert "features" not in (tmp_path / "cnn" / "graph-ops.dot").read_text()
    run = tiny_run("cnn", 1, 120)
    assert command.main([str(run), "--format", "png"]) == 0
    assert (run / "graph-ops.dot").exists()
    if shutil.which("dot") is not None:
        assert (tmp_path / "cnn" / "graph.svg").exists() and (run / "graph-backward.png").exists()
