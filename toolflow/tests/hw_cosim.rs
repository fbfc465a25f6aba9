//! Co-simulation of the generated RTL against the bit-exact simulator on
//! the QONNX fixture suite.
//!
//! - `rtl_matches_simulator_on_fixtures`: seven fixtures (dense, conv,
//!   requantization with every rounding/zero-point case), 200 vectors each,
//!   Icarus when installed (fast to compile), else Verilator.
//! - `verilator_matches_simulator`: one fixture through Verilator.
//! - `time_shared_rtl_matches_simulator`: reuse factor > 1 (II > 1): a
//!   fixture at R 4 and a float MLP with a per-product accumulator whose
//!   layers run at R 2 and 3, 200 vectors, Icarus (or Verilator).
//! - `time_shared_verilator` (ignored, slow): dense and conv models at R 2
//!   and 4, 2,000 vectors, Verilator.
//! - `all_fixtures_verilator` (ignored, slow): every fixture, 10,000 vectors
//!   (`ARENA_COSIM_VECTORS` overrides), Verilator.

use std::path::{Path, PathBuf};

use toolflow::hw::cosim::{self, CosimOptions, Simulator};
use toolflow::hw::devices;
use toolflow::hw::rtl::{self, NetOptions};
use toolflow::hw::tools;
use toolflow::ir::{Accum, LayerKind};
use toolflow::{CompiledModel, Limits, PrecisionConfig, compile};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

fn work_dir(name: &str, sim: Option<Simulator>) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "arena-hw-cosim-{}-{sim:?}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Runs one fixture; returns (vectors, mismatches, latency) or an error text.
fn cosim_fixture(
    name: &str,
    vectors: usize,
    sim: Option<Simulator>,
) -> Result<(usize, usize, u32), String> {
    let path = fixture_dir().join(format!("{name}.onnx"));
    let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
    let model = compile(&bytes, None, &Limits::default()).map_err(|e| format!("{name}: {e}"))?;
    cosim_model(name, &model, 1, vectors, sim)
}

/// A fixture compiled with every layer at reuse factor `reuse`.
fn with_reuse(name: &str, reuse: u32) -> Result<CompiledModel, String> {
    let path = fixture_dir().join(format!("{name}.onnx"));
    let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
    let cfg = PrecisionConfig::parse(&format!("Model:\n  ReuseFactor: {reuse}\n"))
        .map_err(|e| e.to_string())?;
    compile(&bytes, Some(&cfg), &Limits::default()).map_err(|e| format!("{name}: {e}"))
}

/// Co-simulates a compiled model whose design must have initiation interval
/// `ii`; returns (vectors, mismatches, latency) or an error text.
fn cosim_model(
    name: &str,
    model: &CompiledModel,
    ii: u32,
    vectors: usize,
    sim: Option<Simulator>,
) -> Result<(usize, usize, u32), String> {
    let dev = devices::device("xc7a100t").map_err(|e| e.to_string())?;
    let design = rtl::generate(model, "dut_top", dev, 5.0, &NetOptions::default())
        .map_err(|e| format!("{name}: rtl: {e}"))?;
    if design.ii != ii {
        return Err(format!("{name}: design II {}, expected {ii}", design.ii));
    }
    let dir = work_dir(name, sim);
    let opts = CosimOptions {
        vectors,
        simulator: sim,
        ..Default::default()
    };
    let r = cosim::run(model, &design, &opts, &dir).map_err(|e| format!("{name}: cosim: {e}"))?;
    if r.mismatches == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if r.mismatches > 0 {
        return Err(format!(
            "{name}: {} of {} vectors differ (work dir {}):\n  {}",
            r.mismatches,
            r.vectors,
            dir.display(),
            r.first_mismatches.join("\n  ")
        ));
    }
    if r.latency_measured != Some(design.latency()) {
        return Err(format!(
            "{name}: testbench measured latency {:?}, schedule says {}",
            r.latency_measured,
            design.latency()
        ));
    }
    Ok((r.vectors, r.mismatches, design.latency()))
}

const QUICK: &[&str] = &[
    "mlp_matmul_relu",
    "mlp_gemm",
    "mlp_wide_16bit",
    "quant_rounding_round",
    "quant_nonzero_zeropoint",
    "conv1d",
    "ternary_mlp",
];

