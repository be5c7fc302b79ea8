"""Numba kernels for the data movement around the heavy GEMMs.

Everything here takes and returns plain NumPy arrays (never a Tensor) and keeps
the input's float dtype: float32 in, float32 out; float64 works too (gradient
checks), with its own compiled specialisation.

    conv.py       im2col / col2im (one contiguous row per patch)
    winograd.py   the tile transforms of Winograd's F(2x2, 3x3) and their adjoints
    winograd6.py  the same for F(2x2, 5x5) and F(4x4, 3x3), which have 6x6 tiles
    pool.py       max_pool2d_forward (value + argmax) / max_pool2d_backward,
                  avg_pool2d_forward / avg_pool2d_backward
    norm.py       batch-norm forward (train or eval, each with an optional fused ReLU) and backward
    direct.py     direct (depthwise and grouped) convolutions
    depthwise.py  depthwise (and one-channel) 3x3 at stride 1, the nine taps in one pass
    dropout.py    dropout with its mask drawn in the kernel, alone or fused into a 2x2 max-pool
    optim.py      Adam's update in one pass
    reference.py  slow, obvious loop versions of each kernel: test oracles and
                  the place to read the math

Importing compiles nothing: numba compiles each kernel on its first call and
caches the machine code in __pycache__ (cache=True), so later processes start
fast. NUMBA_DISABLE_JIT=1 runs every kernel as plain Python, for debugging.
Parallel loops use numba's thread pool: NUMBA_NUM_THREADS sets its size at
start-up, set_num_threads() lowers it at run time.
"""
import numba

from .conv import col2im, conv_output_size, im2col
from .norm import batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward


def set_num_threads(n):
    """Use n threads in the parallel kernels (at most NUMBA_NUM_THREADS)."""
    numba.set_num_threads(int(n))


def get_num_threads():
    """Number of threads the parallel kernels currently use."""
    return numba.get_num_threads()


__all__ = [
    "im2col", "col2im", "conv_output_size",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward_train", "batch_norm_forward_eval", "batch_norm_backward",
    "set_num_threads", "get_num_threads",
]
