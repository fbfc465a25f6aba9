#!/usr/bin/env python3
"""Generate the QONNX fixture suite used to prove the Rust toolflow bit-exact.

For every fixture this writes, into toolflow/tests/fixtures/:

  NAME.onnx     the QONNX model (built with onnx.helper, shapes inferred with
                qonnx's InferShapes; this exact file is what the reference ran)
  NAME.parquet  columns x, y: FixedSizeList<Float32>; x is the model input
                flattened row-major without the batch dimension, y is the
                output of qonnx.core.onnx_exec.execute_onnx on that input,
                flattened the same way (negative zeros normalised to +0.0)
  NAME.json     description, shapes, row count, tolerance, output quantum, notes

Everything is deterministic: each fixture seeds numpy's PCG64 from the CRC32 of
its name.  Only power-of-two scales are used, and every fixture is designed so
that the float32 arithmetic inside the reference is exact (checked per row by
python/qonnx_ref64.py, which re-evaluates the model in float64 and bounds every
partial sum below 2**24 grid units).

Usage:  .venv/bin/python python/make_qonnx_fixtures.py [--only NAME ...] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
from onnx import TensorProto, helper, numpy_helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qonnx_ref64 import NotExact, Ref64, grid_exponent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "toolflow" / "tests" / "fixtures"
QD = "qonnx.custom_op.general"
ONNX_OPSET = 13
IR_VERSION = 8
ROUNDING_MODES = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]


def p2(e):
    return float(2.0**e)


def int_range(signed, narrow, bits):
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - (1 if narrow else 0)


# ---------------------------------------------------------------- graph builder


class Graph:
    """Small onnx.helper wrapper. Every node gets its own parameter tensors
    (qonnx's InferShapes mangles initializers shared between custom ops)."""

    def __init__(self, name: str, in_shape: list[int], qonnx_opset: int = 1):
        self.name = name
        self.in_shape = list(in_shape)
        self.qonnx_opset = qonnx_opset
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, arr, base: str = "c", dtype=np.float32) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", base: str | None = None, **attrs) -> str:
        out = self.fresh(base or op.lower())
        self.nodes.append(
            helper.make_node(op, inputs, [out], name=self.fresh("n_" + op), domain=domain, **attrs)
        )
        return out

    # -- QONNX ops
    def quant(self, x, scale, bits, signed=1, narrow=0, mode="ROUND", zp=0.0, base="q"):
        ins = [x, self.const(scale, "scale"), self.const(zp, "zeropt"), self.const(float(bits), "bitwidth")]
        return self.node("Quant", ins, domain=QD, base=base, signed=int(signed), narrow=int(narrow),
                         rounding_mode=mode)

    def bipolar(self, x, scale, base="bq"):
        return self.node("BipolarQuant", [x, self.const(scale, "scale")], domain=QD, base=base)

    def trunc_v1(self, x, scale, in_bits, out_bits, mode, zp=0.0):
        assert self.qonnx_opset == 1
        ins = [x, self.const(scale, "scale"), self.const(zp, "zeropt"), self.const(float(in_bits), "in_bw"),
               self.const(float(out_bits), "out_bw")]
        return self.node("Trunc", ins, domain=QD, base="trunc", rounding_mode=mode)

    def trunc_v2(self, x, scale, in_bits, out_scale, out_bits, mode, signed=1, narrow=0, zp=0.0):
        assert self.qonnx_opset == 2
        ins = [x, self.const(scale, "scale"), self.const(zp, "zeropt"), self.const(float(in_bits), "in_bw"),
               self.const(out_scale, "out_scale"), self.const(float(out_bits), "out_bw")]
        return self.node("Trunc", ins, domain=QD, base="trunc", rounding_mode=mode, signed=int(signed),
                         narrow=int(narrow))

    def mt(self, x, thresholds, out_dtype, out_scale=1.0, out_bias=0.0, data_layout=None):
        attrs = dict(out_dtype=out_dtype, out_scale=float(out_scale), out_bias=float(out_bias))
        if data_layout:
            attrs["data_layout"] = data_layout
        th = np.sort(np.asarray(thresholds, np.float32), axis=1)
        return self.node("MultiThreshold", [x, self.const(th, "thresh")], domain=QD, base="mt", **attrs)

    def wq(self, w, scale, bits, signed=1, narrow=1, mode="ROUND"):
        """Float weight initializer followed by a weight Quant node (as Brevitas exports)."""
        return self.quant(self.const(w, "w"), scale, bits, signed, narrow, mode, base="wq")

    def bq(self, b, scale, bits=16):
        return self.quant(self.const(b, "b"), scale, bits, 1, 0, "ROUND", base="bq")

    # -- finish
    def model(self, out: str, doc: str) -> onnx.ModelProto:
        for n in self.nodes:
            for i, o in enumerate(n.output):
                if o == out:
                    n.output[i] = "y"
            for i, o in enumerate(n.input):
                if o == out:
                    n.input[i] = "y"
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.in_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            self.inits,
        )
        m = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(QD, self.qonnx_opset)],
            ir_version=IR_VERSION,
            producer_name="fastml-arena/python/make_qonnx_fixtures.py",
            doc_string=doc,
        )
        mw = ModelWrapper(m).transform(InferShapes())
        assert mw.check_all_tensor_shapes_specified(), "shape inference left tensors without shapes"
        # make the output ValueInfo carry its inferred shape
        out_vi = next((v for v in mw.graph.value_info if v.name == "y"), None)
        if out_vi is not None:
            mw.graph.output[0].CopyFrom(out_vi)
            mw.graph.value_info.remove(out_vi)
        return mw.model


# ---------------------------------------------------------------- input generators


