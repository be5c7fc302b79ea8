"""``--threads N``: how many CPU threads the numba kernels and the BLAS matmuls use.

What works, and when:

* **numba** reads ``NUMBA_NUM_THREADS`` when it is imported and sizes its thread pool
  then; afterwards ``numba.set_num_threads(n)`` can lower the count (never raise it
  above the pool).  We do both.
* **BLAS** (OpenBLAS or MKL, inside NumPy) reads ``OPENBLAS_NUM_THREADS`` /
  ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` once, when NumPy is first imported.  The
  ``fer`` command lines import NumPy only inside ``main()``, after the flag is
  parsed, so setting the variables there works.  When NumPy is already loaded (a
  ``main(argv)`` call from Python), only threadpoolctl can change the running
  pools; it is used when installed, otherwise the BLAS count is left as it is and
  a note says so.
"""
import os
import sys

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(n):
    """Use at most ``n`` threads for numba kernels and BLAS; returns what was done, in words."""
    if n < 1:
        raise ValueError(f"--threads must be at least 1, got {n}")
    done = []
    numpy_loaded = "numpy" in sys.modules
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    if not numpy_loaded:
        done.append("BLAS via environment")
    else:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("note: --threads cannot change BLAS threads once NumPy is loaded without threadpoolctl "
                  "(pip install threadpoolctl)", file=sys.stderr)
        else:
            threadpool_limits(n)
            done.append("BLAS via threadpoolctl")
    import numba
    # A pool made before NUMBA_NUM_THREADS was set may be smaller than n: never ask for more than it has.
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    done.append("numba")
    return ", ".join(done)
