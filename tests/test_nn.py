"""minigrad.nn: module bookkeeping, state dicts (PyTorch-compatible), modes, hooks, init, training."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim
from minigrad import Tensor, no_grad
from minigrad.nn import init


def small_net():
    """conv + bn + linear: every kind of state (weights, biases, running statistics)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 5), nn.BatchNorm1d(5), nn.LeakyReLU(0.1), nn.Dropout(0.3),
        nn.Linear(5, 3))


def torch_small_net(torch):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(4 * 4 * 4, 5), tnn.BatchNorm1d(5), tnn.LeakyReLU(0.1), tnn.Dropout(0.3),
        tnn.Linear(5, 3))


def numpy_state(torch_module):
    return {k: v.detach().numpy() for k, v in torch_module.state_dict().items()}


# ----------------------------------------------------------------- naming
def test_sequential_numbers_every_child_like_pytorch():
    net = small_net()
    keys = list(net.state_dict())
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                    "5.weight", "5.bias", "6.weight", "6.bias", "6.running_mean", "6.running_var",
                    "9.weight", "9.bias"]
    assert [name for name, _ in net.named_parameters()] == [k for k in keys if "running" not in k]
    assert [name for name, _ in net.named_buffers()] == [k for k in keys if "running" in k]


def test_state_dict_keys_and_shapes_match_torch():
    torch = pytest.importorskip("torch")
    ours = {k: v.shape for k, v in small_net().state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in torch_small_net(torch).state_dict().items()
              if not k.endswith("num_batches_tracked")}
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_torch_weights_give_torch_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch_small_net(torch)
    # Non-trivial running statistics, so eval mode really uses them.
    with torch.no_grad():
        for bn in (theirs[1], theirs[6]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    ours = small_net()
    ours.load_state_dict(numpy_state(theirs))  # num_batches_tracked is accepted and ignored
    x = np.random.default_rng(0).standard_normal((6, 1, 8, 8)).astype(np.float32)

    theirs.eval(), ours.eval()
    with no_grad():
        y = ours(Tensor(x)).data
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-4)

    # Training mode: batch statistics, and the running statistics move the same way.
    theirs.train(), ours.train()
    theirs[8].p = ours[8].p = 0.0  # dropout draws different masks in the two libraries
    y = ours(Tensor(x)).data
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-4)
    for key, value in numpy_state(theirs).items():
        if "running" in key:
            np.testing.assert_allclose(ours.state_dict()[key], value, atol=1e-5, err_msg=key)


def test_module_traversal():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)
            self.bn = nn.BatchNorm1d(4)
            self.scale = 2.0  # a plain attribute, not state

        def forward(self, x):
            return self.bn(self.fc(x)) * self.scale

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = nn.Linear(4, 2, bias=False)

        def forward(self, x):
            return self.head(self.block(x))

    net = Net()
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.bn", "head"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Block", "Linear", "BatchNorm1d", "Linear"]
    assert list(net.state_dict()) == ["block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
                                      "block.bn.running_mean", "block.bn.running_var", "head.weight"]
    assert sum(p.size for p in net.parameters()) == 3 * 4 + 4 + 4 + 4 + 4 * 2
    assert sum(b.size for b in net.buffers()) == 8
    assert net.head.bias is None and net.block.scale == 2.0
    assert net(Tensor(np.ones((5, 3), dtype=np.float32))).shape == (5, 2)


def test_shared_parameter_counted_once():
    fc = nn.Linear(2, 2)
    net = nn.Sequential(fc, nn.ReLU(), fc)
    assert len(list(net.parameters())) == 2
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as in PyTorch


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert not nn.Parameter(np.zeros(3, dtype=np.float32), requires_grad=False).requires_grad


def test_sequential_indexing_len_iteration_and_repr():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(net) == 3
    assert isinstance(net[1], nn.ReLU) and net[-1] is net[2]
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    tail = net[1:]
    assert isinstance(tail, nn.Sequential) and list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert repr(net) == ("Sequential(\n"
                         "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
                         "  (1): ReLU()\n"
                         "  (2): Linear(in_features=4, out_features=2, bias=True)\n"
                         ")")
    assert repr(nn.Conv2d(1, 8, 3, padding=1)) == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    nested = nn.Sequential(nn.Sequential(nn.ReLU()))
    assert repr(nested) == "Sequential(\n  (0): Sequential(\n    (0): ReLU()\n  )\n)"


