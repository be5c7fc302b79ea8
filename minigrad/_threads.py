"""Make numba's and BLAS's thread pools take turns instead of fighting over the cores.

A training step alternates numba kernels (im2col, pooling, batch norm) with BLAS
matrix products.  After each call the pool that just finished keeps its threads
spinning, waiting for more work, and on a 2-core machine that spinning steals a
core from the other pool: conv2 of the seed CNN took 215 ms instead of the 128 ms
its parts take separately.  Measured with :func:`idle_spin_ms`: after one matrix
product, OpenBLAS's worker burns 50-100 ms of CPU doing nothing (its default idle
timeout is 2**28 cycles); after a numba kernel, OpenMP's workers burn about 10 ms.
Passive waiting (OpenMP, used by numba's default threading layer) and a short
OpenBLAS idle timeout (2**4 cycles) bring both to 0.

Both settings are read from the environment when a library starts its threads:

* OpenMP starts numba's pool at the first parallel kernel, which comes after
  ``import minigrad`` whatever the script imported before, so setting
  ``OMP_WAIT_POLICY`` here is always in time.
* OpenBLAS starts its pool when NumPy is imported.  If NumPy came first (as in
  nearly every script and notebook), the timeout it read is the default one, and
  setting the variable now changes nothing by itself: :func:`calm_running_blas`
  makes OpenBLAS re-read its environment and stops its threads, which it restarts,
  with the short timeout, at the next matrix product.

``setdefault`` leaves a user's own choice alone.
"""
import os
import sys

QUIET_POOLS = {"OMP_WAIT_POLICY": "passive", "OPENBLAS_THREAD_TIMEOUT": "4"}


def calm_running_blas():
    """Restart every OpenBLAS thread pool already loaded in this process, so that its
    workers sleep as soon as a matrix product ends.  Returns the libraries restarted.

    Uses two functions every OpenBLAS build exports: ``openblas_read_env`` (re-reads
    ``OPENBLAS_*`` variables) and ``blas_thread_shutdown_`` (joins the workers;
    OpenBLAS starts them again, reading the new timeout, when it next needs them).
    Safe between BLAS calls, which is the only time Python code runs.
    """
    import ctypes

    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a dependency, but an engine should still import without it
        return []

    restarted = []
    for library in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        handle = ctypes.CDLL(library.filepath)
        if not all(hasattr(handle, name) for name in ("openblas_read_env", "blas_thread_shutdown_")):
            continue  # an OpenBLAS too old or too stripped to restart: leave it as it is
        handle.openblas_read_env()
        handle.blas_thread_shutdown_()
        restarted.append(library.filepath)
    return restarted


def idle_spin_ms(work, seconds=0.2):
    """CPU milliseconds this process burns in ``seconds`` of sleep right after ``work()``:
    the cost of pools that spin instead of sleeping (0 when they sleep)."""
    import time

    work()
    start = time.process_time()
    time.sleep(seconds)
    return (time.process_time() - start) * 1000


for _name, _value in QUIET_POOLS.items():
    os.environ.setdefault(_name, _value)
if "numpy" in sys.modules:  # NumPy, and with it OpenBLAS's pool, started before minigrad
    calm_running_blas()
