//! Co-simulation: the generated RTL runs on N vectors in Verilator
//! (preferred) or Icarus Verilog, and every output is compared with the
//! bit-exact simulator.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::rtl::Design;
use super::testbench::{self, OUT_FILE};
use super::tools::{self, RunLimits};
use crate::CompiledModel;
use crate::error::{Error, Result};
use crate::ir::{LayerKind, Model};

/// Which HDL simulator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Simulator {
    Verilator,
    Icarus,
}

/// Co-simulation options.
#[derive(Debug, Clone)]
pub struct CosimOptions {
    pub vectors: usize,
    pub seed: u64,
    /// `None`: Verilator if installed, else Icarus.
    pub simulator: Option<Simulator>,
    /// Limits of the compile step and of the simulation run.
    pub limits: RunLimits,
}

impl Default for CosimOptions {
    fn default() -> Self {
        CosimOptions {
            vectors: 1000,
            seed: 1,
            simulator: None,
            limits: RunLimits {
                timeout_s: 1800,
                memory_mib: 16 << 10,
            },
        }
    }
}

/// Outcome of a co-simulation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CosimResult {
    pub simulator: Simulator,
    pub tool_version: String,
    pub vectors: usize,
    /// Output vectors that differ from the simulator in at least one element.
    pub mismatches: usize,
    /// Output elements compared.
    pub elements: u64,
    /// Up to ten mismatch descriptions.
    pub first_mismatches: Vec<String>,
    /// Latency observed in the testbench (cycles).
    pub latency_measured: Option<u32>,
    pub compile_s: f64,
    pub run_s: f64,
}

/// Test vectors: float inputs, the raw RTL inputs per port and the expected raw outputs per port.
#[derive(Debug, Clone)]
pub struct Stimulus {
    pub n: usize,
    pub floats: Vec<f32>,
    pub rtl_inputs: Vec<Vec<i64>>,
    pub expected: Vec<Vec<i64>>,
}

/// SplitMix64: a tiny deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The model restricted to its float-input layers (what the RTL receives).
fn input_model(m: &Model) -> Model {
    let layers: Vec<_> = m
        .layers
        .iter()
        .filter(|l| matches!(l.kind, LayerKind::InputQuant(_) | LayerKind::InputCast(_)))
        .cloned()
        .collect();
    let outputs = layers.iter().map(|l| l.output).collect();
    Model {
        tensors: m.tensors.clone(),
        layers,
        input_name: m.input_name.clone(),
        input_shape: m.input_shape.clone(),
        outputs,
    }
}

/// Random inputs spanning (and slightly exceeding) the quantized input range,
/// off-grid by a random fraction of an LSB to exercise rounding; or the given floats.
pub fn stimulus(
    model: &CompiledModel,
    n: usize,
    seed: u64,
    given: Option<&[f32]>,
) -> Result<Stimulus> {
    let ir = model.ir();
    let in_len = model.input_len();
    let floats = match given {
        Some(g) => {
            if g.len() != n * in_len {
                return Err(Error::Data(format!(
                    "{} input values for {n} vectors",
                    g.len()
                )));
            }
            g.to_vec()
        }
        None => {
            let mut rng = Rng(seed ^ 0x5EED);
            let first = ir
                .layers
                .iter()
                .find(|l| matches!(l.kind, LayerKind::InputQuant(_) | LayerKind::InputCast(_)))
                .map(|l| &ir.tensors[l.output]);
            let (lo, hi, lsb) = first.map_or((-4.0, 4.0, 1.0 / 256.0), |t| {
                let s = 2f64.powi(-t.ty.frac);
                (t.lo as f64 * s, t.hi as f64 * s, s)
            });
            let span = (hi - lo).max(lsb);
            (0..n * in_len)
                .map(|_| {
                    let x = lo - 0.1 * span + 1.2 * span * rng.unit();
                    let x = if rng.unit() < 0.5 {
                        (x / lsb).round() * lsb
                    } else {
                        x
                    };
                    x as f32
                })
                .collect()
        }
    };
    let rtl_inputs = crate::sim::run(&input_model(ir), &floats, n)?;
    let expected = model.simulate_raw(&floats, n)?.values;
    Ok(Stimulus {
        n,
        floats,
        rtl_inputs,
        expected,
    })
}

/// The simulator to use (`preferred` or whatever is installed).
pub fn pick_simulator(preferred: Option<Simulator>) -> Result<Simulator> {
    match preferred {
        Some(Simulator::Verilator) => tools::require("verilator").map(|_| Simulator::Verilator),
        Some(Simulator::Icarus) => {
            tools::require("iverilog")?;
            tools::require("vvp").map(|_| Simulator::Icarus)
        }
        None if tools::which("verilator").is_some() => Ok(Simulator::Verilator),
        None if tools::which("iverilog").is_some() && tools::which("vvp").is_some() => {
            Ok(Simulator::Icarus)
        }
        None => Err(Error::ToolMissing {
            tool: "verilator (or iverilog)".into(),
            hint: tools::install_hint("verilator"),
        }),
    }
}

/// Writes the design, testbench and vectors into `dir` and runs the HDL simulator.
pub fn run(
    model: &CompiledModel,
    design: &Design,
    opts: &CosimOptions,
    dir: &Path,
) -> Result<CosimResult> {
    let sim = pick_simulator(opts.simulator)?;
    let n = opts.vectors.max(1);
    let st = stimulus(model, n, opts.seed, None)?;
    run_stimulus(design, &st, sim, opts.limits, dir)
}

