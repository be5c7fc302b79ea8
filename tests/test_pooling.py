"""Tests of the pooling ops: padded max_pool2d, avg_pool2d and adaptive_avg_pool2d.

Every Function is gradient-checked in float64 over many shapes (test_gradcheck_*), the numba
kernels are compared with their slow twins in minigrad.kernels.reference, the ops with
PyTorch where it is installed, and every op must keep float32 float32.
"""
import numpy as np
import pytest

import minigrad.functional as F
import minigrad.kernels as K
from engine_helpers import assert_same_as_torch, leaf, out_size, rand
from minigrad import Tensor, gradcheck, nn
from minigrad.kernels import reference as R
from minigrad.ops.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


FLOATS = [np.float32, np.float64]

POOL_CASES = [
    # x shape,      kernel, stride, padding
    ((2, 3, 9, 9),  3, 2,    1),    # ResNet's stem pooling: overlapping, padded
    ((2, 2, 8, 7),  3, 2,    1),    # even / odd sizes with padding
    ((1, 2, 6, 5),  2, 1,    1),    # padding = k / 2, heavily overlapping
    ((1, 1, 5, 6),  4, 2,    2),    # the largest padding allowed
    ((2, 3, 8, 8),  2, None, 0),    # no padding: the fast path
    ((2, 3, 7, 9),  2, 2,    0),    # the fast path on odd sizes: the last row and column in no window
    ((1, 3, 7, 6),  3, 2,    0),
    ((1, 2, 2, 2),  3, 1,    1),    # kernel larger than the input, made to fit by the padding
]


# -------------------------------------------------------------- max_pool2d with padding

@pytest.mark.parametrize("x_shape,k,stride,padding", POOL_CASES)
def test_gradcheck_maxpool2d_padded(x_shape, k, stride, padding):
    y = F.max_pool2d(leaf(*x_shape), k, stride, padding)
    assert y.grad_fn is MaxPool2d
    assert y.shape == x_shape[:2] + (out_size(x_shape[2], k, stride, padding),
                                     out_size(x_shape[3], k, stride, padding))
    assert gradcheck(lambda t: F.max_pool2d(t, k, stride, padding), leaf(*x_shape, seed=21))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,k,stride,padding", POOL_CASES)
def test_max_pool_kernels_match_reference(x_shape, k, stride, padding, dtype):
    x = rand(*x_shape, seed=22, dtype=dtype)
    y, idx = K.max_pool2d_forward(x, k, stride, padding)
    y_ref, idx_ref = R.max_pool2d_forward(x, k, stride, padding)
    assert y.dtype == dtype and idx.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    assert idx.min() >= 0 and idx.max() < x_shape[2] * x_shape[3]   # never a padded position
    gy = rand(*y.shape, seed=23, dtype=dtype)
    gx = K.max_pool2d_backward(gy, idx, x_shape, k, stride, padding)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, R.max_pool2d_backward(gy, idx_ref, x_shape, k, stride, padding), **tol(dtype))


def test_max_pool_padding_never_wins():
    # All values negative: a zero padding would win every border window, -inf padding none.
    x = -1 - np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    y, idx = K.max_pool2d_forward(x, 3, 2, 1)
    np.testing.assert_array_equal(y[0, 0], [[-1, -2], [-5, -6]])
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [4, 5]])
    # -inf everywhere: the first real pixel of each window wins, as in PyTorch.
    y, idx = K.max_pool2d_forward(np.full((1, 1, 3, 3), -np.inf), 3, 2, 1)
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])
    np.testing.assert_array_equal(R.max_pool2d_forward(np.full((1, 1, 3, 3), -np.inf), 3, 2, 1)[1], idx)


def test_max_pool_padded_nan_wins_its_window():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 1] = np.nan
    y, idx = K.max_pool2d_forward(x, 3, 2, 1)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 0, 0, 1]) and not np.isnan(y[0, 0, 1]).any()
    assert idx[0, 0, 0, 0] == idx[0, 0, 0, 1] == 1
    np.testing.assert_array_equal(R.max_pool2d_forward(x, 3, 2, 1)[1], idx)


