"""fer.predict on real photos and videos: faces found and predicted in one batch, the
per-face CSV, annotated pictures and videos, the emotions-over-time plot, and the
messages for photos without faces and for unreadable files."""
import csv

import numpy as np
import pytest
from PIL import Image

from face_photos import group_photo, load
from fer import LABELS, predict
from fer.evaluation import inference
from fer.photos.annotate import Style, overlap, place_panels
from fer.errors import DataError, UsageError
from fer.photos.faces import detect_faces
from fer.evaluation.inference import predict_faces, predict_proba
from fer.training.runs import load_model

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.usefixtures("one_thread")

COLUMNS = ["file", "face", "x", "y", "width", "height", "label", *LABELS]


@pytest.fixture(scope="module")
def run(tiny_run):
    """A tiny CNN trained for one epoch on synthetic faces."""
    return tiny_run("cnn", 1, 120)


@pytest.fixture(scope="module")
def model(run):
    return load_model(run)[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder: a group photo of 6 faces, a portrait, and a café table without a face."""
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(group_photo()[0]).save(folder / "group.png")
    Image.fromarray(load("astronaut.jpg")).save(folder / "astronaut.png")
    Image.fromarray(load("coffee.jpg")).save(folder / "coffee.png")
    return folder


def read_rows(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_all_faces_of_a_photo_are_predicted_in_one_batch(model, monkeypatch):
    photo = group_photo()[0]
    batches = []

    def counting(models, images, *args, **kwargs):
        batches.append(len(images))
        return predict_proba(models, images, *args, **kwargs)

    monkeypatch.setattr(inference, "predict_proba", counting)
    predictions = predict_faces(model, photo)
    assert batches == [6]
    faces = detect_faces(photo)
    assert [p.box for p in predictions] == [f.box for f in faces]
    expected = predict_proba(model, np.stack([f.image for f in faces])[:, None])
    np.testing.assert_allclose(np.stack([p.probabilities for p in predictions]), expected, rtol=1e-6)
    assert [p.label for p in predictions] == [LABELS[k] for k in expected.argmax(axis=1)]
    assert all(p.probabilities.shape == (7,) and p.probabilities.dtype == np.float32 for p in predictions)
    assert predict_faces(model, load("coffee.jpg")) == []


def test_a_folder_of_photos_gives_one_row_per_face(run, model, photos, tmp_path, capsys):
    output = tmp_path / "faces.csv"
    assert predict.main([str(run), "--input", str(photos), "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "coffee.png: no face found" in captured.err
    header, rows = read_rows(output)
    assert header == COLUMNS
    assert [r["file"] for r in rows] == ["astronaut.png"] + ["group.png"] * 6
    assert [r["face"] for r in rows if r["file"] == "group.png"] == [str(k) for k in range(6)]
    group = predict_faces(model, np.array(Image.open(photos / "group.png")))
    for row, p in zip(rows[1:], group):
        assert tuple(int(row[k]) for k in ("x", "y", "width", "height")) == p.box
        probs = np.array([float(row[label]) for label in LABELS])
        np.testing.assert_allclose(probs, p.probabilities, atol=1e-5)
        assert row["label"] == p.label == LABELS[probs.argmax()]
    assert "group.png #5" in captured.out


def test_annotated_photos_are_drawn_where_the_faces_are(run, photos, tmp_path):
    plain, salient = tmp_path / "plain", tmp_path / "salient"
    assert predict.main([str(run), "--input", str(photos), "--annotate", str(plain)]) == 0
    assert predict.main([str(run), "--input", str(photos), "--annotate", str(salient), "--saliency"]) == 0
    assert sorted(p.name for p in plain.iterdir()) == ["astronaut.png", "coffee.png", "group.png"]
    original = np.array(Image.open(photos / "group.png")).astype(int)
    drawn = np.array(Image.open(plain / "group.png")).astype(int)
    assert drawn.shape == original.shape
    for x, y, w, h in (f.box for f in detect_faces(original.astype(np.uint8))):
        edge = np.abs(drawn[y + h, x:x + w] - original[y + h, x:x + w]).sum(axis=1)
        assert (edge > 60).mean() > 0.9                                 # the bottom of the box is drawn
        inside = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))
        np.testing.assert_array_equal(drawn[inside], original[inside])  # the face itself is left alone
        assert np.abs(np.array(Image.open(salient / "group.png")).astype(int)[inside] - original[inside]).mean() > 5
    with Image.open(plain / "coffee.png") as enlarged:                  # 480x320: enlarged to a 480 shorter side
        assert enlarged.size == (720, 480)


def test_bar_panels_sit_beside_the_faces_and_cover_none():
    photo, boxes = group_photo()
    style = Style(photo.shape)
    for left, top in place_panels(boxes, style, photo.shape):
        panel = (left, top, *style.panel)
        assert 0 <= left <= photo.shape[1] - style.panel[0] and 0 <= top <= photo.shape[0] - style.panel[1]
        assert all(overlap(panel, box) == 0 for box in boxes)


def write_clip(path, fps=10, frames=20, face_frames=14):
    """A clip of a café table across which the astronaut's head moves right for
    ``face_frames`` frames, then the table alone."""
    table = cv2.resize(load("coffee.jpg"), (320, 240))
    head = cv2.resize(load("astronaut.jpg")[20:180, 60:220], (120, 120))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for k in range(frames):
        frame = table.copy()
        if k < face_frames:
            frame[60:180, 20 + 8 * k:140 + 8 * k] = head
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_a_video_gives_rows_per_sampled_frame_a_plot_and_an_annotated_video(run, tmp_path, capsys):
    clip = tmp_path / "clip.avi"
    write_clip(clip)
    output = tmp_path / "out" / "faces.csv"
    assert predict.main([str(run), "--input", str(clip), "--fps", "5", "--output", str(output),
                         "--annotate", str(tmp_path / "annotated")]) == 0
    header, rows = read_rows(output)
    assert header == COLUMNS + ["frame", "time"]
    assert [int(r["frame"]) for r in rows] == [0, 2, 4, 6, 8, 10, 12]     # 10 fps sampled at 5; no face after 13
    assert [float(r["time"]) for r in rows] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    xs = [int(r["x"]) for r in rows]
    assert np.all(np.diff(xs) == pytest.approx(16, abs=3))                # the head moves 8 pixels a frame
    assert "clip.avi: 10 frames sampled" in capsys.readouterr().out
    with Image.open(tmp_path / "out" / "clip-emotions.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 400
    video = cv2.VideoCapture(str(tmp_path / "annotated" / "clip.avi"))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) == 10 and video.get(cv2.CAP_PROP_FPS) == 5
    video.release()


def test_a_photo_without_a_face_is_an_error_naming_it(run, photos):
    with pytest.raises(DataError, match="coffee.png: no face found"):
        predict.main([str(run), "--input", str(photos / "coffee.png")])


def test_unreadable_photos_and_videos_are_named(run, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DataError, match="broken.jpg: cannot read the image"):
        predict.main([str(run), "--input", str(tmp_path / "broken.jpg")])
    with pytest.raises(DataError, match="broken.mp4: cannot read the video"):
        predict.main([str(run), "--input", str(tmp_path / "broken.mp4"), "--output", str(tmp_path / "x.csv")])


def test_saliency_needs_annotate_and_annotate_never_overwrites_the_input(run, photos):
    with pytest.raises(UsageError, match="--annotate"):
        predict.main([str(run), "--input", str(photos), "--saliency"])
    with pytest.raises(DataError, match="overwrite"):
        predict.main([str(run), "--input", str(photos), "--annotate", str(photos)])


def test_a_folder_of_48x48_faces_is_predicted_whole_as_before(run, model, tmp_path, capsys):
    folder = tmp_path / "crops"
    folder.mkdir()
    faces = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    for k, face in enumerate(faces):
        Image.fromarray(face).save(folder / f"{k}.png")
    output = tmp_path / "crops.csv"
    assert predict.main([str(run), "--input", str(folder), "--output", str(output)]) == 0
    header, rows = read_rows(output)
    assert header == ["image", "emotion", *LABELS] and [r["image"] for r in rows] == ["0.png", "1.png", "2.png"]
    probs = np.array([[float(r[label]) for label in LABELS] for r in rows])
    np.testing.assert_allclose(probs, predict_proba(model, faces[:, None]), atol=1e-5)


def test_a_folder_of_photos_and_videos_writes_one_csv_named_after_it(run, tmp_path, monkeypatch):
    folder = tmp_path / "holiday"
    folder.mkdir()
    Image.fromarray(load("grace_hopper.jpg")).save(folder / "hopper.png")
    write_clip(folder / "clip.avi", frames=4, face_frames=4)
    monkeypatch.chdir(tmp_path)
    assert predict.main([str(run), "--input", str(folder), "--fps", "10"]) == 0
    header, rows = read_rows(tmp_path / "holiday-faces.csv")
    assert header == COLUMNS + ["frame", "time"]
    assert [(r["file"], r["frame"]) for r in rows] == [("hopper.png", "")] + [("clip.avi", str(k)) for k in range(4)]
    assert (tmp_path / "clip-emotions.png").exists()
