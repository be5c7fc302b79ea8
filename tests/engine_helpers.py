"""Helpers shared by the engine's test files (minigrad's; conftest.py serves fer's tests too).

* ``rand`` / ``leaf``: seeded standard-normal arrays and leaf Tensors, float64 unless asked.
* ``out_size``, ``padding_numbers``: a convolution's or pooling's output length along one
  axis, and a convolution's padding as numbers.
* ``assert_same_as_torch``: an op and its PyTorch twin agree in values and gradients.
* ``gradchecked_functions``: run a gradient check and name the Functions it went through,
  which is what the coverage test in test_autograd.py counts.
"""
import numpy as np

from minigrad import Tensor, gradcheck
from minigrad._args import pair
from minigrad.autograd import topological_order


def rand(*shape, seed=0, dtype=np.float64):
    """A standard-normal array of this shape, the same for the same seed."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def leaf(*shape, seed=0, dtype=np.float64):
    """``rand`` as a leaf Tensor that requires grad."""
    return Tensor(rand(*shape, seed=seed, dtype=dtype), requires_grad=True)


def out_size(n, k, stride, padding):
    """(n + 2 padding - k) // stride + 1: the floor-mode output length; stride None means k."""
    return (n + 2 * padding - k) // (k if stride is None else stride) + 1


def padding_numbers(kernel, padding):
    """A convolution's padding as (pad_h, pad_w): from an int, a pair, "valid" or "same" (k // 2)."""
    kh, kw = pair(kernel, "kernel")
    if padding == "same":
        return kh // 2, kw // 2
    return (0, 0) if padding == "valid" else pair(padding, "padding")


def assert_same_as_torch(ours, theirs, arrays, seed, rtol, atol):
    """``ours(*Tensors)`` and PyTorch's ``theirs(*tensors)`` from the same arrays give the same
    output and, after a backward of one random output gradient (seeded), the same gradient
    for every input.  The caller skips the test where PyTorch is missing."""
    import torch

    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    twins = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = ours(*tensors), theirs(*twins)
    assert y.dtype == arrays[0].dtype
    gy = rand(*y.shape, seed=seed, dtype=y.dtype)
    y.backward(gy)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol, err_msg="output")
    for i, (t, twin) in enumerate(zip(tensors, twins)):
        np.testing.assert_allclose(t.grad, twin.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {i}")


def gradchecked_functions(fn, *inputs, **kwargs):
    """Gradient-check ``fn`` at ``inputs`` and return the Function classes the check covered.

    ``minigrad.gradcheck`` raises if any gradient is wrong.  The classes returned are those
    of the graph it differentiates (the output of its first, recording call of ``fn``):
    every node of that graph ran its backward, and the result was compared with finite
    differences.  A Function applied only to constants (no input needs a gradient) records
    no node, so it is not counted.
    """
    seen = set()

    def traced(*args):
        out = fn(*args)
        seen.update(node._ctx.function for node in topological_order(out) if node._ctx is not None)
        return out

    assert gradcheck(traced, *inputs, **kwargs)
    return seen
