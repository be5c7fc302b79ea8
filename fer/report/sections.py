"""The sections that fill the report: each answers one of the study's questions from
the files the commands leave in the run folders (see :mod:`fer.report`), or says
what is missing and which command makes it.

:func:`build_report` puts them together: the data source first (a synthetic run says
so before anything else), then the answers at a glance, then each section.
"""
import json
import math
import statistics
import time

from .. import LABELS
from ..explain.options import METHODS
from .document import Bullets, Code, Heading, Note, Paragraph, Section, Table, missing

SEED_REPORT = "the report this project re-does got about 60% (CNN) and 30% (DNN) on FER2013"


# =============================================================== numbers in words
def pct(x):
    return f"{x:.1%}"


def duration(seconds):
    minutes, s = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {s:02d} s" if minutes else f"{seconds:.2g} s"


def headline_accuracy(run, split=None):
    """(accuracy, split name, images) of a run's best weights: the test split when it
    was scored (or ``split`` asks for it), else the validation split; None if neither."""
    metrics = run.json("metrics.json") or {}
    if split in (None, "test") and metrics.get("test_acc") is not None:
        return metrics["test_acc"], "test", metrics.get("test_samples") or run.config["data"]["test"]
    if metrics.get("best_val_acc") is not None:
        return metrics["best_val_acc"], "validation", run.config["data"]["val"]
    return None


def standard_error(accuracy, n):
    """Binomial standard error of an accuracy measured on ``n`` images."""
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan")


# =============================================================== 1-2: the models
def model_blocks(run):
    """Summary table, training curves and accuracy of one run."""
    data = run.config["data"]
    blocks = [Paragraph(f"Run `{run.folder}`: model `{run.model}`, {run.config['parameters']:,} trainable "
                        f"parameters, trained on {data['source']}.")]
    summary = run.file("summary.txt")
    blocks.append(Code(summary.read_text().rstrip()) if summary else missing(f"No `summary.txt` in `{run.folder}`"))
    curves = run.figure("curves.png", f"{run.title}: loss and accuracy per epoch, training vs validation")
    blocks.append(curves or missing(f"No `curves.png` in `{run.folder}` (written when the first epoch ends)"))
    picture = run.figure("health.png", f"{run.title}: training health per layer and epoch (health.csv): gradient "
                                       "norm, update/weight ratio, activations' spread, dead ReLU units")
    if picture:  # runs trained before health.csv existed have none
        blocks.append(picture)
    metrics = run.json("metrics.json")
    if metrics is None:
        return blocks + [missing(f"No `metrics.json` in `{run.folder}`: the run has not finished an epoch",
                                 f"python -m fer.train --resume {run.folder}")]
    rows = [["status", metrics["status"]],
            ["epochs run", f"{metrics['epochs_run']} of {run.config['settings']['epochs']}"],
            ["best epoch", str(metrics["best_epoch"])]]
    if metrics.get("best_val_acc") is not None:
        where = "the test set, used for validation" if data.get("val_is_test") else "images"
        rows.append(["best validation accuracy", f"{pct(metrics['best_val_acc'])} ({data['val']:,} {where})"])
    if metrics.get("test_acc") is not None:
        rows.append(["test accuracy (best weights)", f"{pct(metrics['test_acc'])} ({metrics['test_samples']:,} images)"])
    blocks.append(Table(["", run.title], rows))
    if metrics["status"] == "interrupted":
        blocks.append(Paragraph(f"The run was interrupted; continue it with "
                                f"`python -m fer.train --resume {run.folder}`."))
    return blocks


def accuracy_answer(run):
    found = headline_accuracy(run)
    return "no finished epoch" if found is None else f"{pct(found[0])} {found[1]} accuracy ({found[2]:,} images)"


def cnn_section(runs):
    run = runs.get("cnn")
    if run is None:
        return Section("1. The CNN", "missing: no CNN run given", [missing(
            "No CNN run was given", "python -m fer.train --model cnn")])
    return Section(f"1. The {run.title}", accuracy_answer(run), model_blocks(run))


def dnn_section(runs):
    cnn, dnn = runs.get("cnn"), runs.get("dnn")
    title = "2. The DNN of matched size"
    if dnn is None:
        return Section(title, "missing: no DNN run given", [missing(
            "No DNN run was given, so the CNN cannot be compared with a dense network of matched size",
            "python -m fer.train --model dnn")])
    blocks, answer = model_blocks(dnn), accuracy_answer(dnn)
    if cnn is None:
        return Section(title, answer, blocks)
    gist, blocks_compared = comparison(cnn, dnn)
    return Section(title, f"{answer}. {gist}", blocks + [Heading(3, "CNN against DNN"), *blocks_compared])


