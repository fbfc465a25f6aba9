#!/usr/bin/env python3
"""scikit-learn tree-ensemble fixtures (ONNX-ML) for toolflow/tests/bdt_sklearn.rs (issue 10).

Trains scikit-learn ensembles of several kinds and sizes on the training split
of the `coastal-flooding` demo dataset (x: 84 sea-level anomalies), exports
each with skl2onnx (TreeEnsembleClassifier/Regressor, with the Cast and
ZipMap nodes skl2onnx adds) and records conifer's bit-accurate C++ emulation
(ap_fixed types) of the same trees on test inputs:

- the binary GradientBoostingClassifier goes through conifer's own ONNX
  converter (`conifer.converters.convert_from_onnx`);
- every model (that one too, as a check that both agree) goes through a small
  ONNX-attribute -> conifer-ensemble adapter below, because conifer's ONNX
  converter reads binary classifiers only (one weight per leaf, `base_values`
  present). The adapter only lays the ONNX trees out in conifer's dictionary
  (one tree per output, `<=` splits); the fixed-point arithmetic is conifer's.

It also checks that conifer's outputs agree with onnxruntime's float scores
(the same model with `post_transform` NONE) within the quantization error, on
the rows that sit away from split thresholds.

Usage (from the repository root, after scripts/python-env):

    target/release/arena dataset generate coastal-flooding --rows 5000 --seed 1 --out /tmp/flood
    .venv/bin/python python/make_bdt_sklearn_fixtures.py --data /tmp/flood/data --out toolflow/tests/fixtures/bdt_sklearn

Needs g++ and the nlohmann JSON headers (Debian `nlohmann-json3-dev`) for
conifer's C++ backend; the ap_fixed headers come from hls4ml's copy in the venv.

Writes per model `<name>.onnx`, `<name>.yaml` (the toolflow precision
configuration equal to conifer's) and `<name>.expected.json` (conifer's
outputs, row-major `rows x outputs`), and once `inputs.json` (rows of the
public test split, then rows whose features sit exactly on split thresholds,
one float ulp below, or an LSB around them, to exercise `<=` ties).
"""

import argparse
import copy
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
import skl2onnx
import sklearn
from onnx import helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)

import conifer
import conifer.backends.cpp.writer as cpp_writer
import hls4ml

TEST_ROWS = 200
TIE_ROWS = 100
# ai.onnx.ml opset 3 (TreeEnsembleClassifier/Regressor, not the opset-5 TreeEnsemble).
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}


def targets(split_table, x):
    """Labels: anomaly (binary), flooding-station count class (0, 1, 2+), peak anomaly, per-station peak."""
    binary = np.array(split_table.column("is_anomaly").to_pylist(), dtype=np.int64)
    floods = np.array(split_table.column("floods").to_pylist(), dtype=np.int64).sum(axis=1)
    three = np.minimum(floods, 2)
    peak = x.max(axis=1)
    per_station = x.reshape(len(x), 12, 7).max(axis=2)
    return {"binary": binary, "three": three, "peak": peak, "per_station": per_station}


# (name, estimator, label, input/threshold precision, score precision)
def models():
    return [
        ("skl_gbc_small",
         GradientBoostingClassifier(n_estimators=10, max_depth=2, learning_rate=0.3, random_state=1),
         "binary", "ap_fixed<18,8>", "ap_fixed<18,8>"),
        ("skl_rf_medium",
         RandomForestClassifier(n_estimators=20, max_depth=4, random_state=1, n_jobs=1),
         "binary", "ap_fixed<16,4>", "ap_fixed<16,2>"),
        ("skl_hgb_multiclass",
         HistGradientBoostingClassifier(max_iter=15, max_depth=3, learning_rate=0.1, l2_regularization=1.0,
                                        min_samples_leaf=20, random_state=1),
         "three", "ap_fixed<12,3>", "ap_fixed<14,6>"),
        ("skl_gbr_large",
         GradientBoostingRegressor(n_estimators=40, max_depth=4, learning_rate=0.2, random_state=1),
         "peak", "ap_fixed<16,4>", "ap_fixed<16,4>"),
        ("skl_et_multitarget",
         ExtraTreesRegressor(n_estimators=8, max_depth=3, random_state=1, n_jobs=1),
         "per_station", "ap_fixed<16,4>", "ap_fixed<16,4>"),
    ]


def load(path):
    t = pq.read_table(path)
    x = np.array(t.column("x").to_pylist(), dtype=np.float32)
    # conifer casts NaN into ap_fixed undefined-ly; the toolflow maps NaN to 0.
    x = np.nan_to_num(x, nan=0.0)
    return x, targets(t, x)


def toolflow_type(ap):
    return ap.replace("ap_fixed", "fixed")


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def ensemble_node(model):
    nodes = [n for n in model.graph.node if n.op_type.startswith("TreeEnsemble")]
    assert len(nodes) == 1, [n.op_type for n in model.graph.node]
    return nodes[0]