/// Runs a prepared stimulus.
pub fn run_stimulus(
    design: &Design,
    st: &Stimulus,
    sim: Simulator,
    limits: RunLimits,
    dir: &Path,
) -> Result<CosimResult> {
    std::fs::create_dir_all(dir).map_err(|e| Error::HwFile {
        path: dir.display().to_string(),
        detail: e.to_string(),
    })?;
    let n = st.n;
    let ins = design.inputs();
    let outs = design.outputs();
    tools::write_file(&dir.join("model.v"), &design.verilog)?;
    tools::write_file(&dir.join("tb.v"), &testbench::testbench(design, n))?;
    for (k, p) in ins.iter().enumerate() {
        let vals = st
            .rtl_inputs
            .get(k)
            .ok_or_else(|| Error::Hardware("missing input vectors".into()))?;
        let mut text = String::with_capacity(n * (p.elems * p.width as usize / 4 + 2));
        for s in 0..n {
            text.push_str(&testbench::pack_hex(
                &vals[s * p.elems..(s + 1) * p.elems],
                p.width,
            ));
            text.push('\n');
        }
        tools::write_file(&dir.join(format!("{}.hex", p.name)), &text)?;
    }
    let _ = std::fs::remove_file(dir.join(OUT_FILE));
    let t0 = Instant::now();
    let (version, compile_s, run) = match sim {
        Simulator::Verilator => {
            let v = tools::require("verilator")?;
            let args: Vec<String> = [
                "--binary",
                "-j",
                "2",
                "--top-module",
                "tb",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                // Verilator 5.006 miscompiles some shift/round chains with this
                // optimization on (trunc_v2 fixture); off, it matches Icarus.
                "-fno-const-bit-op-tree",
                "--Mdir",
                "obj",
                "-o",
                "Vtb",
                "--x-assign",
                "fast",
                "--x-initial",
                "fast",
                "-CFLAGS",
                "-O1",
                "tb.v",
                "model.v",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let build = tools::run(&v, &args, dir, "verilator_build", limits)?;
            tools::check("verilator", &build, limits)?;
            let compile_s = t0.elapsed().as_secs_f64();
            let run = tools::run(
                &dir.join("obj").join("Vtb"),
                &[],
                dir,
                "verilator_run",
                limits,
            )?;
            tools::check("verilator simulation", &run, limits)?;
            (
                tools::version("verilator", "--version").unwrap_or_default(),
                compile_s,
                run,
            )
        }
        Simulator::Icarus => {
            let iv = tools::require("iverilog")?;
            let vvp = tools::require("vvp")?;
            let args: Vec<String> = ["-g2005", "-o", "tb.vvp", "tb.v", "model.v"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let build = tools::run(&iv, &args, dir, "iverilog_build", limits)?;
            tools::check("iverilog", &build, limits)?;
            let compile_s = t0.elapsed().as_secs_f64();
            let run = tools::run(
                &vvp,
                &["-n".into(), "tb.vvp".into()],
                dir,
                "vvp_run",
                limits,
            )?;
            tools::check("vvp", &run, limits)?;
            (
                tools::version("iverilog", "-V").unwrap_or_default(),
                compile_s,
                run,
            )
        }
    };
    let run_s = run.elapsed_s;
    let latency_measured = run
        .stdout
        .lines()
        .find_map(|l| l.split("ARENA_TB latency=").nth(1))
        .and_then(|s| s.trim().parse::<u32>().ok());
    let text = tools::read_file(&dir.join(OUT_FILE))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut mismatches = 0usize;
    let mut first = Vec::new();
    let mut elements = 0u64;
    for s in 0..n {
        let Some(line) = lines.get(s) else {
            mismatches += 1;
            if first.len() < 10 {
                first.push(format!("vector {s}: no output from the RTL"));
            }
            continue;
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let mut bad = false;
        for (k, p) in outs.iter().enumerate() {
            let got = fields
                .get(k)
                .and_then(|f| testbench::unpack_hex(f, p.elems, p.width, p.signed));
            let want = st
                .expected
                .get(k)
                .map(|v| &v[s * p.elems..(s + 1) * p.elems]);
            elements += p.elems as u64;
            match (got, want) {
                (Some(g), Some(w)) => {
                    if let Some(e) = g.iter().zip(w).position(|(a, b)| a != b) {
                        bad = true;
                        if first.len() < 10 {
                            first.push(format!(
                                "vector {s} output {} element {e}: RTL {}, simulator {}",
                                p.name, g[e], w[e]
                            ));
                        }
                    }
                }
                _ => {
                    bad = true;
                    if first.len() < 10 {
                        first.push(format!(
                            "vector {s} output {}: unreadable line '{line}'",
                            p.name
                        ));
                    }
                }
            }
        }
        if bad {
            mismatches += 1;
        }
    }
    // A vector offered every II cycles must always be taken.
    let refused = run
        .stdout
        .lines()
        .filter(|l| l.contains(testbench::NOT_READY))
        .count();
    if refused > 0 {
        mismatches = mismatches.max(refused);
        first.insert(
            0,
            format!("the design refused {refused} vectors offered every II cycles (in_ready low)"),
        );
        first.truncate(10);
    }
    Ok(CosimResult {
        simulator: sim,
        tool_version: version,
        vectors: n,
        mismatches,
        elements,
        first_mismatches: first,
        latency_measured,
        compile_s,
        run_s,
    })
}
