"""Tests of the network ops: conv2d (im2col and Winograd), max_pool2d, batch_norm, dropout.

Every Function is gradient-checked in float64 over many shapes (test_gradcheck_*; the
coverage test counts the small cases of test_ops.CASES), the forward passes are compared
with slow reference loops and with PyTorch where it is installed, and every op must keep
float32 float32 in forward and backward.
"""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from engine_helpers import assert_same_as_torch, leaf, padding_numbers, rand
from minigrad import Tensor, gradcheck, nn
from minigrad.kernels import reference
from minigrad.ops.conv import Conv2d
from minigrad.ops.direct import DirectConv2d
from minigrad.ops.dropout import Dropout, MaxPool2x2Dropout
from minigrad.ops.norm import BatchNorm, BatchNormEval, BatchNormReLU, BatchNormReLUEval
from minigrad.ops.pool import MaxPool2d
from minigrad.ops.winograd import WinogradConv2d


# ------------------------------------------------------------------ conv2d

CONV_CASES = [
    # x shape,        w shape,        bias,  stride, padding
    ((2, 3, 7, 6),   (4, 3, 3, 3),   True,  1, 0),
    ((2, 3, 7, 6),   (4, 3, 3, 3),   False, 1, 1),
    ((2, 2, 9, 8),   (3, 2, 3, 3),   True,  2, 1),
    ((1, 2, 8, 7),   (5, 2, 3, 3),   True,  1, "same"),
    ((2, 1, 9, 9),   (2, 1, 5, 5),   True,  1, "same"),
    ((2, 3, 7, 8),   (2, 3, 2, 3),   False, 2, 0),
    ((1, 2, 6, 9),   (3, 2, 3, 1),   True,  1, (1, 0)),
    ((2, 4, 5, 5),   (1, 4, 1, 1),   True,  1, 0),
    ((1, 2, 7, 8),   (3, 2, 3, 3),   True,  (2, 1), (0, 1)),
]


@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding", CONV_CASES)
def test_gradcheck_conv2d(x_shape, w_shape, bias, stride, padding):
    x, w = leaf(*x_shape, seed=1), leaf(*w_shape, seed=2)
    inputs = [x, w] + ([leaf(w_shape[0], seed=3)] if bias else [])
    conv = lambda *t: F.conv2d(*t, stride=stride, padding=padding, algorithm="im2col")  # noqa: E731
    assert conv(*inputs).grad_fn is Conv2d
    assert gradcheck(conv, *inputs)


# 3x3 and 5x5, stride 1: odd and even output sizes (odd ones leave half-empty Winograd tiles),
# paddings 0 to 2
WINOGRAD_CASES = [
    # x shape,        w shape,        bias,  padding
    ((2, 3, 7, 6),   (4, 3, 3, 3),   True,  0),
    ((2, 3, 7, 6),   (4, 3, 3, 3),   False, 1),
    ((1, 2, 8, 7),   (5, 2, 3, 3),   True,  "same"),
    ((1, 2, 4, 5),   (2, 2, 3, 3),   True,  2),
    ((2, 1, 3, 3),   (3, 1, 3, 3),   True,  "valid"),
    ((2, 3, 7, 6),   (4, 3, 5, 5),   True,  0),
    ((1, 2, 6, 7),   (3, 2, 5, 5),   False, 1),
    ((2, 2, 5, 6),   (3, 2, 5, 5),   True,  "same"),
    ((1, 1, 5, 5),   (2, 1, 5, 5),   True,  "valid"),
]


