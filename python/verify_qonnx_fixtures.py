#!/usr/bin/env python3
"""Verify the committed QONNX fixtures in toolflow/tests/fixtures/.

For every NAME.json / NAME.onnx / NAME.parquet triple:

1. structure: onnx.checker accepts the model; the parquet file has columns
   x, y of FixedSizeList<Float32> whose sizes match input_shape/output_shape
   (batch dimension excluded) and at least 1,000 rows, as the JSON says;
2. determinism: qonnx's execute_onnx, re-run from the file on the first
   --qonnx-rows rows, reproduces y bit for bit;
3. onnxruntime: the standard-op part of the model (every node outside the
   qonnx.custom_op.general domain, as one graph with all of onnxruntime's graph
   optimisations on, e.g. Conv+BatchNormalization fusion) is run in a single
   session, fed with the QONNX-op outputs from step 2, and must reproduce the
   tensors qonnx computed bit for bit;
4. independent float64 re-evaluation (python/qonnx_ref64.py) of every row
   equals y, and every partial sum fits float32 exactly;
5. y values are on the declared lsb grid.

Prints a summary table; exits non-zero if anything fails.

Usage:  .venv/bin/python python/verify_qonnx_fixtures.py [--qonnx-rows N] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
from onnx import helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qonnx_ref64 import QONNX_DOMAIN, Ref64, grid_exponent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "toolflow" / "tests" / "fixtures"


def value_infos(model):
    g = model.graph
    return {v.name: v for v in list(g.input) + list(g.value_info) + list(g.output)}


def standard_part(model):
    """The standard-op nodes as one ONNX model whose inputs are the tensors
    they read from QONNX ops (or the graph input) and whose outputs are the
    tensors they hand to QONNX ops (or the graph output)."""
    g = model.graph
    std = [n for n in g.node if n.domain != QONNX_DOMAIN]
    if not std:
        return None
    custom = [n for n in g.node if n.domain == QONNX_DOMAIN]
    inits = {t.name: t for t in g.initializer}
    produced = {o for n in std for o in n.output}
    ins, used_inits = [], []
    for n in std:
        for i in n.input:
            if not i or i in produced:
                continue
            if i in inits:
                if i not in used_inits:
                    used_inits.append(i)
            elif i not in ins:
                ins.append(i)
    wanted = {i for n in custom for i in n.input} | {o.name for o in g.output}
    outs = [o for n in std for o in n.output if o in wanted]
    vi = value_infos(model)
    sub = helper.make_graph(
        std, "standard_part", [vi[i] for i in ins], [vi[o] for o in outs], [inits[i] for i in used_inits]
    )
    m = helper.make_model(sub, opset_imports=[o for o in model.opset_import if o.domain in ("", "ai.onnx")],
                          ir_version=model.ir_version)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]), ins, outs, len(std)


def fsl_to_numpy(col):
    col = col.combine_chunks()
    return np.asarray(col.values.to_numpy(zero_copy_only=False), np.float32).reshape(len(col), col.type.list_size)


def verify(name: str, qonnx_rows: int) -> dict:
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    model = onnx.load(str(FIXTURES / f"{name}.onnx"))
    onnx.checker.check_model(model)
    table = pq.read_table(FIXTURES / f"{name}.parquet")
    errs = []
    for c in ("x", "y"):
        t = table.schema.field(c).type
        if not (str(t).startswith("fixed_size_list<") and t.value_type == "float"):
            errs.append(f"column {c} has type {t}")
    xs, ys = fsl_to_numpy(table["x"]), fsl_to_numpy(table["y"])
    in_shape, out_shape = meta["input_shape"], meta["output_shape"]
    if xs.shape[1] != int(np.prod(in_shape[1:])) or ys.shape[1] != int(np.prod(out_shape[1:])):
        errs.append("column widths do not match the shapes in the JSON")
    if len(xs) != meta["rows"] or len(xs) < 1000:
        errs.append(f"{len(xs)} rows (JSON says {meta['rows']})")

    # 2 + 3: qonnx re-run and onnxruntime on the standard-op part
    mw = ModelWrapper(model)
    sp = standard_part(model)
    n_q = min(qonnx_rows, len(xs))
    q_bad = ort_bad = 0
    for i in range(n_q):
        ctx = execute_onnx(mw, {"x": xs[i].reshape(in_shape)}, return_full_exec_context=True)
        y = np.asarray(ctx["y"], np.float32).ravel() + np.float32(0.0)
        if not np.array_equal(y.view(np.uint32), ys[i].view(np.uint32)):
            q_bad += 1
        if sp is not None:
            sess, ins, outs, _ = sp
            res = sess.run(outs, {k: np.asarray(ctx[k], np.float32) for k in ins})
            if not all(np.array_equal(r, np.asarray(ctx[o], np.float32)) for r, o in zip(res, outs)):
                ort_bad += 1
    if q_bad:
        errs.append(f"qonnx re-run differs on {q_bad}/{n_q} rows")
    if ort_bad:
        errs.append(f"onnxruntime standard part differs on {ort_bad}/{n_q} rows")

    # 4: float64 re-evaluation of every row
    ref = Ref64(model)
    r_bad = 0
    for i in range(len(xs)):
        y64, _ = ref.run(xs[i].reshape(in_shape).astype(np.float64))
        if not np.array_equal(y64.ravel(), ys[i].astype(np.float64)):
            r_bad += 1
    if r_bad:
        errs.append(f"float64 re-evaluation differs on {r_bad} rows")
    # 5: grid
    if meta.get("lsb"):
        ge = grid_exponent(ys)
        if ge is not None and ge < np.log2(meta["lsb"]):
            errs.append(f"y has values finer than lsb {meta['lsb']}")
    size = sum((FIXTURES / f"{name}.{e}").stat().st_size for e in ("onnx", "parquet", "json"))
    return dict(
        name=name, rows=len(xs), q_rows=n_q, q_ok=q_bad == 0, ort_nodes=sp[3] if sp else 0,
        ort_ok=ort_bad == 0, ref_ok=r_bad == 0, bits=ref.max_bits, tol=meta["tolerance_lsb"],
        distinct=len(np.unique(ys)), zero=float(np.mean(ys == 0)), kb=size / 1024, errs=errs,
        stats=ref.stats,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--qonnx-rows", type=int, default=200,
                    help="rows re-run through qonnx and onnxruntime per fixture (default 200; the float64 "
                         "re-evaluation always covers every row)")
    args = ap.parse_args(argv)
    names = args.names or sorted(p.stem for p in FIXTURES.glob("*.json"))
    hdr = (f"{'fixture':30s} {'rows':>5s} {'qonnx':>9s} {'ort(nodes)':>10s} {'f64':>4s} {'bits':>5s} "
           f"{'ties':>7s} {'clamp':>7s} {'th_eq':>6s} {'distinct':>8s} {'zero%':>6s} {'tol':>3s} {'kB':>6s}")
    print(hdr)
    print("-" * len(hdr))
    failed, total_kb = 0, 0.0
    for n in names:
        r = verify(n, args.qonnx_rows)
        total_kb += r["kb"]
        ok = lambda b: "ok" if b else "FAIL"  # noqa: E731
        ort_col = f"{ok(r['ort_ok'])}({r['ort_nodes']})" if r["ort_nodes"] else "-"
        print(f"{r['name']:30s} {r['rows']:5d} {ok(r['q_ok']) + '/' + str(r['q_rows']):>9s} {ort_col:>10s} "
              f"{ok(r['ref_ok']):>4s} {r['bits']:5.1f} {r['stats']['ties']:7d} {r['stats']['clamped']:7d} "
              f"{r['stats']['threshold_hits']:6d} {r['distinct']:8d} {100 * r['zero']:6.1f} {r['tol']:3d} "
              f"{r['kb']:6.0f}", flush=True)
        for e in r["errs"]:
            print(f"    ERROR: {e}")
        failed += bool(r["errs"])
    print("-" * len(hdr))
    print(f"{len(names)} fixtures, {total_kb / 1024:.2f} MiB; {len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
