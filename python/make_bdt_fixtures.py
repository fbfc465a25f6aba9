#!/usr/bin/env python3
"""Boosted-decision-tree fixtures for toolflow/tests/bdt.rs (issue 10).

Trains XGBoost classifiers of three sizes on the training split of the
`coastal-flooding` demo dataset (x: 84 sea-level anomalies, label
`is_anomaly`: any station floods), and records conifer's bit-accurate C++
emulation (ap_fixed types) of each on test inputs, so the Rust test checks
that the toolflow's simulator and RTL equal conifer without training or
compiling anything.

Usage (from the repository root, after scripts/python-env):

    target/release/arena dataset generate coastal-flooding --rows 5000 --seed 1 --out /tmp/flood
    .venv/bin/python python/make_bdt_fixtures.py --data /tmp/flood/data --out toolflow/tests/fixtures/bdt

Needs g++ and the nlohmann JSON headers (Debian `nlohmann-json3-dev`) for
conifer's C++ backend; the ap_fixed headers come from hls4ml's copy in the venv.

Writes per model `<name>.json` (XGBoost `save_model` JSON), `<name>.yaml`
(the toolflow precision configuration equal to conifer's) and
`<name>.expected.json` (conifer's outputs), and once `inputs.json` (the test
inputs: rows of the public test split, then rows whose features sit exactly
on split thresholds, on either side and one LSB away, to exercise ties).
"""

import argparse
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np
import pyarrow.parquet as pq
import xgboost as xgb

import conifer
import conifer.backends.cpp.writer as cpp_writer
import hls4ml

# (name, trees, depth, input/threshold precision, score precision)
SIZES = [
    ("bdt_small", 5, 2, "ap_fixed<18,8>", "ap_fixed<18,8>"),
    ("bdt_medium", 20, 3, "ap_fixed<16,4>", "ap_fixed<16,6>"),
    ("bdt_large", 60, 4, "ap_fixed<12,3>", "ap_fixed<14,6>"),
]
TEST_ROWS = 200
TIE_ROWS = 100


def load(path):
    t = pq.read_table(path)
    x = np.array(t.column("x").to_pylist(), dtype=np.float32)
    y = np.array(t.column("is_anomaly").to_pylist(), dtype=np.int32)
    # conifer casts NaN into ap_fixed undefined-ly; the toolflow maps NaN to 0.
    return np.nan_to_num(x, nan=0.0), y


def toolflow_type(ap):
    return ap.replace("ap_fixed", "fixed")


