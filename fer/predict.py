"""``python -m fer.predict RUN --input FILE|FOLDER|IMAGE``: predict emotions with a trained model.

* A CSV in a FER2013 layout (the course's ``test.csv``: ``id,feature``) gives a
  submission file ``id,label`` (``--output``, default ``submission.csv``); rows
  without an id are numbered from 0.  If the CSV has labels, the accuracy is printed.
* An image (PNG, JPG, ... any size, colour or grey) or a folder of them gives a
  table of the predicted emotion and the class probabilities per image, printed
  and, with ``--output``, written as CSV.  Images are converted the way FER2013
  looks (``fer.data.images.read_image``: grey, centre-cropped square, 48x48).

Several RUNs average their probabilities (an ensemble), as in ``fer.evaluate``.
"""
import argparse
import sys

from .cli_common import add_model_args, bare_tta_before_run, run_cli, use_threads


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.predict",
        description="Predict facial expressions with trained run(s): a submission CSV for a test.csv, or "
                    "per-image emotions and probabilities for an image or a folder of images.")
    add_model_args(parser)
    parser.add_argument("--input", required=True, metavar="FILE|FOLDER|IMAGE",
                        help="a FER2013-style CSV (e.g. the course test.csv), an image file, or a folder of images")
    parser.add_argument("--output", metavar="CSV",
                        help="where to write the predictions (default for a CSV input: submission.csv)")
    return parser


def is_csv(path):
    return path.name.lower().endswith((".csv", ".csv.gz"))


def read_csv_input(path):
    """(images (N, 1, 48, 48), ids (N,), labels (N,) with -1 where unknown), every
    split of the file in order."""
    import numpy as np

    from .data import load_file

    parts = list(load_file(path).values())
    images = np.concatenate([p.images for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    if all(p.ids is not None for p in parts):
        ids = np.concatenate([p.ids for p in parts])
    else:
        ids = np.arange(len(images))
    return images, ids, labels


def read_image_input(path):
    """(images (N, 1, 48, 48), names) of one image or every image under a folder.
    Unreadable files in a folder are skipped with a note."""
    import numpy as np

    from .data import DataError
    from .data.images import is_image_file, read_image

    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        if not files:
            raise DataError(f"{path}: no image files in this folder")
    else:
        files = [path]
    images, names = [], []
    for file in files:
        try:
            images.append(read_image(file))
        except DataError as error:
            if not path.is_dir():
                raise
            print(f"note: skipped {error}", file=sys.stderr)
            continue
        names.append(str(file.relative_to(path)) if path.is_dir() else file.name)
    if not images:
        raise DataError(f"{path}: none of the images could be read")
    return np.stack(images)[:, None], names


def write_submission(path, ids, predictions):
    with open(path, "w") as f:
        f.write("id,label\n")
        f.writelines(f"{i},{p}\n" for i, p in zip(ids, predictions))


def format_table(names, probs):
    """One line per image: its name, the predicted emotion, then each class's probability."""
    from . import LABELS

    width = max(len("image"), *(len(n) for n in names))
    lines = [f"{'image':<{width}}  {'emotion':<9}" + "".join(f"{label:>9}" for label in LABELS)]
    for name, p in zip(names, probs):
        lines.append(f"{name:<{width}}  {LABELS[p.argmax()]:<9}" + "".join(f"{v:>9.3f}" for v in p))
    return "\n".join(lines)


def write_table_csv(path, names, probs):
    from . import LABELS

    with open(path, "w") as f:
        f.write("image,emotion," + ",".join(LABELS) + "\n")
        f.writelines(f"{n},{LABELS[p.argmax()]}," + ",".join(f"{v:.5f}" for v in p) + "\n"
                     for n, p in zip(names, probs))


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    use_threads(args)
    from pathlib import Path

    import numpy as np

    from . import LABELS
    from .data import DataError
    from .inference import predict_proba
    from .runs import load_model

    source = Path(args.input).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or directory")
    models = [load_model(run, args.checkpoint)[0] for run in args.runs]
    if is_csv(source):
        images, ids, labels = read_csv_input(source)
        predictions = predict_proba(models, images, args.batch_size, args.tta).argmax(axis=1)
        output = args.output or "submission.csv"
        write_submission(output, ids, predictions)
        counts = np.bincount(predictions, minlength=len(LABELS))
        print(f"predicted {len(predictions)} faces: "
              + ", ".join(f"{label} {n}" for label, n in zip(LABELS, counts)))
        if (labels >= 0).all():
            print(f"accuracy against the file's labels: {np.mean(predictions == labels):.2%}")
        print(f"wrote {output} (id,label)")
    else:
        images, names = read_image_input(source)
        probs = predict_proba(models, images, args.batch_size, args.tta)
        print(format_table(names, probs))
        if args.output:
            write_table_csv(args.output, names, probs)
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
