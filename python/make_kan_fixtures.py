#!/usr/bin/env python3
"""Kolmogorov-Arnold network fixtures for toolflow/tests/kan.rs (issue 10).

Writes two KANs in the `arena-kan/1` JSON format (docs/TOOLFLOW.md) and a
reference evaluation of their quantized tables, computed here independently
of the Rust toolflow, which the Rust test must equal bit for bit:

- `kan_flood.json`: one layer 84 -> 12 (degree-3 B-splines, 8 grid intervals),
  fitted on the training split of the `coastal-flooding` demo dataset: the
  edges of station s read only station s's seven days (a masked KAN), and
  their coefficients are a class-weighted ridge regression of the station's
  flood label (+1 / -1) on the B-spline basis (a KAN layer is linear in its
  coefficients). Its outputs are positive where it predicts a flood, as the
  `flood-watch` challenge scores them. Also the demo baseline (src/seed).
- `kan_deep.json`: two layers 84 -> 3 -> 2 with per-input grids, SiLU base
  functions and saturating/rounding types, random but fixed coefficients:
  exercises every part of the format.

Reference (this file): each edge table is evaluated with the documented
order of operations in Python floats (IEEE f64; `math.exp`), quantized with
ap_fixed rounding/overflow, then every input row is evaluated in integers.
Outputs go to `<name>.expected.json` with a SHA-256 of all tables.

Usage (from the repository root):

    target/release/arena dataset generate coastal-flooding --rows 5000 --seed 1 --out /tmp/flood
    .venv/bin/python python/make_kan_fixtures.py --data /tmp/flood/data \
        --inputs toolflow/tests/fixtures/bdt/inputs.json --out toolflow/tests/fixtures/kan
"""

import argparse
import hashlib
import json
import math
import pathlib
import re

import numpy as np
import pyarrow.parquet as pq

STATIONS, DAYS = 12, 7


# -- fixed point (ap_fixed semantics, the modes used here) ---------------------

def parse_type(s):
    m = re.fullmatch(r"\s*(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?>\s*", s)
    assert m, s
    width, ibits = int(m.group(2)), int(m.group(3))
    q, o = (m.group(4) or "TRN").upper(), (m.group(5) or "WRAP").upper()
    assert q in ("TRN", "RND") and o in ("WRAP", "SAT"), s
    return dict(signed=m.group(1) == "", width=width, frac=width - ibits, q=q, o=o)


def lo_hi(t):
    if t["signed"]:
        return -(1 << (t["width"] - 1)), (1 << (t["width"] - 1)) - 1
    return 0, (1 << t["width"]) - 1


def overflow(v, t):
    lo, hi = lo_hi(t)
    if lo <= v <= hi:
        return v
    if t["o"] == "SAT":
        return max(lo, min(hi, v))
    m = v & ((1 << t["width"]) - 1)
    if t["signed"] and m >> (t["width"] - 1):
        m -= 1 << t["width"]
    return m


def quantize(x, t):
    """A float into the type: scale exactly by 2^frac, round, overflow."""
    if math.isnan(x):
        return 0
    s = x * 2.0 ** t["frac"]
    f = math.floor(s)
    up = t["q"] == "RND" and (s - f) >= 0.5
    return overflow(int(f) + int(up), t)


def cast(v, from_frac, t):
    """An integer at from_frac into the type (shift, round, overflow)."""
    d = t["frac"] - from_frac
    if d >= 0:
        return overflow(v << d, t)
    s = -d
    r = (v + (1 << (s - 1))) >> s if t["q"] == "RND" else v >> s
    return overflow(r, t)


# -- edge functions (the documented order of operations) -----------------------

def basis(x, knots, k):
    n0 = len(knots) - 1
    b = [1.0 if knots[j] <= x < knots[j + 1] else 0.0 for j in range(n0)]
    for p in range(1, k + 1):
        nxt = []
        for j in range(n0 - p):
            d1 = knots[j + p] - knots[j]
            d2 = knots[j + p + 1] - knots[j + 1]
            left = (x - knots[j]) / d1 * b[j] if d1 != 0.0 else 0.0
            right = (knots[j + p + 1] - x) / d2 * b[j + 1] if d2 != 0.0 else 0.0
            nxt.append(left + right)
        b = nxt
    return b


