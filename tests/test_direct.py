"""Tests of the depthwise-separable convolutions: DirectConv2d (direct loops: depthwise,
grouped and few-channel convolutions), PointwiseConv2d (1x1), and F.conv2d / nn.Conv2d with
``groups``.

Both Functions are gradient-checked in float64 over many shapes (test_gradcheck_*, depthwise
convolutions on their own), the numba kernels are compared with
their slow twins in minigrad.kernels.reference (and grouped ones with a per-group
conv2d_direct), F.conv2d with groups and nn.Conv2d(groups=...) with PyTorch where it is
installed, and both Functions must keep float32 float32.
"""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from engine_helpers import assert_same_as_torch, leaf, out_size, padding_numbers, rand
from minigrad import Tensor, gradcheck, nn
from minigrad._args import pair
from minigrad.kernels import depthwise as KDW
from minigrad.kernels import direct as KD
from minigrad.kernels import reference as R
from minigrad.ops.conv import Conv2d
from minigrad.ops.direct import DirectConv2d, PointwiseConv2d, direct_conv2d, pointwise_conv2d
from minigrad.ops.shape import Concatenate
from minigrad.ops.winograd import WinogradConv2d


def tol(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


# ------------------------------------------------------------------ direct / depthwise: gradient checks

DEPTHWISE_CASES = [
    # x shape,       m, kernel,  bias,  stride, padding
    ((2, 3, 7, 6),   1, 3,       True,  1,      0),
    ((2, 3, 7, 6),   2, 3,       False, 1,      1),
    ((1, 2, 9, 8),   1, 3,       True,  2,      1),
    ((1, 2, 8, 7),   2, 3,       True,  1,      "same"),
    ((2, 2, 9, 9),   1, 5,       False, 1,      "same"),
    ((1, 3, 7, 8),   2, 3,       False, 2,      0),
    ((1, 2, 9, 7),   1, 3,       True,  3,      1),
    ((1, 2, 6, 9),   1, (3, 1),  True,  1,      (1, 0)),
    ((1, 2, 5, 7),   2, (2, 3),  True,  2,      (0, 1)),     # even kernel height
    ((1, 1, 3, 3),   2, 3,       True,  1,      "valid"),    # C = 1: a single 1x1 output
]


def _depthwise_inputs(x_shape, m, kernel, bias, seed=1):
    C = x_shape[1]
    kh, kw = pair(kernel, "kernel")
    x, w = leaf(*x_shape, seed=seed), leaf(C * m, 1, kh, kw, seed=seed + 1)
    return [x, w] + ([leaf(C * m, seed=seed + 2)] if bias else [])


@pytest.mark.parametrize("x_shape,m,kernel,bias,stride,padding", DEPTHWISE_CASES)
def test_gradcheck_depthwiseconv2d(x_shape, m, kernel, bias, stride, padding):
    """Depthwise (groups == C, m output channels per input channel) through F.conv2d."""
    inputs = _depthwise_inputs(x_shape, m, kernel, bias)
    C, (kh, kw) = x_shape[1], pair(kernel, "kernel")
    conv = lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=C)  # noqa: E731
    y = conv(*inputs)
    assert y.grad_fn is DirectConv2d
    ph, pw = padding_numbers(kernel, padding)
    assert y.shape == (x_shape[0], C * m, out_size(x_shape[2], kh, stride, ph), out_size(x_shape[3], kw, stride, pw))
    assert gradcheck(conv, *inputs)


DIRECT_CASES = [
    # x shape,       w shape,        bias,  stride, padding
    ((2, 6, 6, 5),   (6, 2, 3, 3),   True,  1,      1),          # groups = 3
    ((1, 6, 7, 7),   (9, 2, 3, 3),   False, 2,      1),          # groups = 3, 3 outputs a group
    ((1, 4, 5, 6),   (6, 2, 3, 3),   True,  1,      "same"),     # groups = 2
    ((1, 4, 7, 5),   (2, 2, 5, 3),   True,  3,      (2, 0)),     # groups = 2, 1 output a group
    ((2, 2, 6, 5),   (3, 2, 3, 3),   True,  1,      1),          # groups = 1: an ordinary conv
    ((1, 3, 7, 6),   (2, 3, 3, 2),   False, 2,      0),          # groups = 1, even kernel width
    ((1, 4, 5, 5),   (4, 2, 1, 1),   True,  2,      0),          # 1x1 in 2 groups
]


