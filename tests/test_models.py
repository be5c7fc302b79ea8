"""The study's models: exact parameter counts, PyTorch-style state-dict keys, and
rebuilding a model from the JSON header of a checkpoint."""
import json

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.gradcheck import gradcheck
from fer.models import Standardize, architecture, build_model, from_architecture, seed_cnn, seed_dnn, vgg
from test_train_cli import one_thread  # noqa: F401  (an autouse fixture: one thread on a shared machine)


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
])
def test_models_map_a_face_batch_to_seven_logits(name, config):
    minigrad.manual_seed(0)
    model = build_model(name, **config).eval()
    with minigrad.no_grad():
        out = model(minigrad.Tensor(np.random.default_rng(0).random((2, 1, 48, 48), dtype=np.float32)))
    assert out.shape == (2, 7) and out.dtype == np.float32


def test_architecture_round_trips_through_json():
    arch = architecture("cnn", widths=[4, 8, 8, 8], dense=[16, 8], conv_dropout=[0.1, 0.1, 0.1, 0.1])
    minigrad.manual_seed(1)
    original = from_architecture(arch)
    rebuilt = from_architecture(json.loads(json.dumps(arch)))
    rebuilt.load_state_dict(original.state_dict())
    x = minigrad.Tensor(np.random.default_rng(1).random((3, 1, 48, 48), dtype=np.float32))
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
