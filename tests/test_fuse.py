"""nn.fuse: the fused model computes the plain model's function with the plain model's state."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import Tensor
from minigrad.nn.fused import BatchNormReLU, ConvBatchNormReLUMaxPool2d, MaxPool2dDropout

from fer.models.networks import seed_cnn, xception


def _perturb_statistics(model, seed=3):
    """Running statistics and affine maps far from the identity, so folding has work to do."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean[...] = 0.1 * rng.standard_normal(c)
            m.running_var[...] = rng.uniform(0.5, 2.0, c)
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = 0.1 * rng.standard_normal(c)


def _step(model, x, labels, training):
    """Logits, the loss's gradients (by parameter name) and the running statistics after one step."""
    model.train(training)
    model.zero_grad()
    minigrad.manual_seed(11)                  # the same dropout masks for both models
    logits = model(Tensor(x))
    F.cross_entropy(logits, labels).backward()
    grads = {name: p.grad.copy() for name, p in model.named_parameters()}
    return logits.data, grads, {k: v.copy() for k, v in model.named_buffers()}


def _assert_close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1e-6, np.abs(b).max()))


@pytest.mark.parametrize("build,shape", [(seed_cnn, (4, 1, 48, 48)), (xception, (4, 1, 44, 44))])
@pytest.mark.parametrize("training", [True, False])
def test_fused_model_gives_the_plain_models_outputs_and_gradients(build, shape, training):
    minigrad.manual_seed(0)
    model = build()
    _perturb_statistics(model)
    fused = nn.fuse(model)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, 7, shape[0])
    state = model.state_dict()
    plain = _step(model, x, labels, training)
    model.load_state_dict(state)              # undo the running statistics' move
    fast = _step(fused, x, labels, training)
    _assert_close(fast[0], plain[0], 1e-4)
    assert fast[1].keys() == plain[1].keys()
    for name in plain[1]:
        _assert_close(fast[1][name], plain[1][name], 1e-3)
    for name in plain[2]:
        _assert_close(fast[2][name], plain[2][name], 1e-5)


def test_fused_seed_cnn_folds_every_conv_block_in_evaluation(monkeypatch):
    """Evaluation without gradients at batch 64: the conv blocks run as one folded convolution
    each (no batch norm, ReLU or max-pool layer is called), with the layers' result."""
    minigrad.manual_seed(0)
    model = seed_cnn()
    _perturb_statistics(model)
    model.eval()
    x = Tensor(np.random.default_rng(2).standard_normal((64, 1, 48, 48)).astype(np.float32))
    with minigrad.no_grad():
        plain = model(x).data
        calls = []
        for layer in (nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU):
            original = layer.forward
            monkeypatch.setattr(layer, "forward", lambda self, t, f=original: calls.append(self) or f(self, t))
        fused = nn.fuse(model)(x).data
    assert not [c for c in calls if not isinstance(c, nn.BatchNorm1d) and not isinstance(c, nn.ReLU)]
    _assert_close(fused, plain, 1e-4)


def test_fused_model_shares_parameters_buffers_and_state_dict_keys():
    model = seed_cnn(widths=(4, 8, 8, 8), dense=(16,))
    fused = nn.fuse(model)
    assert list(fused.state_dict()) == list(model.state_dict())
    assert all(a is b for a, b in zip(fused.parameters(), model.parameters()))
    assert all(a is b for a, b in zip(fused.buffers(), model.buffers()))
    assert [type(m) for m in fused.children()][:2] == [ConvBatchNormReLUMaxPool2d, ConvBatchNormReLUMaxPool2d]
    assert any(isinstance(m, BatchNormReLU) for m in fused.children())
    state = {k: v + 1 for k, v in model.state_dict().items()}
    fused.load_state_dict(state)              # loading into the fused model loads the original
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    fused.eval()
    assert not any(m.training for m in model.children())   # the layers' flags: the fused model has no others
    assert model[0] is fused[0].conv          # the original is not changed


def test_max_pool_dropout_and_batch_norm_relu_fuse_alone():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 8), nn.Flatten())
    pool = nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.3), nn.ReLU())
    assert isinstance(nn.fuse(net)[1], BatchNormReLU) and list(nn.fuse(net)._modules) == ["0", "1", "3", "4"]
    assert isinstance(nn.fuse(pool)[0], MaxPool2dDropout)
    hooked = nn.Sequential(nn.MaxPool2d(2), nn.Dropout(0.3))
    hooked[1].register_forward_hook(lambda *args: None)
    assert [type(m) for m in nn.fuse(hooked)] == [nn.MaxPool2d, nn.Dropout]   # a hooked layer stays apart


def test_plain_seed_cnn_calls_every_layers_forward_when_hooked_in_training():
    minigrad.manual_seed(0)
    model = seed_cnn(widths=(4, 8, 8, 8), dense=(16, 16))
    called = []
    for name, layer in model.named_children():
        layer.register_forward_hook(lambda module, inputs, output, name=name: called.append(name))
    model.train()
    F.cross_entropy(model(Tensor(np.zeros((2, 1, 48, 48), np.float32))), np.array([0, 1])).backward()
    assert called == [name for name, _ in model.named_children()]


def test_summary_shows_the_plain_and_the_fused_model():
    model = seed_cnn(widths=(4, 8, 8, 8), dense=(16,))
    plain, fused = nn.summary(model, (1, 48, 48)), nn.summary(nn.fuse(model), (1, 48, 48))
    assert "0 (Conv2d)" in plain and "1 (BatchNorm2d)" in plain and "ConvBatchNorm" not in plain
    assert "0 (ConvBatchNormReLUMaxPool2d)" in fused and "1 (BatchNorm2d)" not in fused
    total = [line for line in plain.splitlines() if line.startswith("Total params")]
    assert total == [line for line in fused.splitlines() if line.startswith("Total params")]
