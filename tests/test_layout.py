"""Channel-major memory (minigrad/ops/layout.py): (N, C, H, W) tensors laid out (C, N, H, W).

The ops that know the layout must keep it (else the fast paths are silently skipped) and give
what they give on ordinary NCHW arrays; their gradient checks in this layout are in
test_ops.CASES.  The depthwise kernels are compared with their slow twin in both layouts.
"""
import numpy as np
import pytest

import minigrad.functional as F
from engine_helpers import leaf, rand
from minigrad import Tensor
from minigrad.kernels import direct as KD
from minigrad.kernels import reference as R
from minigrad.ops.layout import from_planes, is_channel_major, planes


def test_the_layout_is_the_strides_not_the_shape():
    x = rand(2, 3, 4, 5)
    y = F.channel_major(Tensor(x)).data
    assert y.shape == x.shape and np.array_equal(y, x)
    assert is_channel_major(y) and not is_channel_major(x)
    assert y.transpose(1, 0, 2, 3).flags.c_contiguous
    assert planes(y).base is not None and np.shares_memory(planes(y), y)    # a view, no copy
    assert is_channel_major(from_planes(np.zeros((3, 2, 4, 5))))
    # one image or one channel: both layouts are the same bytes, counted as ordinary NCHW
    assert not is_channel_major(F.channel_major(Tensor(rand(1, 3, 4, 5))).data)
    assert not is_channel_major(F.channel_major(Tensor(rand(2, 1, 4, 5))).data)
    t = Tensor(y)                                                           # a copy that keeps the layout
    assert is_channel_major(t.data) and F.channel_major(t).data is t.data    # laid out already: no copy


def test_channel_major_gives_an_ordinary_gradient_and_names_bad_input():
    x = leaf(2, 3, 4, 5)
    (F.channel_major(x) * Tensor(rand(2, 3, 4, 5, seed=1))).sum().backward()
    assert x.grad.flags.c_contiguous and np.array_equal(x.grad, rand(2, 3, 4, 5, seed=1))
    with pytest.raises(ValueError, match=r"channel_major: expected x of shape \(N, C, H, W\), got \(2, 3\)"):
        F.channel_major(leaf(2, 3))


