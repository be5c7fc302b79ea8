"""The Flask application: the page, its static files and the JSON API it uses.

Routes (``docs/serve.md`` documents the API for other clients):

    GET  /              the page (static/index.html)
    GET  /static/...    its script and style sheet; nothing comes from the internet
    GET  /api/info      the labels, the models, the saliency methods and the upload limits
    POST /api/predict   multipart field ``image`` (and ``saliency=METHOD`` for maps,
                        ``detector=live`` for the faster detector settings of video):
                        {"faces": [{"box", "label", "probabilities"}, ...], "image", "timing_ms"}

Every answer under /api is JSON, errors included: ``{"error": "<what went wrong>"}``
with a 4xx status for a bad request (400 a missing, empty or broken upload or an
unknown option, 413 too many bytes or pixels or a decompression bomb, 415 not an
image) and 500 for a fault of the server, which is logged with its traceback and never
shown to the client.

Every answer carries :data:`SECURITY_HEADERS`: the browser takes each file for the type
the server says (no sniffing an upload's answer into a page), runs only the page's own
script, fetches only from this server, and shows the page in no other site's frame.
Other sites' scripts may not read the API (no CORS headers) unless ``cors`` names one
origin, which alone is then allowed.  An upload's file name only ever appears, cleaned
(:func:`fer.serve.uploads.display_name`), in an error message; it never names a path.
"""
from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from .. import LABELS
from .predictor import DETECTORS, SALIENCY_METHODS, SaliencyError, milliseconds
from .uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, UploadError, display_name, read_upload

STATIC = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",           # anything not named below is refused
    "script-src 'self'",            # static/app.js only: no inline script, no eval
    "style-src 'self'",             # static/style.css (app.js sets element.style, which CSP allows)
    "img-src 'self' data: blob:",   # the chosen photo (blob:) and the saliency overlays (data:)
    "media-src 'self' blob: mediastream:",   # the webcam's stream
    "connect-src 'self'",           # fetch() to this server's API only
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",          # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
}


def create_app(predictor, max_upload_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS,
               cors: str | None = None) -> Flask:
    """The application serving ``predictor`` (a :class:`fer.serve.predictor.Predictor`);
    ``cors``: the one origin (``https://example.org``) whose scripts may call the API, or None."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes
    app.json.sort_keys = False   # keep the probabilities in LABELS order

    @app.after_request
    def secure(response):
        response.headers.update(SECURITY_HEADERS)
        if cors is not None and request.path.startswith("/api/"):
            response.headers["Access-Control-Allow-Origin"] = cors
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":   # a browser's preflight before a cross-origin POST
                response.headers["Access-Control-Allow-Methods"] = "GET, POST"
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    @app.get("/")
    def page():
        return app.send_static_file("index.html")

    @app.get("/api/info")
    def info():
        return jsonify(labels=list(LABELS), models=predictor.names, tta=predictor.tta,
                       saliency_methods=list(SALIENCY_METHODS), detectors=list(DETECTORS),
                       limits={"max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels})

    @app.post("/api/predict")
    def predict():
        started = time.perf_counter()
        upload = request.files.get("image")   # reading the form enforces MAX_CONTENT_LENGTH
        if upload is None:
            raise UploadError(400, "no image: send the photo as the multipart form field 'image'")
        saliency = request.form.get("saliency") or None
        if saliency is not None and saliency not in SALIENCY_METHODS:
            raise SaliencyError(f"unknown saliency method {saliency!r}; choose from {', '.join(SALIENCY_METHODS)}")
        detector = request.form.get("detector") or "photo"
        if detector not in DETECTORS:
            raise BadRequest(f"unknown detector {detector!r}; choose from {', '.join(DETECTORS)}")
        image = read_upload(upload.read(), display_name(upload.filename), max_pixels)
        decoded = time.perf_counter()
        answer = predictor.predict(image, saliency, detector)
        timing = {"decode": milliseconds(decoded - started), **answer["timing_ms"],
                  "total": milliseconds(time.perf_counter() - started)}
        return jsonify(faces=answer["faces"], image={"width": image.shape[1], "height": image.shape[0]},
                       timing_ms=timing)

    @app.errorhandler(UploadError)
    def refused(error):
        return jsonify(error=str(error)), error.status

    @app.errorhandler(SaliencyError)
    def no_saliency(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return jsonify(error=f"the upload is over the limit of {max_upload_bytes / 2**20:g} MiB"), 413

    @app.errorhandler(HTTPException)
    def http_error(error):
        if not request.path.startswith("/api/"):
            return error   # the page's own 404s stay ordinary pages
        return jsonify(error=f"{error.name}: {error.description}"), error.code

    @app.errorhandler(Exception)
    def server_fault(error):
        app.logger.exception("%s %s failed", request.method, request.path)
        return jsonify(error=f"internal error ({type(error).__name__}); the server log has the details"), 500

    return app
