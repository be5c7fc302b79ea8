"""The seed CNN's training step written out: forward, loss, backward, update.

    python docs/tour/03_training_step.py                       # compiled kernels
    MINIGRAD_BACKEND=reference python docs/tour/03_training_step.py   # plain NumPy: step into it with pdb
"""
import numpy as np

import minigrad
import minigrad.functional as F
from fer.models.networks import seed_cnn
from minigrad import Tensor, optim

minigrad.manual_seed(0)
model = seed_cnn()                                           # Conv-BN-ReLU-MaxPool-Dropout x4, then dense
optimizer = optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
images, labels = rng.random((4, 1, 48, 48), dtype=np.float32), rng.integers(0, 7, 4)

model.train()                                                # batch statistics, dropout on
logits = model(Tensor(images))                               # forward: every layer in turn, (4, 7)
loss = F.cross_entropy(logits, labels)                       # softmax + negative log-likelihood
optimizer.zero_grad()                                        # gradients accumulate: clear them
loss.backward()                                              # the backward walk: d loss / d parameter
optimizer.step()                                             # Adam moves every parameter

print(f"backend {minigrad.dispatch.current_backend()}: loss {float(loss.data):.4f}, "
      f"conv1 weight gradient norm {np.linalg.norm(model[0].weight.grad):.4f}")