RUNNING = (np.zeros(4), np.ones(4))
# op, its input shapes (the first is x), whether it keeps the layout
OPS = {
    "pointwise": (lambda x, w: F.conv2d(x, w), [(3, 4, 5, 6), (8, 4, 1, 1)]),
    "pointwise, stride 2, bias": (lambda x, w, b: F.conv2d(x, w, b, stride=2), [(3, 4, 5, 6), (8, 4, 1, 1), (8,)]),
    "depthwise 3x3": (lambda x, w: F.conv2d(x, w, padding=1, groups=4), [(3, 4, 5, 6), (4, 1, 3, 3)]),
    "depthwise 3x3, multiplier 2, bias": (lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=4),
                                          [(3, 4, 5, 6), (8, 1, 3, 3), (8,)]),
    "batch norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(3, 4, 5, 6), (4,), (4,)]),
    "batch norm + ReLU": (lambda x, w, b: F.batch_norm_relu(x, None, None, w, b, training=True),
                          [(3, 4, 5, 6), (4,), (4,)]),
    "batch norm, eval": (lambda x, w, b: F.batch_norm(x, *RUNNING, w, b), [(3, 4, 5, 6), (4,), (4,)]),
    "batch norm + ReLU, eval": (lambda x, w, b: F.batch_norm_relu(x, *RUNNING, w, b), [(3, 4, 5, 6), (4,), (4,)]),
    "max pool 3x3/2, padding 1": (lambda x: F.max_pool2d(x, 3, 2, 1), [(3, 4, 5, 6)]),
    "residual add": (lambda x, y: x + F.channel_major(y), [(3, 4, 5, 6), (3, 4, 5, 6)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_keep_the_layout_and_agree_with_nchw(name):
    op, shapes = OPS[name]
    arrays = [rand(*shape, seed=i) for i, shape in enumerate(shapes)]
    gy = rand(*op(*[Tensor(a) for a in arrays]).shape, seed=9)

    def run(layout):
        inputs = [Tensor(a, requires_grad=True) for a in arrays]
        y = op(layout(inputs[0]), *inputs[1:])
        y.backward(Tensor(gy))
        return y.data, [t.grad for t in inputs]

    y_cm, grads_cm = run(F.channel_major)
    y, grads = run(lambda t: t)
    assert is_channel_major(y_cm)
    np.testing.assert_allclose(y_cm, y, rtol=1e-12, atol=1e-12)
    for g_cm, g in zip(grads_cm, grads):
        np.testing.assert_allclose(g_cm, g, rtol=1e-12, atol=1e-12)


def test_gradients_arriving_in_the_other_layout_are_taken():
    # Global average pooling's backward (or a user's op) may hand an NCHW gradient to a
    # channel-major op: it is laid out again, not misread.
    x = leaf(3, 4, 5, 6)
    w = leaf(8, 4, 1, 1, seed=1)
    y = F.conv2d(F.channel_major(x), w)
    gy = rand(*y.shape, seed=2)
    y.backward(Tensor(gy))                       # an ordinary C-contiguous gradient
    expected = np.einsum("nohw,oc->nchw", gy, w.data[:, :, 0, 0])
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("w_shape,pad", [((4, 1, 3, 3), 1), ((8, 1, 3, 3), 0), ((4, 1, 3, 3), 2)])
def test_depthwise_kernels_channel_major_match_reference(w_shape, pad, dtype):
    x = rand(3, 4, 6, 5, seed=3, dtype=dtype)
    w = rand(*w_shape, seed=4, dtype=dtype)
    b = rand(w_shape[0], seed=5, dtype=dtype)
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}
    y = KD.direct_conv2d_forward(planes(x), w, b, 1, pad, pad, channel_major=True)
    y_ref = R.direct_conv2d_forward(x, w, b, 1, pad, pad)
    assert y.shape == (y_ref.shape[1], y_ref.shape[0]) + y_ref.shape[2:]
    np.testing.assert_allclose(from_planes(y), y_ref, **tol)
    gy = rand(*y_ref.shape, seed=6, dtype=dtype)
    gx, gw = KD.direct_conv2d_backward(planes(gy), planes(x), w, 1, pad, pad, channel_major=True)
    gx_ref, gw_ref = R.direct_conv2d_backward(gy, x, w, 1, pad, pad, True, True)
    np.testing.assert_allclose(from_planes(gx), gx_ref, **tol)
    np.testing.assert_allclose(gw, gw_ref, **tol)


def test_only_the_depthwise_kernel_takes_channel_major_arrays():
    x = planes(rand(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"channel-major arrays are taken by the depthwise 3x3 kernel only"):
        KD.direct_conv2d_forward(x, rand(4, 2, 3, 3), None, 1, 1, 1, channel_major=True)    # 2 channels a group
    with pytest.raises(ValueError, match=r"channel-major .* got w \(4, 1, 3, 3\), stride 2"):
        KD.direct_conv2d_forward(x, rand(4, 1, 3, 3), None, 2, 1, 1, channel_major=True)
    # the op falls back to NCHW for them, with the same values
    xt = Tensor(rand(2, 4, 5, 5))
    w = Tensor(rand(4, 2, 3, 3))
    np.testing.assert_allclose(F.conv2d(F.channel_major(xt), w, padding=1, groups=2).data,
                               F.conv2d(xt, w, padding=1, groups=2).data, rtol=1e-12, atol=1e-12)


def test_the_xception_network_runs_its_blocks_channel_major_with_the_same_results(monkeypatch):
    import fer.models.residual as residual
    from fer.models.networks import xception
    from minigrad import manual_seed

    manual_seed(0)
    net = xception(stem=(4,), widths=(8, 16), dropout=0.0)
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
    x = rand(3, 1, 12, 12, seed=7)
    labels = np.array([0, 3, 6])
    seen = []
    net.blocks[0].register_forward_hook(lambda module, inputs, output: seen.append(is_channel_major(output.data)))

    def run():
        for p in net.parameters():
            p.grad = None
        xt = Tensor(x, requires_grad=True)
        logits = net(xt)
        F.cross_entropy(logits, labels).backward()
        return [logits.data, xt.grad] + [p.grad for p in net.parameters()]

    laid_out = run()
    monkeypatch.setattr(residual.F, "channel_major", lambda t: t)
    ordinary = run()
    assert seen == [True, False]
    for a, b in zip(laid_out, ordinary):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