def test_max_pool2d_padded_matches_torch():
    torch = pytest.importorskip("torch")
    for x_shape, k, stride, padding in POOL_CASES:
        assert_same_as_torch(lambda x: F.max_pool2d(x, k, stride, padding),
                             lambda x: torch.nn.functional.max_pool2d(x, k, stride, padding),
                             [rand(*x_shape, seed=24)], seed=25, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------- avg_pool2d

@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape,k,stride,padding", POOL_CASES)
def test_gradcheck_avgpool2d(x_shape, k, stride, padding, count_include_pad):
    y = F.avg_pool2d(leaf(*x_shape), k, stride, padding, count_include_pad)
    assert y.grad_fn is AvgPool2d
    assert y.shape == x_shape[:2] + (out_size(x_shape[2], k, stride, padding),
                                     out_size(x_shape[3], k, stride, padding))
    assert gradcheck(lambda t: F.avg_pool2d(t, k, stride, padding, count_include_pad), leaf(*x_shape, seed=31))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape,k,stride,padding", POOL_CASES)
def test_avg_pool_kernels_match_reference(x_shape, k, stride, padding, count_include_pad, dtype):
    x = rand(*x_shape, seed=32, dtype=dtype)
    y = K.avg_pool2d_forward(x, k, stride, padding, count_include_pad)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.avg_pool2d_forward(x, k, stride, padding, count_include_pad), **tol(dtype))
    gy = rand(*y.shape, seed=33, dtype=dtype)
    gx = K.avg_pool2d_backward(gy, x_shape, k, stride, padding, count_include_pad)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, R.avg_pool2d_backward(gy, x_shape, k, stride, padding, count_include_pad),
                               **tol(dtype))


def test_avg_pool_count_include_pad():
    x = np.ones((1, 1, 2, 2))
    # Corner window of a 3x3 kernel at padding 1 holds 4 real ones and 5 padded zeros.
    assert K.avg_pool2d_forward(x, 3, 2, 1, True)[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert K.avg_pool2d_forward(x, 3, 2, 1, False)[0, 0, 0, 0] == 1
    gx = K.avg_pool2d_backward(np.ones((1, 1, 1, 1)), x.shape, 3, 2, 1, False)
    np.testing.assert_allclose(gx[0, 0], np.full((2, 2), 1 / 4))


def test_avg_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    for x_shape, k, stride, padding in POOL_CASES:
        for count_include_pad in (True, False):
            assert_same_as_torch(
                lambda x: F.avg_pool2d(x, k, stride, padding, count_include_pad),
                lambda x: torch.nn.functional.avg_pool2d(x, k, stride, padding, count_include_pad=count_include_pad),
                [rand(*x_shape, seed=34)], seed=35, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------- adaptive_avg_pool2d

ADAPTIVE_CASES = [
    # x shape,      output_size
    ((2, 3, 7, 9),  1),         # global average pooling: the fast path
    ((2, 3, 7, 9),  (1, 1)),
    ((2, 3, 8, 8),  2),         # bins tile the plane exactly
    ((2, 3, 7, 9),  (3, 4)),    # uneven bins that overlap by a pixel
    ((1, 2, 5, 5),  (7, 3)),    # more outputs than input rows
    ((1, 2, 6, 5),  (None, 2)), # None keeps that input size
]


def _adaptive_reference(x, oh, ow):
    """y[n, c, i, j] = mean of x over rows floor(i*H/oh)..ceil((i+1)*H/oh)-1, likewise columns."""
    H, W = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = int(np.floor(i * H / oh)), int(np.ceil((i + 1) * H / oh))
            w0, w1 = int(np.floor(j * W / ow)), int(np.ceil((j + 1) * W / ow))
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


@pytest.mark.parametrize("x_shape,output_size", ADAPTIVE_CASES)
def test_gradcheck_adaptiveavgpool2d(x_shape, output_size):
    assert F.adaptive_avg_pool2d(leaf(*x_shape), output_size).grad_fn is AdaptiveAvgPool2d
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, output_size), leaf(*x_shape, seed=41))


@pytest.mark.parametrize("x_shape,output_size", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d_matches_reference(x_shape, output_size):
    x = rand(*x_shape, seed=42)
    pair = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    oh, ow = (x_shape[2 + i] if v is None else v for i, v in enumerate(pair))
    y = F.adaptive_avg_pool2d(Tensor(x), output_size)
    assert y.shape == x_shape[:2] + (oh, ow)
    np.testing.assert_allclose(y.data, _adaptive_reference(x, oh, ow), rtol=1e-12, atol=1e-12)


def test_global_average_pooling_is_the_mean_and_spreads_the_gradient():
    x = leaf(2, 3, 4, 5, seed=43)
    y = F.adaptive_avg_pool2d(x, 1)
    np.testing.assert_allclose(y.data, x.data.mean(axis=(2, 3), keepdims=True))
    gy = rand(2, 3, 1, 1, seed=44)
    y.backward(gy)
    np.testing.assert_allclose(x.grad, np.broadcast_to(gy / 20, x.shape))


def test_adaptive_with_dividing_size_is_avg_pool():
    x = rand(2, 3, 8, 12, seed=45)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(Tensor(x), (2, 3)).data,
                               F.avg_pool2d(Tensor(x), 4).data, rtol=1e-12, atol=1e-12)


