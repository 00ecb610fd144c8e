#!/usr/bin/env python3
"""Golden metric values for ScalpelClinic's tests (Tests/ScalpelClinicTests), from scikit-learn.

  clinic_golden.py [OUT]
      Draws fixed pseudo-random predictions (numpy seed 20240611), scores them with
      scikit-learn and writes the cases with their expected metrics as JSON to OUT
      (default: Tests/ScalpelClinicTests/Fixtures/clinic_golden.json).

Cases: two binary (continuous scores; scores rounded to one decimal, so AUROC meets many
ties) and two 3-class (softmax probabilities; the same rounded to two decimals). Scores are
float32, written as the shortest decimals that read back as those float32 values, so the
Swift side reads back the very numbers scikit-learn scored. Predictions follow the Swift rules: class 1 where
score >= threshold (compared in float32), and argmax with ties to the lowest class.

Every class occurs in every case, so scikit-learn's macro averages (which count an absent
class as 0) mean the same as Scalpel's (which skip it). Needs numpy and scikit-learn.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)

ROWS = 300


def floats(array):
    # The shortest decimal that reads back as the same float32 (numpy's str), kept short so the
    # fixture stays small; Swift's Float parsing of it gives back the exact value scored here.
    values = np.asarray(array, dtype=np.float32).ravel()
    short = [float(str(x)) for x in values]
    assert all(np.float32(s) == x for s, x in zip(short, values))
    return short


def compact(text):
    """Puts each list of numbers on one line instead of one number per line."""
    return re.sub(r"\[[-0-9.e,\s]*\]", lambda m: re.sub(r"\s+", "", m.group(0)).replace(",", ", "), text)


def binary_case(name, labels, scores, threshold):
    threshold = np.float32(threshold)
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "name": name,
        "labels": [int(x) for x in labels],
        "scores": floats(scores),
        "threshold": float(threshold),
        "expected": {
            "accuracy": accuracy_score(labels, predicted),
            "sensitivity": recall_score(labels, predicted, pos_label=1),
            "specificity": recall_score(labels, predicted, pos_label=0),
            "precision": precision_score(labels, predicted, pos_label=1),
            "negativePredictiveValue": precision_score(labels, predicted, pos_label=0),
            "f1": f1_score(labels, predicted, pos_label=1),
            "balancedAccuracy": balanced_accuracy_score(labels, predicted),
            "auroc": roc_auc_score(labels, scores.astype(np.float64)),
            "confusion": [int(tn), int(fp), int(fn), int(tp)],
        },
    }


def multiclass_case(name, labels, probabilities):
    classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(classes)), zero_division=np.nan)
    # One-vs-rest AUROC per class; the macro AUROC is their mean (what roc_auc_score's
    # multi_class="ovr" computes, which refuses rows that do not sum to 1, as rounded ones don't).
    per_class_auroc = [roc_auc_score(labels == c, probabilities[:, c].astype(np.float64)) for c in range(classes)]
    if np.allclose(probabilities.sum(axis=1), 1):
        ovr = roc_auc_score(labels, probabilities.astype(np.float64), multi_class="ovr", average="macro")
        assert abs(ovr - np.mean(per_class_auroc)) < 1e-12
    return {
        "name": name,
        "classCount": classes,
        "labels": [int(x) for x in labels],
        "probabilities": floats(probabilities),
        "expected": {
            "accuracy": accuracy_score(labels, predicted),
            "recall": [float(x) for x in recall],
            "precision": [float(x) for x in precision],
            "f1": [float(x) for x in f1],
            "support": [int(x) for x in support],
            "auroc": per_class_auroc,
            "macroRecall": recall_score(labels, predicted, average="macro"),
            "macroF1": f1_score(labels, predicted, average="macro"),
            "macroAUROC": float(np.mean(per_class_auroc)),
            "confusionMatrix": confusion_matrix(labels, predicted, labels=list(range(classes))).tolist(),
        },
    }


def main():
    default = Path(__file__).resolve().parent.parent / "Tests/ScalpelClinicTests/Fixtures/clinic_golden.json"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    rng = np.random.default_rng(20240611)

    labels = (rng.random(ROWS) < 0.4).astype(int)
    logits = rng.normal(size=ROWS) + 1.6 * labels - 0.6
    scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
    tied = np.round(scores, 1).astype(np.float32)

    classes = 3
    labels3 = rng.integers(0, classes, size=ROWS)
    logits3 = rng.normal(size=(ROWS, classes)) + 1.3 * np.eye(classes)[labels3]
    exp = np.exp(logits3 - logits3.max(axis=1, keepdims=True))
    probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    rounded = np.round(probabilities, 2).astype(np.float32)

    golden = {
        "generator": f"scripts/clinic_golden.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        "binary": [
            binary_case("continuous scores, threshold 0.5", labels, scores, 0.5),
            binary_case("scores rounded to 0.1 (ties), threshold 0.3", labels, tied, 0.3),
        ],
        "multiclass": [
            multiclass_case("softmax probabilities", labels3, probabilities),
            multiclass_case("probabilities rounded to 0.01 (ties)", labels3, rounded),
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compact(json.dumps(golden, indent=1)) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