# ------------------------------------------------------------- state dict
def test_state_dict_round_trip_gives_identical_outputs():
    minigrad.manual_seed(1)
    a = small_net()
    x = Tensor(np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32))
    a.train()
    a(x)  # move the running statistics away from their initial values
    a.eval()
    minigrad.manual_seed(2)
    b = small_net().eval()
    assert not np.allclose(a(x).data, b(x).data)
    weight_before = b[0].weight
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert b[0].weight is weight_before  # loaded in place: an optimiser holding it still works


def test_state_dict_is_a_snapshot():
    net = nn.Linear(2, 2)
    snapshot = net.state_dict()
    net.weight.data += 1
    assert not np.array_equal(snapshot["weight"], net.weight.data)


def test_load_state_dict_errors_name_the_keys():
    net = small_net()
    state = net.state_dict()
    missing = {k: v for k, v in state.items() if k != "6.running_var"}
    with pytest.raises(KeyError, match=r"missing keys \(1\): 6.running_var"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \(1\): 10.weight"):
        net.load_state_dict({**state, "10.weight": np.zeros(3)})
    wrong = {**state, "5.weight": np.zeros((5, 63), dtype=np.float32)}
    with pytest.raises(ValueError, match=r"'5.weight' has shape \(5, 63\) in the state dict but \(5, 64\)"):
        net.load_state_dict(wrong)

    # A failed load changes nothing; strict=False loads what fits and reports the rest.
    before = net.state_dict()
    zeros = {k: np.zeros_like(v) for k, v in state.items()}
    with pytest.raises(KeyError):
        net.load_state_dict({k: v for k, v in zeros.items() if k != "0.bias"})
    for k, v in before.items():
        np.testing.assert_array_equal(net.state_dict()[k], v)
    result = net.load_state_dict({"0.bias": np.ones(4), "extra": np.ones(1)}, strict=False)
    assert "0.weight" in result.missing_keys and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net[0].bias.data, np.ones(4, dtype=np.float32))
    assert net[0].bias.dtype == np.float32  # float64 input cast into the float32 parameter


# ------------------------------------------------------------ train / eval
def test_train_eval_switch_dropout_and_batchnorm():
    minigrad.manual_seed(0)
    net = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5))
    x = Tensor((np.random.default_rng(0).standard_normal((64, 3)) * 4 + 10).astype(np.float32))
    assert net.training and net[0].training and net[1].training

    y = net(x).data  # training: batch statistics, then half the values dropped
    assert np.mean(y == 0) == pytest.approx(0.5, abs=0.1)
    kept = y[y != 0]
    assert abs(kept.mean()) < 1.0  # normalised (and scaled by 2) rather than around 10
    np.testing.assert_allclose(net[0].running_mean, 0.1 * x.data.mean(axis=0), rtol=1e-4)

    assert net.eval() is net and not net.training and not net[0].training and not net[1].training
    stats = net[0].running_mean.copy()
    y = net(x).data  # eval: running statistics, no dropout, no statistic update
    expected = (x.data - net[0].running_mean) / np.sqrt(net[0].running_var + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4)
    np.testing.assert_array_equal(net[0].running_mean, stats)
    net.train()
    assert net[1].training


