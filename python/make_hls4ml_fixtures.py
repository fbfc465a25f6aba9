#!/usr/bin/env python3
"""Generate the hls4ml C-simulation fixtures for the toolflow's float front door.

For every fixture this writes, into toolflow/tests/hls4ml/:

  NAME.onnx     a float ONNX model (opset 13, built with onnx.helper). The same
                file is what hls4ml read: hls4ml's ONNX front end is fed this
                file after qonnx's standard preprocessing (cleanup_model,
                ConvertToChannelsLastAndClean, GemmToMatMul, cleanup_model),
                which is how hls4ml 1.x expects ONNX input.
  NAME.yaml     the precision configuration in the toolflow's format
                (docs/TOOLFLOW.md / toolflow/src/config.rs). It is derived from
                the types hls4ml actually used after conversion (including the
                ones hls4ml inferred from 'auto'), layer by layer.
  NAME.parquet  columns x, y: FixedSizeList<Float32>; x is the model input
                flattened row-major without the batch dimension, y is hls4ml's
                C simulation output (hls_model.compile(); predict()) flattened
                the same way (ONNX layout, channels first).
  NAME.json     hls4ml/onnx/qonnx/g++ versions, the hls4ml config dict that was
                passed, the resolved hls4ml types per layer and which ONNX node
                each maps to, checks on the weights, notes.

Deterministic: numpy's PCG64 is seeded from the CRC32 of the fixture name.
Usage:  .venv/bin/python python/make_hls4ml_fixtures.py [--only NAME ...] [--rows N] [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "toolflow" / "tests" / "hls4ml"
OPSET = 13
IR_VERSION = 8
IN_NAME = "global_in"  # the names qonnx's cleanup gives the graph input/output,
OUT_NAME = "global_out"  # so that the hls4ml layer names equal ours


# ------------------------------------------------------------------ ONNX builder


class Net:
    """Builds a float ONNX graph whose node names are the ones qonnx's
    GiveUniqueNodeNames produces (OpType_k, counted per op type in graph order),
    so hls4ml's layer names can be mapped back to our ONNX node names."""

    def __init__(self, rng: np.random.Generator, in_shape: list[int]):
        self.rng = rng
        self.in_shape = [1] + list(in_shape)
        self.shape = list(self.in_shape)
        self.cur = IN_NAME
        self.nodes: list = []
        self.inits: list = []
        self.counts: dict[str, int] = {}
        self.layers: list[dict] = []  # logical layers, in order

    def _name(self, op: str) -> str:
        k = self.counts.get(op, 0)
        self.counts[op] = k + 1
        return f"{op}_{k}"

    def _init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def _out(self, name: str) -> str:
        return f"{name}_out"

    def weights(self, shape, fan_in, scale=1.0):
        return (self.rng.normal(0.0, scale / np.sqrt(fan_in), shape)).astype(np.float32)

    def gemm(self, n_out: int, trans_b: bool = False, bias_scale=0.5) -> str:
        """Gemm (bias in the accumulator, as hls4ml's fused Dense)."""
        n_in = self.shape[-1]
        name = self._name("Gemm")
        w = self.weights((n_in, n_out), n_in)
        b = self.rng.normal(0.0, bias_scale, n_out).astype(np.float32)
        wt = w.T.copy() if trans_b else w
        attrs = {"transB": 1} if trans_b else {}
        self.nodes.append(
            helper.make_node(
                "Gemm",
                [self.cur, self._init(f"{name}_W", wt), self._init(f"{name}_b", b)],
                [self._out(name)],
                name=name,
                **attrs,
            )
        )
        self.cur = self._out(name)
        self.shape = [1, n_out]
        self.layers.append({"onnx": name, "op": "Gemm"})
        return name

    def matmul_add(self, n_out: int, bias_scale=0.5) -> tuple[str, str]:
        """MatMul followed by Add of a constant (hls4ml: Dense + ApplyAlpha unless fused)."""
        n_in = self.shape[-1]
        mm, ad = self._name("MatMul"), self._name("Add")
        w = self.weights((n_in, n_out), n_in)
        b = self.rng.normal(0.0, bias_scale, n_out).astype(np.float32)
        self.nodes.append(
            helper.make_node("MatMul", [self.cur, self._init(f"{mm}_W", w)], [self._out(mm)], name=mm)
        )
        self.nodes.append(
            helper.make_node("Add", [self._out(mm), self._init(f"{ad}_b", b)], [self._out(ad)], name=ad)
        )
        self.cur = self._out(ad)
        self.shape = [1, n_out]
        self.layers.append({"onnx": mm, "op": "MatMul"})
        self.layers.append({"onnx": ad, "op": "Add"})
        return mm, ad

    def conv(self, n_filt: int, k, stride=1, pads=None, bias_scale=0.3) -> str:
        """Conv 1D ([1,C,W]) or 2D ([1,C,H,W]); explicit attributes (qonnx needs them)."""
        nd = len(self.shape) - 2
        k = [k] * nd if isinstance(k, int) else list(k)
        stride = [stride] * nd if isinstance(stride, int) else list(stride)
        pads = [0] * (2 * nd) if pads is None else list(pads)
        c = self.shape[1]
        name = self._name("Conv")
        w = self.weights([n_filt, c] + k, c * int(np.prod(k)))
        b = self.rng.normal(0.0, bias_scale, n_filt).astype(np.float32)
        self.nodes.append(
            helper.make_node(
                "Conv",
                [self.cur, self._init(f"{name}_W", w), self._init(f"{name}_b", b)],
                [self._out(name)],
                name=name,
                kernel_shape=k,
                strides=stride,
                pads=pads,
                dilations=[1] * nd,
                group=1,
            )
        )
        spatial = []
        for a in range(nd):
            full = self.shape[2 + a] + pads[a] + pads[a + nd]
            spatial.append((full - k[a]) // stride[a] + 1)
        self.cur = self._out(name)
        self.shape = [1, n_filt] + spatial
        self.layers.append({"onnx": name, "op": "Conv"})
        return name

    def bn(self, eps=1e-3) -> str:
        c = self.shape[1]
        name = self._name("BatchNormalization")
        r = self.rng
        gamma = r.uniform(0.5, 1.5, c)
        beta = r.normal(0.0, 0.3, c)
        mean = r.normal(0.0, 0.3, c)
        var = r.uniform(0.3, 1.5, c)
        ins = [self.cur] + [self._init(f"{name}_{p}", v) for p, v in
                            (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
        self.nodes.append(
            helper.make_node("BatchNormalization", ins, [self._out(name)], name=name, epsilon=eps)
        )
        self.cur = self._out(name)
        self.layers.append({"onnx": name, "op": "BatchNormalization"})
        return name

    def relu(self) -> str:
        name = self._name("Relu")
        self.nodes.append(helper.make_node("Relu", [self.cur], [self._out(name)], name=name))
        self.cur = self._out(name)
        self.layers.append({"onnx": name, "op": "Relu"})
        return name

    def model(self, graph_name: str) -> onnx.ModelProto:
        # rename the last output to OUT_NAME
        last = self.nodes[-1]
        last.output[0] = OUT_NAME
        g = helper.make_graph(
            self.nodes,
            graph_name,
            [helper.make_tensor_value_info(IN_NAME, TensorProto.FLOAT, self.in_shape)],
            [helper.make_tensor_value_info(OUT_NAME, TensorProto.FLOAT, self.shape)],
            self.inits,
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_hls4ml_fixtures")
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m)
        return m


# --------------------------------------------------------- exact ap_fixed model


def parse_type(s: str):
    """'fixed<W,I,Q,O>' / 'ufixed<...>' / 'int<W>' / 'uint<W>' -> (signed, W, I, Q, O)."""
    s = s.strip()
    kind, args = s[: s.index("<")], [a.strip() for a in s[s.index("<") + 1 : -1].split(",")]
    kind = kind.removeprefix("ap_")
    if kind in ("fixed", "ufixed"):
        signed, w, i, rest = kind == "fixed", int(args[0]), int(args[1]), args[2:]
    elif kind in ("int", "uint"):
        signed, w, rest = kind == "int", int(args[0]), args[1:]
        i = w
    else:
        raise ValueError(s)
    q = rest[0].removeprefix("AP_") if len(rest) > 0 else "TRN"
    o = rest[1].removeprefix("AP_") if len(rest) > 1 else "WRAP"
    if len(rest) > 2 and int(rest[2]) != 0:
        raise ValueError(f"saturation bits in {s}")
    return signed, w, i, q, o


def ap_quantize(v: Fraction, t) -> int:
    """Raw integer of ap_fixed<...> constructed from the exact value v (Vivado semantics)."""
    signed, w, i, q, o = t
    f = w - i
    s = v * (Fraction(2) ** f)
    fl = s.numerator // s.denominator
    rem = s - fl
    half = Fraction(1, 2)
    neg = s < 0
    if rem == 0:
        r = fl
    elif q == "TRN":
        r = fl
    elif q == "TRN_ZERO":
        r = fl + 1 if neg else fl
    elif q == "RND":
        r = fl + 1 if rem >= half else fl
    elif q == "RND_ZERO":
        r = fl + 1 if (rem > half or (rem == half and neg)) else fl
    elif q == "RND_MIN_INF":
        r = fl + 1 if rem > half else fl
    elif q == "RND_INF":
        r = fl + 1 if (rem > half or (rem == half and not neg)) else fl
    elif q == "RND_CONV":
        r = fl + 1 if (rem > half or (rem == half and fl % 2 == 1)) else fl
    else:
        raise ValueError(q)
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
    if o == "SAT_SYM" and signed:
        lo = -hi  # ap_fixed never produces -2^(W-1) under AP_SAT_SYM
    if lo <= r <= hi:
        return r
    if o == "WRAP":
        r &= (1 << w) - 1
        if signed and r >= 1 << (w - 1):
            r -= 1 << w
        return r
    if o == "SAT_ZERO":
        return 0
    return min(max(r, lo), hi)


# ---------------------------------------------------------------- hls4ml glue


def prec_str(p) -> str:
    """hls4ml precision object -> our type string (modes only when not TRN/WRAP)."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if isinstance(p, IntegerPrecisionType):
        return f"{'' if p.signed else 'u'}int<{p.width}>"
    if isinstance(p, FixedPrecisionType):
        if p.saturation_bits not in (0, None):
            raise ValueError(f"saturation bits unsupported: {p}")
        q, o = str(p.rounding_mode), str(p.saturation_mode)
        base = f"{'' if p.signed else 'u'}fixed<{p.width},{p.integer}"
        return base + (">" if (q, o) == ("TRN", "WRAP") else f",{q},{o}>")
    raise ValueError(f"unsupported hls4ml precision {p!r}")


def preprocess(model: onnx.ModelProto):
    """qonnx preprocessing that hls4ml's ONNX front end requires."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mw = ModelWrapper(model)
        mw = cleanup_model(mw)
        mw = mw.transform(ConvertToChannelsLastAndClean())
        mw = mw.transform(GemmToMatMul())
        mw = cleanup_model(mw)
    return mw


def quiet(fn, *a, **k):
    """Runs fn with stdout silenced (hls4ml prints the topology)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        return fn(*a, **k)


def hls_config_for(mw, spec: dict) -> dict:
    """hls4ml's own starting point for ONNX (config_from_onnx_model, granularity 'name':
    'auto' for every accumulator and result) with the fixture's per-layer overrides."""
    import hls4ml

    cfg = quiet(hls4ml.utils.config_from_onnx_model, mw, granularity="name", backend="Vivado",
                default_precision=spec["default"], max_precision=spec.get("maximum"))
    for layer, over in spec.get("layers", {}).items():
        if layer not in cfg["LayerName"]:
            raise KeyError(f"no hls4ml layer named {layer}; have {sorted(cfg['LayerName'])}")
        cfg["LayerName"][layer].setdefault("Precision", {}).update(over)
    return cfg


def convert(mw, hls_config: dict, out_dir: Path):
    import hls4ml

    return quiet(
        hls4ml.converters.convert_from_onnx_model,
        mw,
        output_dir=str(out_dir),
        project_name="myproject",
        io_type="io_parallel",
        backend="Vivado",
        hls_config=hls_config,
    )


def original_name(hls_name: str) -> str:
    for prefix in ("Dense_", "Conv1D_", "Conv2D_", "PointwiseConv1D_", "PointwiseConv2D_", "bn_"):
        if hls_name.startswith(prefix):
            return hls_name[len(prefix):]
    return hls_name


def derive_ours(hm, net: Net, model_default: str) -> tuple[dict, list[dict], list[str]]:
    """Our precision configuration from the types hls4ml resolved, layer by layer."""
    ops = {l["onnx"]: l["op"] for l in net.layers}
    layer_name: dict = {}
    table: list[dict] = []
    notes: list[str] = []
    fused_bn = [n for n, op in ops.items() if op == "BatchNormalization"]
    for name, layer in hm.graph.items():
        cls = layer.class_name
        types = {k: prec_str(v.precision) for k, v in layer.types.items() if k != "index_t"}
        out_t = prec_str(layer.get_output_variable().type.precision)
        entry = {"hls4ml_layer": name, "class": cls, "types": types, "output": out_t}
        onnx_name = original_name(name)
        if cls == "Input":
            layer_name[IN_NAME] = {"Precision": {"result": out_t}}
            entry["onnx"] = IN_NAME
        elif cls == "Dense":
            mm = onnx_name  # MatMul_k
            k = mm.split("_")[1]
            gemm = f"Gemm_{k}"
            if gemm in ops:
                target = gemm
                prec = {"weight": types["weight_t"], "bias": types["bias_t"],
                        "accum": types["accum_t"], "result": out_t}
            elif mm in ops:
                target = mm
                if np.any(layer.weights["bias"].data != 0):
                    raise RuntimeError(f"{name}: MatMul got a non-zero bias (fused Add): use Gemm")
                prec = {"weight": types["weight_t"], "accum": types["accum_t"], "result": out_t}
            else:
                raise RuntimeError(f"cannot map {name}")
            layer_name[target] = {"Precision": prec}
            entry["onnx"] = target
        elif cls in ("Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D"):
            prec = {"weight": types["weight_t"], "bias": types["bias_t"],
                    "accum": types["accum_t"], "result": out_t}
            layer_name[onnx_name] = {"Precision": prec}
            entry["onnx"] = onnx_name
        elif cls == "ApplyAlpha":
            scale = np.asarray(layer.weights["scale"].data)
            if not np.all(scale == 1):
                raise RuntimeError(f"{name}: ApplyAlpha with scale != 1")
            if ops.get(onnx_name) != "Add":
                raise RuntimeError(f"cannot map {name}")
            layer_name[onnx_name] = {"Precision": {"bias": types["bias_t"], "result": out_t}}
            entry["onnx"] = onnx_name
        elif cls == "BatchNormalization":
            if ops.get(onnx_name) != "BatchNormalization":
                raise RuntimeError(f"cannot map {name}")
            fused_bn.remove(onnx_name)
            layer_name[onnx_name] = {"Precision": {"weight": types["scale_t"], "bias": types["bias_t"],
                                                   "result": out_t}}
            entry["onnx"] = onnx_name
        elif cls == "Activation" and str(layer.get_attr("activation")).lower() == "relu":
            layer_name[onnx_name] = {"Precision": {"result": out_t}}
            entry["onnx"] = onnx_name
        elif cls == "Transpose":
            in_t = prec_str(layer.get_input_variable().type.precision)
            if in_t != out_t:
                raise RuntimeError(f"{name}: transpose changes the type")
            entry["onnx"] = None
            entry["note"] = "layout change from qonnx channels-last conversion; no arithmetic"
        else:
            raise RuntimeError(f"unmapped hls4ml layer {name} ({cls})")
        table.append(entry)
    for bn in fused_bn:
        notes.append(
            f"{bn} was fused by hls4ml into the preceding Dense/Conv (its result type was 'auto'); "
            "the toolflow folds it the same way, so it has no entry of its own"
        )
    cfg = {"Model": {"Precision": model_default, "ReuseFactor": 1, "Strategy": "Latency"},
           "LayerName": layer_name}
    return cfg, table, notes


def weight_checks(hm) -> dict:
    """hls4ml writes every weight as decimal text with as many decimal places as the
    type has fraction bits ('{:.Ff}'), and the C simulation parses that text into a
    double and converts it with the type's rounding/overflow. Count the constants for
    which that differs from converting the float exactly (what the toolflow does)."""
    total, changed, examples = 0, 0, []
    for lname, layer in hm.graph.items():
        for wname, var in layer.weights.items():
            t = parse_type(prec_str(var.type.precision))
            for v in np.asarray(var.data, dtype=np.float64).ravel():
                total += 1
                text = var.precision_fmt.format(v)
                a = ap_quantize(Fraction(float(text)), t)
                b = ap_quantize(Fraction(float(v)), t)
                if a != b:
                    changed += 1
                    if len(examples) < 5:
                        examples.append({"layer": lname, "weight": wname, "float": float(v),
                                         "text": text, "raw_from_text": a, "raw_exact": b})
    return {"constants": total, "changed_by_decimal_text": changed, "examples": examples}


def accum_checks(hm) -> dict:
    """Per Dense/Conv layer with a configured accumulator: can a partial sum leave the
    accumulator range at all (bound: |bias| + sum |w| * max|x| over the input type)?"""
    out = {}
    for lname, layer in hm.graph.items():
        if "accum_t" not in layer.types or "weight" not in layer.weights:
            continue
        acc = parse_type(prec_str(layer.types["accum_t"].precision))
        xin = parse_type(prec_str(layer.get_input_variable().type.precision))
        wt = parse_type(prec_str(layer.weights["weight"].type.precision))
        bt = parse_type(prec_str(layer.weights["bias"].type.precision))
        x_max = 2.0 ** (xin[2] - (1 if xin[0] else 0))
        w = np.asarray(layer.weights["weight"].data, dtype=np.float64)
        w = np.vectorize(lambda v: ap_quantize(Fraction(float(v)), wt))(w) * 2.0 ** -(wt[1] - wt[2])
        b = np.asarray(layer.weights["bias"].data, dtype=np.float64).ravel()
        b = np.vectorize(lambda v: ap_quantize(Fraction(float(v)), bt))(b) * 2.0 ** -(bt[1] - bt[2])
        per_out = np.abs(w).reshape(-1, w.shape[-1]).sum(axis=0) * x_max + np.abs(b)
        acc_max = 2.0 ** (acc[2] - (1 if acc[0] else 0))
        out[lname] = {"accum": prec_str(layer.types["accum_t"].precision),
                      "partial_sum_bound": float(per_out.max()), "accum_range": acc_max,
                      "can_overflow": bool(per_out.max() >= acc_max)}
    return out


def emulate_dense_net(model: onnx.ModelProto, ours: dict, xs: np.ndarray) -> tuple[np.ndarray, dict]:
    """Integer re-implementation of hls4ml's io_parallel Dense/ApplyAlpha/Relu semantics
    (constants converted from hls4ml's decimal weight text, as its C simulation does)
    (dense_latency: acc = (accum_t) bias; acc += (accum_t)(x*w) in input order; res = (res_t) acc)
    for MLP fixtures, from the ONNX file and our configuration. Returns the outputs and how
    often an accumulation step overflowed the accumulator (saturated / zeroed / wrapped)."""
    ln = ours["LayerName"]
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    fr = lambda t: t[1] - t[2]  # noqa: E731
    q = lambda v, t: ap_quantize(Fraction(v), t)  # noqa: E731

    def qc(v: float, t) -> int:  # a constant, as hls4ml converts it: from '{:.Ff}' text
        return q(float(f"{v:.{max(0, fr(t))}f}"), t)

    events: dict[str, int] = {}
    outs = []
    for row in xs.reshape(len(xs), -1):
        t_in = parse_type(ln[IN_NAME]["Precision"]["result"])
        vals = [q(float(v), t_in) for v in row]
        frac = fr(t_in)
        for node in model.graph.node:
            p = ln.get(node.name, {}).get("Precision", {})
            if node.op_type in ("Gemm", "MatMul"):
                w = inits[node.input[1]]
                if any(a.name == "transB" and a.i for a in node.attribute):
                    w = w.T
                tw, ta, tr = parse_type(p["weight"]), parse_type(p["accum"]), parse_type(p["result"])
                wq = [[qc(float(v), tw) for v in r] for r in w]
                if node.op_type == "Gemm":
                    tb = parse_type(p["bias"])
                    bq = [q(Fraction(qc(float(v), tb), 2 ** fr(tb)), ta) for v in inits[node.input[2]]]
                else:
                    bq = [0] * w.shape[1]
                lo, hi = (-(1 << (ta[1] - 1)), (1 << (ta[1] - 1)) - 1) if ta[0] else (0, (1 << ta[1]) - 1)
                new = []
                for j in range(w.shape[1]):
                    acc = bq[j]
                    for i, xv in enumerate(vals):
                        prod = q(Fraction(xv * wq[i][j], 2 ** (frac + fr(tw))), ta)
                        exact = acc + prod
                        acc = q(Fraction(exact, 2 ** fr(ta)), ta)
                        if acc != exact:
                            events[node.name] = events.get(node.name, 0) + 1
                    new.append(q(Fraction(acc, 2 ** fr(ta)), tr))
                vals, frac = new, fr(tr)
            elif node.op_type == "Add":
                tb, tr = parse_type(p["bias"]), parse_type(p["result"])
                b = inits[node.input[1]]
                vals = [q(Fraction(v, 2 ** frac) + Fraction(qc(float(c), tb), 2 ** fr(tb)), tr)
                        for v, c in zip(vals, b)]
                frac = fr(tr)
            elif node.op_type == "Relu":
                tr = parse_type(p["result"])
                vals = [q(Fraction(max(v, 0), 2 ** frac), tr) for v in vals]
                frac = fr(tr)
            else:
                raise ValueError(node.op_type)
        outs.append([v * 2.0 ** -frac for v in vals])
    return np.asarray(outs, dtype=np.float64), events


def fold_checks(model: onnx.ModelProto, hm, net: Net) -> dict:
    """For BatchNormalization layers that hls4ml fused, compare hls4ml's fused float
    weights/biases with the toolflow's folding (f32 arithmetic, see cleanup.rs) after
    quantization with the layer's types."""
    inits = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}
    bn_nodes = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    producers = {n.output[0]: n for n in model.graph.node}
    report = {"checked": 0, "float_diffs": 0, "quantized_diffs": 0}
    hls_names = set(hm.graph.keys())
    for bn in bn_nodes:
        if bn.name in hls_names:
            continue  # separate layer in hls4ml
        prod = producers[bn.input[0]]
        eps = np.float32([a.f for a in bn.attribute if a.name == "epsilon"][0])
        g, be, mu, var = (inits[bn.input[i]] for i in range(1, 5))
        a = (g / np.sqrt(var + eps)).astype(np.float32)
        bb = (be - mu * a).astype(np.float32)
        w = inits[prod.input[1]]
        b0 = inits[prod.input[2]] if len(prod.input) > 2 else np.zeros_like(a)
        if prod.op_type == "Conv":
            w_ours = (w * a.reshape([-1] + [1] * (w.ndim - 1))).astype(np.float32)
            hls = hm.graph[("Conv1D_" if w.ndim == 3 else "Conv2D_") + prod.name]
            perm = (2, 1, 0) if w.ndim == 3 else (2, 3, 1, 0)  # (M,C,k..) -> hls4ml (k..,C,M)
            w_ours_hls_layout = np.transpose(w_ours, perm)
        else:
            trans_b = any(at.name == "transB" and at.i == 1 for at in prod.attribute)
            w_kn = w.T if trans_b else w
            w_ours_hls_layout = (w_kn * a.reshape(1, -1)).astype(np.float32)
            hls = hm.graph["Dense_MatMul_" + prod.name.split("_")[1]]
        b_ours = ((b0 * a).astype(np.float32) + bb).astype(np.float32)
        for ours, var_ in ((w_ours_hls_layout, hls.weights["weight"]), (b_ours, hls.weights["bias"])):
            theirs = np.asarray(var_.data, dtype=np.float64).reshape(ours.shape)
            t = parse_type(prec_str(var_.type.precision))
            for o, h in zip(ours.ravel().astype(np.float64), theirs.ravel()):
                report["checked"] += 1
                if o != h:
                    report["float_diffs"] += 1
                text = var_.precision_fmt.format(h)
                if ap_quantize(Fraction(float(o)), t) != ap_quantize(Fraction(float(text)), t):
                    report["quantized_diffs"] += 1
    return report


# -------------------------------------------------------------------- inputs


def make_inputs(rng: np.random.Generator, rows: int, shape: list[int], in_type: str) -> tuple[np.ndarray, dict]:
    """Inputs that exercise the input type: ordinary values, exact rounding ties,
    values on the grid, out-of-range values, and the exact type bounds."""
    signed, w, i, _, _ = parse_type(in_type)
    f = w - i
    lsb = 2.0 ** -f
    lo = -(2.0 ** (i - 1)) if signed else 0.0
    hi = (2.0 ** (i - 1) if signed else 2.0**i) - lsb
    span = hi - lo
    n = rows * int(np.prod(shape))
    kind = rng.choice(5, size=n, p=[0.55, 0.15, 0.1, 0.15, 0.05])
    x = rng.normal(0.0, span / 6, n)
    k = rng.integers(int(lo / lsb), int(hi / lsb), n)
    x = np.where(kind == 1, (k + 0.5) * lsb, x)  # exact ties
    x = np.where(kind == 2, k * lsb, x)  # on the grid
    x = np.where(kind == 3, rng.uniform(lo - span / 2, hi + span / 2, n), x)  # may overflow
    x = np.where(kind == 4, rng.choice([lo, hi, hi + lsb / 2, lo - lsb / 2, lo - lsb, 0.0], n), x)
    x = x.astype(np.float32)
    stats = {
        "ties": int(np.sum(kind == 1)),
        "on_grid": int(np.sum(kind == 2)),
        "out_of_range": int(np.sum((x < lo) | (x > hi))),
        "at_bounds": int(np.sum((x == lo) | (x == hi))),
        "values": n,
    }
    return x.reshape([rows] + list(shape)), stats


# ------------------------------------------------------------------- fixtures


@dataclass
class Fixture:
    name: str
    description: str
    covers: list[str]
    in_shape: list[int]
    build: Callable[[Net], None]
    hls_config: dict  # {"default": type, "maximum": type (optional), "layers": {hls4ml name: overrides}}
    notes: list[str] = field(default_factory=list)
    # Non-empty: a documented difference between hls4ml and the toolflow that this
    # fixture demonstrates; the Rust test then expects mismatches (and fails if none).
    known_divergence: str = ""
    # "clean": re-draw weights until hls4ml's decimal weight text changes no raw value;
    # "decimal_changes": re-draw until it changes at least one (to demonstrate it).
    weights: str = "clean"


def P(**kw) -> dict:
    """Precision overrides of one hls4ml layer."""
    return kw


def build_jet_mlp(n: Net):
    n.gemm(64)
    n.relu()
    n.gemm(32)
    n.relu()
    n.gemm(32)
    n.relu()
    n.gemm(5)


def build_conv1d_bench(n: Net):
    n.conv(16, 3, pads=[1, 1])
    n.relu()
    n.conv(16, 3, stride=2, pads=[1, 1])
    n.relu()
    n.conv(8, 3, pads=[1, 1])


FIXTURES: list[Fixture] = [
    Fixture(
        name="jet_mlp_fixed16_6",
        description="Jet-tagging MLP 16-64-32-32-5 (Gemm + Relu, linear output) at fixed<16,6> everywhere: "
        "hls4ml Model precision default fixed<16,6> and maximum fixed<16,6>, so every 'auto' "
        "accumulator and Dense result is inferred and then capped to fixed<16,6>; TRN/WRAP.",
        covers=["Gemm", "Relu", "accum per-product truncation", "WRAP", "TRN", "inferred types"],
        in_shape=[16],
        build=build_jet_mlp,
        hls_config={"default": "fixed<16,6>", "maximum": "fixed<16,6>", "layers": {}},
    ),
    Fixture(
        name="mlp_fixed8_3_rnd_sat",
        description="Gemm MLP 10-16-8-4 (transB=1, PyTorch layout) at fixed<8,3,RND,SAT>: input, weights, "
        "biases and Relu results; narrow explicit accumulators fixed<10,3,RND,SAT>, fixed<10,3,RND,SAT_ZERO>, "
        "fixed<14,6,RND,SAT> (each product rounded; saturating / zeroing accumulation after every addition, "
        "bias first, then inputs in order -- partial sums do overflow, see dense_emulation); Dense results "
        "inferred by hls4ml.",
        covers=["Gemm transB", "RND", "SAT", "SAT_ZERO", "per-product RND accumulator", "saturating accumulator",
                "ufixed Relu"],
        in_shape=[10],
        build=lambda n: (n.gemm(16, trans_b=True), n.relu(), n.gemm(8, trans_b=True), n.relu(),
                         n.gemm(4, trans_b=True)),
        hls_config={
            "default": "fixed<8,3,RND,SAT>", "layers": {
                "global_in": P(result="fixed<8,3,RND,SAT>"),
                "MatMul_0": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<10,3,RND,SAT>",
                              result="auto"),
                "Relu_0": P(result="ufixed<8,3,RND,SAT>"),
                "MatMul_1": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<10,3,RND,SAT_ZERO>",
                              result="auto"),
                "Relu_1": P(result="ufixed<8,3,RND,SAT>"),
                "MatMul_2": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<14,6,RND,SAT>",
                              result="auto"),
            },
        },
    ),
    Fixture(
        name="mlp_matmul_add_overrides",
        description="MatMul + Add MLP 12-16-6 with an explicit result type on every MatMul, so hls4ml keeps the "
        "bias as a separate ApplyAlpha layer (x*1 + b, cast to its result type), as the toolflow lowers "
        "MatMul then Add. Per-layer overrides of weight/bias/accum/result with every rounding mode and "
        "SAT/SAT_ZERO/WRAP; input fixed<12,4,RND_CONV,SAT>.",
        covers=["MatMul", "Add", "ApplyAlpha", "RND_CONV", "RND_ZERO", "RND_INF", "RND_MIN_INF", "TRN_ZERO",
                "SAT_ZERO", "per-layer overrides"],
        in_shape=[12],
        build=lambda n: (n.matmul_add(16), n.relu(), n.matmul_add(6)),
        hls_config={
            "default": "fixed<16,6>", "layers": {
                "global_in": P(result="fixed<12,4,RND_CONV,SAT>"),
                "MatMul_0": P(weight="fixed<6,1,RND_CONV,SAT>", accum="fixed<12,4,RND_ZERO,SAT>",
                              result="fixed<12,4,RND,SAT>"),
                "Add_0": P(bias="fixed<8,2,RND_INF,WRAP>", result="fixed<10,3,RND_MIN_INF,SAT_ZERO>"),
                "Relu_0": P(result="ufixed<8,3,TRN_ZERO,SAT>"),
                "MatMul_1": P(weight="fixed<8,2,RND_ZERO,WRAP>", accum="fixed<16,6,TRN_ZERO,WRAP>",
                              result="fixed<16,6,RND_INF,SAT>"),
                "Add_1": P(bias="fixed<8,2,TRN,WRAP>", result="fixed<12,4,RND,SAT>"),
            },
        },
    ),
    Fixture(
        name="conv1d_bn_relu_fixed12_4",
        description="Conv1D on [1,4,32]: Conv(8,k3,pad1) + BatchNormalization (fused by hls4ml since the Conv "
        "result is 'auto'; folded by the toolflow) -> Relu -> Conv(8,k3,stride2,pads 0/1) -> Relu -> "
        "Conv(4,k1). fixed<12,4> family with RND/SAT variants, explicit WRAP accumulators.",
        covers=["Conv1D", "stride", "asymmetric pads", "pointwise Conv1D", "BatchNormalization fused", "Relu",
                "RND", "SAT", "per-product accumulator"],
        in_shape=[4, 32],
        build=lambda n: (n.conv(8, 3, pads=[1, 1]), n.bn(), n.relu(), n.conv(8, 3, stride=2, pads=[0, 1]),
                         n.relu(), n.conv(4, 1)),
        hls_config={
            "default": "fixed<12,4>", "layers": {
                "global_in": P(result="fixed<12,4,RND,SAT>"),
                "Conv_0": P(weight="fixed<10,3,RND,SAT>", bias="fixed<12,4,RND>", accum="fixed<20,8>",
                            result="auto"),
                "Relu_0": P(result="ufixed<10,4,RND,SAT>"),
                "Conv_1": P(weight="fixed<8,2,RND>", bias="fixed<8,2>", accum="fixed<16,6>",
                            result="fixed<12,4,RND,SAT>"),
                "Relu_1": P(result="ufixed<12,4>"),
                "Conv_2": P(weight="fixed<12,4>", bias="fixed<12,4>", accum="fixed<14,5,RND,WRAP>",
                            result="fixed<12,4,RND,SAT>"),
            },
        },
    ),
    Fixture(
        name="conv2d_relu_fixed8_3",
        description="Conv2D on [1,2,8,8]: Conv(4,3x3,pad1) -> Relu -> Conv(4,3x3,stride2) -> Relu -> Conv(3,2x2). "
        "fixed<8,3,RND,SAT> data and weights, narrow WRAP accumulators with RND products.",
        covers=["Conv2D", "stride", "pads", "Relu", "RND", "SAT", "WRAP accumulator"],
        in_shape=[2, 8, 8],
        build=lambda n: (n.conv(4, 3, pads=[1, 1, 1, 1]), n.relu(), n.conv(4, 3, stride=2), n.relu(),
                         n.conv(3, 2)),
        hls_config={
            "default": "fixed<8,3,RND,SAT>", "layers": {
                "global_in": P(result="fixed<8,3,RND,SAT>"),
                "Conv_0": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<12,5,RND,WRAP>",
                            result="fixed<8,3,RND,SAT>"),
                "Relu_0": P(result="ufixed<8,3,RND,SAT>"),
                "Conv_1": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<14,6,RND,WRAP>",
                            result="fixed<8,3,RND,SAT>"),
                "Relu_1": P(result="ufixed<8,3,RND,SAT>"),
                "Conv_2": P(weight="fixed<8,3,RND,SAT>", bias="fixed<8,3,RND,SAT>", accum="fixed<16,6>",
                            result="fixed<10,4,RND,SAT>"),
            },
        },
    ),
    Fixture(
        name="dense_bn_fused_and_separate",
        description="Gemm 16->16 + BatchNormalization (fused into the Dense by hls4ml, folded by the toolflow) -> "
        "Relu -> BatchNormalization as a separate hls4ml layer (scale fixed<10,2,RND>, bias "
        "fixed<10,4,RND>, result fixed<12,4,RND,SAT>; the toolflow's per-channel Mul+Add) -> Gemm 16->4.",
        covers=["Gemm", "BatchNormalization fused", "BatchNormalization separate (scale/bias types)", "Relu",
                "RND", "SAT"],
        in_shape=[16],
        build=lambda n: (n.gemm(16), n.bn(), n.relu(), n.bn(), n.gemm(4)),
        hls_config={
            "default": "fixed<16,6>", "maximum": "fixed<24,10>", "layers": {
                "global_in": P(result="fixed<12,4,RND,SAT>"),
                "MatMul_0": P(weight="fixed<12,3,RND>", bias="fixed<12,4,RND>", accum="fixed<24,10>", result="auto"),
                "Relu_0": P(result="ufixed<12,5,RND,SAT>"),
                "BatchNormalization_1": P(scale="fixed<10,2,RND>", bias="fixed<10,4,RND>",
                                          result="fixed<12,4,RND,SAT>"),
                "MatMul_1": P(weight="fixed<10,3,RND>", bias="fixed<10,3,RND>", accum="fixed<20,8,RND,SAT>",
                              result="auto"),
            },
        },
    ),
    Fixture(
        name="conv1d_relu_bn_separate",
        description="Conv1D on [1,3,24]: Conv(6,k5,pad2, explicit result) -> Relu -> BatchNormalization over "
        "channels as a separate layer (scale/bias/result types) -> Conv(4,k3,stride3) with an 'auto' "
        "accumulator and result (inferred by hls4ml, capped by Model maximum fixed<20,8>).",
        covers=["Conv1D", "BatchNormalization separate (rank 3, per channel)", "Relu", "inferred types",
                "maximum precision cap", "stride 3"],
        in_shape=[3, 24],
        build=lambda n: (n.conv(6, 5, pads=[2, 2]), n.relu(), n.bn(), n.conv(4, 3, stride=3)),
        hls_config={
            "default": "fixed<16,6>", "maximum": "fixed<20,8>", "layers": {
                "global_in": P(result="fixed<10,3,RND,SAT>"),
                "Conv_0": P(weight="fixed<8,2,RND,SAT>", bias="fixed<8,2,RND,SAT>", accum="fixed<18,6,RND,SAT>",
                            result="fixed<14,5,RND,SAT>"),
                "Relu_0": P(result="ufixed<12,5,RND,SAT>"),
                "BatchNormalization_0": P(scale="fixed<12,3,RND_CONV>", bias="fixed<12,4,RND_CONV>",
                                          result="fixed<14,5,RND_CONV,SAT>"),
                "Conv_1": P(weight="fixed<10,3,RND>", bias="fixed<10,3,RND>", accum="auto", result="auto"),
            },
        },
    ),
    Fixture(
        name="conv2d_bn_relu_fixed16_6",
        description="Conv2D on [1,3,6,6]: Conv(8,3x3,pad1) + BatchNormalization (fused) -> Relu -> Conv(2,1x1) "
        "(pointwise) at the hls4ml default fixed<16,6> with 'auto' accumulators capped at fixed<24,10>.",
        covers=["Conv2D", "pointwise Conv2D", "BatchNormalization fused", "Relu", "inferred types", "TRN", "WRAP"],
        in_shape=[3, 6, 6],
        build=lambda n: (n.conv(8, 3, pads=[1, 1, 1, 1]), n.bn(), n.relu(), n.conv(2, 1)),
        hls_config={
            "default": "fixed<16,6>", "maximum": "fixed<24,10>", "layers": {
                "global_in": P(result="fixed<16,6>"),
                "Relu_0": P(result="fixed<16,6>"),
            },
        },
    ),
    Fixture(
        name="sat_sym_min_fixed8_3",
        description="Gemm 8->6 -> Relu -> Gemm 6->3 with input type fixed<8,3,RND,SAT_SYM>; some inputs round to "
        "-4.0, the most negative value of the type, which AP_SAT_SYM turns into -max = -4 + 2^-5 "
        "(ap_fixed_base.h: 'underflow |= neg_src && low W-1 bits == 0'; fixed.rs FixedType::sat_min_raw).",
        covers=["SAT_SYM"],
        in_shape=[8],
        build=lambda n: (n.gemm(6), n.relu(), n.gemm(3)),
        hls_config={
            "default": "fixed<16,6>", "maximum": "fixed<24,10>", "layers": {
                "global_in": P(result="fixed<8,3,RND,SAT_SYM>"),
                "MatMul_0": P(weight="fixed<10,3,RND>", bias="fixed<10,3,RND>", accum="auto", result="auto"),
                "Relu_0": P(result="ufixed<16,6,RND,SAT>"),
                "MatMul_1": P(weight="fixed<10,3,RND>", bias="fixed<10,3,RND>", accum="auto", result="auto"),
            },
        },
    ),
    Fixture(
        name="conv1d_sat_accum_order",
        description="Conv1D on [1,6,16]: Conv(4,k3,pad1) with a narrow saturating accumulator fixed<10,3,RND,SAT>; "
        "partial sums of the 18-term windows saturate often, so the result depends on the summation order: "
        "hls4ml's channels-last im2col sums kernel position by kernel position, all channels of each "
        "(sim/kernels.rs window_order).",
        covers=["Conv1D", "saturating accumulator", "accumulation order"],
        in_shape=[6, 16],
        build=lambda n: (n.conv(4, 3, pads=[1, 1]),),
        hls_config={
            "default": "fixed<16,6>", "layers": {
                "global_in": P(result="fixed<10,4,RND,SAT>"),
                "Conv_0": P(weight="fixed<8,2,RND>", bias="fixed<8,2,RND>", accum="fixed<10,3,RND,SAT>",
                            result="fixed<10,3,RND,SAT>"),
            },
        },
    ),
    Fixture(
        name="conv1d_bn_explicit_result",
        description="Conv1D on [1,3,16]: Conv(4,k3,pad1) with an explicit result type -> BatchNormalization with "
        "its own scale/bias/result types -> Relu. hls4ml keeps the BatchNormalization as a separate layer "
        "because the Conv result type is set (FuseBatchNormalization only fuses after an 'auto' result); the "
        "toolflow keeps it because the BN has its own precision entry (cleanup.rs).",
        covers=["Conv1D", "BatchNormalization separate after Conv with explicit result"],
        in_shape=[3, 16],
        build=lambda n: (n.conv(4, 3, pads=[1, 1]), n.bn(), n.relu()),
        hls_config={
            "default": "fixed<16,6>", "layers": {
                "global_in": P(result="fixed<10,4,RND,SAT>"),
                "Conv_0": P(weight="fixed<8,2,RND>", bias="fixed<8,2,RND>", accum="fixed<20,8>",
                            result="fixed<10,4,RND,SAT>"),
                "BatchNormalization_0": P(scale="fixed<8,2,RND>", bias="fixed<8,3,RND>",
                                          result="fixed<10,4,RND,SAT>"),
                "Relu_0": P(result="ufixed<10,4,RND,SAT>"),
            },
        },
    ),
    Fixture(
        name="dense_bn_explicit_result",
        description="Gemm 12->10 with an explicit result type fixed<11,4,RND_CONV,SAT> -> BatchNormalization "
        "(scale fixed<9,2,RND>, bias fixed<9,3,RND>, result fixed<12,4,RND,SAT>) -> Relu -> Gemm 10->4 with an "
        "explicit result fixed<12,5,TRN,WRAP> -> BatchNormalization (result fixed<14,6,RND_ZERO,SAT_SYM>). "
        "Both BNs stay separate hls4ml layers because their producers' result types are set.",
        covers=["Gemm", "BatchNormalization separate after Dense with explicit result", "RND_CONV", "RND_ZERO",
                "SAT_SYM", "WRAP"],
        in_shape=[12],
        build=lambda n: (n.gemm(10), n.bn(), n.relu(), n.gemm(4), n.bn()),
        hls_config={
            "default": "fixed<16,6>", "layers": {
                "global_in": P(result="fixed<10,3,RND,SAT>"),
                "MatMul_0": P(weight="fixed<9,2,RND>", bias="fixed<9,3,RND>", accum="fixed<20,8>",
                              result="fixed<11,4,RND_CONV,SAT>"),
                "BatchNormalization_0": P(scale="fixed<9,2,RND>", bias="fixed<9,3,RND>",
                                          result="fixed<12,4,RND,SAT>"),
                "Relu_0": P(result="ufixed<12,4,RND,SAT>"),
                "MatMul_1": P(weight="fixed<9,2,RND>", bias="fixed<9,3,RND>", accum="fixed<20,8>",
                              result="fixed<12,5>"),
                "BatchNormalization_1": P(scale="fixed<9,2,RND>", bias="fixed<9,3,RND>",
                                          result="fixed<14,6,RND_ZERO,SAT_SYM>"),
            },
        },
    ),
    Fixture(
        name="decimal_weight_text_trn",
        description="Gemm 16->32 -> Relu -> Gemm 32->5 with TRN weights fixed<8,3> (5 fraction bits), drawn so "
        "that hls4ml's decimal weight text changes some raw weight values: hls4ml writes each weight with F "
        "decimals (F = fraction bits) and the C simulation converts that text, so a float just below a grid "
        "point k*2^-F is printed as k*2^-F and kept by TRN (lower/util.rs const_typed does the same).",
        covers=["weight conversion from decimal text"],
        in_shape=[16],
        build=lambda n: (n.gemm(32), n.relu(), n.gemm(5)),
        hls_config={
            "default": "fixed<16,6>", "maximum": "fixed<24,10>", "layers": {
                "global_in": P(result="fixed<12,4,RND,SAT>"),
                "MatMul_0": P(weight="fixed<8,3>", bias="fixed<8,3>", accum="auto", result="auto"),
                "Relu_0": P(result="ufixed<12,4,RND,SAT>"),
                "MatMul_1": P(weight="fixed<8,3>", bias="fixed<8,3>", accum="auto", result="auto"),
            },
        },
        weights="decimal_changes",
    ),
]