def mixed(rng, rows, shape, scale, lo, hi, frac_bits=8, p_tie=0.3, p_grid=0.15, p_clamp=0.15,
          p_zero=0.02, tie_scales=None):
    """Values that exercise a quantizer with integer range [lo, hi] and step `scale`.

    tie   : (k + 1/2) * s  -- exact rounding ties (s drawn from tie_scales if given)
    grid  : k * s          -- exactly representable values
    clamp : beyond the range (up to one range width outside) -- saturation
    zero  : +0.0 and -0.0
    fine  : uniform on the grid s * 2**-frac_bits inside the range
    """
    n = rows * int(np.prod(shape))
    u = rng.random(n)
    out = np.empty(n, np.float64)
    width = hi - lo + 1
    ts = np.full(n, scale) if tie_scales is None else rng.choice(tie_scales, n)
    k_lo, k_hi = np.floor(lo * scale / ts) - 1, np.ceil(hi * scale / ts) + 1
    k = np.floor(k_lo + rng.random(n) * (k_hi - k_lo + 1))
    tie = (k + 0.5) * ts
    grid = np.floor(lo - 1 + rng.random(n) * (width + 2)) * scale
    sub = 2.0**frac_bits
    fine = np.floor((lo - 0.5) * sub + rng.random(n) * ((width) * sub)) * scale / sub
    over = np.floor(rng.random(n) * width * sub + 1) * scale / sub
    clamp = np.where(rng.random(n) < 0.5, hi * scale + over, lo * scale - over)
    zero = np.where(rng.random(n) < 0.5, 0.0, -0.0)
    c0, c1, c2, c3 = p_tie, p_tie + p_grid, p_tie + p_grid + p_clamp, p_tie + p_grid + p_clamp + p_zero
    out = np.where(u < c0, tie, np.where(u < c1, grid, np.where(u < c2, clamp, np.where(u < c3, zero, fine))))
    return out.astype(np.float32).reshape([rows] + list(shape))


# ---------------------------------------------------------------- fixtures


@dataclass
class Fixture:
    name: str
    description: str
    covers: list[str]
    build: Callable  # (rng) -> (Graph, out_name)
    inputs: Callable  # (rng, rows) -> float32 [rows, *in_shape[1:]]
    lsb: float | None
    rows: int = 1000
    notes: list[str] = field(default_factory=list)
    lsb_per_channel: list[float] | None = None


FIXTURES: list[Fixture] = []


def fixture(name, description, covers, lsb, rows=1000, notes=()):
    def deco(fn):
        build, inputs = fn()
        FIXTURES.append(Fixture(name, description, covers, build, inputs, lsb, rows, list(notes)))
        return fn

    return deco


def po2(rng, shape, e_lo, e_hi):
    """Random power-of-two scales 2**-e, e in [e_lo, e_hi]."""
    return (2.0 ** -rng.integers(e_lo, e_hi + 1, size=shape)).astype(np.float32)


# -- MLPs ---------------------------------------------------------------------


@fixture("mlp_matmul_relu",
         "2-layer MLP: Quant(int8) -> MatMul(int4 narrow, per-column po2 scales) -> Add(int16 bias) -> Relu "
         "-> Quant(uint8) -> MatMul -> Add -> Quant(int8)",
         ["MatMul", "Add", "Relu", "Quant signed/unsigned", "narrow weights", "per-channel po2 weight scales",
          "bias Quant 16-bit", "clamp"], lsb=p2(-3), rows=2000)
def _():
    def build(rng):
        g = Graph("mlp_matmul_relu", [1, 16])
        h = g.quant("x", p2(-4), 8, 1, 0)
        w1 = g.wq(rng.normal(0, 0.4, (16, 32)), po2(rng, (1, 32), 2, 4), 4)
        h = g.node("MatMul", [h, w1])
        h = g.node("Add", [h, g.bq(rng.normal(0, 0.5, 32), p2(-10))])
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-3), 8, 0, 0)
        w2 = g.wq(rng.normal(0, 0.3, (32, 10)), po2(rng, (1, 10), 2, 4), 4)
        h = g.node("MatMul", [h, w2])
        h = g.node("Add", [h, g.bq(rng.normal(0, 0.5, 10), p2(-10))])
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [16], p2(-4), -128, 127)


@fixture("mlp_gemm",
         "2-layer MLP with Gemm: Quant(int6) -> Gemm(transB=1, int5 narrow per-row po2 weights, int12 bias) -> Relu "
         "-> Quant(uint6, FLOOR) -> Gemm(transB=0, bias shape [1,8]) -> Quant(int10, HALF_UP)",
         ["Gemm transB=0/1", "Gemm bias C", "FLOOR and HALF_UP inside a network", "per-channel po2 scales"],
         lsb=p2(-4), rows=2000)
def _():
    def build(rng):
        g = Graph("mlp_gemm", [1, 20])
        h = g.quant("x", p2(-3), 6, 1, 0)
        b = g.wq(rng.normal(0, 0.3, (24, 20)), po2(rng, (24, 1), 3, 5), 5)
        h = g.node("Gemm", [h, b, g.bq(rng.normal(0, 0.5, 24), p2(-8), 12)], transB=1, alpha=1.0, beta=1.0)
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-2), 6, 0, 0, "FLOOR")
        b2 = g.wq(rng.normal(0, 0.3, (24, 8)), po2(rng, (1, 8), 3, 5), 5)
        h = g.node("Gemm", [h, b2, g.bq(rng.normal(0, 0.5, (1, 8)), p2(-8), 12)])
        return g, g.quant(h, p2(-4), 10, 1, 0, "HALF_UP")

    return build, lambda rng, n: mixed(rng, n, [20], p2(-3), -32, 31)


