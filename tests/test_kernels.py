"""Fast numba kernels against their slow twins in minigrad/kernels/reference.py.

Shapes are kept tiny so the file also runs under NUMBA_DISABLE_JIT=1 (pure
Python) in a few seconds; they still cover odd and non-square sizes, strides
1 and 2 (and unequal ones), paddings 0/1/2, and both float dtypes.
"""
import numpy as np
import pytest

from minigrad import kernels as K
from minigrad.kernels import reference as R

FLOATS = [np.float32, np.float64]

# (x shape (N, C, H, W), kh, kw, stride, pad_h, pad_w)
CONV_CASES = [
    ((2, 3, 7, 6), 3, 3, 1, 1, 1),          # 'same' 3x3, non-square image
    ((2, 3, 7, 6), 3, 3, 2, 0, 0),          # stride 2, no padding, odd size
    ((1, 2, 9, 8), 5, 5, 1, 2, 2),          # 'same' 5x5
    ((2, 2, 9, 7), 5, 5, 2, 2, 2),          # 5x5 stride 2
    ((3, 1, 6, 5), 2, 3, 2, 1, 0),          # non-square kernel, unequal padding
    ((2, 4, 5, 7), 1, 1, 1, 0, 0),          # 1x1 conv
    ((1, 2, 8, 8), 3, 3, (1, 2), 0, 2),     # unequal strides
    ((1, 2, 3, 3), 5, 5, 1, 2, 2),          # kernel larger than the unpadded image
]


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


# ---------------------------------------------------------------- im2col / col2im

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,kh,kw,stride,ph,pw", CONV_CASES)
def test_im2col_matches_reference(shape, kh, kw, stride, ph, pw, dtype):
    x = rand(shape, dtype)
    cols = K.im2col(x, kh, kw, stride, ph, pw)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, R.im2col(x, kh, kw, stride, ph, pw))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,kh,kw,stride,ph,pw", CONV_CASES)
def test_col2im_matches_reference_and_is_adjoint(shape, kh, kw, stride, ph, pw, dtype):
    x = rand(shape, dtype, seed=1)
    g = rand(R.im2col(x, kh, kw, stride, ph, pw).shape, dtype, seed=2)
    gx = K.col2im(g, shape, kh, kw, stride, ph, pw)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_allclose(gx, R.col2im(g, shape, kh, kw, stride, ph, pw), **tol(dtype))
    # <im2col(x), g> == <x, col2im(g)>: col2im is the transpose of the linear map im2col.
    lhs = np.vdot(K.im2col(x, kh, kw, stride, ph, pw).astype(np.float64), g)
    rhs = np.vdot(x.astype(np.float64), gx)
    assert abs(lhs - rhs) <= 1e-4 * (1 + abs(lhs))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,kh,kw,stride,ph,pw", CONV_CASES[:5])
def test_conv_via_im2col_gemm_matches_direct(shape, kh, kw, stride, ph, pw, dtype):
    N, C, H, W = shape
    O = 4
    x, w, b = rand(shape, dtype, 3), rand((O, C, kh, kw), dtype, 4), rand((O,), dtype, 5)
    OH, OW = K.conv_output_size(H, W, kh, kw, stride, ph, pw)
    y2d = K.im2col(x, kh, kw, stride, ph, pw) @ w.reshape(O, -1).T      # (N*OH*OW, O)
    y = y2d.reshape(N, OH, OW, O).transpose(0, 3, 1, 2) + b[:, None, None]
    assert y.dtype == dtype and y.shape == (N, O, OH, OW)
    np.testing.assert_allclose(y, R.conv2d_direct(x, w, b, stride, (ph, pw)), **tol(dtype))


