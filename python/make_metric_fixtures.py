#!/usr/bin/env python3
"""Generate scoring/tests/fixtures/metrics.json: metric values computed by
scikit-learn on deterministic inputs, checked by scoring/tests/sklearn_fixtures.rs.

Run from the repository root with the pinned environment:

    .venv/bin/python python/make_metric_fixtures.py

Every float is written as a decimal string (Python's shortest round-trip
repr), so that the Rust side parses exactly the value scikit-learn saw.
Operating-point metrics follow the rules documented in scoring/src/metrics.rs,
evaluated on sklearn's roc_curve(..., drop_intermediate=False):

* tnr_at_tpr(t) = max(1 - fpr[i] for points i with tpr[i] >= t)
* tpr_at_fpr(t) = max(tpr[i]     for points i with fpr[i] <= t)
"""

import json
import pathlib
import sys
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    mean_squared_error,
    roc_auc_score,
    roc_curve,
)

OUT = pathlib.Path(__file__).resolve().parent.parent / "scoring" / "tests" / "fixtures" / "metrics.json"
TPR_TARGETS = [0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0]
FPR_TARGETS = [0.0, 1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0]


def s(x):
    """Float to its exact decimal string."""
    return repr(float(x))


def binary_case(name, labels, scores):
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores)
    assert scores.dtype in (np.float32, np.float64)
    assert labels.shape == scores.shape
    one_class = len(np.unique(labels)) < 2
    case = {
        "name": name,
        "dtype": "f32" if scores.dtype == np.float32 else "f64",
        "labels": labels.tolist(),
        "scores": [s(v) for v in scores],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if one_class:
            case["roc_auc"] = None
            case["tnr_at_tpr"] = None
            case["tpr_at_fpr"] = None
        else:
            case["roc_auc"] = s(roc_auc_score(labels, scores))
            fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
            case["tnr_at_tpr"] = [[s(t), s(np.max(1.0 - fpr[tpr >= t]))] for t in TPR_TARGETS]
            case["tpr_at_fpr"] = [[s(t), s(np.max(tpr[fpr <= t]))] for t in FPR_TARGETS]
        case["pr_auc"] = s(average_precision_score(labels, scores))
        thresholds = sorted({float(np.median(scores)), 0.5, float(scores.max()), float(scores.min()) - 1.0})
        rows = []
        for t in thresholds:
            pred = (scores >= t).astype(np.int64)
            rows.append(
                {
                    "threshold": s(t),
                    "f1": s(f1_score(labels, pred)),
                    "f1_zd1": s(f1_score(labels, pred, zero_division=1.0)),
                    "accuracy": s(accuracy_score(labels, pred)),
                    "balanced_accuracy": s(balanced_accuracy_score(labels, pred)),
                }
            )
        case["thresholded"] = rows
        case["mse_labels"] = s(mean_squared_error(labels.astype(np.float64), scores.astype(np.float64)))
    return case


def binary_cases():
    cases = []
    rng = np.random.default_rng(20240611)

    # Random continuous scores, informative, several sizes and prevalences.
    for n, prevalence in [(10, 0.5), (50, 0.3), (100, 0.1), (1000, 0.5), (3000, 0.05), (3000, 0.5)]:
        labels = (rng.random(n) < prevalence).astype(int)
        labels[0], labels[1] = 0, 1  # both classes present
        scores = rng.normal(size=n) + 0.8 * labels
        cases.append(binary_case(f"random_n{n}_p{prevalence}", labels, scores))

    # Uninformative random scores in [0, 1).
    labels = (rng.random(500) < 0.4).astype(int)
    cases.append(binary_case("random_uniform_uninformative", labels, rng.random(500)))

    # Probabilities from a logistic link, float32 (the typical model output).
    n = 2000
    labels = (rng.random(n) < 0.2).astype(int)
    logits = rng.normal(size=n) + 1.5 * labels
    probs = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    cases.append(binary_case("float32_probabilities", labels, probs))

    # Heavy ties: few distinct score values.
    for n, levels in [(20, 2), (200, 3), (1000, 5), (2000, 11)]:
        labels = (rng.random(n) < 0.35).astype(int)
        labels[0], labels[1] = 0, 1
        scores = np.floor(rng.random(n) * levels + 0.6 * labels) / levels
        cases.append(binary_case(f"heavy_ties_n{n}_levels{levels}", labels, scores))

    # Ties between quantized scores in float32 (a fixed-point model's output).
    n = 1500
    labels = (rng.random(n) < 0.3).astype(int)
    q = np.round((rng.normal(size=n) + labels) * 8) / 8
    cases.append(binary_case("fixed_point_ties_float32", labels, q.astype(np.float32)))

    # All scores equal.
    for n, n_pos in [(2, 1), (10, 3), (1000, 17)]:
        labels = np.zeros(n, dtype=int)
        labels[:n_pos] = 1
        rng.shuffle(labels)
        cases.append(binary_case(f"all_equal_n{n}_pos{n_pos}", labels, np.full(n, 0.25)))

    # Perfect and inverted classifiers.
    labels = np.array([0] * 60 + [1] * 40)
    rng.shuffle(labels)
    base = rng.random(100)
    cases.append(binary_case("perfect", labels, base + 2.0 * labels))
    cases.append(binary_case("inverted", labels, base - 2.0 * labels))
    cases.append(binary_case("perfect_with_boundary_tie", [0, 0, 1, 1, 0, 1], [0.1, 0.5, 0.5, 0.9, 0.2, 0.7]))

    # Tiny inputs of two samples.
    cases.append(binary_case("two_ordered", [0, 1], [0.2, 0.8]))
    cases.append(binary_case("two_inverted", [0, 1], [0.8, 0.2]))
    cases.append(binary_case("two_tied", [1, 0], [0.5, 0.5]))
    cases.append(binary_case("two_signed_zero", [1, 0], [0.0, -0.0]))
    cases.append(binary_case("three_mixed", [1, 0, 1], [0.3, 0.3, 0.9]))

    # Class imbalance 1:1000 (and 1:999 with ties).
    n_pos = 5
    labels = np.array([1] * n_pos + [0] * (1000 * n_pos))
    rng.shuffle(labels)
    scores = rng.normal(size=labels.size) + 3.0 * labels
    cases.append(binary_case("imbalance_1_to_1000", labels, scores))
    n_pos = 8
    labels = np.array([1] * n_pos + [0] * (999 * n_pos))
    rng.shuffle(labels)
    scores = np.round(rng.normal(size=labels.size) + 2.0 * labels, 1)
    cases.append(binary_case("imbalance_1_to_999_ties", labels, scores))
    # Rare negatives instead.
    labels = np.array([0] * 3 + [1] * 3000)
    rng.shuffle(labels)
    scores = rng.normal(size=labels.size) + 0.5 * labels
    cases.append(binary_case("imbalance_rare_negatives", labels, scores))

    # Scores on very different scales (large magnitudes, tiny gaps).
    n = 400
    labels = (rng.random(n) < 0.5).astype(int)
    scores = 1e9 + np.round(rng.normal(size=n) * 1e3) * 1e-3 + labels * 1e-3
    cases.append(binary_case("large_magnitude_small_gaps", labels, scores))

    # One class only: ROC metrics undefined (sklearn raises); others defined.
    cases.append(binary_case("only_negatives", [0, 0, 0, 0], [0.1, 0.7, 0.3, 0.7]))
    cases.append(binary_case("only_positives", [1, 1, 1], [0.9, 0.2, 0.4]))
    return cases


def regression_cases():
    rng = np.random.default_rng(7)
    cases = []
    for name, y_true, y_pred in [
        ("normal_n1000", rng.normal(size=1000), rng.normal(size=1000)),
        ("offset_1e6", 1e6 + rng.normal(size=500), 1e6 + rng.normal(size=500) * 0.01),
        ("exact_zero", np.arange(10.0), np.arange(10.0)),
        ("single", np.array([3.0]), np.array([1.5])),
        ("float32_pred", rng.normal(size=300), rng.normal(size=300).astype(np.float32)),
    ]:
        cases.append(
            {
                "name": name,
                "pred_dtype": "f32" if y_pred.dtype == np.float32 else "f64",
                "y_true": [s(v) for v in y_true],
                "y_pred": [s(v) for v in y_pred],
                "mse": s(mean_squared_error(y_true, y_pred.astype(np.float64))),
            }
        )
    return cases


def flooding_expected(days, stations, labels, pred, zero_division):
    days = np.asarray(days)
    stations = np.asarray(stations)
    labels = np.asarray(labels)
    pred = np.asarray(pred)
    uniq_days = np.unique(days)
    day_true = np.array([labels[days == d].any() for d in uniq_days]).astype(int)
    day_pred = np.array([pred[days == d].any() for d in uniq_days]).astype(int)
    day_f1 = f1_score(day_true, day_pred, zero_division=zero_division)
    station_f1 = [
        f1_score(labels[stations == st], pred[stations == st], zero_division=zero_division)
        for st in np.unique(stations)
    ]
    mean_f1 = float(np.mean(station_f1))
    return {
        "score": s(0.3 * day_f1 + 0.7 * mean_f1),
        "day_f1": s(day_f1),
        "station_f1_mean": s(mean_f1),
    }


def flooding_case(name, days, stations, labels, pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "name": name,
            "days": [int(d) for d in days],
            "stations": [str(st) for st in stations],
            "labels": [int(v) for v in labels],
            "predicted": [int(v) for v in pred],
            "zero_division_1": flooding_expected(days, stations, labels, pred, 1.0),
            "zero_division_0": flooding_expected(days, stations, labels, pred, 0.0),
        }


def flooding_cases():
    rng = np.random.default_rng(12)
    cases = []
    names = [f"station_{i:02d}" for i in range(12)]

    def grid(n_days, flood_rate, quiet_stations=()):
        days, stations, labels = [], [], []
        for d in range(n_days):
            for i, st in enumerate(names):
                days.append(20000 + d)
                stations.append(st)
                labels.append(0 if i in quiet_stations else int(rng.random() < flood_rate))
        return np.array(days), np.array(stations), np.array(labels)

    days, stations, labels = grid(90, 0.06)
    noisy = np.where(rng.random(labels.size) < 0.1, 1 - labels, labels)
    cases.append(flooding_case("grid_noisy", days, stations, labels, noisy))

    days, stations, labels = grid(60, 0.08, quiet_stations=(2, 5, 11))
    pred = np.where(rng.random(labels.size) < 0.05, 1 - labels, labels)
    pred[stations == names[5]] = 0  # quiet and silent: zero_division decides
    pred[stations == names[11]] = 0
    cases.append(flooding_case("quiet_stations", days, stations, labels, pred))

    keep = rng.random(labels.size) > 0.15
    cases.append(flooding_case("missing_rows", days[keep], stations[keep], labels[keep], pred[keep]))

    days, stations, labels = grid(30, 0.1)
    cases.append(flooding_case("perfect", days, stations, labels, labels))
    cases.append(flooding_case("never_predicts", days, stations, labels, np.zeros_like(labels)))
    cases.append(flooding_case("always_predicts", days, stations, labels, np.ones_like(labels)))

    days, stations, labels = grid(20, 0.0)
    cases.append(flooding_case("no_floods_silent", days, stations, labels, labels))
    false_alarm = labels.copy()
    false_alarm[7] = 1
    cases.append(flooding_case("no_floods_one_false_alarm", days, stations, labels, false_alarm))

    order = rng.permutation(60)
    days, stations, labels = grid(5, 0.3)
    days, stations, labels = days[order], stations[order], labels[order]
    pred = (rng.random(60) < 0.3).astype(int)
    cases.append(flooding_case("shuffled_rows", days, stations, labels, pred))
    return cases


def main():
    fixtures = {
        "generator": "python/make_metric_fixtures.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "binary": binary_cases(),
        "regression": regression_cases(),
        "flooding": flooding_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixtures, separators=(",", ":"))
    OUT.write_text(text + "\n")
    print(f"wrote {OUT} ({len(text) / 1e6:.2f} MB, {len(fixtures['binary'])} binary, "
          f"{len(fixtures['regression'])} regression, {len(fixtures['flooding'])} flooding cases)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
