"""Freed memory is kept for reuse: a step's large arrays do not page-fault again every step."""
import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import ctypes, json, resource
ctypes.CDLL("libc.so.6").prctl(41, 1, 0, 0, 0)   # PR_SET_THP_DISABLE: count 4 KB pages, not huge ones
import minigrad, numpy as np
np.ones(2**24, np.float32)   # 64 MB, above glibc's largest adaptive mmap threshold (32 MB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(2**24, np.float32)   # the same size again, as the next training step would allocate it
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
                  "kept": minigrad._memory.keep_freed_memory()}))
"""


def faults_of_a_reallocation(**env):
    done = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_a_large_array_allocated_again_reuses_its_pages():
    result = faults_of_a_reallocation()
    if not result["kept"]:
        pytest.skip("not glibc")
    assert result["faults"] < 100      # 64 MB of fresh pages would be 16,384 faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_the_setting_can_be_turned_off():
    result = faults_of_a_reallocation(MINIGRAD_KEEP_FREED_MEMORY="0")
    assert not result["kept"]
    assert result["faults"] > 10_000