def numbers(a, key):
    if key in a:
        return np.array(a[key], dtype=np.float64)
    if key + "_as_tensor" in a:
        return numpy_helper.to_array(a[key + "_as_tensor"]).astype(np.float64)
    return None


def conifer_dict(model, n_features):
    """The ONNX tree ensemble laid out as conifer's ensemble dictionary:
    per ONNX tree, one conifer tree per output (leaf values of that output)."""
    node = ensemble_node(model)
    a = attrs(node)
    classifier = node.op_type == "TreeEnsembleClassifier"
    p = "class" if classifier else "target"
    ids = np.array(a[f"{p}_ids"])
    if classifier:
        labels = len(a.get("classlabels_int64s", a.get("classlabels_strings", [])))
        n_out = 1 if labels == 2 and ids.max() == 0 else labels
    else:
        n_out = int(a["n_targets"])
    assert n_out != 2, "conifer folds two outputs into one"
    modes = [m.decode() for m in a["nodes_modes"]]
    assert set(modes) <= {"LEAF", "BRANCH_LEQ"}, set(modes)
    assert a.get("aggregate_function", b"SUM") == b"SUM"
    values = numbers(a, "nodes_values")
    weights = numbers(a, f"{p}_weights")
    base = numbers(a, "base_values")
    base = [0.0] * n_out if base is None or len(base) == 0 else base.tolist()
    tree_ids = np.array(a["nodes_treeids"])
    trees = []
    for tid in sorted(set(tree_ids.tolist())):
        sel = np.flatnonzero(tree_ids == tid)
        local = {int(a["nodes_nodeids"][i]): k for k, i in enumerate(sel)}
        assert local.get(0) == 0  # skl2onnx writes the root first as node 0
        per_out = []
        for out in range(n_out):
            t = {"feature": [], "threshold": [], "value": [], "children_left": [],
                 "children_right": [], "weight": []}
            for k, i in enumerate(sel):
                leaf = modes[i] == "LEAF"
                t["feature"].append(-2 if leaf else int(a["nodes_featureids"][i]))
                t["threshold"].append(-2.0 if leaf else float(values[i]))
                t["children_left"].append(-1 if leaf else local[int(a["nodes_truenodeids"][i])])
                t["children_right"].append(-1 if leaf else local[int(a["nodes_falsenodeids"][i])])
                w = [0] * n_features
                if not leaf:
                    w[int(a["nodes_featureids"][i])] = 1
                t["weight"].append(w)
                t["value"].append(0.0)
            m = (np.array(a[f"{p}_treeids"]) == tid) & (ids == out)
            for nid, wv in zip(np.array(a[f"{p}_nodeids"])[m], weights[m]):
                t["value"][local[int(nid)]] += float(wv)
            per_out.append(t)
        trees.append(per_out)
    depth = max(_depth(t) for ts in trees for t in ts)
    return {"max_depth": depth, "n_trees": len(trees), "n_features": n_features,
            "n_classes": n_out, "trees": trees, "init_predict": base, "norm": 1,
            "library": "onnx", "splitting_convention": "<="}, n_out


def _depth(t, i=0):
    if t["feature"][i] == -2:
        return 0
    return 1 + max(_depth(t, t["children_left"][i]), _depth(t, t["children_right"][i]))


def conifer_cfg(in_prec, score_prec, work):
    return {"Backend": "cpp", "OutputDir": str(work), "ProjectName": "prj",
            "InputPrecision": in_prec, "ThresholdPrecision": in_prec, "ScorePrecision": score_prec}


