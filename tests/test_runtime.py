"""minigrad.runtime: each process setting is made once at import, whatever came first, and reported.

Checks of the settings themselves, in fresh interpreters (what ran before ``import minigrad`` is
what is under test); what they buy in time and page faults is measured by
benchmarks/bench_runtime.py, not asserted here.
"""
import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import ctypes, json, os
import numpy as np
from threadpoolctl import ThreadpoolController

blas = ThreadpoolController().select(internal_api="openblas").lib_controllers
a = np.ones((256, 256), np.float32)
a @ a
workers_before = set(os.listdir("/proc/self/task")) - {str(os.getpid())}
import minigrad
settings = minigrad.runtime_settings()
workers_after = set(os.listdir("/proc/self/task")) - {str(os.getpid())}
timeout = ctypes.CDLL(blas[0].filepath).openblas_thread_timeout() if blas else None
print(json.dumps({"openblas": bool(blas), "timeout": timeout, "settings": settings,
                  "restarted": not (workers_before & workers_after)}))
"""


def probe(**env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(OPENBLAS_NUM_THREADS="2", **env_extra)  # at least one worker thread to observe
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task; glibc's malloc")
def test_numpy_imported_first_gets_its_blas_pool_restarted_and_the_settings_are_reported():
    result = probe()
    settings = result["settings"]
    assert settings["OMP_WAIT_POLICY"] == "passive" and settings["OPENBLAS_THREAD_TIMEOUT"] == "4"
    assert isinstance(settings["keep_freed_memory"], bool)
    if not result["openblas"]:
        pytest.skip("NumPy here does not use OpenBLAS")
    assert result["timeout"] == 4
    assert settings["blas_pools_restarted"]
    assert result["restarted"], "OpenBLAS's workers from before `import minigrad` are still running"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_a_users_own_values_are_kept():
    result = probe(OPENBLAS_THREAD_TIMEOUT="12", MINIGRAD_KEEP_FREED_MEMORY="0")
    assert result["settings"]["OPENBLAS_THREAD_TIMEOUT"] == "12"
    assert result["settings"]["keep_freed_memory"] is False
    if result["openblas"]:
        assert result["timeout"] == 12
