"""minigrad.dispatch: auto's rule as documented, and the pins of minigrad.algorithms."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor
from minigrad.dispatch import conv2d_algorithm
from minigrad.ops.conv import Conv2d
from minigrad.ops.direct import DirectConv2d
from minigrad.ops.winograd import WinogradConv2d


def test_the_documented_choices_for_the_seed_cnn():
    """conv4 (256 -> 512 on 6x6): im2col up to batch 56, Winograd from 57; at batch 1 conv2-4
    im2col, conv1 direct; --quick's 1/8-width layers all direct."""
    conv4 = (512, 256, 3, 3)
    assert conv2d_algorithm((56, 256, 6, 6), conv4, 1, 1) == "im2col"
    assert conv2d_algorithm((57, 256, 6, 6), conv4, 1, 1) == "winograd"
    layers = [((1, 48, 48), (64, 1, 5, 5)), ((64, 24, 24), (128, 64, 3, 3)), ((128, 12, 12), (256, 128, 3, 3)),
              ((256, 6, 6), conv4)]
    assert [conv2d_algorithm((1, *x), w, 1, w[2] // 2) for x, w in layers] == ["direct", "im2col", "im2col", "im2col"]
    quick = [((1, 48, 48), (8, 1, 5, 5)), ((8, 24, 24), (16, 8, 3, 3)), ((16, 12, 12), (32, 16, 3, 3)),
             ((32, 6, 6), (32, 32, 3, 3))]
    assert {conv2d_algorithm((64, *x), w, 1, w[2] // 2) for x, w in quick} == {"direct"}
    assert conv2d_algorithm((64, 32, 8, 8), (16, 32, 1, 1), 1, 0) == "pointwise"


def test_algorithms_pins_every_convolution_where_it_applies():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 64, 8, 8)).astype(np.float32))
    w = Tensor(rng.standard_normal((64, 64, 3, 3)).astype(np.float32), requires_grad=True)
    assert F.conv2d(x, w, padding=1).grad_fn is WinogradConv2d
    with minigrad.algorithms(conv="im2col"):
        assert F.conv2d(x, w, padding=1).grad_fn is Conv2d
        assert F.conv2d(x, w, padding=1, algorithm="winograd").grad_fn is WinogradConv2d  # the call's own choice wins
    with minigrad.algorithms(conv="winograd"):
        assert F.conv2d(x, w, stride=2).grad_fn is Conv2d          # does not apply: auto decides
    with minigrad.algorithms(conv="direct"):
        assert F.conv2d(x, w, padding=1).grad_fn is DirectConv2d
    assert F.conv2d(x, w, padding=1).grad_fn is WinogradConv2d     # the pin ends with the block
    with pytest.raises(ValueError, match="conv must be one of"):
        with minigrad.algorithms(conv="fft"):
            pass


def test_backend_names_are_checked():
    with pytest.raises(ValueError, match="backend must be one of numba, reference, got 'cuda'"):
        with minigrad.backend("cuda"):
            pass
    with minigrad.backend("reference"):
        assert conv2d_algorithm((64, 64, 8, 8), (8, 64, 3, 3), 1, 1) == "im2col"
