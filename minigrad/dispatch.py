"""Which code runs an op: the backend (compiled kernels or plain NumPy) and the convolution algorithm.

The ops in :mod:`minigrad.ops` hold the formulas; this module holds every choice between
ways of computing the same thing, with the measured reason for each threshold.  All the
ways give the same values and gradients to rounding (the tests pair them).

Backend
-------
``"numba"`` (the default) runs the kernels of :mod:`minigrad.kernels` compiled by numba.
``"reference"`` runs their twins in :mod:`minigrad.kernels.reference` (plain NumPy and
Python loops, written from the formulas) and every convolution by im2col: no numba call
anywhere, so a debugger steps through a whole training step.  Dropout draws the same
masks on both (the same counter-based hash, in NumPy), so a seeded step gives the same
numbers on both.  Pick it with ``with minigrad.backend("reference"):`` or the environment
variable ``MINIGRAD_BACKEND=reference``.  (``NUMBA_DISABLE_JIT=1`` instead runs the fast
kernels themselves as plain Python: slow, but the same code that runs compiled.)

Convolution algorithm (``F.conv2d(..., algorithm="auto")``)
-----------------------------------------------------------
The rule, tried in order on the shapes of one call:

1. a 1x1 kernel without padding, groups 1: ``pointwise`` (a plain matrix product per image);
2. a 3x3 or 5x5 kernel at stride 1, groups 1, with at least ``WINOGRAD_MIN_CHANNELS`` input
   channels and ``WINOGRAD_MIN_TILES`` 2x2 output tiles over the batch: ``winograd``;
3. few channels per group (input x output channels of one group at most
   ``DIRECT_MAX_CHANNEL_PRODUCT``): ``direct`` loops (depthwise layers, first layers);
4. otherwise ``im2col`` (grouped: one im2col convolution per group).

Why the batch size changes the choice: the tiles are counted over the whole batch, since
each Winograd GEMM is as wide as there are tiles.  The seed CNN's conv4 (256 -> 512 channels
on 6x6 maps, 9 tiles an image) reaches 512 tiles at batch 57, so it runs im2col up to batch
56 and Winograd from 57; at batch 1 conv2-conv4 run im2col.  ``--quick``'s 1/8-width seed
CNN (8, 16, 32, 32 channels) has at most 32 x 32 = 1024 channel pairs in a layer: every
convolution runs the direct kernel (in evaluation with the ReLU and the 2x2 max-pool in its
pass), none im2col or Winograd; and without dropout its max-pools run unfused.

``with minigrad.algorithms(conv="im2col"):`` pins one algorithm for every convolution of a
model (where it applies; elsewhere "auto" decides).
"""
from __future__ import annotations

import contextlib
import importlib
import os
from contextvars import ContextVar

import numpy as np

#: When auto picks Winograd.  Its GEMMs sum over the input channels only (im2col's over 9x as
#: many terms), and each is as wide as there are 2x2 output tiles: with few channels or few
#: tiles they are too small to pay for the transforms.  Measured on 2 cores, forward +
#: backward at batch 64: 1 channel 5x slower than im2col, 32 as fast, 64-256 10-25% faster; at
#: batch 1 (9-144 tiles) the forward alone 1.2-19x slower.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_TILES = 512

#: When auto picks direct loops: input times output channels of one group at most this.
#: im2col's matrix product sums over C*kh*kw terms; with few channels it is too thin for BLAS
#: and the kh*kw-fold copy dominates.  Measured on 2 cores, forward + backward of 3x3
#: convolutions at batch 64: 8 -> 8 channels (44x44) 13x faster than im2col, 32 -> 32 2.2x,
#: 32 -> 64 (22x22) 1.2x, 64 -> 64 1.1x slower.
DIRECT_MAX_CHANNEL_PRODUCT = 2048

#: F(4x4, 3x3) runs where it needs at most this share of F(2x2, 3x3)'s multiplications.  Its
#: GEMMs are a quarter as wide and its transforms do more per value, so the count alone
#: misleads: measured forward + backward at batch 64 (bench_winograd.py), 20x20 and 24x24
#: outputs (share 0.56) 1.3x faster than F(2x2, 3x3), 10x10 (0.81) 0.93x, 6x6 (1.0) 0.99x.
F4X4_MAX_SHARE = 0.75

BACKENDS = ("numba", "reference")
CONV_ALGORITHMS = ("auto", "im2col", "winograd", "direct")


