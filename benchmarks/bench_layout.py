"""The ``xception`` network's training step with its blocks channel-major and in NCHW, beside
PyTorch's channels-last step, in one process.

    python benchmarks/bench_layout.py [--batch 64] [--rounds 5]

``Xception.forward`` lays its tensors out channel by channel after the stem
(``minigrad/ops/layout.py``); "nchw" replaces that call by the identity, so the same blocks run
in the ordinary layout.  The three steps take turns, ``rounds`` times of 10 steps, so that the
machine's noise falls on all alike; prints each one's median images/s and the ratios.  Both
libraries' thread pools live in this one process (passive OpenMP waiting keeps them from
spinning on each other); ``suite.py`` measures each engine in a process of its own.
"""
import argparse
import contextlib
import os
import statistics
import sys
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_WAIT_POLICY", "passive")   # before torch or numba starts its pool
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import minigrad.functional as F  # noqa: E402
from suite import step_function, timed  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    steps = {"channel-major": step_function("xception", args.batch, "minigrad", train=True),
             "nchw": step_function("xception", args.batch, "minigrad", train=True)}
    try:
        import torch

        torch.set_num_threads(args.threads)
        steps["torch-cl"] = step_function("xception", args.batch, "torch-cl", train=True)
    except ImportError:
        print("PyTorch is not installed: minigrad's two layouts only")

    def speed(name, repeats):
        layout = mock.patch.object(F, "channel_major", lambda t: t) if name == "nchw" else contextlib.nullcontext()
        with layout:
            return args.batch / timed(steps[name], 1, repeats)

    for name in steps:
        speed(name, 2)                    # compile and warm up
    results = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name in steps:
            results[name].append(speed(name, 10))
    median = {name: statistics.median(v) for name, v in results.items()}
    print(f"xception training step, batch {args.batch}, {args.rounds} rounds of 10 steps (images/s):")
    for name, values in results.items():
        print(f"  {name:14} {median[name]:6.0f}   (rounds {min(values):.0f}-{max(values):.0f})")
    print(f"channel-major / nchw: {median['channel-major'] / median['nchw']:.2f}x")
    if "torch-cl" in median:
        print(f"against PyTorch channels-last: channel-major {median['channel-major'] / median['torch-cl']:.2f}x, "
              f"nchw {median['nchw'] / median['torch-cl']:.2f}x")


if __name__ == "__main__":
    main()
