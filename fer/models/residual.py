"""Efficient residual networks: depthwise-separable convolutions with shortcuts.

The seed CNN spends about 0.26 GFLOP on one forward pass of a 48x48 face, almost all of
it in full 3x3 convolutions between wide layers.  These networks spend 10-20x less and
train more epochs in the same hour.

* :class:`SeparableConv2d` -- a depthwise 3x3 convolution (each channel filtered on its
  own) followed by a pointwise 1x1 convolution (channels mixed).  From C to O channels it
  costs 9*C + C*O multiply-adds a pixel instead of 9*C*O.
* :class:`XceptionBlock` -- mini-Xception's residual module (Arriaga et al., 2017)::

        x ──> SepConv ─> BN ─> ReLU ─> SepConv ─> BN ─> MaxPool 3x3/2 ──(+)──> out
        └───────────────> Conv 1x1 / 2 ─> BN ──────────────────────────┘

  The main path learns what the module adds; the shortcut carries the input (halved in
  size, its channels matched by the 1x1 convolution), so gradients reach early layers
  directly even in a deep stack.
* :class:`Xception` -- a stem of plain 3x3 convolutions, a stack of XceptionBlocks each
  halving the image, then global average pooling and a linear classifier.  The defaults
  are mini-Xception's widths (51K parameters); the ``xception`` preset widens it.  With global average pooling
  the network takes any input size, so it trains on random crops (44x44) and predicts on
  whole 48x48 faces.  Its blocks run channel-major (``minigrad/ops/layout.py``): the same
  tensors laid out channel by channel, so that each 1x1 convolution is one matrix product
  for the whole batch instead of one per image.
"""
import minigrad.functional as F
from minigrad import nn


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution, then pointwise 1x1 (Keras's ``SeparableConv2D``), no bias
    (a batch norm follows)."""

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """mini-Xception's residual module: out = pool(BN(sep(ReLU(BN(sep(x)))))) + BN(conv1x1/2(x)).

    (N, in_channels, H, W) -> (N, out_channels, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNormReLU2d(out_channels)     # batch norm, then ReLU, in one op
        self.conv2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        y = self.bn1(self.conv1(x))
        y = self.pool(self.bn2(self.conv2(y)))
        return y + self.shortcut_bn(self.shortcut(x))


class Xception(nn.Module):
    """Stem (3x3 conv -> BN+ReLU, once per ``stem`` width), one XceptionBlock per ``widths``
    entry, global average pooling, dropout, linear classifier.

    Input (N, in_channels, H, W) of any size (each block halves it), output logits (N, num_classes).
    """

    def __init__(self, in_channels, stem, widths, dropout, num_classes):
        super().__init__()
        layers, channels = [], in_channels
        for width in stem:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNormReLU2d(width)]
            channels = width
        self.stem = nn.Sequential(*layers)
        blocks = []
        for width in widths:
            blocks.append(XceptionBlock(channels, width))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        # The blocks run channel-major (minigrad/ops/layout.py): same values, laid out channel by
        # channel, so that each 1x1 convolution is one matrix product for the whole batch.
        x = F.channel_major(self.stem(x))
        features = self.flatten(self.pool(self.blocks(x)))
        return self.classifier(self.dropout(features))
