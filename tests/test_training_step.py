"""fer.training.step: one step is forward, loss, backward, update, checked by hand on a linear model
(logits = x W^T + b), whose cross-entropy gradient is (softmax - onehot)^T x / N."""
import numpy as np
import pytest

from fer.training.step import classification_loss, train_step
from minigrad import Tensor, nn, optim


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(z, labels):
    return float(-np.log(softmax(z)[np.arange(len(labels)), labels]).mean())


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    model = nn.Linear(5, 3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    return model, x, np.array([0, 2, 1, 2]), np.array([1, 0, 0, 2])


def test_a_step_moves_the_parameters_down_the_gradient_of_the_mean_cross_entropy(batch):
    model, x, labels, _ = batch
    w, b = model.weight.data.copy(), model.bias.data.copy()
    z = x @ w.T + b
    dz = (softmax(z) - np.eye(3)[labels]) / len(labels)
    logits, loss, synced = train_step(model, optim.SGD(model.parameters(), lr=0.5), x, labels)
    assert synced is None
    np.testing.assert_allclose(logits.data, z, rtol=1e-5)
    assert loss.item() == pytest.approx(cross_entropy(z, labels), rel=1e-5)
    np.testing.assert_allclose(model.weight.data, w - 0.5 * dz.T @ x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.bias.data, b - 0.5 * dz.sum(axis=0), rtol=1e-4, atol=1e-6)


def test_before_update_sees_the_scaled_gradients_before_the_parameters_move(batch):
    model, x, labels, _ = batch
    w, b = model.weight.data.copy(), model.bias.data.copy()
    dz = (softmax(x @ w.T + b) - np.eye(3)[labels]) / len(labels)
    seen = {}

    def before_update(logits, loss):
        seen["weight"], seen["grad"] = model.weight.data.copy(), model.weight.grad.copy()
        return "sums"

    _, loss, synced = train_step(model, optim.SGD(model.parameters(), lr=0.5), x, labels, scale=0.25,
                                 before_update=before_update)
    assert synced == "sums"
    np.testing.assert_array_equal(seen["weight"], w)
    np.testing.assert_allclose(seen["grad"], 0.25 * dz.T @ x, rtol=1e-4, atol=1e-7)   # scaled gradients,
    assert loss.item() == pytest.approx(cross_entropy(x @ w.T + b, labels), rel=1e-5)  # the loss as it was
    assert not np.array_equal(model.weight.data, w)


def test_a_mixup_loss_blends_the_two_labels_cross_entropies(batch):
    _, x, labels, paired = batch
    z = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    mixed = classification_loss(Tensor(z), labels, mixed=(paired, 0.7)).item()
    assert mixed == pytest.approx(0.7 * cross_entropy(z, labels) + 0.3 * cross_entropy(z, paired), rel=1e-5)
    assert classification_loss(Tensor(z), labels).item() == pytest.approx(cross_entropy(z, labels), rel=1e-5)
