"""Process settings that make a training step fast on a CPU, in one place: what each does, why, and
what it bought (measured on the project's 2-core machine).  ``import minigrad`` calls :func:`apply`
once; :func:`runtime_settings` reports what it set.  None of it changes a computed value.

1. Thread pools that sleep (``OMP_WAIT_POLICY=passive``, ``OPENBLAS_THREAD_TIMEOUT=4``).
   A training step alternates numba kernels (im2col, pooling, batch norm) with BLAS matrix
   products.  After each call the pool that just finished keeps its threads spinning, waiting
   for more work, and on 2 cores that spinning steals a core from the other pool: conv2 of the
   seed CNN took 215 ms instead of the 128 ms its parts take separately.  After one matrix
   product OpenBLAS's worker burned 50-100 ms of CPU doing nothing (its default idle timeout is
   2**28 cycles); after a numba kernel OpenMP's workers burned about 10 ms.  Passive waiting
   (OpenMP, numba's default threading layer) and a 2**4-cycle OpenBLAS timeout bring both to 0
   (``benchmarks/bench_runtime.py`` measures it).  This is also why im2col's chunks of images
   (``ops/conv.py``) are not made smaller: each chunk hands the cores from one pool to the other.

   Both are read from the environment when a library starts its threads.  OpenMP starts
   numba's pool at the first parallel kernel, after ``import minigrad`` whatever came before,
   so setting the variable here is in time.  OpenBLAS starts its pool when NumPy is imported;
   if NumPy came first (nearly every script), :func:`restart_blas_pools` makes OpenBLAS re-read
   its environment and stops its threads, which it restarts with the short timeout at the next
   matrix product.  ``setdefault``: a user's own value is kept.

2. Freed memory kept for the next step (glibc's ``mallopt``; ``MINIGRAD_KEEP_FREED_MEMORY=0``
   turns it off).  A step allocates and frees the same large arrays every time (the seed CNN's
   Winograd tiles alone are 19-75 MB per convolution at batch 64).  glibc serves blocks above its
   mmap threshold (128 KB, adapting up to 32 MB) with fresh pages from the kernel and unmaps them
   on free, so every step pays a page fault, and the kernel's zeroing, for each 4 KB page it
   touches again: measured, 31,000 faults and 134 ms of system time per seed-CNN step at batch
   64; 2 faults and 12 ms with both thresholds raised to 2**31 - 1.  Peak memory stays the same;
   freed memory stays in the process for reuse until it exits, as a GPU framework's caching
   allocator does.  Elsewhere than glibc (macOS, Windows, musl) nothing is changed.
"""
import ctypes
import os
import sys

QUIET_POOLS = {"OMP_WAIT_POLICY": "passive", "OPENBLAS_THREAD_TIMEOUT": "4"}
M_TRIM_THRESHOLD = -1   # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_UP_TO = 2**31 - 1  # bytes: larger than any block a step allocates, and fits mallopt's int

_settings = {}


def restart_blas_pools():
    """Restart every OpenBLAS thread pool already loaded in this process, so that its workers
    sleep as soon as a matrix product ends.  Returns the libraries restarted.

    Uses two functions every OpenBLAS build exports: ``openblas_read_env`` (re-reads
    ``OPENBLAS_*`` variables) and ``blas_thread_shutdown_`` (joins the workers; OpenBLAS starts
    them again, reading the new timeout, when it next needs them).  Safe between BLAS calls,
    which is the only time Python code runs.
    """
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


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds; returns True if they were changed."""
    if os.environ.get("MINIGRAD_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_UP_TO)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO))


def apply():
    """Make the settings above (``import minigrad`` calls this once, before any kernel runs)."""
    for name, value in QUIET_POOLS.items():
        _settings[name] = os.environ.setdefault(name, value)
    # NumPy, and with it OpenBLAS's pool, may have started before minigrad.
    _settings["blas_pools_restarted"] = restart_blas_pools() if "numpy" in sys.modules else []
    _settings["keep_freed_memory"] = keep_freed_memory()


def runtime_settings() -> dict:
    """What :func:`apply` set: the two environment variables as they now are, the OpenBLAS
    libraries whose pools were restarted, and whether freed memory is kept."""
    return dict(_settings)
