"""The study's models, built from ``minigrad.nn`` layers alone.

Every model is one ``nn.Sequential``, so its state-dict keys (``0.weight``,
``1.running_mean``, ...) are exactly the keys PyTorch would give the same stack:
weights can be moved between the two.

* :func:`seed_cnn`: the report's CNN -- four conv blocks (64 5x5, then 128, 256, 512
  3x3), each conv -> batch norm -> ReLU -> 2x2 max-pool -> dropout with the dropout
  rising 0.2 -> 0.5, then dense 512, 256, 128 (batch norm, ReLU, dropout 0.5) and 7.

  Parameter count with the default config (batch norm on)::

      conv weights+biases   1,664 + 73,856 + 295,168 + 1,180,160   =  1,550,848
      dense weights+biases  2,359,808 + 131,328 + 32,896 + 903      =  2,524,935
      batch-norm gamma/beta 2*(64+128+256+512) + 2*(512+256+128)    =      3,712
      Trainable                                                        4,079,495
      Non-trainable (batch-norm running mean/var)                          3,712
      Total params                                                     4,083,207

  Batch norm is our addition (the report's layer list has none): it costs 0.2% of
  the parameters and makes the net train reliably at the learning rates of a
  one-cycle schedule.  ``batch_norm=False`` gives the plain stack (4,075,783).

* :func:`seed_dnn`: exactly the report's dense network; its summary reproduces the
  report's Keras table: Total params 3,763,207 (Trainable 3,755,015, Non-trainable
  8,192).  The final softmax is fused into the loss, so the model returns logits.

  ``standardize=True`` puts a :class:`Standardize` layer (no parameters) first.

* :func:`vgg`: a VGG-style net (two 3x3 convs per block, batch norm).

  ``seed_cnn`` and ``vgg`` take ``input_size``: below 48, a :class:`CentreCrop` first lets
  them train on random crops and still take whole faces (the ``fast`` preset).

* :func:`xception`: mini-Xception and its wider variants, residual networks of
  depthwise-separable convolutions (:mod:`fer.models.residual`): the ``xception`` preset.

:func:`build_model` rebuilds any of them from a name and a JSON-able config, which
is what a checkpoint header stores: loading a model never runs stored code.
"""
from minigrad import nn

from .residual import Xception

NUM_CLASSES = 7
INPUT_SHAPE = (1, 48, 48)  # (channels, height, width) of one FER2013 image


class CentreCrop(nn.Module):
    """The centre ``size`` x ``size`` square of each image; images already that size pass
    through unchanged.

    A network that ends in dense layers sees one image size only.  With this layer first it
    can train on random ``size`` crops (cheaper per image, and a shift augmentation) and
    still take whole 48x48 faces everywhere else: validation, ``fer.predict``, saliency maps
    (whose gradient is zero on the border it never saw).  ``--tta ten-crop`` hands it crops
    of its own size.
    """

    def __init__(self, size):
        super().__init__()
        self.size = int(size)

    def forward(self, x):
        h, w = x.shape[-2:]
        if min(h, w) < self.size:
            raise ValueError(f"CentreCrop({self.size}): images of shape {tuple(x.shape)} are smaller than the "
                             f"crop (train with --crop {self.size} or larger, or on whole faces)")
        if (h, w) == (self.size, self.size):
            return x
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return x[..., top:top + self.size, left:left + self.size]

    def extra_repr(self):
        return f"size={self.size}"


def input_side(model):
    """The side of the square a network crops its input to (its leading :class:`CentreCrop`),
    or None for a network that takes the whole image."""
    first = model[0] if isinstance(model, nn.Sequential) and len(model) else None
    return first.size if isinstance(first, CentreCrop) else None


def _input_crop(input_size, name):
    """The layers in front of a network that sees ``input_size`` pixels: [CentreCrop] or []."""
    if not 8 <= input_size <= INPUT_SHAPE[1]:
        raise ValueError(f"{name}: input_size must be 8..{INPUT_SHAPE[1]}, got {input_size}")
    return [CentreCrop(input_size)] if input_size < INPUT_SHAPE[1] else []


