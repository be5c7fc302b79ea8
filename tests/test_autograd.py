"""The backward walk: reuse, depth, grad mode, accumulation, freeing, hooks; every Function gradient-checked."""
import importlib
import pkgutil

import numpy as np
import pytest

import minigrad
from engine_helpers import gradchecked_functions
from minigrad import Function, Tensor, no_grad


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


def test_reused_node_gets_the_sum_of_its_gradients():
    a = leaf([1.0, -2.0, 3.0])
    b = a + a          # db/da = 2
    c = b * b          # dc/db = 2b = 4a
    c.sum().backward()
    assert np.allclose(a.grad, 8 * a.data)


def test_diamond_graph():
    x = leaf([0.5, 1.5])
    y = x.exp()
    z = y * x + y.log()  # z = x e^x + x
    z.sum().backward()
    assert np.allclose(x.grad, np.exp(x.data) * (1 + x.data) + 1)


def test_a_chain_5000_ops_deep_does_not_recurse():
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert x.grad[0] == pytest.approx(1.0001 ** 5000)


def test_no_grad_builds_no_graph_and_works_as_decorator():
    x = leaf([1.0, 2.0])
    with no_grad():
        y = x * 2
    assert y._ctx is None and not y.requires_grad

    @no_grad()
    def double(t):
        return t * 2

    assert double(x)._ctx is None
    assert (x * 2)._ctx is not None and minigrad.is_grad_enabled()


def test_gradients_accumulate_over_two_backward_calls_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert np.allclose(x.grad, [6.0, 6.0])
    x.zero_grad()
    (x * 3).sum().backward()
    assert np.allclose(x.grad, [3.0, 3.0])


def test_backward_through_a_freed_graph_raises_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_freed_graph_error_also_for_ops_that_save_nothing():
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert np.allclose(x.grad, 4 * x.data)


def test_non_scalar_backward_needs_an_explicit_grad():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element.*shape \(2,\)"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    assert np.allclose(x.grad, [2.0, 20.0])


def test_broadcast_gradient_is_reduced_to_the_input_shape():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones((1, 4)))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and np.allclose(a.grad, 4)
    assert b.grad.shape == (1, 4) and np.allclose(b.grad, 3)


def test_hooks_and_retain_grad_see_intermediate_gradients():
    x = leaf([1.0, 2.0])
    h = (x * 3).retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    (h * h).sum().backward()
    assert np.allclose(h.grad, 2 * h.data) and np.allclose(seen[0], h.grad)
    # a hook may replace the gradient: zeroing it stops the flow to x
    y = leaf([1.0, 2.0])
    z = y * 3
    z.register_hook(lambda g: np.zeros_like(g))
    z.sum().backward()
    assert np.allclose(y.grad, 0)


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach() * x
    y.sum().backward()
    assert np.allclose(x.grad, 2 * x.data)  # only the un-detached factor contributes


def test_tensor_basics():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32 and t.shape == (2, 2) and t.ndim == 2
    assert Tensor(np.zeros(2)).dtype == np.float64  # float64 kept when given
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor([[5.0]]).item() == 5.0
    assert "requires_grad=True" in repr(leaf([1.0]))
    assert "grad_fn=Mul" in repr(leaf([1.0]) * 2)
    with pytest.raises(TypeError, match="floating"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="one-element"):
        t.item()


def test_scalar_and_array_operands_keep_float32():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for y in (x * 2.5, 2.5 - x, x / np.ones(3), np.ones(3) * x, x ** 2):
        assert y.dtype == np.float32


def _function_classes():
    """Every op: the Function subclasses defined in minigrad, found through ``__subclasses__()``.

    Every module of the package is imported first, so that each class exists.  The walk is
    recursive (BatchNormReLU subclasses BatchNorm; Max and Min subclass _Extremum), and a
    class whose name starts with an underscore is an abstract helper, not an op (see
    ``minigrad.autograd.Function``).  Test doubles live in test modules and are left out.
    """
    for info in pkgutil.walk_packages(minigrad.__path__, "minigrad."):
        importlib.import_module(info.name)
    found, stack = set(), [Function]
    while stack:
        for cls in stack.pop().__subclasses__():
            if cls not in found:
                found.add(cls)
                stack.append(cls)
    return {cls for cls in found if cls.__module__.startswith("minigrad.") and not cls.__name__.startswith("_")}


def test_the_function_walk_finds_subclasses_of_subclasses_and_skips_helpers():
    from minigrad.ops.norm import BatchNorm, BatchNormReLU
    from minigrad.ops.reduce import Max, Min, _Extremum

    classes = _function_classes()
    assert {BatchNorm, BatchNormReLU, Max, Min} <= classes
    assert _Extremum not in classes and Function not in classes


def test_gradchecked_functions_counts_only_what_the_check_differentiates():
    """The coverage test's yardstick: Exp applied to a constant builds no graph, so it is not counted."""
    from minigrad.ops.elementwise import Add, Mul

    constant = Tensor(np.array([0.5, 1.0]))
    assert gradchecked_functions(lambda a: a * constant.exp() + a, leaf([1.0, 2.0])) == {Mul, Add}


def test_every_function_has_a_gradient_check():
    """Adding a Function without a gradient check must fail this test.

    Gradient-checked means: in the graph of a case of test_ops.CASES whose gradient check
    passes.  The checks run here, so the test needs no other test to have run before it,
    and neither a test of the right name nor a case that never reaches the Function counts.
    """
    from test_ops import CASES, make_inputs

    checked = set()
    for cases in CASES.values():
        for fn, specs in cases:
            checked |= gradchecked_functions(fn, *make_inputs(specs))
    missing = sorted(cls.__name__ for cls in _function_classes() - checked)
    assert not missing, f"Functions that no gradient check reaches: {missing}; add a case to CASES in test_ops.py"