def test_layer_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected 4 channels.*\(2, 3\)"):
        nn.BatchNorm1d(4)(Tensor(np.zeros((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected input \(N, 4, H, W\)"):
        nn.BatchNorm2d(4)(Tensor(np.zeros((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"Linear\(3, 2\): expected input \(N, 3\)"):
        nn.Linear(3, 2)(Tensor(np.zeros((2, 3, 1), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"Conv2d: kernel_size must be an int or a pair of ints, got \(3, 3, 3\)"):
        nn.Conv2d(1, 2, (3, 3, 3))
    with pytest.raises(AttributeError, match="super"):
        class Forgot(nn.Module):
            def __init__(self):
                self.fc = nn.Linear(1, 1)
        Forgot()


def test_zero_grad_and_freeze():
    net = nn.Sequential(nn.Linear(3, 2))
    net(Tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    # d(sum of y)/dW[o, i] = sum over the 4 samples of x[n, i] = 4; d/db[o] = 4 too
    np.testing.assert_array_equal(net[0].weight.grad, np.full((2, 3), 4.0))
    np.testing.assert_array_equal(net[0].bias.grad, np.full(2, 4.0))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


# ------------------------------------------------------------------ hooks
def test_forward_hooks_fire_replace_and_remove():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    seen = []

    def capture(module, inputs, output):
        seen.append((module, inputs[0].shape, output.shape))

    handle = net[1].register_forward_hook(capture)
    reference = net(x).data
    assert seen == [(net[1], (5, 4), (5, 4))]

    # A hook returning a value replaces the output: zero the activations, leaving only the bias.
    with net[1].register_forward_hook(lambda m, i, o: o * 0):
        np.testing.assert_allclose(net(x).data, np.broadcast_to(net[2].bias.data, (5, 2)))
    np.testing.assert_array_equal(net(x).data, reference)  # the with block removed it

    handle.remove()
    net(x)
    assert len(seen) == 3  # two more calls while registered, none after removal

    pre = net.register_forward_pre_hook(lambda m, inputs: inputs[0] * 0)
    np.testing.assert_allclose(net(x).data, net(Tensor(np.zeros((5, 3), dtype=np.float32))).data)
    pre.remove()


def test_hook_output_keeps_gradient_for_grad_cam():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    store = {}
    net[1].register_forward_hook(lambda m, i, o: store.setdefault("act", o.retain_grad()))
    net(Tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    act = store["act"]
    np.testing.assert_allclose(act.grad, np.broadcast_to(net[2].weight.data, (2, 4)), rtol=1e-6)


# ------------------------------------------------------------------- init
def test_init_is_seedable_and_float32():
    minigrad.manual_seed(123)
    a = small_net()
    minigrad.manual_seed(123)
    b = small_net()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)
        assert va.dtype == np.float32, k
    g = np.random.default_rng(5)
    layer = nn.Linear(10, 10)
    layer.reset_parameters(g)
    first = layer.weight.data.copy()
    layer.reset_parameters(np.random.default_rng(5))
    np.testing.assert_array_equal(layer.weight.data, first)


def test_default_init_is_pytorch_uniform_bound():
    layer = nn.Conv2d(8, 16, 3)
    bound = 1 / math.sqrt(8 * 9)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound


@pytest.mark.parametrize("fill, std", [
    (init.xavier_uniform_, math.sqrt(2 / (400 + 300))),
    (init.xavier_normal_, math.sqrt(2 / (400 + 300))),
    (init.kaiming_uniform_, math.sqrt(2 / 400)),
    (init.kaiming_normal_, math.sqrt(2 / 400)),
    (init.he_uniform_, math.sqrt(2 / 400)),
    (init.glorot_uniform_, math.sqrt(2 / (400 + 300))),
])
def test_initialisers_have_the_documented_spread(fill, std):
    w = nn.Parameter(np.empty((300, 400), dtype=np.float32))
    assert fill(w, generator=np.random.default_rng(0)) is w
    assert w.dtype == np.float32
    assert w.data.std() == pytest.approx(std, rel=0.02)
    assert abs(w.data.mean()) < 0.05 * std


def test_constant_initialisers_and_conv_fans():
    w = np.empty((16, 8, 3, 3), dtype=np.float32)
    assert init._calculate_fan_in_and_fan_out(w) == (72, 144)
    init.ones_(w)
    assert (w == 1).all()
    init.zeros_(w)
    assert (w == 0).all()
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


# --------------------------------------------------------------- training
def test_small_cnn_overfits_64_images():
    """Conv -> ReLU -> pool -> linear learns 64 random images with random labels (memorisation)."""
    minigrad.manual_seed(0)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((64, 1, 12, 12)).astype(np.float32))
    labels = rng.integers(0, 4, size=64)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 4))
    optimizer = minigrad.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(100):
        optimizer.zero_grad()
        logits = model(x)
        F.cross_entropy(logits, labels).backward()
        optimizer.step()
        accuracy = (logits.data.argmax(axis=1) == labels).mean()
        if accuracy >= 0.95:
            break
    model.eval()
    with no_grad():
        accuracy = (model(x).data.argmax(axis=1) == labels).mean()
    assert accuracy >= 0.95, f"training accuracy {accuracy:.2f} after {step + 1} steps"
    assert all(p.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("training", [True, False])
def test_fuse_runs_max_pool_and_dropout_as_one_op_with_the_same_result(training, monkeypatch):
    def run(fused):
        minigrad.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2), nn.Dropout(0.4), nn.Flatten(),
                            nn.Linear(3 * 2 * 3, 2))
        net.train(training)
        x = Tensor(np.random.default_rng(1).standard_normal((4, 2, 5, 7)).astype(np.float32), requires_grad=True)
        dropout_calls = []
        monkeypatch.setattr(nn.Dropout, "forward", lambda self, t: dropout_calls.append(1)
                            or F.dropout(t, self.p, self.training))
        y = (nn.fuse(net) if fused else net)(x)
        (y * y).sum().backward()
        return y.data, x.grad, net[0].weight.grad, len(dropout_calls)

    fused, apart = run(fused=True), run(fused=False)
    assert fused[-1] == 0 and apart[-1] == 1
    for a, b in zip(fused[:-1], apart[:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dims", [2, 1])
def test_fuse_runs_batch_norm_and_relu_as_one_op_with_the_same_result(dims, training, monkeypatch):
    def run(fused):
        minigrad.manual_seed(0)
        if dims == 2:
            net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 2, 1))
            shape = (4, 2, 5, 5)
        else:
            net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
            shape = (6, 2)
        net.train(training)
        x = Tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32), requires_grad=True)
        relu_calls = []
        monkeypatch.setattr(nn.ReLU, "forward", lambda self, t: relu_calls.append(1) or F.relu(t))
        y = (nn.fuse(net) if fused else net)(x)
        (y * y).sum().backward()
        return y.data, x.grad, net[1].weight.grad, net[1].running_mean.copy(), len(relu_calls)

    fused, apart = run(fused=True), run(fused=False)
    assert fused[-1] == 0 and apart[-1] == 1
    for a, b in zip(fused[:-1], apart[:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch,size", [(4, 6), (1, 2)])
def test_fuse_folds_batch_norm_into_the_convolution_in_evaluation(batch, size, monkeypatch):
    """conv -> batch norm (-> ReLU) in evaluation without gradients runs as one convolution
    (batch 4: enough output pixels to fold) or apart (one 2x2 image: folding would cost
    more than it saves), with the result of the layers run one by one either way."""
    minigrad.manual_seed(0)
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 5, 3, padding=1, bias=False), nn.BatchNormReLU2d(5), nn.MaxPool2d(2),
                        nn.Conv2d(5, 2, 1), nn.BatchNorm2d(2))
    for bn in (net[1], net[4], net[7]):   # statistics and affine maps far from the identity
        c = bn.num_features
        bn.running_mean[...] = rng.standard_normal(c)
        bn.running_var[...] = rng.uniform(0.2, 3.0, c)
        bn.weight.data[...] = rng.uniform(-2, 2, c)
        bn.bias.data[...] = rng.standard_normal(c)
    net.eval()
    x = Tensor(rng.standard_normal((batch, 3, size, size)).astype(np.float32))
    apart = x
    for layer in net:
        apart = layer(apart)
    batch_norm_calls = []
    original = nn.BatchNorm2d._normalise
    monkeypatch.setattr(nn.BatchNorm2d, "_normalise",
                        lambda self, *args: batch_norm_calls.append(1) or original(self, *args))
    fast = nn.fuse(net)
    with minigrad.no_grad():
        folded = fast(x)
    assert len(batch_norm_calls) == (0 if batch == 4 else 3)
    np.testing.assert_allclose(folded.data, apart.data, rtol=1e-5, atol=1e-5)
    with_grad = fast(x)        # gradients recorded: nothing folds (saliency maps see every layer)
    assert len(batch_norm_calls) == (3 if batch == 4 else 6)
    np.testing.assert_allclose(with_grad.data, apart.data, rtol=1e-5, atol=1e-5)


def test_fuse_runs_a_winograd_conv_block_as_one_op_in_evaluation(monkeypatch):
    """conv (64 channels: Winograd) -> batch norm -> ReLU -> 2x2 max-pool in evaluation: the
    pooling happens in the convolution's output pass, with the layers' result."""
    from minigrad.dispatch import conv2d_algorithm

    minigrad.manual_seed(0)
    rng = np.random.default_rng(5)
    net = nn.Sequential(nn.Conv2d(64, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 8 * 7, 3))
    net[1].running_mean[...] = rng.standard_normal(8)
    net[1].running_var[...] = rng.uniform(0.2, 3.0, 8)
    net.eval()
    x = Tensor(rng.standard_normal((9, 64, 16, 15)).astype(np.float32))
    assert conv2d_algorithm(x.shape, net[0].weight.shape, 1, 1) == "winograd"
    apart = x
    for layer in net:
        apart = layer(apart)
    pool_calls = []
    monkeypatch.setattr(nn.MaxPool2d, "forward", lambda self, t: pool_calls.append(1) or F.max_pool2d(t, 2))
    with minigrad.no_grad():
        fused = nn.fuse(net)(x)
    assert pool_calls == []
    np.testing.assert_allclose(fused.data, apart.data, rtol=1e-4, atol=1e-4 * np.abs(apart.data).max())
