"""Fusion switched on: nn.fuse(model) runs runs of layers as one op each, sharing the model's state.

    python docs/tour/04_fusion.py
"""
import numpy as np

import minigrad
import minigrad.functional as F
from fer.models.networks import seed_cnn
from minigrad import Tensor, nn

minigrad.manual_seed(0)
model = seed_cnn(widths=(8, 16, 32, 32), dense=(64,))        # --quick's width
fast = nn.fuse(model)
print(fast)                                                  # which layers run as one op
assert list(fast.state_dict()) == list(model.state_dict())   # the same keys, the same Parameters

x = Tensor(np.random.default_rng(0).random((8, 1, 48, 48), dtype=np.float32))
labels = np.arange(8) % 7
for mode in ("train", "eval"):
    getattr(model, mode)()                                   # the fused model follows the layers' mode
    outputs = []
    for net in (model, fast):
        minigrad.manual_seed(1)                              # the same dropout masks
        model.zero_grad()
        logits = net(x)
        F.cross_entropy(logits, labels).backward()
        outputs.append((logits.data, model[0].weight.grad.copy()))
    (plain, g_plain), (fused, g_fused) = outputs
    print(f"{mode}: logits differ by {np.abs(plain - fused).max():.1e}, "
          f"conv1 gradients by {np.abs(g_plain - g_fused).max():.1e}")
    assert np.allclose(plain, fused, atol=1e-4) and np.allclose(g_plain, g_fused, atol=1e-4)

# In evaluation without gradients each conv block is one convolution with the batch norm folded in
# and the ReLU and 2x2 max-pool in its output pass: the same logits up to float32 rounding.
with minigrad.no_grad():
    plain, folded = model(x).data, fast(x).data
print(f"eval, no gradients (folded): logits differ by {np.abs(plain - folded).max():.1e}")
assert np.allclose(plain, folded, atol=1e-4)
