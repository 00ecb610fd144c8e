#!/usr/bin/env python3
"""Golden metric values for ScalpelMetrics' tests (Tests/ScalpelMetricsTests), from scikit-learn.

  clinic_golden.py [OUT]
      Draws fixed pseudo-random predictions (numpy seed 20240611), scores them with
      scikit-learn and writes the cases with their expected metrics as JSON to OUT
      (default: Tests/ScalpelMetricsTests/Fixtures/clinic_golden.json).

Binary cases: continuous probabilities; the same rounded to one decimal (so AUROC, AUPRC and the
thresholds meet many ties); log-odds scores with their probabilities given separately (threshold
0); and one class only (every metric that needs the other class is null). Multiclass cases:
3-class softmax probabilities; the same rounded to two decimals (ties, and rows that no longer
sum to 1, so the Brier score and ECE are null); and 4 classes of which class 3 has no rows.
Scores are float32, written as the shortest decimals that read back as those float32 values, so
the Swift side reads back the very numbers scikit-learn scored. Predictions follow the Swift
rules: class 1 where score >= threshold (compared in float32), and argmax with ties to the
lowest class.

A metric that is undefined is null. scikit-learn is asked with zero_division=nan, and its
per-class values that are nan are null; a macro average is the mean over the classes where the
metric is defined (numpy's nanmean), which is Scalpel's rule (scikit-learn's own macro averages
count an undefined class as 0 or nan). Specificity, NPV and the expected calibration error
(15 equal-width bins, floor(15 p) capped at 14) are computed here in numpy; the multiclass Brier
score is brier_score_loss(..., scale_by_half=False). The decision thresholds are read off
roc_curve(..., drop_intermediate=False). The bootstrap case re-implements SplitMix64 and its
Lemire draw to resample the rows exactly as MetricBootstrap does, scores each resample with
scikit-learn and takes numpy's default quantiles. Needs numpy and scikit-learn.
"""
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
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


def num(x):
    """A float, or None where the value is undefined (nan)."""
    x = float(x)
    return None if np.isnan(x) else x


def nanmean(values):
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def calibration_error(confidence, outcome):
    """Expected calibration error over 15 equal-width bins of the confidence, floor(15 p) capped at 14:
    sum over bins of |sum outcome - sum confidence| / N = sum of (n_b / N) |mean outcome - mean confidence|."""
    confidence = np.asarray(confidence, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    bins = np.minimum(np.floor(confidence * 15).astype(int), 14)
    gap = sum(abs(outcome[bins == b].sum() - confidence[bins == b].sum()) for b in range(15))
    return float(gap / len(confidence))


def is_distribution(probabilities):
    """Scalpel's rule for probabilities usable in Brier/ECE: in [0, 1], rows summing to 1 within 1e-3."""
    p = probabilities.astype(np.float64)
    return bool(np.all((p >= 0) & (p <= 1)) and np.all(np.abs(p.sum(axis=1) - 1) <= 1e-3))


def thresholds(labels, scores):
    """The Youden threshold and the thresholds for a few target sensitivities, from roc_curve."""
    fpr, tpr, thr = roc_curve(labels, scores.astype(np.float64), drop_intermediate=False)
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    # Index 0 is roc_curve's +inf (nothing predicted positive), not a score.
    tps = np.round(tpr * positives).astype(np.int64)[1:]
    fps = np.round(fpr * negatives).astype(np.int64)[1:]
    fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]
    j = tps * negatives - fps * positives  # J * P * N, exact; argmax takes the first (highest threshold)
    best = int(np.argmax(j))

    def entry(i):
        return {"threshold": float(np.float32(thr[i])), "sensitivity": float(tpr[i]), "specificity": float(1 - fpr[i])}

    targets = []
    for target in (0.5, 0.8, 0.9, 0.95, 1.0):
        i = int(np.argmax(tpr >= target))
        assert tpr[i] >= target
        targets.append({"target": target, **entry(i)})
    return {"youden": entry(best), "targetSensitivity": targets}


