"""The one import surface for operations: ``import minigrad.functional as F``.

Names and argument orders follow ``torch.nn.functional`` so code moves between the two.
"""
from .ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .ops.elementwise import abs, add, cast, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt, sub
from .ops.loss import cross_entropy
from .ops.matmul import linear, matmul
from .ops.reduce import max, mean, min, sum
from .ops.shape import concatenate, flatten, getitem, pad, permute, reshape, stack, transpose
from .ops.conv import conv2d
from .ops.layout import channel_major
from .ops.dropout import dropout, max_pool2d_dropout
from .ops.norm import batch_norm, batch_norm_relu
from .ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "abs", "add", "cast", "clip", "concatenate", "cross_entropy", "div", "exp", "flatten", "getitem",
    "leaky_relu", "linear", "log", "log_softmax", "matmul", "max", "maximum", "mean", "min", "minimum",
    "mul", "neg", "pad", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "stack",
    "sub", "sum", "tanh", "transpose",
    "channel_major", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "batch_norm_relu", "dropout",
    "max_pool2d_dropout",
]
