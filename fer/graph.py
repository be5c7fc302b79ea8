"""``python -m fer.graph RUN``: draw a model's computation graph, forward and backward.

Examples::

    python -m fer.graph runs/20250101-120000-cnn          # a trained run's model, into its folder
    python -m fer.graph --model cnn --out graphs/          # an untrained seed CNN

One training step's graph (a batch of 2 faces, the loss of random labels, in training mode) is
drawn with :func:`minigrad.viz.graph`: ``graph.svg`` with one node per layer (the module that
owns the parameters an op reads), ``graph-ops.svg`` with one node per op and parameter, and
``graph-backward.svg``, the same layers with the edges reversed, as gradients flow, each node
showing the norm of the gradient that passed through it.  The DOT text of each is written
beside (``.dot``), so the graphs are there even without Graphviz's ``dot``.
"""
import argparse

from .cli.common import UsageError, add_threads_arg, run_cli, use_threads

MODELS = ("cnn", "dnn", "vgg", "xception")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m fer.graph", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", metavar="RUN", help="a training run folder (its best.npz's model)")
    parser.add_argument("--model", choices=MODELS, help="instead of RUN: an untrained model of this kind")
    parser.add_argument("--out", help="folder for the pictures (default: RUN, or graph-<model>/)")
    parser.add_argument("--format", choices=("svg", "png"), default="svg", help="picture format (default svg)")
    parser.add_argument("--expand", default="", metavar="NAMES",
                        help="comma-separated layer names to draw op by op in graph.svg (e.g. 0,1)")
    add_threads_arg(parser)
    return parser


def step_graph(model):
    """(Graph, loss) of one training step of ``model`` on 2 random faces of its input size."""
    import numpy as np

    import minigrad
    import minigrad.functional as F
    from minigrad.viz import graph

    from .models.networks import INPUT_SHAPE

    rng = np.random.default_rng(0)
    model.train()
    faces = minigrad.Tensor(rng.random((2, *INPUT_SHAPE), dtype=np.float32))
    loss = F.cross_entropy(model(faces), rng.integers(0, 7, 2))
    return graph(loss, modules=model), loss


def main(argv=None):
    from pathlib import Path

    args = build_parser().parse_args(argv)
    if (args.run is None) == (args.model is None):
        raise UsageError("give a run folder RUN or --model NAME (one of them)")
    use_threads(args)
    if args.run:
        from .training.runs import load_model

        model, _ = load_model(args.run)
        out = Path(args.out or args.run)
    else:
        import minigrad
        from .models.networks import build_model

        minigrad.manual_seed(0)
        model = build_model(args.model)
        out = Path(args.out or f"graph-{args.model}")
    out.mkdir(parents=True, exist_ok=True)
    g, loss = step_graph(model)
    loss.backward()
    expand = tuple(name for name in args.expand.split(",") if name)
    layers = g.with_folding(True, expand)
    pictures = {"graph": (layers, False), "graph-ops": (g, False), "graph-backward": (layers, True)}
    written = []
    for name, (drawn, backward) in pictures.items():
        (out / f"{name}.dot").write_text(drawn.dot(backward))
        try:
            written.append(drawn.render(out / f"{name}.{args.format}", backward=backward))
        except RuntimeError as error:  # no Graphviz: the DOT text is there
            print(f"note: {error}")
            written.append(out / f"{name}.dot")
    ops = sum(node.kind == "op" for node in g.nodes.values())
    print(f"{ops} ops, {len(g.nodes) - ops} leaves; loss {loss.item():.4f}; written: "
          + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    run_cli(main)