def test_conv_geometry_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"im2col.*5x5"):
        K.im2col(np.zeros((1, 1, 3, 3), np.float32), 5, 5)
    with pytest.raises(ValueError, match=r"col2im.*expected gcols"):
        K.col2im(np.zeros((4, 4), np.float32), (1, 1, 3, 3), 3, 3, 1, 1, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.im2col(np.zeros((1, 1, 3, 3), np.int64), 3, 3)
    with pytest.raises(TypeError, match="im2col: stride must be an int or a pair of ints, got 1.5"):
        K.im2col(np.zeros((1, 1, 3, 3), np.float32), 3, 3, 1.5)


# ---------------------------------------------------------------- max pooling

POOL_CASES = [((2, 3, 8, 8), 2, 2), ((2, 2, 7, 9), 2, 2), ((1, 3, 7, 7), 3, 2),
              ((2, 2, 5, 6), 3, 1), ((1, 2, 6, 5), 2, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k,s", POOL_CASES)
def test_max_pool_matches_reference(shape, k, s, dtype):
    x = rand(shape, dtype, 6)
    y, idx = K.max_pool2d_forward(x, k, s)
    y_ref, idx_ref = R.max_pool2d_forward(x, k, s)
    assert y.dtype == dtype and idx.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rand(y.shape, dtype, 7)
    gx = K.max_pool2d_backward(gy, idx, shape, k, s)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, R.max_pool2d_backward(gy, idx_ref, shape, k, s), **tol(dtype))
    assert np.isclose(gx.sum(), gy.sum())   # every output gradient lands somewhere


def test_max_pool_overlapping_windows_accumulate():
    # The centre pixel is the max of all four 2x2 windows (stride 1), so it
    # collects the sum of their gradients.
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = 5
    y, idx = K.max_pool2d_forward(x, 2, 1)
    np.testing.assert_array_equal(idx.ravel(), [4, 4, 4, 4])
    gx = K.max_pool2d_backward(np.array([[[[1, 2], [3, 4]]]], np.float32), idx, x.shape, 2, 1)
    np.testing.assert_array_equal(gx[0, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_max_pool_ties_and_nans():
    x = np.ones((1, 1, 2, 4), np.float32)
    x[0, 0, 0, 2] = 5                       # second window: 5, NaN / 1, NaN
    x[0, 0, 0, 3] = x[0, 0, 1, 3] = np.nan
    y, idx = K.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(idx.ravel(), [0, 3])      # first of the ties; the first NaN
    assert y[0, 0, 0, 0] == 1 and np.isnan(y[0, 0, 0, 1])
    np.testing.assert_array_equal(R.max_pool2d_forward(x, 2)[1], idx)


# ---------------------------------------------------------------- batch norm

BN_SHAPES = [(4, 3, 5), (6, 4, 1), (2, 2, 9)]     # (N, C, L); L = 1 is BatchNorm1d


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_forward_matches_reference(shape, relu, dtype):
    x = rand(shape, dtype, 8) * 3 + 2
    w, b = rand(shape[1:2], dtype, 9), rand(shape[1:2], dtype, 10)
    y, mean, invstd = K.batch_norm_forward_train(x, w, b, 1e-5, relu=relu)
    assert y.dtype == mean.dtype == invstd.dtype == dtype
    for got, want in zip((y, mean, invstd), R.batch_norm_forward_train(x, w, b, 1e-5, relu)):
        np.testing.assert_allclose(got, want, **tol(dtype))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), **tol(dtype))
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x64.var(axis=(0, 2)) + 1e-5), **tol(dtype))


def test_batch_norm_float32_statistics_are_accurate_with_a_large_mean():
    # Sum of squares in float32 minus mean^2 would lose every digit here.
    x = (1000 + 0.01 * rand((64, 2, 50), np.float64, 11)).astype(np.float32)
    _, mean, invstd = K.batch_norm_forward_train(x, None, None, eps=0.0)
    var = x.astype(np.float64).var(axis=(0, 2))
    np.testing.assert_allclose(1 / invstd.astype(np.float64) ** 2, var, rtol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_backward_matches_reference(shape, relu, dtype):
    x, gy = rand(shape, dtype, 12), rand(shape, dtype, 13)
    w, b = rand(shape[1:2], dtype, 14), rand(shape[1:2], dtype, 15)
    y, mean, invstd = K.batch_norm_forward_train(x, w, b, 1e-5, relu=relu)
    y3 = y if relu else None
    got = K.batch_norm_backward(gy, x, mean, invstd, w, y3)
    want = R.batch_norm_backward(gy, x, mean, invstd, w, y3)
    for g, r in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, r, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_backward_matches_finite_differences(relu):
    shape = (3, 2, 4)
    x, r = rand(shape, np.float64, 16), rand(shape, np.float64, 17)
    w, b = rand((2,), np.float64, 18), rand((2,), np.float64, 19)

    def loss(x, w, b):   # a random linear functional of the output: dL/dy = r
        return np.sum(K.batch_norm_forward_train(x, w, b, 1e-3, relu=relu)[0] * r)

    y, mean, invstd = K.batch_norm_forward_train(x, w, b, 1e-3, relu=relu)
    grads = K.batch_norm_backward(r, x, mean, invstd, w, y if relu else None)
    h = 1e-6
    for i, arg in enumerate((x, w, b)):
        numeric = np.zeros_like(arg)
        for j in np.ndindex(arg.shape):
            args_p = [x.copy(), w.copy(), b.copy()]
            args_m = [x.copy(), w.copy(), b.copy()]
            args_p[i][j] += h
            args_m[i][j] -= h
            numeric[j] = (loss(*args_p) - loss(*args_m)) / (2 * h)
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-5, atol=1e-7)


