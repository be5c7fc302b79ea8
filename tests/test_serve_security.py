"""fer.serve's security review, one test per claim: it listens on this computer only unless
told otherwise, and then warns; every answer carries nosniff and a Content-Security-Policy
that allows the page's own script only; no CORS header unless ``--cors ORIGIN`` names one
origin; an upload's file name never becomes a path; an error never echoes the upload.

That the page still works under its policy is tests/test_serve_browser.py (Chromium
enforces the header the real server sends).
"""
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from fer.serve.__main__ import build_parser, network_warning
from fer.serve.app import SECURITY_HEADERS, create_app
from fer.serve.predictor import Predictor
from test_serve import client, model, png_bytes, post  # noqa: F401 (client, model: fixtures shared with it)

pytestmark = pytest.mark.usefixtures("one_thread")

ORIGIN = "https://example.org"


def every_kind_of_answer(client):
    """(what, response) for the page, its assets, the API's answers and errors, and a 404."""
    face = png_bytes(np.full((48, 48), 128, np.uint8))
    return [("page", client.get("/")), ("script", client.get("/static/app.js")),
            ("style", client.get("/static/style.css")), ("info", client.get("/api/info")),
            ("predict", post(client, face)), ("bad upload", post(client, b"not an image", "x.png")),
            ("api 404", client.get("/api/none")), ("page 404", client.get("/none"))]


# ------------------------------------------------------------------ where it listens
def test_the_default_address_is_this_computer_only():
    assert build_parser().parse_args(["run"]).host == "127.0.0.1"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_a_loopback_address_gets_no_warning(host):
    assert network_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "myserver.local"])
def test_any_other_address_warns_that_the_network_can_use_the_page(host):
    assert network_warning(host).startswith(f"warning: listening on {host}: anyone who can reach this computer")


def test_the_command_prints_the_warning_before_it_listens(tmp_path, model, small_cnn_config, capsys, monkeypatch):
    """The warning comes before the port is bound (so a failed bind still shows it): the real
    waitress is replaced by one that refuses, and nothing ever listens on the network."""
    import waitress

    from fer.cli.common import UsageError
    from fer.serve.__main__ import main
    from test_filters import write_run

    def refuse(*args, **kwargs):
        raise OSError(99, "Cannot assign requested address")

    monkeypatch.setattr(waitress, "create_server", refuse)
    run = write_run(tmp_path / "run", model, small_cnn_config)
    with pytest.raises(UsageError, match="cannot listen on 0.0.0.0:8000"):
        main([str(run), "--host", "0.0.0.0"])   # no --threads: it would change the environment
    assert "warning: listening on 0.0.0.0: anyone who can reach" in capsys.readouterr().err


# ------------------------------------------------------------------ headers
def test_every_answer_carries_nosniff_and_the_content_security_policy(client):
    for what, response in every_kind_of_answer(client):
        assert response.headers["X-Content-Type-Options"] == "nosniff", what
        policy = dict(part.split(" ", 1) for part in response.headers["Content-Security-Policy"].split("; "))
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'", what
        assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'", what
        assert "unsafe" not in response.headers["Content-Security-Policy"], what


def test_the_page_has_no_inline_script_or_style_that_its_policy_would_block(client):
    page = client.get("/").get_data(as_text=True)
    assert page.count("<script") == 1 and '<script src="/static/app.js" defer></script>' in page
    assert "<style" not in page and "style=" not in page and "onclick" not in page.lower()


def test_no_cors_header_without_the_option(client):
    for what, response in every_kind_of_answer(client):
        assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")], what
    response = client.get("/api/info", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allows_the_one_origin_given_and_no_other(model):
    client = create_app(Predictor([model], ["small"]), cors=ORIGIN).test_client()
    response = client.get("/api/info", headers={"Origin": "https://evil.example"})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN   # not the caller's, never "*"
    preflight = client.options("/api/predict", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Origin" not in client.get("/").headers   # the page is not the API
    assert build_parser().parse_args(["run", "--cors", ORIGIN]).cors == ORIGIN


# ------------------------------------------------------------------ uploads
@pytest.mark.parametrize("name", ["../../escape.png", "/ABSOLUTE/escape.png", "..\\..\\escape.png",
                                  "sub/dir/escape.png"])
def test_an_uploaded_file_name_never_becomes_a_path(client, tmp_path, monkeypatch, name):
    (tmp_path / "deep").mkdir()
    monkeypatch.chdir(tmp_path / "deep")   # "../../escape.png" would land in tmp_path's parent's parent
    name = name.replace("/ABSOLUTE", str(tmp_path))
    good, bad = post(client, png_bytes(np.zeros((48, 48), np.uint8)), name), post(client, b"", name)
    assert good.status_code == 200 and bad.status_code == 400
    assert list(tmp_path.rglob("*")) == [tmp_path / "deep"]   # nothing written anywhere
    assert bad.get_json()["error"] == "escape.png: the file is empty (0 bytes)"


MARKER = b"SECRET-MARKER-1234"


def uploads_quoting_a_marker():
    """Broken files whose bytes carry MARKER where an error message could quote them."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(buffer, format="PNG")
    png = buffer.getvalue()
    chunk = b"mArK" + MARKER   # an unknown critical-looking chunk, with a broken checksum
    return {
        "text": b"<script>alert(1)</script>" + MARKER,
        "tiff header": b"II*\x00" + MARKER * 4,
        "tiff, big-endian": b"MM\x00*" + MARKER * 4,
        "png, bad chunk": png[:33] + len(MARKER).to_bytes(4, "big") + chunk + b"\0\0\0\0" + png[33:],
        "png, bad header": png[:16] + MARKER[:13] + png[29:],
        "gif header": b"GIF89a" + MARKER * 2,
        "bmp header": b"BM" + MARKER * 4,
        "jpeg, cut": b"\xff\xd8\xff\xe0" + MARKER * 3,
        "zlib": b"\x89PNG\r\n\x1a\n" + zlib.compress(MARKER * 8),
    }


@pytest.mark.parametrize("case", list(uploads_quoting_a_marker()))
def test_an_error_never_echoes_the_upload(client, case):
    data = uploads_quoting_a_marker()[case]
    response = post(client, data, "<img src=x onerror=alert(1)>.png")
    assert 400 <= response.status_code < 500 and response.is_json
    text = response.get_data(as_text=True)
    assert MARKER.decode() not in text and "<" not in text and ">" not in text, text
    assert "\\x" not in text and "b'" not in text, text
    assert post(client, png_bytes(np.zeros((48, 48), np.uint8))).status_code == 200


@pytest.mark.parametrize("message", ["broken PNG file (chunk {!r})", "not a TIFF file (header {!r} not valid)",
                                     "unrecognized object: {!r}"])
def test_pillows_words_keep_no_bytes_of_the_file(message):
    """Some of Pillow's messages quote the file's bytes (these three are Pillow's own); the
    reason shown keeps the words and drops the bytes, whichever quotes they come in."""
    from fer.serve.uploads import pillow_reason

    for quoted in (MARKER, MARKER + b"'", MARKER + b"'\"", b"\x00\xff" + MARKER):
        reason = pillow_reason(SyntaxError(message.format(quoted)))
        assert reason == message.replace("{!r}", "<bytes>"), reason
