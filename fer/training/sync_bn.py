"""Synchronised batch norm (``--sync-bn``): batch statistics over the global batch, not each rank's share.

In data-parallel training each rank normalises by the statistics of its own share of the
batch (B/N images), as PyTorch's DistributedDataParallel does by default.  With small
shares the statistics get noisy and the model drifts from what one process would train.
Synchronised batch norm all-reduces, per channel, the sums that the statistics and their
gradient need, so that every rank normalises by the global batch's mean and variance:

Forward (per channel, over every rank's M_r values, M = sum_r M_r):
    one Allreduce of [sum x, sum x**2, M_r]:  mean = S1 / M,  var = S2 / M - mean**2
    xhat = (x - mean) / sqrt(var + eps),  y = weight * xhat + bias   [max(y, 0) if fused with ReLU]
Backward (g = the upstream gradient, masked by y > 0 if fused):
    one Allreduce of [sum g, sum g * xhat]  (over all ranks: the global dbias, dweight)
    dx = weight / sqrt(var + eps) / M * (M * g - dbias - xhat * dweight)
    and this rank's own sum g, sum g * xhat as dbias, dweight (the gradient Allreduce
    of :mod:`fer.training.distributed` adds the other ranks').

These are :class:`minigrad.ops.norm.BatchNorm`'s formulas with the sums taken over every
rank; they are exact only if each rank's upstream gradient is already weighted by its share
of the global batch, which :mod:`fer.training.distributed` does.  Two extra Allreduces of 2-3 x C
numbers per batch-norm layer and step: latency, not bandwidth.  Written in NumPy (the
fused numba kernels compute local statistics only); with one process it equals BatchNorm.
"""
from functools import partial

import numpy as np

import minigrad.functional as F
from minigrad import nn
from minigrad.autograd import Function


def _view3(x):
    return x.reshape(x.shape[0], x.shape[1], -1)


def _channel_sums(*arrays):
    """Per-channel sums over axes 0 and 2 of (N, C, L) arrays, in float64, end to end."""
    return np.concatenate([a.sum(axis=(0, 2), dtype=np.float64) for a in arrays])


class SyncBatchNorm(Function):
    """Training-mode batch norm with statistics over every rank of ``group`` (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, momentum=0.1, eps=1e-5, relu=False,
                group=None):
        x3 = _view3(x)
        C = x3.shape[1]
        totals = group.sum(np.concatenate([_channel_sums(x3, np.square(x3, dtype=np.float64)),
                                           [x3.shape[0] * x3.shape[2]]]))
        M = totals[-1]
        if M < 2:
            raise ValueError(f"sync_batch_norm: expected more than 1 value per channel when training, got {M:g}")
        mean = totals[:C] / M
        var = np.maximum(totals[C:2 * C] / M - np.square(mean), 0.0)
        invstd = 1.0 / np.sqrt(var + eps)
        xhat = ((x3 - mean[:, None]) * invstd[:, None]).astype(x.dtype)
        y3 = xhat * (1 if weight is None else weight[:, None]) + (0 if bias is None else bias[:, None])
        if relu:
            y3 = np.maximum(y3, 0)
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        if running_var is not None:
            running_var[...] = (1 - momentum) * running_var + momentum * var * (M / (M - 1))
        ctx.save_for_backward(xhat, invstd, weight, y3 if relu else None)
        ctx.M, ctx.group = M, group
        return y3.astype(x.dtype, copy=False).reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        xhat, invstd, weight, y3 = ctx.saved_tensors
        g = _view3(gy)
        if y3 is not None:
            g = g * (y3 > 0)
        local = _channel_sums(g, g * xhat)
        C = len(invstd)
        total = ctx.group.sum(local)
        scale = invstd if weight is None else weight * invstd
        gx = (scale[:, None] / ctx.M) * (ctx.M * g - total[:C, None] - xhat * total[C:, None])
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (gx.astype(gy.dtype).reshape(gy.shape) if need_x else None,
                local[C:].astype(gy.dtype) if need_w else None,
                local[:C].astype(gy.dtype) if need_b else None)


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
                    relu=False, group=None):
    """``F.batch_norm`` (``relu``: ``F.batch_norm_relu``) with the training statistics taken over ``group``."""
    if not training:
        plain = F.batch_norm_relu if relu else F.batch_norm
        return plain(x, running_mean, running_var, weight, bias, False, momentum, eps)
    return SyncBatchNorm.apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                               momentum=momentum, eps=eps, relu=relu, group=group)


def convert_sync_batchnorm(model, group):
    """Make every batch-norm layer of ``model`` synchronise its statistics over ``group``, in
    place (PyTorch's ``SyncBatchNorm.convert_sync_batchnorm``).  Parameters, buffers and
    checkpoints are unchanged: only how training batches are normalised."""
    for module in model.modules():
        if isinstance(module, nn.layers._BatchNorm):
            module._function = partial(sync_batch_norm, relu=isinstance(module, nn.BatchNormReLU2d), group=group)
            module._relu_function = partial(sync_batch_norm, relu=True, group=group)  # fused with a ReLU after it
    return model
