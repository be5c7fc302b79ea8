"""Make numba's and BLAS's thread pools take turns instead of fighting over the cores.

A training step alternates numba kernels (im2col, pooling, batch norm) with BLAS
matrix products.  After each call the pool that just finished keeps its threads
spinning for a few milliseconds, waiting for more work, and on a 2-core machine
that spinning steals a core from the other pool: conv2 of the seed CNN took 215 ms
instead of the 128 ms its parts take separately.  Passive waiting (OpenMP, used by
numba's default threading layer) and a short OpenBLAS idle timeout fix it.

Both are read once, when the libraries start their threads, so this module must be
imported before NumPy and numba are; ``setdefault`` leaves a user's own choice alone.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
