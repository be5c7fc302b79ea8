"""Metrics checked against numbers worked out by hand."""
import json

import numpy as np

from fer import LABELS
from fer.evaluation.metrics import (accuracy, classification_report, confusion_matrix, describe_pair, format_report,
                         most_confused_pairs, per_class_scores, row_normalise)

# 3 classes. True 0: predicted 0,0,1.  True 1: predicted 1,1,1,0.  True 2: predicted 1.
LABELS3 = ("a", "b", "c")
TRUE = np.array([0, 0, 0, 1, 1, 1, 1, 2])
PRED = np.array([0, 0, 1, 1, 1, 1, 0, 1])


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    counts = confusion_matrix(TRUE, PRED, 3)
    np.testing.assert_array_equal(counts, [[2, 1, 0], [1, 3, 0], [0, 1, 0]])
    assert counts.sum() == len(TRUE)


def test_accuracy():
    assert accuracy(TRUE, PRED) == 5 / 8
    assert accuracy([], []) == 0.0


def test_row_normalise_leaves_empty_classes_at_zero():
    shares = row_normalise(np.array([[1, 3], [0, 0]]))
    np.testing.assert_allclose(shares, [[0.25, 0.75], [0, 0]])


def test_precision_recall_f1_by_hand():
    s = per_class_scores(confusion_matrix(TRUE, PRED, 3))
    np.testing.assert_allclose(s["precision"], [2 / 3, 3 / 5, 0])   # class c never predicted: 0, not NaN
    np.testing.assert_allclose(s["recall"], [2 / 3, 3 / 4, 0])
    f1_b = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    np.testing.assert_allclose(s["f1"], [2 / 3, f1_b, 0])
    np.testing.assert_array_equal(s["support"], [3, 4, 1])


def test_most_confused_pairs_are_ranked_by_share_of_the_true_class():
    pairs = most_confused_pairs(confusion_matrix(TRUE, PRED, 3), top=3, class_names=LABELS3)
    # c -> b is 100% of c; a -> b is 1/3 of a; b -> a is 1/4 of b.
    assert [(t, p) for t, p, _, _ in pairs] == [("c", "b"), ("a", "b"), ("b", "a")]
    assert pairs[1][2:] == (1 / 3, 1)


def test_confusions_are_spelled_out_in_words():
    assert describe_pair("sad", "neutral", 0.18) == "sad is mistaken for neutral in 18% of sad faces"


def test_report_is_json_ready_and_printable():
    true = np.array([4] * 10 + [6] * 10)
    pred = np.array([4] * 8 + [6] * 2 + [6] * 10)
    report = classification_report(true, pred)
    json.dumps(report)
    assert report["accuracy"] == 0.9 and report["samples"] == 20
    assert set(report["per_class"]) == set(LABELS)
    assert report["most_confused"][0]["words"] == "sad is mistaken for neutral in 20% of sad faces"
    text = format_report(report)
    assert "accuracy 90.00%" in text and "sad is mistaken for neutral in 20% of sad faces (2 images)" in text
