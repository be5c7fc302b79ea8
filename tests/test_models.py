"""The study's models: exact parameter counts, PyTorch-style state-dict keys, and
rebuilding a model from the JSON header of a checkpoint."""
import json

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.gradcheck import gradcheck
from fer.models.networks import (CentreCrop, Standardize, architecture, build_model, from_architecture, input_side, seed_cnn,
                        seed_dnn, vgg, xception)
from torch_twins import torch_xception

pytestmark = pytest.mark.usefixtures("one_thread")


def totals(model):
    """The three total lines of the Keras-style summary."""
    return nn.summary(model, (1, 48, 48)).splitlines()[-4:-1]


def test_seed_dnn_reproduces_the_reports_keras_summary():
    assert totals(seed_dnn()) == ["Total params: 3,763,207", "Trainable params: 3,755,015",
                                  "Non-trainable params: 8,192"]


def test_seed_dnn_layer_order_is_the_reports():
    kinds = [type(m).__name__ for m in seed_dnn()]
    block = ["Linear", "LeakyReLU", "BatchNorm1d", "Dropout"]
    assert kinds == ["MaxPool2d", "Dropout", "Flatten"] + 4 * block + ["Linear"]


def test_standardize_gives_each_image_zero_mean_unit_variance_and_correct_gradients():
    rng = np.random.default_rng(0)
    images = rng.random((5, 1, 6, 6)) * rng.random((5, 1, 1, 1)) + rng.random((5, 1, 1, 1))
    out = Standardize(eps=0)(minigrad.Tensor(images)).data
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, rtol=1e-9)
    assert gradcheck(Standardize(), minigrad.Tensor(images, requires_grad=True))
    # The DNN with it: the same parameters, one more (parameter-free) layer first.
    model = seed_dnn(standardize=True)
    assert isinstance(model[0], Standardize) and totals(model) == totals(seed_dnn())
    blank = np.full((2, 1, 48, 48), 0.5, np.float32)
    assert np.isfinite(model.eval()(minigrad.Tensor(blank)).data).all()


def test_seed_cnn_parameter_count_is_the_documented_one():
    assert totals(seed_cnn()) == ["Total params: 4,083,207", "Trainable params: 4,079,495",
                                  "Non-trainable params: 3,712"]
    assert totals(seed_cnn(batch_norm=False))[0] == "Total params: 4,075,783"


def test_centre_crop_takes_the_middle_square_and_passes_its_own_size_through():
    images = np.random.default_rng(0).random((2, 1, 7, 8))
    crop = CentreCrop(4)
    np.testing.assert_array_equal(crop(minigrad.Tensor(images)).data, images[:, :, 1:5, 2:6])
    same = minigrad.Tensor(images[:, :, :4, :4])
    assert crop(same) is same
    assert gradcheck(crop, minigrad.Tensor(images, requires_grad=True))
    with pytest.raises(ValueError, match=r"CentreCrop\(4\): images of shape \(2, 1, 3, 8\)"):
        crop(minigrad.Tensor(images[:, :, :3]))


def test_seed_cnn_with_a_smaller_input_crops_whole_faces_and_trains_on_crops():
    model = seed_cnn(input_size=40)
    assert input_side(model) == 40 and input_side(seed_cnn()) is None and input_side(xception()) is None
    # 40 -> 20 -> 10 -> 5 -> 2: 512 * 2 * 2 features; the conv layers are the seed CNN's.
    assert [m.weight.shape for m in model if isinstance(m, nn.Linear)][0] == (512, 2048)
    assert totals(model)[0] == "Total params: 2,772,487"
    faces = np.random.default_rng(0).random((2, 1, 48, 48)).astype(np.float32)
    model.eval()
    whole = model(minigrad.Tensor(faces)).data
    np.testing.assert_array_equal(whole, model(minigrad.Tensor(faces[:, :, 4:44, 4:44])).data)
    assert from_architecture(architecture("cnn", input_size=40))[0].size == 40
    with pytest.raises(ValueError, match="input_size must be 8..48, got 50"):
        seed_cnn(input_size=50)


