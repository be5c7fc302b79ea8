"""The layers: thin Modules that hold parameters and call :mod:`minigrad.functional`.

Names, arguments, parameter names and shapes follow ``torch.nn``, so a state dict
moves between the two unchanged (BatchNorm's ``num_batches_tracked`` excepted: we
do not keep it, and ignore it when loading PyTorch weights).

Default initialisation of Linear and Conv2d is PyTorch's: weight and bias both
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (``kaiming_uniform_(w, a=sqrt(5))``).  We keep it
because a model then starts from the same distribution as its PyTorch twin, so the
two can be compared run for run; it is He's uniform init scaled down by sqrt(6), a
gentler start that BatchNorm (in the DNN) and Adam (in both seed models) make up
for.  For He or Glorot init call :mod:`minigrad.nn.init` on the weights afterwards,
e.g. ``model.apply(lambda m: isinstance(m, Conv2d) and init.kaiming_normal_(m.weight))``.
All parameters are float32.
"""
import math

import numpy as np

from .. import functional as F
from .._args import pair
from . import init
from .module import Module, Parameter


def _check_ndim(layer: str, x, allowed: tuple, expected: str):
    if x.ndim not in allowed:
        raise ValueError(f"{layer}: expected input {expected}, got shape {tuple(x.shape)}")


class Linear(Module):
    """y = x @ weight.T + bias.  x: (N, in_features) -> y: (N, out_features).

    weight: (out_features, in_features); bias: (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, generator=None) -> None:
        """PyTorch's default: U(-1/sqrt(in_features), 1/sqrt(in_features)) for weight and bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x):
        _check_ndim(f"Linear({self.in_features}, {self.out_features})", x, (2,), f"(N, {self.in_features})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D cross-correlation.  x: (N, in_channels, H, W) -> (N, out_channels, H', W').

    weight: (out_channels, in_channels // groups, kh, kw); bias: (out_channels,).
    H' = (H + 2 * padding - kh) // stride + 1 (``padding="same"`` keeps H' = H at stride 1).
    ``groups``: channels split into groups convolved separately; ``groups=in_channels`` is
    a depthwise convolution (see ``F.conv2d``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, groups: int = 1):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                             f"be multiples of groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride, self.padding = stride, padding
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size),
                                         dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, generator=None) -> None:
        """PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kh * kw."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x):
        _check_ndim(f"Conv2d({self.in_channels}, {self.out_channels})", x, (4,), f"(N, {self.in_channels}, H, W)")
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding, groups=self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={_pair_repr(self.stride)}")
        if isinstance(self.padding, str):
            text += f", padding={self.padding!r}"
        elif self.padding != 0:
            text += f", padding={_pair_repr(self.padding)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


def _pair_repr(value) -> str:
    return str((value, value)) if isinstance(value, int) else str(tuple(value))


class MaxPool2d(Module):
    """Maximum over kernel_size windows.  (N, C, H, W) -> (N, C, H', W'); stride defaults to kernel_size.

    H' = (H + 2 * padding - kernel_size) // stride + 1; the padding is -inf and at most kernel_size / 2.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x):
        _check_ndim("MaxPool2d", x, (4,), "(N, C, H, W)")
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}"
        return text + (f", padding={self.padding}" if self.padding != 0 else "")


class AvgPool2d(Module):
    """Mean over kernel_size windows.  (N, C, H, W) -> (N, C, H', W'); stride defaults to kernel_size.

    H' = (H + 2 * padding - kernel_size) // stride + 1; the padding is zeros, at most kernel_size / 2,
    and left out of each window's mean when count_include_pad is False.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.count_include_pad = padding, count_include_pad

    def forward(self, x):
        _check_ndim("AvgPool2d", x, (4,), "(N, C, H, W)")
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            text += f", padding={self.padding}"
        return text + ("" if self.count_include_pad else ", count_include_pad=False")


class AdaptiveAvgPool2d(Module):
    """Mean over an output_size grid of bins.  (N, C, H, W) -> (N, C, OH, OW) for any H, W.

    output_size is OH (square) or (OH, OW); 1 is global average pooling, the usual head of a CNN
    before its classifier.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        _check_ndim("AdaptiveAvgPool2d", x, (4,), "(N, C, H, W)")
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    """Normalise each channel by batch statistics (training) or running statistics (eval).

    y = (x - mean) / sqrt(var + eps) * weight + bias, per channel.  In training the
    running estimates move towards the batch's: r = (1 - momentum) * r + momentum * batch.
    Parameters weight (ones), bias (zeros); buffers running_mean (zeros), running_var (ones),
    each (num_features,).  Keras calls the buffers the non-trainable parameters.
    """

    # PyTorch also counts batches in a buffer; we do not need it (momentum is fixed), and a
    # count would change the parameter totals that must match Keras's summary.
    _ignored_state_keys = ("num_batches_tracked",)
    _input_ndims: tuple = ()
    _input_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=np.float32))
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))

    def reset_running_stats(self) -> None:
        self.running_mean[...] = 0
        self.running_var[...] = 1

    def scale_and_shift(self):
        """Evaluation's map y = scale * x + shift per channel (float64), from the running
        statistics: scale = weight / sqrt(running_var + eps), shift = bias - scale * running_mean."""
        scale = self.weight.data / np.sqrt(self.running_var.astype(np.float64) + self.eps)
        return scale, self.bias.data - scale * self.running_mean

    _function = staticmethod(F.batch_norm)

    def forward(self, x):
        return self._normalise(x, self._function)

    # relu(self(x)) in one op, for nn.fuse's BatchNormReLU (a synchronised batch norm replaces it).
    _relu_function = staticmethod(F.batch_norm_relu)

    def _normalise(self, x, function):
        name = f"{type(self).__name__}({self.num_features})"
        _check_ndim(name, x, self._input_ndims, self._input_text.format(c=self.num_features))
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels on axis 1, got shape {tuple(x.shape)}")
        return function(x, self.running_mean, self.running_var, self.weight, self.bias,
                        self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + "\n    x: (N, C) or (N, C, L); statistics over every axis but C.\n"
    _input_ndims = (2, 3)
    _input_text = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__ + "\n    x: (N, C, H, W); statistics over N, H and W.\n"
    _input_ndims = (4,)
    _input_text = "(N, {c}, H, W)"


class BatchNormReLU2d(BatchNorm2d):
    """``BatchNorm2d`` followed by ``ReLU``, fused into one op when training (see
    ``F.batch_norm_relu``).  Same parameters, buffers and state-dict keys as a BatchNorm2d, so
    its weights load into PyTorch's ``BatchNorm2d`` (with a ``ReLU`` after it) and back."""

    _function = staticmethod(F.batch_norm_relu)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p).

    The scaling keeps the expected activation unchanged, so evaluation is simply the identity.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge axes start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ReLU(Module):
    """y = max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x, elementwise."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x)), elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x), elementwise."""

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """y = exp(x) / sum(exp(x)) along ``dim``.  Train on logits with F.cross_entropy instead."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Identity(Module):
    """y = x: a placeholder, e.g. to remove a layer without renumbering a Sequential."""

    def forward(self, x):
        return x
