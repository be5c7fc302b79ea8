"""Classification metrics: accuracy, confusion matrix, per-class precision/recall/F1,
and the most-confused pairs spelled out in words.

Everything works on plain integer arrays (``labels``, ``predictions`` of shape (N,))
so it can be checked by hand; rows of a confusion matrix are the true class,
columns the predicted one (scikit-learn's convention).
"""
import numpy as np

from .. import LABELS


def accuracy(labels, predictions):
    """Fraction of ``predictions`` equal to ``labels`` (0.0 for no samples)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(labels == predictions)) if labels.size else 0.0


def confusion_matrix(labels, predictions, num_classes=len(LABELS)):
    """Counts (num_classes, num_classes): entry [t, p] = samples of class t predicted as p."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: labels {labels.shape} and predictions {predictions.shape} differ")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def row_normalise(counts):
    """Each row divided by its total: entry [t, p] = share of class-t samples predicted p.
    Rows of classes with no samples stay zero instead of becoming NaN."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def per_class_scores(counts):
    """Precision, recall, F1 and support per class, each an array (num_classes,).

    precision = TP / predicted-as-class, recall = TP / truly-in-class,
    F1 = their harmonic mean; a class never predicted (or absent) scores 0, not NaN.
    """
    tp = np.diag(counts).astype(np.float64)
    predicted, support = counts.sum(axis=0), counts.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def most_confused_pairs(counts, top=5, class_names=LABELS):
    """The ``top`` largest off-diagonal shares of the row-normalised matrix, as
    ``(true, predicted, share, count)`` tuples, largest share first."""
    shares = row_normalise(counts)
    pairs = [(t, p) for t in range(len(counts)) for p in range(len(counts)) if t != p and counts[t, p] > 0]
    pairs.sort(key=lambda tp: (-shares[tp], -counts[tp]))
    return [(class_names[t], class_names[p], float(shares[t, p]), int(counts[t, p])) for t, p in pairs[:top]]


def describe_pair(true_name, predicted_name, share):
    """One confusion in words: "sad is mistaken for neutral in 18% of sad faces"."""
    return f"{true_name} is mistaken for {predicted_name} in {share:.0%} of {true_name} faces"


def classification_report(labels, predictions, class_names=LABELS, top_pairs=5):
    """Everything above in one JSON-able dict (the evaluate command writes it)."""
    counts = confusion_matrix(labels, predictions, len(class_names))
    scores = per_class_scores(counts)
    return {
        "accuracy": accuracy(labels, predictions),
        "samples": int(len(labels)),
        "per_class": {name: {key: (int(values[k]) if key == "support" else float(values[k]))
                             for key, values in scores.items()}
                      for k, name in enumerate(class_names)},
        "macro_f1": float(scores["f1"].mean()),
        "confusion_matrix": counts.tolist(),
        "most_confused": [{"true": t, "predicted": p, "share": share, "count": n,
                           "words": describe_pair(t, p, share)}
                          for t, p, share, n in most_confused_pairs(counts, top_pairs, class_names)],
    }


def format_report(report):
    """The dict of :func:`classification_report` as a printable text table."""
    lines = [f"accuracy {report['accuracy']:.2%} on {report['samples']} images  "
             f"(macro F1 {report['macro_f1']:.3f})", "",
             f"{'class':<10}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}"]
    for name, s in report["per_class"].items():
        lines.append(f"{name:<10}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>10d}")
    if report["most_confused"]:
        lines += ["", "most confused:"]
        lines += [f"  {pair['words']} ({pair['count']} images)" for pair in report["most_confused"]]
    return "\n".join(lines)
