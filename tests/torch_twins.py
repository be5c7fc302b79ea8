"""PyTorch twins of minigrad models: the same layers under the same names, so that a state dict
moves between the two.  Used by the comparison tests (skipped without torch) and by
benchmarks/suite.py; torch is imported only when a twin is built."""


def TorchCentreCrop(size):
    """fer.models.networks.CentreCrop in PyTorch (torchvision's is a transform, not a layer)."""
    import torch

    class CentreCrop(torch.nn.Module):
        def forward(self, x):
            top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
            return x[..., top:top + size, left:left + size]

    return CentreCrop()


def torch_sequential(model):
    """The twin of an ``nn.Sequential`` of plain layers (the seed CNN and DNN), with the
    model's weights copied in."""
    import torch

    layers = []
    for layer in model:
        kind = type(layer).__name__
        if kind == "Conv2d":
            layers.append(torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                          layer.stride, layer.padding, groups=layer.groups))
        elif kind == "Linear":
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features))
        elif kind in ("BatchNorm1d", "BatchNorm2d"):
            layers.append(getattr(torch.nn, kind)(layer.num_features))
        elif kind == "MaxPool2d":
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding))
        elif kind == "Dropout":
            layers.append(torch.nn.Dropout(layer.p))
        elif kind == "LeakyReLU":
            layers.append(torch.nn.LeakyReLU(layer.negative_slope))
        elif kind in ("ReLU", "Flatten"):
            layers.append(getattr(torch.nn, kind)())
        elif kind == "CentreCrop":
            layers.append(TorchCentreCrop(layer.size))
        else:
            raise TypeError(f"no PyTorch twin for {kind}")
    twin = torch.nn.Sequential(*layers)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=False)
    return twin


def torch_xception(stem=(8, 8), widths=(16, 32, 64, 128), dropout=0.0, num_classes=7):
    """The same network written with torch.nn only, module for module (BatchNormReLU2d is a
    BatchNorm2d with a ReLU after it: the same state-dict keys)."""
    import torch

    tnn = torch.nn

    class BatchNormReLU2d(tnn.BatchNorm2d):
        def forward(self, x):
            return torch.relu(super().forward(x))

    class SeparableConv2d(tnn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.depthwise = tnn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
            self.pointwise = tnn.Conv2d(cin, cout, 1, bias=False)

        def forward(self, x):
            return self.pointwise(self.depthwise(x))

    class XceptionBlock(tnn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1, self.bn1 = SeparableConv2d(cin, cout), BatchNormReLU2d(cout)
            self.conv2, self.bn2 = SeparableConv2d(cout, cout), tnn.BatchNorm2d(cout)
            self.pool = tnn.MaxPool2d(3, stride=2, padding=1)
            self.shortcut = tnn.Conv2d(cin, cout, 1, stride=2, bias=False)
            self.shortcut_bn = tnn.BatchNorm2d(cout)

        def forward(self, x):
            y = self.bn1(self.conv1(x))
            y = self.pool(self.bn2(self.conv2(y)))
            return y + self.shortcut_bn(self.shortcut(x))

    class Xception(tnn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 1
            for width in stem:
                layers += [tnn.Conv2d(c, width, 3, padding=1, bias=False), BatchNormReLU2d(width)]
                c = width
            self.stem = tnn.Sequential(*layers)
            blocks = []
            for width in widths:
                blocks.append(XceptionBlock(c, width))
                c = width
            self.blocks = tnn.Sequential(*blocks)
            self.pool = tnn.AdaptiveAvgPool2d(1)
            self.flatten = tnn.Flatten()
            self.dropout = tnn.Dropout(dropout)
            self.classifier = tnn.Linear(c, num_classes)

        def forward(self, x):
            return self.classifier(self.dropout(self.flatten(self.pool(self.blocks(self.stem(x))))))

    return Xception()
