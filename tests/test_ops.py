"""Gradient checks (float64, central differences) for every Function, broadcasting included.

CASES maps a Function's lowercase name to cases (function, input shapes), each of which
must reach that Function.  The coverage test in test_autograd.py runs them all and fails
when a Function subclass of minigrad is in the graph of none.  The network ops have one
small case each here; test_nn_ops.py, test_direct.py and test_pooling.py check many more.
"""
import numpy as np
import pytest

import minigrad.functional as F
from engine_helpers import gradchecked_functions
from minigrad import Tensor, gradcheck


def positive(shape):
    return np.random.default_rng(1).uniform(0.5, 2.0, shape)


# Evaluation-mode batch norm's running statistics: constants, the variance positive.
RUNNING_MEAN, RUNNING_VAR = np.array([0.5, -0.3], np.float32), np.array([1.5, 0.4], np.float32)


CASES = {
    "add": [(lambda a, b: a + b, [(3, 4), (3, 4)]), (lambda a, b: a + b, [(3, 1), (1, 4)]),
            (lambda a, b: a + b, [(), (3, 4)])],
    "sub": [(lambda a, b: a - b, [(3, 4), (4,)]), (lambda a: 2.0 - a, [(2, 3)])],
    "mul": [(lambda a, b: a * b, [(3, 1), (1, 4)]), (lambda a, b: a * b, [(), (2, 3)])],
    "div": [(lambda a, b: a / b, [(3, 4), ("pos", (1, 4))]), (lambda b: 1.0 / b, [("pos", (3,))])],
    "neg": [(lambda a: -a, [(3, 4)])],
    "pow": [(lambda a: a ** 3, [(3, 4)]), (lambda a: a ** 0.5, [("pos", (5,))])],
    "exp": [(F.exp, [(3, 4)])],
    "log": [(F.log, [("pos", (3, 4))])],
    "sqrt": [(F.sqrt, [("pos", (3, 4))])],
    "abs": [(F.abs, [(3, 4)])],
    "clip": [(lambda a: F.clip(a, -0.5, 0.5), [(4, 5)])],
    "maximum": [(F.maximum, [(3, 4), (3, 4)]), (F.maximum, [(3, 1), (1, 4)])],
    "minimum": [(F.minimum, [(3, 4), (4,)])],
    "cast": [(lambda a: F.cast(F.cast(a, np.float64), a.dtype) ** 2, [(3,)])],
    "relu": [(F.relu, [(4, 5)])],
    "leakyrelu": [(lambda a: F.leaky_relu(a, 0.2), [(4, 5)])],
    "sigmoid": [(F.sigmoid, [(4, 5)])],
    "tanh": [(F.tanh, [(4, 5)])],
    "softmax": [(lambda a: F.softmax(a, axis=1), [(3, 5)]), (lambda a: F.softmax(a, axis=0), [(3, 5)])],
    "logsoftmax": [(lambda a: F.log_softmax(a, axis=-1), [(3, 5)])],
    "sum": [(lambda a: a.sum(), [(3, 4)]), (lambda a: a.sum(axis=1, keepdims=True), [(3, 4)]),
            (lambda a: a.sum(axis=(0, 2)), [(2, 3, 4)])],
    "mean": [(lambda a: a.mean(axis=0), [(3, 4)]), (lambda a: a.mean(), [(2, 3, 4)])],
    "max": [(lambda a: a.max(axis=1), [(3, 4)]), (lambda a: a.max(), [(3, 4)]),
            (lambda a: a.max(axis=(1, 2), keepdims=True), [(2, 3, 4)])],
    "min": [(lambda a: a.min(axis=0), [(3, 4)])],
    "reshape": [(lambda a: a.reshape(4, 3), [(3, 4)]), (lambda a: a.flatten(1), [(2, 3, 4)])],
    "permute": [(lambda a: a.permute(2, 0, 1), [(2, 3, 4)]), (lambda a: a.T, [(3, 4)]),
                (lambda a: a.transpose(0, 2), [(2, 3, 4)])],
    "getitem": [(lambda a: a[1:, ::2], [(3, 4)]), (lambda a: a[[0, 0, 2]], [(3, 4)]),
                (lambda a: a[np.array([0, 2]), np.array([1, 1])], [(3, 4)])],
    "concatenate": [(lambda a, b: F.concatenate([a, b, a], axis=1), [(2, 3), (2, 1)])],
    "stack": [(lambda a, b: F.stack([a, b], axis=1), [(2, 3), (2, 3)])],
    "pad": [(lambda a: F.pad(a, ((0, 0), (1, 2))), [(2, 3)]), (lambda a: F.pad(a, 1), [(2, 3)])],
    "matmul": [(F.matmul, [(3, 4), (4, 5)]), (F.matmul, [(2, 3, 4), (4, 5)]),
               (F.matmul, [(2, 1, 3, 4), (3, 4, 2)]), (F.matmul, [(4,), (4, 5)]), (F.matmul, [(3, 4), (4,)])],
    "linear": [(F.linear, [(5, 4), (3, 4), (3,)]), (lambda x, w: F.linear(x, w), [(5, 4), (3, 4)])],
    "crossentropy": [
        (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2])), [(4, 3)]),
        (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2]), reduction="sum", label_smoothing=0.2), [(4, 3)]),
        (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2]), reduction="none"), [(4, 3)]),
    ],
    # the network ops
    "conv2d": [(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, algorithm="im2col"),
                [(2, 2, 5, 5), (3, 2, 3, 3), (3,)])],
    "winogradconv2d": [(lambda x, w, b: F.conv2d(x, w, b, padding=1, algorithm="winograd"),
                        [(1, 2, 5, 4), (2, 2, 3, 3), (2,)])],
    "directconv2d": [(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2, algorithm="direct"),
                      [(1, 2, 5, 5), (4, 1, 3, 3), (4,)])],
    "pointwiseconv2d": [(lambda x, w, b: F.conv2d(x, w, b, stride=2), [(2, 3, 5, 4), (2, 3, 1, 1), (2,)])],
    "maxpool2d": [(lambda x: F.max_pool2d(x, 3, 2, 1), [(2, 2, 5, 5)])],
    "avgpool2d": [(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(2, 2, 5, 5)])],
    "adaptiveavgpool2d": [(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 7)]),
                          (lambda x: F.adaptive_avg_pool2d(x, 1), [(2, 3, 3, 4)])],
    "batchnorm": [(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(4, 3), (3,), (3,)]),
                  (lambda x: F.batch_norm(x, None, None, training=True), [(3, 2, 2, 3)])],
    "batchnormrelu": [(lambda x, w, b: F.batch_norm_relu(x, None, None, w, b, training=True),
                       [(3, 2, 2, 3), (2,), (2,)])],
    "batchnormeval": [(lambda x, w, b: F.batch_norm(x, RUNNING_MEAN, RUNNING_VAR, w, b, training=False),
                       [(3, 2, 2, 3), (2,), (2,)])],
    "batchnormrelueval": [(lambda x, w, b: F.batch_norm_relu(x, RUNNING_MEAN, RUNNING_VAR, w, b, training=False),
                           [(3, 2, 2, 3), (2,), (2,)])],
    # the same values laid out (C, N, H, W) in memory, and the ops' twins that keep that layout
    # (minigrad/ops/layout.py)
    "channelmajor": [(F.channel_major, [(2, 3, 2, 3)])],
    "channelmajordirectconv2d": [
        (lambda x, w, b: F.conv2d(F.channel_major(x), w, b, padding=1, groups=2, algorithm="direct"),
         [(2, 2, 5, 5), (4, 1, 3, 3), (4,)]),
        (lambda x, w, b: F.conv2d(F.channel_major(x), w, b, stride=2, groups=2, algorithm="direct"),   # falls back
         [(2, 2, 5, 5), (4, 1, 3, 3), (4,)])],
    "channelmajorpointwiseconv2d": [
        (lambda x, w, b: F.conv2d(F.channel_major(x), w, b, stride=2), [(2, 3, 5, 4), (2, 3, 1, 1), (2,)]),
        (lambda x, w: F.conv2d(F.channel_major(x), w), [(3, 2, 3, 2), (4, 2, 1, 1)])],
    "channelmajormaxpool2d": [(lambda x: F.max_pool2d(F.channel_major(x), 3, 2, 1), [(2, 3, 5, 5)])],
    "channelmajoradaptiveavgpool2d": [(lambda x: F.adaptive_avg_pool2d(F.channel_major(x), 1), [(2, 3, 3, 4)])],
    "channelmajorbatchnorm": [(lambda x, w, b: F.batch_norm(F.channel_major(x), None, None, w, b, training=True),
                               [(3, 2, 2, 3), (2,), (2,)])],
    "channelmajorbatchnormrelu": [
        (lambda x, w, b: F.batch_norm_relu(F.channel_major(x), None, None, w, b, training=True),
         [(3, 2, 2, 3), (2,), (2,)])],
    "channelmajorbatchnormeval": [
        (lambda x, w, b: F.batch_norm(F.channel_major(x), RUNNING_MEAN, RUNNING_VAR, w, b, training=False),
         [(3, 2, 2, 3), (2,), (2,)])],
    "channelmajorbatchnormrelueval": [
        (lambda x, w, b: F.batch_norm_relu(F.channel_major(x), RUNNING_MEAN, RUNNING_VAR, w, b, training=False),
         [(3, 2, 2, 3), (2,), (2,)])],
    # a fresh generator of one seed in every call: the same mask in all of gradcheck's passes
    "dropout": [(lambda x: F.dropout(x, 0.4, True, np.random.default_rng(123)), [(3, 5)])],
    # odd planes: floor mode leaves the last row and column out of every window
    "maxpool2x2dropout": [(lambda x: F.max_pool2d_dropout(x, 2, 2, 0, 0.4, True, np.random.default_rng(5)),
                           [(2, 3, 5, 7)])],
}


