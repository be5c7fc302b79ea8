"""Videos: frames sampled at a chosen rate, every face of each one predicted.

:func:`sample_frames` reads a video file with OpenCV and yields one frame per
``1 / fps`` seconds of video (a 30 fps clip at ``fps=5`` gives every sixth frame).
:func:`predict_video` predicts the faces of each sampled frame (a progress bar
shows how far it is), and can write the annotated frames as a video of their own
(:class:`AnnotatedVideo`).  ``fer.predict`` writes its rows to the CSV and draws
each emotion's probability over time (:func:`plot_emotions_over_time`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from .faces import import_cv2

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


def is_video_file(path) -> bool:
    """Whether the name has a common video extension (the file is not opened)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def open_video(path):
    """(an opened cv2.VideoCapture, frames per second, frame count or 0 if unknown);
    DataError naming the file if OpenCV cannot open it or finds no frame rate."""
    cv2 = import_cv2()
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot read the video (not a video file, or a format OpenCV cannot decode)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not fps or not math.isfinite(fps) or fps <= 0:
        capture.release()
        raise DataError(f"{path}: cannot read the video (it states no frame rate)")
    return capture, fps, max(count, 0)


def sample_frames(capture, video_fps: float, fps: float, path):
    """Yield (frame index, time in seconds, RGB frame (H, W, 3) uint8) every ``1 / fps``
    seconds of the video ``path`` opened as ``capture`` (every frame if it has fewer)."""
    cv2 = import_cv2()
    index, next_time = 0, 0.0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        time = index / video_fps
        if time + 1e-9 >= next_time:
            yield index, time, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            next_time += 1 / fps
        index += 1
    if index == 0:
        raise DataError(f"{path}: cannot read the video (no frame could be decoded)")


class AnnotatedVideo:
    """A video file written frame by frame (RGB arrays), at ``fps``; its size is the
    first frame's.  ``.mp4`` gets the MPEG-4 codec, ``.avi`` Motion JPEG."""

    def __init__(self, path, fps: float):
        self.path, self.fps, self.writer = Path(path), fps, None

    def write(self, frame: np.ndarray):
        cv2 = import_cv2()
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            codec = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            size = (frame.shape[1], frame.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps, size)
            if not self.writer.isOpened():
                raise DataError(f"{self.path}: cannot write a video here")
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self):
        if self.writer is not None:
            self.writer.release()


def predict_video(models, path, fps: float = 5.0, detector=None, tta: str = "none", annotate_to=None,
                  saliency: bool = False, progress: bool = True):
    """[(frame index, time in seconds, [FacePrediction, ...])] for each sampled frame
    (an empty list where no face was found).  With ``annotate_to`` (a video path),
    each sampled frame is drawn with its faces (and saliency maps) into that video."""
    from tqdm import tqdm

    from .annotate import draw_annotations, face_saliency
    from ..evaluation.inference import predict_faces

    capture, video_fps, count = open_video(path)
    fps = min(fps, video_fps)
    results = []
    writer = AnnotatedVideo(annotate_to, fps) if annotate_to else None
    expected = math.ceil(count / video_fps * fps - 1e-9) if count else None
    bar = tqdm(total=expected, unit="frame", desc=Path(path).name, disable=not progress)
    try:
        for index, time, frame in sample_frames(capture, video_fps, fps, path):
            predictions = predict_faces(models, frame, detector, tta)
            results.append((index, time, predictions))
            if writer:
                maps = face_saliency(models, predictions) if saliency else None
                writer.write(draw_annotations(frame, predictions, maps))
            bar.update()
    finally:
        capture.release()
        bar.close()
        if writer:
            writer.close()
    return results


def plot_emotions_over_time(times, probabilities, path, title=""):
    """Each emotion's probability against the time in the video, one line per emotion.

    ``times``: (T,) seconds of the sampled frames; ``probabilities``: (T, 7), each
    frame's probabilities averaged over its faces, NaN where it had none (the lines
    break there).
    """
    from .. import LABELS
    from ..evaluation.charts import pyplot, save_figure
    from .annotate import COLOURS

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    for k, label in enumerate(LABELS):
        ax.plot(times, probabilities[:, k], "-", marker="o" if len(times) < 40 else None, markersize=3,
                label=label, color=np.array(COLOURS[label]) / 255)
    ax.set_xlabel("time in the video (s)")
    ax.set_ylabel("probability (mean over the frame's faces)")
    ax.set_xlim(0, max(times[-1], 0.1) if len(times) else 1)   # the whole video, frames without faces too
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