fn run_all(names: &[String], vectors: usize, sim: Option<Simulator>) {
    let mut failures = Vec::new();
    for name in names {
        match cosim_fixture(name, vectors, sim) {
            Ok((n, m, lat)) => eprintln!("ok   {name}: {n} vectors, {m} mismatches, latency {lat}"),
            Err(e) => {
                eprintln!("FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

#[test]
fn rtl_matches_simulator_on_fixtures() {
    let sim = if tools::which("iverilog").is_some() && tools::which("vvp").is_some() {
        Simulator::Icarus
    } else if tools::which("verilator").is_some() {
        Simulator::Verilator
    } else {
        eprintln!(
            "SKIP: neither iverilog nor verilator on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    };
    let names: Vec<String> = QUICK.iter().map(|s| s.to_string()).collect();
    run_all(&names, 200, Some(sim));
}

#[test]
fn verilator_matches_simulator() {
    if tools::which("verilator").is_none() {
        eprintln!(
            "SKIP: verilator not on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    }
    run_all(
        &["mlp_matmul_relu".to_string()],
        500,
        Some(Simulator::Verilator),
    );
}

/// A float MLP 12-20-6 (Gemm, ReLU) with deterministic weights on the
/// 6-bit grid, compiled with hls4ml-style precision: a 14-bit wrapping
/// accumulator narrower than the products (per-product casts) and reuse
/// factor `reuse` (with `first`: the first layer at that reuse factor instead).
fn per_product_mlp(reuse: u32, first: Option<u32>) -> Result<CompiledModel, String> {
    use toolflow::onnx::build::ModelBuilder;
    let (n0, n1, n2) = (12usize, 20usize, 6usize);
    let grid = |i: usize, salt: usize| -> f32 {
        let v = ((i * 37 + salt * 11) % 63) as f32 - 31.0;
        v / 32.0
    };
    let w0: Vec<f32> = (0..n0 * n1).map(|i| grid(i, 1)).collect();
    let w1: Vec<f32> = (0..n1 * n2).map(|i| grid(i, 2)).collect();
    let b0: Vec<f32> = (0..n1).map(|i| grid(i, 3) / 4.0).collect();
    let b1: Vec<f32> = (0..n2).map(|i| grid(i, 4) / 4.0).collect();
    let bytes = ModelBuilder::new("x", &[-1, n0 as i64])
        .init("w0", &[n0 as i64, n1 as i64], &w0)
        .init("b0", &[n1 as i64], &b0)
        .init("w1", &[n1 as i64, n2 as i64], &w1)
        .init("b1", &[n2 as i64], &b1)
        .node("Gemm", &["x", "w0", "b0"], &["h0"], vec![])
        .node("Relu", &["h0"], &["r0"], vec![])
        .node("Gemm", &["r0", "w1", "b1"], &["y"], vec![])
        .output("y")
        .bytes();
    let text = format!(
        "Model:\n  Precision: {{default: 'fixed<16,6>', weight: 'fixed<6,1>', accum: 'fixed<14,6>'}}\n  ReuseFactor: {reuse}\n"
    );
    let build = |text: &str| {
        let cfg = PrecisionConfig::parse(text).map_err(|e| e.to_string())?;
        compile(&bytes, Some(&cfg), &Limits::default()).map_err(|e| format!("per_product_mlp: {e}"))
    };
    let mut model = build(&text)?;
    if let Some(r) = first {
        let name = model
            .ir()
            .layers
            .iter()
            .find(|l| matches!(l.kind, LayerKind::Dense(_)))
            .map(|l| l.name.clone())
            .ok_or("per_product_mlp: no dense layer")?;
        model = build(&format!(
            "{text}LayerName:\n  {name}:\n    ReuseFactor: {r}\n"
        ))?;
    }
    let per_product = model.ir().layers.iter().any(
        |l| matches!(&l.kind, LayerKind::Dense(d) if matches!(d.accum, Accum::PerProduct { .. })),
    );
    if !per_product {
        return Err("per_product_mlp: no layer has a per-product accumulator".into());
    }
    Ok(model)
}

/// A float MLP 10-12-4 with 12-bit weights and 16-bit activations: its
/// time-shared multipliers are DSPs fed by per-phase weight ROMs.
fn dsp_mlp(reuse: u32) -> Result<CompiledModel, String> {
    use toolflow::onnx::build::ModelBuilder;
    let (n0, n1, n2) = (10usize, 12usize, 4usize);
    let w = |i: usize, salt: usize| -> f32 {
        let v = ((i * 2_654_435_761 + salt * 40_503) % 4093) as f32 - 2046.0;
        v / 2048.0
    };
    let w0: Vec<f32> = (0..n0 * n1).map(|i| w(i, 1)).collect();
    let w1: Vec<f32> = (0..n1 * n2).map(|i| w(i, 2)).collect();
    let bytes = ModelBuilder::new("x", &[-1, n0 as i64])
        .init("w0", &[n0 as i64, n1 as i64], &w0)
        .init("w1", &[n1 as i64, n2 as i64], &w1)
        .node("Gemm", &["x", "w0"], &["h0"], vec![])
        .node("Relu", &["h0"], &["r0"], vec![])
        .node("Gemm", &["r0", "w1"], &["y"], vec![])
        .output("y")
        .bytes();
    let cfg = PrecisionConfig::parse(&format!(
        "Model:\n  Precision: {{default: 'fixed<16,6>', weight: 'fixed<12,1>', accum: auto}}\n  ReuseFactor: {reuse}\n"
    ))
    .map_err(|e| e.to_string())?;
    let model =
        compile(&bytes, Some(&cfg), &Limits::default()).map_err(|e| format!("dsp_mlp: {e}"))?;
    let dev = devices::device("xc7a100t").map_err(|e| e.to_string())?;
    let est = toolflow::hw::estimate::estimate(&model, dev, 5.0).map_err(|e| e.to_string())?;
    if est.dsp == 0 {
        return Err("dsp_mlp: no DSP in the time-shared datapath".into());
    }
    Ok(model)
}

/// Time-shared fixtures: (fixture, reuse factor, expected II).
fn run_reuse(cases: &[(&str, u32, u32)], vectors: usize, sim: Option<Simulator>) {
    let mut failures = Vec::new();
    for &(name, reuse, ii) in cases {
        let label = format!("{name}_r{reuse}");
        let model = if name == "per_product_mlp" {
            per_product_mlp(reuse, None)
        } else if name == "dsp_mlp" {
            dsp_mlp(reuse)
        } else if name == "mixed_reuse_mlp" {
            // First layer at R 2, second at `reuse`: II is the larger.
            per_product_mlp(reuse, Some(2))
        } else {
            with_reuse(name, reuse)
        };
        let res = model.and_then(|m| cosim_model(&label, &m, ii, vectors, sim));
        match res {
            Ok((n, m, lat)) => {
                eprintln!("ok   {label}: II {ii}, {n} vectors, {m} mismatches, latency {lat}")
            }
            Err(e) => {
                eprintln!("FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn time_shared_rtl_matches_simulator() {
    let sim = if tools::which("iverilog").is_some() && tools::which("vvp").is_some() {
        Simulator::Icarus
    } else if tools::which("verilator").is_some() {
        Simulator::Verilator
    } else {
        eprintln!(
            "SKIP: neither iverilog nor verilator on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    };
    run_reuse(
        &[
            ("mlp_gemm", 4, 4),
            ("mixed_reuse_mlp", 3, 3),
            ("dsp_mlp", 2, 2),
        ],
        200,
        Some(sim),
    );
}

/// Reuse factors 2 and 4 on dense and conv fixtures, 1,000+ vectors each
/// (`ARENA_COSIM_VECTORS` overrides), Verilator.
#[test]
#[ignore = "slow: time-shared fixtures through Verilator with 2,000 vectors"]
fn time_shared_verilator() {
    if tools::which("verilator").is_none() {
        eprintln!("SKIP: verilator not on PATH");
        return;
    }
    let vectors: usize = std::env::var("ARENA_COSIM_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let mut cases = Vec::new();
    for name in [
        "per_product_mlp",
        "mlp_gemm",
        "mlp_matmul_relu",
        "mlp_wide_16bit",
        "conv1d",
        "conv2d_stride_pad_dilation",
    ] {
        for r in [2, 4] {
            cases.push((name, r, r));
        }
    }
    cases.push(("mixed_reuse_mlp", 4, 4));
    cases.push(("dsp_mlp", 4, 4));
    run_reuse(&cases, vectors, Some(Simulator::Verilator));
}

#[test]
#[ignore = "slow: every fixture through Verilator with 10,000 vectors"]
fn all_fixtures_verilator() {
    if tools::which("verilator").is_none() {
        eprintln!("SKIP: verilator not on PATH");
        return;
    }
    let vectors: usize = std::env::var("ARENA_COSIM_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if let Ok(only) = std::env::var("ARENA_COSIM_ONLY") {
        names.retain(|n| only.split(',').any(|o| o == n));
    }
    run_all(&names, vectors, Some(Simulator::Verilator));
}

/// A jet-tagger-shaped MLP 16-24-12-5 (Gemm + ReLU, 6-bit weights,
/// fixed<16,6> activations, exact accumulators), fully parallel: its dense
/// layers are built as constant matrix-vector products with subexpressions
/// shared across outputs.
fn shared_subexpression_mlp() -> Result<CompiledModel, String> {
    use toolflow::onnx::build::ModelBuilder;
    let sizes = [16usize, 24, 12, 5];
    let mut b = ModelBuilder::new("x", &[-1, sizes[0] as i64]);
    let mut prev = "x".to_string();
    for (l, pair) in sizes.windows(2).enumerate() {
        let (n_in, n_out) = (pair[0], pair[1]);
        // Deterministic 6-bit weights on the 2^-5 grid in [-1, 1), biases on 2^-10.
        let w: Vec<f32> = (0..n_in * n_out)
            .map(|i| (((i * 2_654_435_761 + l * 97) % 63) as f32 - 31.0) / 32.0)
            .collect();
        let bias: Vec<f32> = (0..n_out)
            .map(|o| (((o * 40_503 + l) % 201) as f32 - 100.0) / 1024.0)
            .collect();
        let (wn, bn, hn) = (format!("w{l}"), format!("b{l}"), format!("h{l}"));
        b = b
            .init(&wn, &[n_in as i64, n_out as i64], &w)
            .init(&bn, &[n_out as i64], &bias)
            .node("Gemm", &[&prev, &wn, &bn], &[&hn], vec![]);
        prev = hn;
        if l + 2 < sizes.len() {
            let rn = format!("r{l}");
            b = b.node("Relu", &[&prev], &[&rn], vec![]);
            prev = rn;
        }
    }
    let bytes = b
        .node("Identity", &[&prev], &["y"], vec![])
        .output("y")
        .bytes();
    let cfg = PrecisionConfig::parse(
        // `accum: auto`: hls4ml infers an accumulator wide enough for the sums, so the
        // dense layers are exact constant matrix-vector products (shared subexpressions).
        "Model:\n  Precision: {default: 'fixed<16,6>', weight: 'fixed<6,1>', accum: auto}\n  ReuseFactor: 1\n",
    )
    .map_err(|e| e.to_string())?;
    compile(&bytes, Some(&cfg), &Limits::default()).map_err(|e| format!("shared mlp: {e}"))
}

/// Shared subexpressions (`rtl::cmvm`) and the register placement that
/// narrows stage boundaries, through Verilator: the MLP above and the
/// 12-bit-weight MLP whose wide products go to DSP blocks beside the
/// shared shift-add network, fully parallel, 0 mismatches.
#[test]
fn shared_subexpressions_match_simulator() {
    if tools::which("verilator").is_none() {
        eprintln!(
            "SKIP: verilator not on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    }
    let model = shared_subexpression_mlp().expect("model");
    // The network really shares: fewer adders than one per extra digit.
    let dev = devices::device("xc7a100t").expect("device");
    let design = rtl::generate(&model, "dut_top", dev, 5.0, &NetOptions::default()).expect("rtl");
    let adders = design
        .net
        .nodes
        .iter()
        .filter(|n| matches!(n.op, rtl::net::Op::Add(..)))
        .count();
    let mut digits = 0usize;
    for layer in &model.ir().layers {
        if let LayerKind::Dense(d) = &layer.kind {
            for o in 0..d.n_out {
                let row = &d.weights[o * d.n_in..(o + 1) * d.n_in];
                let n: usize = row
                    .iter()
                    .map(|&w| rtl::net::csd_weight(i128::from(w)) as usize)
                    .sum();
                digits += n; // n - 1 adders for the products, 1 for the bias
            }
        }
    }
    assert!(
        adders * 10 < digits * 8,
        "{adders} adders for {digits} digits: no sharing"
    );
    let (n, m, lat) = cosim_model("shared_mlp", &model, 1, 500, Some(Simulator::Verilator))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "ok   shared_mlp: {n} vectors, {m} mismatches, latency {lat}, {adders} adders for {digits} digits"
    );
    run_reuse(&[("dsp_mlp", 1, 1)], 500, Some(Simulator::Verilator));
}