def comparison(cnn, dnn):
    """The CNN-vs-DNN comparison on the split both were scored on: (gist, blocks)."""
    found = headline_accuracy(cnn), headline_accuracy(dnn)
    if None in found:
        return "No comparison", [missing("No comparison: a run has not finished an epoch")]
    split = "test" if found[0][1] == found[1][1] == "test" else "validation"
    (a, _, n_a), (b, _, n_b) = headline_accuracy(cnn, split), headline_accuracy(dnn, split)
    se_a, se_b = standard_error(a, n_a), standard_error(b, n_b)
    gist = (f"The {'CNN' if a >= b else 'DNN'} is ahead by {abs(a - b) * 100:.1f} percentage points "
            f"on the {split} split (CNN {pct(a)}, DNN {pct(b)})")
    p_cnn, p_dnn = cnn.config["parameters"], dnn.config["parameters"]
    clear = abs(a - b) > 3 * math.hypot(se_a, se_b)
    words = (f"{gist}. {noise_words(a - b, math.hypot(se_a, se_b))} Guessing would score {pct(1 / len(LABELS))}. "
             f"{size_words(p_cnn, p_dnn, cnn_leads_clearly=clear and a > b)} For reference, {SEED_REPORT}.")
    rows = [["trainable parameters", f"{p_cnn:,}", f"{p_dnn:,}"],
            [f"{split} accuracy (± standard error)", f"{pct(a)} ± {se_a:.1%}", f"{pct(b)} ± {se_b:.1%}"],
            [f"{split} images", f"{n_a:,}", f"{n_b:,}"]]
    speeds = [(run.json("metrics.json") or {}).get("images_per_s") for run in (cnn, dnn)]
    if all(speeds):
        rows.append(["training speed (images/s)", *(f"{s:,.0f}" for s in speeds)])
    return gist, [Table(["", cnn.title, dnn.title], rows), Paragraph(words)]


def noise_words(gap, se):
    """Whether an accuracy gap stands out of the noise, ``se`` being its standard error."""
    verdict = ("well beyond the noise of the measurement" if abs(gap) > 3 * se else
               "within the noise of the measurement: no winner can be named" if abs(gap) < 2 * se else
               "at the edge of the measurement's noise")
    return f"The standard error of that difference is about {se * 100:.1f} points, so the gap is {verdict}."


def size_words(p_cnn, p_dnn, cnn_leads_clearly):
    """Whether the two models are of matched size, and what that means for the comparison."""
    text = f"The DNN has {p_dnn / p_cnn:.2f} times the CNN's trainable parameters ({p_dnn:,} against {p_cnn:,})"
    if not 0.8 <= p_dnn / p_cnn <= 1.25:
        return text + ": the sizes are NOT matched (a smaller --model-config?), so the comparison is not like for like."
    text += ": the sizes are matched, so the comparison is like for like."
    if cnn_leads_clearly:
        text += (" With the size matched, the CNN's lead is down to its architecture: a convolution shares its weights across the "
                 "image and builds features from local patches, which a dense layer must learn anew for "
                 "every position.")
    return text


# =============================================================== 3: confusion
def evaluation_file(run):
    """The run's evaluation JSON: the test split without TTA first, then validation,
    then any other (``eval-<split>[-tta-<mode>].json``); None when never evaluated."""
    for name in ("eval-test.json", "eval-val.json"):
        if run.file(name):
            return run.folder / name
    found = sorted(run.folder.glob("eval-*.json"))
    return found[0] if found else None


