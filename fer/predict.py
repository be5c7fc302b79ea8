"""``python -m fer.predict [RUN] --input FILE|FOLDER``: predict emotions with a trained model
(the model bundled in the package when no RUN is given).

* A CSV in a FER2013 layout (the course's ``test.csv``: ``id,feature``) gives a
  submission file ``id,label`` (``--output``, default ``submission.csv``); rows
  without an id are numbered from 0.  If the CSV has labels, the accuracy is printed.
* Photos (PNG, JPG, ...) and videos (MP4, AVI, ...), one or a folder of them: every
  face is found and framed as FER2013 frames its faces (:mod:`fer.photos.faces`), and each
  face gets a row ``file,face,x,y,width,height,label`` and a probability column per
  class (printed, and written to ``--output``), plus ``frame,time`` for videos.  A
  photo without a face is named on the terminal and has no row.  A video's frames
  are sampled at ``--fps``; its rows go to ``--output`` (default
  ``<input>-faces.csv``, after the video's or the folder's name) and each
  emotion's probability over time to ``<video>-emotions.png`` beside it.  ``--annotate DIR`` writes every photo (and
  video) again with each face boxed, labelled and its probability bars beside it;
  ``--saliency`` also lays each face's saliency map over it.
* Face crops (every image at most 96 pixels a side, such as FER2013's own 48x48
  files) are each one face, whole, as before: a table of the predicted emotion and
  the class probabilities per image (``image,emotion,...``), printed and written to
  ``--output``.  Images are converted the way FER2013 looks
  (``fer.data.images.read_image``: grey, centre-cropped square, 48x48).

Several RUNs average their probabilities (an ensemble), as in ``fer.evaluate``.  The loops over
photos and videos are :mod:`fer.photos.files`.
"""
import argparse
import sys
from pathlib import Path

from .cli.common import add_model_args, bare_tta_before_run, load_models, run_cli, use_threads
from .errors import DataError, UsageError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m fer.predict",
        description="Predict facial expressions with trained run(s): a submission CSV for a test.csv; every "
                    "face of photos and videos found, with its box, emotion and probabilities (a CSV row each, "
                    "annotated pictures with --annotate); face crops (48x48) predicted whole.")
    add_model_args(parser)
    parser.add_argument("--input", required=True, metavar="FILE|FOLDER",
                        help="a FER2013-style CSV (e.g. the course test.csv), a photo, a video, or a folder "
                             "of photos and videos")
    parser.add_argument("--output", metavar="CSV",
                        help="where to write the predictions (default for a CSV input: submission.csv; "
                             "with videos: <input>-faces.csv); a video's emotions-over-time plot goes beside it")
    parser.add_argument("--annotate", metavar="DIR",
                        help="write each photo and video again into DIR, every face boxed and labelled with "
                             "its probability bars beside it")
    parser.add_argument("--saliency", action="store_true",
                        help="with --annotate: lay each face's saliency map (SmoothGrad) over it")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="frames per second of video to sample (default: 5)")
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


def write_table_csv(path, names, probs):
    from . import LABELS

    with open(path, "w") as f:
        f.write("image,emotion," + ",".join(LABELS) + "\n")
        f.writelines(f"{n},{LABELS[p.argmax()]}," + ",".join(f"{v:.5f}" for v in p) + "\n"
                     for n, p in zip(names, probs))


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    use_threads(args)
    import numpy as np

    from . import LABELS
    from .evaluation.inference import predict_proba
    from .photos.files import (annotate_crops, are_face_crops, format_table, input_files, predict_photos,
                               predict_videos, write_faces_csv)

    source = Path(args.input).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or directory")
    if args.saliency and not args.annotate:
        raise UsageError("--saliency draws on the annotated pictures: give --annotate DIR too")
    if args.fps <= 0:
        raise UsageError(f"--fps must be positive, got {args.fps:g}")
    models, _ = load_models(args)
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
        return 0
    photos, videos = input_files(source)
    if not videos and are_face_crops(photos):
        images, names = read_image_input(source)
        probs = predict_proba(models, images, args.batch_size, args.tta)
        print(format_table(names, probs))
        if args.output:
            write_table_csv(args.output, names, probs)
            print(f"wrote {args.output}")
        if args.annotate:
            annotate_crops(models, source, images, names, probs, args)
        return 0
    rows = predict_photos(models, source, photos, args)
    output = Path(args.output) if args.output else Path(f"{source.stem}-faces.csv")
    video_rows, plots = predict_videos(models, source, videos, output, args) if videos else ([], [])
    if not rows and not video_rows:
        raise DataError(f"{source}: no face found" + (" in any of its files" if source.is_dir() else ""))
    if videos or args.output:
        photo_rows = [row + ["", ""] for row in rows] if videos else rows   # a photo has no frame or time
        write_faces_csv(output, photo_rows + video_rows, video=bool(videos))
        print(f"wrote {output} ({len(rows) + len(video_rows)} faces)")
    for plot in plots:
        print(f"wrote {plot}")
    if args.annotate:
        print(f"wrote the annotated {'photos and videos' if photos and videos else 'videos' if videos else 'photos'} "
              f"to {args.annotate}")
    return 0


if __name__ == "__main__":
    run_cli(main)
