#!/usr/bin/env python3
"""hls4ml fixtures for the activations hls4ml 1.3's ONNX front end cannot convert.

hls4ml 1.3 has no ONNX handler for HardSigmoid ("TODO: repair HardSigmoid
support", converters/onnx/core.py), and it turns an ONNX PRelu into a plain
Activation without its slopes (the `else` branch of parse_activation_layer),
so neither converts. Its Keras front end does convert both, to the
HardActivation and PReLU layers, whose C++ is nnet::hard_sigmoid and
nnet::prelu (templates/vivado/nnet_utils/nnet_activation.h). This script
calls those functions themselves: it writes a C++ program that includes
hls4ml's nnet_activation.h and ap_types, declares the layer configuration
exactly as hls4ml's templates write it (hard_activ_config_template and
param_activ_config_template in backends/vivado/passes/core_templates.py,
with the types the configuration resolves to), converts each input with
`input_t(float)` as hls4ml's bridge does, and prints the results.

Written into toolflow/tests/hls4ml/ in the format of make_hls4ml_fixtures.py
(NAME.onnx, NAME.model.yaml, NAME.name.yaml, NAME.parquet with x, y_model,
y_name, NAME.json), so tests/hls4ml_fixtures.rs checks them with the others.
The configurations are written in the form config_from_onnx_model writes.

Usage: .venv/bin/python python/make_hls4ml_harness_fixtures.py [--rows N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hls4ml_peer as peer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "toolflow" / "tests" / "hls4ml"
N = 8


def ap(t: str) -> str:
    """hls4ml's type string -> the C++ type."""
    signed, w, i, q, o = peer.parse_type(t)
    return f"ap_{'' if signed else 'u'}fixed<{w},{i},AP_{q},AP_{o}>"


@dataclass
class Case:
    """One granularity of one fixture: the C++ types and the configuration text."""

    input_t: str
    result_t: str
    param_t: str | None
    config: dict


def model_config(default: str) -> dict:
    """config_from_onnx_model(granularity='model') for default precision `default`."""
    return {"Model": {"Precision": {"default": default}, "ReuseFactor": 1, "Strategy": "Latency",
                      "BramFactor": 1000000000, "TraceOutput": False}}


def name_config(default: str, layers: dict) -> dict:
    cfg = model_config(default)
    cfg["LayerName"] = {name: {"Trace": False, "Precision": prec} for name, prec in layers.items()}
    return cfg


