#!/usr/bin/env python3
"""Turnaround benchmark (issue 6): from upload to leaderboard row.

Starts `arena up` on a scratch data directory and a free port, publishes a
dataset whose public_test split has 100,000 rows of 16 float32 features and a
0/1 label (`arena dataset import --manifest`), creates a challenge on it
(estimate tier: `synthesize: false`), mints a token, then submits a
jet-tagger-sized MLP (16-64-32-32-1, float ONNX + `Model: {Precision:
fixed<16,6>}`) one submission at a time and measures, for each, the wall time
from the start of the upload request to the first leaderboard JSON that lists
the submission (polled every 20 ms). The per-step split comes from the
submission's `steps` timestamps.

The jet tagger of hls4ml's examples is 16-64-32-32-5; the challenge scores one
output value per sample (`score_from: output` needs as many outputs as the
label has elements), so the last layer has one output instead of five: the
same size class (4,257 weights and biases instead of 4,389).

Usage: python/bench_turnaround.py --arena target/release/arena [--runs 10]
       [--rows 100000] [--work DIR] [--json OUT] [--markdown OUT]
Run through scripts/bench-turnaround, which builds the release binary first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
from onnx import TensorProto, helper, numpy_helper

FEATURES = 16
LAYERS = [16, 64, 32, 32, 1]
SLUG = "turnaround-bench"
CONFIG = "Model:\n  Precision: fixed<16,6>\n"
STEPS = ["submitted", "queued", "compiling", "simulating", "synthesizing", "scoring", "finished"]


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inputs


def write_dataset(root: Path, rows: int, seed: int) -> Path:
    """A jet-tagging-like table: 16 float32 features, ~10 % anomalies."""
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)

    def split(n: int, first_id: int) -> pa.Table:
        x = rng.normal(0.0, 1.0, size=(n, FEATURES)).astype(np.float32)
        label = rng.random(n) < 0.1
        x[label, :4] += 1.5
        flat = pa.array(x.reshape(-1), type=pa.float32())
        return pa.table(
            {
                "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
                "x": pa.FixedSizeListArray.from_arrays(flat, FEATURES),
                "is_anomaly": pa.array(label, type=pa.bool_()),
            }
        )

    pq.write_table(split(2000, 0), root / "data/train.parquet")
    pq.write_table(split(rows, 10_000_000), root / "data/public_test.parquet")
    manifest = f"""slug: {SLUG}
title: Turnaround benchmark (jet-tagger-sized inputs)
description: Synthetic table with 16 float features and a 0/1 label, for the turnaround benchmark.
keywords: [benchmark]
domain: particle physics
licence: CC-BY-4.0
creators:
  - name: FastML Arena
    organization: true
version: 1.0.0
changelog: Benchmark data.
features:
  - {{name: id, dtype: int64, role: id}}
  - {{name: x, dtype: float32, shape: [{FEATURES}], role: feature}}
  - {{name: is_anomaly, dtype: bool, role: label}}
splits:
  train:
    files: [data/train.parquet]
  public_test:
    files: [data/public_test.parquet]
"""
    path = root / "dataset.yaml"
    path.write_text(manifest)
    return path


def write_challenge(root: Path) -> Path:
    text = f"""slug: {SLUG}
title: Turnaround benchmark
description: Upload-to-leaderboard timing with a jet-tagger-sized MLP.
dataset: {{ slug: {SLUG}, version: latest }}
input: {{ column: x, shape: [{FEATURES}] }}
label: is_anomaly
score_from: output
metric: roc_auc
target: {{ part: xcvu9p, clock_ns: 5 }}
phases:
  - {{ name: development, split: public_test }}
limits: {{ per_day: 10000, total: 10000 }}
entries_per_participant: all
synthesize: false
"""
    path = root / "challenge.yaml"
    path.write_text(text)
    return path


def mlp_onnx(seed: int) -> bytes:
    """16-64-32-32-1, ReLU between layers, float32, input [1, 16]."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    current = "x"
    for i, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        w = (rng.normal(0.0, 1.0, size=(fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = (rng.normal(0.0, 0.1, size=(fan_out,))).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]))
        last = i == len(LAYERS) - 2
        out = "y" if last else f"h{i}"
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"]))
            current = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "jet_tagger_sized_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, LAYERS[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, LAYERS[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def parameters() -> int:
    return sum(a * b + b for a, b in zip(LAYERS[:-1], LAYERS[1:]))