@pytest.mark.parametrize("x_shape,w_shape,bias,padding", WINOGRAD_CASES)
def test_gradcheck_winogradconv2d(x_shape, w_shape, bias, padding):
    x, w = leaf(*x_shape, seed=1), leaf(*w_shape, seed=2)
    inputs = [x, w] + ([leaf(w_shape[0], seed=3)] if bias else [])
    conv = lambda *t: F.conv2d(*t, padding=padding, algorithm="winograd")  # noqa: E731
    assert conv(*inputs).grad_fn is WinogradConv2d
    assert gradcheck(conv, *inputs)
    # only one of x and w asks for a gradient: backward skips the other
    assert gradcheck(lambda t: conv(t, Tensor(w.data)), Tensor(x.data, requires_grad=True))
    assert gradcheck(lambda t: conv(Tensor(x.data), t), Tensor(w.data, requires_grad=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,bias,padding", WINOGRAD_CASES)
def test_winograd_and_im2col_agree_in_values_and_gradients(x_shape, w_shape, bias, padding, dtype):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    results = []
    for algorithm in ("im2col", "winograd"):
        tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        tb = None if b is None else Tensor(b, requires_grad=True)
        y = F.conv2d(tx, tw, tb, padding=padding, algorithm=algorithm)
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype))
        results.append([y.data, tx.grad, tw.grad] + ([] if b is None else [tb.grad]))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for got, expected in zip(results[1], results[0]):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("algorithm,w_shape,padding", [("winograd", (4, 3, 3, 3), 1), ("winograd", (4, 3, 5, 5), 2),
                                                      ("im2col", (4, 3, 3, 3), 1), ("direct", (4, 3, 3, 3), 0),
                                                      ("auto", (4, 3, 1, 1), 0)])
def test_conv2d_with_relu_is_relu_of_conv2d(algorithm, w_shape, padding):
    x, w, b = leaf(2, 3, 6, 7, seed=1), leaf(*w_shape, seed=2), leaf(w_shape[0], seed=3)
    conv = lambda *t, relu: F.conv2d(*t, padding=padding, algorithm=algorithm, relu=relu)  # noqa: E731
    expected = F.relu(conv(x, w, b, relu=False))
    got = conv(x, w, b, relu=True)
    assert (got.data == 0).any() and (got.data > 0).any()
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda *t: conv(*t, relu=True), x, w, b)
    with minigrad.no_grad():   # in place on the fresh output: same values
        np.testing.assert_allclose(conv(x, w, b, relu=True).data, expected.data, rtol=1e-12, atol=1e-12)


def test_winograd_picks_4x4_tiles_where_they_pay():
    from minigrad.dispatch import winograd_transforms as transforms_for

    picked = {(r, h, w): transforms_for((8, 8, r, r), h, w).name for r, h, w in
              [(3, 24, 24), (3, 20, 20), (3, 8, 7), (3, 10, 10), (3, 6, 6), (3, 5, 5), (5, 24, 24)]}
    assert picked == {(3, 24, 24): "F(4x4, 3x3)", (3, 20, 20): "F(4x4, 3x3)", (3, 8, 7): "F(4x4, 3x3)",
                      (3, 10, 10): "F(2x2, 3x3)", (3, 6, 6): "F(2x2, 3x3)", (3, 5, 5): "F(2x2, 3x3)",
                      (5, 24, 24): "F(2x2, 5x5)"}
    # the gradient checks above run both 3x3 algorithms: (1, 2, 8, 7) 'same' takes 4x4 tiles
    assert transforms_for(WINOGRAD_CASES[2][1], 8, 7).name == "F(4x4, 3x3)"


@pytest.mark.parametrize("x_shape,w_shape", [((9, 64, 16, 15), (6, 64, 3, 3)),   # Winograd: pooled in its pass
                                              ((2, 3, 7, 6), (4, 3, 3, 3))])      # direct loops: pooled too
def test_conv2d_max_pool2x2_is_max_pool_of_conv2d(x_shape, w_shape):
    from minigrad.dispatch import conv2d_algorithm
    from minigrad.ops.conv import conv2d_max_pool2x2

    rng = np.random.default_rng(4)
    x, w, b = (Tensor(rng.standard_normal(s).astype(np.float32)) for s in (x_shape, w_shape, w_shape[:1]))
    assert (conv2d_algorithm(x_shape, w_shape, 1, 1) == "winograd") == (x_shape[1] == 64)
    with minigrad.no_grad():
        expected = F.max_pool2d(F.conv2d(x, w, b, padding=1, relu=True), 2)
        got = conv2d_max_pool2x2(x, w, b, padding=1, relu=True)
    assert got.shape == expected.shape == (x_shape[0], w_shape[0], x_shape[2] // 2, x_shape[3] // 2)
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-4, atol=1e-4 * np.abs(expected.data).max())
    with pytest.raises(RuntimeError, match="no backward: call it under minigrad.no_grad"):
        conv2d_max_pool2x2(x, Tensor(w.data, requires_grad=True), b, padding=1)


