"""One convolution three ways: the defining sum (reference loops), im2col + one matrix product,
and Winograd's F(4x4, 3x3): the same answer, and the same gradients for the last two.

    python docs/tour/02_convolution.py
"""
import numpy as np

import minigrad.functional as F
from minigrad import Tensor
from minigrad.dispatch import conv2d_algorithm
from minigrad.kernels import reference

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 8, 8))                 # (N, C, H, W), float64
w = rng.standard_normal((4, 3, 3, 3))                 # (O, C, kh, kw)

# 1. y[n, o, p, q] = sum_{c, i, j} w[o, c, i, j] * xpad[n, c, p + i, q + j], one pixel at a time.
by_definition = reference.conv2d_direct(x, w, padding=1)

# 2. im2col: every receptive field becomes a row of `cols`, the sum one matrix product.
cols = reference.im2col(x, 3, 3, 1, 1, 1)                          # (N*OH*OW, C*kh*kw)
by_gemm = (w.reshape(4, -1) @ cols.T).reshape(4, 2, 8, 8).transpose(1, 0, 2, 3)

results = {"definition": by_definition, "im2col by hand": by_gemm}
grads = {}
for algorithm in ("im2col", "winograd"):
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding=1, algorithm=algorithm)
    (y * y).sum().backward()
    results[f"F.conv2d {algorithm}"], grads[algorithm] = y.data, (xt.grad, wt.grad)

for name, y in results.items():
    print(f"{name:18} max difference from the definition {np.abs(y - by_definition).max():.1e}")
    assert np.allclose(y, by_definition)
for a, b in zip(grads["im2col"], grads["winograd"]):
    assert np.allclose(a, b)
print("im2col and Winograd gradients agree")

# Which algorithm auto picks depends on the shapes, batch size included (minigrad/dispatch.py):
for n in (1, 56, 57):
    print(f"seed CNN conv4 at batch {n:2}: {conv2d_algorithm((n, 256, 6, 6), (512, 256, 3, 3), 1, 1)}")