def conifer_run(make, in_prec, score_prec, x, name):
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"conifer-{name}-"))
    try:
        cm = make(conifer_cfg(in_prec, score_prec, work))
        cm.compile()
        return np.asarray(cm.decision_function(x.astype(np.float64))).reshape(len(x), -1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ort_raw_scores(model, x, n_out):
    """onnxruntime's float scores before post_transform (the copy has post_transform NONE
    and the ensemble's score tensor as its only output)."""
    m = copy.deepcopy(model)
    node = ensemble_node(m)
    for a in node.attribute:
        if a.name == "post_transform":
            a.s = b"NONE"
    score = node.output[-1]
    keep = [n for n in m.graph.node if n is node]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    del m.graph.output[:]
    m.graph.output.append(helper.make_tensor_value_info(score, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {m.graph.input[0].name: x})[0].reshape(len(x), -1)
    # A binary classifier's one score column comes back as [1-s, s] or [-s, s].
    return y[:, -1:] if n_out == 1 and y.shape[1] == 2 else y


def tie_rows(onnx_models, x_base, rng):
    """Rows whose features equal split thresholds (and one float ulp/LSB around them)."""
    thresholds = {}
    for m in onnx_models:
        a = attrs(ensemble_node(m))
        vals = numbers(a, "nodes_values")
        for f, v, mode in zip(a["nodes_featureids"], vals, a["nodes_modes"]):
            if mode != b"LEAF":
                thresholds.setdefault(int(f), []).append(float(v))
    rows = []
    for k in range(TIE_ROWS):
        row = x_base[rng.integers(len(x_base))].copy()
        for f, ts in thresholds.items():
            t = np.float32(ts[rng.integers(len(ts))])
            choice = k % 4
            if choice == 0:
                row[f] = t
            elif choice == 1:
                row[f] = np.nextafter(t, np.float32(np.inf))
            elif choice == 2:
                row[f] = t - np.float32(2.0**-8)
            else:
                row[f] = t + np.float32(2.0**-10)
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="directory with train.parquet and public_test.parquet")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ap_types = pathlib.Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    os.environ["XILINX_AP_INCLUDE"] = str(ap_types)
    cpp_writer._json_include = lambda: "-I/usr/include"

    x_train, y_train = load(pathlib.Path(args.data) / "train.parquet")
    x_test, _ = load(pathlib.Path(args.data) / "public_test.parquet")
    n_features = x_train.shape[1]

    specs = models()
    onnx_models = []
    for name, est, label, _, _ in specs:
        est.fit(x_train, y_train[label])
        onnx_models.append(to_onnx(est, x_train[:1], target_opset=TARGET_OPSET))

    rng = np.random.default_rng(11)
    x = np.concatenate([x_test[:TEST_ROWS], tie_rows(onnx_models, x_test, rng)])
    values = ",".join(str(np.float32(v)) for v in x.ravel())
    (out / "inputs.json").write_text(
        f'{{"rows": {len(x)}, "features": {n_features}, "test_rows": {TEST_ROWS}, "x": [{values}]}}')

    for (name, est, label, in_prec, score_prec), m in zip(specs, onnx_models):
        (out / f"{name}.onnx").write_bytes(m.SerializeToString())
        (out / f"{name}.yaml").write_text(
            "# toolflow precision configuration equal to conifer's\n"
            f"# InputPrecision = ThresholdPrecision = {in_prec}, ScorePrecision = {score_prec}\n"
            "Model:\n"
            f"  Precision: {{default: '{toolflow_type(in_prec)}', result: '{toolflow_type(score_prec)}'}}\n"
        )
        ens, n_out = conifer_dict(m, n_features)
        y = conifer_run(lambda cfg: conifer.model.make_model(copy.deepcopy(ens), cfg),
                        in_prec, score_prec, x, name)
        assert y.shape == (len(x), n_out), y.shape
        reference = "conifer ONNX adapter (this script) + conifer cpp emulation"
        if name == "skl_gbc_small":
            # conifer's own ONNX converter must give the same outputs.
            y_own = conifer_run(lambda cfg: conifer.converters.convert_from_onnx(m, cfg),
                                in_prec, score_prec, x, name + "-own")
            assert np.array_equal(y, y_own), "conifer's ONNX converter disagrees with the adapter"
            reference = "conifer.converters.convert_from_onnx + conifer cpp emulation (adapter equal)"
        # Float agreement with onnxruntime on the test rows (not the threshold ties).
        raw = ort_raw_scores(m, x, n_out)
        score_lsb = 2.0 ** -(int(score_prec.split("<")[1].split(",")[0]) - int(score_prec.split(",")[1].rstrip(">")))
        n_trees = ens["n_trees"]
        tol = (n_trees + 1) * score_lsb + 1e-6
        diff = np.abs(y[:TEST_ROWS] - raw[:TEST_ROWS]).max(axis=1)
        within = float(np.mean(diff <= tol))
        print(f"{name}: {type(est).__name__}, {n_trees} trees, {n_out} outputs, depth {ens['max_depth']}; "
              f"conifer vs onnxruntime float: {within:.1%} of test rows within {tol:.4g}, "
              f"median |diff| {np.median(diff):.2e}, max {diff.max():.3g}")
        assert within >= 0.9, f"{name}: conifer and onnxruntime disagree beyond quantization"
        (out / f"{name}.expected.json").write_text(json.dumps({
            "model": f"{name}.onnx", "estimator": type(est).__name__, "label": label,
            "trees": n_trees, "outputs": n_out, "max_depth": ens["max_depth"],
            "input_precision": in_prec, "score_precision": score_prec,
            "reference": reference,
            "conifer_version": str(conifer.__version__), "sklearn_version": sklearn.__version__,
            "skl2onnx_version": skl2onnx.__version__, "onnxruntime_version": ort.__version__,
            "ort_within_tolerance": within,
            "y": [float(v) for v in y.ravel()],
            "onnxruntime_raw": [float(v) for v in raw.ravel()],
        }))


if __name__ == "__main__":
    main()