def seed_cnn(widths=(64, 128, 256, 512), dense=(512, 256, 128), conv_dropout=(0.2, 0.3, 0.4, 0.5),
             dense_dropout=0.5, batch_norm=True, input_size=INPUT_SHAPE[1], num_classes=NUM_CLASSES):
    """The report's CNN.  Input (N, 1, 48, 48), output logits (N, num_classes).

    Each conv block halves the image (48 -> 24 -> 12 -> 6 -> 3), so the flattened
    features number ``widths[-1] * 3 * 3`` (4,608 with the defaults).  The first conv
    is 5x5, the rest 3x3; "same" padding keeps the size until the pool.  Dense
    blocks are Linear -> [BatchNorm1d] -> ReLU -> Dropout, batch norm before the
    activation as in the usual conv practice.

    ``input_size`` below 48 puts a :class:`CentreCrop` first: the network then trains on
    crops of that side (40: 40 -> 20 -> 10 -> 5 -> 2, 2,048 features, 0.7x the compute).
    """
    if len(conv_dropout) != len(widths):
        raise ValueError(f"seed_cnn: need one conv_dropout per conv block, got {len(conv_dropout)} "
                         f"rates for {len(widths)} blocks")
    layers, channels, size = _input_crop(input_size, "seed_cnn"), INPUT_SHAPE[0], input_size
    for i, (width, p) in enumerate(zip(widths, conv_dropout)):
        kernel = 5 if i == 0 else 3
        layers.append(nn.Conv2d(channels, width, kernel, padding=kernel // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(p)]
        channels, size = width, size // 2
    layers.append(nn.Flatten())
    features = channels * size * size
    for width in dense:
        layers.append(nn.Linear(features, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers += [nn.ReLU(), nn.Dropout(dense_dropout)]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


class Standardize(nn.Module):
    """Per-image standardisation: each image minus its mean, over its standard deviation.

    It takes away each photo's brightness and contrast.  A CNN copes with those through
    its batch norm and shared filters; a dense network would have to learn to ignore them
    separately at every pixel.  Built from differentiable ops, so saliency maps pass
    through it.  ``eps`` keeps a blank image finite.
    """

    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps = eps

    def forward(self, x):
        axes = tuple(range(1, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        return centred / ((centred * centred).mean(axis=axes, keepdims=True) + self.eps).sqrt()


def seed_dnn(hidden=(1024, 1024, 1024, 1024), input_dropout=0.2, dropout=0.5, negative_slope=0.3,
             batch_norm=True, standardize=False, num_classes=NUM_CLASSES):
    """The report's dense network.  Input (N, 1, 48, 48), output logits (N, num_classes).

    A 2x2 max-pool shrinks the face to 24x24 = 576 inputs, then four blocks of
    Linear -> LeakyReLU -> BatchNorm1d -> Dropout (the report's order, batch norm
    after the activation), then Linear(1024, 7).  ``negative_slope=0.3`` is
    Keras's LeakyReLU default, which the report used.
    """
    layers = [Standardize()] if standardize else []
    layers += [nn.MaxPool2d(2), nn.Dropout(input_dropout), nn.Flatten()]
    features = (INPUT_SHAPE[1] // 2) * (INPUT_SHAPE[2] // 2) * INPUT_SHAPE[0]
    for width in hidden:
        layers += [nn.Linear(features, width), nn.LeakyReLU(negative_slope)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.Dropout(dropout))
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def vgg(widths=(64, 128, 256, 512), convs_per_block=2, dense=(512,), conv_dropout=(0.1, 0.2, 0.3, 0.4),
        dense_dropout=0.5, input_size=INPUT_SHAPE[1], num_classes=NUM_CLASSES):
    """A VGG-style net: blocks of ``convs_per_block`` 3x3 convs (each conv -> BN ->
    ReLU), then a 2x2 max-pool and dropout; dense layers with BN, ReLU, dropout.

    Stacked 3x3 convs see as far as one big kernel with fewer weights and more
    non-linearities -- the main reason VGG-style nets beat the seed CNN on FER2013.
    ``input_size``: as :func:`seed_cnn`'s.
    """
    if len(conv_dropout) != len(widths):
        raise ValueError(f"vgg: need one conv_dropout per block, got {len(conv_dropout)} rates "
                         f"for {len(widths)} blocks")
    layers, channels, size = _input_crop(input_size, "vgg"), INPUT_SHAPE[0], input_size
    for width, p in zip(widths, conv_dropout):
        for _ in range(convs_per_block):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        layers += [nn.MaxPool2d(2), nn.Dropout(p)]
        size //= 2
    layers.append(nn.Flatten())
    features = channels * size * size
    for width in dense:
        layers += [nn.Linear(features, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dense_dropout)]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def xception(stem=(8, 8), widths=(16, 32, 64, 128), dropout=0.0, num_classes=NUM_CLASSES):
    """mini-Xception (see :mod:`fer.models.residual`); the defaults are the paper's widths.  It takes
    faces of any size, so it can train on random crops and predict on whole faces."""
    return Xception(INPUT_SHAPE[0], tuple(stem), tuple(widths), dropout, num_classes)


MODELS = {"cnn": seed_cnn, "dnn": seed_dnn, "vgg": vgg, "xception": xception}
"""Registry: the name stored in a checkpoint header -> the function that builds it."""


def build_model(name, **config):
    """Build model ``name`` (a key of :data:`MODELS`) with keyword ``config``.

    ``config`` holds only JSON values (lists arrive where tuples were meant; the
    builders accept either), so ``build_model(**architecture)`` of a stored header
    rebuilds the network without running any stored code.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    try:
        return MODELS[name](**config)
    except TypeError as error:  # an unknown or misspelt config key
        raise ValueError(f"bad config for model {name!r}: {error}") from None


def architecture(name, **config):
    """The JSON-able description of a model that a checkpoint header stores:
    ``{"model": name, **config}``; :func:`from_architecture` is its inverse."""
    return {"model": name, **config}


def from_architecture(arch):
    """Rebuild a model from the dict :func:`architecture` made."""
    config = dict(arch)
    try:
        name = config.pop("model")
    except KeyError:
        raise ValueError(f"architecture {arch!r} names no model") from None
    return build_model(name, **config)
