"""fer.serve's JSON API through Flask's test client: a good photo's answer (checked against
fer.evaluation.inference.predict_faces), every bad upload refused with a 4xx JSON error while the
server goes on answering, saliency overlays, server faults as JSON 500, the models run
one request at a time at the thread count they were given, and the command line: the
real server (waitress, in a subprocess) answering bad uploads and good ones over HTTP.

The models are small and untrained: every property tested holds for any weights.
The page in a real browser is tests/test_serve_browser.py.
"""
import base64
import io
import queue
import re
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer import LABELS
from fer.evaluation.inference import predict_faces
from fer.serve.app import create_app
from fer.serve.predictor import Predictor, heat_overlay
from minigrad import nn

pytestmark = pytest.mark.usefixtures("one_thread")

def group_photo_jpeg():
    """(a JPEG of six faces on a café table, their true boxes), from tests/face_photos.py."""
    from face_photos import group_photo

    pixels, boxes = group_photo()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), boxes


def png_bytes(pixels):
    """A PNG file of a uint8 array, in memory."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(small_cnn):
    return small_cnn(0)


@pytest.fixture(scope="module")
def client(model):
    return create_app(Predictor([model], ["small"])).test_client()


@pytest.fixture(scope="module")
def photo():
    return group_photo_jpeg()[0]


def post(client, data=None, name="photo.png", **fields):
    form = dict(fields)
    if data is not None:
        form["image"] = (io.BytesIO(data), name)
    return client.post("/api/predict", data=form, content_type="multipart/form-data")


def decode_data_url(url):
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix):]))))


# ------------------------------------------------------------------ a good photo
def test_a_photo_gets_every_face_with_its_box_label_and_probabilities(client, model):
    from face_photos import match

    photo, truth = group_photo_jpeg()
    answer = post(client, photo, "group.jpg").get_json()
    assert match([face["box"] for face in answer["faces"]], truth) == (len(truth), 0)   # 6 found, none false
    image = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))
    expected = predict_faces([model], image)
    assert len(answer["faces"]) == len(expected)
    assert answer["image"] == {"width": image.shape[1], "height": image.shape[0]}
    for face, want in zip(answer["faces"], expected):
        assert face["box"] == [int(v) for v in want.box]
        assert list(face["probabilities"]) == list(LABELS)
        np.testing.assert_allclose(list(face["probabilities"].values()), want.probabilities, atol=1e-4)
        assert face["label"] == want.label == max(face["probabilities"], key=face["probabilities"].get)
    assert set(answer["timing_ms"]) == {"decode", "predict", "total"}


def test_live_video_asks_for_the_live_detector(model, photo):
    from fer.photos.faces import FaceDetector

    class Counting:
        """The realtime detector, counting its calls."""

        def __init__(self):
            self.inner, self.calls = FaceDetector.realtime(), 0

        def detect(self, image):
            self.calls += 1
            return self.inner.detect(image)

    live = Counting()
    client = create_app(Predictor([model], ["small"], live_detector=live)).test_client()
    photo_faces = post(client, photo).get_json()["faces"]
    assert live.calls == 0
    live_faces = post(client, photo, detector="live").get_json()["faces"]
    assert live.calls == 1 and 1 <= len(live_faces) <= len(photo_faces)


def test_a_small_image_is_one_face_taken_whole(client):
    answer = post(client, png_bytes(np.full((48, 48), 128, np.uint8))).get_json()
    assert [face["box"] for face in answer["faces"]] == [[0, 0, 48, 48]]


def test_a_photo_without_a_face_gets_an_empty_list(client):
    answer = post(client, png_bytes(np.full((300, 400, 3), 200, np.uint8))).get_json()
    assert answer["faces"] == [] and answer["image"] == {"width": 400, "height": 300}


def test_a_photo_stored_sideways_is_turned_as_its_exif_says(client):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6   # orientation: rotate 90 degrees clockwise to show
    Image.new("RGB", (400, 300), "gray").save(buffer, format="JPEG", exif=exif)
    assert post(client, buffer.getvalue(), "sideways.jpg").get_json()["image"] == {"width": 300, "height": 400}


# ------------------------------------------------------------------ bad uploads
def decompression_bomb(side):
    """A real PNG of side x side black 1-bit pixels: 30,000 a side is 900 megapixels, about
    100 kB of zlib that would unpack to 110 MB of rows and 900 MB as an 8-bit image."""
    def chunk(kind, body):
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))

    row = bytes(1 + (side + 7) // 8)   # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])   # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


BAD_UPLOADS = {
    # case: (upload bytes or None for no field, file name, status, words the error must contain)
    "no image field": (None, "", 400, "multipart form field 'image'"),
    "empty file": (b"", "empty.jpg", 400, "empty.jpg: the file is empty"),
    "not an image": (b"name,emotion\nalice,happy\n", "faces.csv", 415, "faces.csv: not an image"),
    "truncated image": ("truncated", "cut.png", 400, "cut.png: the image cannot be decoded"),
    # past Pillow's MAX_IMAGE_PIXELS (89 megapixels) it warns, past twice that it raises: both refused
    "decompression bomb, 100 megapixels": (10_000, "bomb.png", 413, "bomb.png: refused as a decompression bomb"),
    "decompression bomb, 900 megapixels": (30_000, "bomb.png", 413, "bomb.png: refused as a decompression bomb"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_a_bad_upload_gets_a_clear_error_and_the_server_goes_on(client, photo, case):
    data, name, status, words = BAD_UPLOADS[case]
    if data == "truncated":
        data = photo[:len(photo) // 2]
    elif isinstance(data, int):
        data = decompression_bomb(data)
    response = post(client, data, name)
    assert response.status_code == status and response.is_json
    assert words in response.get_json()["error"]
    assert post(client, photo).status_code == 200


def test_too_many_bytes_is_413_with_the_limit(model, photo):
    client = create_app(Predictor([model], ["small"]), max_upload_bytes=len(photo) - 1).test_client()
    response = post(client, photo)
    assert response.status_code == 413
    assert "over the limit" in response.get_json()["error"]
    assert post(client, png_bytes(np.zeros((48, 48), np.uint8))).status_code == 200


def test_too_many_pixels_is_413_before_decoding(model):
    client = create_app(Predictor([model], ["small"]), max_pixels=200 * 100).test_client()
    response = post(client, png_bytes(np.zeros((101, 200), np.uint8)), "wide.png")
    assert response.status_code == 413
    assert "wide.png: the image is 200x101 = 0.0 megapixels, over the limit of 0.02" in response.get_json()["error"]
    assert post(client, png_bytes(np.zeros((100, 200), np.uint8))).status_code == 200


def test_an_unknown_option_or_route_is_a_json_error(client, photo):
    response = post(client, photo, saliency="magic")
    assert response.status_code == 400 and "unknown saliency method 'magic'" in response.get_json()["error"]
    response = post(client, photo, detector="eagle-eye")
    assert response.status_code == 400 and "unknown detector 'eagle-eye'" in response.get_json()["error"]
    assert client.get("/api/nothing").status_code == 404 and "error" in client.get("/api/nothing").get_json()
    assert client.get("/api/predict").status_code == 405 and "error" in client.get("/api/predict").get_json()


def test_a_server_fault_is_logged_and_answered_as_json_500(photo, caplog):
    class Broken:
        names, tta = ["broken"], "none"

        def predict(self, *args):
            raise RuntimeError("the model fell over")

    response = post(create_app(Broken()).test_client(), photo)
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error (RuntimeError); the server log has the details"}
    assert "the model fell over" in caplog.text and "Traceback" in caplog.text


# ------------------------------------------------------------------ saliency
def test_saliency_gives_each_face_an_overlay_of_its_own_map(client, model, photo):
    from fer.explain.plots import normalise_map
    from fer.explain.saliency_maps import vanilla

    answer = post(client, photo, saliency="vanilla").get_json()
    faces = predict_faces([model], np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")))
    assert len(answer["faces"]) == len(faces)
    for face, want in zip(answer["faces"], faces):
        part = face["saliency"]
        x, y, w, h = face["box"]
        sx, sy, side, _ = part["square"]
        assert sx <= x and sy <= y and sx + side >= x + w and sy + side >= y + h   # the square holds the box
        np.testing.assert_array_equal(decode_data_url(part["face"]), want.image)
        expected = heat_overlay(normalise_map(vanilla(model, want.image[None, None])[0]))
        np.testing.assert_array_equal(decode_data_url(part["overlay"]), expected)
    assert "saliency" in answer["timing_ms"]


def test_saliency_a_model_cannot_give_is_a_400(photo):
    from fer.models.networks import build_model

    client = create_app(Predictor([build_model("dnn", hidden=[16])], ["dnn"])).test_client()
    response = post(client, png_bytes(np.zeros((48, 48), np.uint8)), saliency="gradcam")
    assert response.status_code == 400
    assert "gradcam saliency: Grad-CAM needs a Conv2d layer" in response.get_json()["error"]


def test_the_overlay_is_clear_where_the_map_is_weak_and_coloured_where_strong():
    overlay = heat_overlay(np.array([[0.0, 0.5, 1.0]]))
    assert overlay.shape == (1, 3, 4) and overlay.dtype == np.uint8
    assert overlay[0, 0, 3] == 0 and 0 < overlay[0, 1, 3] < overlay[0, 2, 3]
    assert overlay[0, 2, :3].sum() > overlay[0, 0, :3].sum()


# ------------------------------------------------------------------ threads
class Watched(nn.Module):
    """A model that records how many threads run it at once, and numba's thread count."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        # in containers, not reassigned: prediction runs nn.fuse's shallow copy of this module
        self.count = {"running": 0, "most": 0}
        self.numba_threads = []

    @property
    def most(self):
        return self.count["most"]

    def forward(self, x):
        import numba

        self.count["running"] += 1
        self.count["most"] = max(self.count["most"], self.count["running"])
        self.numba_threads.append(numba.get_num_threads())
        time.sleep(0.05)   # long enough for another request to arrive meanwhile
        try:
            return self.inner(x)
        finally:
            self.count["running"] -= 1


