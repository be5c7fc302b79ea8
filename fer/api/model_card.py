"""MODEL_CARD.md of a bundle, written from its manifest (:func:`fer.api.bundle.write_bundle`)."""
from __future__ import annotations

from .. import LABELS


TTA_WORDS = {
    "ten-crop": "averages the four corner and the centre crops and their mirrors",
    "ten-crop-2scale": "averages those ten crops (four corners, centre, their mirrors) and ten more of the "
                       "face shrunk to 90%",
}


def model_card(manifest: dict) -> str:
    """The model card as Markdown: what the model is, how it was trained (the exact command and
    commit), how well it does (accuracy alone and with test-time augmentation, per-class recall,
    the confusion matrix), the input it expects, and its limits."""
    training, evaluation, weights = manifest["training"], manifest["evaluation"], manifest["weights"]
    tta = evaluation["tta"]
    plain, augmented = evaluation["reports"]["none"], evaluation["reports"][tta]
    data = training.get("data") or {}
    metrics = training.get("metrics") or {}
    side = manifest["input"]["side"]
    crop = (f" The network looks at the centre {side}x{side} of it (it was trained on random {side}x{side} "
            f"crops); `--tta {tta}` {TTA_WORDS.get(tta, 'averages several views of the face')}."
            if side != manifest["input"]["shape"][1] else "")
    lines = [
        "# Model card: the bundled facial-expression model", "",
        f"A `{manifest['architecture']['model']}` network of {manifest['parameters']:,} parameters "
        f"(architecture `{_json(manifest['architecture'])}`) that labels a face with one of seven expressions: "
        + ", ".join(LABELS) + ".", "",
        "## Training", "",
        f"- Command: `{training.get('command') or 'not recorded'}`",
        f"- Commit: `{training.get('commit') or 'not recorded in the run folder'}`"
        f" (bundled at `{manifest['bundled']['commit'] or 'unknown'}` on {manifest['bundled']['date']})",
        f"- Data: {data.get('source', 'unknown')}: {data.get('train', '?')} training faces"
        + (", validated on PublicTest (the test split)" if data.get("val_is_test") else ""),
        f"- Epochs: {metrics.get('epochs_run', '?')} (weights of epoch {metrics.get('best_epoch', '?')}"
        + (", averaged over the last epochs" if metrics.get("best_is_average") else "") + "), "
        f"wall clock {_hours(metrics.get('wall_seconds'))}",
        f"- Weights: `{weights['file']}`, {weights['dtype']}, {weights['bytes']:,} bytes, "
        f"SHA-256 `{weights['sha256']}` (checked at every load)", "",
        "## Accuracy", "",
        f"On the {evaluation['split']} split of {evaluation['source']} ({plain['samples']} faces"
        + (", the built-in synthetic faces: not a measure of anything real" if evaluation.get("synthetic") else "")
        + f"): **{plain['accuracy']:.1%}** alone, **{augmented['accuracy']:.1%}** with `--tta {tta}`.  "
        f"Reproduce: `python -m fer.evaluate --tta {tta}` (with the data at hand; `--data PATH` names it).", "",
        f"| class | recall | recall, --tta {tta} | faces |", "|---|---:|---:|---:|",
        *(f"| {name} | {plain['per_class'][name]['recall']:.1%} | {augmented['per_class'][name]['recall']:.1%} "
          f"| {plain['per_class'][name]['support']} |" for name in LABELS), "",
        f"Confusion matrix with `--tta {tta}` (rows: true class, columns: predicted):", "",
        "| true \\ predicted | " + " | ".join(LABELS) + " |", "|---" * (len(LABELS) + 1) + "|",
        *(f"| {name} | " + " | ".join(str(n) for n in row) + " |"
          for name, row in zip(LABELS, augmented["confusion_matrix"])), "",
        "## Input", "",
        "One face, grey, 48x48 pixels, cut the way FER2013's faces were cut: the square of OpenCV's Haar "
        "face box, forehead to chin and cheek to cheek, hardly any hair or background.  `fer.photos.faces` does "
        "this for any photo, and `fer.predict`, `fer.serve` and `fer.EmotionRecognizer` call it; a face "
        f"cut another way (a wide crop with hair and shoulders) is not what the model learned from.{crop}", "",
        "## Limits", "",
        "- FER2013's labels are noisy: people shown its faces agree with its labels about 65% of the time "
        "(Goodfellow et al., 2013), so its accuracies are not those of clean labels.",
        "- Its faces are mostly posed expressions, found by web searches: mostly adults, mostly frontal, "
        "the skin tones, ages and cultures of the web's image results.  The model does worse on faces "
        "unlike those; by how much, for which groups, has not been measured here.",
        "- It recognises facial expressions, not feelings: a smile is not happiness, a neutral face is "
        "not an absence of emotion.",
        "- It must not be used to make decisions about people (hiring, policing, schooling, health, "
        "credit, access), nor to monitor them.", "",
    ]
    return "\n".join(lines)


def _json(value) -> str:
    import json

    return json.dumps(value, separators=(", ", ": "))


def _hours(seconds) -> str:
    if not seconds:
        return "not recorded"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