# ---------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, token: str | None = None, body: bytes | None = None,
         content_type: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[str, bytes]:
    boundary = "arena-bench-" + uuid.uuid4().hex
    parts = []
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: application/octet-stream\r\n"
        parts.append(head.encode() + b"\r\n" + value + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


# ---------------------------------------------------------------- the platform


class Arena:
    def __init__(self, binary: Path, data_dir: Path, port: int):
        self.binary = binary
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "ARENA_DATA_DIR": str(data_dir),
            "ARENA_LOG": "info",
            "ARENA_PUBLIC_URL": self.base,
        }
        self.log_path = data_dir.parent / "arena-up.log"
        self.process: subprocess.Popen | None = None

    def up(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(self.binary), "up", "--bind", f"127.0.0.1:{self.port}"],
            env=self.env, stdin=subprocess.DEVNULL,
            stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"arena up exited: {self.log_path.read_text()[-3000:]}")
            try:
                if http("GET", self.base + "/readyz")[0] == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("arena up did not become ready in 300 s")

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(self.binary), *args], env=self.env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"arena {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def down(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def submit_and_wait(arena: Arena, token: str, model: bytes, label: str) -> dict:
    content_type, body = multipart(
        [("model", "model.onnx", model), ("config", None, CONFIG.encode()), ("label", None, label.encode())]
    )
    board_url = f"{arena.base}/api/v1/challenges/{SLUG}/leaderboard"
    pid = arena.process.pid
    cpu0 = cpu_seconds(pid)
    wall0 = time.time()
    t0 = time.monotonic()
    status, answer = http("POST", f"{arena.base}/api/v1/challenges/{SLUG}/submissions", token, body,
                          content_type)
    t_accepted = time.monotonic() - t0
    if status != 202:
        raise SystemExit(f"upload refused: {status} {answer[:2000]!r}")
    sid = json.loads(answer)["id"]
    polls = 0
    while True:
        polls += 1
        status, board = http("GET", board_url)
        if status == 200 and any(row.get("submission_id") == sid for row in json.loads(board)["rows"]):
            break
        if time.monotonic() - t0 > 300:
            raise SystemExit(f"submission {sid} not on the leaderboard after 300 s")
        # A failed submission never reaches the board: stop early with its message.
        if polls % 25 == 0:
            _, sub = http("GET", f"{arena.base}/api/v1/submissions/{sid}", token)
            sub = json.loads(sub)
            if sub.get("status") in ("failed", "cancelled"):
                raise SystemExit(f"submission {sid} {sub['status']}: {sub.get('message')}\n{sub.get('log')}")
        time.sleep(0.02)
    total = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    wall1 = wall0 + total
    _, sub = http("GET", f"{arena.base}/api/v1/submissions/{sid}", token)
    sub = json.loads(sub)
    steps = {}
    for event in sub["steps"]:
        steps.setdefault(event["status"], parse_time(event["at"]))
    split = {}
    previous_name, previous_at = "upload", wall0
    for name in STEPS:
        if name in steps:
            split[f"{previous_name}->{name}"] = steps[name] - previous_at
            previous_name, previous_at = name, steps[name]
    split[f"{previous_name}->leaderboard"] = wall1 - previous_at
    return {
        "id": sid,
        "seconds": total,
        "cpu_seconds": cpu,
        "upload_accepted_seconds": t_accepted,
        "polls": polls,
        "split": split,
        "status": sub["status"],
        "scores": sub.get("scores"),
        "hardware": sub.get("hardware"),
        "log": sub.get("log"),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arena", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="arena-turnaround-"))
    if work.exists():
        shutil.rmtree(work)
    (work / "inputs").mkdir(parents=True)
    manifest = write_dataset(work / "inputs", args.rows, args.seed)
    challenge = write_challenge(work / "inputs")
    model = mlp_onnx(args.seed)
    log(f"inputs in {work}: {args.rows} test rows, model {len(model)} bytes, {parameters()} parameters")

    arena = Arena(args.arena.resolve(), work / "data", free_port())
    try:
        up_seconds = arena.up()
        log(f"arena up ready at {arena.base} in {up_seconds:.1f} s")
        t = time.monotonic()
        arena.cli("dataset", "import", "--manifest", str(manifest))
        import_seconds = time.monotonic() - t
        token = arena.cli("token", "create", "--user", "bench", "--scopes", "read,submit,organize")
        token = token.strip().splitlines()[-1].strip()
        arena.cli("challenge", "create", str(challenge), "--as-user", "bench")
        log(f"dataset imported in {import_seconds:.1f} s; challenge {SLUG} created")

        warmups = [submit_and_wait(arena, token, model, f"warm-up {i}") for i in range(args.warmup)]
        for w in warmups:
            log(f"warm-up: {w['seconds']:.3f} s")
        time.sleep(2.0)  # let the seeded demo baselines drain
        load_before = load_average()
        runs = []
        for i in range(args.runs):
            r = submit_and_wait(arena, token, model, f"run {i}")
            runs.append(r)
            log(f"run {i}: {r['seconds']:.3f} s (arena CPU {r['cpu_seconds']:.2f} s)  " + "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["split"].items()))
        load_after = load_average()
    finally:
        arena.down()

    seconds = [r["seconds"] for r in runs]
    keys = list(runs[0]["split"].keys())
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                    "loadavg_before": load_before, "loadavg_after": load_after},
        "rows": args.rows,
        "model": {"layers": LAYERS, "parameters": parameters(), "bytes": len(model),
                  "precision": "fixed<16,6>"},
        "runs": args.runs,
        "p50": statistics.median(seconds),
        "p90": percentile(seconds, 0.9),
        "max": max(seconds),
        "min": min(seconds),
        "cpu_p50": statistics.median(r["cpu_seconds"] for r in runs),
        "upload_accepted_p50": statistics.median(r["upload_accepted_seconds"] for r in runs),
        "split_median_ms": {k: 1000 * statistics.median(r["split"].get(k, 0.0) for r in runs) for k in keys},
        "warmup_seconds": [w["seconds"] for w in warmups],
        "arena_up_seconds": up_seconds,
        "dataset_import_seconds": import_seconds,
        "scores": runs[-1]["scores"],
        "hardware": runs[-1]["hardware"],
        "log": runs[-1]["log"],
        "all": [{"seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"], "split": r["split"]}
                for r in runs],
    }
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
