"""Batch normalisation: normalise each channel, then scale and shift it.

Inputs are x (N, C), (N, C, L) or (N, C, H, W); each is viewed as x3 (N, C, L) with
L = 1, L or H*W, and statistics are per channel over the M = N*L values x3[:, c, :].

Training (``BatchNorm``) uses the batch's own statistics, so every output depends on
every input of its channel and backward must differentiate through mean and
variance.  The numba kernels in :mod:`minigrad.kernels.norm` do forward and backward
in one pass per channel.  The running statistics are updated in place as in PyTorch:

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)

(the *unbiased* variance, although the *biased* one normalises the batch).

Evaluation (``BatchNormEval``) uses the running statistics, which are constants, so
it is just an affine map per channel, y = x * scale + shift.
"""
import numpy as np

from .._args import shape_text
from ..autograd import Function
from ..dispatch import for_layout, kernel
from ..tensor import Tensor


def _as_array(a):
    """Running statistics may be given as NumPy arrays or Tensors (whose .data is used)."""
    return a.data if isinstance(a, Tensor) else a


def _view3(x):
    """x as the kernels' (N, C, L): statistics per channel over N*L values."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected x (N, C), (N, C, L) or (N, C, H, W), got x {shape_text(x)}")
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))


def _check_per_channel(x, **arrays):
    C = x.shape[1]
    for name, a in arrays.items():
        if a is not None and a.shape != (C,):
            raise ValueError(f"batch_norm: {name} has shape {shape_text(a)} but x {shape_text(x)} has {C} "
                             f"channels, so {name} must be ({C},)")


class BatchNorm(Function):
    """Training-mode batch norm with batch statistics (per channel c, over M = N*L values).

    Shapes: x (N, C, ...), weight (C,) or None (= 1), bias (C,) or None (= 0) -> y like x.

    Forward:   mean = sum(x) / M,  var = sum((x - mean)**2) / M   (biased)
               xhat = (x - mean) / sqrt(var + eps),  y = weight * xhat + bias
    Gradients: dbias = sum(gy),  dweight = sum(gy * xhat)
               dx = weight / sqrt(var + eps) / M * (M * gy - dbias - xhat * dweight)
    (the last two terms are what the mean and the variance, both functions of x, pass back).

    Also updates ``running_mean`` / ``running_var`` (arrays or None) in place.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, momentum=0.1, eps=1e-5, relu=False):
        batch_norm_forward_train = kernel("norm", "batch_norm_forward_train")

        ctx.shape = x.shape
        x3 = _view3(x)
        _check_per_channel(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        M = x3.shape[0] * x3.shape[2]
        if M < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got x {shape_text(x)}")
        if momentum is None:
            raise ValueError("batch_norm: momentum=None (cumulative average) is not supported; "
                             "give a number such as 0.1")
        y3, mean, invstd = batch_norm_forward_train(x3, weight, bias, eps, relu)
        m = float(momentum)
        if running_mean is not None:
            running_mean[...] = (1 - m) * running_mean + m * mean.astype(np.float64)
        if running_var is not None:
            var = (1.0 / np.square(invstd.astype(np.float64)) - eps) * (M / (M - 1))
            running_var[...] = (1 - m) * running_var + m * var
        ctx.save_for_backward(x3, mean, invstd, weight, y3 if relu else None)
        return y3.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        batch_norm_backward = kernel("norm", "batch_norm_backward")

        x3, mean, invstd, weight, y3 = ctx.saved_tensors
        gx3, gw, gb = batch_norm_backward(_view3(gy), x3, mean, invstd, weight, y3)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (gx3.reshape(ctx.shape) if need_x else None,
                gw if need_w else None,
                gb if need_b else None)


class BatchNormReLU(BatchNorm):
    """Training-mode batch norm fused with the ReLU after it: y = max(BatchNorm(x), 0).

    One pass fewer over the activations each way than the two ops apart, and no separate
    ReLU output or mask: the kernel writes max(y, 0) directly, and backward masks gy by
    y > 0 inside the batch-norm gradient's own loops.

    Gradients: those of :class:`BatchNorm` with gy replaced by gy * (y > 0).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, momentum=0.1, eps=1e-5):
        return BatchNorm.forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, relu=True)


class BatchNormEval(Function):
    """Evaluation-mode batch norm: a fixed affine map per channel from the running statistics.

    Shapes: x (N, C, ...), running_mean/var (C,), weight/bias (C,) or None -> y like x.

    Forward:   invstd = 1 / sqrt(running_var + eps),  xhat = (x - running_mean) * invstd
               y = weight * xhat + bias  =  x * scale + shift,  scale = weight * invstd
    Gradients: dx = gy * scale,  dweight = sum(gy * xhat),  dbias = sum(gy)
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, eps=1e-5, relu=False):
        batch_norm_forward_eval = kernel("norm", "batch_norm_forward_eval")

        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        ctx.shape = x.shape
        x3 = _view3(x)
        _check_per_channel(x, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
        y3 = batch_norm_forward_eval(x3, running_mean, running_var, weight, bias, eps, relu)
        # Copies (C values each): the running statistics may change in place before backward.
        invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
        scale = invstd if weight is None else weight * invstd
        ctx.scale = scale.astype(x.dtype)
        need_w = ctx.needs_input_grad[1]
        ctx.save_for_backward(x3 if need_w else None, running_mean.astype(x.dtype) if need_w else None,
                              invstd.astype(x.dtype) if need_w else None, y3 if relu else None)
        return y3.reshape(x.shape)

    @staticmethod
    def backward(ctx, gy):
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gy3 = _view3(gy)
        y3 = ctx.saved_tensors[3]
        if y3 is not None:  # fused with a ReLU: no gradient where it cut the output to 0
            gy3 = gy3 * (y3 > 0)
        gx = gw = gb = None
        if need_x:
            gx = (gy3 * ctx.scale[:, None]).reshape(ctx.shape)
        if need_w:
            x3, mean, invstd, _ = ctx.saved_tensors
            gw = np.einsum("ncl,ncl->c", gy3, x3 - mean[:, None]) * invstd
        if need_b:
            gb = gy3.sum(axis=(0, 2))
        return gx, gw, gb


class BatchNormReLUEval(BatchNormEval):
    """Evaluation-mode batch norm fused with the ReLU after it: y = max(x * scale + shift, 0) in
    one pass (inference's conv blocks), no separate ReLU output.

    Gradients: those of :class:`BatchNormEval` with gy replaced by gy * (y > 0).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, eps=1e-5):
        return BatchNormEval.forward(ctx, x, weight, bias, running_mean, running_var, eps, relu=True)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation (PyTorch's ``F.batch_norm``): x (N, C), (N, C, L) or (N, C, H, W).

    ``training=True``: normalise with the batch's mean and biased variance, and update
    ``running_mean`` / ``running_var`` (NumPy arrays or Tensors, (C,), or None) in place with
    ``momentum`` and the unbiased variance.  ``training=False``: normalise with the running
    statistics.  ``weight`` / ``bias`` (C,) may be None (no affine part).
    """
    running_mean, running_var = _as_array(running_mean), _as_array(running_var)
    if training:
        return for_layout(BatchNorm, x).apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                               momentum=momentum, eps=eps)
    return for_layout(BatchNormEval, x).apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                                              eps=eps)


def batch_norm_relu(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """``relu(batch_norm(x, ...))`` with the same arguments as :func:`batch_norm`, as one fused op
    (:class:`BatchNormReLU` in training, :class:`BatchNormReLUEval` in evaluation)."""
    running_mean, running_var = _as_array(running_mean), _as_array(running_var)
    if training:
        return for_layout(BatchNormReLU, x).apply(x, weight, bias, running_mean=running_mean, running_var=running_var,
                                   momentum=momentum, eps=eps)
    return for_layout(BatchNormReLUEval, x).apply(x, weight, bias, running_mean=running_mean,
                                                  running_var=running_var, eps=eps)