@fixture("mlp_wide_16bit",
         "Wide activations: Quant(int16, 2^-12) -> MatMul(int3 narrow) -> Quant(int12) -> Relu -> MatMul(int4 "
         "per-column) -> Quant(int16, 2^-12)",
         ["16-bit activations", "12-bit activations", "3-bit weights", "saturation of 12-bit"], lsb=p2(-12))
def _():
    def build(rng):
        g = Graph("mlp_wide_16bit", [1, 8])
        h = g.quant("x", p2(-12), 16, 1, 0)
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.8, (8, 8)), p2(-1), 3)])
        h = g.quant(h, p2(-8), 12, 1, 0)
        h = g.node("Relu", [h])
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.4, (8, 4)), po2(rng, (1, 4), 2, 3), 4)])
        return g, g.quant(h, p2(-12), 16, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [8], p2(-12), -(2**15), 2**15 - 1, frac_bits=4)


# -- convolutions -------------------------------------------------------------


@fixture("conv1d",
         "Conv1D stack: Quant(int8) -> Conv(k=5, pads 2, int6 narrow per-channel weights, int16 bias) -> Relu -> "
         "Quant(uint8) -> Conv(k=3, stride 2, dilation 2, asymmetric pads [1,3]) -> Quant(int8)",
         ["Conv 1D", "strides", "dilations", "asymmetric pads", "conv bias", "per-channel po2 scales"],
         lsb=p2(-3))
def _():
    def build(rng):
        g = Graph("conv1d", [1, 4, 32])
        h = g.quant("x", p2(-5), 8, 1, 0)
        w = g.wq(rng.normal(0, 0.3, (8, 4, 5)), po2(rng, (8, 1, 1), 3, 5), 6)
        h = g.node("Conv", [h, w, g.bq(rng.normal(0, 0.3, 8), p2(-12))], kernel_shape=[5], pads=[2, 2])
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-4), 8, 0, 0)
        w = g.wq(rng.normal(0, 0.3, (6, 8, 3)), po2(rng, (6, 1, 1), 2, 4), 6)
        h = g.node("Conv", [h, w], kernel_shape=[3], strides=[2], dilations=[2], pads=[1, 3])
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [4, 32], p2(-5), -128, 127, frac_bits=4)


@fixture("conv2d_stride_pad_dilation",
         "Conv2D: Quant(int8) -> Conv(3x3, stride 2, pads 1) -> Relu -> Quant(uint6) -> Conv(3x2 kernel, "
         "dilations [2,2], strides [1,2], asymmetric pads [2,1,1,2]) -> Quant(int8)",
         ["Conv 2D", "strides", "pads incl. asymmetric", "dilations", "non-square kernel"], lsb=p2(-3))
def _():
    def build(rng):
        g = Graph("conv2d_stride_pad_dilation", [1, 3, 10, 10])
        h = g.quant("x", p2(-5), 8, 1, 0)
        w = g.wq(rng.normal(0, 0.3, (6, 3, 3, 3)), po2(rng, (6, 1, 1, 1), 3, 4), 5)
        h = g.node("Conv", [h, w, g.bq(rng.normal(0, 0.3, 6), p2(-10))], kernel_shape=[3, 3], strides=[2, 2],
                   pads=[1, 1, 1, 1])
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-3), 6, 0, 0)
        w = g.wq(rng.normal(0, 0.3, (8, 6, 3, 2)), po2(rng, (8, 1, 1, 1), 2, 4), 5)
        h = g.node("Conv", [h, w], kernel_shape=[3, 2], dilations=[2, 2], strides=[1, 2], pads=[2, 1, 1, 2])
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [3, 10, 10], p2(-5), -128, 127, frac_bits=4)


@fixture("depthwise_conv2d",
         "Depthwise-separable: Quant(int8) -> Conv(3x3 depthwise, group=8, pads 1, per-channel int5) + bias -> Relu "
         "-> Quant(uint8, per-channel activation scales [1,8,1,1]) -> Conv(1x1 pointwise) -> Quant(int8)",
         ["depthwise Conv (group = channels)", "pointwise Conv", "per-channel activation scales"], lsb=p2(-3))
def _():
    def build(rng):
        g = Graph("depthwise_conv2d", [1, 8, 6, 6])
        h = g.quant("x", p2(-4), 8, 1, 0)
        w = g.wq(rng.normal(0, 0.4, (8, 1, 3, 3)), po2(rng, (8, 1, 1, 1), 2, 4), 5)
        h = g.node("Conv", [h, w, g.bq(rng.normal(0, 0.3, 8), p2(-10))], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                   group=8)
        h = g.node("Relu", [h])
        h = g.quant(h, po2(rng, (1, 8, 1, 1), 2, 4), 8, 0, 0)
        w = g.wq(rng.normal(0, 0.3, (12, 8, 1, 1)), po2(rng, (12, 1, 1, 1), 2, 4), 4)
        h = g.node("Conv", [h, w], kernel_shape=[1, 1])
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [8, 6, 6], p2(-4), -128, 127, frac_bits=4)


@fixture("conv_batchnorm",
         "Conv -> BatchNormalization -> Relu -> Quant(uint8) -> Conv 1x1 -> BatchNormalization -> Quant(int8). "
         "BN statistics are exact: epsilon = 0, var = 4^j, gamma and beta on power-of-two grids, so "
         "gamma/sqrt(var+eps) is an exact float and folding BN into the conv is exact",
         ["BatchNormalization (foldable)", "Conv without bias"], lsb=p2(-3),
         notes=["BatchNormalization uses epsilon=0 and variances 4^j so that gamma/sqrt(var+eps) is exactly "
                "representable; gamma includes negative values."])