# ------------------------------------------------------------------- driver


def seed_of(name: str, attempt: int = 0) -> int:
    return zlib.crc32(name.encode()) + 1_000_003 * attempt


def tool_versions() -> dict:
    import hls4ml
    import qonnx

    try:
        gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception as e:  # pragma: no cover
        gxx = f"unavailable: {e}"
    try:
        qv = qonnx.__version__
    except AttributeError:
        from importlib.metadata import version

        qv = version("qonnx")
    return {"hls4ml": hls4ml.__version__, "onnx": onnx.__version__, "qonnx": qv, "numpy": np.__version__,
            "g++": gxx}


def build_fixture(fx: Fixture, rows: int, work: Path, max_attempts: int = 40):
    """Builds the model, converting it with hls4ml until no weight is changed by
    hls4ml's decimal weight text (re-drawing the weights with the next seed)."""
    attempts = []
    for attempt in range(max_attempts):
        rng = np.random.default_rng(seed_of(fx.name, attempt))
        net = Net(rng, fx.in_shape)
        fx.build(net)
        model = net.model(fx.name)
        out_dir = work / f"{fx.name}_{attempt}"
        mw = preprocess(model)
        cfg = hls_config_for(mw, fx.hls_config)
        hm = convert(mw, json.loads(json.dumps(cfg)), out_dir)
        wc = weight_checks(hm)
        fc = fold_checks(model, hm, net)
        attempts.append({"seed": seed_of(fx.name, attempt), "changed_by_decimal_text": wc["changed_by_decimal_text"],
                         "fold_quantized_diffs": fc["quantized_diffs"]})
        want_changes = fx.weights == "decimal_changes"
        if (wc["changed_by_decimal_text"] > 0) == want_changes and fc["quantized_diffs"] == 0:
            return rng, net, model, hm, cfg, wc, fc, attempts
        print(f"  {fx.name}: attempt {attempt} rejected: {attempts[-1]}", flush=True)
    raise RuntimeError(f"{fx.name}: no clean weights after {max_attempts} attempts")