def _backend_from_environment() -> str:
    name = os.environ.get("MINIGRAD_BACKEND", "numba")
    if name not in BACKENDS:
        raise ValueError(f"MINIGRAD_BACKEND must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name


_backend = ContextVar("minigrad_backend", default=_backend_from_environment())
_conv_algorithm = ContextVar("minigrad_conv_algorithm", default="auto")


@contextlib.contextmanager
def _set_within(variable: ContextVar, value):
    """``variable`` holds ``value`` inside the block and its previous value after it."""
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


@contextlib.contextmanager
def backend(name: str):
    """``with minigrad.backend("reference"):`` runs every op inside through plain NumPy code."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    with _set_within(_backend, name):
        yield


def current_backend() -> str:
    return _backend.get()


def kernel(module: str, name: str):
    """The kernel ``name`` of ``minigrad/kernels/<module>.py``, or under the reference backend
    its plain-NumPy twin of the same name and signature in ``kernels/reference.py``."""
    if _backend.get() == "reference":
        module = "reference"
    return getattr(importlib.import_module(f"minigrad.kernels.{module}"), name)


@contextlib.contextmanager
def algorithms(conv: str = "auto"):
    """``with minigrad.algorithms(conv="im2col"):`` runs every convolution inside by that
    algorithm where it applies (auto's rule decides the others): one switch for a whole model."""
    if conv not in CONV_ALGORITHMS:
        raise ValueError(f"algorithms: conv must be one of {', '.join(map(repr, CONV_ALGORITHMS))}, got {conv!r}")
    with _set_within(_conv_algorithm, conv):
        yield


_channel_major_twins = None


def for_layout(function, x):
    """``function``, or where x is channel-major (a tensor laid out (C, N, H, W), see
    :mod:`minigrad.ops.layout`) its channel-major twin from there, which keeps that layout."""
    global _channel_major_twins
    from .ops.layout import channel_major_twins, is_channel_major

    if not is_channel_major(getattr(x, "data", x)):
        return function
    if _channel_major_twins is None:
        _channel_major_twins = channel_major_twins()
    return _channel_major_twins.get(function, function)


def winograd_applies(w_shape, stride, padding, groups=1) -> bool:
    """True when a convolution can use Winograd: a 3x3 or 5x5 kernel, stride 1, groups 1,
    the same padding on both axes."""
    if groups != 1 or tuple(w_shape[2:]) not in ((3, 3), (5, 5)) or stride not in (1, (1, 1), [1, 1]):
        return False
    if isinstance(padding, str):
        return padding in ("same", "valid")
    pads = (padding, padding) if np.isscalar(padding) else tuple(padding)
    return len(pads) == 2 and pads[0] == pads[1]


def conv2d_algorithm(x_shape, w_shape, stride, padding, groups=1, algorithm="auto") -> str:
    """The algorithm that runs this convolution: "pointwise", "winograd", "direct" or "im2col".

    ``algorithm`` is what the call asked for; "auto" takes a pin of :func:`algorithms` if any,
    then the rule in the module docstring.  Asking for Winograd where it does not apply is an error."""
    if algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"conv2d: algorithm must be 'auto', 'im2col', 'winograd' or 'direct', got {algorithm!r}")
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    applies = winograd_applies(w_shape, stride, padding, groups)
    if algorithm == "winograd" and not applies:
        raise ValueError(f"conv2d: algorithm='winograd' needs a 3x3 or 5x5 kernel, stride 1, equal padding and "
                         f"groups=1, got kernel {w_shape[2:]}, stride {stride}, padding {padding}, groups {groups}")
    if _backend.get() == "reference" or len(x_shape) != 4 or len(w_shape) != 4:
        return "im2col"       # reference: the one algorithm with plain twins; a bad shape: its checks say why
    one_stride = stride if isinstance(stride, (int, np.integer)) else (stride[0] if stride[0] == stride[1] else None)
    pinned = _conv_algorithm.get()
    if algorithm == "auto" and (pinned == "im2col" or (pinned == "winograd" and applies)
                                or (pinned == "direct" and one_stride is not None)):
        algorithm = pinned
    if algorithm != "auto":
        return algorithm
    if groups == 1 and w_shape[2:] == (1, 1) and padding in (0, (0, 0), [0, 0], "valid", "same"):
        return "pointwise"
    N, C, H, W = x_shape
    if applies and C >= WINOGRAD_MIN_CHANNELS and N * H * W / 4 >= WINOGRAD_MIN_TILES:
        return "winograd"     # tiles counted over the input, whose size 'same' padding keeps
    if one_stride is not None and w_shape[1] * (w_shape[0] // groups) <= DIRECT_MAX_CHANNEL_PRODUCT:
        return "direct"
    return "im2col"


def winograd_transforms(w_shape, OH, OW):
    """The Winograd algorithm for r x r filters and an OH x OW output: F(2x2, 5x5) for 5x5;
    for 3x3, F(4x4, 3x3) where its 4x4 tiles (36 multiplications each) cover the output
    with at most ``F4X4_MAX_SHARE`` of F(2x2, 3x3)'s multiplications (2x2 tiles, 16 each)."""
    from .kernels.winograd import F2x2_3x3
    from .kernels.winograd6 import F2x2_5x5, F4x4_3x3

    if w_shape[2] == 5:
        return F2x2_5x5
    share = (F4x4_3x3.K * np.prod(F4x4_3x3.tile_counts(OH, OW))) / (F2x2_3x3.K * np.prod(F2x2_3x3.tile_counts(OH, OW)))
    return F4x4_3x3 if share <= F4X4_MAX_SHARE else F2x2_3x3