def make_inputs(specs, dtype=np.float64):
    """One leaf Tensor per spec: a shape (standard normal, seeded by position) or ("pos", shape)."""
    inputs = []
    for seed, spec in enumerate(specs):
        if isinstance(spec, tuple) and spec and spec[0] == "pos":
            data = positive(spec[1])
        else:
            data = np.random.default_rng(seed).standard_normal(spec)
        inputs.append(Tensor(data.astype(dtype), requires_grad=True))
    return inputs


@pytest.mark.parametrize("name,index", [(n, i) for n, cases in CASES.items() for i in range(len(cases))])
def test_gradcheck(name, index):
    fn, specs = CASES[name][index]
    checked = gradchecked_functions(fn, *make_inputs(specs))
    assert name in {cls.__name__.lower() for cls in checked}, f"the case never reaches {name}: {checked}"


@pytest.mark.parametrize("name,index", [(n, i) for n, cases in CASES.items() for i in range(len(cases))])
def test_float32_in_float32_out(name, index):
    """A silent upcast to float64 halves speed: every op must keep float32, forward and backward."""
    fn, specs = CASES[name][index]
    inputs = make_inputs(specs, np.float32)
    y = fn(*inputs)
    assert y.dtype == np.float32, f"{name}: forward gave {y.dtype}"
    y.backward(np.ones(y.shape, dtype=np.float32))
    for t in inputs:
        assert t.grad.dtype == np.float32, f"{name}: gradient is {t.grad.dtype}"