def _():
    def bn(g, rng, h, c, acc_grid):
        gamma = rng.integers(-6, 7, c) * p2(-3)
        gamma[gamma == 0] = p2(-3)
        var = 4.0 ** rng.integers(-1, 2, c)
        mean = rng.integers(-64, 64, c) * p2(acc_grid)
        beta = rng.integers(-32, 32, c) * p2(-5)
        ins = [h] + [g.const(a, nm) for a, nm in
                     [(gamma, "bn_gamma"), (beta, "bn_beta"), (mean, "bn_mean"), (var, "bn_var")]]
        return g.node("BatchNormalization", ins, epsilon=0.0)

    def build(rng):
        g = Graph("conv_batchnorm", [1, 4, 8, 8])
        h = g.quant("x", p2(-4), 7, 1, 0)
        w = g.wq(rng.normal(0, 0.3, (6, 4, 3, 3)), po2(rng, (6, 1, 1, 1), 2, 3), 4)
        h = g.node("Conv", [h, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        h = bn(g, rng, h, 6, -6)
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-3), 8, 0, 0)
        w = g.wq(rng.normal(0, 0.3, (4, 6, 1, 1)), po2(rng, (4, 1, 1, 1), 2, 3), 4)
        h = g.node("Conv", [h, w], kernel_shape=[1, 1])
        h = bn(g, rng, h, 4, -6)
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [4, 8, 8], p2(-4), -64, 63, frac_bits=4)


# -- binary / ternary ---------------------------------------------------------


@fixture("binary_bipolar_mlp",
         "Binary network: BipolarQuant(x) -> MatMul(BipolarQuant weights) -> Add(integer bias) -> BipolarQuant "
         "-> MatMul(BipolarQuant weights, per-column po2 scales [1,10])",
         ["BipolarQuant activations", "BipolarQuant weights", "sign(0) = +1", "sign(-0.0) = +1",
          "per-channel bipolar scales", "unquantized accumulator output"], lsb=p2(-3), rows=2000,
         notes=["BipolarQuant maps x >= 0 to +scale (including +0.0 and -0.0) and x < 0 to -scale.",
                "The output is the raw MatMul accumulator (no output Quant): integer sums of +-2^-e, e in 1..3."])
def _():
    def build(rng):
        g = Graph("binary_bipolar_mlp", [1, 64])
        h = g.bipolar("x", 1.0)
        h = g.node("MatMul", [h, g.bipolar(g.const(rng.normal(0, 1, (64, 32)), "w"), 1.0)])
        h = g.node("Add", [h, g.const(rng.integers(-4, 5, 32).astype(np.float32) * 2, "b")])
        h = g.bipolar(h, 1.0)
        w = g.bipolar(g.const(rng.normal(0, 1, (32, 10)), "w"), po2(rng, (1, 10), 1, 3))
        return g, g.node("MatMul", [h, w])

    def inputs(rng, n):
        x = (np.round(rng.normal(0, 1, (n, 64)) * 64) / 64).astype(np.float32)
        m = rng.random((n, 64))
        x[m < 0.05] = 0.0
        x[(m >= 0.05) & (m < 0.10)] = -0.0
        return x

    return build, inputs


@fixture("binary_xnor_multithreshold",
         "FINN-style binary network: BipolarQuant(x) -> MatMul(bipolar W) -> MultiThreshold(1 threshold/channel, "
         "out_scale 2, out_bias -1 => bipolar) -> MatMul(bipolar W) -> MultiThreshold(3 thresholds/channel, UINT2)",
         ["BipolarQuant", "MultiThreshold as sign activation", "MultiThreshold per-channel thresholds",
          "threshold equality (x >= t)"], lsb=1.0, rows=2000)
def _():
    def build(rng):
        g = Graph("binary_xnor_multithreshold", [1, 64])
        h = g.bipolar("x", 1.0)
        h = g.node("MatMul", [h, g.bipolar(g.const(rng.normal(0, 1, (64, 32)), "w"), 1.0)])
        # accumulators are even integers in [-64, 64]; even thresholds hit equality
        h = g.mt(h, rng.integers(-4, 5, (32, 1)) * 2.0, "BIPOLAR", out_scale=2.0, out_bias=-1.0)
        h = g.node("MatMul", [h, g.bipolar(g.const(rng.normal(0, 1, (32, 10)), "w"), 1.0)])
        return g, g.mt(h, rng.integers(-6, 7, (10, 3)) * 2.0, "UINT2")

    def inputs(rng, n):
        x = (np.round(rng.normal(0, 1, (n, 64)) * 64) / 64).astype(np.float32)
        m = rng.random((n, 64))
        x[m < 0.03] = 0.0
        x[(m >= 0.03) & (m < 0.06)] = -0.0
        return x

    return build, inputs


@fixture("ternary_mlp",
         "Ternary network: Quant(2-bit signed narrow, 2^-1) activations in {-1,0,1}*0.5 -> MatMul(ternary weights: "
         "2-bit signed narrow Quant, per-column po2 scales) -> Quant(2-bit narrow, scale 1) -> MatMul(ternary) -> "
         "Quant(int8)",
         ["ternary weights {-1,0,1}*scale", "ternary activations", "2-bit narrow Quant", "ties at +-0.5"],
         lsb=p2(-3), rows=2000)
def _():
    def build(rng):
        g = Graph("ternary_mlp", [1, 32])
        h = g.quant("x", p2(-1), 2, 1, 1)
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.25, (32, 24)), po2(rng, (1, 24), 2, 3), 2)])
        h = g.quant(h, 1.0, 2, 1, 1)
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.25, (24, 8)), po2(rng, (1, 8), 2, 3), 2)])
        return g, g.quant(h, p2(-3), 8, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [32], p2(-1), -1, 1, frac_bits=6)


# -- Quant semantics ----------------------------------------------------------

BW_TIE_SCALES = [p2(3 - b) for b in range(1, 17)]


