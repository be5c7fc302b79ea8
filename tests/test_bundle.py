"""The bundled model: a run folder bundled (weights, manifest, model card), loaded back with its
SHA-256 checked, a damaged file refused in one line, and the commands that use the bundle when
no RUN is given (or say in one line that there is none)."""
import ast
import fnmatch
import hashlib
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

import fer.bundled
from bundle_helpers import COMMAND, COMMIT, write_run
from face_photos import group_photo
from fer import LABELS, evaluate, export, predict
from fer.api import bundle
from fer.api.model_card import model_card
from fer.cli.common import run_cli
from fer.errors import DataError, UsageError
from fer.evaluation.inference import predict_logits, predict_proba
from fer.training.runs import load_data, load_model, pick_split

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = fer.bundled.DIRECTORY.parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("bundle") / "run", "fast")


@pytest.fixture(scope="module")
def bundled(run, tmp_path_factory):
    """The run bundled by the command into a folder of its own."""
    folder = tmp_path_factory.mktemp("bundle") / "bundled"
    assert export.main([str(run), "--format", "bundle", "--output", str(folder)]) == 0
    return folder


@pytest.fixture
def package_bundle(monkeypatch, tmp_path):
    """Point the package's bundle folder somewhere else: ``package_bundle(folder)``."""
    def use(folder):
        monkeypatch.setattr(fer.bundled, "DIRECTORY", folder)
        return folder
    use(tmp_path / "empty")
    return use