def test_batch_norm_eval_uses_running_statistics():
    x = rand((5, 3, 4), np.float32, 20)
    rm, rv = np.array([0.5, -1, 2.0]), np.array([1.0, 4.0, 0.25])
    w, b = np.array([1.0, 2, 3], np.float32), np.array([0.1, 0.2, 0.3], np.float32)
    y = K.batch_norm_forward_eval(x, rm, rv, w, b, eps=1e-5)
    per_c = (None, slice(None), None)        # (C,) -> (1, C, 1)
    want = w[per_c] * (x - rm[per_c]) / np.sqrt(rv[per_c] + 1e-5) + b[per_c]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    with_relu = K.batch_norm_forward_eval(x, rm, rv, w, b, eps=1e-5, relu=True)
    assert (y < 0).any()
    np.testing.assert_array_equal(with_relu, np.maximum(y, 0))
    for relu in (False, True):               # the reference twin (the reference backend runs it)
        twin = R.batch_norm_forward_eval(x, rm, rv, w, b, eps=1e-5, relu=relu)
        assert twin.dtype == np.float32
        np.testing.assert_allclose(twin, with_relu if relu else y, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- dtypes

def test_float32_in_float32_out_everywhere():
    f = np.float32
    x = rand((2, 3, 6, 6), f)
    cols = K.im2col(x, 3, 3, 1, 1, 1)
    outs = [cols, K.col2im(cols, x.shape, 3, 3, 1, 1, 1)]
    y, idx = K.max_pool2d_forward(x, 2)
    outs += [y, K.max_pool2d_backward(y, idx, x.shape, 2)]
    x3 = x.reshape(2, 3, 36)
    ones64 = np.ones(3)                                  # float64 parameters follow x's dtype
    y3, mean, invstd = K.batch_norm_forward_train(x3, ones64, ones64)
    outs += [y3, mean, invstd, *K.batch_norm_backward(y3, x3, mean, invstd, ones64),
             K.batch_norm_forward_eval(x3, ones64, ones64, ones64, ones64)]
    assert [o.dtype for o in outs] == [np.dtype(f)] * len(outs)


# ---------------------------------------------------------------- Winograd transforms: F(2x2, 3x3), F(4x4, 3x3), F(2x2, 5x5)

def _transforms(name):
    from minigrad.kernels.winograd import F2x2_3x3
    from minigrad.kernels.winograd6 import F2x2_5x5, F4x4_3x3

    return {"F2x2_3x3": F2x2_3x3, "F4x4_3x3": F4x4_3x3, "F2x2_5x5": F2x2_5x5}[name]


# (algorithm, x shape, pad): outputs that fill whole tiles and outputs that do not, paddings 0 to r // 2
WINOGRAD_CASES = [("F2x2_3x3", (2, 3, 6, 6), 1), ("F2x2_3x3", (2, 2, 7, 5), 1), ("F2x2_3x3", (1, 2, 5, 8), 0),
                  ("F2x2_3x3", (2, 3, 6, 7), 2), ("F2x2_3x3", (1, 1, 3, 3), 0),
                  ("F4x4_3x3", (2, 3, 8, 8), 1), ("F4x4_3x3", (2, 2, 7, 5), 1), ("F4x4_3x3", (1, 2, 6, 11), 0),
                  ("F4x4_3x3", (2, 3, 6, 7), 2), ("F4x4_3x3", (1, 1, 3, 3), 0),
                  ("F2x2_5x5", (2, 3, 6, 6), 2), ("F2x2_5x5", (2, 2, 7, 5), 2), ("F2x2_5x5", (1, 2, 6, 8), 1),
                  ("F2x2_5x5", (2, 3, 5, 7), 0), ("F2x2_5x5", (1, 1, 5, 5), 0)]


def _winograd_geometry(t, shape, pad):
    N, C, H, W = shape
    OH, OW = H + 2 * pad - t.r + 1, W + 2 * pad - t.r + 1
    return OH, OW, *t.tile_counts(OH, OW)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,shape,pad", WINOGRAD_CASES)
def test_winograd_transforms_match_reference_and_their_adjoints(name, shape, pad, dtype):
    t = _transforms(name)
    N, C, H, W = shape
    O = 3
    OH, OW, TH, TW = _winograd_geometry(t, shape, pad)
    x = rand(shape, dtype, 1)
    V = t.input_transform(x, pad, TH, TW)
    assert V.dtype == dtype and V.shape == (t.K, C, N * TH * TW)
    np.testing.assert_allclose(V, R.winograd_input_transform(x, pad, TH, TW, t), **tol(dtype))
    dV = rand(V.shape, dtype, 2)
    dx = t.input_adjoint(dV, N, H, W, pad, TH, TW)
    assert dx.dtype == dtype and dx.shape == shape
    np.testing.assert_allclose(dx, R.winograd_input_adjoint(dV, N, H, W, pad, TH, TW, t), **tol(dtype))
    assert abs(np.vdot(V.astype(np.float64), dV) - np.vdot(x.astype(np.float64), dx)) <= 1e-4 * (1 + np.abs(dV).sum())

    M, bias = rand((t.K, O, N * TH * TW), dtype, 3), rand((O,), dtype, 4)
    for b in (bias, np.empty(0, dtype)):
        y = t.output_transform(M, b, N, OH, OW, TH, TW)
        assert y.dtype == dtype and y.shape == (N, O, OH, OW)
        np.testing.assert_allclose(y, R.winograd_output_transform(M, b, N, OH, OW, TH, TW, t), **tol(dtype))
        np.testing.assert_allclose(t.output_transform(M, b, N, OH, OW, TH, TW, relu=True), np.maximum(y, 0),
                                   **tol(dtype))
        PH, PW = OH // 2, OW // 2           # 2x2 max-pool, floor mode: an odd last row and column drop
        pooled = t.output_transform(M, b, N, OH, OW, TH, TW, relu=True, pool=True)
        assert pooled.shape == (N, O, PH, PW)
        windows = np.maximum(y, 0)[:, :, :2 * PH, :2 * PW].reshape(N, O, PH, 2, PW, 2)
        np.testing.assert_allclose(pooled, windows.max(axis=(3, 5)), **tol(dtype))
    gy = rand((N, O, OH, OW), dtype, 5)
    dM = t.output_adjoint(gy, TH, TW)
    assert dM.dtype == dtype and dM.shape == M.shape
    np.testing.assert_allclose(dM, R.winograd_output_adjoint(gy, TH, TW, t), **tol(dtype))
    assert abs(np.vdot(y.astype(np.float64), gy) - np.vdot(M.astype(np.float64), dM)) <= 1e-4 * (1 + np.abs(gy).sum())


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,shape,pad", WINOGRAD_CASES)
def test_winograd_transforms_and_gemms_are_a_convolution(name, shape, pad, dtype):
    t = _transforms(name)
    N, C, H, W = shape
    OH, OW, TH, TW = _winograd_geometry(t, shape, pad)
    x, w, b = rand(shape, dtype, 6), rand((4, C, t.r, t.r), dtype, 7), rand((4,), dtype, 8)
    U = t.filter_transform(w)
    assert U.dtype == dtype and U.shape == (t.K, 4, C)
    y = t.output_transform(np.matmul(U, t.input_transform(x, pad, TH, TW)), b, N, OH, OW, TH, TW)
    expected = R.conv2d_direct(x, w, b, 1, pad)
    # float32 rounding grows with the sum's size (r*r terms per channel, transforms up to 8x) and
    # applies to the largest terms, not to each output: bound it by the outputs' scale
    scale = 1e-6 * (t.r * t.r) * t.m * np.abs(expected).max() if dtype == np.float32 else 0
    np.testing.assert_allclose(y, expected, rtol=tol(dtype)["rtol"], atol=tol(dtype)["atol"] + scale)
    dU = rand(U.shape, dtype, 9)   # filter_adjoint is filter_transform's transpose
    assert abs(np.vdot(U.astype(np.float64), dU) - np.vdot(w.astype(np.float64), t.filter_adjoint(dU))) <= 1e-4


# ---------------------------------------------------------------- optimiser updates

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weight_decay,decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_update_matches_reference_over_several_steps(weight_decay, decoupled, dtype):
    from minigrad.kernels.optim import adam_update

    shape = (5, 3, 4)
    fast = [rand(shape, dtype, 1), np.zeros(shape, dtype), np.zeros(shape, dtype)]  # w, m, v
    slow = [a.copy() for a in fast]
    for t in range(1, 4):
        g = rand(shape, dtype, 10 + t)
        adam_update(fast[0], g, fast[1], fast[2], 0.01, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
        R.adam_update(slow[0], g, slow[1], slow[2], 0.01, 0.9, 0.999, 1e-8, t, weight_decay, decoupled)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, **tol(dtype))
    assert not np.allclose(fast[0], rand(shape, dtype, 1))  # the weights did move


def test_adam_update_of_a_non_contiguous_parameter_is_not_lost():
    from minigrad.kernels.optim import adam_update

    w = rand((4, 6), np.float64).T  # a transposed view: reshape(-1) would copy it
    before = w.copy()
    adam_update(w, np.ones_like(w), np.zeros_like(w), np.zeros_like(w), 0.1, 0.9, 0.999, 1e-8, 1)
    np.testing.assert_allclose(w, before - 0.1, rtol=1e-6)


# ---------------------------------------------------------------- dropout, alone and after a 2x2 max-pool

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_dropout_matches_reference(p, dtype):
    from minigrad.kernels import dropout as D

    x, gy = rand((3, 5, 7), dtype), rand((3, 5, 7), dtype, seed=1)
    y, keep = D.dropout_forward(x, p, 2 ** 63 + 12345)
    y_ref, keep_ref = R.dropout_forward(x, p, 2 ** 63 + 12345)
    assert y.dtype == dtype and keep.dtype == np.uint8
    np.testing.assert_array_equal(keep, keep_ref)
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    np.testing.assert_allclose(D.dropout_backward(gy, keep, p), R.dropout_backward(gy, keep_ref, p), **tol(dtype))


def test_dropout_bits_are_uniform_and_differ_between_seeds():
    from minigrad.kernels import dropout as D

    x = np.ones(200_000, np.float32)
    _, first = D.dropout_forward(x, 0.3, 1)
    _, second = D.dropout_forward(x, 0.3, 2)
    assert abs(first.mean() - 0.7) < 0.005 and abs(second.mean() - 0.7) < 0.005
    assert abs((first == second).mean() - (0.7 ** 2 + 0.3 ** 2)) < 0.005   # independent masks
    assert abs((first[1:] == first[:-1]).mean() - (0.7 ** 2 + 0.3 ** 2)) < 0.005  # no correlation with the neighbour
    bits = R.dropout_random_bits(1, 100_000)
    counts = np.bincount((bits >> np.uint64(20)).astype(np.int64), minlength=16)  # the top 4 bits
    assert counts.min() > 0.9 * 100_000 / 16 and counts.max() < 1.1 * 100_000 / 16


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 5, 7), (3, 1, 2, 3)])
def test_max_pool2x2_dropout_matches_reference(shape, dtype):
    from minigrad.kernels import dropout as D

    x = rand(shape, dtype)
    x[0, 0, 0, :2] = x[0, 0, 1, :2] = 5.0      # a tie: the first of the window wins
    gy = rand((shape[0], shape[1], shape[2] // 2, shape[3] // 2), dtype, seed=1)
    y, code = D.max_pool2x2_dropout_forward(x, 0.4, 99)
    y_ref, code_ref = R.max_pool2x2_dropout_forward(x, 0.4, 99)
    assert code.dtype == np.uint8
    if code.size > 10:
        assert (code == D.DROPPED).any() and (code < D.DROPPED).any()
    np.testing.assert_array_equal(code, code_ref)
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    gx = D.max_pool2x2_dropout_backward(gy, code, shape, 0.4)
    np.testing.assert_allclose(gx, R.max_pool2x2_dropout_backward(gy, code_ref, shape, 0.4), **tol(dtype))
    # the same as max-pooling then dropout with the same seed
    pooled, argmax = K.max_pool2d_forward(x, 2)
    apart, keep = D.dropout_forward(pooled, 0.4, 99)
    np.testing.assert_allclose(y, apart, **tol(dtype))
    np.testing.assert_allclose(gx, K.max_pool2d_backward(D.dropout_backward(gy, keep, 0.4), argmax, shape, 2),
                               **tol(dtype))


def test_max_pool2x2_dropout_refuses_a_wrong_gradient_shape():
    from minigrad.kernels import dropout as D

    _, code = D.max_pool2x2_dropout_forward(rand((1, 2, 4, 4), np.float32), 0.5, 0)
    with pytest.raises(ValueError, match=r"for x_shape \(1, 2, 4, 4\) expected gy and code of shape \(1, 2, 2, 2\)"):
        D.max_pool2x2_dropout_backward(np.zeros((1, 2, 2, 3), np.float32), code, (1, 2, 4, 4), 0.5)

