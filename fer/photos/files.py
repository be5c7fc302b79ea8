"""Every face of a set of photos and videos predicted: the loops of ``python -m fer.predict``.

:func:`input_files` sorts the input into photos and videos; :func:`predict_photos` and
:func:`predict_videos` predict every face (:func:`fer.evaluation.inference.predict_faces`), print
them, write the annotated copies (``--annotate``) and return one CSV row per face
(:data:`COLUMNS`, a probability per class, and ``frame,time`` for videos) for
:func:`write_faces_csv`.  Face crops (small images that are one face already) are drawn whole
by :func:`annotate_crops`.
"""
import csv
import sys
from pathlib import Path

from ..errors import DataError


def format_table(names, probs, heading="image"):
    """One line per image (or face): its name, the predicted emotion, then each class's probability."""
    from .. import LABELS

    width = max(len(heading), *(len(n) for n in names))
    lines = [f"{heading:<{width}}  {'emotion':<9}" + "".join(f"{label:>9}" for label in LABELS)]
    for name, p in zip(names, probs):
        lines.append(f"{name:<{width}}  {LABELS[p.argmax()]:<9}" + "".join(f"{v:>9.3f}" for v in p))
    return "\n".join(lines)


def input_files(source):
    """(photos, videos) under ``source``: the file itself, or every image and video file
    under the folder, sorted."""
    from ..data.images import is_image_file
    from .video import is_video_file

    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    photos = [f for f in files if is_image_file(f) or not (source.is_dir() or is_video_file(f))]
    videos = [f for f in files if is_video_file(f)]
    if source.is_dir() and not photos and not videos:
        raise DataError(f"{source}: no image or video files in this folder")
    return photos, videos


def are_face_crops(photos):
    """Whether every photo is small enough to be a face already cut out (fer.photos.faces.CROP_MAX);
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
    from .. import LABELS
    from .faces import read_photo, to_grey, whole_face
    from ..evaluation.inference import FacePrediction

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
    from .. import LABELS

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
    from ..evaluation.inference import predict_faces

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

    from .. import LABELS
    from .video import plot_emotions_over_time, predict_video

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
