"""Batch normalisation, forward and backward: one fused kernel each, parallel over channels.

Inputs are viewed as x3 (N, C, L): L = H*W for BatchNorm2d, L = 1 for
BatchNorm1d. Statistics are per channel c over the M = N*L values x[:, c, :]:

    mean   = (1/M) sum x                          (float64 accumulators)
    var    = (1/M) sum (x - mean)^2               (biased: used to normalise)
    invstd = 1 / sqrt(var + eps)
    xhat   = (x - mean) * invstd
    y      = weight * xhat + bias                 (training may fuse a ReLU: y = max(y, 0))

The kernels return mean and invstd, which is what backward needs. The caller
updates running_var with the unbiased variance, as PyTorch does:
var_unbiased = (1/invstd^2 - eps) * M / (M - 1)  (compute it in float64).

Backward. With g = gy (times the ReLU mask y > 0 when fused), the parameter
gradients are plain sums, and the input gradient comes from differentiating
through mean and var too (they depend on every x):

    gbias   = sum g
    gweight = sum g * xhat
    gx      = weight * invstd / M * (M*g - gbias - xhat * gweight)

(The last line is the familiar three-term formula: the mean's dependence on x
removes the average of g, the variance's removes the part of g along xhat.)

Each channel is independent, so work is split over channels (`prange` over
C). Each kernel reads a channel's data 2-3 times in a row, while it is still
in cache, instead of making separate passes over the whole tensor. All
arithmetic runs in float64 (the explicit float() calls; they also keep
plain-Python runs under NUMBA_DISABLE_JIT, where NumPy would otherwise sum
float32 scalars in float32), so float32 training keeps ~1e-7 relative
accuracy for any M; results are stored in the input dtype.
"""
import math

import numpy as np
from numba import njit, prange

from .._args import as_float_array
from ._fastmath import SUM_IN_ANY_ORDER


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def _bn_forward_train_kernel(x, weight, bias, eps, relu, y, mean_out, invstd_out):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        s = 0.0
        for n in range(N):
            for l in range(L):
                s += float(x[n, c, l])
        mean = s / M
        # Two passes (mean first, then squared deviations) instead of
        # E[x^2] - mean^2, which cancels catastrophically when |mean| >> std.
        ss = 0.0
        for n in range(N):
            for l in range(L):
                d = float(x[n, c, l]) - mean
                ss += d * d
        invstd = 1.0 / math.sqrt(ss / M + eps)
        scale = float(weight[c]) * invstd
        shift = float(bias[c]) - mean * scale
        for n in range(N):
            for l in range(L):
                v = float(x[n, c, l]) * scale + shift
                y[n, c, l] = max(v, 0.0) if relu else v
        mean_out[c] = mean
        invstd_out[c] = invstd


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def _bn_affine_kernel(x, scale, shift, relu, y):
    N, C, L = x.shape
    for c in prange(C):
        a, b = float(scale[c]), float(shift[c])
        for n in range(N):
            for l in range(L):
                v = float(x[n, c, l]) * a + b
                y[n, c, l] = 0.0 if relu and v < 0.0 else v   # a NaN stays NaN, as in np.maximum


@njit(parallel=True, cache=True, fastmath=SUM_IN_ANY_ORDER)
def _bn_backward_kernel(gy, x, mean, invstd, weight, relu, y, gx, gweight, gbias):
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        mu, istd = float(mean[c]), float(invstd[c])
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for l in range(L):
                g = float(gy[n, c, l])
                if relu and not y[n, c, l] > 0:
                    g = 0.0
                sg += g
                sgx += g * ((float(x[n, c, l]) - mu) * istd)
        k = float(weight[c]) * istd / M
        for n in range(N):
            for l in range(L):
                g = float(gy[n, c, l])
                if relu and not y[n, c, l] > 0:
                    g = 0.0
                xhat = (float(x[n, c, l]) - mu) * istd
                gx[n, c, l] = k * (M * g - sg - xhat * sgx)
        gbias[c] = sg
        gweight[c] = sgx


def _check_x3(op, x3):
    x3 = as_float_array(op, "x3", x3)
    if x3.ndim != 3:
        raise ValueError(f"{op}: expected x3 of shape (N, C, L), got {x3.shape}")
    return x3


