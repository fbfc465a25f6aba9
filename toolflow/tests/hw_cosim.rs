//! Co-simulation of the generated RTL against the bit-exact simulator on
//! the QONNX fixture suite.
//!
//! - `rtl_matches_simulator_on_fixtures`: seven fixtures (dense, conv,
//!   requantization with every rounding/zero-point case), 200 vectors each,
//!   Icarus when installed (fast to compile), else Verilator.
//! - `verilator_matches_simulator`: one fixture through Verilator.
//! - `all_fixtures_verilator` (ignored, slow): every fixture, 10,000 vectors
//!   (`ARENA_COSIM_VECTORS` overrides), Verilator.

use std::path::{Path, PathBuf};

use toolflow::hw::cosim::{self, CosimOptions, Simulator};
use toolflow::hw::devices;
use toolflow::hw::rtl::{self, NetOptions};
use toolflow::hw::tools;
use toolflow::{Limits, compile};

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
    let dev = devices::device("xc7a100t").map_err(|e| e.to_string())?;
    let design = rtl::generate(&model, "dut_top", dev, 5.0, &NetOptions::default())
        .map_err(|e| format!("{name}: rtl: {e}"))?;
    let dir = work_dir(name, sim);
    let opts = CosimOptions {
        vectors,
        simulator: sim,
        ..Default::default()
    };
    let r = cosim::run(&model, &design, &opts, &dir).map_err(|e| format!("{name}: cosim: {e}"))?;
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
