"""``python -m fer.report RUN [RUN ...]``: the study's answers on one page, in HTML and Markdown.

Reads the run folders (see :mod:`fer.report` for what each section takes from them),
with ``--generate`` first runs the commands whose outputs are missing, and writes
``report.html`` (one self-contained file) and ``report.md`` with its images in
``report_files/``.

    python -m fer.train --model both --out runs/study
    python -m fer.report runs/study --generate         # -> runs/study/report.html, report.md
"""
import argparse
import shlex
import sys
from pathlib import Path

from ..cli.common import UsageError, add_threads_arg, run_cli, use_threads


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.report",
        description="One self-contained HTML page (and the same as Markdown) answering the study's questions "
                    "from training runs: the CNN, the DNN and their comparison, the confusion matrix, saliency "
                    "maps with their sanity checks, filter visualisations, data, speed and configuration.",
        epilog="example: python -m fer.train --model both --out runs/study && "
               "python -m fer.report runs/study --generate")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run folder(s) of python -m fer.train, or a folder holding them (--model both "
                             "writes OUT/cnn and OUT/dnn); at most one CNN and one DNN")
    parser.add_argument("--out", help="the HTML file (default RUN/report.html for the first RUN); the Markdown "
                                      "goes next to it (report.md, images in report_files/)")
    parser.add_argument("--generate", action="store_true",
                        help="first run what is missing: python -m fer.evaluate on each run, fer.saliency "
                             "--sanity and fer.filters on the CNN")
    for step, example in (("saliency", "--per-class 2"), ("filters", "--layer conv1,conv4")):
        parser.add_argument(f"--{step}-args", default="", metavar="ARGS",
                            help=f'extra options for the generated fer.{step} step, e.g. --{step}-args="{example}"')
    add_threads_arg(parser, help="CPU threads for the generated steps")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() == ".md":
        raise UsageError("--out names the HTML file (e.g. report.html); the Markdown is written next to it")
    use_threads(args)
    from .render import render_html, render_markdown
    from .sections import build_report
    from .sources import load_runs

    runs = load_runs(args.runs)
    if args.generate:
        generate_missing(runs, args)
    blocks = build_report(runs, shlex.join(["python", "-m", "fer.report", *argv]))
    out = out or Path(args.runs[0]) / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(blocks), encoding="utf-8")
    markdown = out.with_suffix(".md")
    files_dir = out.with_name(out.stem + "_files")
    markdown.write_text(render_markdown(blocks, files_dir), encoding="utf-8")
    print(f"wrote {out} and {markdown} (its images in {files_dir})")
    return 0


def generate_missing(runs, args):
    """Run the evaluate / saliency / filters steps whose outputs a run lacks."""
    from .. import evaluate, filters, saliency
    from .sections import evaluation_file

    threads = ["--threads", str(args.threads)] if args.threads else []
    for run in runs.values():
        folder = str(run.folder)
        steps = []
        if evaluation_file(run) is None:
            steps.append((evaluate, [folder, *threads]))
        if run.role == "cnn" and not run.file("saliency/sanity.json"):
            steps.append((saliency, [folder, "--sanity", *shlex.split(args.saliency_args), *threads]))
        if run.role == "cnn" and not run.file("filters/filters.json"):
            steps.append((filters, [folder, *shlex.split(args.filters_args), *threads]))
        for module, argv in steps:
            print(f"report: python -m {module.__name__} {shlex.join(argv)}", flush=True)
            module.main(argv)


if __name__ == "__main__":
    run_cli(main)