def test_requests_on_several_threads_take_turns_at_the_model(model, photo):
    watched = Watched(model)
    app = create_app(Predictor([watched], ["watched"]))
    answers = []
    workers = [threading.Thread(target=lambda: answers.append(post(app.test_client(), photo).get_json()))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(answers) == 4 and all(a["faces"] == answers[0]["faces"] for a in answers)
    assert watched.most == 1


def test_the_models_run_with_the_thread_count_the_predictor_was_made_with(model):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread: nothing to limit")
    watched = Watched(model)
    predictor = Predictor([watched], ["watched"])   # made under one_thread: numba at 1 thread
    worker = threading.Thread(target=predictor.predict, args=(np.zeros((48, 48, 3), np.uint8),))
    worker.start()
    worker.join()
    assert watched.numba_threads == [1]


# ------------------------------------------------------------------ the page and the command
SERVER_UPLOAD_MB = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_cnn, small_cnn_config, one_thread_env):
    """The URL of the real command, ``python -m fer.serve RUN --port 0`` (waitress on a free
    port), on an untrained small CNN, with uploads limited to SERVER_UPLOAD_MB."""
    from test_filters import write_run

    folder = tmp_path_factory.mktemp("serve")
    run = write_run(folder / "run", small_cnn(0), small_cnn_config)
    log = folder / "server.log"
    with open(log, "w") as errors:   # a file, not a pipe nobody reads, which would fill and stall the server
        process = subprocess.Popen([sys.executable, "-m", "fer.serve", str(run), "--port", "0", "--threads", "1",
                                    "--max-upload-mb", str(SERVER_UPLOAD_MB)],
                                   env=one_thread_env, stdout=subprocess.PIPE, stderr=errors, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines.get(timeout=120))
    except queue.Empty:
        url = None
    if url is None:
        process.kill()
        pytest.fail(f"python -m fer.serve did not start: {log.read_text()[-2000:]}")
    yield url.group(0)
    process.terminate()
    process.wait(timeout=30)


