"""Winograd against im2col inside the seed CNN's training step (batch 64), in one process.

    python benchmarks/bench_winograd.py

The two algorithms take turns, six rounds of four steps each, so that the machine's
noise falls on both alike; prints the median step time of each and the ratio.  (The
suite's per-op rows time each convolution alone, which misses how the step's other
kernels share the caches and the cores with it.)
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import minigrad.optim as optim  # noqa: E402
import minigrad.ops.conv as conv  # noqa: E402
from fer.models import seed_cnn  # noqa: E402
from fer.presets import PRESETS  # noqa: E402


def main(rounds=6, steps=4, batch=64):
    minigrad.manual_seed(0)
    model = seed_cnn(**PRESETS["seed-cnn"]["model_config"])
    optimizer = optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x, y = minigrad.Tensor(rng.random((batch, 1, 48, 48), dtype=np.float32)), rng.integers(0, 7, batch)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
        optimizer.step()

    default = conv.WINOGRAD_MIN_CHANNELS
    times = {"winograd": [], "im2col": []}
    for _ in range(rounds):
        for algorithm in times:
            # auto picks im2col everywhere when no layer has enough channels for Winograd
            conv.WINOGRAD_MIN_CHANNELS = default if algorithm == "winograd" else 10**9
            step()  # warm-up (compilation on the first round)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[algorithm].append((time.perf_counter() - start) / steps)
    conv.WINOGRAD_MIN_CHANNELS = default
    median = {a: statistics.median(t) for a, t in times.items()}
    for algorithm, seconds in median.items():
        print(f"{algorithm:9} {seconds * 1000:6.0f} ms a step  {batch / seconds:5.1f} images/s")
    print(f"winograd speed-up: {median['im2col'] / median['winograd']:.2f}x")


if __name__ == "__main__":
    main()