def _per_channel(op, name, a, C, dtype, default):
    """A (C,) parameter in the input's dtype; None means `default` everywhere."""
    if a is None:
        return np.full(C, default, dtype)
    a = np.ascontiguousarray(a, dtype)
    if a.shape != (C,):
        raise ValueError(f"{op}: expected {name} of shape ({C},), got {a.shape}")
    return a


def batch_norm_forward_train(x3, weight, bias, eps=1e-5, relu=False):
    """Training-mode batch norm: x3 (N, C, L) -> (y3 (N, C, L), mean (C,), invstd (C,)).

    mean and invstd = 1/sqrt(var_biased + eps) are the batch statistics, to be
    saved for backward. weight/bias (C,) or None (= 1 / 0). relu=True returns
    max(y3, 0) in the same pass (pass y3 to batch_norm_backward then). All
    outputs have x3's dtype; statistics are accumulated in float64.
    """
    op = "batch_norm_forward_train"
    x3 = _check_x3(op, x3)
    N, C, L = x3.shape
    if N * L < 1:
        raise ValueError(f"{op}: need at least one value per channel, got x3 {x3.shape}")
    weight = _per_channel(op, "weight", weight, C, x3.dtype, 1.0)
    bias = _per_channel(op, "bias", bias, C, x3.dtype, 0.0)
    y3 = np.empty_like(x3)
    mean = np.empty(C, x3.dtype)
    invstd = np.empty(C, x3.dtype)
    _bn_forward_train_kernel(x3, weight, bias, float(eps), bool(relu), y3, mean, invstd)
    return y3, mean, invstd


def batch_norm_forward_eval(x3, running_mean, running_var, weight, bias, eps=1e-5, relu=False):
    """Inference-mode batch norm with fixed statistics: x3 (N, C, L) -> y3 (N, C, L).

    y = weight * (x - running_mean) / sqrt(running_var + eps) + bias, folded into
    one multiply-add per value: y = x*scale + shift (then max(y, 0) with ``relu``). x3's dtype.
    """
    op = "batch_norm_forward_eval"
    x3 = _check_x3(op, x3)
    C = x3.shape[1]
    mean = _per_channel(op, "running_mean", running_mean, C, np.float64, 0.0)
    var = _per_channel(op, "running_var", running_var, C, np.float64, 1.0)
    scale = _per_channel(op, "weight", weight, C, np.float64, 1.0) / np.sqrt(var + eps)
    shift = _per_channel(op, "bias", bias, C, np.float64, 0.0) - mean * scale
    y3 = np.empty_like(x3)
    _bn_affine_kernel(x3, scale, shift, bool(relu), y3)   # scale, shift stay float64
    return y3


def batch_norm_backward(gy3, x3, mean, invstd, weight, y3=None):
    """Gradients of training-mode batch norm.

    gy3, x3: (N, C, L); mean, invstd: (C,) from the forward; weight (C,) or None.
    y3: the forward output, only when the forward was fused with ReLU
    (relu=True); gy3 is then masked by y3 > 0 first.
    Returns gx3 (N, C, L), gweight (C,), gbias (C,), all in gy3's dtype:
        gbias = sum g, gweight = sum g*xhat,
        gx = weight*invstd/M * (M*g - gbias - xhat*gweight),  M = N*L.
    """
    op = "batch_norm_backward"
    gy3 = as_float_array(op, "gy3", gy3)
    x3 = _check_x3(op, x3)
    if gy3.shape != x3.shape or gy3.dtype != x3.dtype:
        raise ValueError(f"{op}: gy3 {gy3.dtype}{gy3.shape} must match x3 {x3.dtype}{x3.shape}")
    C = x3.shape[1]
    mean = _per_channel(op, "mean", mean, C, x3.dtype, 0.0)
    invstd = _per_channel(op, "invstd", invstd, C, x3.dtype, 1.0)
    weight = _per_channel(op, "weight", weight, C, x3.dtype, 1.0)
    relu = y3 is not None
    if relu:
        y3 = np.ascontiguousarray(y3, x3.dtype)
        if y3.shape != x3.shape:
            raise ValueError(f"{op}: y3 {y3.shape} must match x3 {x3.shape}")
    else:
        y3 = gy3  # placeholder of the same type, never read: one compiled kernel
    gx3 = np.empty_like(x3)
    gweight = np.empty(C, x3.dtype)
    gbias = np.empty(C, x3.dtype)
    _bn_backward_kernel(gy3, x3, mean, invstd, weight, relu, y3, gx3, gweight, gbias)
    return gx3, gweight, gbias
