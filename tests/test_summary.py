"""minigrad.nn.summary: the Keras-style table, checked on the report's DNN."""
import numpy as np

import minigrad.nn as nn


def report_dnn():
    """The report's DNN: pool 48x48 -> 24x24, dropout, flatten (576), 4 x dense-1024 blocks, dense 7, softmax."""
    layers = [nn.MaxPool2d(2), nn.Dropout(0.2), nn.Flatten()]
    width = 576
    for _ in range(4):
        layers += [nn.Linear(width, 1024), nn.LeakyReLU(), nn.BatchNorm1d(1024), nn.Dropout(0.5)]
        width = 1024
    layers += [nn.Linear(1024, 7), nn.Softmax(dim=-1)]
    return nn.Sequential(*layers)


def test_report_dnn_has_the_keras_numbers():
    model = report_dnn()
    text = nn.summary(model, (1, 48, 48))
    assert "Total params: 3,763,207" in text
    assert "Trainable params: 3,755,015" in text
    assert "Non-trainable params: 8,192" in text
    rows = [line.split() for line in text.splitlines()]
    by_name = {row[0]: row for row in rows if row and row[0].isdigit()}
    assert len(by_name) == 21
    assert " ".join(by_name["0"][1:]) == "(MaxPool2d) (None, 1, 24, 24) 0"
    assert " ".join(by_name["2"][1:]) == "(Flatten) (None, 576) 0"
    assert " ".join(by_name["3"][1:]) == "(Linear) (None, 1024) 590,848"
    assert " ".join(by_name["5"][1:]) == "(BatchNorm1d) (None, 1024) 4,096"
    assert " ".join(by_name["19"][1:]) == "(Linear) (None, 7) 7,175"
    assert " ".join(by_name["20"][1:]) == "(Softmax) (None, 7) 0"
    assert text.splitlines()[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]


def test_summary_leaves_the_model_untouched():
    model = report_dnn().train()
    model[5].running_mean[:] = 0.25
    nn.summary(model, (1, 48, 48))
    assert all(m.training for m in model.modules())  # mode restored
    assert (model[5].running_mean == 0.25).all()  # ran in eval mode: statistics unchanged
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    nn.summary(model, (1, 48, 48))
    assert not any(m.training for m in model.modules())


def test_nested_models_frozen_parameters_and_custom_modules():
    class Scale(nn.Module):
        """A container with a parameter of its own: listed with its own count."""

        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.ReLU())
            self.gain = nn.Parameter(np.ones(1, dtype=np.float32))

        def forward(self, x):
            return self.body(x) * self.gain

    model = nn.Sequential(Scale(), nn.Flatten(), nn.Linear(4 * 5 * 5, 2))
    model[2].requires_grad_(False)
    text = nn.summary(model, (1, 5, 5))
    assert "0.body.0 (Conv2d)" in text and "(None, 4, 5, 5)" in text
    assert "0 (Scale)" in text
    assert "Total params: 243" in text  # 4*9+4 conv + 1 gain + 100*2+2 linear
    assert "Trainable params: 41" in text
    assert "Non-trainable params: 202" in text