def hard_sigmoid_model(alpha: float, beta: float) -> onnx.ModelProto:
    node = helper.make_node("HardSigmoid", ["x"], ["y"], name="hard_sigmoid", alpha=alpha, beta=beta)
    g = helper.make_graph([node], "hard_sigmoid", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_hls4ml_harness_fixtures")


def prelu_model(slope: np.ndarray) -> onnx.ModelProto:
    node = helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")
    g = helper.make_graph([node], "prelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N])],
                          [numpy_helper.from_array(slope.astype(np.float32), "slope")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_hls4ml_harness_fixtures")


HEADER = """#include <cstdio>
#include <cstdlib>
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
typedef {input_t} input_t;
typedef {result_t} result_t;
"""

# hard_activ_config_template: slope and shift in ap_ufixed<16,0> / ap_ufixed<2,0>
# (HardActivation.initialize, model/layers.py), set from the float attributes.
HARD = """typedef ap_ufixed<16,0> slope_t;
typedef ap_ufixed<2,0> shift_t;
struct hard_sigmoid_config {{
    static const unsigned n_in = {n};
    static const slope_t slope;
    static const shift_t shift;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
}};
const slope_t hard_sigmoid_config::slope = {alpha!r};
const shift_t hard_sigmoid_config::shift = {beta!r};
#define CALL nnet::hard_sigmoid<input_t, result_t, hard_sigmoid_config>(x, y)
"""

PRELU = """typedef {param_t} prelu_param_t;
struct prelu_config : nnet::activ_config {{
    static const unsigned n_in = {n};
    static const unsigned table_size = 1024;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
    typedef ap_fixed<18,8> table_t;
    typedef prelu_param_t param_t;
}};
prelu_param_t alpha[{n}] = {{{alpha}}};
#define CALL nnet::prelu<input_t, prelu_param_t, result_t, prelu_config>(x, alpha, y)
"""

MAIN = """int main() {{
    float v;
    input_t x[{n}];
    result_t y[{n}];
    for (;;) {{
        for (int i = 0; i < {n}; i++) {{
            if (scanf("%f", &v) != 1) return 0;
            x[i] = input_t(v);
        }}
        CALL;
        for (int i = 0; i < {n}; i++) printf("%.9g%c", float(y[i]), i + 1 < {n} ? ' ' : '\\n');
    }}
}}
"""


def run_harness(body: str, x: np.ndarray, work: Path) -> np.ndarray:
    import hls4ml

    tpl = Path(hls4ml.__file__).parent / "templates" / "vivado"
    src = work / "harness.cpp"
    src.write_text(body)
    exe = work / "harness"
    subprocess.run(["g++", "-O1", "-std=c++14", f"-I{tpl / 'ap_types'}", f"-I{tpl}", str(src), "-o", str(exe)],
                   check=True)
    text = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in x.reshape(len(x), -1)) + "\n"
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout
    y = np.array([[float(v) for v in line.split()] for line in out.splitlines()], dtype=np.float32)
    return np.where(y == 0, np.float32(0), y)


def fixture(name: str, description: str, covers: list, model: onnx.ModelProto, cases: dict, body, rows: int,
            out: Path, work: Path, versions: dict):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = peer.make_inputs(rng, rows, [N], cases["name"].input_t)
    cols = {"x": x}
    meta = {"name": name, "description": description, "covers": covers, "versions": versions, "rows": rows,
            "input_shape": [1, N],
            "route": "C++ harness: hls4ml's nnet_activation.h with the layer configuration as hls4ml's templates "
                     "write it (python/make_hls4ml_harness_fixtures.py)"}
    for g, case in cases.items():
        src = HEADER.format(input_t=ap(case.input_t), result_t=ap(case.result_t)) + body(case) + MAIN.format(n=N)
        cols[f"y_{g}"] = run_harness(src, x, work)
        meta[g] = {"input_t": case.input_t, "result_t": case.result_t, "param_t": case.param_t,
                   "lsb": float(2.0 ** -(peer.parse_type(case.result_t)[1] - peer.parse_type(case.result_t)[2])),
                   "cpp": src}
        header = ("# Generated by python/make_hls4ml_harness_fixtures.py in the form of hls4ml 1.3.0's "
                  f"config_from_onnx_model(granularity='{g}').\n")
        (out / f"{name}.{g}.yaml").write_text(peer.yaml_text(case.config, header))
    onnx.save(model, out / f"{name}.onnx")
    peer.write_parquet(out / f"{name}.parquet", cols)
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{name}: done", flush=True)


def main():
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap_.add_argument("--rows", type=int, default=2000)
    ap_.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap_.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    versions = peer.tool_versions()
    work = Path(tempfile.mkdtemp(prefix="hls4ml_harness_"))

    # HardSigmoid as PyTorch's Hardsigmoid exports it (alpha 1/6, beta 0.5).
    alpha, beta = 1.0 / 6.0, 0.5
    d = "fixed<16,6>"
    cases = {
        "model": Case(d, d, None, model_config(d)),
        "name": Case("fixed<10,4,RND,SAT>", "ufixed<8,0,RND,SAT>", None,
                     name_config(d, {"global_in": {"result": "fixed<10,4,RND,SAT>"},
                                     "HardSigmoid_0": {"result": "ufixed<8,0,RND,SAT>"}})),
    }
    fixture("hard_sigmoid_harness", "HardSigmoid(alpha 1/6, beta 0.5) as hls4ml's nnet::hard_sigmoid computes it: "
            "slope in ap_ufixed<16,0>, shift in ap_ufixed<2,0>, the product and sum at full width, clamped to "
            "[0, 1], then the result type (name: ufixed<8,0,RND,SAT>, so 1 saturates).",
            ["HardSigmoid", "HardActivation slope_t/shift_t"], hard_sigmoid_model(alpha, beta), cases,
            lambda c: HARD.format(n=N, alpha=alpha, beta=beta), args.rows, args.out, work, versions)

    slope = np.random.default_rng(7).uniform(-0.6, 0.9, N)
    cases = {
        "model": Case(d, d, d, model_config(d)),
        "name": Case("fixed<12,5>", "fixed<12,4,RND,SAT>", "fixed<6,1,RND>",
                     name_config(d, {"global_in": {"result": "fixed<12,5>"},
                                     "PRelu_0": {"param": "fixed<6,1,RND>", "result": "fixed<12,4,RND,SAT>"}})),
    }

    def prelu_body(c: Case) -> str:
        t = peer.parse_type(c.param_t)
        raw = [peer.ap_quantize(Fraction(float(s)), t) for s in slope]
        vals = ", ".join(f"{r * 2.0 ** -(t[1] - t[2])!r}" for r in raw)
        return PRELU.format(n=N, param_t=ap(c.param_t), alpha=vals)

    fixture("prelu_harness", "PRelu with one slope per feature as hls4ml's nnet::prelu computes it: the slopes in "
            "param_t (the model default at granularity model; fixed<6,1,RND> at name), x > 0 ? x : alpha * x "
            "converted to the result type.",
            ["PRelu", "PReLU param_t"], prelu_model(slope), cases, prelu_body, args.rows, args.out, work, versions)


if __name__ == "__main__":
    main()
