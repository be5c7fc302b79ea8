"""Evaluation with and without running each conv block as one op, in one process.

    python benchmarks/bench_inference.py [--model cnn|fast] [--batch 256] [--rounds 8]

In evaluation without gradients ``nn.fuse(model)`` runs a convolution, the batch norm after
it, a ReLU and a 2x2 max-pool as one convolution: the batch norm folded into the filters, the
ReLU and the pooling in Winograd's output pass (``nn.fused.ConvBatchNormReLUMaxPool2d``);
"apart" runs the plain model's layers one by one.  The two ways take turns,
``rounds`` times, so that the machine's noise falls on both alike; prints the median time of
each, the ratio, and how far the outputs differ (rounding only).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
from minigrad import nn  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("cnn", "fast"), default="cnn")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)

    from suite import batch, minigrad_model

    model = minigrad_model(args.model)
    model.eval()
    x = minigrad.Tensor(batch(args.batch)[0])
    times, outputs = {"one op": [], "apart": []}, {}
    nets = {"one op": nn.fuse(model), "apart": model}
    for round_ in range(args.rounds + 1):
        for way in times:
            start = time.perf_counter()
            with minigrad.no_grad():
                outputs[way] = nets[way](x).data
            if round_:                           # round 0 compiles
                times[way].append(time.perf_counter() - start)
    median = {way: statistics.median(t) for way, t in times.items()}
    for way, seconds in median.items():
        print(f"{way:7} {seconds * 1000:7.1f} ms a batch of {args.batch}  {args.batch / seconds:6.1f} images/s")
    scale = np.abs(outputs["apart"]).max()
    print(f"speed-up: {median['apart'] / median['one op']:.2f}x; "
          f"largest difference in the logits {np.abs(outputs['one op'] - outputs['apart']).max() / scale:.1e} of their scale")


if __name__ == "__main__":
    main()
