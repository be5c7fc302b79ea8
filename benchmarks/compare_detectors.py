"""Which Haar cascade and settings find faces best: faces found and false faces.

    python benchmarks/compare_detectors.py [--fer PATH] [--no-face-dir DIR]

Photos measured (a found box is a true face when it overlaps one by IoU >= 0.4):

- the portraits in tests/data (astronaut, Grace Hopper) and group photos composed
  from them on a café table (tests/face_photos.py), faces 32 to 112 pixels wide,
  plus the café table alone (no face);
- with FER2013 at hand (../shared/data/fer2013/fer2013.csv.gz or --fer), group
  photos of its faces: 6 a photo, scaled to 64-128 pixels, on the same table;
- with --no-face-dir, every image in that folder counts as a photo without faces.
  The table in docs/RESULTS.md used 22 of scikit-image 0.26's sample pictures (textures, a
  cat, coins, a rocket, a page, ...: every picture of its wheel's skimage/data but
  astronaut and camera, which show people, and the tiny or multi-page ones) and
  matplotlib's sample_data/Minduka_Present_Blue_Pack.png:

      pip download --no-deps scikit-image==0.26.0 -d /tmp/sk
      unzip -j /tmp/sk/scikit_image-*.whl 'skimage/data/*' -d /tmp/sk/data
      mkdir /tmp/noface && cd /tmp/sk/data && cp brick.png cell.png chelsea.png coffee.png \
          coins.png color.png grass.png gravel.png horse.png hubble_deep_field.jpg ihc.png \
          logo.png moon.png motorcycle_left.png motorcycle_right.png page.png retina.jpg \
          rocket.jpg text.png clock_motion.png microaneurysms.png phantom.png /tmp/noface/
      cp "$(python -c 'import matplotlib; print(matplotlib.get_data_path())')/sample_data/Minduka_Present_Blue_Pack.png" /tmp/noface/

Prints one table row per cascade and setting; asserts nothing.  With FER2013 at
hand it first measures FER2013's framing (fer.photos.faces.FRAMING): how much larger its
48x48 square is than the Haar box the detector finds in it.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from face_photos import framing_ratio, group_photo, load, match, PORTRAITS  # noqa: E402
from fer.photos.faces import FaceDetector, import_cv2  # noqa: E402

REAL_FILE = ROOT.parent / "shared/data/fer2013/fer2013.csv.gz"

CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
            "haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_alt_tree.xml")


def shipped_photos():
    """[(name, RGB image, true boxes)]: the portraits, 12 group photos, the table alone."""
    photos = [(name, load(name), [box]) for name, box in PORTRAITS.items()]
    sizes = [(48, 64, 80, 96, 112, 56), (32, 40, 48, 56, 64, 72), (100, 60, 36, 84, 44, 110)]
    for seed in range(4):
        for k, face_sizes in enumerate(sizes):
            photos.append((f"group{k}-{seed}", *group_photo(face_sizes, seed=seed)))
    photos.append(("coffee.jpg", load("coffee.jpg"), []))
    return photos


def fer_group_photos(path, count=30, seed=0):
    """[(name, grey image, true boxes)]: ``count`` photos of 6 FER2013 faces each,
    every face its whole 48x48 square (= the Haar box, see fer.photos.faces.FRAMING), scaled up."""
    import pandas as pd

    cv2 = import_cv2()
    rng = np.random.default_rng(seed)
    rows = pd.read_csv(path, nrows=6 * count)
    faces = [np.array(p.split(), np.uint8).reshape(48, 48) for p in rows.pixels]
    with Image.open(ROOT / "tests/data/coffee.jpg") as im:
        table = np.array(im.convert("L").resize((640, 480), Image.Resampling.BILINEAR))
    photos = []
    for n in range(count):
        photo, boxes = table.copy(), []
        for k in range(6):
            side = int(rng.integers(64, 129))
            left = (k % 3) * 213 + int(rng.integers(0, 213 - side))
            top = (k // 3) * 240 + int(rng.integers(0, 240 - side))
            photo[top:top + side, left:left + side] = cv2.resize(faces[6 * n + k], (side, side),
                                                                  interpolation=cv2.INTER_CUBIC)
            boxes.append((left, top, side, side))
        photos.append((f"fer{n}", photo, boxes))
    return photos


def measure_framing(path, count=3000):
    """Print the side of FER2013's square over the side of the Haar box in it, over
    the first ``count`` faces, for each frontal cascade."""
    import pandas as pd

    faces = [np.array(p.split(), np.uint8).reshape(48, 48) for p in pd.read_csv(path, nrows=count).pixels]
    for cascade in CASCADES[:3]:
        detector = FaceDetector(cascade, scale_factor=1.05, min_neighbors=3, min_size=0.25, detect_width=None)
        ratios = [r for r in (framing_ratio(face, detector) for face in faces) if r is not None]
        low, median, high = np.percentile(ratios, [25, 50, 75])
        print(f"framing, {cascade}: found in {len(ratios)} of {len(faces)} faces; square / box: "
              f"median {median:.3f}, quartiles {low:.3f} and {high:.3f}", flush=True)


def folder_photos(folder):
    photos = []
    for file in sorted(Path(folder).iterdir()):
        try:
            with Image.open(file) as im:
                photos.append((file.name, np.array(im.convert("RGB")), []))
        except OSError:
            continue
    return photos


def with_eyes(detector, eyes):
    """A detect function that keeps a face only if an eye is found in its upper half."""
    def boxes(grey):
        kept = []
        for x, y, w, h in detector.boxes(grey):
            upper = grey[y:y + h // 2, x:x + w]
            if len(eyes.detectMultiScale(upper, 1.1, 3, minSize=(max(4, w // 8),) * 2)):
                kept.append((x, y, w, h))
        return kept
    return boxes


def measure(detect, sets):
    """{set name: (found, true faces, false faces)} and seconds per pixel."""
    from fer.photos.faces import to_grey

    results, seconds, pixels = {}, 0.0, 0
    for set_name, photos in sets.items():
        found = total = false = 0
        for _, image, truth in photos:
            grey = to_grey(image)
            start = time.perf_counter()
            boxes = detect(grey)
            seconds += time.perf_counter() - start
            pixels += grey.size
            hits, misses = match(boxes, truth)
            found, total, false = found + hits, total + len(truth), false + misses
        results[set_name] = (found, total, false)
    return results, seconds / pixels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer", default=str(REAL_FILE))
    parser.add_argument("--no-face-dir")
    parser.add_argument("--quick", action="store_true", help="only the default cascade, 3 and 5 neighbours")
    args = parser.parse_args()
    cv2 = import_cv2()
    cv2.setNumThreads(2)
    cascades = CASCADES[:1] if args.quick else CASCADES
    sets = {"shipped": shipped_photos()}
    if Path(args.fer).exists():
        measure_framing(args.fer)
        sets["FER2013 groups"] = fer_group_photos(args.fer)
    if args.no_face_dir:
        sets["no-face photos"] = folder_photos(args.no_face_dir)
    variants = [dict(cascade=cascade, min_neighbors=n) for cascade in cascades for n in (3, 5)]
    if not args.quick:
        for cascade in CASCADES[:1] + CASCADES[2:3]:                    # default and alt2
            variants += [dict(cascade=cascade, scale_factor=scale) for scale in (1.05, 1.2)]
            variants += [dict(cascade=cascade, min_neighbors=n) for n in (4, 6)]
    variants += [dict(min_neighbors=3, eyes=True), dict(realtime=True)]
    eyes = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")

    print("| cascade | scale factor | min neighbours | smallest face | searched at | eye check | " +
          " | ".join(f"{name}: found / false" for name in sets) + " | ms per 640x480 |")
    print("|---" * (7 + len(sets)) + "|")
    for settings in variants:
        eye_check = settings.pop("eyes", False)
        detector = FaceDetector.realtime() if settings.pop("realtime", False) else FaceDetector(**settings)
        detect = with_eyes(detector, eyes) if eye_check else detector.boxes
        results, seconds_per_pixel = measure(detect, sets)
        cells = " | ".join(f"{f}/{t} / {false}" for f, t, false in results.values())
        name = detector.cascade.removeprefix("haarcascade_frontalface_").removesuffix(".xml")
        print(f"| {name} | {detector.scale_factor} | {detector.min_neighbors} | "
              f"{detector.min_size:.0%} of the height, >= {detector.min_pixels} px | "
              f"{detector.detect_width or 'full'} px wide | {'yes' if eye_check else 'no'} | {cells} | "
              f"{seconds_per_pixel * 640 * 480 * 1000:.1f} |", flush=True)


if __name__ == "__main__":
    main()
