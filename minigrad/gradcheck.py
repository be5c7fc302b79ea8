"""Numerical gradient checking: the proof that a backward pass matches its forward.

For a function y = f(x) the engine computes dL/dx analytically, with L = sum(y * v)
for a fixed random v (so every output element matters).  Central differences give
the same derivative numerically,

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),

with an error of order eps**2.  In float64 with eps = 1e-6 the two agree to about
1e-8 when backward is right, and disagree wildly when it is wrong.

Checking every element costs two forward passes per element; for a large input use
``directional=True``, which compares the derivative along one random direction d
(the Chainer trick):  sum_i dL/dx_i d_i  against  (L(x + eps d) - L(x - eps d)) / 2 eps.

Use it for your own Functions::

    x = Tensor(np.random.randn(3, 4), requires_grad=True)   # float64 stays float64
    gradcheck(lambda t: MyOp.apply(t), x)
"""
import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree; the message says where."""


def _as_float64(t):
    if isinstance(t, Tensor) and np.issubdtype(t.dtype, np.floating):
        return Tensor(t.data.astype(np.float64), requires_grad=t.requires_grad)
    return t


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, directional=False, seed=0):
    """Check ``fn``'s gradients with respect to every input Tensor that requires grad.

    ``fn(*inputs)`` must return a Tensor.  Inputs are copied to float64 first.
    Returns True, or raises :class:`GradcheckError` naming the input, the worst
    element's index and the analytic and numeric values.
    """
    inputs = [_as_float64(t) for t in inputs]
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    rng = np.random.default_rng(seed)

    y = fn(*inputs)
    v = rng.standard_normal(y.shape)

    def loss(args):
        with no_grad():
            return float((fn(*args).data * v).sum())

    y.backward(v)
    analytic = {i: (inputs[i].grad if inputs[i].grad is not None else np.zeros(inputs[i].shape))
                for i in checked}

    if directional:
        directions = {i: rng.standard_normal(inputs[i].shape) for i in checked}

        def shifted(sign):
            return [Tensor(t.data + sign * eps * directions[i]) if i in directions else t
                    for i, t in enumerate(inputs)]

        numeric = (loss(shifted(+1)) - loss(shifted(-1))) / (2 * eps)
        predicted = sum(float((analytic[i] * directions[i]).sum()) for i in checked)
        if abs(predicted - numeric) > atol + rtol * abs(numeric):
            raise GradcheckError(f"gradcheck (directional): analytic derivative {predicted:.8g} "
                                 f"!= numeric {numeric:.8g} along a random direction")
        return True

    for i in checked:
        x = inputs[i].data
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            original = x[idx]
            x[idx] = original + eps
            plus = loss(inputs)
            x[idx] = original - eps
            minus = loss(inputs)
            x[idx] = original
            numeric[idx] = (plus - minus) / (2 * eps)
        error = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(error.argmax(), error.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) has a wrong gradient; worst element "
                f"{tuple(int(k) for k in worst)}: analytic {analytic[i][worst]:.8g}, "
                f"numeric {numeric[worst]:.8g} (atol={atol}, rtol={rtol})")
    return True