def silu(x):
    return x / (1.0 + math.exp(-x))


def edge_value(x, knots, coef, k, base, spline):
    s = 0.0
    for c, b in zip(coef, basis(x, knots, k)):
        s += c * b
    base_part = base * silu(x) if base != 0.0 else 0.0
    return base_part + spline * s


def tabulate(model):
    """Per layer: (input type, table type, output type, tables[o][i], biases)."""
    in_t = parse_type(model["input_type"])
    layers = []
    for L in model["layers"]:
        table_t, out_t = parse_type(L["table_type"]), parse_type(L["output_type"])
        lo, hi = lo_hi(in_t)
        xs = [r * 2.0 ** -in_t["frac"] for r in range(lo, hi + 1)]
        grid = L["grid"]
        shared = not isinstance(grid[0], list)
        sb = L.get("scale_base")
        ss = L.get("scale_spline")
        zero_base = L.get("base_function", "silu") == "zero"
        tables = []
        for o in range(L["out"]):
            row = []
            for i in range(L["in"]):
                knots = grid if shared else grid[i]
                base = 0.0 if zero_base or sb is None else sb[o][i]
                spline = 1.0 if ss is None else ss[o][i]
                coef = L["coef"][o][i]
                row.append([quantize(edge_value(x, knots, coef, L["degree"], base, spline), table_t)
                            for x in xs])
            tables.append(row)
        bias = [quantize(b, table_t) for b in (L.get("bias") or [0.0] * L["out"])]
        layers.append((in_t, table_t, out_t, tables, bias))
        in_t = out_t
    return layers


def tables_sha256(layers):
    text = "|".join(";".join(",".join(str(v) for v in t) for row in tables for t in row)
                    for (_, _, _, tables, _) in layers)
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate(layers, x_rows):
    out = []
    for row in x_rows:
        cur = [quantize(float(v), layers[0][0]) for v in row]
        for in_t, table_t, out_t, tables, bias in layers:
            lo = lo_hi(in_t)[0]
            cur = [cast(bias[o] + sum(tables[o][i][xi - lo] for i, xi in enumerate(cur)),
                        table_t["frac"], out_t)
                   for o in range(len(tables))]
        out.append(cur)
    return out


# -- models --------------------------------------------------------------------

def uniform_knots(lo, hi, intervals, k):
    h = (hi - lo) / intervals
    return [lo + (j - k) * h for j in range(intervals + 2 * k + 1)]


def basis_matrix(x, knots, k):
    return np.array([basis(float(v), knots, k) for v in x])


def flood_kan(x_train, floods):
    k, intervals = 3, 8
    knots = uniform_knots(-0.5, 1.5, intervals, k)
    n_basis = len(knots) - 1 - k
    n_in = STATIONS * DAYS
    coef = [[[0.0] * n_basis for _ in range(n_in)] for _ in range(STATIONS)]
    bias = []
    cache = {}
    for s in range(STATIONS):
        cols = [cache.setdefault(s * DAYS + d, basis_matrix(x_train[:, s * DAYS + d], knots, k))
                for d in range(DAYS)]
        phi = np.hstack(cols + [np.ones((len(x_train), 1))])
        y = floods[:, s].astype(np.float64)
        t = 2.0 * y - 1.0
        pos = max(y.sum(), 1.0)
        w = np.where(y > 0, min((len(y) - pos) / pos, 50.0), 1.0)
        a = phi.T @ (phi * w[:, None]) + 1e-2 * np.eye(phi.shape[1])
        c = np.linalg.solve(a, phi.T @ (w * t))
        for d in range(DAYS):
            coef[s][s * DAYS + d] = [float(v) for v in c[d * n_basis:(d + 1) * n_basis]]
        bias.append(float(c[-1]))
    return {
        "format": "arena-kan/1",
        "name": "kan_flood",
        "input_shape": [STATIONS, DAYS],
        "input_type": "fixed<8,2,RND,SAT>",
        "layers": [{
            "in": n_in, "out": STATIONS, "degree": k, "grid": knots, "coef": coef,
            "base_function": "zero", "bias": bias,
            "table_type": "fixed<12,4,RND,SAT>", "output_type": "fixed<12,4,RND,SAT>",
        }],
        "metadata": {"fitted_by": "python/make_kan_fixtures.py",
                     "method": "class-weighted ridge regression on the B-spline basis, edges masked per station"},
    }