def test_seed_cnn_follows_the_report_blocks():
    convs = [m for m in seed_cnn() if isinstance(m, nn.Conv2d)]
    assert [(c.weight.shape[0], c.weight.shape[2]) for c in convs] == [(64, 5), (128, 3), (256, 3), (512, 3)]
    dropouts = [m.p for m in seed_cnn() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5]
    linears = [m.weight.shape for m in seed_cnn() if isinstance(m, nn.Linear)]
    assert linears == [(512, 4608), (256, 512), (128, 256), (7, 128)]


def test_state_dict_keys_number_every_layer_like_pytorch():
    keys = list(seed_dnn().state_dict())
    assert keys[:6] == ["3.weight", "3.bias", "5.weight", "5.bias", "5.running_mean", "5.running_var"]
    assert keys[-2:] == ["19.weight", "19.bias"]
    assert list(seed_cnn().state_dict())[:6] == ["0.weight", "0.bias", "1.weight", "1.bias",
                                                 "1.running_mean", "1.running_var"]


@pytest.mark.parametrize("name, config", [
    ("cnn", {}),
    ("dnn", {}),
    ("vgg", {"widths": [4, 8, 8, 8], "dense": [16]}),
    ("xception", {}),
    ("xception", {"stem": [4], "widths": [8, 8], "dropout": 0.5}),
])
def test_models_map_a_face_batch_to_seven_logits(name, config):
    minigrad.manual_seed(0)
    model = build_model(name, **config).eval()
    with minigrad.no_grad():
        out = model(minigrad.Tensor(np.random.default_rng(0).random((2, 1, 48, 48), dtype=np.float32)))
    assert out.shape == (2, 7) and out.dtype == np.float32


@pytest.mark.parametrize("name, config, size", [
    ("cnn", {"widths": [4, 8, 8, 8], "dense": [16, 8], "conv_dropout": [0.1, 0.1, 0.1, 0.1]}, 48),
    ("xception", {"stem": [4, 4], "widths": [8, 16], "dropout": 0.25}, 44),
])
def test_architecture_round_trips_through_json(name, config, size):
    arch = architecture(name, **config)
    minigrad.manual_seed(1)
    original = from_architecture(arch)
    rebuilt = from_architecture(json.loads(json.dumps(arch)))
    rebuilt.load_state_dict(original.state_dict())
    x = minigrad.Tensor(np.random.default_rng(1).random((3, 1, size, size), dtype=np.float32))
    with minigrad.no_grad():
        np.testing.assert_array_equal(original.eval()(x).data, rebuilt.eval()(x).data)


def test_vgg_default_is_deeper_than_the_seed_cnn():
    convs = sum(isinstance(m, nn.Conv2d) for m in vgg())
    assert convs == 8


@pytest.mark.parametrize("name, config, message", [
    ("resnet", {}, "unknown model"),
    ("cnn", {"width": [1]}, "bad config"),
    ("cnn", {"conv_dropout": [0.1]}, "one conv_dropout per conv block"),
])
def test_bad_architectures_raise_clear_errors(name, config, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, **config)
    with pytest.raises(ValueError, match="names no model"):
        from_architecture({"widths": [1]})


# ------------------------------------------------------------------ xception

def test_xception_parameter_count_is_the_hand_computed_one():
    # No conv has a bias (a batch norm follows each); a BatchNorm2d(c) has 2c trainable
    # parameters and 2c buffers (running mean and variance), so 4c in the summary.
    #   stem:   Conv 1->8 3x3: 1*8*9 = 72;   BN(8): 32;   Conv 8->8 3x3: 8*8*9 = 576;   BN(8): 32   -> 712
    #   block(ci, co) = depthwise 9*ci + pointwise ci*co + BN 4*co        (conv1)
    #                 + depthwise 9*co + pointwise co*co + BN 4*co        (conv2)
    #                 + shortcut 1x1 ci*co + BN 4*co
    #                 = 9*ci + 2*ci*co + 9*co + co*co + 12*co
    #     (8, 16):   72 +   256 +  144 +   256 +  192 =   920
    #     (16, 32):  144 +  1024 +  288 +  1024 +  384 =  2864
    #     (32, 64):  288 +  4096 +  576 +  4096 +  768 =  9824
    #     (64, 128): 576 + 16384 + 1152 + 16384 + 1536 = 36032
    #   classifier: Linear 128 -> 7: 128*7 + 7 = 903
    #   total: 712 + 920 + 2864 + 9824 + 36032 + 903 = 51255
    #   non-trainable (BN buffers): 2 * (8 + 8 + 3*16 + 3*32 + 3*64 + 3*128) = 2 * 736 = 1472
    def block(ci, co):
        return 9 * ci + 2 * ci * co + 9 * co + co * co + 12 * co

    total = 712 + block(8, 16) + block(16, 32) + block(32, 64) + block(64, 128) + 903
    assert total == 51255
    assert totals(xception()) == ["Total params: 51,255", "Trainable params: 49,783",
                                  "Non-trainable params: 1,472"]
    assert sum(p.data.size for p in xception().parameters()) == 49783