def test_the_bundle_holds_the_runs_weights_and_their_hash(run, bundled):
    manifest = json.loads((bundled / bundle.MANIFEST).read_text())
    weights = bundled / bundle.WEIGHTS
    assert manifest["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["weights"]["bytes"] == weights.stat().st_size <= bundle.MAX_BYTES
    model, loaded = bundle.load_bundle(bundled)
    assert loaded == manifest
    faces = np.random.default_rng(0).integers(0, 256, (8, 1, 48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(predict_logits(model, faces), predict_logits(load_model(run)[0], faces))
    assert manifest["training"]["command"] == COMMAND and manifest["training"]["commit"] == COMMIT
    assert manifest["input"]["side"] == 40 and manifest["labels"] == list(LABELS)


def test_the_accuracy_recorded_is_the_models_on_the_test_split(run, bundled):
    manifest = bundle.read_manifest(bundled)
    evaluation = manifest["evaluation"]
    assert (evaluation["split"], evaluation["tta"]) == ("test", "ten-crop")     # a network on crops
    _, test = pick_split(load_data(json.loads((run / "config.json").read_text())["settings"]))
    model = load_model(run)[0]
    for mode in ("none", "ten-crop"):
        predictions = predict_proba(model, test.images, tta=mode).argmax(1)
        report = evaluation["reports"][mode]
        assert report["accuracy"] == pytest.approx(np.mean(predictions == test.labels))
        assert report["per_class"]["sad"]["recall"] == pytest.approx(np.mean(predictions[test.labels == 4] == 4))


def test_the_model_card_states_training_accuracy_input_and_limits(bundled):
    card = (bundled / bundle.CARD).read_text()
    report = bundle.read_manifest(bundled)["evaluation"]["reports"]
    assert f"`{COMMAND}`" in card and COMMIT in card
    assert f"**{report['none']['accuracy']:.1%}** alone, **{report['ten-crop']['accuracy']:.1%}** with " \
           "`--tta ten-crop`" in card
    for name, row in zip(LABELS, report["ten-crop"]["confusion_matrix"]):
        assert f"| {name} | " + " | ".join(map(str, row)) + " |" in card
    assert "centre 40x40" in card and "fer.photos.faces" in card
    for limit in ("labels are noisy", "posed", "not feelings", "must not be used to make decisions about people"):
        assert limit in card


def test_the_model_card_describes_the_test_time_augmentation_it_was_scored_with(bundled):
    manifest = bundle.read_manifest(bundled)
    evaluation = manifest["evaluation"]
    evaluation["reports"]["ten-crop-2scale"] = evaluation["reports"].pop("ten-crop")
    evaluation["tta"] = "ten-crop-2scale"
    card = model_card(manifest)
    assert "`--tta ten-crop-2scale` averages those ten crops" in card and "shrunk to 90%" in card
    assert "`--tta ten-crop` averages" not in card


def test_float16_weights_take_half_the_space_and_give_the_same_predictions(run, bundled, tmp_path):
    bundle.write_bundle(run, tmp_path, dtype="float16")
    half, manifest = bundle.load_bundle(tmp_path)
    assert manifest["weights"]["dtype"] == "float16"
    with np.load(tmp_path / bundle.WEIGHTS, allow_pickle=False) as stored:
        assert {stored[key].dtype for key in stored.files if key.startswith("model/")} == {np.dtype(np.float16)}
    # (a little over half: each array of the archive has a header of its own)
    assert manifest["weights"]["bytes"] < 0.65 * bundle.read_manifest(bundled)["weights"]["bytes"]
    faces = np.random.default_rng(1).integers(0, 256, (16, 1, 48, 48), dtype=np.uint8)
    full = predict_proba(load_model(run)[0], faces)
    np.testing.assert_allclose(predict_proba(half, faces), full, atol=2e-3)


def test_weights_over_the_limit_are_refused_and_leave_the_bundle_as_it_was(run, bundled, monkeypatch):
    before = {name: (bundled / name).read_bytes() for name in (bundle.WEIGHTS, bundle.MANIFEST, bundle.CARD)}
    monkeypatch.setattr(bundle, "MAX_BYTES", 10_000)
    with pytest.raises(UsageError, match="more than the 0 MiB a bundle may have; try --dtype float16"):
        bundle.write_bundle(run, bundled)
    assert {name: (bundled / name).read_bytes() for name in before} == before


def test_a_flipped_byte_is_a_one_line_error_naming_the_file(bundled, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in (bundle.WEIGHTS, bundle.MANIFEST):
        (damaged / name).write_bytes((bundled / name).read_bytes())
    data = bytearray((damaged / bundle.WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0x01
    (damaged / bundle.WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(DataError) as error:
        bundle.load_bundle(damaged)
    message = str(error.value)
    assert "\n" not in message and str(damaged / bundle.WEIGHTS) in message and "damaged" in message


def test_without_a_bundle_the_commands_say_so_in_one_line(package_bundle, tmp_path, capsys):
    photo = tmp_path / "group.png"
    Image.fromarray(group_photo()[0]).save(photo)
    with pytest.raises(SystemExit) as stop:
        run_cli(predict.main, ["--input", str(photo)])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no bundled model in this install")
    assert "python -m fer.export RUN --format bundle" in lines[0] and lines[0].endswith("or pass RUN")
    for main, argv in ((evaluate.main, ["--data", "synthetic"]), (export.main, ["--format", "onnx"])):
        with pytest.raises(DataError, match="no bundled model in this install"):
            main(argv)
    with pytest.raises(UsageError, match="needs the RUN"):
        export.main(["--format", "bundle"])


def test_predict_and_evaluate_use_the_bundle_when_no_run_is_given(package_bundle, bundled, tmp_path, capsys):
    package_bundle(bundled)
    photo = tmp_path / "group.png"
    Image.fromarray(group_photo()[0]).save(photo)
    assert predict.main(["--input", str(photo), "--output", str(tmp_path / "faces.csv")]) == 0
    assert len((tmp_path / "faces.csv").read_text().splitlines()) == 1 + 6
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: no RUN given")]
    assert notes == ["note: no RUN given: using " + bundle.describe(bundle.read_manifest(bundled))]
    assert evaluate.main(["--data", "synthetic", "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "eval-test.json").read_text())
    assert report["runs"][0].startswith("the bundled model (cnn, fast preset,") and report["samples"] == 1000
    if importlib.util.find_spec("onnx"):
        assert export.main(["--format", "onnx", "--output", str(tmp_path / "model.onnx")]) == 0
        assert "wrote" in capsys.readouterr().out and (tmp_path / "model.onnx").stat().st_size > 10_000


def test_serve_uses_the_bundle_when_no_run_is_given(package_bundle, bundled, monkeypatch, capsys):
    import waitress

    from fer.serve import __main__ as serve

    class Server:   # stands in for waitress: the command must get as far as serving
        effective_port = 8000

        def run(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(waitress, "create_server", lambda app, **kwargs: Server())
    with pytest.raises(DataError, match="no bundled model"):
        serve.main(["--threads", "1"])
    package_bundle(bundled)
    assert serve.main(["--threads", "1"]) == 0
    assert "serving the bundled model (cnn, fast preset," in capsys.readouterr().out


def test_pip_install_ships_the_bundle_files():
    """setup.py's package_data names every file of the bundle (a non-editable install copies
    only what it names)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    package_data = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "package_data"))
    for name in (bundle.WEIGHTS, bundle.MANIFEST, bundle.CARD):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in package_data["fer.bundled"])


def test_config_json_records_the_commit_the_card_quotes():
    import re

    from fer.training.runs import source_commit
    from fer.training.trainer import versions

    commit = source_commit()
    if commit is None:
        pytest.skip("not a git checkout: no commit to record")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit) and versions()["commit"] == commit
