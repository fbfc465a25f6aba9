#!/usr/bin/env python3
"""Generate the hls4ml C-simulation fixtures of the toolflow's float front door.

Each fixture is a float ONNX model we build (as an exporter writes it: our
node names, Gemm with its bias, NCHW convolutions, ...), run through hls4ml
1.3 the documented way (python/hls4ml_peer.py: qonnx preprocessing,
config_from_onnx_model, convert_from_onnx_model io_parallel Vivado,
compile(), predict()) with two configurations, both exactly as hls4ml wrote
them and was given them:

  model   config_from_onnx_model(granularity='model', default_precision=D),
          plus the fixture's Model keys (if any)
  name    config_from_onnx_model(granularity='name', default_precision=D,
          max_precision=M) with the fixture's per-layer overrides (by the
          names hls4ml gives the layers: MatMul_0, Add_0, Relu_0, ...)

Written into toolflow/tests/hls4ml/:

  NAME.onnx         the model as we built it (what a user uploads; hls4ml read
                    it after qonnx's preprocessing, which renames the layers)
  NAME.model.yaml   the granularity-model configuration given to hls4ml
  NAME.name.yaml    the granularity-name configuration given to hls4ml
  NAME.parquet      columns x (2,000 inputs exercising the input type: ties,
                    grid values, out of range, bounds), y_model and y_name
                    (hls4ml's C simulation, flattened in ONNX order)
  NAME.json         versions, description, what the fixture covers, hls4ml's
                    resolved layers and types per configuration, output LSBs

Deterministic (numpy PCG64 seeded from the CRC32 of the name). Needs g++.
Usage: .venv/bin/python python/make_hls4ml_fixtures.py [--only NAME ...] [--rows N] [--out DIR] [--list]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import exporter_styles as styles  # noqa: E402
import hls4ml_peer as peer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "toolflow" / "tests" / "hls4ml"


class Net:
    """A float ONNX graph built layer by layer (names as an exporter gives them)."""

    def __init__(self, rng: np.random.Generator, in_shape: list[int], opset: int = 13, in_name: str = "x"):
        self.rng, self.opset = rng, opset
        self.in_name = in_name
        self.in_shape = [1] + list(in_shape)
        self.cur = in_name
        self.shape = list(self.in_shape)
        self.nodes, self.inits = [], []
        self.n = 0
        self.domains: dict = {}
        self.value_info: list = []

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def init(self, arr, base="w") -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def node(self, op, inputs, name=None, out=None, **attrs) -> str:
        out = out or self.fresh(f"{op.lower()}_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=name if name is not None else self.fresh(op.lower()), **attrs))
        return out

    def w(self, shape, fan_in, scale=1.0):
        return self.rng.normal(0.0, scale / np.sqrt(fan_in), shape).astype(np.float32)

    # layers on self.cur
    def gemm(self, n_out, trans_b=False, bias=True, name=None, bias_scale=0.5):
        n_in = self.shape[-1]
        w = self.w((n_in, n_out), n_in)
        ins = [self.cur, self.init(w.T.copy() if trans_b else w)]
        if bias:
            ins.append(self.init(self.rng.normal(0, bias_scale, n_out)))
        self.cur = self.node("Gemm", ins, name=name, **({"transB": 1} if trans_b else {}))
        self.shape = [1, n_out]
        return self.cur

    def matmul_add(self, n_out, names=(None, None), bias_scale=0.5):
        n_in = self.shape[-1]
        mm = self.node("MatMul", [self.cur, self.init(self.w((n_in, n_out), n_in))], name=names[0])
        self.cur = self.node("Add", [mm, self.init(self.rng.normal(0, bias_scale, n_out))], name=names[1])
        self.shape = [1, n_out]
        return self.cur

    def conv(self, n_filt, k, stride=1, pads=None, group=1, bias=True, name=None, bias_scale=0.3):
        nd = len(self.shape) - 2
        k = [k] * nd if isinstance(k, int) else list(k)
        stride = [stride] * nd if isinstance(stride, int) else list(stride)
        pads = [0] * (2 * nd) if pads is None else list(pads)
        c = self.shape[1]
        w = self.w([n_filt, c // group] + k, c // group * int(np.prod(k)))
        ins = [self.cur, self.init(w)]
        if bias:
            ins.append(self.init(self.rng.normal(0, bias_scale, n_filt)))
        self.cur = self.node("Conv", ins, name=name, kernel_shape=k, strides=stride, pads=pads,
                             dilations=[1] * nd, group=group)
        self.shape = [1, n_filt] + [(self.shape[2 + a] + pads[a] + pads[a + nd] - k[a]) // stride[a] + 1
                                    for a in range(nd)]
        return self.cur

    def bn(self, eps=1e-3, name=None):
        c, r = self.shape[1], self.rng
        params = [r.uniform(0.5, 1.5, c), r.normal(0, 0.3, c), r.normal(0, 0.3, c), r.uniform(0.3, 1.5, c)]
        self.cur = self.node("BatchNormalization", [self.cur] + [self.init(p, "bn") for p in params], name=name,
                             epsilon=eps)
        return self.cur

    def act(self, op, name=None, **attrs):
        self.cur = self.node(op, [self.cur], name=name, **attrs)
        return self.cur

    def maxpool(self, k=2, name=None):
        nd = len(self.shape) - 2
        self.cur = self.node("MaxPool", [self.cur], name=name, kernel_shape=[k] * nd, strides=[k] * nd,
                             pads=[0] * (2 * nd))
        self.shape = self.shape[:2] + [d // k for d in self.shape[2:]]
        return self.cur

    def flatten(self, name=None):
        self.cur = self.node("Flatten", [self.cur], name=name, axis=1)
        self.shape = [1, int(np.prod(self.shape[1:]))]
        return self.cur

    def model(self, outputs=None) -> onnx.ModelProto:
        outputs = outputs or [(self.cur, self.shape)]
        renamed = {}
        for i, (o, _) in enumerate(outputs):
            new = "y" if len(outputs) == 1 else f"y{i}"
            renamed[o] = new
        for n in self.nodes:
            n.output[:] = [renamed.get(o, o) for o in n.output]
            n.input[:] = [renamed.get(i, i) for i in n.input]
        g = helper.make_graph(
            self.nodes, "fixture",
            [helper.make_tensor_value_info(self.in_name, TensorProto.FLOAT, ["N"] + self.in_shape[1:])],
            [helper.make_tensor_value_info(renamed[o], TensorProto.FLOAT, ["N"] + s[1:]) for o, s in outputs],
            self.inits, value_info=[v for v in self.value_info if v.name not in renamed])
        opsets = [helper.make_opsetid("", self.opset)] + [helper.make_opsetid(d, v) for d, v in self.domains.items()]
        m = helper.make_model(g, opset_imports=opsets, producer_name="make_hls4ml_fixtures")
        m.ir_version = 8
        if not self.domains:
            onnx.checker.check_model(m)
        return m


QD, CL = "qonnx.custom_op.general", "qonnx.custom_op.channels_last"


def quant(n: Net, x: str, scale: float, bits: int, signed=1, narrow=0, mode="ROUND") -> str:
    ins = [x, n.init(np.float32(scale), "s"), n.init(np.float32(0), "z"), n.init(np.float32(bits), "b")]
    out = n.fresh("quant_out")
    n.nodes.append(helper.make_node("Quant", ins, [out], name=n.fresh("quant"), domain=QD, signed=signed,
                                    narrow=narrow, rounding_mode=mode))
    return out


def cl_conv(n: Net, x: str, c_in: int, c_out: int, k: int, group=1, pads=1, wbits=4, wscale=2**-3) -> str:
    """A channels-last QONNX Conv (weights [M, k, k, C/g] behind a Quant, bias 8-bit)."""
    w = quant(n, n.init(n.rng.normal(0, 0.5, (c_out, k, k, c_in // group))), wscale, wbits, narrow=1)
    b = quant(n, n.init(n.rng.normal(0, 0.25, c_out)), 2**-5, 8)
    n.value_info.append(helper.make_tensor_value_info(w, TensorProto.FLOAT, [c_out, k, k, c_in // group]))
    n.value_info.append(helper.make_tensor_value_info(b, TensorProto.FLOAT, [c_out]))
    out = n.fresh("conv_out")
    n.nodes.append(helper.make_node("Conv", [x, w, b], [out], name=n.fresh("conv"), domain=CL, group=group,
                                    kernel_shape=[k, k], pads=[pads] * 4, strides=[1, 1], dilations=[1, 1]))
    return out


def mini_unet(n: Net):
    """QONNX channels-last, as Brevitas + qonnx export U-Nets (the example models
    tiny_unet_ch_last and branched_model_ch_last, at 4 x 4 x 3). Every tensor's
    shape is declared (qonnx's shape inference of channels-last ops needs it)."""
    def vi(t, shape):
        n.value_info.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, shape))
        return t

    x = vi(quant(n, n.in_name, 2**-4, 8), [1, 4, 4, 3])
    a = vi(quant(n, vi(cl_conv(n, x, 3, 4, 3), [1, 4, 4, 4]), 2**-3, 6), [1, 4, 4, 4])
    a = vi(quant(n, vi(n.node("LeakyRelu", [a], alpha=0.1015625), [1, 4, 4, 4]), 2**-3, 6), [1, 4, 4, 4])
    skip = a
    p = vi(n.fresh("pool_out"), [1, 2, 2, 4])
    n.nodes.append(helper.make_node("MaxPool", [a], [p], name=n.fresh("pool"), domain=CL, kernel_shape=[2, 2],
                                    strides=[2, 2], pads=[0, 0, 0, 0]))
    q = vi(quant(n, p, 2**-3, 6), [1, 2, 2, 4])
    d = vi(quant(n, vi(cl_conv(n, q, 4, 4, 3, group=4), [1, 2, 2, 4]), 2**-3, 6), [1, 2, 2, 4])
    d = vi(quant(n, vi(cl_conv(n, d, 4, 4, 1, pads=0), [1, 2, 2, 4]), 2**-3, 6), [1, 2, 2, 4])
    d = vi(quant(n, vi(n.node("LeakyRelu", [d], alpha=0.1015625), [1, 2, 2, 4]), 2**-3, 6), [1, 2, 2, 4])
    roi = n.init(np.zeros(0), "roi")
    scales = n.init(np.array([1, 2, 2, 1]), "scales")
    r = vi(n.node("Resize", [d, roi, scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                  nearest_mode="floor"), [1, 4, 4, 4])
    u = vi(quant(n, r, 2**-3, 6), [1, 4, 4, 4])
    c = vi(quant(n, vi(n.node("Concat", [u, skip], axis=-1), [1, 4, 4, 8]), 2**-3, 6), [1, 4, 4, 8])
    n.cur = cl_conv(n, c, 8, 2, 1, pads=0)
    n.shape = [1, 4, 4, 2]


@dataclass
class Fixture:
    name: str
    description: str
    covers: list[str]
    in_shape: list[int]
    build: Callable[[Net], object]
    default: str = "fixed<16,6>"
    maximum: str | None = None
    model_overrides: dict = field(default_factory=dict)
    name_overrides: dict = field(default_factory=dict)
    in_name: str = "x"
    # QONNX: also record qonnx's own execution (column y_qonnx, our no-configuration semantics).
    qonnx: bool = False
    opsets: dict = field(default_factory=dict)
    # An exporter's form of the model (python/exporter_styles.py): NAME.onnx is
    # this form. hls4ml reads it too when hls4ml_on_export; otherwise (hls4ml
    # 1.3 cannot read that form) hls4ml reads the model as built, the same
    # arithmetic in today's form, and its error on the exporter's form is
    # recorded.
    export: Callable[[onnx.ModelProto], onnx.ModelProto] | None = None
    hls4ml_on_export: bool = False


def P(**kw) -> dict:
    return {"Precision": kw}


def L(**layers) -> dict:
    return {"LayerName": layers}


def jet(n: Net):
    for k in (64, 32, 32):
        n.gemm(k)
        n.act("Relu")
    n.gemm(5)
    n.act("Softmax", axis=-1)


FIXTURES = [
    Fixture("jet_mlp", "Jet tagger 16-64-32-32-5: Gemm+Relu, softmax (stable); model: everything fixed<16,6> "
            "(Dense accumulators too, the bias a separate ApplyAlpha); name: 'auto' accumulators and results "
            "(the bias Add fused into the Dense, types inferred).",
            ["Gemm split into MatMul + Add", "ApplyAlpha", "Dense", "Relu", "Softmax stable", "inferred types"],
            [16], jet),
    Fixture("mlp_rnd_sat_transb", "Gemm MLP 10-16-8-4 (transB, PyTorch layout), fixed<8,3,RND,SAT> default; name: narrow "
            "saturating / zeroing accumulators with RND products.",
            ["Gemm transB", "RND", "SAT", "SAT_ZERO", "per-product accumulator"], [10],
            lambda n: (n.gemm(16, trans_b=True, name="fc1"), n.act("Relu", name="r1"), n.gemm(8, trans_b=True, name="fc2"),
                       n.act("Relu", name="r2"), n.gemm(4, trans_b=True, name="fc3")),
            default="fixed<8,3,RND,SAT>",
            name_overrides=L(
                global_in=P(result="fixed<8,3,RND,SAT>"),
                MatMul_0=P(weight="fixed<8,3,RND,SAT>", accum="fixed<10,3,RND,SAT>"),
                Relu_0=P(result="ufixed<8,3,RND,SAT>"),
                MatMul_1=P(weight="fixed<8,3,RND,SAT>", accum="fixed<10,3,RND,SAT_ZERO>"),
                MatMul_2=P(weight="fixed<8,3,RND,SAT>", accum="fixed<14,6,RND,SAT>"))),
    Fixture("mlp_matmul_add_modes", "MatMul + Add MLP 12-16-6 with explicit results: the Add stays an ApplyAlpha; every "
            "rounding mode and SAT/SAT_ZERO/WRAP.",
            ["MatMul", "Add", "ApplyAlpha", "RND_CONV", "RND_ZERO", "RND_INF", "RND_MIN_INF", "TRN_ZERO"], [12],
            lambda n: (n.matmul_add(16, ("mm1", "add1")), n.act("Relu", name="relu1"), n.matmul_add(6, ("mm2", "add2"))),
            name_overrides=L(
                global_in=P(result="fixed<12,4,RND_CONV,SAT>"),
                MatMul_0=P(weight="fixed<6,1,RND_CONV,SAT>", accum="fixed<12,4,RND_ZERO,SAT>", result="fixed<12,4,RND,SAT>"),
                Add_0=P(bias="fixed<8,2,RND_INF,WRAP>", result="fixed<10,3,RND_MIN_INF,SAT_ZERO>"),
                Relu_0=P(result="ufixed<8,3,TRN_ZERO,SAT>"),
                MatMul_1=P(weight="fixed<8,2,RND_ZERO,WRAP>", accum="fixed<16,6,TRN_ZERO,WRAP>", result="fixed<16,6,RND_INF,SAT>"),
                Add_1=P(bias="fixed<8,2,TRN,WRAP>", result="fixed<12,4,RND,SAT>"))),
    Fixture("dense_bn", "Gemm -> BatchNormalization -> Relu -> Gemm -> BatchNormalization: name: results 'auto', so "
            "hls4ml merges the bias Add into the BN and the BN into the Dense; the second BN stays (explicit result "
            "of its Dense).",
            ["BatchNormalization fused", "FuseConsecutiveBatchNormalization", "BatchNormalization separate"], [12],
            lambda n: (n.gemm(10, name="fc1"), n.bn(name="bn1"), n.act("Relu", name="relu1"), n.gemm(4, name="fc2"),
                       n.bn(name="bn2")),
            name_overrides=L(MatMul_1=P(result="fixed<12,5,RND,SAT>"),
                             BatchNormalization_1=P(scale="fixed<10,3,RND>", bias="fixed<10,4,RND>",
                                                    result="fixed<14,6,RND_ZERO,SAT_SYM>"))),
    Fixture("conv1d_bn", "Conv1D on [1,4,16] (NCHW, qonnx makes it channels-last): Conv+BN (fused at name "
            "granularity) -> Relu -> Conv(stride 2) -> Flatten -> Gemm. (hls4ml's ONNX front end takes no 1D MaxPool: "
            "its Pooling1D misses pad_left.)",
            ["Conv1D", "BatchNormalization fused into Conv", "Flatten", "channels-last conversion"], [4, 16],
            lambda n: (n.conv(8, 3, pads=[1, 1]), n.bn(), n.act("Relu"), n.conv(6, 3, stride=2, pads=[0, 1]),
                       n.act("Relu"), n.flatten(), n.gemm(5)),
            default="fixed<14,5>", maximum="fixed<24,10>",
            name_overrides=L(global_in=P(result="fixed<12,4,RND,SAT>"))),
    Fixture("conv2d_depthwise_pool", "Conv2D on [1,3,6,6]: Conv(4,3x3,pad 1) -> Relu -> MaxPool 2x2 -> depthwise "
            "Conv(3x3, pad 1) -> Relu -> pointwise Conv(1x1) -> Flatten -> Gemm.",
            ["Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "MaxPool", "Relu"], [3, 6, 6],
            lambda n: (n.conv(4, 3, pads=[1, 1, 1, 1]), n.act("Relu"), n.maxpool(2), n.conv(4, 3, group=4, pads=[1, 1, 1, 1]),
                       n.act("Relu"), n.conv(2, 1), n.flatten(), n.gemm(4)),
            maximum="fixed<24,10>", name_overrides=L(Relu_0=P(result="ufixed<10,4,RND,SAT>"))),
    Fixture("activation_tables", "Gemm -> Sigmoid -> Gemm -> Tanh -> Gemm -> Softplus -> Gemm -> Softsign: hls4ml's tables "
            "(fixed<18,8>, 1024 entries; name: some table_t / TableSize overrides).",
            ["Sigmoid", "Tanh", "Softplus", "Softsign", "table_t", "TableSize"], [8],
            lambda n: (n.gemm(8), n.act("Sigmoid"), n.gemm(8), n.act("Tanh"), n.gemm(8), n.act("Softplus"), n.gemm(6),
                       n.act("Softsign")),
            name_overrides=L(Sigmoid_0={"table_t": "fixed<12,2,RND,SAT>", "TableSize": 256},
                             Tanh_0={"TableSize": 2048}, Softplus_0={"table_t": "ufixed<16,6>"},
                             Softsign_0=P(result="fixed<10,2,RND,SAT>"))),
    Fixture("activation_parametrized", "Gemm -> Elu(0.7) -> Gemm -> Selu -> Gemm -> LeakyRelu(0.1) -> Gemm -> "
            "ThresholdedRelu(0.25): param_t from the configuration (model) or inferred (name).",
            ["ELU", "SELU", "LeakyReLU", "ThresholdedReLU", "param_t"], [8],
            lambda n: (n.gemm(8), n.act("Elu", alpha=0.7), n.gemm(8), n.act("Selu"), n.gemm(8), n.act("LeakyRelu", alpha=0.1),
                       n.gemm(6), n.act("ThresholdedRelu", alpha=0.25)),
            name_overrides=L(Elu_0=P(param="fixed<8,2,RND>"), Selu_0={"table_t": "fixed<16,4>"})),
    Fixture("softmax_latency", "Gemm 10->8 -> Softmax, Implementation latency (exp table indexed by the input's top "
            "bits); name: exp_table_t / inv_table_t and table sizes.",
            ["Softmax latency", "exp_table_t", "inv_table_t", "inv_inp_t", "exp_table_size"], [10],
            lambda n: (n.gemm(8), n.act("Softmax", axis=-1)),
            default="fixed<12,4>",
            model_overrides={"LayerType": {"Softmax": {"Implementation": "latency"}}},
            name_overrides=L(Softmax_0={"Implementation": "latency", "exp_table_t": "ufixed<16,6,RND,SAT>",
                                        "inv_table_t": "ufixed<16,2,RND,SAT>", "TableSize": 512,
                                        "Precision": {"accum": "ufixed<16,6,RND,SAT>"}})),
    Fixture("softmax_argmax_stable", "Gemm 6->4 -> Softmax argmax (name) / stable with a narrow input (model: "
            "the table size cut to the input bits).",
            ["Softmax argmax", "Softmax stable", "FixSoftmaxTableSize"], [6],
            lambda n: (n.gemm(4), n.act("Softmax", axis=-1)),
            default="fixed<8,3>",
            name_overrides=L(Softmax_0={"Implementation": "argmax"})),
    Fixture("sat_sym_input", "Gemm 8->6 -> Relu -> Gemm 6->3 with the input in fixed<8,3,RND,SAT_SYM>: inputs that "
            "round to -4 become -4 + 2^-5 (ap_fixed never produces -2^(W-1) under AP_SAT_SYM).",
            ["SAT_SYM", "input type"], [8],
            lambda n: (n.gemm(6), n.act("Relu"), n.gemm(3)),
            maximum="fixed<24,10>",
            name_overrides=L(global_in=P(result="fixed<8,3,RND,SAT_SYM>"), MatMul_0=P(weight="fixed<10,3,RND>"),
                             Relu_0=P(result="ufixed<16,6,RND,SAT>"))),
    Fixture("conv1d_sat_accum", "Conv1D on [1,6,8] with a narrow saturating accumulator fixed<10,3,RND,SAT>: partial "
            "sums of the 18-term windows saturate, so the result depends on hls4ml's channels-last summation order.",
            ["Conv1D", "saturating accumulator", "accumulation order"], [6, 8],
            lambda n: (n.conv(4, 3, pads=[1, 1]),),
            name_overrides=L(global_in=P(result="fixed<10,4,RND,SAT>"),
                             Conv_0=P(weight="fixed<8,2,RND>", bias="fixed<8,2,RND>", accum="fixed<10,3,RND,SAT>",
                                      result="fixed<10,3,RND,SAT>"))),
    Fixture("qonnx_unet_channels_last", "QONNX channels-last U-Net on [1,4,4,3] (Brevitas + qonnx style, like the "
            "example models tiny_unet_ch_last / branched_model_ch_last): channels-last Conv (3x3, depthwise, 1x1), "
            "MaxPool, Resize nearest x2, Concat of computed tensors on the channel axis, LeakyRelu, Quant after every "
            "layer. Also qonnx's own execution (y_qonnx): the toolflow without a configuration.",
            ["qonnx.custom_op.channels_last Conv/MaxPool", "Resize nearest", "Concat of computed tensors", "QONNX Quant",
             "MergeLinearActivation"], [4, 4, 3], mini_unet, qonnx=True, in_name="global_in",
            opsets={"onnx.brevitas": 1}),
    Fixture("merge_concat", "Two Gemm branches from the input (Relu, Sigmoid), Add of the two (Merge), Concat of the "
            "sum and one branch (Concatenate), Gemm.",
            ["Merge add of computed tensors", "Concatenate of computed tensors"], [8],
            lambda n: merge_concat(n),
            maximum="fixed<24,10>"),
    Fixture("conv_flatten_sat_dense", "Conv2D on [1,3,4,4] -> Relu -> Flatten -> Gemm with a narrow saturating "
            "accumulator: qonnx's AbsorbChanFirstIntoMatMul makes hls4ml's Dense read the channels-last flattening, "
            "so its partial sums saturate in that order.",
            ["AbsorbChanFirstIntoMatMul", "saturating dense accumulator", "accumulation order"], [3, 4, 4],
            lambda n: (n.conv(4, 3, pads=[1, 1, 1, 1]), n.act("Relu"), n.flatten(), n.gemm(5)),
            name_overrides=L(global_in=P(result="fixed<10,4,RND,SAT>"),
                             Relu_0=P(result="ufixed<8,3,RND,SAT>"),
                             MatMul_0=P(weight="fixed<8,2,RND>", accum="fixed<9,3,RND,SAT>",
                                        result="fixed<9,3,RND,SAT>"))),
    # Exporter variants of the same layers (python/exporter_styles.py).
    Fixture("keras_bn_mlp_onnxmltools", "Keras Dense -> BatchNormalization -> ReLU (x3) -> softmax as onnxmltools "
            "writes it (opset 7, IR 3): weights as graph inputs, each BatchNormalization between two Transposes "
            "without perm, batch 1. hls4ml 1.3 cannot read that form (config_from_onnx_model: IndexError on the "
            "Transpose), so hls4ml ran on the same layers in today's form.",
            ["weights as graph inputs", "batch-axis Transpose", "BatchNormalization spatial=1", "opset 7"], [16],
            lambda n: (n.gemm(24), n.bn(), n.act("Relu"), n.gemm(12), n.bn(), n.act("Relu"), n.gemm(5), n.bn(),
                       n.act("Softmax", axis=-1)),
            maximum="fixed<24,10>",
            name_overrides=L(BatchNormalization_1=P(result="fixed<12,4,RND,SAT>"),
                             MatMul_1=P(result="fixed<14,6,RND,SAT>")),
            export=styles.style(styles.keras_onnxmltools, 7)),
    Fixture("keras_conv2d_onnxmltools", "Keras Conv2D model on NHWC [6,6,2] as onnxmltools writes it (opset 9, IR 3): "
            "Transpose to NCHW, Conv, Relu, Conv, Relu, Transpose back, Dropout as Identity, Flatten axis 0, "
            "MatMul + Add Dense layers, softmax; weights as graph inputs. hls4ml read this form itself.",
            ["weights as graph inputs", "NHWC Transposes", "Flatten axis 0", "MatMul + Add", "Identity"], [6, 6, 2],
            lambda n: keras_conv2d(n), maximum="fixed<24,10>",
            export=styles.style(styles.keras_onnxmltools, 9), hls4ml_on_export=True),
    Fixture("pytorch_bn_mlp_opset6", "PyTorch Linear -> BatchNorm1d -> ReLU (x2) -> Linear -> softmax as torch.onnx "
            "0.3 writes it (opset 6, IR 3): Gemm transB broadcast=1, Unsqueeze/BatchNormalization(is_test)/Squeeze, "
            "numbered tensors, unnamed nodes, weights as graph inputs, batch 64. hls4ml 1.3 cannot read that form "
            "(Unsupported operation type: Unsqueeze), so hls4ml ran on the same layers in today's form.",
            ["opset 6", "Gemm broadcast", "Unsqueeze/Squeeze axes attribute", "BatchNormalization is_test",
             "unnamed nodes"], [10],
            lambda n: (n.gemm(16, trans_b=True), n.bn(eps=1e-5), n.act("Relu"), n.gemm(8, trans_b=True), n.bn(eps=1e-5),
                       n.act("Relu"), n.gemm(4, trans_b=True), n.act("Softmax", axis=1)),
            default="fixed<14,5>",
            name_overrides=L(BatchNormalization_0=P(result="fixed<14,5,RND,SAT>"), Softmax_0={"Implementation": "latency"}),
            export=styles.style(styles.pytorch_legacy, 6)),
    Fixture("pytorch_conv1d_opset9", "PyTorch Conv1d -> BatchNorm1d -> ReLU -> Conv1d(stride 2) -> ReLU -> "
            "x.view(x.size(0), -1) -> Linear -> sigmoid as torch.onnx 0.4 writes it (opset 9): the view as "
            "Shape/Gather/Unsqueeze/Concat/Reshape, numbered tensors, weights as graph inputs. hls4ml read this "
            "form itself (qonnx's cleanup folds the view's shape into a constant).",
            ["opset 9", "view as Shape/Gather/Concat/Reshape", "Conv1D", "BatchNormalization fused into Conv"], [3, 12],
            lambda n: (n.conv(6, 3, pads=[1, 1]), n.bn(eps=1e-5), n.act("Relu"), n.conv(4, 3, stride=2, pads=[1, 1]),
                       n.act("Relu"), n.flatten(), n.gemm(5, trans_b=True), n.act("Sigmoid")),
            maximum="fixed<24,10>",
            export=styles.style(styles.pytorch_legacy, 9), hls4ml_on_export=True),
]


def keras_conv2d(n: Net):
    """NHWC input, as a Keras model: Transposes around the convolutions."""
    h, w, c = n.shape[1:]
    n.cur = n.node("Transpose", [n.cur], name="Transpose", perm=[0, 3, 1, 2])
    n.shape = [1, c, h, w]
    n.conv(4, 3, pads=[1, 1, 1, 1], name="Conv2D__")
    n.act("Relu", name="Relu")
    n.conv(3, 3, name="Conv2D__1")
    n.act("Relu", name="Relu1")
    n.cur = n.node("Transpose", [n.cur], name="Transpose1", perm=[0, 2, 3, 1])
    n.shape = [1] + n.shape[2:] + [n.shape[1]]
    n.cur = n.node("Identity", [n.cur], name="Identity")
    n.flatten(name="flatten")
    n.matmul_add(12, ("", ""))
    n.act("Relu", name="Relu2")
    n.matmul_add(4, ("", ""))
    n.act("Softmax", name="Softmax", axis=1)


def merge_concat(n: Net):
    # Each branch ends in an activation: hls4ml 1.3 cannot convert an Add of two
    # bias-adds (its ScaleDownAdd pass fails making the ApplyAlpha it moves).
    x = n.cur
    n.gemm(6, name="left")
    a = n.act("Relu", name="left_relu")
    n.cur, n.shape = x, [1, 8]
    n.gemm(6, name="right")
    b = n.act("Sigmoid", name="right_sigmoid")
    s = n.node("Add", [a, b], name="sum")
    c = n.node("Concat", [s, a], name="cat", axis=1)
    n.cur, n.shape = c, [1, 12]
    n.gemm(4, name="head")


def qonnx_exec(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """qonnx's execution of the QONNX model, row by row (batch 1)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    mw = peer.quiet(lambda: ModelWrapper(peer.batch_one(model)).transform(InferShapes()))
    iname, oname = mw.graph.input[0].name, mw.graph.output[0].name
    ys = [execute_onnx(mw, {iname: row[None]})[oname].reshape(-1) for row in x]
    y = np.asarray(ys, dtype=np.float32)
    return np.where(y == 0, np.float32(0), y)


def exporter_form(fx: Fixture, model: onnx.ModelProto, stored: onnx.ModelProto, x: np.ndarray) -> dict:
    """What NAME.onnx is, onnxruntime's float agreement of the two forms, and
    hls4ml's own error on the exporter's form when it cannot read it."""
    info = {"form": " ".join((fx.export.__doc__ or str(fx.export)).split()),
            "hls4ml_read": "the exporter's form" if fx.hls4ml_on_export else "the model as built (opset 13)",
            "onnxruntime_max_float_difference": styles.check_runs(model, stored, x)}
    if not fx.hls4ml_on_export:
        try:
            mw = peer.preprocess(stored)
            cfg = peer.make_config(mw, "name", fx.default)
            work = Path(tempfile.mkdtemp(prefix="hls4ml_export_"))
            peer.convert(mw, cfg, work)
            shutil.rmtree(work, ignore_errors=True)
            info["hls4ml_error"] = None
        except Exception as e:
            info["hls4ml_error"] = f"{type(e).__name__}: {e}"
    return info


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def input_type(cfg: dict, default: str) -> str:
    t = cfg.get("LayerName", {}).get("global_in", {}).get("Precision", {}).get("result", "auto")
    return default if t == "auto" else t


def generate(fx: Fixture, rows: int, out: Path, work: Path, versions: dict) -> dict:
    t0 = time.time()
    rng = np.random.default_rng(seed_of(fx.name))
    net = Net(rng, fx.in_shape, in_name=fx.in_name)
    net.domains = fx.opsets
    fx.build(net)
    model = net.model()
    stored = fx.export(model) if fx.export else model
    mw = peer.preprocess(stored if fx.hls4ml_on_export else model)
    cfgs = {
        "model": peer.make_config(mw, "model", fx.default, None, fx.model_overrides),
        "name": peer.make_config(mw, "name", fx.default, fx.maximum, fx.name_overrides),
    }
    x = peer.make_inputs(rng, rows, fx.in_shape, input_type(cfgs["name"], fx.default))
    cols = {"x": x}
    meta = {"name": fx.name, "description": fx.description, "covers": fx.covers, "versions": versions,
            "route": "qonnx cleanup_model, ConvertToChannelsLastAndClean, GemmToMatMul, cleanup_model -> "
                     "config_from_onnx_model -> convert_from_onnx_model(io_parallel, Vivado) -> compile() -> predict()",
            "rows": rows, "input_shape": [1] + fx.in_shape}
    if fx.qonnx:
        cols["y_qonnx"] = qonnx_exec(model, x)
    if fx.export:
        meta["exporter_form"] = exporter_form(fx, model, stored, x[:64])
    for g, cfg in cfgs.items():
        try:
            hm = peer.convert(mw, cfg, work / f"{fx.name}_{g}")
            cols[f"y_{g}"] = peer.csim(hm, x)
        except Exception as e:  # hls4ml cannot convert or compile it: record why
            meta[g] = {"hls4ml_error": f"{type(e).__name__}: {e}", "build_log": peer.build_errors(work / f"{fx.name}_{g}")}
            print(f"  {fx.name} [{g}]: hls4ml fails: {e}", flush=True)
            continue
        meta[g] = {"lsb": peer.output_lsb(hm), "layers": peer.layer_types(hm)}
        header = (f"# Generated by python/make_hls4ml_fixtures.py: hls4ml {versions['hls4ml']}'s "
                  f"config_from_onnx_model(granularity='{g}') with the fixture's overrides, as given to hls4ml.\n")
        (out / f"{fx.name}.{g}.yaml").write_text(peer.yaml_text(cfg, header))
    onnx.save(stored, out / f"{fx.name}.onnx")
    peer.write_parquet(out / f"{fx.name}.parquet", cols)
    (out / f"{fx.name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return {"seconds": round(time.time() - t0, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--keep", action="store_true")
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
    versions = peer.tool_versions()
    work = Path(tempfile.mkdtemp(prefix="hls4ml_fixtures_"))
    try:
        for fx in chosen:
            info = generate(fx, args.rows, args.out, work, versions)
            kb = sum((args.out / f"{fx.name}{e}").stat().st_size
                     for e in (".onnx", ".model.yaml", ".name.yaml", ".parquet", ".json")
                     if (args.out / f"{fx.name}{e}").exists()) / 1024
            print(f"{fx.name}: {info['seconds']} s, {kb:.0f} KiB", flush=True)
    finally:
        if args.keep:
            print(f"hls4ml projects kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
