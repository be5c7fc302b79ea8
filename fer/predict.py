"""``python -m fer.predict [RUN] --input FILE|FOLDER``: predict emotions with a trained model
(the model bundled in the package when no RUN is given).

* A CSV in a FER2013 layout (the course's ``test.csv``: ``id,feature``) gives a
  submission file ``id,label`` (``--output``, default ``submission.csv``); rows
  without an id are numbered from 0.  If the CSV has labels, the accuracy is printed.
* Photos (PNG, JPG, ...) and videos (MP4, AVI, ...), one or a folder of them: every
  face is found and framed as FER2013 frames its faces (:mod:`fer.faces`), and each
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

Several RUNs average their probabilities (an ensemble), as in ``fer.evaluate``.
"""
import argparse
import csv
import sys
from pathlib import Path

from .cli_common import add_model_args, bare_tta_before_run, load_models, run_cli, use_threads
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


def format_table(names, probs, heading="image"):
    """One line per image (or face): its name, the predicted emotion, then each class's probability."""
    from . import LABELS

    width = max(len(heading), *(len(n) for n in names))
    lines = [f"{heading:<{width}}  {'emotion':<9}" + "".join(f"{label:>9}" for label in LABELS)]
    for name, p in zip(names, probs):
        lines.append(f"{name:<{width}}  {LABELS[p.argmax()]:<9}" + "".join(f"{v:>9.3f}" for v in p))
    return "\n".join(lines)


def write_table_csv(path, names, probs):
    from . import LABELS

    with open(path, "w") as f:
        f.write("image,emotion," + ",".join(LABELS) + "\n")
        f.writelines(f"{n},{LABELS[p.argmax()]}," + ",".join(f"{v:.5f}" for v in p) + "\n"
                     for n, p in zip(names, probs))


def input_files(source):
    """(photos, videos) under ``source``: the file itself, or every image and video file
    under the folder, sorted."""
    from .data.images import is_image_file
    from .video import is_video_file

    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    photos = [f for f in files if is_image_file(f) or not (source.is_dir() or is_video_file(f))]
    videos = [f for f in files if is_video_file(f)]
    if source.is_dir() and not photos and not videos:
        raise DataError(f"{source}: no image or video files in this folder")
    return photos, videos


def are_face_crops(photos):
    """Whether every photo is small enough to be a face already cut out (fer.faces.CROP_MAX);
    an unreadable file does not count against it."""
    from PIL import Image

    from .faces import CROP_MAX

    for photo in photos:
        try:
            with Image.open(photo) as im:
                if max(im.size) > CROP_MAX:
                    return False
        except OSError:
            continue
    return True


def annotate_crops(models, source, images, names, probs, args):
    """--annotate for face crops: each crop drawn as one face, the whole picture."""
    from . import LABELS
    from .faces import read_photo, to_grey, whole_face
    from .inference import FacePrediction

    for face, name, p in zip(images[:, 0], names, probs):
        file = source / name if source.is_dir() else source
        photo = read_photo(file)
        predictions = [FacePrediction(whole_face(to_grey(photo)).box, LABELS[p.argmax()], p, face)]
        write_annotated(models, args, source, file, photo, predictions)


# ------------------------------------------------------------------ faces in photos and videos
COLUMNS = ("file", "face", "x", "y", "width", "height", "label")


def face_rows(name, predictions, frame=None, time=None):
    """One CSV row (a list of strings) per face: COLUMNS, the probabilities, and for a
    video frame its index and time."""
    rows = []
    for k, p in enumerate(predictions):
        row = [name, str(k), *map(str, p.box), p.label, *(f"{v:.5f}" for v in p.probabilities)]
        rows.append(row + ([str(frame), f"{time:.3f}"] if frame is not None else []))
    return rows


def write_faces_csv(path, rows, video=False):
    from . import LABELS

    header = [*COLUMNS, *LABELS, *(("frame", "time") if video else ())]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def display_name(source, file):
    """How a file is named in the table and the CSV: its path under the input folder."""
    return str(file.relative_to(source)) if source.is_dir() else file.name


def write_annotated(models, args, source, file, photo, predictions):
    """--annotate: ``photo`` drawn with its predictions (and --saliency maps) into the folder."""
    from PIL import Image

    from .annotate import draw_annotations, face_saliency

    maps = face_saliency(models, predictions) if args.saliency else None
    target = annotated_path(args.annotate, source, file)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw_annotations(photo, predictions, maps)).save(target)


def annotated_path(annotate_dir, source, file, suffix=None):
    """Where --annotate writes ``file``: its path under ``source`` (or its name) in
    ``annotate_dir``; never the input itself."""
    target = Path(annotate_dir) / display_name(source, file)
    if suffix:
        target = target.with_suffix(suffix)
    if target.resolve() == file.resolve():
        raise DataError(f"{file}: --annotate {annotate_dir} would overwrite the input; choose another folder")
    return target


def predict_photos(models, source, photos, args):
    """CSV rows for every face of every photo; prints each face, names each photo
    without a face, writes the annotated photos."""
    from .faces import read_photo
    from .inference import predict_faces

    rows, table_names, table_probs = [], [], []
    for file in photos:
        name = display_name(source, file)
        try:
            image = read_photo(file)
        except DataError as error:
            if not source.is_dir():
                raise
            print(f"note: skipped {error}", file=sys.stderr)
            continue
        predictions = predict_faces(models, image, tta=args.tta)
        if not predictions:
            print(f"{name}: no face found", file=sys.stderr)
        rows += face_rows(name, predictions)
        for k, p in enumerate(predictions):
            table_names.append(f"{name} #{k} {tuple(p.box)}")
            table_probs.append(p.probabilities)
        if args.annotate:
            write_annotated(models, args, source, file, image, predictions)
    if table_names:
        print(format_table(table_names, table_probs, heading="face"))
    return rows


def predict_videos(models, source, videos, output, args):
    """CSV rows for every face of every sampled frame of each video; draws each
    video's emotions over time beside ``output`` (the CSV), writes the annotated videos."""
    import numpy as np

    from . import LABELS
    from .plots import plot_emotions_over_time
    from .video import predict_video

    rows, plots = [], []
    for file in videos:
        name = display_name(source, file)
        target = annotated_path(args.annotate, source, file, ".avi" if file.suffix.lower() == ".avi" else ".mp4") \
            if args.annotate else None
        frames = predict_video(models, file, args.fps, tta=args.tta, annotate_to=target, saliency=args.saliency)
        with_faces = [predictions for _, _, predictions in frames if predictions]
        for index, time, predictions in frames:
            rows += face_rows(name, predictions, index, time)
        if not with_faces:
            print(f"{name}: no face found in any of its {len(frames)} sampled frames", file=sys.stderr)
            continue
        times = np.array([time for _, time, _ in frames])
        means = np.array([np.mean([p.probabilities for p in predictions], axis=0) if predictions
                          else np.full(len(LABELS), np.nan) for _, _, predictions in frames])
        plots.append(plot_emotions_over_time(times, means, output.parent / f"{file.stem}-emotions.png",
                                             title=name))
        labels = [p.label for predictions in with_faces for p in predictions]
        common = max(LABELS, key=labels.count)
        print(f"{name}: {len(frames)} frames sampled ({args.fps:g} a second), faces in {len(with_faces)}, "
              f"mostly {common} ({labels.count(common) / len(labels):.0%} of {len(labels)} faces)")
    return rows, plots


def main(argv=None):
    args = build_parser().parse_args(bare_tta_before_run(argv))
    use_threads(args)
    import numpy as np

    from . import LABELS
    from .inference import predict_proba

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