def confusion_blocks(run):
    path = evaluation_file(run)
    if path is None:
        return [missing(f"The {run.title} has not been evaluated (no `eval-*.json` in `{run.folder}`)",
                        f"python -m fer.evaluate {run.folder}")], None
    report = json.loads(path.read_text())
    blocks = [Paragraph(f"From `{path.name}` (`fer.evaluate`): accuracy {pct(report['accuracy'])} on "
                        f"{report['samples']:,} images of the {report['split']} split, macro F1 "
                        f"{report['macro_f1']:.3f}.")]
    png = run.figure(path.stem + "-confusion.png", f"{run.title}: confusion matrix, {report['split']} split; "
                     "rows are the true class, colour is the share of that class")
    blocks.append(png or missing(f"No `{path.stem}-confusion.png` in `{run.folder}`",
                                   f"python -m fer.evaluate {run.folder}"))
    pairs = report["most_confused"]
    if pairs:
        blocks += [Paragraph("Most-confused pairs (share of the true class's images given the wrong label):"),
                   Table(["true", "predicted as", "share", "images"],
                         [[p["true"], p["predicted"], pct(p["share"]), str(p["count"])] for p in pairs]),
                   Paragraph(sad_neutral_words(pairs))]
    blocks.append(Table(["class", "precision", "recall", "F1", "images"],
                        [[name, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"])]
                         for name, s in report["per_class"].items()]))
    answer = pairs[0]["words"] if pairs else "no confusions"
    return blocks, answer


def sad_neutral_words(pairs):
    """Set the top confusion against the seed report's finding (sad and neutral)."""
    top = pairs[0]["words"][0].upper() + pairs[0]["words"][1:]
    ranks = [k for k, p in enumerate(pairs, 1) if {p["true"], p["predicted"]} == {"sad", "neutral"}]
    if ranks and ranks[0] == 1:
        return f"{top}: the seed report's finding, sad and neutral as the most confused pair, holds here."
    if ranks:
        return f"{top}. The seed report's most confused pair, sad and neutral, ranks {ranks[0]} here."
    return f"{top}. The seed report's most confused pair, sad and neutral, is not among the top {len(pairs)} here."


def confusion_section(runs):
    blocks, answers = [], []
    for run in runs.values():
        found, answer = confusion_blocks(run)
        blocks += [Heading(3, run.title), *found]
        answers.append(f"{run.title}: {answer or 'missing (not evaluated)'}")
    return Section("3. Confusion matrix and most-confused pairs", "; ".join(answers) or "missing", blocks)


# =============================================================== 4: saliency
METHOD_CAPTIONS = {
    "vanilla": "vanilla gradient |dS/dx| (Simonyan et al., 2014)",
    "smoothgrad": "SmoothGrad: the gradient averaged over noisy copies (Smilkov et al., 2017)",
    "gradcam": "Grad-CAM on the last conv block (Selvaraju et al., 2017)",
    "ig": "integrated gradients from a black image (Sundararajan et al., 2017)",
    "guided": "guided backpropagation (Springenberg et al., 2015)",
}


def verdict(check):
    return "pass" if check["passed"] else "FAIL"


def pair_text(a, b):
    """``a / b`` with just enough decimals (3 to 6) to show which is smaller."""
    digits = next((d for d in range(3, 7) if f"{a:.{d}f}" != f"{b:.{d}f}"), 6)
    return f"{a:.{digits}f} / {b:.{digits}f}"


def sanity_rows(sanity):
    """One table row per method of sanity.json, and the methods that passed everything."""
    rows, trusted = [], []
    for method, checks in sanity.items():
        r, d, m = checks.get("randomisation"), checks.get("deletion"), checks.get("masks")
        rows.append([method,
                     f"{r['correlation']:.3f} {verdict(r)}" if r else "-",
                     f"{pair_text(d['saliency_auc'], d['random_auc'])} {verdict(d)}" if d else "-",
                     f"{m['share_inside']:.3f} / {m['uniform_share']:.3f} {verdict(m)}" if m else "n/a (no masks)"])
        if all(c["passed"] for c in checks.values()):
            trusted.append(method)
    return rows, trusted


def saliency_blocks(run):
    folder, command = run.folder / "saliency", f"python -m fer.saliency {run.folder} --sanity"
    maps = [run.figure(f"saliency/saliency-{m}.png", f"{run.title}: {METHOD_CAPTIONS.get(m, m)}; each "
                       "image shown with its map and the map over the face") for m in METHODS]
    blocks = [f for f in maps if f] or [missing(f"No saliency maps of the {run.title} in `{folder}`", command)]
    sanity = run.json("saliency/sanity.json")
    if sanity is None:
        return blocks + [missing(f"No sanity-check numbers for the {run.title} (`{folder}/sanity.json`)", command)], None
    rows, trusted = sanity_rows(sanity)
    threshold = next((c["randomisation"]["threshold"] for c in sanity.values() if "randomisation" in c), 0.5)
    blocks += [Paragraph(
        "Sanity checks: does a map show what the model uses? Randomisation: the rank correlation between "
        f"the maps of the trained and of a re-initialised model (passes below {threshold}: the map depends "
        "on the weights). Deletion: the area under the predicted class's probability as pixels are "
        "removed, most salient first against random order (passes when lower). Cue masks (synthetic "
        "faces only): the share of saliency on the pixels that carry the expression against a flat map's "
        "share (passes when higher)."),
        Table(["method", f"randomisation: rank corr. (< {threshold})", "deletion AUC: saliency / random",
               "cue masks: share inside / uniform"], rows)]
    deletion = run.figure("saliency/deletion.png", "Deletion curves: probability of the predicted class as "
                          "pixels are removed, saliency order (solid) against random order (dashed)")
    if deletion:
        blocks.append(deletion)
    answer = (f"{', '.join(trusted)} pass every sanity check" if trusted else "no method passes every sanity check")
    return blocks, answer


def saliency_section(runs):
    cnn, blocks, answers = runs.get("cnn"), [], []
    if cnn is None:
        blocks.append(missing("No CNN run was given, so there are no saliency maps of it",
                              "python -m fer.train --model cnn"))
    for run in runs.values():
        if run is not cnn and not run.file("saliency"):  # the CNN's maps are the question; others optional
            blocks.append(Paragraph(f"No saliency maps of the {run.title} were made (optional: "
                                    f"`python -m fer.saliency {run.folder} --sanity` makes them)."))
            continue
        found, answer = saliency_blocks(run)
        blocks += [Heading(3, run.title), *found]
        answers.append(f"{run.title}: {answer or 'missing'}")
    return Section("4. Saliency maps", "; ".join(answers) or "missing", blocks)


# =============================================================== 5: filters
def scale_words(field_size):
    """What a unit seeing ``field_size`` pixels of a 48x48 face can respond to."""
    side = max(field_size)
    if side <= 7:
        return "small local patterns: edges, corners and light or dark spots a few pixels wide"
    if side <= 20:
        return "face parts the size of an eye, a brow or a mouth corner (a face's features are 5-10 pixels)"
    return "arrangements of several parts over much of the face"


def layer_blocks(run, layer, numbers):
    ratios = [r for r in numbers["ratio"] if r is not None]
    field_size = numbers["receptive_field"]
    strong = sum(r > 1 for r in ratios)
    words = (f"{len(numbers['filters'])} filters; each unit sees {field_size[0]}x{field_size[1]} pixels of the "
             f"input, enough for {scale_words(field_size)}.")
    if ratios:
        words += (f" The ascended images drive {strong} of {len(ratios)} filters harder than the best real image "
                  f"(activation achieved / best real image: median {statistics.median(ratios):.2f}, "
                  f"range {min(ratios):.2f} to {max(ratios):.2f}).")
    blocks = [Heading(4, layer), Paragraph(words)]
    for prefix, caption in (("ascent", "the input each filter responds to most, found by gradient ascent "
                                       "(title: achieved activation / best real image)"),
                            ("top", "the real image patches each filter responds to most, one row per filter"),
                            ("featuremaps", "the same filters' outputs for one image")):
        blocks.append(run.figure(f"filters/{prefix}-{layer}.png", f"{layer}: {caption}")
                      or missing(f"No `filters/{prefix}-{layer}.png` in `{run.folder}`",
                                 f"python -m fer.filters {run.folder}"))
    return blocks


def filters_section(runs):
    title = "5. Filter visualisations"
    run = runs.get("cnn")
    if run is None:
        return Section(title, "missing: no CNN run given", [missing(
            "No CNN run was given, so there are no filters to show", "python -m fer.train --model cnn")])
    report = run.json("filters/filters.json")
    if report is None:
        return Section(title, "missing", [missing(f"No filter visualisations of the {run.title} in "
                                                  f"`{run.folder / 'filters'}`", f"python -m fer.filters {run.folder}")])
    blocks = [Paragraph("Activation maximisation climbs the gradient of one filter's mean activation with "
                        "respect to the input image, from a flat grey start; the top patches are the real "
                        "faces' regions that excite the filter most. Together they show what it responds to.")]
    for layer, numbers in report.items():
        blocks += layer_blocks(run, layer, numbers)
    if "dnn" in runs:
        blocks.append(Paragraph("The DNN has no convolution filters to show: each unit of its first dense layer "
                                "weighs every pixel of the (pooled) image at once, a whole-image template."))
    fields = [f"{layer} {'x'.join(map(str, n['receptive_field']))} px" for layer, n in report.items()]
    return Section(title, f"{', '.join(report)} of the {run.title} (receptive fields {', '.join(fields)})", blocks)


# =============================================================== time, configuration
def speed_section(runs):
    rows = []
    for run in runs.values():
        history, metrics = run.history(), run.json("metrics.json") or {}
        if not history:
            rows.append([run.title, "-", "-", "-", "-", "-"])
            continue
        seconds = sum(row["seconds"] for row in history)
        speed = sum(row["images_per_s"] for row in history) / len(history)
        overhead = metrics.get("overhead_fraction")
        rows.append([run.title, str(len(history)), duration(seconds), duration(seconds / len(history)),
                     f"{speed:,.0f}", "-" if overhead is None else pct(overhead)])
    answer = "; ".join(f"{r[0]} {r[2]} at {r[4]} images/s" for r in rows if r[1] != "-")
    return Section("Time and speed", answer or "missing", [
        Paragraph("From history.csv: training time per epoch includes validation and checkpoints; images/s "
                  "counts training images per second of the whole epoch; overhead is the share of the "
                  "epoch not spent in the forward pass, backward pass and optimiser step."),
        Table(["model", "epochs", "training time", "per epoch", "images/s", "overhead"], rows)])


def setting_text(value):
    return value if isinstance(value, str) else json.dumps(value)


def configuration_section(runs):
    runs = list(runs.values())
    keys = list(dict.fromkeys(k for run in runs for k in run.config["settings"]))
    rows = [[key, *(setting_text(run.config["settings"].get(key, "-")) for run in runs)] for key in keys]
    rows += [[f"data: {key}", *(setting_text(run.config["data"].get(key, "-")) for run in runs)]
             for key in ("source", "path", "train", "val", "test")]
    rows += [["started", *(run.config.get("started", "-") for run in runs)]]
    rows += [[f"version: {name}", *(run.config.get("versions", {}).get(name, "-") for run in runs)]
             for name in dict.fromkeys(n for run in runs for n in run.config.get("versions", {}))]
    blocks = [Paragraph("From each run's config.json."), Table(["setting", *(run.title for run in runs)], rows)]
    for command in dict.fromkeys(run.config.get("command", "-") for run in runs):
        users = " and the ".join(run.title for run in runs if run.config.get("command", "-") == command)
        blocks += [Paragraph(f"The {users} {'was' if ' and ' not in users else 'were'} trained with:"), Code(command)]
    return Section("Configuration", "; ".join(f"{run.title}: {recipe(run.config['settings'])}" for run in runs), blocks)


def recipe(settings):
    """The main training settings in one phrase."""
    return (f"preset {settings['preset']}, {settings['epochs']} epochs of {settings['optimizer']} at lr "
            f"{settings['lr']}, batch {settings['batch_size']}")


# =============================================================== the whole report
def data_blocks(runs):
    """The data source, stated plainly; a synthetic run says so before anything else."""
    blocks = []
    synthetic = sorted({run.config["data"]["source"] for run in runs.values() if run.config["data"]["synthetic"]})
    if synthetic:
        blocks.append(Note("warning", f"These are NOT FER2013 results. The runs trained on {', '.join(synthetic)}, "
                                      "the built-in stand-in that exists to test the whole pipeline; its numbers "
                                      "say nothing about facial expressions in real photographs. Train with "
                                      "`--data PATH/TO/fer2013.csv` for the study's real answers."))
    for source in dict.fromkeys(run.config["data"]["source"] for run in runs.values()):
        users = [run for run in runs.values() if run.config["data"]["source"] == source]
        data = users[0].config["data"]
        kind = "synthetic faces" if data["synthetic"] else "real FER2013 data"
        split = (f"{data['train']:,} training and {data['test']:,} test images; the test images also served "
                 f"for validation (model selection), so the test accuracy is slightly optimistic"
                 if data.get("val_is_test") else
                 f"{data['train']:,} training, {data['val']:,} validation and {data['test']:,} test images")
        blocks.append(Paragraph(f"Data ({kind}), used by the {' and the '.join(r.title for r in users)}: "
                                f"{source}; {split}."))
    if len({run.config["data"]["source"] for run in runs.values()}) > 1:
        blocks.append(Note("warning", "The runs were trained on different data, so their numbers cannot be compared."))
    return blocks


def build_report(runs, command):
    """The whole report as a list of blocks."""
    sections = [cnn_section(runs), dnn_section(runs), confusion_section(runs), saliency_section(runs),
                filters_section(runs), speed_section(runs), configuration_section(runs)]
    runs_text = "; ".join(f"{run.title}: `{run.folder}`" for run in runs.values())
    blocks = [Heading(1, "Facial-expression recognition: study report"), *data_blocks(runs),
              Paragraph(f"Runs: {runs_text}. Made {time.strftime('%Y-%m-%d %H:%M')} by `{command}`."),
              Heading(2, "Answers at a glance"),
              Table(["question", "answer"], [[s.title, s.answer] for s in sections])]
    gaps = [b.text for s in sections for b in s.blocks if isinstance(b, Note) and b.kind == "missing"]
    if gaps:
        blocks += [Paragraph("Missing pieces (each is explained in its section):"), Bullets(gaps)]
    for section in sections:
        blocks += [Heading(2, section.title), *section.blocks]
    return blocks
