"""Where a training step's time goes, op by op: minigrad's profiler over a few steps.

    python benchmarks/profile_step.py [--model cnn|dnn|fast|xception] [--batch 64] [--steps 10] [--top 25]
                                      [--trace trace.json]

The steps are first timed without the profiler (the wall time per step, best of the steps),
then run again under :mod:`minigrad.profiler`, whose table gives every op's forward and backward
and the optimiser's step: calls, time, share, FLOPs, bytes, and rates against this machine's
measured matrix-multiply peak and copy bandwidth.  ``--trace`` also writes the Chrome trace.
"""
import argparse
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
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--trace", help="also write the Chrome trace-event JSON here")
    args = parser.parse_args(argv)

    from minigrad import profiler
    from suite import step_function

    step = step_function(args.model, args.batch, "minigrad", train=True)
    for _ in range(2):  # compile and warm up
        step()
    plain = []
    for _ in range(args.steps):
        tic = time.perf_counter()
        step()
        plain.append(time.perf_counter() - tic)
    with profiler.profile() as prof:
        for _ in range(args.steps):
            step()
    best, mean = min(plain), sum(plain) / len(plain)
    print(f"{args.model} training step, batch {args.batch}: without the profiler {best * 1e3:.1f} ms "
          f"(best of {args.steps}; mean {mean * 1e3:.1f} ms, {args.batch / mean:.0f} images/s); "
          f"under it {prof.wall / args.steps * 1e3:.1f} ms a step, its ops {prof.total() / args.steps * 1e3:.1f} ms "
          f"({prof.total() / args.steps / best:.0%} of the best plain step)\n")
    print(prof.table(sort_by="total", limit=args.top))
    if args.trace:
        prof.export_chrome_trace(args.trace)
        print(f"trace: {args.trace}")


if __name__ == "__main__":
    main()
