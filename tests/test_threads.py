"""Import order must not matter: minigrad quiets BLAS's idle spinning even when NumPy came first.

Each check runs in a fresh interpreter, since which library started its threads
first is exactly what is under test.
"""
import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import ctypes, json, os, sys
import numpy as np
from threadpoolctl import ThreadpoolController

blas = ThreadpoolController().select(internal_api="openblas").lib_controllers
if not blas:
    print(json.dumps({"openblas": False})); sys.exit()
handle = ctypes.CDLL(blas[0].filepath)
a = np.ones((256, 256), np.float32)
a @ a
workers_before = set(os.listdir("/proc/self/task")) - {str(os.getpid())}
import minigrad
from minigrad._threads import idle_spin_ms
spin = min(idle_spin_ms(lambda: a @ a) for _ in range(3))
workers_after = set(os.listdir("/proc/self/task")) - {str(os.getpid())}
print(json.dumps({"openblas": True, "timeout": handle.openblas_thread_timeout(),
                  "restarted": not (workers_before & workers_after), "spin_ms": spin}))
"""


def probe(**env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(OPENBLAS_NUM_THREADS="2", **env_extra)  # at least one worker thread to observe
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["openblas"]:
        pytest.skip("NumPy here does not use OpenBLAS")
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_numpy_imported_first_gets_its_blas_pool_restarted_with_a_short_timeout():
    result = probe()
    assert result["timeout"] == 4
    assert result["restarted"], "OpenBLAS's workers from before `import minigrad` are still running"
    # Spinning workers burn 50-100 ms here after each product; sleeping ones about 0.
    assert result["spin_ms"] < 30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_a_users_own_timeout_is_kept():
    assert probe(OPENBLAS_THREAD_TIMEOUT="12")["timeout"] == 12
