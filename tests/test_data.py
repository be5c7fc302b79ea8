"""fer.data (its formats, images, loading and cache) and fer.cli.common's data options:
every layout parsed from small files the tests write, every bad-input case, the cache,
the splits, and the real FER2013 file when it is present."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fer.data.loading as loading
from fer.cli.common import add_data_args, run_cli
from fer.data import (DataError, DataWarning, load_file, load_splits, resolve_data_path,
                      stratified_split, to_float)
from fer.data.images import is_image_file, read_image

REAL_FILE = Path(__file__).resolve().parents[2] / "shared/data/fer2013/fer2013.csv.gz"
USER_CACHE_HOME = os.environ.get("XDG_CACHE_HOME")


def pixel_rows(n, seed=0):
    """(n, 2304) uint8 random images and their CSV strings."""
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 2304), dtype=np.uint8)
    return pixels, [" ".join(map(str, row)) for row in pixels]


def write_csv(path, header, rows, gz=False):
    text = "\n".join([header] + [",".join(map(str, row)) for row in rows]) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def kaggle_rows(n_train=14, n_test=7, seed=0):
    """Rows (emotion, pixels, Usage) with every class, and the expected arrays."""
    pixels, text = pixel_rows(n_train + n_test, seed)
    labels = np.arange(n_train + n_test) % 7
    usage = ["Training"] * n_train + ["PublicTest"] * n_test
    return list(zip(labels, text, usage)), pixels, labels


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test reads the user's data or writes the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("FER2013_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


# --- the layouts -----------------------------------------------------------------

@pytest.mark.parametrize("name, gz", [("fer2013.csv", False), ("fer2013.csv.gz", True),
                                      ("gzip-without-the-name.csv", True)])
def test_kaggle_csv_plain_and_gzip(tmp_path, name, gz):
    rows, pixels, labels = kaggle_rows()
    splits = load_file(write_csv(tmp_path / name, "emotion,pixels,Usage", rows, gz))
    assert list(splits) == ["Training", "PublicTest"]
    train, test = splits["Training"], splits["PublicTest"]
    assert train.images.shape == (14, 1, 48, 48) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.images.reshape(14, -1), pixels[:14])
    np.testing.assert_array_equal(test.images.reshape(7, -1), pixels[14:])
    np.testing.assert_array_equal(train.labels, labels[:14])
    assert train.ids is None and train.masks is None and not train.synthetic
    assert train.source == f"FER2013 ({name})"


def test_csv_without_usage_is_one_split_that_load_splits_divides(tmp_path):
    rows, pixels, labels = kaggle_rows(n_train=70, n_test=0)
    path = write_csv(tmp_path / "faces.csv", "emotion,pixels", [r[:2] for r in rows])
    assert list(load_file(path)) == ["train"]
    splits = load_splits(path, val_fraction=0.2)
    assert (len(splits.train), len(splits.val), splits.test) == (56, 14, None)


def test_course_files(tmp_path):
    pixels, text = pixel_rows(21)
    write_csv(tmp_path / "train.csv", "label,feature", zip(np.arange(14) % 7, text[:14]))
    write_csv(tmp_path / "test.csv", "id,feature", zip(range(100, 107), text[14:]))
    splits = load_file(tmp_path)
    assert sorted(splits) == ["test", "train"]
    np.testing.assert_array_equal(splits["train"].labels, np.arange(14) % 7)
    np.testing.assert_array_equal(splits["test"].labels, [-1] * 7)
    np.testing.assert_array_equal(splits["test"].ids, np.arange(100, 107))
    np.testing.assert_array_equal(splits["test"].images.reshape(7, -1), pixels[14:])
    # The course's test.csv has no labels: nothing to test against.
    assert load_splits(tmp_path).test is None


def test_quoted_pixels_blank_lines_and_header_case(tmp_path):
    pixels, text = pixel_rows(2)
    path = tmp_path / "f.csv"
    path.write_text(f'Emotion, Pixels ,USAGE\n3,"{text[0]}",Training\n\n5,{text[1]},PublicTest\n')
    splits = load_file(path)
    np.testing.assert_array_equal(splits["Training"].images.reshape(1, -1), pixels[:1])
    assert splits["PublicTest"].labels.tolist() == [5]


def save_image(path, array, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).convert(mode).save(path)


def test_image_folders(tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    save_image(tmp_path / "imgs/train/happy/a.png", faces[0])
    save_image(tmp_path / "imgs/train/Sad/b.png", faces[1])
    save_image(tmp_path / "imgs/test/happy/c.png", faces[2])
    colour = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    save_image(tmp_path / "imgs/train/happy/big.png", colour, "RGB")
    (tmp_path / "imgs/train/happy/.DS_Store").write_bytes(b"junk")   # ignored
    with pytest.warns(DataWarning, match="converted 1 images"):
        splits = load_file(tmp_path / "imgs")
    train, test = splits["train"], splits["test"]
    assert train.images.shape == (3, 1, 48, 48) and train.labels.tolist() == [3, 3, 4]
    # In label order, then by file name: happy/a.png, happy/big.png, Sad/b.png.
    np.testing.assert_array_equal(train.images[0, 0], faces[0])
    np.testing.assert_array_equal(train.images[2, 0], faces[1])
    np.testing.assert_array_equal(test.images[0, 0], faces[2])
    assert test.labels.tolist() == [3]


def test_read_image_converts_any_image(tmp_path):
    save_image(tmp_path / "photo.jpg", np.full((90, 120, 3), 200, np.uint8), "RGB")
    image = read_image(tmp_path / "photo.jpg")
    assert image.shape == (48, 48) and image.dtype == np.uint8
    assert abs(int(image.mean()) - 200) <= 2
    assert is_image_file("x/y.JPG") and not is_image_file("notes.txt")


def test_to_float():
    x = to_float(np.array([[[[0, 255]]]], np.uint8))
    assert x.dtype == np.float32 and x.tolist() == [[[[0.0, 1.0]]]]


# --- bad input -------------------------------------------------------------------

def bad_csv(tmp_path, header="emotion,pixels,Usage", edit=None):
    """A 4-row Kaggle CSV whose third data row (line 4) ``edit`` spoils."""
    rows = [list(row) for row in kaggle_rows(4, 0)[0]]
    if edit:
        edit(rows[2])
    return write_csv(tmp_path / "bad.csv", header, rows)


def set_pixels(tokens):
    def edit(row):
        row[1] = " ".join(tokens)
    return edit


BAD_ROWS = {
    "wrong pixel count": (set_pixels(["7"] * 2303), "line 4: expected 2304 pixels, got 2303"),
    "too many pixels": (set_pixels(["7"] * 2305), "line 4: expected 2304 pixels, got 2305"),
    "non-integer pixel": (set_pixels(["7"] * 4 + ["12.5"] + ["7"] * 2299),
                          "line 4: pixel 5 is not an integer: '12.5'"),
    "text pixel": (set_pixels(["7", "abc"] + ["7"] * 2302), "line 4: pixel 2 is not an integer: 'abc'"),
    "pixel above 255": (set_pixels(["7"] * 6 + ["256"] + ["7"] * 2297),
                        "line 4: pixel 7 is 256, outside 0..255"),
    "negative pixel": (set_pixels(["-1"] + ["7"] * 2303), "line 4: pixel 1 is -1, outside 0..255"),
    "label above 6": (lambda row: row.__setitem__(0, 7), "line 4: emotion 7 is outside 0..6"),
    "negative label": (lambda row: row.__setitem__(0, -1), "line 4: emotion -1 is outside 0..6"),
    "non-integer label": (lambda row: row.__setitem__(0, "happy"),
                          "line 4: emotion 'happy' is not an integer"),
    "unknown Usage": (lambda row: row.__setitem__(2, "Validation"),
                      "line 4: Usage 'Validation' is not one of"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_names_file_line_and_problem(tmp_path, case):
    edit, message = BAD_ROWS[case]
    path = bad_csv(tmp_path, edit=edit)
    with pytest.raises(DataError) as error:
        load_file(path)
    assert str(error.value).startswith(f"{path}, {message}")
    assert "\n" not in str(error.value)
    # --skip-bad-rows drops the row and says why.
    with pytest.warns(DataWarning, match=r"skipped 1 bad row \(1 "):
        splits = load_file(path, skip_bad_rows=True)
    assert len(splits["Training"]) == 3


@pytest.mark.parametrize("header, content, message", [
    ("emotion,pixel,Usage", None, "line 1: expected columns emotion,pixels,Usage"),
    ("emotion,Usage", None, "line 1: expected columns"),
    ("label,feature,extra", None, "line 1: expected columns"),
    (None, "", "the file is empty"),
    (None, "emotion,pixels,Usage\n", "no data rows, only a header"),
    (None, "emotion,pixels,Usage\n1,2 3,Training,4\n", "line 2: expected 3 comma-separated fields, got 4"),
])
def test_bad_file_structure(tmp_path, header, content, message):
    if content is None:
        path = bad_csv(tmp_path, header=header)
    else:
        path = tmp_path / "bad.csv"
        path.write_text(content)
    with pytest.raises(DataError, match=f"^{path}(, |: ){message}"):
        load_file(path)


def test_unreadable_image_in_folder(tmp_path):
    save_image(tmp_path / "train/happy/ok.png", np.zeros((48, 48), np.uint8))
    (tmp_path / "train/happy/notes.txt").write_text("not an image")
    message = r"train/happy/notes.txt: cannot read the image \(not an image file\)"
    with pytest.raises(DataError, match=message):
        load_file(tmp_path)
    with pytest.warns(DataWarning, match=r"skipped 1 bad file \(1 unreadable image\)"):
        assert len(load_file(tmp_path, skip_bad_rows=True)["train"]) == 1


def test_unknown_emotion_folder(tmp_path):
    save_image(tmp_path / "train/happy/ok.png", np.zeros((48, 48), np.uint8))
    save_image(tmp_path / "train/contempt/x.png", np.zeros((48, 48), np.uint8))
    with pytest.raises(DataError, match="contempt: unknown emotion folder"):
        load_file(tmp_path)


def test_missing_paths(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="nope.csv: no such file or directory"):
        load_file(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no such file or directory"):
        load_splits(tmp_path / "nope")   # named explicitly: no synthetic fallback
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no FER2013 data found"):
        load_file(tmp_path / "empty")
    monkeypatch.setenv("FER2013_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="from FER2013_DATA"):
        resolve_data_path()


def test_skip_bad_rows_counts_by_reason(tmp_path):
    rows = [list(row) for row in kaggle_rows(10, 0)[0]]
    rows[1][1] = rows[4][1] = "1 2 3"
    rows[7][0] = 9
    path = write_csv(tmp_path / "bad.csv", "emotion,pixels,Usage", rows)
    with pytest.warns(DataWarning, match=r"skipped 3 bad rows \(2 wrong pixel count, 1 label outside 0..6\)"):
        splits = load_file(path, skip_bad_rows=True)
    assert splits["Training"].labels.tolist() == [0, 2, 3, 5, 6, 1, 2]


def cli_main(argv):
    parser = __import__("argparse").ArgumentParser()
    add_data_args(parser)
    args = parser.parse_args(argv)
    load_file(args.data, args.skip_bad_rows)


def test_cli_reports_one_line_and_exits_2(tmp_path, capsys):
    path = bad_csv(tmp_path, edit=BAD_ROWS["wrong pixel count"][0])
    with pytest.raises(SystemExit) as exit_:
        run_cli(cli_main, ["--data", str(path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {path}, line 4: expected 2304 pixels, got 2303\n"
    with pytest.raises(SystemExit) as exit_:
        run_cli(cli_main, ["--data", str(path), "--skip-bad-rows"])
    assert exit_.value.code == 0
    assert capsys.readouterr().err == f"warning: {path}: skipped 1 bad row (1 wrong pixel count)\n"


def test_cli_ctrl_c_exits_130(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as exit_:
        run_cli(interrupted, [])
    assert exit_.value.code == 130 and "Traceback" not in capsys.readouterr().err


# --- the cache -------------------------------------------------------------------

def count_parses(monkeypatch):
    calls = []
    parse = loading.read_csv_file
    monkeypatch.setattr(loading, "read_csv_file", lambda *a: calls.append(1) or parse(*a))
    return calls


def test_second_load_hits_the_cache_and_a_changed_file_misses(tmp_path, monkeypatch):
    calls = count_parses(monkeypatch)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = write_csv(data_dir / "fer2013.csv", "emotion,pixels,Usage", kaggle_rows()[0])
    first = load_file(path)
    second = load_file(path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["Training"].images, second["Training"].images)
    assert second["Training"].source == first["Training"].source
    assert os.listdir(data_dir) == ["fer2013.csv"]   # nothing written beside the data
    assert len(list((tmp_path / "xdg-cache/minigrad-fer").glob("*.npz"))) == 1

    # Same size, same mtime, different content (the first row's label,
    # 0 -> 1): only the content hash can tell.
    stat = path.stat()
    text = path.read_bytes()
    assert text.startswith(b"emotion,pixels,Usage\n0,")
    path.write_bytes(text.replace(b"\n0,", b"\n1,", 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = load_file(path)
    assert len(calls) == 2
    assert changed["Training"].labels[0] == 1
    # The stale entry was replaced, not kept beside the new one.
    assert len(list((tmp_path / "xdg-cache/minigrad-fer").glob("*.npz"))) == 1


def test_cache_dir_argument_and_skip_flag_are_part_of_the_key(tmp_path, monkeypatch):
    calls = count_parses(monkeypatch)
    path = bad_csv(tmp_path, edit=BAD_ROWS["label above 6"][0])
    with pytest.warns(DataWarning):
        load_file(path, skip_bad_rows=True, cache_dir=tmp_path / "c")
    with pytest.warns(DataWarning, match="skipped 1 bad row "):   # reported again from the cache
        load_file(path, skip_bad_rows=True, cache_dir=tmp_path / "c")
    assert len(calls) == 1 and len(list((tmp_path / "c").glob("*.npz"))) == 1
    with pytest.raises(DataError):   # a cached skip must not hide the error
        load_file(path, cache_dir=tmp_path / "c")


# --- splits and the data path ------------------------------------------------------

def test_stratified_split_counts():
    labels = np.repeat(np.arange(7), [10, 20, 30, 40, 50, 60, 75])
    train, val = stratified_split(labels, 0.1, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[val], minlength=7), [1, 2, 3, 4, 5, 6, 8])
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    np.testing.assert_array_equal(stratified_split(labels, 0.1, seed=0)[1], val)
    assert not np.array_equal(stratified_split(labels, 0.1, seed=1)[1], val)
    assert len(stratified_split(labels, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0, seed=0)


def test_load_splits_from_kaggle_csv(tmp_path):
    rows, pixels, labels = kaggle_rows(n_train=140, n_test=14)
    path = write_csv(tmp_path / "fer2013.csv", "emotion,pixels,Usage", rows)
    splits = load_splits(path, val_fraction=0.1, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (126, 14, 14)
    assert splits.val.class_counts().tolist() == [2] * 7
    assert splits.source == "FER2013 (fer2013.csv)" and not splits.synthetic
    assert splits.summary() == "FER2013 (fer2013.csv): 126 train, 14 validation, 14 test"


def test_val_fraction_zero_trains_on_everything_and_validates_on_the_test_set(tmp_path):
    rows, _, _ = kaggle_rows(n_train=140, n_test=14)
    splits = load_splits(write_csv(tmp_path / "fer2013.csv", "emotion,pixels,Usage", rows), val_fraction=0)
    assert len(splits.train) == 140 and splits.val is splits.test and splits.val_is_test
    assert splits.summary() == "FER2013 (fer2013.csv): 140 train, validation on the 14 test images"
    assert loading.synthetic_splits(200, val_fraction=0).val_is_test
    # The course's files have no labelled test set to validate on.
    pixels, text = pixel_rows(21)
    write_csv(tmp_path / "train.csv", "label,feature", zip(np.arange(14) % 7, text[:14]))
    write_csv(tmp_path / "test.csv", "id,feature", zip(range(100, 107), text[14:]))
    with pytest.raises(DataError, match="labelled test set, and there is none"):
        load_splits(tmp_path / "train.csv", val_fraction=0)


def test_data_path_order(tmp_path, monkeypatch):
    assert resolve_data_path() is None   # no ./data/
    (tmp_path / "data/fer2013").mkdir(parents=True)
    assert resolve_data_path() is None   # ./data/ without FER2013
    write_csv(tmp_path / "data/fer2013/fer2013.csv", "emotion,pixels,Usage", kaggle_rows()[0])
    assert resolve_data_path() == Path("data")   # found one level down
    assert list(load_file("data")) == ["Training", "PublicTest"]
    monkeypatch.setenv("FER2013_DATA", str(tmp_path / "elsewhere.csv"))
    (tmp_path / "elsewhere.csv").write_text("")
    assert resolve_data_path() == tmp_path / "elsewhere.csv"
    assert resolve_data_path(tmp_path / "data") == tmp_path / "data"


def test_synthetic_fallback_is_announced(capsys):
    splits = load_splits(synthetic_size=160, val_fraction=0.1)
    assert "No FER2013 data found" in capsys.readouterr().out
    assert splits.synthetic and splits.source == "synthetic faces (seed 0)"
    assert (len(splits.train), len(splits.val), len(splits.test)) == (126, 14, 20)
    assert splits.train.masks.shape == splits.train.images.shape and splits.train.masks.dtype == bool
    load_splits(synthetic_size=160, quiet=True)
    assert capsys.readouterr().out == ""


def test_large_synthetic_sets_come_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "_CACHE_SYNTHETIC_FROM", 100)
    calls = []
    make_faces = loading.make_faces
    monkeypatch.setattr(loading, "make_faces", lambda *a: calls.append(a) or make_faces(*a))
    first = loading.synthetic_splits(160)
    second = loading.synthetic_splits(160)
    # The pool (140 faces) is drawn once; the test set (20) is too small to cache.
    assert calls == [(140, 0), (20, 1), (20, 1)]
    np.testing.assert_array_equal(first.train.masks, second.train.masks)
    np.testing.assert_array_equal(first.val.images, second.val.images)
    assert second.train.synthetic and second.train.source == "synthetic faces (seed 0)"


# --- the real file -----------------------------------------------------------------

@pytest.mark.skipif(not REAL_FILE.exists(), reason=f"{REAL_FILE} is absent")
def test_real_fer2013(monkeypatch):
    # The user's cache: a second run of the suite reads it in a fraction of a second.
    if USER_CACHE_HOME:
        monkeypatch.setenv("XDG_CACHE_HOME", USER_CACHE_HOME)
    else:
        monkeypatch.delenv("XDG_CACHE_HOME")
    splits = load_file(REAL_FILE)
    train, test = splits["Training"], splits["PublicTest"]
    assert (len(train), len(test)) == (28709, 3589) and list(splits) == ["Training", "PublicTest"]
    assert train.class_counts().tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert test.class_counts().tolist() == [467, 56, 496, 895, 653, 415, 607]
    with gzip.open(REAL_FILE, "rt") as f:   # the first faces, parsed here without pandas
        rows = [next(f) for _ in range(4)][1:]
    for k, row in enumerate(rows):
        emotion, pixels, usage = row.strip().split(",")
        assert usage == "Training" and train.labels[k] == int(emotion)
        np.testing.assert_array_equal(train.images[k, 0].ravel(), np.array(pixels.split(), np.uint8))
