"""How fast the commands answer ``--help``: what a user waits for before anything runs.

    python benchmarks/bench_startup.py [--repeats 5]

Each ``python -m fer.<command> --help`` runs in a fresh process, ``--repeats`` times;
prints the median and the fastest wall-clock time, and the same for a bare Python
start as the floor.  The tests check the cause of a slow ``--help`` instead (it must
not import NumPy, numba, the engine or matplotlib: tests/test_train_cli.py,
test_saliency.py, test_report.py).  A measurement, not a test: asserts nothing.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "evaluate", "predict", "saliency", "filters", "report", "compare")


def wall_seconds(argv, repeats):
    """Wall-clock seconds of ``repeats`` fresh runs of ``argv``."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - tic)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    args = parser.parse_args(argv)
    cases = [("python -c pass", [sys.executable, "-c", "pass"])]
    cases += [(f"fer.{name} --help", [sys.executable, "-m", f"fer.{name}", "--help"]) for name in COMMANDS]
    print(f"{'command':<24}{'median':>9}{'fastest':>9}")
    for label, command in cases:
        times = wall_seconds(command, args.repeats)
        print(f"{label:<24}{statistics.median(times):>8.2f}s{min(times):>8.2f}s")


if __name__ == "__main__":
    main()