def binary_case(name, labels, scores, threshold, probabilities=None):
    threshold = np.float32(threshold)
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both = 0 < labels.sum() < len(labels)
    has_positives = labels.sum() > 0
    scores64 = scores.astype(np.float64)
    prf = dict(labels=[0, 1], zero_division=np.nan)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, **prf)
    case = {
        "name": name,
        "labels": [int(x) for x in labels],
        "scores": floats(scores),
        "threshold": float(threshold),
        "probabilities": None if probabilities is None else floats(probabilities),
        "expected": {
            "accuracy": accuracy_score(labels, predicted),
            "sensitivity": num(recall[1]),
            "specificity": num(recall[0]),
            "precision": num(precision[1]),
            "negativePredictiveValue": num(precision[0]),
            "f1": num(f1[1]),
            "balancedAccuracy": balanced_accuracy_score(labels, predicted) if both else None,
            "auroc": roc_auc_score(labels, scores64) if both else None,
            "auprc": average_precision_score(labels, scores64) if has_positives else None,
            "brierScore": None if probabilities is None
            else brier_score_loss(labels, probabilities.astype(np.float64)),
            "expectedCalibrationError": None if probabilities is None else calibration_error(probabilities, labels),
            "confusion": [int(tn), int(fp), int(fn), int(tp)],
        },
        "thresholds": thresholds(labels, scores) if both else None,
    }
    if both:
        # The numpy specificity / NPV agree with scikit-learn's recall / precision of class 0.
        assert abs(case["expected"]["specificity"] - tn / (tn + fp)) < 1e-15
        assert abs(case["expected"]["negativePredictiveValue"] - tn / (tn + fn)) < 1e-15
    return case


def multiclass_case(name, labels, probabilities):
    classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(classes)), zero_division=np.nan)
    matrix = confusion_matrix(labels, predicted, labels=list(range(classes)))
    present = [c for c in range(classes) if np.any(labels == c)]
    # One-vs-rest AUROC and AUPRC per class (undefined for a class without rows); the macro
    # AUROC is their mean (what roc_auc_score's multi_class="ovr" computes, which refuses rows
    # that do not sum to 1, as rounded ones don't).
    per_class_auroc = [roc_auc_score(labels == c, probabilities[:, c].astype(np.float64)) if c in present else None
                       for c in range(classes)]
    per_class_auprc = [average_precision_score(labels == c, probabilities[:, c].astype(np.float64))
                       if c in present else None for c in range(classes)]
    if np.allclose(probabilities.sum(axis=1), 1) and len(present) == classes:
        ovr = roc_auc_score(labels, probabilities.astype(np.float64), multi_class="ovr", average="macro")
        assert abs(ovr - np.mean(per_class_auroc)) < 1e-12
    # One-vs-rest specificity and NPV from the confusion matrix.
    total = matrix.sum()
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    tn = total - tp - fp - fn
    specificity = [num(tn[c] / (tn[c] + fp[c])) if tn[c] + fp[c] else None for c in range(classes)]
    npv = [num(tn[c] / (tn[c] + fn[c])) if tn[c] + fn[c] else None for c in range(classes)]
    recall_list = [num(x) for x in recall]
    calibrated = is_distribution(probabilities)
    if calibrated:
        p64 = probabilities.astype(np.float64)
        # float32 softmax rows sum to 1 only within ~1e-7, which trips scikit-learn's warning
        # (it checks to sqrt(float64 eps)); the value is computed all the same.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            brier = brier_score_loss(labels, p64, labels=list(range(classes)), scale_by_half=False)
        top = np.argmax(probabilities, axis=1)
        ece = calibration_error(probabilities[np.arange(len(labels)), top], top == labels)
    else:
        brier = ece = None
    balanced = balanced_accuracy_score(labels, predicted) if len(present) == classes else None
    if balanced is None:
        # scikit-learn skips (with a warning) a class that has no rows, as Scalpel does.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            balanced = balanced_accuracy_score(labels, predicted)
    assert abs(balanced - nanmean(recall_list)) < 1e-12
    return {
        "name": name,
        "classCount": classes,
        "labels": [int(x) for x in labels],
        "probabilities": floats(probabilities),
        "expected": {
            "accuracy": accuracy_score(labels, predicted),
            "recall": recall_list,
            "precision": [num(x) for x in precision],
            "f1": [num(x) for x in f1],
            "specificity": specificity,
            "negativePredictiveValue": npv,
            "support": [int(x) for x in support],
            "auroc": per_class_auroc,
            "auprc": per_class_auprc,
            "macroRecall": nanmean(recall_list),
            "balancedAccuracy": balanced,
            "macroF1": nanmean([num(x) for x in f1]),
            "macroAUROC": nanmean(per_class_auroc),
            "macroAUPRC": nanmean(per_class_auprc),
            "brierScore": brier,
            "expectedCalibrationError": ece,
            "confusionMatrix": matrix.tolist(),
        },
    }