def tie_rows(models, x_base, rng):
    """Rows whose features equal split thresholds (and one float ulp/LSB around them)."""
    thresholds = {}
    for m in models:
        df = m.get_booster().trees_to_dataframe()
        for feat, split in zip(df.Feature, df.Split):
            if feat != "Leaf":
                thresholds.setdefault(int(feat[1:]), []).append(float(split))
    rows = []
    for k in range(TIE_ROWS):
        row = x_base[rng.integers(len(x_base))].copy()
        for f, ts in thresholds.items():
            t = np.float32(ts[rng.integers(len(ts))])
            choice = k % 4
            if choice == 0:
                row[f] = t
            elif choice == 1:
                row[f] = np.nextafter(t, np.float32(-np.inf))
            elif choice == 2:
                row[f] = t - np.float32(2.0**-8)
            else:
                row[f] = t + np.float32(2.0**-9)
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def conifer_outputs(model, in_prec, score_prec, x, work):
    cfg = {
        "Backend": "cpp",
        "OutputDir": str(work),
        "ProjectName": "prj",
        "InputPrecision": in_prec,
        "ThresholdPrecision": in_prec,
        "ScorePrecision": score_prec,
    }
    cm = conifer.converters.convert_from_xgboost(model.get_booster(), cfg)
    cm.compile()
    return cm.decision_function(x.astype(np.float64)).reshape(len(x), -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="directory with train.parquet and public_test.parquet")
    ap.add_argument("--out", required=True)
    ap.add_argument("--baseline-out", help="also write the flood-watch baseline (12 outputs) here")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # conifer's C++ backend: ap_fixed headers from hls4ml, JSON headers from the system.
    ap_types = pathlib.Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    os.environ["XILINX_AP_INCLUDE"] = str(ap_types)
    cpp_writer._json_include = lambda: "-I/usr/include"

    x_train, y_train = load(pathlib.Path(args.data) / "train.parquet")
    x_test, _ = load(pathlib.Path(args.data) / "public_test.parquet")
    print(f"train {x_train.shape}, positives {y_train.mean():.3f}")

    models = []
    for name, trees, depth, _, _ in SIZES:
        m = xgb.XGBClassifier(
            n_estimators=trees, max_depth=depth, learning_rate=0.3, random_state=1, n_jobs=1,
            tree_method="hist",
        )
        m.fit(x_train, y_train)
        models.append(m)

    rng = np.random.default_rng(7)
    x = np.concatenate([x_test[:TEST_ROWS], tie_rows(models, x_test, rng)])
    # float32 values in their shortest decimal form (parsed back to the same float32).
    values = ",".join(str(np.float32(v)) for v in x.ravel())
    (out / "inputs.json").write_text(
        f'{{"rows": {len(x)}, "features": {x.shape[1]}, "x": [{values}]}}')

    for (name, trees, depth, in_prec, score_prec), m in zip(SIZES, models):
        bst = m.get_booster()
        bst.set_attr(input_shape="12,7")
        bst.save_model(str(out / f"{name}.json"))
        (out / f"{name}.yaml").write_text(
            "# toolflow precision configuration equal to conifer's\n"
            f"# InputPrecision = ThresholdPrecision = {in_prec}, ScorePrecision = {score_prec}\n"
            "Model:\n"
            f"  Precision: {{default: '{toolflow_type(in_prec)}', result: '{toolflow_type(score_prec)}'}}\n"
        )
        work = pathlib.Path(tempfile.mkdtemp(prefix=f"conifer-{name}-"))
        try:
            y = conifer_outputs(m, in_prec, score_prec, x, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        margin = bst.predict(xgb.DMatrix(x), output_margin=True)
        err = float(np.max(np.abs(y[:, 0] - margin)))
        print(f"{name}: {trees} trees depth {depth}, conifer vs float XGBoost max |diff| {err:.4f}")
        (out / f"{name}.expected.json").write_text(json.dumps({
            "model": f"{name}.json", "trees": trees, "max_depth": depth,
            "input_precision": in_prec, "score_precision": score_prec,
            "conifer_version": str(conifer.__version__), "xgboost_version": str(xgb.__version__),
            "y": [float(v) for v in y.ravel()],
            "xgboost_margin": [float(v) for v in margin],
        }))

    if args.baseline_out:
        flood_baseline(pathlib.Path(args.data), pathlib.Path(args.baseline_out))


def flood_baseline(data, path):
    """The flood-watch demo baseline: one margin per station (multi-label
    binary:logistic, one tree per station per round), positive where a flood
    is predicted; positives weighted up as they are rare."""
    def floods(split):
        t = pq.read_table(data / f"{split}.parquet")
        return (np.nan_to_num(np.array(t.column("x").to_pylist(), dtype=np.float32)),
                np.array(t.column("floods").to_pylist(), dtype=np.int32))
    x, y = floods("train")
    m = xgb.XGBClassifier(n_estimators=10, max_depth=3, learning_rate=0.3, random_state=1, n_jobs=1,
                          tree_method="hist", multi_strategy="one_output_per_tree", scale_pos_weight=40.0)
    m.fit(x, y)
    bst = m.get_booster()
    bst.set_attr(input_shape="12,7")
    bst.save_model(str(path))
    xt, yt = floods("public_test")
    pred = bst.predict(xgb.DMatrix(xt), output_margin=True) > 0
    f1 = [2 * np.sum(pred[:, s] & (yt[:, s] > 0)) / max(pred[:, s].sum() + yt[:, s].sum(), 1) for s in range(12)]
    print(f"flood baseline: {len(bst.get_dump())} trees, public_test mean per-station F1 {np.mean(f1):.3f}")


if __name__ == "__main__":
    main()