def post_to_server(url, data, name="photo.jpg"):
    """(status, JSON answer) of POST /api/predict with ``data`` as the upload, over HTTP."""
    import json
    import urllib.error
    import urllib.request

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(data), name)})
    request = urllib.request.Request(url + "api/predict", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_command_serves_and_goes_on_after_bad_uploads(server, photo):
    too_big = bytes(SERVER_UPLOAD_MB * 2**20 + 1)
    for data, status in [(b"", 400), (b"not an image", 415), (too_big, 413), (photo, 200), (too_big, 413)]:
        code, answer = post_to_server(server, data)
        assert code == status, answer
        assert ("faces" in answer) if status == 200 else ("error" in answer)
    assert len(post_to_server(server, photo)[1]["faces"]) == 6


def test_the_page_and_its_assets_come_from_the_server_only(client):
    page = client.get("/").get_data(as_text=True)
    assert 'src="/static/app.js"' in page and 'href="/static/style.css"' in page
    for path in ("/", "/static/app.js", "/static/style.css"):
        response = client.get(path)
        assert response.status_code == 200
        assert "http://" not in response.get_data(as_text=True) and "https://" not in response.get_data(as_text=True)
    info = client.get("/api/info").get_json()
    assert info["labels"] == list(LABELS) and info["models"] == ["small"]
    assert info["limits"]["max_upload_bytes"] > 0 and "smoothgrad" in info["saliency_methods"]


def test_help_is_quick_and_import_fer_loads_no_web_framework(one_thread_env):
    code = ("import sys, subprocess\nimport fer, fer.serve\n"
            "print(sorted(m for m in ('flask', 'waitress', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=one_thread_env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
    code = ("import sys\nfrom fer.serve.__main__ import build_parser\nbuild_parser().format_help()\n"
            "print(sorted(m for m in ('flask', 'waitress', 'numpy', 'minigrad') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=one_thread_env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_port_in_use_is_a_one_line_error(tmp_path, model, small_cnn_config, one_thread_env):
    import socket

    from test_filters import write_run

    run = write_run(tmp_path / "run", model, small_cnn_config)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "fer.serve", str(run), "--port", str(port)],
                              env=one_thread_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "Traceback" not in done.stderr