def test_winograd_in_several_chunks_of_images_matches_im2col(monkeypatch):
    """A seed-CNN-like float32 layer, forced through several chunks of images both ways."""
    from minigrad.ops import conv as conv_module

    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 200_000)
    assert len(conv_module.image_chunks(6, 16 * 32 * 144 * 4)) == 6
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 16, 24, 24)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
    gy = rng.standard_normal((6, 32, 24, 24)).astype(np.float32)
    results = {}
    for algorithm in ("im2col", "winograd"):
        tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(tx, tw, padding=1, algorithm=algorithm)
        y.backward(gy)
        results[algorithm] = (y.data, tx.grad, tw.grad)
    assert y.grad_fn is WinogradConv2d
    for got, expected in zip(results["winograd"], results["im2col"]):
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()   # F(4x4, 3x3): about 4e-6


def test_conv2d_algorithm_is_checked():
    x, w = Tensor(rand(1, 2, 6, 6)), Tensor(rand(3, 2, 3, 3))
    with pytest.raises(ValueError, match="algorithm must be 'auto', 'im2col', 'winograd' or 'direct', got 'fft'"):
        F.conv2d(x, w, algorithm="fft")
    with pytest.raises(ValueError, match=r"algorithm='winograd' needs a 3x3 or 5x5 kernel, stride 1.*stride 2"):
        F.conv2d(x, w, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match=r"algorithm='winograd' needs a 3x3 or 5x5 kernel.*kernel \(4, 4\)"):
        F.conv2d(x, Tensor(rand(3, 2, 4, 4)), algorithm="winograd")
    # auto: Winograd for a 3x3 stride-1 convolution of enough channels and tiles; direct loops for
    # few channels in and out; im2col otherwise
    from minigrad.dispatch import DIRECT_MAX_CHANNEL_PRODUCT as D, WINOGRAD_MIN_CHANNELS as C, WINOGRAD_MIN_TILES as T

    x = Tensor(rand(4 * T // 1024, C, 32, 32, dtype=np.float32))   # exactly T tiles of 2x2 outputs
    O = D // (C - 1) + 1                                             # C-1 inputs x O outputs: just over D
    w = Tensor(rand(O, C, 3, 3, dtype=np.float32), requires_grad=True)
    assert F.conv2d(x, w, padding=1).grad_fn is WinogradConv2d
    w5 = Tensor(rand(O, C, 5, 5, dtype=np.float32), requires_grad=True)
    assert F.conv2d(x, w5, padding=2).grad_fn is WinogradConv2d     # 5x5 too
    assert F.conv2d(x, w, stride=2).grad_fn is Conv2d               # stride 2
    assert F.conv2d(x[:, :C - 1], w[:, :C - 1], padding=1).grad_fn is Conv2d   # too few channels
    assert F.conv2d(x[:, :, :30], w, padding=1).grad_fn is Conv2d    # too few tiles
    assert F.conv2d(x[:, :C - 1], w[:D // (C - 1), :C - 1], padding=1).grad_fn is DirectConv2d


def test_gradcheck_conv2d_input_only_and_weight_only():
    """backward skips the gradients nobody asked for; the rest must still be right."""
    x, w = rand(2, 3, 6, 5, seed=1), rand(4, 3, 3, 3, seed=2)
    conv = lambda *t, **kw: F.conv2d(*t, algorithm="im2col", **kw)  # noqa: E731
    assert gradcheck(lambda t: conv(t, Tensor(w), stride=2, padding=1), Tensor(x, requires_grad=True))
    assert gradcheck(lambda t: conv(Tensor(x), t, padding=1), Tensor(w, requires_grad=True))
    # with gy = 1, dw[o, c, i, j] is the sum of every pixel that tap (i, j) of channel c reads:
    # a column sum of im2col's matrix, the same for every o
    weight = Tensor(w, requires_grad=True)
    conv(Tensor(x), weight).sum().backward()
    expected = reference.im2col(x, 3, 3).sum(axis=0).reshape(3, 3, 3)
    np.testing.assert_allclose(weight.grad, np.broadcast_to(expected, w.shape), rtol=1e-12, atol=1e-12)


def test_gradcheck_conv2d_directional_large():
    """A seed-CNN-like layer, too big for the element-wise check: the Chainer directional check."""
    x, w, b = leaf(2, 8, 12, 12, seed=1), leaf(16, 8, 3, 3, seed=2), leaf(16, seed=3)
    conv = lambda *t: F.conv2d(*t, padding="same", algorithm="im2col")  # noqa: E731
    assert conv(x, w, b).grad_fn is Conv2d
    assert gradcheck(conv, x, w, b, directional=True)


@pytest.mark.parametrize("algorithm", ["im2col", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding", CONV_CASES)
def test_conv2d_matches_direct_reference(x_shape, w_shape, bias, stride, padding, dtype, algorithm):
    x, w = rand(*x_shape, seed=4, dtype=dtype), rand(*w_shape, seed=5, dtype=dtype)
    b = rand(w_shape[0], seed=6, dtype=dtype) if bias else None
    y = F.conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), stride=stride, padding=padding,
                 algorithm=algorithm)
    expected = reference.conv2d_direct(x, w, b, stride, padding_numbers(w_shape[2:], padding))
    assert y.shape == expected.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, expected, rtol=tol, atol=tol)


def test_conv2d_same_padding_keeps_size_and_rejects_what_it_cannot_keep():
    x = Tensor(rand(1, 2, 9, 7, dtype=np.float32))
    assert F.conv2d(x, Tensor(rand(3, 2, 5, 3, dtype=np.float32)), padding="same").shape == (1, 3, 9, 7)
    with pytest.raises(ValueError, match="same.*stride 1"):
        F.conv2d(x, Tensor(rand(3, 2, 3, 3, dtype=np.float32)), stride=2, padding="same")
    with pytest.raises(ValueError, match="odd"):
        F.conv2d(x, Tensor(rand(3, 2, 2, 2, dtype=np.float32)), padding="same")


def test_conv2d_errors_name_the_op_and_shapes():
    x = Tensor(np.zeros((8, 3, 48, 48), np.float32))
    w = Tensor(np.zeros((64, 1, 5, 5), np.float32))
    with pytest.raises(ValueError) as info:
        F.conv2d(x, w)
    assert str(info.value) == ("conv2d: input has 3 channels but weight expects 1 "
                               "(x (8,3,48,48), w (64,1,5,5))")
    with pytest.raises(ValueError, match=r"conv2d: bias has shape \(3,\)"):
        F.conv2d(Tensor(np.zeros((1, 1, 5, 5), np.float32)), w, Tensor(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="conv2d: kernel 5x5 is larger"):
        F.conv2d(Tensor(np.zeros((1, 1, 3, 3), np.float32)), w)
    with pytest.raises(ValueError, match=r"conv2d: expected x \(N,C,H,W\)"):
        F.conv2d(Tensor(np.zeros((1, 5, 5), np.float32)), w)
    with pytest.raises(TypeError, match="conv2d: .*float64"):
        F.conv2d(Tensor(np.zeros((1, 1, 5, 5), np.float64)), w)
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of ints, got \(1, 2, 3\)"):
        F.conv2d(Tensor(np.zeros((1, 1, 5, 5), np.float32)), Tensor(np.zeros((2, 1, 3, 3), np.float32)),
                 stride=(1, 2, 3))


def test_conv2d_in_chunks_of_images_matches_one_chunk(monkeypatch):
    """Large batches are processed a few images at a time (memory); the result must not change."""
    import minigrad.ops.conv as conv_module

    def run():
        x, w, b = leaf(5, 3, 8, 7, seed=1), leaf(4, 3, 3, 3, seed=2), leaf(4, seed=3)
        y = F.conv2d(x, w, b, stride=2, padding=1, algorithm="im2col")
        y.backward(rand(*y.shape, seed=7))
        return y.data, x.grad, w.grad, b.grad

    whole = run()
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 1)  # one image per chunk
    assert len(conv_module.image_chunks(5, 100)) == 5
    for chunked, one in zip(run(), whole):
        np.testing.assert_allclose(chunked, one, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda *t: F.conv2d(*t, padding=1, algorithm="im2col"), leaf(3, 2, 5, 4, seed=4),
                     leaf(3, 2, 3, 3, seed=5), leaf(3, seed=6))


def test_conv2d_of_an_empty_batch():
    x, w = leaf(0, 2, 5, 5), leaf(3, 2, 3, 3, seed=1)
    y = F.conv2d(x, w, padding=1, algorithm="im2col")
    assert y.shape == (0, 3, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 2, 3, 3)))


def test_image_chunks_cover_the_batch_evenly():
    from minigrad.ops.conv import CHUNK_BYTES, image_chunks

    assert image_chunks(128, CHUNK_BYTES) == [(i, i + 1) for i in range(128)]
    assert image_chunks(128, 1) == [(0, 128)]
    chunks = image_chunks(10, CHUNK_BYTES // 4)      # 4 a chunk at most -> 3 chunks of 4, 4, 2
    assert chunks == [(0, 4), (4, 8), (8, 10)]
    assert image_chunks(1, 10 * CHUNK_BYTES) == [(0, 1)]


def test_conv2d_matches_torch():
    torch = pytest.importorskip("torch")
    for x_shape, w_shape, bias, stride, padding in CONV_CASES:
        arrays = [rand(*x_shape, seed=4), rand(*w_shape, seed=5)] + ([rand(w_shape[0], seed=6)] if bias else [])
        assert_same_as_torch(lambda *t: F.conv2d(*t, stride=stride, padding=padding),
                             lambda *t: torch.nn.functional.conv2d(*t, stride=stride, padding=padding),
                             arrays, seed=8, rtol=1e-10, atol=1e-10)


# -------------------------------------------------------------- max_pool2d

POOL_CASES = [
    # x shape,      kernel, stride
    ((2, 3, 8, 8),  2, None),   # the seed CNN's pooling
    ((2, 2, 7, 9),  2, None),   # odd sizes: the last row / column is dropped (floor mode)
    ((1, 3, 7, 6),  3, 2),      # overlapping windows (stride < kernel)
    ((2, 1, 6, 5),  3, 1),      # heavily overlapping
    ((1, 2, 9, 9),  3, 3),
]


@pytest.mark.parametrize("x_shape,k,stride", POOL_CASES)
def test_gradcheck_maxpool2d(x_shape, k, stride):
    assert F.max_pool2d(leaf(*x_shape), k, stride).grad_fn is MaxPool2d
    assert gradcheck(lambda t: F.max_pool2d(t, k, stride), leaf(*x_shape, seed=11))


@pytest.mark.parametrize("x_shape,k,stride", POOL_CASES)
def test_max_pool2d_matches_reference(x_shape, k, stride):
    x = rand(*x_shape, seed=12, dtype=np.float32)
    y = F.max_pool2d(Tensor(x), k, stride)
    expected, _ = reference.max_pool2d_forward(x, k, stride)
    np.testing.assert_array_equal(y.data, expected)
    s = k if stride is None else stride
    assert y.shape == x_shape[:2] + ((x_shape[2] - k) // s + 1, (x_shape[3] - k) // s + 1)


def test_max_pool2d_overlapping_windows_sum_their_gradients():
    # The centre value 9 is the maximum of all four 2x2 windows at stride 1.
    x = Tensor(np.array([[[[1, 2, 3], [4, 9, 5], [6, 7, 8]]]], np.float32), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


def test_max_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    for x_shape, k, stride in POOL_CASES:
        assert_same_as_torch(lambda x: F.max_pool2d(x, k, stride),
                             lambda x: torch.nn.functional.max_pool2d(x, k, stride),
                             [rand(*x_shape, seed=13)], seed=14, rtol=1e-12, atol=1e-12)


def test_max_pool2d_errors():
    x = Tensor(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="max_pool2d: kernel 4x4 is larger than the input 3x3"):
        F.max_pool2d(x, 4)
    with pytest.raises(ValueError, match=r"max_pool2d: expected x \(N,C,H,W\)"):
        F.max_pool2d(Tensor(np.zeros((3, 3), np.float32)), 2)


# -------------------------------------------------------------- batch_norm

BN_SHAPES = [(6, 4), (3, 2, 4, 5)]


@pytest.mark.parametrize("training,function", [(True, BatchNorm), (False, BatchNormEval)])
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_batchnorm(shape, affine, training, function):
    """Training normalises by the batch's statistics, evaluation by the running ones."""
    C = shape[1]
    x = leaf(*shape, seed=21)
    params = [leaf(C, seed=22), leaf(C, seed=23)] if affine else []
    running_mean = rand(C, seed=27, dtype=np.float32)
    running_var = 1 + rand(C, seed=28, dtype=np.float32) ** 2

    def fn(x, *wb):
        weight, bias = wb if wb else (None, None)
        return F.batch_norm(x, running_mean, running_var, weight, bias, training=training)

    assert fn(x, *params).grad_fn is function
    assert gradcheck(fn, x, *params)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_gradcheck_batchnormrelu(shape):
    C = shape[1]
    x, weight, bias = leaf(*shape, seed=24), leaf(C, seed=25), leaf(C, seed=26)

    def fn(x, weight, bias):
        return F.batch_norm_relu(x, None, None, weight, bias, training=True)

    assert fn(x, weight, bias).grad_fn is BatchNormReLU
    assert gradcheck(fn, x, weight, bias)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_relu_is_batch_norm_then_relu(training):
    """The fused op against the two ops apart: values, gradients and running statistics."""
    x = rand(4, 3, 5, 5, seed=27, dtype=np.float32) + 0.3
    weight, bias = rand(3, seed=28, dtype=np.float32), rand(3, seed=29, dtype=np.float32)
    results = []
    for fused in (True, False):
        stats = [np.full(3, 0.1, np.float32), np.full(3, 2.0, np.float32)]
        tensors = [Tensor(a.copy(), requires_grad=True) for a in (x, weight, bias)]
        args = (tensors[0], *stats, tensors[1], tensors[2], training)
        y = F.batch_norm_relu(*args) if fused else F.relu(F.batch_norm(*args))
        if fused:
            assert y.grad_fn is (BatchNormReLU if training else BatchNormReLUEval)
        (y * Tensor(np.arange(y.size, dtype=np.float32).reshape(y.shape))).sum().backward()
        results.append([y.data] + [t.grad for t in tensors] + stats)
    assert 0 < (results[0][0] == 0).mean() < 1            # some values were clipped, some not
    for fused, apart in zip(*results):
        np.testing.assert_allclose(fused, apart, rtol=1e-5, atol=1e-6)


def test_batchnormrelu2d_has_batchnorm2ds_state_and_relus_output():
    bn, fused = nn.BatchNorm2d(3), nn.BatchNormReLU2d(3)
    assert list(fused.state_dict()) == list(bn.state_dict())
    x = Tensor(rand(2, 3, 4, 4, seed=30, dtype=np.float32))
    for mode in ("train", "eval"):
        getattr(bn, mode)(), getattr(fused, mode)()
        np.testing.assert_allclose(fused(x).data, np.maximum(bn(x).data, 0), rtol=1e-6, atol=1e-7)


def _numpy_batch_norm_stats(x):
    axes = (0,) + tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    return x64.mean(axis=axes), x64.var(axis=axes), x64.var(axis=axes, ddof=1)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_training_matches_numpy_and_updates_running_stats(shape):
    C = shape[1]
    x = (3 + 2 * rand(*shape, seed=31)).astype(np.float32)
    weight, bias = rand(C, seed=32, dtype=np.float32), rand(C, seed=33, dtype=np.float32)
    running_mean = np.full(C, 0.5, np.float32)
    running_var = np.full(C, 2.0, np.float32)
    y = F.batch_norm(Tensor(x), running_mean, running_var, Tensor(weight), Tensor(bias),
                     training=True, momentum=0.2, eps=1e-3)
    mean, var, unbiased = _numpy_batch_norm_stats(x)
    bshape = (1, C) + (1,) * (x.ndim - 2)
    expected = ((x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-3)
                * weight.reshape(bshape) + bias.reshape(bshape))
    np.testing.assert_allclose(y.data, expected, rtol=1e-5, atol=1e-5)
    # In place, with the unbiased variance (as PyTorch), and still float32.
    np.testing.assert_allclose(running_mean, 0.8 * 0.5 + 0.2 * mean, rtol=1e-6)
    np.testing.assert_allclose(running_var, 0.8 * 2.0 + 0.2 * unbiased, rtol=1e-5)
    assert running_mean.dtype == running_var.dtype == np.float32


def test_batch_norm_running_stats_as_tensors_are_updated_in_place():
    running_mean, running_var = Tensor(np.zeros(3, np.float32)), Tensor(np.ones(3, np.float32))
    data = running_mean.data
    x = rand(5, 3, seed=34, dtype=np.float32)
    F.batch_norm(Tensor(x), running_mean, running_var, training=True)
    assert running_mean.data is data
    np.testing.assert_allclose(running_mean.data, 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(running_var.data, 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-5)


def test_batch_norm_running_stats_match_torch():
    torch = pytest.importorskip("torch")
    C = 4
    weight, bias = leaf(C, seed=35), leaf(C, seed=36)
    ours_mean, ours_var = np.zeros(C), np.ones(C)
    torch_mean, torch_var = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (weight, bias))
    for step in range(3):
        x = leaf(8, C, 5, 3, seed=40 + step)
        y = F.batch_norm(x, ours_mean, ours_var, weight, bias, training=True, momentum=0.3)
        gy = rand(*y.shape, seed=50 + step)
        y.backward(gy)
        tx = torch.tensor(x.data, requires_grad=True)
        ty = torch.nn.functional.batch_norm(tx, torch_mean, torch_var, tw, tb, training=True, momentum=0.3)
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours_mean, torch_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_var, torch_var.numpy(), rtol=1e-9)
    np.testing.assert_allclose(weight.grad, tw.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(bias.grad, tb.grad.numpy(), rtol=1e-9, atol=1e-10)
    # Evaluation with the accumulated statistics.
    x = rand(2, C, 5, 3, seed=60)
    y = F.batch_norm(Tensor(x), ours_mean, ours_var, weight, bias, training=False)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), torch_mean, torch_var, tw, tb, training=False)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_batch_norm_train_and_eval_differ_and_eval_uses_running_stats():
    C = 3
    running_mean, running_var = np.zeros(C, np.float32), np.ones(C, np.float32)
    x = (5 + 3 * rand(16, C, 4, 4, seed=61)).astype(np.float32)
    for _ in range(40):  # momentum 0.1: the running stats approach the data's
        train = F.batch_norm(Tensor(x), running_mean, running_var, training=True)
    before = running_mean.copy(), running_var.copy()
    evaluated = F.batch_norm(Tensor(x), running_mean, running_var, training=False)
    np.testing.assert_array_equal(running_mean, before[0])   # eval never updates
    np.testing.assert_array_equal(running_var, before[1])
    expected = (x - running_mean[:, None, None]) / np.sqrt(running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(evaluated.data, expected, rtol=1e-5, atol=1e-5)
    # After 40 steps the running mean is 98.5% of the batch mean: close, but not equal.
    assert not np.allclose(train.data, evaluated.data, atol=1e-3)
    np.testing.assert_allclose(train.data, evaluated.data, atol=0.2)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(Tensor(np.zeros((1, 3), np.float32)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(4,\) but x \(2,3\) has 3 channels"):
        F.batch_norm(Tensor(np.zeros((2, 3), np.float32)), None, None,
                     Tensor(np.ones(4, np.float32)), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.batch_norm(Tensor(np.zeros((2, 3), np.float32)), None, None, training=False)


# ----------------------------------------------------------------- dropout

def test_gradcheck_dropout():
    # The mask must be the same in every call gradcheck makes: re-seed each time.
    def fn(t):
        return F.dropout(t, 0.4, training=True, generator=np.random.default_rng(123))

    assert fn(leaf(3, 5)).grad_fn is Dropout
    assert gradcheck(fn, leaf(6, 7, seed=71))


def test_dropout_keeps_the_expected_value():
    x = np.linspace(-2, 2, 50, dtype=np.float32)
    generator = np.random.default_rng(0)
    samples = np.stack([F.dropout(Tensor(x), 0.3, True, generator).data for _ in range(4000)])
    dropped = samples == 0
    assert abs(dropped.mean() - 0.3) < 0.01
    np.testing.assert_allclose(samples[~dropped], np.broadcast_to(x / 0.7, samples.shape)[~dropped], rtol=1e-6)
    np.testing.assert_allclose(samples.mean(axis=0), x, atol=0.06)


def test_dropout_gradient_uses_the_forward_mask():
    x = Tensor(np.ones((20, 30), np.float32), requires_grad=True)
    y = F.dropout(x, 0.5, True, np.random.default_rng(1))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # both 2 where kept, 0 where dropped


def test_dropout_is_identity_in_eval_and_for_p0():
    x = Tensor(rand(4, 5, dtype=np.float32), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, training=True).data, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="dropout: p must be"):
        F.dropout(x, 1.5, training=True)


def test_dropout_manual_seed_makes_masks_reproducible():
    x = Tensor(np.ones(1000, np.float32))
    minigrad.manual_seed(7)
    first = F.dropout(x, 0.5, True).data
    second = F.dropout(x, 0.5, True).data
    minigrad.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.5, True).data, first)
    assert not np.array_equal(first, second)



@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 5, 7)])
def test_max_pool2d_dropout_is_max_pool_then_dropout(shape):
    x = Tensor(rand(*shape, dtype=np.float32), requires_grad=True)
    gy = rand(shape[0], shape[1], shape[2] // 2, shape[3] // 2, dtype=np.float32, seed=3)
    fused = F.max_pool2d_dropout(x, 2, None, 0, 0.3, True, np.random.default_rng(4))
    assert fused.grad_fn is MaxPool2x2Dropout
    fused.backward(gy)
    fused_grad, x.grad = x.grad, None
    apart = F.dropout(F.max_pool2d(x, 2), 0.3, True, np.random.default_rng(4))
    apart.backward(gy)
    np.testing.assert_array_equal(fused.data, apart.data)
    np.testing.assert_array_equal(fused_grad, x.grad)


def test_max_pool2d_dropout_falls_back_to_the_two_ops():
    x = Tensor(rand(2, 3, 7, 7, dtype=np.float32), requires_grad=True)
    assert F.max_pool2d_dropout(x, 3, 2, 1, 0.3, True).grad_fn is Dropout   # not a 2x2 window
    assert F.max_pool2d_dropout(x, 2, 2, 0, 0.3, False).grad_fn is MaxPool2d  # evaluation
    assert F.max_pool2d_dropout(x, 2, 2, 0, 0.0, True).grad_fn is MaxPool2d   # nothing dropped
    with pytest.raises(ValueError, match="max_pool2d_dropout: p must be"):
        F.max_pool2d_dropout(x, 2, p=1.5)
    with pytest.raises(ValueError, match=r"max_pool2d: kernel 2x2 is larger than the input 1x1"):
        F.max_pool2d_dropout(Tensor(np.zeros((1, 1, 1, 1), np.float32)), 2, p=0.5)


# ------------------------------------------------------ float32 in, float32 out

def _stats():
    return np.zeros(3, np.float32), np.ones(3, np.float32)


# name: (the op on x and its parameters, the parameters' shapes); x is (2, 3, 7, 7)
FLOAT32_CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, algorithm="im2col"), [(4, 3, 3, 3), (4,)]),
    "winograd": (lambda x, w, b: F.conv2d(x, w, b, padding=1, algorithm="winograd"), [(4, 3, 3, 3), (4,)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2), []),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, *_stats(), w, b, training=True), [(3,), (3,)]),
    "batch_norm_relu_train": (lambda x, w, b: F.batch_norm_relu(x, *_stats(), w, b, training=True), [(3,), (3,)]),
    "batch_norm_eval": (lambda x, w, b: F.batch_norm(x, *_stats(), w, b, training=False), [(3,), (3,)]),
    "dropout": (lambda x: F.dropout(x, 0.3, True, np.random.default_rng(0)), []),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_in_float32_out(name):
    fn, param_shapes = FLOAT32_CASES[name]
    inputs = [leaf(2, 3, 7, 7, dtype=np.float32)] + [leaf(*shape, seed=i + 1, dtype=np.float32)
                                                     for i, shape in enumerate(param_shapes)]
    y = fn(*inputs)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    for i, t in enumerate(inputs):   # every input gets a gradient: none may silently vanish
        assert t.grad is not None and t.grad.dtype == np.float32, f"{name}: input {i}"