def test_adaptive_avg_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    for x_shape, output_size in ADAPTIVE_CASES:
        assert_same_as_torch(lambda x: F.adaptive_avg_pool2d(x, output_size),
                             lambda x: torch.nn.functional.adaptive_avg_pool2d(x, output_size),
                             [rand(*x_shape, seed=46)], seed=47, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------- layers

def test_layers_call_the_ops_and_show_their_arguments():
    x = Tensor(rand(2, 3, 9, 9, dtype=np.float32))
    pool = nn.MaxPool2d(3, 2, padding=1)
    assert repr(pool) == "MaxPool2d(kernel_size=3, stride=2, padding=1)"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2)"
    np.testing.assert_array_equal(pool(x).data, F.max_pool2d(x, 3, 2, 1).data)
    avg = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
    assert repr(avg) == "AvgPool2d(kernel_size=3, stride=2, padding=1, count_include_pad=False)"
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2)"
    np.testing.assert_array_equal(avg(x).data, F.avg_pool2d(x, 3, 2, 1, False).data)
    gap = nn.AdaptiveAvgPool2d(1)
    assert repr(gap) == "AdaptiveAvgPool2d(output_size=1)"
    assert gap(x).shape == (2, 3, 1, 1)
    assert nn.AdaptiveAvgPool2d((2, 3))(x).shape == (2, 3, 2, 3)
    for layer in (pool, avg, gap):
        assert list(layer.state_dict()) == []
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            layer(Tensor(np.zeros((3, 9, 9), np.float32)))


def test_layers_match_torch_layers():
    torch = pytest.importorskip("torch")
    x = rand(2, 3, 11, 10, seed=48, dtype=np.float32)
    tx = torch.tensor(x)
    pairs = [(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
             (nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
             (nn.AvgPool2d(2, count_include_pad=False), torch.nn.AvgPool2d(2, count_include_pad=False)),
             (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
             (nn.AdaptiveAvgPool2d((3, 4)), torch.nn.AdaptiveAvgPool2d((3, 4)))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(Tensor(x)).data, theirs(tx).numpy(), rtol=1e-6, atol=1e-6)


# -------------------------------------------------------------- errors

def test_pooling_errors_name_the_op_and_shapes():
    x = Tensor(np.zeros((1, 1, 3, 3), np.float32))
    for name, op in (("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)):
        with pytest.raises(ValueError, match=rf"{name}: padding must be between 0 and half the kernel size, "
                                             r"got padding=2 for kernel_size=3"):
            op(x, 3, 1, 2)
        with pytest.raises(ValueError, match=rf"{name}: padding must be between"):
            op(x, 2, 1, -1)
        with pytest.raises(ValueError, match=rf"{name}: kernel 4x4 is larger than the input 3x3 \(x \(1,1,3,3\)\)"):
            op(x, 4)
        with pytest.raises(ValueError, match=rf"{name}: kernel 6x6 is larger than the input 3x3 padded by 1"):
            op(x, 6, 1, 1)
        with pytest.raises(ValueError, match=rf"{name}: expected x \(N,C,H,W\), got x \(3,3\)"):
            op(Tensor(np.zeros((3, 3), np.float32)), 2)
        with pytest.raises(ValueError, match=rf"{name}: padding must be an int"):
            op(x, 2, 2, (0, 1))
        with pytest.raises(ValueError, match=rf"{name}: kernel_size and stride must be at least 1"):
            op(x, 2, 0)
    with pytest.raises(ValueError, match=r"max_pool2d_forward: padding must be between 0 and half the kernel size 2"):
        K.max_pool2d_forward(np.zeros((1, 1, 4, 4), np.float32), 2, 1, 2)
    with pytest.raises(ValueError, match=r"avg_pool2d_backward: .* expected gy of shape \(1, 1, 2, 2\)"):
        K.avg_pool2d_backward(np.zeros((1, 1, 3, 3), np.float32), (1, 1, 4, 4), 2)
    with pytest.raises(TypeError, match="avg_pool2d_forward: x must be float32 or float64"):
        K.avg_pool2d_forward(np.zeros((1, 1, 4, 4), np.int64), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected x \(N,C,H,W\), got x \(3,3\)"):
        F.adaptive_avg_pool2d(Tensor(np.zeros((3, 3), np.float32)), 1)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be at least 1, got 0"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be an int or a pair of ints, "
                                         r"got \(1, 2, 3\)"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))


# ------------------------------------------------------ float32 in, float32 out

FLOAT32_CASES = {
    "max_pool2d_padded": lambda x: F.max_pool2d(x, 3, 2, 1),
    "avg_pool2d": lambda x: F.avg_pool2d(x, 3, 2),
    "avg_pool2d_padded": lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "global_avg_pool": lambda x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_in_float32_out(name):
    x = leaf(2, 3, 7, 7, dtype=np.float32)
    y = FLOAT32_CASES[name](x)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    assert x.grad is not None and x.grad.dtype == np.float32, name