def test_gradcheck_reports_the_wrong_element():
    from minigrad import Function
    from minigrad.gradcheck import GradcheckError

    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return gy * x  # should be 2 * x

    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 .*worst element"):
        gradcheck(WrongSquare.apply, x)
    with pytest.raises(GradcheckError, match="directional"):
        gradcheck(WrongSquare.apply, x, directional=True)


def test_directional_gradcheck_on_a_large_input():
    x = Tensor(np.random.default_rng(0).standard_normal((64, 50)), requires_grad=True)
    w = Tensor(np.random.default_rng(1).standard_normal((10, 50)), requires_grad=True)
    assert gradcheck(lambda x, w: F.tanh(F.linear(x, w)), x, w, directional=True)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(z, np.array([0, 0]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(z.grad).all()
    # sample 1 puts its label's logit 2e4 below the others: loss ~ 2e4 / 2 samples
    assert loss.item() == pytest.approx((0 + 2e4 - np.log(0.5)) / 2, rel=1e-4)


def test_cross_entropy_matches_the_textbook_formula():
    z = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    labels = np.array([0, 6, 3, 3, 1])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(5), labels]).mean()
    assert F.cross_entropy(Tensor(z), labels).item() == pytest.approx(expected, rel=1e-5)


def test_softmax_rows_sum_to_one_and_log_softmax_agrees():
    z = Tensor(np.random.default_rng(0).standard_normal((4, 6)) * 50)
    assert np.allclose(F.softmax(z).data.sum(axis=1), 1)
    assert np.allclose(np.log(F.softmax(z).data + 1e-300), F.log_softmax(z).data, atol=1e-6)


@pytest.mark.parametrize("op,args,pattern", [
    (F.matmul, ((3, 4), (5, 6)), r"matmul: shapes \(3, 4\) and \(5, 6\)"),
    (F.linear, ((3, 4), (5, 6)), r"linear: input \(3, 4\) and weight \(5, 6\)"),
    (lambda a, b: a + b, ((3, 4), (5,)), r"add: .*\(3, 4\).*\(5,\)"),
    (lambda a, b: a * b, ((2, 3), (4, 3)), r"mul: .*\(2, 3\).*\(4, 3\)"),
    (lambda a: a.reshape(5, 5), ((3, 4),), r"reshape: .*\(3, 4\).*\(5, 5\)"),
])
def test_shape_errors_name_the_op_and_both_shapes(op, args, pattern):
    tensors = [Tensor(np.zeros(shape, dtype=np.float32)) for shape in args]
    with pytest.raises(ValueError, match=pattern):
        op(*tensors)


def test_cross_entropy_rejects_bad_labels():
    z = Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="0..2"):
        F.cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))
