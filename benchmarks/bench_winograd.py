"""Winograd against im2col inside the seed CNN's training step (batch 64), and layer by
layer for 3x3 and 5x5 filters, in one process.

    python benchmarks/bench_winograd.py

The two algorithms take turns, six rounds of four steps each, so that the machine's
noise falls on both alike; prints the median step time of each and the ratio.  (The
suite's per-op rows time each convolution alone, which misses how the step's other
kernels share the caches and the cores with it.)  The layer table times forward and
backward of single convolutions the same way: im2col, Winograd with 2x2 tiles, and the
Winograd algorithm conv2d picks (F(4x4, 3x3) where 4x4 tiles cover the output well).
No preset's network has a 5x5 convolution with enough channels for Winograd (the seed
CNN's 5x5 filters see one input channel); the 5x5 rows time F(2x2, 5x5) for others.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import minigrad.nn  # noqa: E402
import minigrad.optim as optim  # noqa: E402
from fer.models.networks import seed_cnn  # noqa: E402
from fer.models.presets import PRESETS  # noqa: E402


def main(rounds=6, steps=4, batch=64):
    minigrad.manual_seed(0)
    model = minigrad.nn.fuse(seed_cnn(**PRESETS["seed-cnn"]["model_config"]))
    optimizer = optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x, y = minigrad.Tensor(rng.random((batch, 1, 48, 48), dtype=np.float32)), rng.integers(0, 7, batch)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
        optimizer.step()

    times = {"winograd": [], "im2col": []}
    for _ in range(rounds):
        for algorithm in times:
            # "winograd": auto's choice (Winograd where it pays); "im2col": pinned for every layer
            with minigrad.algorithms(conv="auto" if algorithm == "winograd" else "im2col"):
                step()  # warm-up (compilation on the first round)
                start = time.perf_counter()
                for _ in range(steps):
                    step()
            times[algorithm].append((time.perf_counter() - start) / steps)
    median = {a: statistics.median(t) for a, t in times.items()}
    for algorithm, seconds in median.items():
        print(f"{algorithm:9} {seconds * 1000:6.0f} ms a step  {batch / seconds:5.1f} images/s")
    print(f"winograd speed-up: {median['im2col'] / median['winograd']:.2f}x")


#: (batch, in channels, out channels, height = width, filter size): 'same' padding
LAYERS = [(64, 64, 128, 20, 3), (64, 64, 128, 24, 3), (64, 128, 256, 10, 3), (64, 256, 512, 6, 3),
          (64, 64, 128, 20, 5), (64, 128, 128, 12, 5)]


def layers(rounds=8):
    """Forward + backward of single convolutions: im2col, Winograd F(2x2, r x r), and the
    Winograd algorithm conv2d picks for the shape (F(4x4, 3x3) where its tiles pay)."""
    import minigrad.dispatch as dispatch
    from minigrad.kernels.winograd import F2x2_3x3

    picks = dispatch.winograd_transforms
    only_2x2 = lambda w_shape, OH, OW: F2x2_3x3 if w_shape[2] == 3 else picks(w_shape, OH, OW)  # noqa: E731
    ways = {"im2col": ("im2col", picks), "F(2x2)": ("winograd", only_2x2), "picked": ("winograd", picks)}
    rng = np.random.default_rng(0)
    print("\nlayer (N, C, O, H, r)          im2col     F(2x2)     picked               picked vs im2col, vs F(2x2)")
    for N, C, O, H, r in LAYERS:
        x = minigrad.Tensor(rng.standard_normal((N, C, H, H), dtype=np.float32), requires_grad=True)
        w = minigrad.Tensor(rng.standard_normal((O, C, r, r), dtype=np.float32) * 0.05, requires_grad=True)
        times = {way: [] for way in ways}
        for round_ in range(rounds + 1):
            for way, (algorithm, choose) in ways.items():
                dispatch.winograd_transforms = choose
                start = time.perf_counter()
                y = F.conv2d(x, w, padding=r // 2, algorithm=algorithm)
                y.backward(np.ones(y.shape, np.float32))
                if round_:                       # round 0 compiles
                    times[way].append(time.perf_counter() - start)
        dispatch.winograd_transforms = picks
        ms = {way: statistics.median(t) * 1000 for way, t in times.items()}
        name = picks((O, C, r, r), H, H).name
        print(f"{str((N, C, O, H, r)):30} {ms['im2col']:6.1f} ms  {ms['F(2x2)']:6.1f} ms  {ms['picked']:6.1f} ms "
              f"{name:12} {ms['im2col'] / ms['picked']:5.2f}x  {ms['F(2x2)'] / ms['picked']:5.2f}x")


if __name__ == "__main__":
    main()
    layers()