@fixture("quant_bitwidths_signed",
         "One Quant per bit width on the same input, concatenated: signed narrow=0 for bits 1..16 and signed "
         "narrow=1 for bits 2..16, scale 2^(3-bits) (range about [-4, 4))",
         ["bit widths 1..16", "signed", "narrow", "clamp", "1-bit signed Quant = sign"], lsb=p2(-13),
         notes=["y is the concatenation of 31 blocks of 16 values: blocks 0..15 are bits 1..16 narrow=0, "
                "blocks 16..30 are bits 2..16 narrow=1; block k has its own lsb 2^(3-bits).",
                "A signed Quant with bitwidth 1 ignores rounding and narrow: it outputs +scale for x/scale+zp >= 0 "
                "and -scale otherwise."])
def _():
    def build(rng):
        g = Graph("quant_bitwidths_signed", [1, 16])
        outs = [g.quant("x", p2(3 - b), b, 1, 0) for b in range(1, 17)]
        outs += [g.quant("x", p2(3 - b), b, 1, 1) for b in range(2, 17)]
        return g, g.node("Concat", outs, axis=1)

    return build, lambda rng, n: mixed(rng, n, [16], p2(-13), -(2**16), 2**16 - 1, frac_bits=3,
                                       tie_scales=BW_TIE_SCALES)


@fixture("quant_bitwidths_unsigned",
         "One Quant per bit width on the same input, concatenated: unsigned narrow=0 for bits 1..16 and unsigned "
         "narrow=1 for bits 2..16, scale 2^(3-bits) (range about [0, 8))",
         ["bit widths 1..16", "unsigned", "unsigned narrow (max = 2^b - 2)", "clamp at 0"], lsb=p2(-13),
         notes=["y is the concatenation of 31 blocks of 16 values: blocks 0..15 are bits 1..16 narrow=0, "
                "blocks 16..30 are bits 2..16 narrow=1; block k has its own lsb 2^(3-bits)."])
def _():
    def build(rng):
        g = Graph("quant_bitwidths_unsigned", [1, 16])
        outs = [g.quant("x", p2(3 - b), b, 0, 0) for b in range(1, 17)]
        outs += [g.quant("x", p2(3 - b), b, 0, 1) for b in range(2, 17)]
        return g, g.node("Concat", outs, axis=1)

    return build, lambda rng, n: mixed(rng, n, [16], p2(-13), -(2**16), 2**17 - 1, frac_bits=3,
                                       tie_scales=BW_TIE_SCALES)


ROUND_TIE_SCALES = [p2(-e) for e in range(0, 6)]


def _rounding_fixture(mode):
    name = f"quant_rounding_{mode.lower()}"
    branches = "signed int6 (2^-2), unsigned narrow uint4 (2^-1), signed narrow int3 (2^0), signed int8 with " \
               "per-element po2 scales [1,32] (2^-1..2^-4)"
    if mode == "ROUND":
        branches += ", and the same int6 branch spelled HALF_EVEN"

    @fixture(name, f"Quant rounding_mode={mode} on four branches concatenated: {branches}",
             [f"rounding_mode {mode}", "exact ties (k+1/2)*s at several scales", "negative ties", "clamp",
              "per-element po2 scales", "+0.0/-0.0 inputs"], lsb=p2(-4),
             notes=["y is the concatenation of blocks of 32 values, one per branch in the order of the description.",
                    "Inputs are float32 values on a 2^-8 grid relative to the branch scale, so the float32 "
                    "x/scale (+0.5 for HALF_* modes) computed by qonnx is exact."])
    def _():
        def build(rng):
            g = Graph(name, [1, 32])
            outs = [g.quant("x", p2(-2), 6, 1, 0, mode),
                    g.quant("x", p2(-1), 4, 0, 1, mode),
                    g.quant("x", 1.0, 3, 1, 1, mode),
                    g.quant("x", po2(rng, (1, 32), 1, 4), 8, 1, 0, mode)]
            if mode == "ROUND":
                outs.append(g.quant("x", p2(-2), 6, 1, 0, "HALF_EVEN"))
            return g, g.node("Concat", outs, axis=1)

        return build, lambda rng, n: mixed(rng, n, [32], p2(-2), -40, 40, frac_bits=6, p_tie=0.5,
                                           p_grid=0.1, p_clamp=0.1, p_zero=0.04, tie_scales=ROUND_TIE_SCALES)


for _mode in ["ROUND", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]:
    _rounding_fixture(_mode)


@fixture("quant_nonzero_zeropoint",
         "Asymmetric quantization: Quant(uint8, scale 2^-4, zero_point 37) -> MatMul(int5 narrow) -> "
         "Quant(int8, scale 2^-2, zero_point -5)",
         ["Quant integer zero point (non-zero)", "asymmetric clamp range"], lsb=p2(-2),
         notes=["Quant with zero point z: q = clamp(round(x/s + z), min, max); y = (q - z) * s. Representable "
                "values are (min-z .. max-z) * s. qonnx's datatype inference only accepts z = 0, but its "
                "executor computes this; reject it in the toolflow if unsupported."])
def _():
    def build(rng):
        g = Graph("quant_nonzero_zeropoint", [1, 32])
        h = g.quant("x", p2(-4), 8, 0, 0, zp=37.0)
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.3, (32, 16)), po2(rng, (1, 16), 2, 3), 5)])
        return g, g.quant(h, p2(-2), 8, 1, 0, zp=-5.0)

    return build, lambda rng, n: mixed(rng, n, [32], p2(-4), -37, 218, frac_bits=6)


# -- Trunc ----------------------------------------------------------------------


