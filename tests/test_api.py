"""``from fer import EmotionRecognizer``: faces and emotions of photos (paths, PIL images, RGB and
BGR arrays), cut faces and videos, the same as the commands give, and one-line errors."""
import numpy as np
import pytest
from PIL import Image

from bundle_helpers import write_run
from face_photos import DATA, group_photo, load
from fer import LABELS, EmotionRecognizer
from fer.errors import DataError, UsageError
from fer.photos.faces import FaceDetector
from fer.evaluation.inference import predict_faces, predict_proba
from fer.training.runs import load_model
from fer.serve.predictor import face_json
from fer.photos.video import predict_video

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    return [write_run(folder / "cnn", "cnn", seed=0), write_run(folder / "xception", "xception", seed=1)]


@pytest.fixture(scope="module")
def recognizer(runs):
    return EmotionRecognizer(runs[0])


@pytest.fixture(scope="module")
def photo():
    return group_photo()[0]


def test_detect_gives_each_face_as_the_commands_do(recognizer, runs, photo):
    faces = recognizer.detect(photo)
    expected = predict_faces([load_model(runs[0])[0]], photo)
    assert len(faces) == len(expected) == 6
    for face, prediction in zip(faces, expected):
        assert face.box == tuple(prediction.box) and face.label == prediction.label
        assert list(face.probabilities) == list(LABELS)
        np.testing.assert_allclose(list(face.probabilities.values()), prediction.probabilities, rtol=1e-6)
        assert face.label == max(face.probabilities, key=face.probabilities.get)
        assert face.to_dict() == face_json(prediction)            # the web API's JSON, exactly
        assert face.image.shape == (48, 48)


def test_a_path_a_pil_image_and_a_bgr_frame_give_the_same_faces(recognizer, photo, tmp_path):
    path = tmp_path / "group.png"
    Image.fromarray(photo).save(path)
    expected = [face.to_dict() for face in recognizer.detect(photo)]
    for image, bgr in ((str(path), False), (path, False), (Image.open(path), False),
                       (np.ascontiguousarray(photo[..., ::-1]), True)):
        assert [face.to_dict() for face in recognizer.detect(image, bgr=bgr)] == expected


def test_top_emotion_is_the_largest_faces_or_none(recognizer, photo):
    faces = recognizer.detect(photo)
    largest = max(faces, key=lambda face: face.box[2] * face.box[3])
    assert largest.box[2] == max(face.box[2] for face in faces)
    assert recognizer.top_emotion(photo) == (largest.label, largest.probabilities[largest.label])
    assert recognizer.top_emotion(load("coffee.jpg")) is None


def test_classify_and_an_ensemble_average_the_runs(runs):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    models = [load_model(run)[0] for run in runs]
    ensemble = EmotionRecognizer(runs, tta="flip")
    probs = ensemble.classify(faces)
    assert probs.shape == (5, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, np.mean([predict_proba(m, faces[:, None], tta="flip") for m in models], 0),
                               rtol=1e-5)
    np.testing.assert_allclose(ensemble.classify(faces[:, None]), probs)
    assert ensemble.classify(faces[0]).shape == (1, 7)


def test_analyze_video_gives_a_row_per_face_per_sampled_frame(recognizer, runs, tmp_path):
    from test_predict_faces import write_clip

    clip = tmp_path / "clip.avi"
    write_clip(clip)
    table = recognizer.analyze_video(clip, fps=5)
    assert list(table.columns) == ["frame", "time", "face", "box", "label", *LABELS]
    frames = predict_video([load_model(runs[0])[0]], clip, 5, progress=False)
    expected = [(index, p) for index, _, predictions in frames for p in predictions]
    assert list(table["frame"]) == [index for index, _ in expected] == [0, 2, 4, 6, 8, 10, 12]
    assert list(table["box"]) == [tuple(p.box) for _, p in expected]
    np.testing.assert_allclose(table[list(LABELS)].to_numpy(), [p.probabilities for _, p in expected], rtol=1e-6)
    assert table["time"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2])


def test_detector_settings_are_the_commands(runs, photo):
    live = EmotionRecognizer(runs[0], detector="live")
    assert live.detector.detect_width == FaceDetector.realtime().detect_width
    strict = EmotionRecognizer(runs[0], detector={"min_size": 0.2})
    assert len(strict.detect(photo)) < 6                           # the smaller faces are not looked for


def test_mistakes_are_one_line_errors_naming_the_input(recognizer, runs, tmp_path):
    cases = [(lambda: recognizer.detect(tmp_path / "missing.jpg"), DataError, "missing.jpg: no such file"),
             (lambda: recognizer.detect(DATA / "README.md"), DataError, "README.md: cannot read the image"),
             (lambda: recognizer.detect([1, 2, 3]), UsageError, "got list"),
             (lambda: recognizer.detect(np.zeros((50, 50, 3))), UsageError, r"float64 \(50, 50, 3\)"),
             (lambda: recognizer.classify(np.zeros((2, 40, 40), np.uint8)), UsageError, r"uint8 \(2, 40, 40\)"),
             (lambda: recognizer.analyze_video(tmp_path / "none.mp4"), DataError, "none.mp4: no such file"),
             (lambda: EmotionRecognizer(tmp_path), DataError, "best.npz: no such checkpoint"),
             (lambda: EmotionRecognizer(runs[0], tta="rotate"), UsageError, "tta must be one of"),
             (lambda: EmotionRecognizer(runs[0], detector="fast"), UsageError, "detector must be one of")]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as raised:
            call()
        assert "\n" not in str(raised.value)


def test_import_fer_stays_light_and_loads_the_api_on_first_use(imported_after):
    assert imported_after("import fer") == "[]"
    assert imported_after("import fer.export\nfer.export.build_parser().format_help()") == "[]"
    assert "numpy" in imported_after("from fer import EmotionRecognizer")
