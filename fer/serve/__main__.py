"""``python -m fer.serve [RUN ...]``: serve the page on http://127.0.0.1:8000/ (without RUN: the
model bundled in the package).

Flask builds the application, waitress serves it: a production WSGI server in pure
Python (Flask's own server is for development and says so on every start).  Several
RUNs form an ensemble, as in ``fer.evaluate``.  Binding to an address other than the
loopback one puts the page, and the models, on the network: ``--host`` says so.
"""
import argparse
import sys

from ..cli.common import UsageError, add_model_args, bare_tta_before_run, load_models, run_cli, use_threads

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
SERVER_THREADS = 4
"""waitress's worker threads: uploads are read and decoded side by side, the models take turns."""


def build_parser():
    from .uploads import MAX_PIXELS, MAX_UPLOAD_BYTES

    parser = argparse.ArgumentParser(
        prog="python -m fer.serve",
        description="A local web page for trained run(s): drop a photo or turn on the webcam, and every "
                    "face found is boxed and labelled, with its emotion probabilities and, on demand, its "
                    "saliency map. The page's JSON API (POST /api/predict) serves other programs too.")
    add_model_args(parser, batch_size=False)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this computer only; "
                             "0.0.0.0 opens the page to the network)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--max-upload-mb", type=positive, default=MAX_UPLOAD_BYTES / 2**20, metavar="MB",
                        help=f"largest upload accepted, in MiB (default {MAX_UPLOAD_BYTES / 2**20:g})")
    parser.add_argument("--max-megapixels", type=positive, default=MAX_PIXELS / 1e6, metavar="MP",
                        help=f"largest image accepted, in megapixels (default {MAX_PIXELS / 1e6:g})")
    return parser


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    use_threads(args)
    import logging

    from waitress import create_server

    from .app import create_app
    from .predictor import Predictor

    models, names = load_models(args)
    predictor = Predictor(models, names=names, tta=args.tta)
    app = create_app(predictor, max_upload_bytes=round(args.max_upload_mb * 2**20),
                     max_pixels=round(args.max_megapixels * 1e6))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        server = create_server(app, host=args.host, port=args.port, threads=SERVER_THREADS)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); "
                         "try another --port") from None
    # after binding the port, so that a port in use is reported at once
    print("warming up (the first start compiles numba's kernels, which can take a minute)",
          file=sys.stderr, flush=True)
    predictor.warm_up()
    if args.host not in (DEFAULT_HOST, "localhost", "::1"):
        print(f"note: listening on {args.host}: anyone who can reach this computer can use the page",
              file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {', '.join(names)} on http://{host}:{server.effective_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    run_cli(main)