@fixture("trunc_v2",
         "Trunc (qonnx opset 2) branches on Quant(int12, 2^-6) output, concatenated: (out 2^-3, 8b, FLOOR), "
         "(2^-3, 8b, ROUND), (2^-3, 9b, CEIL), (2^-5, 12b, HALF_DOWN), (unsigned 2^-2, 6b, FLOOR), "
         "(signed narrow 2^-1, 4b, UP), (2^-6, 10b, DOWN: shift 0, clamp only), (raw x, not on the grid: "
         "2^-3, 8b, HALF_UP)",
         ["Trunc v2", "Trunc output clamp signed/unsigned/narrow", "Trunc rounding modes",
          "Trunc on off-grid input (initial half-even rounding)"], lsb=p2(-6),
         notes=["The model imports domain qonnx.custom_op.general at version 2, which selects Trunc_v2.",
                "y is the concatenation of 8 blocks of 32 values in the order of the description; each block "
                "has the lsb of its output scale."])
def _():
    def build(rng):
        g = Graph("trunc_v2", [1, 32], qonnx_opset=2)
        s = p2(-6)
        q = g.quant("x", s, 12, 1, 0)
        outs = [g.trunc_v2(q, s, 12, p2(-3), 8, "FLOOR"),
                g.trunc_v2(q, s, 12, p2(-3), 8, "ROUND"),
                g.trunc_v2(q, s, 12, p2(-3), 9, "CEIL"),
                g.trunc_v2(q, s, 12, p2(-5), 12, "HALF_DOWN"),
                g.trunc_v2(q, s, 12, p2(-2), 6, "FLOOR", signed=0),
                g.trunc_v2(q, s, 12, p2(-1), 4, "UP", signed=1, narrow=1),
                g.trunc_v2(q, s, 12, s, 10, "DOWN"),
                g.trunc_v2("x", s, 12, p2(-3), 8, "HALF_UP")]
        return g, g.node("Concat", outs, axis=1)

    return build, lambda rng, n: mixed(rng, n, [32], p2(-6), -2048, 2047, frac_bits=4,
                                       tie_scales=[p2(-6), p2(-5), p2(-4), p2(-3), p2(-2)])


@fixture("trunc_v1",
         "Trunc (qonnx opset 1, legacy) branches on Quant(int10, 2^-4) output, concatenated: (in 10b -> out 6b, "
         "FLOOR), (10 -> 6, ROUND), (10 -> 8, CEIL), (10 -> 7, HALF_UP), (raw x, 10 -> 6, FLOOR)",
         ["Trunc v1 (legacy formula, no clamp, output keeps the input scale)"], lsb=p2(-4),
         notes=["The model imports domain qonnx.custom_op.general at version 1, which selects Trunc_v1: "
                "y = (mode(round_half_even(x/s + z) / 2^(in_bw - out_bw)) - z) * s. The result is multiplied "
                "by the INPUT scale s (not s * 2^shift) and is not clamped.",
                "y is the concatenation of 5 blocks of 32 values in the order of the description."])
def _():
    def build(rng):
        g = Graph("trunc_v1", [1, 32], qonnx_opset=1)
        s = p2(-4)
        q = g.quant("x", s, 10, 1, 0)
        outs = [g.trunc_v1(q, s, 10, 6, "FLOOR"),
                g.trunc_v1(q, s, 10, 6, "ROUND"),
                g.trunc_v1(q, s, 10, 8, "CEIL"),
                g.trunc_v1(q, s, 10, 7, "HALF_UP"),
                g.trunc_v1("x", s, 10, 6, "FLOOR")]
        return g, g.node("Concat", outs, axis=1)

    return build, lambda rng, n: mixed(rng, n, [32], p2(-4), -512, 511, frac_bits=4,
                                       tie_scales=[p2(-4), p2(-3), p2(-2), p2(-1), 1.0])


@fixture("trunc_avgpool_v2",
         "Brevitas TruncAvgPool export pattern: Quant(uint6, 2^-3) -> AveragePool(2x2, stride 2) -> Mul(4) -> "
         "Trunc v2(scale 2^-3, out scale 2^-1, 6b unsigned, FLOOR) -> Flatten",
         ["AveragePool", "Mul by constant", "Trunc v2 after pooling", "Flatten"], lsb=p2(-1))
