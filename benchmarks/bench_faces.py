"""How many 640x480 frames a second face detection plus classification keeps up with.

    python benchmarks/bench_faces.py [--threads 2] [--repeats 30]

Frames: the group photos of tests/face_photos.py (real faces on a café table), one
with a single face 112 pixels wide and one with six faces 48-112 pixels wide.
Detectors: fer.photos.faces' photo settings (``FaceDetector()``, what fer.predict uses) and
its real-time settings (``FaceDetector.realtime()``, for webcams and live video).
Models, untrained (speed does not depend on the weights): the seed CNN and the
``xception`` preset's network.  Each cell is the median of ``--repeats`` runs of
``predict_faces`` on one frame (detection, framing, one batch through the model),
as frames per second, with the share of that time spent finding the faces.
OpenCV, numba and BLAS all get ``--threads`` threads.  A measurement: asserts nothing.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from suite import timed  # noqa: E402  (median seconds of a step, after warm-up runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)

    from fer.cli.threads import limit_threads
    limit_threads(args.threads)

    from face_photos import group_photo, match
    from fer.photos.faces import FaceDetector, import_cv2, to_grey
    from fer.evaluation.inference import predict_faces
    from fer.models.networks import build_model
    from fer.models.presets import PRESETS

    import_cv2().setNumThreads(args.threads)
    frames = {"1 face": group_photo((112,)), "6 faces": group_photo()}
    detectors = {"photo": FaceDetector(), "real-time": FaceDetector.realtime()}
    models = {name: build_model(PRESETS[name]["model"], **PRESETS[name]["model_config"])
              for name in ("seed-cnn", "xception")}

    print(f"640x480 frames, {args.threads} threads, median of {args.repeats}; frames per second "
          "(share of the time spent detecting)\n")
    print("| detector | frame | faces found / false | detection alone | " +
          " | ".join(f"detection + {name}" for name in models) + " |")
    print("|---" * (4 + len(models)) + "|")
    for detector_name, detector in detectors.items():
        for frame_name, (frame, truth) in frames.items():
            found = match(detector.boxes(to_grey(frame)), truth)
            detect = timed(lambda: detector.detect(frame), 2, args.repeats)
            cells = []
            for model in models.values():
                total = timed(lambda: predict_faces(model, frame, detector), 2, args.repeats)
                cells.append(f"{1 / total:.1f} fps ({min(detect / total, 1):.0%})")
            print(f"| {detector_name} | {frame_name} | {found[0]}/{len(truth)} / {found[1]} | "
                  f"{1 / detect:.1f} fps | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
