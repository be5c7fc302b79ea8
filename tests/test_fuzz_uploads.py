"""Over 500 hostile and unusual image files (tests/fuzz_inputs.py, seeded), each sent to
``POST /api/predict`` in-process, a sample of them to the real server (waitress, over
HTTP), and all of them, as one folder, to ``python -m fer.predict --input``: every answer
is a 200 with faces or a 4xx JSON error of one line, never a 5xx or a traceback, and the
server answers a good photo after each bad one.  The photos are shrunk (160 pixels a
side) so that finding faces in the ones that decode stays quick.
"""
import csv
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from fuzz_inputs import fuzz_inputs
from fer.serve.app import create_app
from fer.serve.predictor import Predictor
from fer.serve.uploads import display_name
from test_serve import png_bytes, post, post_to_server, server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("one_thread")

SEED = 35
REQUIRED_KINDS = {"truncated", "bit flips", "wrong magic bytes", "huge declared size", "16-bit grey", "cmyk",
                  "palette", "LA", "animated GIF", "zero bytes", "one pixel", "JPEG named .png",
                  *(f"EXIF orientation {k}" for k in range(1, 9))}
GOOD = png_bytes(np.full((48, 48), 128, np.uint8))


@pytest.fixture(scope="module")
def inputs():
    return fuzz_inputs(SEED)


@pytest.fixture(scope="module")
def client(small_cnn):
    return create_app(Predictor([small_cnn(0)], ["small"])).test_client()


def check_answer(status, answer, upload):
    """A 200 with a list of faces, or a 4xx with a one-line error naming the file."""
    where = f"{upload.kind}: {upload.name} ({len(upload.data)} bytes): {status} {answer}"
    if status == 200:
        assert isinstance(answer["faces"], list), where
        for face in answer["faces"]:
            assert len(face["box"]) == 4 and abs(sum(face["probabilities"].values()) - 1) < 1e-3, where
        return
    assert 400 <= status < 500, where
    error = answer["error"]
    assert "\n" not in error and "Traceback" not in error and 0 < len(error) <= 300, where
    assert error.startswith(f"{display_name(upload.name)}: "), where


def pillow_warning(line):
    """A line of a warning of Pillow's own (corrupt EXIF data, a truncated TIFF tag), which Python
    prints as the warning and the source line that raised it."""
    return ("/PIL/" in line and "UserWarning: " in line) or line.strip() == "warnings.warn(str(msg))"


def test_the_inputs_cover_every_kind_asked_for(inputs):
    kinds = Counter(upload.kind for upload in inputs)
    assert len(inputs) >= 500 and REQUIRED_KINDS <= set(kinds), REQUIRED_KINDS - set(kinds)
    assert fuzz_inputs(SEED) == inputs   # seeded: a failure can be replayed


def test_every_fuzzed_upload_gets_faces_or_a_4xx_and_the_server_goes_on(client, inputs):
    outcomes = Counter()
    for upload in inputs:
        response = post(client, upload.data, upload.name)
        assert response.is_json, (upload.kind, upload.name, response.status_code)
        check_answer(response.status_code, response.get_json(), upload)
        outcomes[response.status_code] += 1
        if response.status_code != 200:
            assert post(client, GOOD).status_code == 200, (upload.kind, upload.name)
    print(f"\nfuzzed uploads, {len(inputs)}: " + ", ".join(f"{k}: {n}" for k, n in sorted(outcomes.items())))
    assert set(outcomes) == {200, 400, 413, 415}   # every refusal path taken, nothing else


def test_the_real_server_answers_one_of_each_kind_and_goes_on(server, inputs):  # noqa: F811
    """Through waitress and HTTP: the first input of each kind, then a good photo."""
    first = {}
    for upload in inputs:
        first.setdefault(upload.kind, upload)
    for upload in first.values():
        status, answer = post_to_server(server, upload.data, upload.name)
        check_answer(status, answer, upload)
        assert post_to_server(server, GOOD)[0] == 200, (upload.kind, upload.name)


def test_fer_predict_reads_a_folder_of_them_with_one_line_notes(tmp_path, inputs, small_cnn, small_cnn_config,
                                                                one_thread_env):
    """One ``python -m fer.predict`` over a folder of every input: it finishes, each file
    is either predicted (a CSV row), named as having no face, or skipped with a one-line
    note naming it; nothing else is printed but Pillow's own warnings of damaged EXIF data."""
    from fer.data.images import is_image_file
    from test_filters import write_run

    run = write_run(tmp_path / "run", small_cnn(0), small_cnn_config)
    folder = tmp_path / "fuzz"
    folder.mkdir()
    names = []
    for k, upload in enumerate(inputs):
        names.append(f"{k:03d}-{display_name(upload.name)}")
        (folder / names[-1]).write_bytes(upload.data)
    output = tmp_path / "faces.csv"
    done = subprocess.run([sys.executable, "-m", "fer.predict", str(run), "--input", str(folder),
                           "--output", str(output), "--threads", "1"],
                          env=one_thread_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    with open(output) as f:
        predicted = {row["file"] for row in csv.DictReader(f)}
    no_face = {line.removesuffix(": no face found") for line in done.stderr.splitlines()
               if line.endswith(": no face found")}
    skipped = {line.split(": cannot read the image (")[0].removeprefix(f"note: skipped {folder}/")
               for line in done.stderr.splitlines() if line.startswith("note: skipped ")}
    assert not (predicted & skipped) and not (no_face & skipped)
    assert predicted | no_face | skipped == {name for name in names if is_image_file(name)}   # .ico is not one
    others = [line for line in done.stderr.splitlines() if not line.startswith("note: skipped ")
              and not line.endswith(": no face found") and not pillow_warning(line)]
    assert others == [], others
    print(f"\nfer.predict over {len(names)} files: {len(predicted)} with faces, {len(no_face)} without, "
          f"{len(skipped)} skipped with a note")