def deep_kan(rng):
    n_in, hidden, n_out = STATIONS * DAYS, 3, 2
    k1, k2 = 3, 2
    grids = []
    for _ in range(n_in):
        lo = float(rng.uniform(-1.0, -0.1))
        grids.append(uniform_knots(lo, lo + float(rng.uniform(0.5, 2.5)), int(rng.integers(3, 7)), k1))
    coef1 = [[[float(v) for v in rng.normal(0, 0.4, len(grids[i]) - 1 - k1)] for i in range(n_in)]
             for _ in range(hidden)]
    knots2 = uniform_knots(-2.0, 2.0, 5, k2)
    coef2 = [[[float(v) for v in rng.normal(0, 1.0, len(knots2) - 1 - k2)] for _ in range(hidden)]
             for _ in range(n_out)]
    return {
        "format": "arena-kan/1",
        "name": "kan_deep",
        "input_shape": [STATIONS, DAYS],
        "input_type": "fixed<7,2,RND,SAT>",
        "layers": [
            {"in": n_in, "out": hidden, "degree": k1, "grid": grids, "coef": coef1,
             "scale_base": [[float(v) for v in rng.normal(0, 0.3, n_in)] for _ in range(hidden)],
             "scale_spline": [[float(v) for v in rng.uniform(0.5, 1.5, n_in)] for _ in range(hidden)],
             "base_function": "silu", "bias": [float(v) for v in rng.normal(0, 0.5, hidden)],
             "table_type": "fixed<14,5,RND,SAT>", "output_type": "fixed<7,3,RND,SAT>"},
            {"in": hidden, "out": n_out, "degree": k2, "grid": knots2, "coef": coef2,
             "base_function": "zero", "table_type": "fixed<12,4>", "output_type": "fixed<10,4>"},
        ],
    }


def load(path):
    t = pq.read_table(path)
    x = np.nan_to_num(np.array(t.column("x").to_pylist(), dtype=np.float32), nan=0.0)
    floods = np.array(t.column("floods").to_pylist(), dtype=bool)
    return x, floods


def f1(pred, truth):
    tp = np.sum(pred & truth)
    return 2 * tp / max(np.sum(pred) + np.sum(truth), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--inputs", required=True, help="inputs.json (rows of 84 float32 values)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--baseline-out", help="also copy kan_flood.json here (src/seed/models)")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    x_train, floods_train = load(pathlib.Path(args.data) / "train.parquet")
    x_test, floods_test = load(pathlib.Path(args.data) / "public_test.parquet")
    inputs = json.loads(pathlib.Path(args.inputs).read_text())
    x_rows = np.array(inputs["x"], dtype=np.float32).reshape(inputs["rows"], inputs["features"])

    models = [flood_kan(x_train, floods_train), deep_kan(np.random.default_rng(10))]
    for model in models:
        name = model["name"]
        text = json.dumps(model)
        (out / f"{name}.json").write_text(text)
        if args.baseline_out and name == "kan_flood":
            pathlib.Path(args.baseline_out).write_text(text)
        layers = tabulate(model)
        y = evaluate(layers, x_rows)
        frac = parse_type(model["layers"][-1]["output_type"])["frac"]
        (out / f"{name}.expected.json").write_text(json.dumps({
            "model": f"{name}.json", "inputs": "../bdt/inputs.json", "output_frac": frac,
            "tables_sha256": tables_sha256(layers), "y_raw": [v for r in y for v in r],
        }))
        print(f"{name}: {len(layers)} layers, tables {tables_sha256(layers)[:12]}, "
              f"{len(set(v for r in y for v in r))} distinct outputs")
        if name == "kan_flood":
            y_test = np.array(evaluate(layers, x_test))
            print(f"kan_flood public_test: mean per-station F1 {np.mean([f1(y_test[:, s] > 0, floods_test[:, s]) for s in range(STATIONS)]):.3f}, "
                  f"day-level F1 {f1((y_test > 0).any(1), floods_test.any(1)):.3f}")


if __name__ == "__main__":
    main()
