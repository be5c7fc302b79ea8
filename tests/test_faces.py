"""fer.photos.faces: faces found in real photos (tests/data, see its README) and framed as
FER2013 frames its faces; small images taken whole; OpenCV imported only on use."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from face_photos import PORTRAITS, framing_ratio, group_photo, iou, load, match
from fer.photos import faces
from fer.data.images import read_image
from fer.errors import DataError, UsageError

pytest.importorskip("cv2")

REAL_FILE = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"


@pytest.mark.parametrize("name", sorted(PORTRAITS))
def test_a_portrait_has_one_face_where_it_is(name):
    found = faces.detect_faces(load(name))
    assert len(found) == 1
    assert iou(found[0].box, PORTRAITS[name]) > 0.8
    assert found[0].image.shape == (48, 48) and found[0].image.dtype == np.uint8


def test_a_group_photo_has_every_face_and_no_false_one_left_to_right():
    photo, truth = group_photo((48, 64, 80, 96, 112, 56))
    found = faces.detect_faces(photo)
    assert match([f.box for f in found], truth) == (6, 0)
    assert [f.box[0] for f in found] == sorted(f.box[0] for f in found)
    assert all(isinstance(v, int) for f in found for v in f.box)


def test_a_photo_without_a_face_has_none():
    assert faces.detect_faces(load("coffee.jpg")) == []


def test_grey_and_rgb_photos_give_the_same_faces():
    photo = load("astronaut.jpg")
    grey = np.array(Image.fromarray(photo).convert("L"))
    (from_rgb,), (from_grey,) = faces.detect_faces(photo), faces.detect_faces(grey)
    assert iou(from_rgb.box, from_grey.box) > 0.9


def test_the_face_is_the_fer2013_square_around_the_box():
    photo = load("grace_hopper.jpg")
    (face,) = faces.detect_faces(photo)
    x, y, side = faces.fer_square(face.box)
    assert side == round(faces.FRAMING * face.box[2])
    assert (x + side / 2, y + side / 2) == pytest.approx((face.box[0] + face.box[2] / 2,
                                                           face.box[1] + face.box[3] / 2), abs=1)
    cv2 = faces.import_cv2()
    grey = faces.to_grey(photo)
    square = grey[y:y + side, x:x + side]
    np.testing.assert_array_equal(face.image, cv2.resize(square, (48, 48), interpolation=cv2.INTER_AREA))


def test_a_framed_face_found_again_fills_its_square():
    """What detect_faces cuts out looks like a FER2013 face: enlarged and searched
    again, the detector's box is (nearly) the whole square."""
    detector = faces.FaceDetector(min_neighbors=3)
    for name in PORTRAITS:
        (face,) = faces.detect_faces(load(name))
        assert framing_ratio(face.image, detector) == pytest.approx(faces.FRAMING, abs=0.1), name


@pytest.mark.skipif(not REAL_FILE.exists(), reason="needs FER2013 (../shared/data/fer2013)")
def test_fer2013_faces_are_framed_like_the_haar_box():
    """The measurement behind FRAMING, on 300 real faces."""
    import pandas as pd

    detector = faces.FaceDetector(scale_factor=1.05, min_neighbors=3, min_size=0.25, detect_width=None)
    ratios = [framing_ratio(np.array(pixels.split(), np.uint8).reshape(48, 48), detector)
              for pixels in pd.read_csv(REAL_FILE, nrows=300).pixels]
    ratios = [r for r in ratios if r is not None]
    assert len(ratios) > 200
    assert np.median(ratios) == pytest.approx(faces.FRAMING, abs=0.05)


def test_a_face_at_the_edge_repeats_the_edge_pixels():
    grey = np.tile(np.arange(100, dtype=np.uint8), (100, 1))
    square = faces.crop_square(grey, -20, 10, 40, size=40)
    assert square.shape == (40, 40)
    np.testing.assert_array_equal(square[:, :20], 0)              # left of the image: column 0 repeated
    np.testing.assert_array_equal(square[0, 20:], np.arange(20))


def test_small_images_are_one_face_framed_as_read_image_frames_a_file(tmp_path):
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    (face,) = faces.detect_faces(crop)
    assert face.box == (0, 0, 48, 48)
    np.testing.assert_array_equal(face.image, crop)
    wide = rng.integers(0, 256, (64, 80), dtype=np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    (face,) = faces.detect_faces(wide)
    assert face.box == (8, 0, 64, 64)
    np.testing.assert_array_equal(face.image, read_image(tmp_path / "wide.png"))


def test_bad_images_are_refused_with_their_shape():
    with pytest.raises(UsageError, match=r"\(4, 5, 2\)"):
        faces.detect_faces(np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(UsageError, match="uint8"):
        faces.detect_faces(np.zeros((200, 200), np.float32))
    with pytest.raises(UsageError, match="cascade"):
        faces.FaceDetector(cascade="/nowhere/missing.xml")


def test_read_photo_names_an_unreadable_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(DataError, match="notes.jpg: cannot read the image"):
        faces.read_photo(tmp_path / "notes.jpg")
    photo = faces.read_photo(Path(__file__).parent / "data/astronaut.jpg")
    assert photo.shape == (320, 320, 3) and photo.dtype == np.uint8


def test_without_opencv_the_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)          # makes `import cv2` fail
    with pytest.raises(UsageError, match="opencv-python-headless"):
        faces.FaceDetector()


def test_opencv_is_imported_only_when_faces_are_searched(one_thread_env):
    code = ("import sys, fer, fer.photos.faces, fer.evaluation.inference, fer.photos.annotate, fer.photos.video, fer.predict\n"
            "print('cv2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env=one_thread_env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