def write_parquet(path: Path, xs: np.ndarray, ys: np.ndarray):
    def col(a):
        a = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel(), pa.float32()), a.shape[1])

    pq.write_table(pa.table({"x": col(xs), "y": col(ys)}), path, compression="snappy")


def generate(fx: Fixture, rows: int, out: Path, work: Path, versions: dict):
    t0 = time.time()
    rng, net, model, hm, cfg, wc, fc, attempts = build_fixture(fx, rows, work)
    default = fx.hls_config["default"]
    ours, table, notes = derive_ours(hm, net, prec_str(hm.config.backend.convert_precision_string(default)))
    in_type = ours["LayerName"][IN_NAME]["Precision"]["result"]
    xs, stats = make_inputs(rng, rows, fx.in_shape, in_type)
    quiet(hm.compile)
    ys = np.asarray(hm.predict(np.ascontiguousarray(xs, dtype=np.float32)), dtype=np.float32)
    ys = ys.reshape(rows, -1)
    out_var = hm.get_output_variables()[0]
    out_t = parse_type(prec_str(out_var.type.precision))
    sig_bits = out_t[1]
    if sig_bits > 24:
        raise RuntimeError(f"{fx.name}: output type {out_t} has more than 24 bits; float32 output is inexact")
    ys = np.where(ys == 0, np.float32(0), ys)  # -0.0 -> +0.0
    lsb = 2.0 ** -(out_t[1] - out_t[2])
    if not np.all(np.round(ys.astype(np.float64) / lsb) * lsb == ys):
        raise RuntimeError(f"{fx.name}: outputs are not on the output grid")

    emulation = None
    if all(n.op_type in ("Gemm", "MatMul", "Add", "Relu") for n in model.graph.node):
        ye, events = emulate_dense_net(model, ours, xs)
        emulation = {"rows": rows, "equal_to_hls4ml": bool(np.array_equal(ye, ys.astype(np.float64))),
                     "accumulator_overflow_steps": events}
        if not emulation["equal_to_hls4ml"]:
            raise RuntimeError(f"{fx.name}: the integer emulation of hls4ml's Dense semantics disagrees with csim")

    onnx.save(model, out / f"{fx.name}.onnx")
    header = (
        f"# Generated by python/make_hls4ml_fixtures.py -- do not edit.\n"
        f"# {fx.name}: the types hls4ml {versions['hls4ml']} used (see {fx.name}.json), in the toolflow's format.\n"
    )
    import yaml

    (out / f"{fx.name}.yaml").write_text(header + yaml.safe_dump(ours, sort_keys=True, default_flow_style=None))
    write_parquet(out / f"{fx.name}.parquet", xs, ys)
    y_raw = np.round(ys.astype(np.float64) / lsb).astype(np.int64)
    o_lo = -(1 << (out_t[1] - 1)) if out_t[0] else 0
    o_hi = (1 << (out_t[1] - 1)) - 1 if out_t[0] else (1 << out_t[1]) - 1
    meta = {
        "name": fx.name,
        "description": fx.description,
        "covers": fx.covers,
        "versions": versions,
        "route": "float ONNX -> qonnx cleanup_model, ConvertToChannelsLastAndClean, GemmToMatMul, cleanup_model -> "
        "hls4ml.converters.convert_from_onnx_model(io_type='io_parallel', backend='Vivado') -> "
        "compile() -> predict(float32)",
        "input_shape": [1] + fx.in_shape,
        "output_shape": list(net.shape),
        "rows": rows,
        "tolerance_lsb": 0,
        "lsb": lsb,
        "output_type": prec_str(out_var.type.precision),
        "hls4ml_overrides": fx.hls_config,
        "hls4ml_config": cfg,
        "hls4ml_layers": table,
        "our_config": ours,
        "weight_checks": wc,
        "bn_fold_checks": fc,
        "accumulators": accum_checks(hm),
        "dense_emulation": emulation,
        "seed_attempts": attempts,
        "input_coverage": stats,
        "output_coverage": {
            "at_min": int(np.sum(y_raw == o_lo)),
            "at_max": int(np.sum(y_raw == o_hi)),
            "zeros": int(np.sum(y_raw == 0)),
            "values": int(y_raw.size),
            "distinct": int(np.unique(y_raw).size),
        },
        "known_divergence": fx.known_divergence,
        "notes": fx.notes
        + notes
        + [
            "Weights are quantized by hls4ml from decimal text ('{:.Ff}', F = fraction bits of the type); the "
            "generator re-draws weights until that gives the same raw values as converting the float exactly "
            "(seed_attempts), so that each fixture tests its own subject; decimal_weight_text_trn covers the "
            "text conversion, which the toolflow reproduces."
            if fx.weights == "clean"
            else "Weights deliberately drawn so that hls4ml's decimal weight text changes some raw values "
            "(weight_checks).",
            "y is float32 from hls4ml's predict(); every output type has at most 24 bits, so it is exact.",
        ],
    }
    (out / f"{fx.name}.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    meta["seconds"] = round(time.time() - t0, 1)  # printed, not stored (the files are reproducible)
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="fixture names")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--keep", action="store_true", help="keep the hls4ml projects (printed)")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for fx in FIXTURES:
            print(f"{fx.name}: {fx.description}")
        return
    chosen = [fx for fx in FIXTURES if not args.only or fx.name in args.only]
    if args.only and len(chosen) != len(args.only):
        sys.exit(f"unknown fixture in {args.only}")
    args.out.mkdir(parents=True, exist_ok=True)
    versions = tool_versions()
    work = Path(tempfile.mkdtemp(prefix="hls4ml_fixtures_"))
    try:
        for fx in chosen:
            meta = generate(fx, args.rows, args.out, work, versions)
            kb = sum(os.path.getsize(args.out / f"{fx.name}.{e}") for e in ("onnx", "yaml", "parquet", "json")) / 1024
            print(f"{fx.name}: {meta['rows']} rows, output {meta['output_type']}, "
                  f"{meta['weight_checks']['constants']} constants, {len(meta['seed_attempts'])} draw(s), "
                  f"{meta['seconds']} s, {kb:.0f} KiB", flush=True)
    finally:
        if args.keep:
            print(f"hls4ml projects kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
