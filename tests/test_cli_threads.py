"""--threads in a process whose numba pool is already running (a command's main() called from a
script or a test): numba re-reads NUMBA_NUM_THREADS at every compilation and refuses a changed
value, so limit_threads must leave that variable alone and limit the pool by set_num_threads."""
import os

import numba
import numpy as np

from threadpoolctl import threadpool_info, threadpool_limits

from fer.cli.threads import THREAD_VARIABLES, limit_threads


def test_limit_threads_after_numba_started_leaves_later_compilations_working(monkeypatch):
    @numba.njit(parallel=True)
    def total(a):
        s = 0.0
        for i in numba.prange(a.shape[0]):
            s += a[i]
        return s

    total(np.ones(8))                      # the pool is launched
    for name in THREAD_VARIABLES:          # restored when the test ends
        monkeypatch.setenv(name, os.environ.get(name, str(numba.config.NUMBA_NUM_THREADS)))
    blas_threads = max(info["num_threads"] for info in threadpool_info())
    limit_threads(1)
    assert os.environ["NUMBA_NUM_THREADS"] == str(numba.config.NUMBA_NUM_THREADS)
    assert numba.get_num_threads() == 1

    @numba.njit(parallel=True)
    def total_squares(a):                  # a compilation after --threads: refused before the fix
        s = 0.0
        for i in numba.prange(a.shape[0]):
            s += a[i] * a[i]
        return s

    assert total_squares(np.full(4, 2.0)) == 16.0
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    threadpool_limits(blas_threads)
