"""Fused modules: several layers of a ``Sequential`` run as one op.  :func:`minigrad.nn.fuse`
builds them; nothing else does.

Each fused module runs the layers it was built from (its *parts*) and owns nothing: the
parts keep their parameters, buffers and training flags, and :meth:`Fused.named_modules`
lists them under their own names in the container, so a fused model's ``state_dict`` keys,
``parameters()`` and ``train()`` / ``eval()`` are the original model's.  Training the fused
model trains the original.

==============================  ===================================================  ==================
fused module                    does                                                 when
==============================  ===================================================  ==================
``BatchNormReLU``               relu(batch_norm(x)) in one pass each way             always
                                (``F.batch_norm_relu``)
``MaxPool2dDropout``            dropout(max_pool2d(x)) in one pass each way          always
                                (``F.max_pool2d_dropout``)
``ConvBatchNormReLUMaxPool2d``  conv -> batch norm [-> ReLU] [-> 2x2 max-pool        folded: evaluation
                                [-> dropout]]: in evaluation without gradients one   without gradients;
                                convolution with the batch norm folded into its      otherwise the two
                                filters, the ReLU and the pool in its output pass;   fusions above
                                otherwise the two fusions above
==============================  ===================================================  ==================

Each gives the layers' own result to rounding (tests/test_fuse.py).  Hooks registered on
the parts do not fire in a fused model (their ``forward`` is not called): put hooks on the
plain model, which runs every layer.
"""
from __future__ import annotations

import math
from collections import OrderedDict

from .. import functional as F
from ..autograd import is_grad_enabled
from ..ops.conv import conv2d_max_pool2x2
from ..tensor import Tensor
from .layers import BatchNormReLU2d, ReLU
from .module import Module


class Fused(Module):
    """Base of the fused modules: ``parts`` (name in the container -> layer) run as one op."""

    def __init__(self, parts: OrderedDict):
        super().__init__()
        object.__setattr__(self, "_parts", OrderedDict((k, v) for k, v in parts.items() if v is not None))

    def named_modules(self, prefix: str = "", memo: set | None = None):
        """This module, then each part under its own name in the container that holds this
        module (``features.1``, not ``features.0.1``): the state's names do not change."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        parent = prefix.rpartition(".")[0]
        for name, part in self._parts.items():
            yield from part.named_modules(f"{parent}.{name}" if parent else name, memo)

    def extra_repr(self) -> str:
        return ", ".join(f"{name}: {type(part).__name__}" for name, part in self._parts.items())


def _names(modules: OrderedDict, *parts) -> OrderedDict:
    """The container's names of ``parts`` (those not None), in order."""
    ids = {id(p) for p in parts if p is not None}
    return OrderedDict((name, m) for name, m in modules.items() if id(m) in ids)


class BatchNormReLU(Fused):
    """relu(batch_norm(x)) for a ``BatchNorm1d`` / ``BatchNorm2d`` and the ``ReLU`` after it, as one op
    (:class:`~minigrad.ops.norm.BatchNormReLU` in training, ``BatchNormReLUEval`` in evaluation)."""

    def __init__(self, named: OrderedDict, batch_norm, relu):
        super().__init__(_names(named, batch_norm, relu))
        object.__setattr__(self, "batch_norm", batch_norm)

    def forward(self, x):
        bn = self.batch_norm
        return bn._normalise(x, bn._relu_function)   # _relu_function: F.batch_norm_relu, or a synchronised one


class MaxPool2dDropout(Fused):
    """dropout(max_pool2d(x)) for a ``MaxPool2d`` and the ``Dropout`` after it, as one op
    (``F.max_pool2d_dropout``: one pass each way for 2x2 windows while training)."""

    def __init__(self, named: OrderedDict, pool, dropout):
        super().__init__(_names(named, pool, dropout))
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "dropout", dropout)

    def forward(self, x):
        pool, dropout = self.pool, self.dropout
        return F.max_pool2d_dropout(x, pool.kernel_size, pool.stride, pool.padding, dropout.p, dropout.training)


def _is_max_pool_2x2(pool) -> bool:
    """2x2 windows, stride 2, no padding: the pooling a convolution can do in its output pass."""
    return pool.kernel_size in (2, (2, 2)) and pool.stride in (2, (2, 2)) and pool.padding in (0, (0, 0))


class ConvBatchNormReLUMaxPool2d(Fused):
    """conv -> 2-D batch norm [-> ReLU] [-> max-pool [-> dropout]] (a conv block).

    Evaluation without gradients: one convolution whose filters and bias carry the batch
    norm's per-channel map y = scale * z + shift (folding: w' = scale * w, b' = scale * b +
    shift), whose output pass applies the ReLU and a 2x2 max-pool where the algorithm allows
    (Winograd, the direct kernel at stride 1).  Folding rewrites every weight (O * C * kh * kw
    values) to save a pass over the output (N * O * OH * OW values): with fewer output pixels
    than weights per filter (one image, small maps) the layers run apart instead.

    Otherwise (training, or gradients recorded): the convolution, then :class:`BatchNormReLU`
    (or the batch norm alone), then :class:`MaxPool2dDropout` (or the pool alone).
    """

    def __init__(self, named: OrderedDict, conv, batch_norm, relu=None, pool=None, dropout=None):
        super().__init__(_names(named, conv, batch_norm, relu, pool, dropout))
        relu_after = relu is not None or isinstance(batch_norm, BatchNormReLU2d)
        norm = BatchNormReLU(named, batch_norm, relu) if relu is not None else batch_norm
        if pool is not None and dropout is not None:
            after = MaxPool2dDropout(named, pool, dropout)
        else:
            after = pool
        for name, value in (("conv", conv), ("batch_norm", batch_norm), ("relu_after", relu_after),
                            ("norm", norm), ("pool", pool), ("after", after)):
            object.__setattr__(self, name, value)

    def forward(self, x):
        conv, bn = self.conv, self.batch_norm
        if bn.training or is_grad_enabled() or x.shape[0] * x.shape[2] * x.shape[3] < math.prod(conv.weight.shape[1:]):
            y = self.norm(conv(x))
            return self.after(y) if self.after is not None else y
        scale, shift = bn.scale_and_shift()
        w = Tensor(conv.weight.data * scale[:, None, None, None].astype(conv.weight.dtype), _copy=False)
        b = Tensor((shift if conv.bias is None else scale * conv.bias.data + shift).astype(w.dtype), _copy=False)
        if self.pool is not None and _is_max_pool_2x2(self.pool):
            return conv2d_max_pool2x2(x, w, b, conv.stride, conv.padding, conv.groups, relu=self.relu_after)
        y = F.conv2d(x, w, b, stride=conv.stride, padding=conv.padding, groups=conv.groups, relu=self.relu_after)
        return self.pool(y) if self.pool is not None else y   # dropout: the identity in evaluation