def test_xception_summary_shapes_halve_per_block_and_end_at_seven_logits():
    lines = nn.summary(xception(), (1, 48, 48)).splitlines()
    shapes = {line.split()[0]: line[line.index("(None"):line.index(")", line.index("(None")) + 1]
              for line in lines if "(None" in line}
    assert shapes["stem.3"] == "(None, 8, 48, 48)"
    assert shapes["blocks.0.conv1.pointwise"] == "(None, 16, 48, 48)"
    assert shapes["blocks.0.pool"] == shapes["blocks.0.shortcut"] == "(None, 16, 24, 24)"
    assert shapes["blocks.1.shortcut_bn"] == "(None, 32, 12, 12)"
    assert shapes["blocks.2.shortcut_bn"] == "(None, 64, 6, 6)"
    assert shapes["blocks.3.shortcut_bn"] == "(None, 128, 3, 3)"
    assert shapes["pool"] == "(None, 128, 1, 1)"
    assert shapes["flatten"] == "(None, 128)"
    last = [line for line in lines if "(None" in line][-1]
    assert last.split()[0] == "classifier" and "(None, 7)" in last


@pytest.mark.parametrize("size", [44, 48, 45])
def test_xception_takes_any_face_size(size):
    minigrad.manual_seed(0)
    model = xception()
    x = minigrad.Tensor(np.random.default_rng(size).random((2, 1, size, size), dtype=np.float32))
    out = model(x)                                    # training mode: batch statistics
    assert out.shape == (2, 7) and out.dtype == np.float32
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name
        assert np.isfinite(p.grad).all(), name
    with minigrad.no_grad():
        assert model.eval()(x).shape == (2, 7)


def test_xception_state_dict_keys_are_pytorchs():
    state = xception().state_dict()
    keys = list(state)
    assert keys[:5] == ["stem.0.weight", "stem.1.weight", "stem.1.bias", "stem.1.running_mean",
                        "stem.1.running_var"]
    assert keys[10:12] == ["blocks.0.conv1.depthwise.weight", "blocks.0.conv1.pointwise.weight"]
    assert "blocks.0.conv1.depthwise.bias" not in state and "stem.0.bias" not in state
    assert state["blocks.0.conv1.depthwise.weight"].shape == (8, 1, 3, 3)        # groups = 8
    assert state["blocks.0.conv1.pointwise.weight"].shape == (16, 8, 1, 1)
    assert state["blocks.3.conv2.depthwise.weight"].shape == (128, 1, 3, 3)
    assert state["blocks.3.shortcut.weight"].shape == (128, 64, 1, 1)
    assert state["blocks.3.shortcut_bn.running_var"].shape == (128,)
    assert keys[-2:] == ["classifier.weight", "classifier.bias"]


def test_xception_with_torch_weights_gives_torch_logits():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        theirs = torch_xception()
        # Give the batch norms non-trivial statistics and affine parameters, so eval mode tests them.
        with torch.no_grad():
            for module in theirs.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                    module.running_mean.uniform_(-0.3, 0.3)
                    module.running_var.uniform_(0.5, 2.0)
        theirs.eval()
        state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
        ours = xception()
        assert set(ours.state_dict()) == {k for k in state if not k.endswith("num_batches_tracked")}
        ours.load_state_dict(state)                  # strict: every key matches, shapes too
        ours.eval()
        for size in (48, 44):
            x = np.random.default_rng(size).random((3, 1, size, size), dtype=np.float32)
            with torch.no_grad():
                expected = theirs(torch.from_numpy(x)).numpy()
            with minigrad.no_grad():
                got = ours(minigrad.Tensor(x)).data
            assert got.shape == (3, 7) and got.dtype == np.float32
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    finally:
        torch.set_num_threads(threads)
