"""hls4ml 1.3 as a reference peer: preprocessing, configurations, C simulation.

Shared by python/make_hls4ml_fixtures.py (our own models) and
python/make_hls4ml_example_fixtures.py (hls4ml's example models). The route
is the one hls4ml documents for ONNX: qonnx's preprocessing (cleanup_model,
ConvertToChannelsLastAndClean, GemmToMatMul, cleanup_model), then
config_from_onnx_model, convert_from_onnx_model (Vivado backend,
io_parallel), compile() and predict() (g++ with hls4ml's ap_types).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import warnings
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def quiet(fn, *a, **k):
    """Runs fn with stdout silenced (hls4ml prints the topology) and warnings off."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def batch_one(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with batch 1 declared (qonnx folds constants at the declared batch)."""
    m = copy.deepcopy(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in [v for v in m.graph.input if v.name not in inits] + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    return m


def preprocess(model: onnx.ModelProto):
    """qonnx's preprocessing that hls4ml's ONNX front end requires."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    def run():
        mw = ModelWrapper(batch_one(model))
        mw = cleanup_model(mw)
        mw = mw.transform(ConvertToChannelsLastAndClean())
        mw = mw.transform(GemmToMatMul())
        return cleanup_model(mw)

    return quiet(run)


def make_config(mw, granularity: str, default: str, maximum: str | None = None, overrides: dict | None = None) -> dict:
    """hls4ml's own configuration (config_from_onnx_model) with overrides:
    {"Model": {key: value}, "LayerName": {layer: {key: value, "Precision": {var: type}}}}."""
    import hls4ml

    cfg = quiet(hls4ml.utils.config_from_onnx_model, mw, granularity=granularity, backend="Vivado",
                default_precision=default, max_precision=maximum)
    for section, entries in (overrides or {}).items():
        if section == "Model":
            for k, v in entries.items():
                if k == "Precision":
                    cfg["Model"]["Precision"].update(v)
                else:
                    cfg["Model"][k] = v
            continue
        target = cfg.setdefault(section, {})
        for layer, over in entries.items():
            if section == "LayerName" and layer not in target:
                raise KeyError(f"no hls4ml layer named {layer}; have {sorted(target)}")
            entry = target.setdefault(layer, {})
            for k, v in over.items():
                if k == "Precision":
                    entry.setdefault("Precision", {}).update(v)
                else:
                    entry[k] = v
    return cfg


def convert(mw, cfg: dict, out_dir: Path):
    import hls4ml

    return quiet(hls4ml.converters.convert_from_onnx_model, mw, output_dir=str(out_dir), project_name="myproject",
                 io_type="io_parallel", backend="Vivado", hls_config=json.loads(json.dumps(cfg)))


def csim(hm, x: np.ndarray) -> np.ndarray:
    """hls4ml's C simulation of rows x (compile once, predict)."""
    quiet(hm.compile)
    y = np.asarray(quiet(hm.predict, np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)
    y = y.reshape(len(x), -1)
    return np.where(y == 0, np.float32(0), y)  # -0.0 -> +0.0


def build_errors(prj: Path) -> list[str]:
    """The compiler's error lines of an hls4ml project that failed to compile."""
    if not (prj / "build_lib.sh").exists():
        return []
    r = subprocess.run(["bash", "build_lib.sh"], cwd=prj, capture_output=True, text=True)
    return [line for line in (r.stdout + r.stderr).splitlines() if "error" in line][:5]


def prec_str(p) -> str:
    return str(p)


def layer_types(hm) -> dict:
    """hls4ml's resolved layers: class and every type."""
    return {name: {"class": l.class_name,
                   "output": str(l.get_output_variable().type.precision),
                   "types": {k: str(v.precision) for k, v in l.types.items()}}
            for name, l in hm.graph.items()}


def output_lsb(hm) -> float:
    p = hm.get_output_variables()[0].type.precision
    return float(2.0 ** -(p.width - p.integer))


def parse_type(s: str):
    """'fixed<W,I,Q,O>' / 'ufixed<...>' / 'int<W>' / 'uint<W>' -> (signed, W, I, Q, O)."""
    s = s.strip()
    kind, args = s[: s.index("<")], [a.strip() for a in s[s.index("<") + 1: -1].split(",")]
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
    return signed, w, i, q, o


def make_inputs(rng: np.random.Generator, rows: int, shape: list[int], in_type: str) -> np.ndarray:
    """Inputs that exercise the input type: ordinary values, exact rounding ties,
    values on the grid, out-of-range values and the type bounds."""
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
    x = np.where(kind == 1, (k + 0.5) * lsb, x)
    x = np.where(kind == 2, k * lsb, x)
    x = np.where(kind == 3, rng.uniform(lo - span / 2, hi + span / 2, n), x)
    x = np.where(kind == 4, rng.choice([lo, hi, hi + lsb / 2, lo - lsb / 2, lo - lsb, 0.0], n), x)
    return x.astype(np.float32).reshape([rows] + list(shape))


def write_parquet(path: Path, cols: dict):
    def col(a):
        a = np.ascontiguousarray(a.reshape(a.shape[0], -1), dtype=np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel(), pa.float32()), a.shape[1])

    pq.write_table(pa.table({k: col(v) for k, v in cols.items()}), path, compression="snappy")


def yaml_text(cfg: dict, header: str) -> str:
    import yaml

    return header + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def tool_versions() -> dict:
    import hls4ml
    from importlib.metadata import version

    try:
        gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception as e:  # pragma: no cover
        gxx = f"unavailable: {e}"
    return {"hls4ml": hls4ml.__version__, "onnx": onnx.__version__, "qonnx": version("qonnx"),
            "numpy": np.__version__, "g++": gxx}


def ap_quantize(v: Fraction, t) -> int:
    """Raw integer of ap_fixed<...> constructed from the exact value v (Vivado semantics)."""
    signed, w, i, q, o = t
    s = v * (Fraction(2) ** (w - i))
    fl = s.numerator // s.denominator
    rem = s - fl
    half = Fraction(1, 2)
    neg = s < 0
    up = {"TRN": False, "TRN_ZERO": neg, "RND": rem >= half, "RND_ZERO": rem > half or (rem == half and neg),
          "RND_MIN_INF": rem > half, "RND_INF": rem > half or (rem == half and not neg),
          "RND_CONV": rem > half or (rem == half and fl % 2 == 1)}[q]
    r = fl + 1 if rem != 0 and up else fl
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
    if o == "SAT_SYM" and signed:
        lo = -hi
    if lo <= r <= hi:
        return r
    if o == "WRAP":
        r &= (1 << w) - 1
        return r - (1 << w) if signed and r >= 1 << (w - 1) else r
    return 0 if o == "SAT_ZERO" else min(max(r, lo), hi)
