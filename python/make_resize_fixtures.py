#!/usr/bin/env python3
"""Resize / Upsample (nearest) cases with onnxruntime's outputs.

hls4ml's own Resize (resize_nearest) covers only integer scales of a square
image (and swaps height and width otherwise), so the toolflow follows the
ONNX definition: every coordinate_transformation_mode / nearest_mode pair
the nearest mode uses, scales or sizes, Upsample of opsets 7 and 9, Resize
of opset 10, on 3-D and 4-D inputs with non-square and fractional scales.
This script writes one small model per case and onnxruntime's output on one
input whose values are exact in fixed<16,6> (k/64), so a float model with the
default precision must reproduce it exactly:

  toolflow/tests/fixtures/resize/CASE.onnx
  toolflow/tests/fixtures/resize/cases.json   [{name, x, y, in_shape, out_shape}]

Usage: .venv/bin/python python/make_resize_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "toolflow" / "tests" / "fixtures" / "resize"

MODES = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def model(op: str, opset: int, in_shape, attrs: dict, scales=None, sizes=None) -> onnx.ModelProto:
    inits, ins = [], ["x"]
    if op == "Upsample" and opset < 9:
        attrs = dict(attrs, scales=[float(s) for s in scales])
    elif op == "Upsample" or opset == 10:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        ins.append("scales")
    else:
        inits.append(numpy_helper.from_array(np.array([], np.float32), "roi"))
        ins.append("roi")
        if sizes is None:
            inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
            ins.append("scales")
        else:
            inits.append(numpy_helper.from_array(np.array([], np.float32), "scales"))
            inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
            ins += ["scales", "sizes"]
    node = helper.make_node(op, ins, ["y"], name="resize", mode="nearest", **attrs)
    g = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_resize_fixtures")
    m.ir_version = 7
    return m


def cases():
    for ctm in MODES:
        for nm in NEAREST:
            yield (f"r13_{ctm}_{nm}", "Resize", 13, [1, 2, 3, 5],
                   {"coordinate_transformation_mode": ctm, "nearest_mode": nm}, [1, 1, 2.5, 1.6], None)
    yield ("r13_sizes_half_pixel", "Resize", 13, [1, 2, 3, 5], {}, None, [1, 2, 7, 4])
    yield ("r11_sizes_align_corners_ceil", "Resize", 11, [1, 3, 4],
           {"coordinate_transformation_mode": "align_corners", "nearest_mode": "ceil"}, None, [1, 3, 9])
    yield ("r19_downscale_asymmetric", "Resize", 19, [1, 2, 6, 6],
           {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 0.5, 0.75], None)
    yield ("r10_scales", "Resize", 10, [1, 2, 3, 3], {}, [1, 1, 2, 3], None)
    yield ("upsample7", "Upsample", 7, [1, 2, 2, 3], {}, [1, 1, 2, 2], None)
    yield ("upsample9", "Upsample", 9, [1, 2, 3, 2], {}, [1, 1, 3, 2], None)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    out = []
    for name, op, opset, shape, attrs, scales, sizes in cases():
        m = model(op, opset, shape, attrs, scales, sizes)
        x = (rng.integers(-2000, 2000, shape) / 64.0).astype(np.float32)
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        y = s.run(None, {"x": x})[0]
        onnx.save(m, OUT / f"{name}.onnx")
        out.append({"name": name, "in_shape": shape, "out_shape": list(y.shape), "x": x.ravel().tolist(),
                    "y": y.ravel().tolist()})
        print(name, shape, "->", list(y.shape))
    meta = {"generator": "python/make_resize_fixtures.py", "onnxruntime": ort.__version__, "cases": out}
    (OUT / "cases.json").write_text(json.dumps(meta) + "\n")


if __name__ == "__main__":
    main()