@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding", DIRECT_CASES)
def test_gradcheck_directconv2d(x_shape, w_shape, bias, stride, padding):
    """Grouped and ordinary convolutions with few channels: F.conv2d picks the direct loops."""
    groups = x_shape[1] // w_shape[1]
    x, w = leaf(*x_shape, seed=21), leaf(*w_shape, seed=22)
    inputs = [x, w] + ([leaf(w_shape[0], seed=23)] if bias else [])
    conv = lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups)  # noqa: E731
    y = conv(*inputs)
    assert y.grad_fn is DirectConv2d
    ph, pw = padding_numbers(w_shape[2:], padding)
    assert y.shape == (x_shape[0], w_shape[0], out_size(x_shape[2], w_shape[2], stride, ph),
                       out_size(x_shape[3], w_shape[3], stride, pw))
    assert gradcheck(conv, *inputs)


@pytest.mark.parametrize("x_shape,w_shape,stride,padding",
                         [(x, w, s, p) for x, w, _, s, p in DIRECT_CASES[:4]]
                         + [((1, 3, 7, 6), (6, 1, 3, 3), 1, 1), ((1, 2, 9, 7), (2, 1, 3, 3), 3, 1)])
def test_gradcheck_directconv2d_input_only_and_weight_only(x_shape, w_shape, stride, padding):
    """Backward with need_x or need_w False skips half its work; the other half must stay right."""
    x, w, b = rand(*x_shape, seed=4), rand(*w_shape, seed=5), rand(w_shape[0], seed=6)
    conv = lambda a, c, d=None: direct_conv2d(a, c, d, stride, padding, x_shape[1] // w_shape[1])  # noqa: E731
    assert conv(Tensor(x, requires_grad=True), Tensor(w)).grad_fn is DirectConv2d
    assert gradcheck(lambda t: conv(t, Tensor(w)), Tensor(x, requires_grad=True))
    assert gradcheck(lambda t: conv(Tensor(x), t), Tensor(w, requires_grad=True))
    assert gradcheck(lambda t: conv(Tensor(x), Tensor(w), t), Tensor(b, requires_grad=True))


@pytest.mark.parametrize("x_shape,w_shape,groups,bias,stride,padding", [
    ((2, 6, 6, 5),  (6, 2, 3, 3),  3, True,  1, 1),
    ((1, 6, 7, 7),  (9, 2, 3, 3),  3, False, 2, 1),
    ((1, 4, 5, 5),  (4, 1, 3, 3),  4, True,  1, "same"),
])
def test_gradcheck_conv2d_groups_by_im2col(x_shape, w_shape, groups, bias, stride, padding):
    """algorithm='im2col' with groups: one im2col convolution per group, concatenated."""
    x, w = leaf(*x_shape, seed=24), leaf(*w_shape, seed=25)
    inputs = [x, w] + ([leaf(w_shape[0], seed=26)] if bias else [])
    conv = lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups, algorithm="im2col")  # noqa
    assert conv(*inputs).grad_fn is Concatenate
    assert gradcheck(conv, *inputs)


def test_groups_is_one_convolution_per_group():
    """Output channels g*O/G.. are input channels g*C/G.. convolved with their own filters,
    whichever algorithm computes them."""
    x, w, b = rand(2, 6, 6, 5, seed=24), rand(9, 2, 3, 3, seed=25), rand(9, seed=26)
    expected = np.concatenate([R.conv2d_direct(x[:, 2 * g:2 * g + 2], w[3 * g:3 * g + 3], b[3 * g:3 * g + 3], 1, 1)
                               for g in range(3)], axis=1)
    for algorithm in ("auto", "direct", "im2col"):
        y = F.conv2d(Tensor(x), Tensor(w), Tensor(b), padding=1, groups=3, algorithm=algorithm).data
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12, err_msg=algorithm)


# ------------------------------------------------------------------ pointwise: gradient checks

POINTWISE_CASES = [
    # x shape,       O, bias,  stride, padding
    ((2, 3, 5, 6),   4, True,  1,      0),
    ((2, 3, 7, 6),   2, False, 2,      0),
    ((1, 4, 7, 8),   3, True,  (2, 1), 0),
    ((1, 2, 5, 5),   5, True,  3,      "valid"),
    ((2, 3, 5, 4),   3, False, 1,      "same"),      # 'same' for a 1x1 kernel is no padding
    ((1, 1, 1, 1),   2, True,  1,      (0, 0)),
]


