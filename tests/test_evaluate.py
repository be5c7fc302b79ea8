"""fer.evaluate and fer.predict on a tiny trained run, and the shared inference helpers
(batching, test-time augmentation) they use."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from fer import LABELS, evaluate, predict
from fer.cli.common import TTA_CHOICES, data_settings, run_cli
from fer.evaluation.inference import TTA_MODES, predict_proba, shift, tta_views
from fer.training.runs import load_data, load_model, read_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tiny_run):
    """A DNN trained for 2 epochs on 200 synthetic faces."""
    return tiny_run("dnn", 2, 200)


@pytest.fixture(scope="module")
def test_split(run):
    return load_data(read_config(run)["settings"]).test


def test_evaluate_writes_report_confusion_csv_and_png(run, test_split, capsys):
    assert evaluate.main([str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "accuracy" in out
    report = json.loads((run / "eval-test.json").read_text())
    model, _ = load_model(run)
    predictions = predict_proba(model, test_split.images).argmax(axis=1)
    assert report["accuracy"] == pytest.approx(np.mean(predictions == test_split.labels))
    with open(run / "eval-test-confusion.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == list(LABELS) and [r[0] for r in rows[1:]] == list(LABELS)
    counts = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    expected = np.zeros((7, 7), np.int64)
    np.add.at(expected, (test_split.labels, predictions), 1)        # rows: the true class
    np.testing.assert_array_equal(counts, expected)
    assert report["confusion_matrix"] == expected.tolist()
    shares = np.loadtxt(run / "eval-test-confusion-rows.csv", delimiter=",", skiprows=1,
                        usecols=range(1, 8))
    totals = expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(shares, np.divide(expected, totals, out=np.zeros((7, 7)), where=totals > 0),
                               atol=5e-5)
    with Image.open(run / "eval-test-confusion.png") as png:
        assert png.format == "PNG"
    text = (run / "eval-test.txt").read_text()
    assert text.splitlines()[0] in out and f"{report['accuracy']:.2%}" in text


def test_an_ensemble_with_tta_writes_into_out(run, tmp_path, capsys):
    out = tmp_path / "ensemble"
    assert evaluate.main([str(run), str(run), "--tta", "--split", "val", "--out", str(out)]) == 0
    report = json.loads((out / "eval-val-tta-flip.json").read_text())
    assert report["runs"] == [str(run), str(run)] and report["tta"] == "flip" and report["split"] == "val"
    assert "ensemble of" in capsys.readouterr().out


def test_a_bare_tta_before_the_runs_means_flip(run, tmp_path, capsys):
    out = tmp_path / "ensemble"
    assert evaluate.main(["--tta", str(run), "--split", "val", "--out", str(out)]) == 0
    assert json.loads((out / "eval-val-tta-flip.json").read_text())["runs"] == [str(run)]
    with pytest.raises(SystemExit):   # a mistyped mode is still named as one
        run_cli(evaluate.main, ["--tta", "flp", str(run)])
    assert "invalid choice: 'flp'" in capsys.readouterr().err


def test_evaluate_rejects_a_folder_that_is_no_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(evaluate.main, [str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and "no config.json" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ predict
def test_predict_writes_a_submission_for_a_course_test_csv(run, test_split, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # fer.data caches parsed CSVs there
    images = test_split.images[:9]
    source = tmp_path / "test.csv"
    source.write_text("id,feature\n" + "".join(
        f"{100 + i},{' '.join(map(str, im.ravel()))}\n" for i, im in enumerate(images)))
    output = tmp_path / "submission.csv"
    assert predict.main([str(run), "--input", str(source), "--output", str(output)]) == 0
    lines = output.read_text().splitlines()
    assert lines[0] == "id,label" and len(lines) == 10
    ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]))
    model, _ = load_model(run)
    assert list(ids) == list(range(100, 109))
    assert list(labels) == list(predict_proba(model, images).argmax(axis=1))
    assert "wrote" in capsys.readouterr().out


def test_predict_reads_any_image_in_a_folder(run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (80, 64, 3), dtype=np.uint8)).save(folder / "colour.jpg")
    Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(folder / "grey.png")
    (folder / "notes.txt").write_text("not an image")
    output = tmp_path / "predictions.csv"
    assert predict.main([str(run), "--input", str(folder), "--output", str(output), "--tta"]) == 0
    table = capsys.readouterr().out
    assert "colour.jpg" in table and "grey.png" in table and "notes.txt" not in table
    with open(output) as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == ["colour.jpg", "grey.png"]
    for r in rows:
        probs = np.array([float(r[label]) for label in LABELS])
        assert r["emotion"] == LABELS[probs.argmax()] and probs.sum() == pytest.approx(1, abs=1e-3)
    assert predict.main([str(run), "--input", str(folder / "grey.png")]) == 0
    assert "grey.png" in capsys.readouterr().out


# ------------------------------------------------------------------ inference helpers
def test_shift_moves_the_image_and_repeats_the_edge():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    down = shift(x, 1, 0)
    np.testing.assert_array_equal(down[0, 0, 1:], x[0, 0, :-1])
    np.testing.assert_array_equal(down[0, 0, 0], x[0, 0, 0])   # the top row repeats
    left = shift(x, 0, -2)
    np.testing.assert_array_equal(left[0, 0, :, :2], x[0, 0, :, 2:])
    np.testing.assert_array_equal(left[0, 0, :, 3], x[0, 0, :, 3])


def test_tta_views():
    x = np.random.default_rng(0).random((2, 1, 6, 6), dtype=np.float32)
    assert len(tta_views(x, "none")) == 1
    flipped = tta_views(x, "flip")[1]
    np.testing.assert_array_equal(flipped, x[..., ::-1])
    assert len(tta_views(x, "flip-shift")) == 10
    crops = tta_views(x, "ten-crop")
    assert len(crops) == 10 and all(v.shape == (2, 1, 4, 4) for v in crops)
    np.testing.assert_array_equal(crops[0], x[:, :, :4, :4])               # top-left corner
    np.testing.assert_array_equal(crops[7], x[:, :, 2:, 2:][..., ::-1])    # bottom-right, mirrored
    np.testing.assert_array_equal(crops[8], x[:, :, 1:5, 1:5])             # centre
    small = tta_views(x, "ten-crop", side=3)                                # a fixed-input network's side
    np.testing.assert_array_equal(small[2], x[:, :, :3, 3:])                # top-right corner
    np.testing.assert_array_equal(small[8], x[:, :, 1:4, 1:4])
    with pytest.raises(ValueError, match="crops of side 7 do not fit"):
        tta_views(x, "ten-crop", side=7)
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        tta_views(x, "rotate")
    assert TTA_CHOICES == TTA_MODES  # the parsers' copy of the names


def test_flip_tta_averages_the_image_and_its_mirror(run, test_split):
    model, _ = load_model(run)
    images = test_split.images[:20]
    both = predict_proba(model, images, batch_size=7, tta="flip")
    plain = predict_proba(model, images, batch_size=7)
    mirrored = predict_proba(model, np.ascontiguousarray(images[..., ::-1]), batch_size=7)
    np.testing.assert_allclose(both, (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_proba([model, model], images), plain, rtol=1e-5, atol=1e-6)


def test_ten_crop_hands_a_fixed_input_network_crops_of_its_own_side():
    from fer.errors import UsageError
    from fer.models.networks import seed_cnn, xception
    model = seed_cnn(widths=(4, 4, 4, 4), dense=(8,), conv_dropout=(0, 0, 0, 0), input_size=40)
    images = np.random.default_rng(1).integers(0, 256, (3, 1, 48, 48), dtype=np.uint8)
    crops = [images[:, :, t:t + 40, l:l + 40] for t, l in ((0, 0), (0, 8), (8, 0), (8, 8), (4, 4))]
    views = [np.ascontiguousarray(v) for c in crops for v in (c, c[..., ::-1])]
    expected = np.mean([predict_proba(model, v) for v in views], axis=0)
    np.testing.assert_allclose(predict_proba(model, images, tta="ten-crop"), expected, rtol=1e-5, atol=1e-6)
    # In an ensemble, a network that takes any size gets its own 46x46 crops.
    xcept = xception(stem=(4,), widths=(4, 8))
    np.testing.assert_allclose(predict_proba([model, xcept], images, tta="ten-crop"),
                               (expected + predict_proba(xcept, images, tta="ten-crop")) / 2, rtol=1e-5, atol=1e-6)
    # A whole-face network with dense layers cannot take crops: a clear error, not a shape clash.
    with pytest.raises(UsageError, match="ten-crop: a network that flattens whole 48x48 faces"):
        predict_proba([model, seed_cnn(widths=(4, 4, 4, 4), dense=(8,), conv_dropout=(0, 0, 0, 0))], images,
                      tta="ten-crop")


def test_commands_on_a_run_use_its_own_validation_split_unless_told():
    from fer import filters, saliency
    config = {"settings": {"data": "synthetic", "val_fraction": 0.0}}
    for module in (evaluate, saliency, filters):
        parser = module.build_parser()
        help_text = " ".join(parser.format_help().split())
        assert "(default: the run's own)" in help_text, module.__name__
        assert data_settings(parser.parse_args(["RUN"]), config)["val_fraction"] == 0.0
        assert data_settings(parser.parse_args(["RUN", "--val-fraction", "0.2"]), config)["val_fraction"] == 0.2
