"""``python -m fer.serve [RUN ...]``: serve the page on http://127.0.0.1:8000/ (without RUN: the
model bundled in the package).

Flask builds the application, waitress serves it: a production WSGI server in pure
Python (Flask's own server is for development and says so on every start).  Several
RUNs form an ensemble, as in ``fer.evaluate``.  Binding to an address other than a
loopback one puts the page, and the models, on the network: the command says so
(:func:`network_warning`).  ``--cors ORIGIN`` lets that one other site's scripts call
the API; without it, no CORS header is sent and browsers keep other sites out.
"""
import argparse
import ipaddress
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
    parser.add_argument("--cors", metavar="ORIGIN",
                        help="let the scripts of this one other site (e.g. https://example.org) call the API "
                             "(default: none, only the page itself)")
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


def network_warning(host: str) -> str | None:
    """The warning for listening on ``host``, or None for a loopback address (this computer only)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:   # a host name: it may resolve to any address
        loopback = False
    if loopback:
        return None
    return (f"warning: listening on {host}: anyone who can reach this computer over the network can use "
            "the page and its API (no password); the default --host 127.0.0.1 keeps it on this computer")


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
                     max_pixels=round(args.max_megapixels * 1e6), cors=args.cors)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    warning = network_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        server = create_server(app, host=args.host, port=args.port, threads=SERVER_THREADS)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); "
                         "try another --port") from None
    # after binding the port, so that a port in use is reported at once
    print("warming up (the first start compiles numba's kernels, which can take a minute)",
          file=sys.stderr, flush=True)
    predictor.warm_up()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {', '.join(names)} on http://{host}:{server.effective_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    run_cli(main)
