"""What minigrad/runtime.py's process settings buy, measured in fresh interpreters.

    python benchmarks/bench_runtime.py

* idle spinning: CPU milliseconds the process burns in 0.2 s of sleep right after a matrix
  product (OpenBLAS's workers spinning), with NumPy imported before minigrad, with the
  settings and with a user's long OPENBLAS_THREAD_TIMEOUT (the default's behaviour);
* page faults of allocating a 64 MB array a second time, freed memory kept or not
  (MINIGRAD_KEEP_FREED_MEMORY=0).

Prints a table; asserts nothing (timings and fault counts depend on the machine).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SPIN = r"""
import json, time
import numpy as np
a = np.ones((256, 256), np.float32)
a @ a
import minigrad

def idle_spin_ms(work, seconds=0.2):
    work()
    start = time.process_time()
    time.sleep(seconds)
    return (time.process_time() - start) * 1000

print(json.dumps(min(idle_spin_ms(lambda: a @ a) for _ in range(3))))
"""

FAULTS = r"""
import ctypes, json, resource
ctypes.CDLL("libc.so.6").prctl(41, 1, 0, 0, 0)   # PR_SET_THP_DISABLE: count 4 KB pages, not huge ones
import minigrad, numpy as np
np.ones(2**24, np.float32)   # 64 MB, above glibc's largest adaptive mmap threshold (32 MB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(2**24, np.float32)   # the same size again, as the next training step would allocate it
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
"""


def run(code, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    done = subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    print("| setting | measured |\n|---|---|")
    for label, timeout in (("4 (minigrad's)", "4"), ("28 (the default)", "28")):
        spin = run(SPIN, OPENBLAS_NUM_THREADS="2", OPENBLAS_THREAD_TIMEOUT=timeout)
        print(f"| OpenBLAS timeout {label} | {spin:.1f} ms CPU spinning after a product |")
    if sys.platform.startswith("linux"):
        for label, keep in (("freed memory kept", "1"), ("MINIGRAD_KEEP_FREED_MEMORY=0", "0")):
            print(f"| {label} | {run(FAULTS, MINIGRAD_KEEP_FREED_MEMORY=keep)} page faults reallocating 64 MB |")


if __name__ == "__main__":
    main()
