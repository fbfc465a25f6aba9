"""Rewrite a float ONNX model the way older exporters write the same layers.

Used by python/make_hls4ml_fixtures.py for its exporter-variant fixtures: the
model is built once in today's form (opset 13, PyTorch-style names) and then
rewritten as the exporter would have written it. The rewrites only change the
graph's form, never its arithmetic (the docstring of each names the
constructs, taken from hls4ml's example models, that it reproduces):

keras_onnxmltools  onnxmltools / keras2onnx (the tf2onnx family) for Keras:
                   IR version 3, weights and biases listed as graph inputs,
                   a fixed batch of 1, a BatchNormalization of a dense output
                   between two Transposes without `perm` (on a rank-2
                   tensor they only swap the batch axis), `spatial=1`,
                   Dropout as Identity, Flatten with axis 0.
pytorch_legacy     torch.onnx of PyTorch 0.3 / 0.4: IR version 3, default
                   opset 6 (or the one given), numbered tensors, unnamed
                   nodes, weights as graph inputs, Gemm with `broadcast=1`,
                   a BatchNormalization of a dense output between
                   Unsqueeze/Squeeze (`axes` attributes) with `is_test=1`,
                   `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze ->
                   Concat -> Reshape, Softmax with axis 1, a declared batch
                   of 64 (the example batch).
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def _ranks(model: onnx.ModelProto) -> dict:
    """Rank of every tensor of the (opset 13) model, from ONNX shape inference."""
    inferred = shape_inference.infer_shapes(model)
    g = inferred.graph
    ranks = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    for t in g.initializer:
        ranks[t.name] = len(t.dims)
    return ranks


def _weights_as_inputs(g: onnx.GraphProto):
    for t in g.initializer:
        g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))


def _batch(g: onnx.GraphProto, n: int, names=None):
    inits = {t.name for t in g.initializer}
    for vi in list(g.input) + list(g.output):
        if vi.name in inits or (names is not None and vi.name not in names):
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = n


def _finish(m: onnx.ModelProto, opset: int, producer: str, version: str) -> onnx.ModelProto:
    del m.opset_import[:]
    m.opset_import.append(helper.make_opsetid("", opset))
    m.ir_version = 3
    m.producer_name, m.producer_version = producer, version
    m.graph.ClearField("value_info")
    return m


def _attr(node, name, value):
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def keras_onnxmltools(model: onnx.ModelProto, opset: int = 7) -> onnx.ModelProto:
    """The model as onnxmltools 1.2-1.3 wrote a Keras model (see the module docstring)."""
    ranks = _ranks(model)
    m = copy.deepcopy(model)
    g = m.graph
    nodes = []
    k = 0
    for n in g.node:
        if n.op_type == "BatchNormalization" and ranks.get(n.input[0]) == 2:
            k += 1
            t_in, t_out = f"{n.input[0]}_transposed", f"{n.output[0]}_buffer"
            nodes.append(helper.make_node("Transpose", [n.input[0]], [t_in], name=f"Transpose{k}_in"))
            bn = copy.deepcopy(n)
            bn.input[0], bn.output[0] = t_in, t_out
            bn.name = f"BatchNormalization{k}__"
            if opset < 9:
                _attr(bn, "spatial", 1)
            _attr(bn, "momentum", 0.9)
            nodes.append(bn)
            nodes.append(helper.make_node("Transpose", [t_out], [n.output[0]], name=f"Transpose{k}_out"))
            continue
        n = copy.deepcopy(n)
        if n.op_type == "Flatten":
            _attr(n, "axis", 0)
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    _weights_as_inputs(g)
    _batch(g, 1)
    return _finish(m, opset, "OnnxMLTools", "1.3.0")


def pytorch_legacy(model: onnx.ModelProto, opset: int = 6) -> onnx.ModelProto:
    """The model as torch.onnx of PyTorch 0.3 / 0.4 wrote it (see the module docstring)."""
    ranks = _ranks(model)
    m = copy.deepcopy(model)
    g = m.graph
    names: dict = {}

    def num(name: str) -> str:
        if name not in names:
            names[name] = str(len(names))
        return names[name]

    for vi in g.input:
        num(vi.name)
    for t in g.initializer:
        num(t.name)
    counter = [0]

    def fresh() -> str:
        counter[0] += 1
        return f"t{counter[0]}"

    nodes = []
    for n in g.node:
        n = copy.deepcopy(n)
        if n.op_type == "Gemm" and opset < 7:
            _attr(n, "broadcast", 1)
        if n.op_type == "BatchNormalization" and ranks.get(n.input[0]) == 2:
            u, b = fresh(), fresh()
            nodes.append(helper.make_node("Unsqueeze", [n.input[0]], [u], axes=[2]))
            n.input[0] = u
            out = n.output[0]
            n.output[0] = b
            if opset < 7:
                _attr(n, "is_test", 1)
            _attr(n, "momentum", 1.0)
            nodes.append(n)
            nodes.append(helper.make_node("Squeeze", [b], [out], axes=[2]))
            continue
        if n.op_type == "Flatten":
            # x.view(x.size(0), -1)
            s, zero, n0, n1, minus, shape = (fresh() for _ in range(6))
            nodes += [
                helper.make_node("Shape", [n.input[0]], [s]),
                helper.make_node("Constant", [], [zero], value=numpy_helper.from_array(np.array(0, np.int64))),
                helper.make_node("Gather", [s, zero], [n0], axis=0),
                helper.make_node("Unsqueeze", [n0], [n1], axes=[0]),
                helper.make_node("Constant", [], [minus], value=numpy_helper.from_array(np.array([-1], np.int64))),
                helper.make_node("Concat", [n1, minus], [shape], axis=0),
                helper.make_node("Reshape", [n.input[0], shape], [n.output[0]]),
            ]
            continue
        if n.op_type == "Softmax":
            _attr(n, "axis", 1)
        nodes.append(n)
    for n in nodes:
        n.name = ""
    # number the tensors in graph order, as the tracer did
    for n in nodes:
        n.input[:] = [num(i) for i in n.input]
        n.output[:] = [num(o) for o in n.output]
    for vi in list(g.input) + list(g.output):
        vi.name = num(vi.name)
    for t in g.initializer:
        t.name = num(t.name)
    del g.node[:]
    g.node.extend(nodes)
    _weights_as_inputs(g)
    _batch(g, 64)
    return _finish(m, opset, "pytorch", "0.3")


def check_runs(model: onnx.ModelProto, exported: onnx.ModelProto, x: np.ndarray) -> float | None:
    """Largest difference between the two models' float outputs on x, row by row
    (onnxruntime; None when it refuses the exported form)."""
    import onnxruntime as ort

    exported = copy.deepcopy(exported)
    _batch(exported.graph, 1)

    def run(m, batch):
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        feeds = {name: batch}
        return s.run(None, feeds)[0]

    try:
        a = np.concatenate([run(model, row[None]) for row in x])
        b = np.concatenate([run(exported, row[None]) for row in x])
    except Exception:  # onnxruntime refuses the old form (e.g. BatchNormalization on [C, 1])
        return None
    return float(np.max(np.abs(a.reshape(len(x), -1) - b.reshape(len(x), -1))))


def style(fn, opset: int):
    """fn at `opset`, named for the fixture's JSON."""

    def rewrite(m: onnx.ModelProto) -> onnx.ModelProto:
        return fn(m, opset=opset)

    rewrite.__doc__ = f"{fn.__name__}(opset={opset}): {fn.__doc__}"
    return rewrite


__all__ = ["keras_onnxmltools", "pytorch_legacy", "check_runs", "style"]
