#!/usr/bin/env python3
"""Simulator throughput benchmark (issue 3, item 3). A benchmark, not a test.

Measures, in one run and on the same machine, the samples per second of

  * `arena simulate MODEL --input IN --output OUT --config CFG` (the wall time of
    the whole command: process start, model compile, Parquet read, simulation,
    Parquet write; median of --runs runs after one untimed warm-up run),
  * hls4ml 1.3's C simulation, `hls_model.predict()` after `compile()` (median of
    --hls-runs runs on the first --hls-rows rows),
  * onnxruntime on the float model (one `run()` over all rows with a dynamic
    batch dimension; median of --runs runs),

for the jet-tagging MLP 16-64-32-32-5 (Gemm + Relu, linear output) and a Conv1D
model, both at fixed<16,6> everywhere (hls4ml Model precision default and
maximum fixed<16,6>; the toolflow configuration is derived from the types hls4ml
used, exactly as in python/make_hls4ml_fixtures.py). It also checks that
`arena simulate` and hls4ml agree bit for bit on the rows both ran.

Prints a Markdown section and appends it to docs/BENCHMARKS.md under
"Simulator throughput (issue 3)" (unless --no-append).

Usage: .venv/bin/python python/bench_simulate.py [--rows 100000] [--hls-rows 20000]
       [--runs 5] [--hls-runs 3] [--arena target/release/arena] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_hls4ml_fixtures as fx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH_MD = ROOT / "docs" / "BENCHMARKS.md"
HEADING = "## Simulator throughput (issue 3)"

MODELS = [
    {
        "name": "jet_mlp_16-64-32-32-5",
        "what": "jet-tagging MLP 16-64-32-32-5, Gemm+Relu, linear output",
        "in_shape": [16],
        "build": fx.build_jet_mlp,
    },
    {
        "name": "conv1d_4x64",
        "what": "Conv1D on [4,64]: Conv(16,k3,pad1)-Relu-Conv(16,k3,s2,pad1)-Relu-Conv(8,k3,pad1)",
        "in_shape": [4, 64],
        "build": fx.build_conv1d_bench,
    },
]
SPEC = {"default": "fixed<16,6>", "maximum": "fixed<16,6>", "layers": {}}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": platform.python_version(),
    }


def write_inputs(path: Path, x: np.ndarray):
    flat = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)
    col = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel(), pa.float32()), flat.shape[1])
    pq.write_table(pa.table({"x": col}), path, compression="snappy")


def read_y(path: Path) -> np.ndarray:
    t = pq.read_table(path, columns=["y"])
    col = t.column("y").combine_chunks()
    return np.asarray(col.flatten(), dtype=np.float32).reshape(len(col), -1)


def dynamic_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    return m


def arena_available(arena: Path) -> tuple[bool, str]:
    if not arena.exists():
        return False, f"{arena} does not exist (cargo build --release --bin arena)"
    r = subprocess.run([str(arena), "simulate", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"`{arena.name} simulate` is not available: {(r.stderr or r.stdout).strip()[:200]}"
    return True, ""


def bench_model(spec: dict, args, work: Path, arena_ok: bool) -> dict:
    import onnxruntime as ort

    rng = np.random.default_rng(fx.seed_of(spec["name"]))
    net = fx.Net(rng, spec["in_shape"])
    spec["build"](net)
    model = net.model(spec["name"])
    mw = fx.preprocess(model)
    cfg = fx.hls_config_for(mw, SPEC)
    hm = fx.convert(mw, json.loads(json.dumps(cfg)), work / f"hls_{spec['name']}")
    ours, _, _ = fx.derive_ours(hm, net, "fixed<16,6>")
    onnx_path = work / f"{spec['name']}.onnx"
    cfg_path = work / f"{spec['name']}.yaml"
    onnx.save(model, onnx_path)
    import yaml

    cfg_path.write_text(yaml.safe_dump(ours, sort_keys=True))
    x = rng.normal(0.0, 2.0, [args.rows] + spec["in_shape"]).astype(np.float32)
    in_path, out_path = work / f"{spec['name']}_in.parquet", work / f"{spec['name']}_out.parquet"
    write_inputs(in_path, x)
    res = {"name": spec["name"], "what": spec["what"], "rows": args.rows, "hls_rows": min(args.hls_rows, args.rows),
           "macs": macs(model)}

    # hls4ml C simulation
    t0 = time.perf_counter()
    fx.quiet(hm.compile)
    res["hls_compile_s"] = time.perf_counter() - t0
    xh = np.ascontiguousarray(x[: res["hls_rows"]])
    times, cpu, yh = [], [], None
    for _ in range(args.hls_runs):
        t0, c0 = time.perf_counter(), time.process_time()
        yh = np.asarray(hm.predict(xh), dtype=np.float32).reshape(len(xh), -1)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    res["hls_s"] = statistics.median(times)
    res["hls_sps"] = res["hls_rows"] / res["hls_s"]
    res["hls_cpu_s"] = statistics.median(cpu)

    # onnxruntime, float
    so = ort.SessionOptions()
    sess = ort.InferenceSession(dynamic_batch(model).SerializeToString(), so, providers=["CPUExecutionProvider"])
    sess.run(None, {fx.IN_NAME: x[:1000]})
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sess.run(None, {fx.IN_NAME: x})
        times.append(time.perf_counter() - t0)
    res["ort_s"] = statistics.median(times)
    res["ort_sps"] = args.rows / res["ort_s"]

    # arena simulate (whole command)
    cmd = [str(args.arena), "simulate", str(onnx_path), "--input", str(in_path), "--output", str(out_path),
           "--config", str(cfg_path)]
    res["cmd"] = "arena simulate MODEL.onnx --input IN.parquet --output OUT.parquet --config CFG.yaml"
    if arena_ok:
        subprocess.run(cmd, check=True, capture_output=True)  # warm-up (page cache)
        times, inner, cpu = [], [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), children_cpu()
            r = subprocess.run(cmd, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            cpu.append(children_cpu() - c0)
            m = re.search(r"done: (\d+) rows in ([0-9.]+) s", r.stderr)
            if m:
                inner.append(float(m.group(2)))
        res["arena_s"] = statistics.median(times)
        res["arena_sps"] = args.rows / res["arena_s"]
        res["arena_inner_s"] = statistics.median(inner) if inner else None
        res["arena_cpu_s"] = statistics.median(cpu)
        ya = read_y(out_path)
        res["agree_rows"] = len(yh)
        res["mismatches"] = int(np.sum(ya[: len(yh)] != yh))
    return res


def children_cpu() -> float:
    """User + system CPU seconds of finished child processes."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates per sample (Gemm and Conv), from the initializer shapes."""
    from onnx import shape_inference

    inf = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inf.graph.value_info) + list(inf.graph.output)}
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        if n.op_type == "Gemm":
            total += int(np.prod(inits[n.input[1]]))
        elif n.op_type == "Conv":
            w = inits[n.input[1]]
            out = shapes[n.output[0]]
            total += int(np.prod(w)) * int(np.prod(out[2:]))
    return total


