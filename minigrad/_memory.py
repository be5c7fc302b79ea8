"""Keep freed memory for the next training step instead of handing it back to the OS.

A training step allocates and frees the same large arrays every time: the seed
CNN's Winograd tiles alone are 19-75 MB per convolution at batch 64.  glibc's
malloc serves blocks above its mmap threshold (128 KB, adapting up to 32 MB) with
fresh pages from the kernel and unmaps them on free, so every step pays a page
fault, and the kernel's zeroing, for each 4 KB page it touches again: measured,
31,000 faults and 134 ms of system time per seed-CNN step at batch 64; 2 faults
and 12 ms with the thresholds below.  Peak memory stays the same (the arrays are
the same); what changes is that freed memory stays in the process for reuse
until it exits, as a GPU framework's caching allocator does.

``MINIGRAD_KEEP_FREED_MEMORY=0`` keeps glibc's defaults.  Elsewhere than glibc
(macOS, Windows, musl) nothing is changed.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1   # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_UP_TO = 2**31 - 1  # bytes: larger than any block a step allocates, and fits mallopt's int


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds; returns True if they were changed."""
    if os.environ.get("MINIGRAD_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_UP_TO)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO))
