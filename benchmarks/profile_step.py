"""Where a training step's time goes: cProfile over a few steps, grouped by function.

    python benchmarks/profile_step.py [--model cnn|dnn|fast|xception] [--batch 64] [--steps 10] [--top 18]

A matrix product written ``a @ b`` is not a Python call, so its time shows in the
function that wrote it (the convolution's ``forward``/``backward``); the numba
kernels show under their own names.  Percentages are of the profiled steps' total.
"""
import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("cnn", "dnn", "fast", "xception"), default="cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args(argv)

    from suite import step_function

    step = step_function(args.model, args.batch, "minigrad", train=True)
    for _ in range(2):  # compile and warm up
        step()
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    for _ in range(args.steps):
        step()
    profile.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profile).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}
    total = sum(v[2] for v in stats.values())
    print(f"{args.model} training step, batch {args.batch}: {args.steps} steps in {wall:.2f} s "
          f"({args.batch * args.steps / wall:.0f} images/s under the profiler)\n")
    print(f"{'function':<58}{'calls':>7}{'seconds':>9}{'share':>7}")
    for (file, line, name), (_, calls, tottime, _, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:args.top]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}({name})" if line else name
        print(f"{where[-58:]:<58}{calls:>7}{tottime:>9.3f}{tottime / total:>7.1%}")


if __name__ == "__main__":
    main()
