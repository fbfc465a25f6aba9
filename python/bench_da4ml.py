#!/usr/bin/env python3
"""Our RTL against da4ml's on the jet tagger, through the same Yosys (issue 4, item 2).

A benchmark, not a test. In one run, one after the other:

  1. writes the jet-tagging MLP 16-64-32-32-5 (6-bit weights fixed<6,1>, biases on
     the 2^-10 grid, ReLU between layers) as a float ONNX model plus the precision
     configuration `arena` reads (fixed<16,6> activations, hls4ml defaults: TRN,
     WRAP). The weights come from the same SplitMix64 + Box-Muller generator, seed
     and draw order as `jet_tagger()` in toolflow/tests/hw_synth.rs, so this is
     the very model that test synthesizes (the script checks it when that test's
     export is present);
  2. `arena rtl MODEL --config CFG --target xcvu13p --clock-ns 5 --synth --json`;
  3. da4ml builds the same arithmetic from the same integers (input quantized to
     fixed<16,6>, exact products and sums, each layer's result wrapped and
     truncated to fixed<16,6>, ReLU) and writes pipelined Verilog;
  4. runs da4ml's Verilog through the same Yosys with the same synth_xilinx script
     (`synth.ys` written by `arena rtl`, only the file and top names changed).

Prints one table (LUT, FF, CARRY, DSP, LUT + 55 x DSP, latency, Yosys wall/CPU
time, peak memory, load average) and writes it as JSON to OUT/summary.json.

Runs in its own venv (.venv-bench: da4ml 0.6 needs numpy >= 2 while the main
venv pins numpy 1.26 for hls4ml/qonnx); scripts/bench-hardware sets it up.

Usage: .venv-bench/bin/python python/bench_da4ml.py [--out target/hw-bench/vs_da4ml]
       [--arena target/release/arena] [--only arena|da4ml] [--latency-cutoff 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent

SIZES = [16, 64, 32, 32, 5]
W_BITS = 6
SEED = 2024
# fixed<16,6>: 16 bits, 6 integer bits including the sign -> da4ml's (k, i, f) = (1, 5, 10).
ACT_KIF = (1, 5, 10)
CONFIG_YAML = "Model:\n  Precision: {default: 'fixed<16,6>', weight: 'fixed<6,1>'}\n  ReuseFactor: 1\n"
TARGET, PART, CLOCK_NS = "xcvu13p", "xcvu13p-flga2577-2-e", 5.0


class SplitMix:
    """SplitMix64 + Box-Muller, step for step the `Rng` of toolflow/tests/hw_synth.rs."""

    MASK = (1 << 64) - 1

    def __init__(self, seed: int):
        self.state = seed

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def unit(self) -> float:
        return ((self.next() >> 11) + 0.5) / float(1 << 53)

    def normal(self) -> float:
        # Two draws, in this order (Rust evaluates the operands left to right).
        r = math.sqrt(-2.0 * math.log(self.unit()))
        return r * math.cos(math.tau * self.unit())


def jet_tagger_layers() -> list[tuple[np.ndarray, np.ndarray]]:
    """(weights [n_in, n_out] as integers of 2^-(W_BITS-1), biases as integers of 2^-10)."""
    rng = SplitMix(SEED)
    step = 2.0 ** -(W_BITS - 1)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        sigma = 1.0 / math.sqrt(n_in)
        w = [min(max(round_half_away(rng.normal() * sigma / step) * step, -1.0), 1.0 - step) for _ in range(n_in * n_out)]
        b = [round_half_away(rng.normal() * 0.1 * 1024.0) for _ in range(n_out)]
        w_int = np.array([round(v / step) for v in np.float32(w).astype(np.float64)], dtype=np.int64)
        layers.append((w_int.reshape(n_in, n_out), np.array(b, dtype=np.int64)))
    return layers


def round_half_away(x: float) -> float:
    """Rust's f64::round (ties away from zero), unlike Python's round (ties to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def write_model(layers, path: Path) -> None:
    """Float ONNX: Gemm (+ Relu) per layer, like `mlp()` in hw_synth.rs."""
    w_step = 2.0 ** -(W_BITS - 1)
    nodes, inits = [], []
    prev = "x"
    for l, (w, b) in enumerate(layers):
        inits.append(numpy_helper.from_array((w * w_step).astype(np.float32), f"w{l}"))
        inits.append(numpy_helper.from_array((b / 1024.0).astype(np.float32), f"b{l}"))
        nodes.append(helper.make_node("Gemm", [prev, f"w{l}", f"b{l}"], [f"h{l}"]))
        prev = f"h{l}"
        if l + 1 < len(layers):
            nodes.append(helper.make_node("Relu", [prev], [f"r{l}"]))
            prev = f"r{l}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(
        nodes,
        "jet_tagger",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", SIZES[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def check_against_rust_export(layers, out: Path) -> str:
    """Compares with the ONNX the Rust test `jet_tagger_estimate_is_fast` exports, if present."""
    exported = ROOT / "target" / "hw-bench" / "jet_tagger" / "jet_tagger.onnx"
    if not exported.exists():
        return "not checked (run `cargo test -p toolflow --test hw_synth jet_tagger_estimate_is_fast` to export it)"
    theirs = {i.name: numpy_helper.to_array(i) for i in onnx.load(exported).graph.initializer}
    ours = {i.name: numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer}
    same = set(theirs) == set(ours) and all(np.array_equal(theirs[k], ours[k]) for k in ours)
    if not same:
        sys.exit(f"the Python jet tagger differs from {exported}: the generators diverged")
    return f"identical to {exported.relative_to(ROOT)}"


def build_da4ml(layers, out: Path, latency_cutoff: float, hard_dc: int) -> dict:
    """da4ml's Verilog for the same arithmetic; returns its latency and timings."""
    from da4ml.codegen import RTLModel
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace
    from da4ml.trace.ops import quantize, relu

    t0 = time.perf_counter()
    # hwconf and hard_dc are the defaults of da4ml's own converter (`da4ml convert`).
    inp = FixedVariableArrayInput((SIZES[0],), hwconf=HWConfig(1, -1, -1), solver_options={"hard_dc": hard_dc})
    x = quantize(inp, *ACT_KIF)
    w_step = 2.0 ** -(W_BITS - 1)
    for l, (w, b) in enumerate(layers):
        # Exact products and sums (the CMVM), then the layer's result type, as arena's IR.
        y = x @ (w.astype(np.float64) * w_step) + b.astype(np.float64) / 1024.0
        x = quantize(y, *ACT_KIF)  # WRAP, TRN: hls4ml's defaults, and arena's
        if l + 1 < len(layers):
            x = relu(x)
    comb = comb_trace(inp, x)
    t_trace = time.perf_counter() - t0
    prj = "jet_tagger_da4ml"
    model = RTLModel(comb, prj, out, latency_cutoff=latency_cutoff, clock_period=CLOCK_NS, part_name=PART)
    model.write()
    t_total = time.perf_counter() - t0
    meta = json.loads((out / "metadata.json").read_text())
    generated = [s for s in sorted((out / "src").glob("*.v")) if not s.name.endswith("_wrapper.v")]
    # Only the library modules the design instantiates: Yosys parses every file it reads,
    # and lookup_table.v's default $readmemh("whatever.mem") fails when the file is absent.
    text = "".join(s.read_text() for s in generated)
    static = [s for s in sorted((out / "src" / "static").glob("*.v")) if re.search(rf"\b{s.stem}\b", text)]
    sources = generated + static
    return {
        "top": prj,
        "sources": [str(s) for s in sources],
        "latency_cycles": int(meta.get("latency", 0)),
        "adders_cost": float(meta.get("cost", 0.0)),
        "trace_s": t_trace,
        "codegen_s": t_total,
        "comb": comb,
    }


def check_da4ml_numerics(comb, layers, n: int = 20000) -> int:
    """da4ml's own bit-exact model of its circuit against a numpy model of arena's arithmetic."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-32.0, 32.0, size=(n, SIZES[0]))
    got = comb.predict(x.astype(np.float32))
    want = reference(layers, x)
    return int(np.sum(got != want))


def wrap_trn(v: np.ndarray, kif=ACT_KIF) -> np.ndarray:
    """fixed<16,6> TRN WRAP on exact rationals held as integers of 2^-f."""
    k, i, f = kif
    bits = k + i + f
    q = np.floor(v * 2.0**f).astype(np.int64)
    q = (q + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
    return q / 2.0**f


def reference(layers, x: np.ndarray) -> np.ndarray:
    """Numpy model of the arithmetic both designs implement (exact in float64 here)."""
    w_step = 2.0 ** -(W_BITS - 1)
    h = wrap_trn(x.astype(np.float32).astype(np.float64))
    for l, (w, b) in enumerate(layers):
        h = wrap_trn(h @ (w * w_step) + b / 1024.0)
        if l + 1 < len(layers):
            h = np.maximum(h, 0.0)
    return h


# --- Yosys ---------------------------------------------------------------------------------


def arena_script(arena_dir: Path) -> str:
    """The synthesis script `arena rtl --synth` ran (synth.ys), without its `read_verilog`."""
    text = (arena_dir / "synth" / "synth.ys").read_text()
    lines = [l for l in text.splitlines() if not l.startswith("read_verilog")]
    return "\n".join(lines) + "\n"


def da4ml_script(arena_dir: Path, da4ml: dict) -> str:
    """arena's own script, with da4ml's sources and top module in place of ours."""
    body = re.sub(r"-top \S+", f"-top {da4ml['top']}", arena_script(arena_dir))
    reads = "".join(f"read_verilog {s}\n" for s in da4ml["sources"])
    return reads + body


def run_yosys(script: str, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    subprocess.run(["yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=workdir, check=True)
    wall = time.perf_counter() - t0
    result = parse_stat((workdir / "stat.txt").read_text())
    log = (workdir / "yosys.log").read_text(errors="replace")
    result.update(parse_end_of_log(log))
    result["run_s"] = wall
    ltp = (workdir / "ltp.txt").read_text() if (workdir / "ltp.txt").exists() else ""
    depths = [int(m) for m in re.findall(r"length=(\d+)", ltp)]
    result["logic_depth"] = max(depths) if depths else None
    result["pass_times"] = parse_pass_times(log)
    return result


def parse_stat(text: str) -> dict:
    """Cell counts of the last module in `stat` (the flattened top), as toolflow/src/hw/synth.rs."""
    cells: dict[str, int] = {}
    in_cells = False
    for line in text.splitlines():
        t = line.strip()
        if t.startswith("==="):
            cells, in_cells = {}, False
        elif t.startswith("Number of cells:"):
            in_cells = True
        elif in_cells:
            parts = t.split()
            if len(parts) == 2 and parts[1].isdigit():
                cells[parts[0]] = cells.get(parts[0], 0) + int(parts[1])
            else:
                in_cells = False
    lut = sum(c for n, c in cells.items() if re.fullmatch(r"LUT[1-6]", n))
    srl = sum(c for n, c in cells.items() if n in ("SRL16E", "SRLC32E", "SRLC16E"))
    return {
        "lut": lut + srl,  # slice LUTs: logic + shift registers (no LUTRAM in these designs)
        "lut_logic": lut,
        "srl": srl,
        "ff": sum(c for n, c in cells.items() if n.startswith("FD")),
        "carry": sum(c for n, c in cells.items() if n in ("CARRY4", "CARRY8")),
        "dsp": sum(c for n, c in cells.items() if n.startswith("DSP48")),
        "muxf": sum(c for n, c in cells.items() if n.startswith("MUXF")),
        "cells": cells,
    }


def parse_end_of_log(log: str) -> dict:
    m = re.search(r"CPU: user ([\d.]+)s system ([\d.]+)s, MEM: ([\d.]+) MB peak", log)
    if not m:
        return {"cpu_s": None, "peak_mb": None}
    return {"cpu_s": float(m[1]) + float(m[2]), "peak_mb": float(m[3])}


def parse_pass_times(log: str) -> dict[str, float]:
    """`Time spent: 61% 6x abc (120 sec), ...` at the end of a Yosys log."""
    m = re.search(r"Time spent: (.*)", log)
    if not m:
        return {}
    return {p[2]: float(p[3]) for p in re.findall(r"(\d+)% (\d+)x (\S+) \((\d+) sec\)", m[1])}


# --- arena ---------------------------------------------------------------------------------


def run_arena(arena: Path, model: Path, config: Path, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cmd = [str(arena), "rtl", str(model), "--config", str(config), "--out", str(out),
           "--target", TARGET, "--clock-ns", str(CLOCK_NS), "--synth", "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout)
    synth = report.get("synthesis", {})
    if synth.get("status") != "ok":
        sys.exit(f"arena rtl did not synthesize: {json.dumps(synth)}")
    # Same parser for both designs, from the files Yosys wrote.
    result = parse_stat((out / "synth" / "stat.txt").read_text())
    log = (out / "synth" / "yosys.log").read_text(errors="replace")
    result.update(parse_end_of_log(log))
    result["run_s"] = synth["result"]["run_s"]
    result["logic_depth"] = synth["result"].get("logic_depth")
    result["pass_times"] = parse_pass_times(log)
    result["latency_cycles"] = report["rtl"]["latency_cycles"]
    result["command_s"] = wall
    result["command"] = " ".join(cmd)
    return result


# --- report --------------------------------------------------------------------------------


def fmt(v, spec="{:,}") -> str:
    return "-" if v is None else spec.format(v)


def table(rows: dict[str, dict]) -> str:
    head = ["flow", "LUT", "FF", "CARRY", "DSP", "LUT+55*DSP", "latency", "Yosys wall", "Yosys CPU", "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    fmt(r["lut"]),
                    fmt(r["ff"]),
                    fmt(r["carry"]),
                    fmt(r["dsp"]),
                    fmt(r["lut"] + 55 * r["dsp"]),
                    f"{r['latency_cycles']} cycles = {r['latency_cycles'] * CLOCK_NS:g} ns",
                    fmt(r["run_s"], "{:.0f} s"),
                    fmt(r["cpu_total_s"], "{:.0f} s"),
                    fmt(r["peak_mb"], "{:,.0f}"),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def children_cpu() -> float:
    """User + system CPU of all finished child processes (Yosys and the ABC it starts)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "hw-bench" / "vs_da4ml")
    ap.add_argument("--arena", type=Path, default=ROOT / "target" / "release" / "arena")
    ap.add_argument("--only", choices=["arena", "da4ml"], help="run one flow (the other's row is left out)")
    ap.add_argument("--latency-cutoff", type=float, default=5.0,
                    help="da4ml's pipelining cutoff (its converter's default is 5)")
    ap.add_argument("--hard-dc", type=int, default=2, help="da4ml's CMVM delay constraint (its converter's default is 2)")
    args = ap.parse_args()
    if shutil.which("yosys") is None:
        sys.exit("yosys is not on PATH (apt-get install yosys)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    layers = jet_tagger_layers()
    model, config = out / "jet_tagger.onnx", out / "jet_tagger.yaml"
    write_model(layers, model)
    config.write_text(CONFIG_YAML)
    same_as_rust = check_against_rust_export(layers, model)
    print(f"model: {model} ({same_as_rust})", flush=True)

    rows: dict[str, dict] = {}
    # arena first: its synth.ys is the script both designs go through.
    if args.only != "da4ml" or not (out / "arena" / "synth" / "synth.ys").exists():
        print("arena rtl --synth ...", flush=True)
        cpu0 = children_cpu()
        r = run_arena(args.arena, model, config, out / "arena")
        r["cpu_total_s"] = children_cpu() - cpu0
        r["load_after"] = os.getloadavg()
        if args.only != "da4ml":
            rows["arena"] = r
    if args.only != "arena":
        print("da4ml ...", flush=True)
        d = build_da4ml(layers, out / "da4ml", args.latency_cutoff, args.hard_dc)
        mismatches = check_da4ml_numerics(d.pop("comb"), layers)
        if mismatches:
            sys.exit(f"da4ml's circuit differs from the reference arithmetic on {mismatches} outputs")
        print(f"da4ml: {d['latency_cycles']} stages, traced in {d['codegen_s']:.1f} s; "
              "0 mismatches against the reference on 20,000 inputs", flush=True)
        cpu0 = children_cpu()
        r = run_yosys(da4ml_script(out / "arena", d), out / "da4ml_synth")
        r["cpu_total_s"] = children_cpu() - cpu0
        r["load_after"] = os.getloadavg()
        r["latency_cycles"] = d["latency_cycles"]
        r["da4ml"] = {k: v for k, v in d.items() if k != "sources"}
        rows["da4ml 0.6.0"] = r

    text = table(rows)
    load = " / ".join(f"{r['load_after'][0]:.1f}" for r in rows.values())
    script = arena_script(out / "arena").strip().replace("\n", "; ")
    print()
    print(text)
    print(f"\nYosys script (both): {script}")
    print(f"1-min load average after each run: {load}; {os.cpu_count()} CPUs; {platform.processor() or platform.machine()}")
    print("Yosys CPU = user + system of Yosys and its ABC child processes (Yosys' own log line leaves ABC out).")
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": str(model),
        "model_check": same_as_rust,
        "script": script,
        "rows": {k: {kk: vv for kk, vv in v.items() if kk != "cells"} for k, v in rows.items()},
        "cells": {k: v["cells"] for k, v in rows.items()},
        "table": text,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()