def fmt_sps(v) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def markdown(results: list[dict], mach: dict, args, versions: dict, arena_note: str, started: str) -> str:
    lines = [
        f"### Run {started}",
        "",
        f"Machine: {mach['nproc']} cores ({mach['cpu']}), load average at start {mach['load']} "
        "(the cores are shared with other jobs). "
        f"Peers measured in the same run: hls4ml {versions['hls4ml']} C simulation (Vivado backend, io_parallel, "
        f"{versions['g++']}, `-O3`, single-threaded `predict()`), onnxruntime {ort_version()} (float, default "
        "threads, whole batch in one `run()`).",
        "",
        f"Command: `.venv/bin/python python/bench_simulate.py --rows {args.rows} --hls-rows {args.hls_rows} "
        f"--runs {args.runs} --hls-runs {args.hls_runs}`; arena: `{results[0]['cmd']}` "
        f"({args.rows:,} rows, wall time of the whole command, median of {args.runs}). Types: fixed<16,6> "
        "everywhere (input, weights, biases, accumulators, results).",
        "",
        "| model | MACs/sample | arena simulate (samples/s) | hls4ml csim (samples/s) | onnxruntime float (samples/s) "
        "| arena / hls4ml | arena / onnxruntime | arena = hls4ml (bit-exact rows) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        a = r.get("arena_sps")
        ratio_h = f"{a / r['hls_sps']:.1f}x" if a else "n/a"
        ratio_o = f"{a / r['ort_sps']:.2f}x" if a else "n/a"
        agree = (f"{'yes' if r['mismatches'] == 0 else 'NO, ' + str(r['mismatches']) + ' values differ'} "
                 f"({r['agree_rows']:,} rows)") if a else "n/a"
        lines.append(
            f"| {r['what']} | {r['macs']:,} | {fmt_sps(a)} | {fmt_sps(r['hls_sps'])} | {fmt_sps(r['ort_sps'])} "
            f"| {ratio_h} | {ratio_o} | {agree} |"
        )
    lines.append("")
    details = []
    for r in results:
        d = (f"{r['name']}: hls4ml compile {r['hls_compile_s']:.1f} s, predict {r['hls_rows']:,} rows in "
             f"{r['hls_s']:.2f} s; onnxruntime {r['rows']:,} rows in {r['ort_s'] * 1000:.1f} ms")
        if r.get("arena_s") is not None:
            d += f"; arena {r['rows']:,} rows in {r['arena_s']:.2f} s"
            if r.get("arena_inner_s"):
                d += f" (its own report, without process start and model compile: {r['arena_inner_s']:.2f} s)"
            if r.get("arena_cpu_s") and r.get("hls_cpu_s"):
                a_cpu = r["arena_cpu_s"] / r["rows"]
                h_cpu = r["hls_cpu_s"] / r["hls_rows"]
                d += (f"; CPU time per sample (user + system, all threads): arena {a_cpu * 1e6:.2f} us, "
                      f"hls4ml predict {h_cpu * 1e6:.1f} us, ratio {h_cpu / a_cpu:.0f}x")
        details.append(f"- {d}.")
    lines += details
    if arena_note:
        lines += ["", f"arena simulate was not measured: {arena_note}."]
    goal = [r for r in results if r.get("arena_sps")]
    if goal:
        worst = min(r["arena_sps"] / r["hls_sps"] for r in goal)
        lines += ["", f"Goal (at least 100x hls4ml C simulation): {'met' if worst >= 100 else 'not met'} "
                  f"(lowest ratio {worst:.1f}x)."]
    return "\n".join(lines) + "\n"


def ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def append(section: str):
    text = BENCH_MD.read_text() if BENCH_MD.exists() else "# Benchmarks\n"
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\nWritten by `python/bench_simulate.py`; newest run last.\n"
        text += "\n" + section
    else:
        start = text.index(HEADING) + len(HEADING)
        nxt = re.search(r"^## ", text[start:], flags=re.M)
        end = start + nxt.start() if nxt else len(text)
        text = text[:end].rstrip("\n") + "\n\n" + section + ("\n" + text[end:] if nxt else "")
    BENCH_MD.write_text(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--hls-rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hls-runs", type=int, default=3)
    ap.add_argument("--arena", type=Path, default=ROOT / "target" / "release" / "arena")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch docs/BENCHMARKS.md")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    mach = machine()
    versions = fx.tool_versions()
    arena_ok, note = arena_available(args.arena)
    if not arena_ok:
        print(f"warning: {note}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    try:
        results = []
        for spec in MODELS:
            print(f"{spec['name']} ...", file=sys.stderr, flush=True)
            results.append(bench_model(spec, args, work, arena_ok))
            print(json.dumps(results[-1], default=str), file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    section = markdown(results, mach, args, versions, note, started)
    print(section)
    if not args.no_append:
        append(section)
        print(f"appended to {BENCH_MD.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
