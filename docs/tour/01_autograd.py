"""Autograd on scalars and tensors, and a reused node's gradient (minigrad/autograd.py).

    python docs/tour/01_autograd.py
"""
import numpy as np

import minigrad
from minigrad import Tensor

# A scalar: y = x**2 + 3x, dy/dx = 2x + 3 = 7 at x = 2.
x = Tensor(2.0, requires_grad=True)
y = x * x + 3 * x
y.backward()
print("dy/dx at x=2:", x.grad)                       # 7.0
assert x.grad == 7.0

# A reused node: b = a + a uses a twice; the walk adds both uses' gradients before going on.
a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
b = a + a
(b * b).sum().backward()                             # d/da sum((2a)^2) = 8a
print("reused node:", a.grad)
np.testing.assert_allclose(a.grad, 8 * a.data)

# Tensors: a linear layer and a mean-squared loss; the gradient a hand derivation gives.
rng = np.random.default_rng(0)
X, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
W = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
loss = ((Tensor(X) @ W.T - Tensor(target)) ** 2).mean()
loss.backward()
by_hand = 2 * (X @ W.data.T - target).T @ X / target.size      # dL/dW = 2/n (XW^T - T)^T X
print("dL/dW matches the hand derivation:", np.allclose(W.grad, by_hand))
assert np.allclose(W.grad, by_hand)

# And gradcheck, the numerical proof: central differences in float64.
print("gradcheck:", minigrad.gradcheck(lambda w: ((Tensor(X) @ w.T) ** 2).mean(), W))