class SplitMix64:
    """Scalpel's seeded generator (SplitMix64) and its unbiased uniform(below:) (Lemire's multiply-and-reject)."""
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def uniform(self, bound):
        product = self.next() * bound
        if product & self.MASK < bound:
            threshold = ((1 << 64) - bound) % bound
            while product & self.MASK < threshold:
                product = self.next() * bound
        return product >> 64


def bootstrap_case(case, resamples, seed):
    """MetricBootstrap.binary's resamples of a binary case, scored by scikit-learn: each resample
    draws len(rows) row indices with SplitMix64(seed).uniform(len(rows)), in order."""
    labels = np.array(case["labels"])
    scores = np.array(case["scores"], dtype=np.float32)
    probabilities = np.array(case["probabilities"], dtype=np.float32)
    threshold = np.float32(case["threshold"])
    rows = len(labels)
    generator = SplitMix64(seed)
    values = {"accuracy": [], "sensitivity": [], "auroc": [], "auprc": [], "brierScore": []}
    for _ in range(resamples):
        index = np.array([generator.uniform(rows) for _ in range(rows)])
        y, s, p = labels[index], scores[index].astype(np.float64), probabilities[index].astype(np.float64)
        values["accuracy"].append(accuracy_score(y, s >= threshold))
        values["brierScore"].append(brier_score_loss(y, p))
        if y.sum() > 0:
            values["sensitivity"].append(recall_score(y, s >= threshold))
            values["auprc"].append(average_precision_score(y, s))
        if 0 < y.sum() < rows:
            values["auroc"].append(roc_auc_score(y, s))
    return {
        "case": case["name"],
        "resamples": resamples,
        "seed": seed,
        "intervals": {name: {"low": float(np.quantile(v, 0.025)), "high": float(np.quantile(v, 0.975)),
                             "defined": len(v)} for name, v in values.items()},
    }


def main():
    default = Path(__file__).resolve().parent.parent / "Tests/ScalpelMetricsTests/Fixtures/clinic_golden.json"
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

    # Drawn after the original cases, so that those stay the same numbers.
    log_odds = (rng.normal(size=ROWS) * 1.5 + 1.2 * labels - 0.5).astype(np.float32)
    log_odds_probabilities = (1 / (1 + np.exp(-log_odds.astype(np.float64)))).astype(np.float32)
    one_class = np.zeros(40, dtype=int)
    one_class_scores = rng.random(40).astype(np.float32)
    labels4 = rng.integers(0, 3, size=ROWS)  # class 3 of 4 never occurs
    logits4 = rng.normal(size=(ROWS, 4)) + 1.3 * np.eye(4)[labels4] - 0.5 * np.eye(4)[3]
    exp4 = np.exp(logits4 - logits4.max(axis=1, keepdims=True))
    probabilities4 = (exp4 / exp4.sum(axis=1, keepdims=True)).astype(np.float32)
    assert np.any(np.argmax(probabilities4, axis=1) == 3), "class 3 should be predicted now and then"

    binary = [
        binary_case("continuous scores, threshold 0.5", labels, scores, 0.5, probabilities=scores),
        binary_case("scores rounded to 0.1 (ties), threshold 0.3", labels, tied, 0.3, probabilities=tied),
        binary_case("log-odds scores with probabilities, threshold 0", labels, log_odds, 0.0,
                    probabilities=log_odds_probabilities),
        binary_case("one class only (all 0), no probabilities", one_class, one_class_scores, 0.5),
    ]
    golden = {
        "generator": f"scripts/clinic_golden.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        "binary": binary,
        "multiclass": [
            multiclass_case("softmax probabilities", labels3, probabilities),
            multiclass_case("probabilities rounded to 0.01 (ties)", labels3, rounded),
            multiclass_case("4 classes, class 3 has no rows", labels4, probabilities4),
        ],
        "bootstrap": bootstrap_case(binary[1], resamples=200, seed=20240611),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compact(json.dumps(golden, indent=1)) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