@pytest.mark.parametrize("x_shape,O,bias,stride,padding", POINTWISE_CASES)
def test_gradcheck_pointwiseconv2d(x_shape, O, bias, stride, padding):
    x, w = leaf(*x_shape, seed=11), leaf(O, x_shape[1], 1, 1, seed=12)
    inputs = [x, w] + ([leaf(O, seed=13)] if bias else [])
    conv = lambda *t: F.conv2d(*t, stride=stride, padding=padding)  # noqa: E731
    y = conv(*inputs)
    assert y.grad_fn is PointwiseConv2d
    sh, sw = pair(stride, "stride")
    assert y.shape == (x_shape[0], O, (x_shape[2] - 1) // sh + 1, (x_shape[3] - 1) // sw + 1)
    assert gradcheck(conv, *inputs)
    assert gradcheck(lambda t: pointwise_conv2d(t, Tensor(w.data), None, stride), Tensor(x.data, requires_grad=True))
    assert gradcheck(lambda t: pointwise_conv2d(Tensor(x.data), t, None, stride), Tensor(w.data, requires_grad=True))


# ------------------------------------------------------------------ kernels vs their reference twins

KERNEL_CASES = [
    # x shape,        m, kernel,  stride, pad_h, pad_w
    ((2, 3, 8, 7),    1, (3, 3),  1,      1,     1),
    ((2, 3, 8, 7),    2, (3, 3),  1,      0,     0),
    ((1, 4, 11, 9),   1, (5, 5),  1,      2,     2),
    ((2, 2, 9, 10),   1, (3, 3),  2,      1,     1),
    ((1, 3, 12, 11),  2, (5, 5),  2,      2,     1),
    ((2, 2, 10, 10),  1, (3, 3),  3,      1,     1),
    ((1, 2, 13, 8),   3, (5, 3),  3,      0,     1),
    ((3, 5, 6, 6),    1, (3, 3),  1,      3,     2),     # padding beyond the kernel's reach
    ((1, 2, 5, 5),    1, (5, 5),  1,      0,     0),     # kernel as large as the input
    ((2, 16, 24, 24), 1, (3, 3),  1,      1,     1),     # an Xception-like layer
    ((2, 3, 8, 7),    1, (3, 3),  1,      0,     2),     # depthwise 3x3 at stride 1, unequal padding
    ((1, 2, 5, 9),    1, (3, 3),  1,      2,     0),
    ((2, 4, 3, 3),    1, (3, 3),  1,      1,     1),     # a 3x3 map (the last blocks of a small net)
    ((2, 1, 9, 8),    8, (3, 3),  1,      1,     1),     # a first layer on a one-channel image
]


def test_depthwise3x3_kernels_take_the_cases_they_are_meant_for():
    """The cases above and below with one input channel per filter, 3x3, stride 1 and padding <= 2
    run kernels/depthwise.py, the rest the general direct kernels: both are compared with the
    reference."""
    assert KDW.handles((3, 1, 3, 3), 1, 1, 1) and KDW.handles((3, 1, 3, 3), 1, 0, 2)
    assert KDW.handles((6, 1, 3, 3), 1, 1, 1)                # a depth multiplier of 2, or a first layer
    assert not KDW.handles((3, 1, 5, 5), 1, 2, 2)            # 5x5
    assert not KDW.handles((3, 1, 3, 3), 2, 1, 1)            # stride 2
    assert not KDW.handles((3, 1, 3, 3), 1, 3, 2)            # padding beyond what the gather pads
    assert not KDW.handles((3, 3, 3, 3), 1, 1, 1)            # three input channels per filter


def _check_backward(dtype, x, w, gy, stride, pad_h, pad_w, gx_ref, gw_ref):
    gx, gw = KD.direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, True, True)
    assert gx.dtype == gw.dtype == dtype
    assert gx.shape == x.shape and gw.shape == w.shape
    np.testing.assert_allclose(gx, gx_ref, **tol(dtype))
    np.testing.assert_allclose(gw, gw_ref, **tol(dtype))
    # one of the two only: the other is None, the one asked for unchanged
    gx_only, none = KD.direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, True, False)
    assert none is None
    np.testing.assert_allclose(gx_only, gx_ref, **tol(dtype))
    none, gw_only = KD.direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, False, True)
    assert none is None
    np.testing.assert_allclose(gw_only, gw_ref, **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,m,kernel,stride,pad_h,pad_w", KERNEL_CASES)
def test_depthwise_kernels_match_reference(x_shape, m, kernel, stride, pad_h, pad_w, dtype):
    C, (kh, kw) = x_shape[1], kernel
    x = rand(*x_shape, seed=31, dtype=dtype)
    w = rand(C * m, 1, kh, kw, seed=32, dtype=dtype)
    b = rand(C * m, seed=33, dtype=dtype)
    for bias in (b, None):
        y = KD.direct_conv2d_forward(x, w, bias, stride, pad_h, pad_w)
        assert y.dtype == dtype
        assert y.shape == (x_shape[0], C * m, out_size(x_shape[2], kh, stride, pad_h),
                           out_size(x_shape[3], kw, stride, pad_w))
        np.testing.assert_allclose(y, R.direct_conv2d_forward(x, w, bias, stride, pad_h, pad_w), **tol(dtype))
    gy = rand(*y.shape, seed=34, dtype=dtype)
    _check_backward(dtype, x, w, gy, stride, pad_h, pad_w,
                    *R.direct_conv2d_backward(gy, x, w, stride, pad_h, pad_w, True, True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,stride,pad", [((2, 1, 9, 8), (4, 1, 5, 5), 1, 2),   # a first layer, odd rows
                                                        ((3, 4, 6, 7), (4, 1, 3, 3), 1, 1),   # depthwise
                                                        ((2, 2, 7, 7), (3, 2, 3, 3), 2, 1)])  # strided: ReLU only
def test_direct_forward_with_relu_and_pooling_matches_reference(x_shape, w_shape, stride, pad, dtype):
    x, w, b = rand(*x_shape, seed=35, dtype=dtype), rand(*w_shape, seed=36, dtype=dtype), rand(w_shape[0], seed=37,
                                                                                                dtype=dtype)
    expected = np.maximum(R.direct_conv2d_forward(x, w, b, stride, pad, pad), 0)
    np.testing.assert_allclose(KD.direct_conv2d_forward(x, w, b, stride, pad, pad, relu=True), expected, **tol(dtype))
    if stride != 1:
        with pytest.raises(ValueError, match="pooling in the same pass needs stride 1"):
            KD.direct_conv2d_forward(x, w, b, stride, pad, pad, pool=True)
        return
    N, O, OH, OW = expected.shape
    PH, PW = OH // 2, OW // 2          # floor mode: an odd last row or column drops
    pooled = KD.direct_conv2d_forward(x, w, b, stride, pad, pad, relu=True, pool=True)
    assert pooled.shape == (N, O, PH, PW)
    windows = expected[:, :, :2 * PH, :2 * PW].reshape(N, O, PH, 2, PW, 2)
    np.testing.assert_allclose(pooled, windows.max(axis=(3, 5)), **tol(dtype))


def _grouped_reference(x, w, b, gy, stride, pad_h, pad_w):
    """y, gx, gw of a grouped convolution, group by group, by the reference im2col / col2im."""
    C, (O, Cg, kh, kw) = x.shape[1], w.shape
    G = C // Cg
    Og = O // G
    ys, gxs, gws = [], [], []
    for g in range(G):
        xg, wg = x[:, g * Cg:(g + 1) * Cg], w[g * Og:(g + 1) * Og]
        ys.append(R.conv2d_direct(xg, wg, None if b is None else b[g * Og:(g + 1) * Og], stride, (pad_h, pad_w)))
        if gy is not None:
            gyg = gy[:, g * Og:(g + 1) * Og]
            cols = R.im2col(xg, kh, kw, stride, pad_h, pad_w)
            gy2 = gyg.transpose(1, 0, 2, 3).reshape(Og, -1)
            gws.append((gy2 @ cols).reshape(wg.shape))
            gxs.append(R.col2im(gy2.T @ wg.reshape(Og, -1), xg.shape, kh, kw, stride, pad_h, pad_w))
    y = np.concatenate(ys, axis=1)
    return (y, None, None) if gy is None else (y, np.concatenate(gxs, axis=1), np.concatenate(gws, axis=0))


GROUPED_KERNEL_CASES = [
    # x shape,        w shape,         stride, pad_h, pad_w
    ((2, 6, 8, 7),    (6, 2, 3, 3),    1,      1,     1),       # groups = 3
    ((2, 6, 9, 8),    (8, 3, 3, 3),    2,      1,     0),       # groups = 2
    ((1, 4, 11, 10),  (8, 2, 5, 5),    3,      2,     2),       # groups = 2, kernel 5
    ((2, 3, 9, 9),    (4, 3, 5, 5),    1,      2,     2),       # groups = 1
    ((1, 4, 10, 9),   (4, 4, 3, 3),    2,      0,     1),       # groups = 1, strided
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,stride,pad_h,pad_w", GROUPED_KERNEL_CASES)
def test_grouped_kernels_match_per_group_reference(x_shape, w_shape, stride, pad_h, pad_w, dtype):
    x, w, b = rand(*x_shape, seed=38, dtype=dtype), rand(*w_shape, seed=39, dtype=dtype), rand(w_shape[0], seed=40)
    y_ref = _grouped_reference(x, w, b.astype(dtype), None, stride, pad_h, pad_w)[0]
    y = KD.direct_conv2d_forward(x, w, b.astype(dtype), stride, pad_h, pad_w)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    gy = rand(*y.shape, seed=41, dtype=dtype)
    _, gx_ref, gw_ref = _grouped_reference(x, w, None, gy, stride, pad_h, pad_w)
    _check_backward(dtype, x, w, gy, stride, pad_h, pad_w, gx_ref, gw_ref)


def test_direct_kernels_take_non_contiguous_arrays():
    x = rand(2, 7, 3, 6, seed=35).transpose(0, 2, 3, 1)[:, :, ::2]      # (2, 3, 3, 7), strided
    w = rand(3, 3, 1, 3, seed=36).transpose(0, 2, 1, 3)                  # (3, 1, 3, 3)
    y = KD.direct_conv2d_forward(x, w, None, 1, 1, 1)
    np.testing.assert_allclose(y, R.direct_conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(w),
                                                          None, 1, 1, 1), rtol=1e-12, atol=1e-12)
    gy = rand(*y.shape, seed=37)[:, ::-1]
    for got, ref in zip(KD.direct_conv2d_backward(gy, x, w, 1, 1, 1),
                        R.direct_conv2d_backward(np.ascontiguousarray(gy), x, w, 1, 1, 1)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_direct_kernel_nan_propagates():
    x = np.zeros((1, 2, 5, 5), np.float32)
    x[0, 1, 2, 2] = np.nan
    y = KD.direct_conv2d_forward(x, np.ones((2, 1, 3, 3), np.float32), None, 1, 1, 1)
    assert not np.isnan(y[0, 0]).any()
    assert np.isnan(y[0, 1, 1:4, 1:4]).all() and np.isnan(y[0, 1]).sum() == 9


def test_direct_kernel_errors_name_the_shapes():
    x, w = np.zeros((1, 4, 5, 5)), np.zeros((4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"C=4.*\(4, 3, 3, 3\)"):
        KD.direct_conv2d_forward(x, np.zeros((4, 3, 3, 3)), None, 1, 1, 1)     # 3 does not divide 4
    with pytest.raises(ValueError, match=r"C=4.*\(6, 1, 3, 3\)"):
        KD.direct_conv2d_forward(x, np.zeros((6, 1, 3, 3)), None, 1, 1, 1)     # 6 outputs in 4 groups
    with pytest.raises(ValueError, match=r"gy has shape \(1, 4, 3, 3\).*\(1, 4, 5, 5\)"):
        KD.direct_conv2d_backward(np.zeros((1, 4, 3, 3)), x, w, 1, 1, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        KD.direct_conv2d_forward(x.astype(np.int32), w, None, 1, 1, 1)


# ------------------------------------------------------------------ the Functions on their own

def test_direct_and_pointwise_functions_match_the_general_convolution():
    x, b = rand(2, 4, 7, 6, seed=41), rand(8, seed=42)
    wd = rand(8, 1, 3, 3, seed=43)
    # a depthwise w (m*C, 1, kh, kw) is the full w (m*C, C, kh, kw) that is zero off its channel
    dense = np.zeros((8, 4, 3, 3))
    for o in range(8):
        dense[o, o // 2] = wd[o, 0]
    np.testing.assert_allclose(direct_conv2d(Tensor(x), Tensor(wd), Tensor(b), 2, 1, groups=4).data,
                               R.conv2d_direct(x, dense, b, 2, 1), rtol=1e-12, atol=1e-12)
    wf = rand(8, 4, 3, 3, seed=45)          # groups = 1
    np.testing.assert_allclose(direct_conv2d(Tensor(x), Tensor(wf), Tensor(b), 1, (1, 0)).data,
                               R.conv2d_direct(x, wf, b, 1, (1, 0)), rtol=1e-12, atol=1e-12)
    wp = rand(8, 4, 1, 1, seed=44)
    for stride in (1, 2, (2, 3)):
        np.testing.assert_allclose(pointwise_conv2d(Tensor(x), Tensor(wp), Tensor(b), stride).data,
                                   R.conv2d_direct(x, wp, b, stride, 0), rtol=1e-12, atol=1e-12)


def test_direct_of_an_empty_batch():
    x, w = leaf(0, 3, 5, 5), leaf(6, 1, 3, 3, seed=1)
    y = F.conv2d(x, w, padding=1, groups=3)
    assert y.shape == (0, 6, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((6, 1, 3, 3)))


def test_pointwise_of_an_empty_batch():
    x, w = leaf(0, 3, 5, 5), leaf(4, 3, 1, 1, seed=1)
    y = F.conv2d(x, w)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros((4, 3, 1, 1)))


# ------------------------------------------------------------------ dispatch

def test_conv2d_auto_dispatch_uses_the_fast_functions():
    x = leaf(2, 4, 6, 6, dtype=np.float32)
    f32 = lambda *s: leaf(*s, seed=1, dtype=np.float32)  # noqa: E731
    # depthwise, with multiplier 2, and other groups with few channels: direct loops
    assert F.conv2d(x, f32(4, 1, 3, 3), padding=1, groups=4).grad_fn is DirectConv2d
    assert F.conv2d(x, f32(8, 1, 5, 5), stride=2, groups=4).grad_fn is DirectConv2d          # m = 2
    assert F.conv2d(x, f32(6, 2, 3, 3), padding=1, groups=2).grad_fn is DirectConv2d
    assert F.conv2d(x, f32(4, 2, 1, 1), groups=2).grad_fn is DirectConv2d                     # 1x1 grouped
    # and few-channel ordinary convolutions (a network's first layers)
    assert F.conv2d(x, f32(3, 4, 3, 3), padding=1).grad_fn is DirectConv2d
    # 1x1 without padding: a matrix product
    assert F.conv2d(x, f32(3, 4, 1, 1)).grad_fn is PointwiseConv2d
    assert F.conv2d(x, f32(3, 4, 1, 1), stride=2).grad_fn is PointwiseConv2d
    assert F.conv2d(x, f32(3, 4, 1, 1), stride=(2, 1)).grad_fn is PointwiseConv2d
    assert F.conv2d(x, f32(3, 4, 1, 1), padding="valid").grad_fn is PointwiseConv2d
    # im2col: asked for, unequal strides (the direct kernel takes one stride), many channels a group
    assert F.conv2d(x, f32(3, 4, 1, 1), algorithm="im2col").grad_fn is Conv2d
    assert F.conv2d(x, f32(3, 4, 3, 3), padding=1, algorithm="im2col").grad_fn is Conv2d
    assert F.conv2d(x, f32(3, 4, 3, 3), stride=(2, 1)).grad_fn is Conv2d
    assert F.conv2d(x, f32(4, 1, 3, 3), padding=1, groups=4, algorithm="im2col").grad_fn is Concatenate
    assert F.conv2d(x, f32(4, 1, 3, 3), stride=(1, 2), groups=4).grad_fn is Concatenate
    wide = leaf(1, 128, 4, 4, dtype=np.float32)
    assert F.conv2d(wide, f32(128, 64, 3, 3), padding=1, groups=2).grad_fn is Concatenate     # 64*64 > 2048
    assert F.conv2d(x, f32(3, 4, 3, 3), padding=1, algorithm="winograd").grad_fn is WinogradConv2d
    assert F.conv2d(x, f32(3, 4, 3, 3), padding=1, groups=1, algorithm="direct").grad_fn is DirectConv2d


def test_conv2d_groups_runs_one_conv2d_per_group(monkeypatch):
    calls = []
    original = Conv2d.apply
    monkeypatch.setattr(Conv2d, "apply", lambda *a: calls.append(a[0].shape) or original(*a))
    y = F.conv2d(leaf(2, 6, 5, 5), leaf(9, 2, 3, 3, seed=1), padding=1, groups=3, algorithm="im2col")
    assert y.shape == (2, 9, 5, 5)
    assert calls == [(2, 2, 5, 5)] * 3


def test_separable_layers_use_the_fast_functions():
    minigrad.manual_seed(0)
    depthwise, pointwise = nn.Conv2d(4, 8, 3, padding=1, groups=4), nn.Conv2d(8, 5, 1, bias=False)
    x = Tensor(rand(2, 4, 6, 6, dtype=np.float32), requires_grad=True)
    y = depthwise(x)
    assert y.grad_fn is DirectConv2d
    z = pointwise(y)
    assert z.grad_fn is PointwiseConv2d and z.shape == (2, 5, 6, 6)


# ------------------------------------------------------------------ PyTorch

TORCH_CASES = [
    # x shape,        w shape,        groups, bias,  stride, padding
    ((2, 4, 9, 8),    (4, 1, 3, 3),   4,      True,  1,      1),        # depthwise
    ((2, 4, 9, 8),    (4, 1, 3, 3),   4,      False, 2,      1),
    ((1, 3, 10, 9),   (3, 1, 5, 5),   3,      True,  1,      "same"),
    ((1, 3, 11, 10),  (3, 1, 3, 3),   3,      True,  3,      0),
    ((2, 3, 9, 8),    (6, 1, 3, 3),   3,      True,  1,      1),        # multiplier 2
    ((1, 3, 9, 8),    (6, 1, 3, 3),   3,      False, 2,      0),
    ((2, 6, 7, 7),    (6, 2, 3, 3),   3,      True,  1,      1),        # general groups
    ((1, 6, 7, 7),    (8, 3, 3, 3),   2,      True,  2,      (1, 0)),
    ((2, 4, 7, 6),    (5, 4, 1, 1),   1,      True,  1,      0),        # pointwise
    ((2, 4, 7, 6),    (5, 4, 1, 1),   1,      False, 2,      0),
    ((1, 4, 7, 6),    (3, 4, 1, 1),   1,      True,  (2, 1), 0),
]


@pytest.mark.parametrize("x_shape,w_shape,groups,bias,stride,padding", TORCH_CASES)
def test_conv2d_groups_matches_torch(x_shape, w_shape, groups, bias, stride, padding):
    torch = pytest.importorskip("torch")
    arrays = [rand(*x_shape, seed=51, dtype=np.float32), rand(*w_shape, seed=52, dtype=np.float32)]
    arrays += [rand(w_shape[0], seed=53, dtype=np.float32)] if bias else []
    assert_same_as_torch(lambda *t: F.conv2d(*t, stride=stride, padding=padding, groups=groups),
                         lambda *t: torch.nn.functional.conv2d(*t, stride=stride, padding=padding, groups=groups),
                         arrays, seed=54, rtol=1e-4, atol=1e-4)


NN_GROUPS_CASES = [
    # in, out, kernel, groups, bias
    (8, 8, 3, 8, True),
    (8, 16, 3, 8, False),
    (6, 9, 3, 3, True),
    (8, 4, 1, 2, True),
    (32, 32, 5, 32, True),
]


@pytest.mark.parametrize("cin,cout,k,groups,bias", NN_GROUPS_CASES)
def test_nn_conv2d_groups_matches_torch(cin, cout, k, groups, bias):
    torch = pytest.importorskip("torch")
    minigrad.manual_seed(0)
    ours = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias, groups=groups)
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias, groups=groups)
    shapes = {name: tuple(v.shape) for name, v in ours.state_dict().items()}
    assert shapes == {name: tuple(v.shape) for name, v in theirs.state_dict().items()}
    assert shapes["weight"] == (cout, cin // groups, k, k)
    # PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = cin / groups * k * k
    bound = 1 / math.sqrt(cin // groups * k * k)
    for name, value in ours.state_dict().items():
        assert np.abs(value).max() <= bound and np.abs(value).max() > 0.5 * bound, name
        assert np.abs(theirs.state_dict()[name].numpy()).max() <= bound
    # and the same weights give the same outputs
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    x = rand(2, cin, 7, 6, seed=55, dtype=np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(Tensor(x)).data, expected, rtol=1e-4, atol=1e-4)
    assert f"groups={groups}" in repr(ours) or groups == 1


# ------------------------------------------------------------------ errors

def test_groups_errors_name_the_shapes():
    x = Tensor(np.zeros((1, 6, 5, 5), np.float32))
    # the channels do not divide into the groups
    with pytest.raises(ValueError, match=r"groups=4.*\(1, 6, 5, 5\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, Tensor(np.zeros((4, 2, 3, 3), np.float32)), groups=4)
    # the input channels do, the output channels do not
    with pytest.raises(ValueError, match=r"groups=3.*\(1, 6, 5, 5\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, Tensor(np.zeros((4, 2, 3, 3), np.float32)), groups=3)
    # a depthwise weight of the wrong shape
    with pytest.raises(ValueError, match=r"groups=6.*\(1, 6, 5, 5\).*\(6, 3, 3, 3\)"):
        F.conv2d(x, Tensor(np.zeros((6, 3, 3, 3), np.float32)), groups=6)
    with pytest.raises(ValueError, match=r"groups=6.*\(1, 6, 5, 5\).*\(9, 1, 3, 3\)"):
        F.conv2d(x, Tensor(np.zeros((9, 1, 3, 3), np.float32)), groups=6)
    # the bias of a depthwise convolution
    with pytest.raises(ValueError, match=r"bias has shape \(5,\).*\(6,\)"):
        F.conv2d(x, Tensor(np.zeros((6, 1, 3, 3), np.float32)), Tensor(np.zeros(5, np.float32)), groups=6)


@pytest.mark.parametrize("groups", [0, -2, 1.5, True, "2", None])
def test_bad_groups_value(groups):
    x, w = Tensor(np.zeros((1, 4, 5, 5), np.float32)), Tensor(np.zeros((4, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="groups must be a positive int"):
        F.conv2d(x, w, groups=groups)


def test_direct_function_errors_name_the_shapes():
    x = Tensor(np.zeros((2, 4, 7, 7), np.float32))
    with pytest.raises(ValueError, match=r"\(2,4,7,7\).*\(4,3,3,3\)"):
        direct_conv2d(x, Tensor(np.zeros((4, 3, 3, 3), np.float32)))        # 3 channels a group of 4
    with pytest.raises(ValueError, match=r"\(2,4,7,7\).*\(6,1,3,3\)"):
        direct_conv2d(x, Tensor(np.zeros((6, 1, 3, 3), np.float32)), groups=4)    # 6 outputs in 4 groups
    with pytest.raises(ValueError, match="one stride for both axes"):
        direct_conv2d(x, Tensor(np.zeros((4, 1, 3, 3), np.float32)), stride=(2, 1), groups=4)
    with pytest.raises(ValueError, match="one stride for both axes"):
        F.conv2d(x, Tensor(np.zeros((4, 1, 3, 3), np.float32)), stride=(2, 1), groups=4, algorithm="direct")
    with pytest.raises(TypeError, match="share one floating dtype"):
        direct_conv2d(x, Tensor(np.zeros((4, 1, 3, 3), np.float64)), groups=4)
    with pytest.raises(ValueError, match="larger than the padded input"):
        direct_conv2d(Tensor(np.zeros((1, 2, 2, 2), np.float32)), Tensor(np.zeros((2, 1, 3, 3), np.float32)), groups=2)


def test_nn_conv2d_groups_errors():
    with pytest.raises(ValueError, match=r"in_channels \(6\).*out_channels \(4\).*groups \(4\)"):
        nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match=r"in_channels \(6\).*out_channels \(4\).*groups \(3\)"):
        nn.Conv2d(6, 4, 3, groups=3)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(6, 6, 3, groups=0)


def test_pointwise_function_rejects_a_bigger_kernel_by_its_shapes():
    with pytest.raises(ValueError, match=r"\(3,4,3,3\)"):
        pointwise_conv2d(Tensor(np.zeros((2, 4, 7, 7))), Tensor(np.zeros((3, 4, 3, 3))))


def test_pointwise_same_padding_needs_stride_one_like_im2col():
    x, w = Tensor(np.zeros((1, 4, 6, 6))), Tensor(np.zeros((3, 4, 1, 1)))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same", algorithm="im2col")
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same")


# ------------------------------------------------------------------ float32 in, float32 out

FLOAT32_CASES = {
    "depthwise": (lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=3), (3, 1, 3, 3)),
    "depthwise_strided_m2": (lambda x, w, b: F.conv2d(x, w, b, stride=2, groups=3), (6, 1, 3, 3)),
    "direct_function": (lambda x, w, b: direct_conv2d(x, w, b, 2, 1, groups=3), (3, 1, 3, 3)),
    "direct_grouped": (lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=3), (6, 1, 3, 3)),
    "direct_ordinary": (lambda x, w, b: F.conv2d(x, w, b, padding=1, algorithm="direct"), (4, 3, 3, 3)),
    "pointwise": (lambda x, w, b: F.conv2d(x, w, b), (4, 3, 1, 1)),
    "pointwise_strided": (lambda x, w, b: F.conv2d(x, w, b, stride=2), (4, 3, 1, 1)),
    "pointwise_function": (lambda x, w, b: pointwise_conv2d(x, w, b, (1, 2)), (4, 3, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_in_float32_out(name):
    fn, w_shape = FLOAT32_CASES[name]
    x, w, b = (leaf(2, 3, 7, 7, dtype=np.float32), leaf(*w_shape, seed=1, dtype=np.float32),
               leaf(w_shape[0], seed=2, dtype=np.float32))
    y = fn(x, w, b)
    assert y.grad_fn in (DirectConv2d, PointwiseConv2d)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    for t in (x, w, b):
        assert t.grad is not None and t.grad.dtype == np.float32, name