def _():
    def build(rng):
        g = Graph("trunc_avgpool_v2", [1, 4, 8, 8], qonnx_opset=2)
        h = g.quant("x", p2(-3), 6, 0, 0)
        h = g.node("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2])
        h = g.node("Mul", [h, g.const(4.0, "k")])
        h = g.trunc_v2(h, p2(-3), 8, p2(-1), 6, "FLOOR", signed=0)
        return g, g.node("Flatten", [h], axis=1)

    return build, lambda rng, n: mixed(rng, n, [4, 8, 8], p2(-3), 0, 63, frac_bits=3)


# -- pooling / structure ----------------------------------------------------------


@fixture("pool_max_avg_global",
         "Quant(int8) -> Conv 3x3 -> Relu -> Quant(uint8) -> MaxPool(3x3, stride 2, pads 1) -> AveragePool(2x2, "
         "stride 2) -> Quant(uint8, FLOOR) -> GlobalAveragePool(4x4) -> Flatten -> Quant(uint10)",
         ["MaxPool with pads", "AveragePool", "GlobalAveragePool", "Flatten"], lsb=p2(-6))
def _():
    def build(rng):
        g = Graph("pool_max_avg_global", [1, 2, 16, 16])
        h = g.quant("x", p2(-4), 8, 1, 0)
        w = g.wq(rng.normal(0, 0.4, (8, 2, 3, 3)), p2(-3), 4)
        h = g.node("Conv", [h, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        h = g.node("Relu", [h])
        h = g.quant(h, p2(-3), 8, 0, 0)
        h = g.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        h = g.node("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2])
        h = g.quant(h, p2(-4), 8, 0, 0, "FLOOR")
        h = g.node("GlobalAveragePool", [h])
        h = g.node("Flatten", [h], axis=1)
        return g, g.quant(h, p2(-6), 10, 0, 0)

    return build, lambda rng, n: mixed(rng, n, [2, 16, 16], p2(-4), -128, 127, frac_bits=2)


@fixture("cnn_concat_reshape",
         "Two conv branches (3x3 -> Quant uint6 2^-2, and 1x1 with bias -> Quant uint6 2^-3) -> Concat(axis=1) -> "
         "MaxPool 2x2 -> Reshape([1,-1]) -> MatMul(int4 per-column) -> Add(bias) -> Quant(int12)",
         ["Concat of tensors with different scales", "Reshape with constant shape", "MaxPool", "classifier head"],
         lsb=p2(-6))
def _():
    def build(rng):
        g = Graph("cnn_concat_reshape", [1, 2, 8, 8])
        h = g.quant("x", p2(-5), 8, 1, 0)
        a = g.node("Conv", [h, g.wq(rng.normal(0, 0.3, (4, 2, 3, 3)), p2(-3), 5)], kernel_shape=[3, 3],
                   pads=[1, 1, 1, 1])
        a = g.quant(g.node("Relu", [a]), p2(-2), 6, 0, 0)
        b = g.node("Conv", [h, g.wq(rng.normal(0, 0.5, (3, 2, 1, 1)), p2(-3), 5), g.bq(rng.normal(0, 0.2, 3), p2(-8))],
                   kernel_shape=[1, 1])
        b = g.quant(g.node("Relu", [b]), p2(-3), 6, 0, 0)
        h = g.node("Concat", [a, b], axis=1)
        h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
        h = g.node("Reshape", [h, g.const(np.array([1, -1]), "shape", dtype=np.int64)])
        h = g.node("MatMul", [h, g.wq(rng.normal(0, 0.2, (112, 10)), po2(rng, (1, 10), 2, 4), 4)])
        h = g.node("Add", [h, g.bq(rng.normal(0, 0.5, 10), p2(-8))])
        return g, g.quant(h, p2(-6), 12, 1, 0)

    return build, lambda rng, n: mixed(rng, n, [2, 8, 8], p2(-5), -128, 127, frac_bits=3)


# -- MultiThreshold -------------------------------------------------------------


@fixture("multithreshold_conv_nchw",
         "Quant(uint4, 2^-2) -> Conv 3x3 (int3 weights, 2^-1) -> MultiThreshold(per-channel thresholds [6,7], "
         "NCHW, UINT3) -> MaxPool 2x2 -> Conv 1x1 -> MultiThreshold(global thresholds [1,15], out_scale 2^-1, "
         "out_bias -4, INT4) -> Flatten",
         ["MultiThreshold NCHW per-channel", "MultiThreshold global thresholds", "out_scale/out_bias",
          "duplicate thresholds", "equality hits (x >= t)"], lsb=p2(-1))
def _():
    def build(rng):
        g = Graph("multithreshold_conv_nchw", [1, 3, 8, 8])
        h = g.quant("x", p2(-2), 4, 0, 0)
        h = g.node("Conv", [h, g.wq(rng.normal(0, 0.8, (6, 3, 3, 3)), p2(-1), 3)], kernel_shape=[3, 3],
                   pads=[1, 1, 1, 1])
        th = rng.integers(-24, 40, (6, 7)) * p2(-3)
        th[0, 3] = th[0, 2]  # duplicate threshold: both count
        h = g.mt(h, th, "UINT3")
        h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
        h = g.node("Conv", [h, g.wq(rng.normal(0, 0.8, (4, 6, 1, 1)), p2(-1), 3)], kernel_shape=[1, 1])
        h = g.mt(h, rng.integers(-12, 13, (1, 15)) * p2(-1), "INT4", out_scale=p2(-1), out_bias=-4.0)
        return g, g.node("Flatten", [h], axis=1)

    return build, lambda rng, n: mixed(rng, n, [3, 8, 8], p2(-2), 0, 15, frac_bits=3)


@fixture("multithreshold_layouts",
         "MultiThreshold channel-axis rules on x[1,4,6]: (a) rank 3 without data_layout = NWC, channel axis LAST "
         "(thresholds [6,5]); (b) data_layout NCW (thresholds [4,3], out_scale 0.5, out_bias -1); (c) after "
         "Flatten, rank 2 = NC with global thresholds [1,7] and out_scale 2^-2; (d) Reshape [1,4,2,3], rank 4 "
         "= NCHW (thresholds [4,2]); (e) Reshape [1,2,3,4] with data_layout NHWC (thresholds [4,3]); all "
         "flattened and concatenated",
         ["MultiThreshold default layouts by rank", "data_layout attribute", "global thresholds"], lsb=p2(-2),
         notes=["y is the concatenation of 5 blocks of 24 values (a..e), each the row-major flattening of that "
                "branch's output.",
                "qonnx's default layout for a rank-3 input is NWC: channels are the LAST axis, unlike ONNX."])
def _():
    def build(rng):
        g = Graph("multithreshold_layouts", [1, 4, 6])
        t = lambda shape: rng.integers(-12, 13, shape) * p2(-2)  # noqa: E731
        flat = lambda h: g.node("Flatten", [h], axis=1)  # noqa: E731
        a = flat(g.mt("x", t((6, 5)), "UINT3"))
        b = flat(g.mt("x", t((4, 3)), "INT3", out_scale=0.5, out_bias=-1.0, data_layout="NCW"))
        c = g.mt(flat("x"), t((1, 7)), "UINT3", out_scale=p2(-2))
        d4 = g.node("Reshape", ["x", g.const(np.array([1, 4, 2, 3]), "shape", dtype=np.int64)])
        d = flat(g.mt(d4, t((4, 2)), "UINT2"))
        e4 = g.node("Reshape", ["x", g.const(np.array([1, 2, 3, 4]), "shape", dtype=np.int64)])
        e = flat(g.mt(e4, t((4, 3)), "UINT2", data_layout="NHWC"))
        return g, g.node("Concat", [a, b, c, d, e], axis=1)

    return build, lambda rng, n: mixed(rng, n, [4, 6], p2(-2), -14, 14, frac_bits=3, p_tie=0.1, p_grid=0.5)


# ---------------------------------------------------------------- driver


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def run_reference(model: onnx.ModelProto, xs: np.ndarray, in_shape) -> np.ndarray:
    mw = ModelWrapper(model)
    ys = []
    for row in xs:
        out = execute_onnx(mw, {"x": row.reshape(in_shape)})["y"]
        ys.append(np.asarray(out, np.float32).ravel())
    return np.stack(ys) + np.float32(0.0)  # -0.0 -> +0.0


def write_parquet(path: Path, xs: np.ndarray, ys: np.ndarray):
    def col(a):
        a = np.ascontiguousarray(a, np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel(), pa.float32()), a.shape[1])

    table = pa.table({"x": col(xs.reshape(len(xs), -1)), "y": col(ys)})
    pq.write_table(table, path, compression="snappy")


def tensor_shape(model, name):
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.name == name:
            return [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise KeyError(name)


def exact_note(bits: float) -> str:
    head = "Exact: a float64 re-evaluation (python/qonnx_ref64.py) equals y on every row"
    if bits == 0:
        return head + "; the model has no accumulating standard op, so tolerance_lsb is 0."
    return (head + f", and every partial sum of every accumulating op needs at most {bits:.1f} significant bits "
            "(< 24), so float32 accumulation in the reference is exact in any order; tolerance_lsb is 0.")


def generate(fx: Fixture, rows: int | None, out_dir: Path) -> dict:
    t0 = time.time()
    rng = np.random.default_rng(seed_of(fx.name))
    graph, out = fx.build(rng)
    model = graph.model(out, fx.description)
    onnx.checker.check_model(model)
    data = model.SerializeToString(deterministic=True)
    model = onnx.load_from_string(data)  # run exactly the bytes we save
    in_shape, out_shape = tensor_shape(model, "x"), tensor_shape(model, "y")
    n = rows or fx.rows
    xs = fx.inputs(np.random.default_rng(seed_of(fx.name) + 1), n).astype(np.float32)
    assert list(xs.shape[1:]) == in_shape[1:], (xs.shape, in_shape)
    ys = run_reference(model, xs, in_shape)

    # independent float64 evaluation + float32 exactness budget
    ref = Ref64(model)
    mism = 0
    for i in range(n):
        y64, _ = ref.run(xs[i].reshape(in_shape).astype(np.float64))
        if not np.array_equal(y64.ravel(), ys[i].astype(np.float64)):
            mism += 1
    if mism:
        raise NotExact(f"{fx.name}: float64 re-evaluation differs from the qonnx output on {mism} rows")
    if fx.lsb is not None:
        ge = grid_exponent(ys)
        assert ge is None or ge >= np.log2(fx.lsb), f"{fx.name}: outputs finer than declared lsb"

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{fx.name}.onnx").write_bytes(data)
    write_parquet(out_dir / f"{fx.name}.parquet", xs, ys)
    ops = sorted({(nd.domain or "ai.onnx") + ":" + nd.op_type for nd in model.graph.node})
    meta = {
        "name": fx.name,
        "description": fx.description,
        "covers": fx.covers,
        "input_name": "x",
        "output_name": "y",
        "input_shape": in_shape,
        "output_shape": out_shape,
        "rows": n,
        "tolerance_lsb": 0,
        "lsb": fx.lsb,
        "ops": ops,
        "opset": {"ai.onnx": ONNX_OPSET, QD: graph.qonnx_opset},
        "seed": seed_of(fx.name),
        "max_significant_bits": round(float(ref.max_bits), 2),
        "coverage": ref.stats,
        "notes": fx.notes + [
            "x and y columns are row-major flattenings without the batch dimension; the model's batch is 1.",
            "y is the float32 output of qonnx.core.onnx_exec.execute_onnx (qonnx 1.0.0, onnxruntime 1.23.2); "
            "negative zeros were normalised to +0.0, so compare values numerically.",
            exact_note(ref.max_bits),
        ],
        "generator": "python/make_qonnx_fixtures.py",
    }
    (out_dir / f"{fx.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    meta["seconds"] = time.time() - t0
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="fixture names to (re)generate")
    ap.add_argument("--rows", type=int, help="override the row count (for quick experiments)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for fx in FIXTURES:
            print(f"{fx.name:32s} {fx.description}")
        return 0
    names = {f.name for f in FIXTURES}
    for o in args.only or []:
        if o not in names:
            ap.error(f"unknown fixture {o}")
    todo = [f for f in FIXTURES if not args.only or f.name in args.only]
    print(f"{'fixture':32s} {'in':>14s} {'out':>14s} {'rows':>5s} {'bits':>5s} {'ties':>7s} {'clamp':>7s} "
          f"{'th_eq':>6s} {'kB':>6s} {'s':>5s}")
    for fx in todo:
        m = generate(fx, args.rows, args.out)
        kb = sum(os.path.getsize(args.out / f"{fx.name}.{ext}") for ext in ("onnx", "parquet", "json")) / 1024
        print(f"{fx.name:32s} {str(m['input_shape']):>14s} {str(m['output_shape']):>14s} {m['rows']:5d} "
              f"{m['max_significant_bits']:5.1f} {m['coverage']['ties']:7d} {m['coverage']['clamped']:7d} "
              f"{m['coverage']['threshold_hits']:6d} {kb:6.0f} {m['seconds']:5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
