//! Kolmogorov-Arnold networks (`arena-kan/1` JSON): the simulator equals
//! the reference evaluation of the same quantized tables in
//! python/make_kan_fixtures.py (tables compared by SHA-256, outputs bit for
//! bit), the RTL (ROM per edge, adder trees) equals the simulator in
//! Icarus Verilog (or Verilator), and malformed files are refused with a reason.

mod common;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toolflow::hw::cosim::{self, Simulator};
use toolflow::hw::devices;
use toolflow::hw::estimate;
use toolflow::hw::rtl::{self, NetOptions, net::Op};
use toolflow::hw::tools;
use toolflow::kan::Kan;
use toolflow::{CompiledModel, Family, Limits, PrecisionConfig, compile};

const MODELS: &[&str] = &["kan_flood", "kan_deep"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> CompiledModel {
    let bytes = std::fs::read(fixtures().join(format!("kan/{name}.json"))).unwrap();
    compile(&bytes, None, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn kan(model: &CompiledModel) -> &Kan {
    match model.family() {
        Family::Kan(k) => k,
        other => panic!("read as {}", other.name()),
    }
}

/// The shared fixture inputs (python/make_bdt_fixtures.py): 300 rows of 84 values.
fn inputs() -> (Vec<f32>, usize) {
    common::fixture_inputs(&fixtures().join("bdt/inputs.json"))
}

/// The tables in the reference script's canonical text (all-zero tables written out).
fn tables_sha256(k: &Kan) -> String {
    let layers: Vec<String> = k
        .layers
        .iter()
        .map(|l| {
            let len = (l.in_type.max_raw() - l.in_type.min_raw() + 1) as usize;
            l.tables
                .iter()
                .map(|t| {
                    let zeros = vec![0i64; len];
                    let t = t.as_ref().unwrap_or(&zeros);
                    t.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                })
                .collect::<Vec<_>>()
                .join(";")
        })
        .collect();
    hex::encode(Sha256::digest(layers.join("|").as_bytes()))
}

#[test]
fn simulator_equals_python_reference() {
    let (x, n) = inputs();
    for name in MODELS {
        let model = load(name);
        let expected = common::json(&fixtures().join(format!("kan/{name}.expected.json")));
        assert_eq!(
            tables_sha256(kan(&model)),
            expected["tables_sha256"].as_str().unwrap(),
            "{name}: the tables differ from the reference's"
        );
        let want: Vec<i64> = expected["y_raw"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let raw = model.simulate_raw(&x, n).unwrap();
        assert_eq!(
            raw.types[0].frac as i64,
            expected["output_frac"].as_i64().unwrap()
        );
        let got = &raw.values[0];
        assert_eq!(got.len(), want.len());
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
        let distinct: std::collections::BTreeSet<i64> = got.iter().copied().collect();
        eprintln!(
            "{name}: {} outputs, {} mismatches, {} distinct; {}",
            got.len(),
            bad.len(),
            distinct.len(),
            model.summary().layers[1].op
        );
        assert!(distinct.len() > 20, "{name}: outputs hardly vary");
        assert!(
            bad.is_empty(),
            "{name}: first mismatches at {:?}",
            &bad[..bad.len().min(10)]
        );
    }
}

#[test]
fn rtl_maps_tables_to_roms_and_matches_the_simulator() {
    let (x, n) = inputs();
    let dev = devices::device("xc7a35t").unwrap();
    for name in MODELS {
        let model = load(name);
        let design = rtl::generate(&model, "kan_top", dev, 10.0, &NetOptions::default()).unwrap();
        let roms = design
            .net
            .nodes
            .iter()
            .filter(|nd| matches!(nd.op, Op::Rom { .. }))
            .count();
        let mults = design
            .net
            .nodes
            .iter()
            .filter(|nd| matches!(nd.op, Op::Mul(..) | Op::MulConst(..)))
            .count();
        let (edges, _) = kan(&model).table_stats();
        eprintln!(
            "{name}: {roms} ROMs for {edges} non-zero edges, latency {}",
            design.latency()
        );
        assert!(roms > 0 && roms <= edges);
        assert_eq!(mults, 0);
        let e = estimate::estimate(&model, dev, 10.0).unwrap();
        eprintln!(
            "{name}: estimate {} LUT {} FF {} DSP {} cycles",
            e.lut, e.ff, e.dsp, e.latency_cycles
        );
        assert_eq!(e.dsp, 0);
        assert!(e.lut > 0);
        // Icarus compiles the ROM case tables in seconds (Verilator's C++ takes a minute).
        let Ok(simulator) = cosim::pick_simulator(
            tools::which("iverilog")
                .is_some()
                .then_some(Simulator::Icarus),
        ) else {
            eprintln!(
                "SKIP cosim: neither iverilog nor verilator on PATH ({})",
                tools::install_hint("verilator")
            );
            continue;
        };
        let st = common::fixture_rows_then_random(&model, &x, n, 5);
        let work = std::env::temp_dir().join(format!("arena-kan-{}-{name}", std::process::id()));
        let r = cosim::run_stimulus(&design, &st, simulator, common::COSIM_LIMITS, &work).unwrap();
        common::assert_cosim_clean(name, &r, &design);
        let _ = std::fs::remove_dir_all(&work);
    }
}

fn small(layer: &str, input_type: &str) -> String {
    format!(r#"{{"format": "arena-kan/1", "input_type": "{input_type}", "layers": [{layer}]}}"#)
}

const LAYER: &str = r#"{"in": 2, "out": 1, "degree": 1, "grid": [-1.0, 0.0, 1.0],
    "coef": [[[0.5], [-1.0]]], "table_type": "fixed<8,3>", "output_type": "fixed<8,3>"}"#;

#[test]
fn hand_checked_tiny_kan() {
    // Degree 1 on knots -1, 0, 1: one hat function peaking at 0.
    // phi_0 = 0.5 * hat, phi_1 = -hat; x = (0, 0.5): 0.5 - 0.5 = 0.
    let model = compile(
        small(LAYER, "fixed<6,2>").as_bytes(),
        None,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(model.simulate_f32(&[0.0, 0.5], 1).unwrap(), vec![0.0]);
    assert_eq!(model.simulate_f32(&[0.0, 1.0], 1).unwrap(), vec![0.5]);
    assert_eq!(model.simulate_f32(&[-0.5, 0.0], 1).unwrap(), vec![-0.75]);
}

#[test]
fn bad_kan_files_are_refused_with_a_reason() {
    let cases = [
        (small(LAYER, "fixed<16,2>"), "at most 12"),
        (
            small(
                &LAYER.replace("[[[0.5], [-1.0]]]", "[[[0.5, 1.0], [-1.0]]]"),
                "fixed<6,2>",
            ),
            "basis functions",
        ),
        (
            small(
                &LAYER.replace("[-1.0, 0.0, 1.0]", "[1.0, 0.0, -1.0]"),
                "fixed<6,2>",
            ),
            "non-decreasing",
        ),
        (
            small(&LAYER.replace("\"in\": 2", "\"in\": 3"), "fixed<6,2>"),
            "[out=1][in=3]",
        ),
        (
            small(LAYER, "fixed<6,2>").replace("arena-kan/1", "arena-kan/9"),
            "format",
        ),
        (small(LAYER, "floaty<6,2>"), "input_type"),
        (
            small(
                &LAYER.replace("\"degree\": 1", "\"degree\": 1, \"colour\": 2"),
                "fixed<6,2>",
            ),
            "colour",
        ),
        (
            r#"{"format": "arena-kan/1", "input_type": "fixed<6,2>", "layers": []}"#.to_string(),
            "layers",
        ),
    ];
    for (text, want) in cases {
        let err = compile(text.as_bytes(), None, &Limits::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string();
        assert!(err.contains(want), "`{err}` does not mention `{want}`");
    }
    let cfg = PrecisionConfig::parse("Model:\n  Precision: 'fixed<16,6>'\n").unwrap();
    let err = compile(
        small(LAYER, "fixed<6,2>").as_bytes(),
        Some(&cfg),
        &Limits::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("own types"), "{err}");
}

/// Byte mutations of a real model never panic: every result is a model or an error.
#[test]
fn mutated_kan_files_never_panic() {
    let original = std::fs::read(fixtures().join("kan/kan_deep.json")).unwrap();
    let (x, _) = inputs();
    let (_, refused) = common::json_mutants(&original, 0x9E37_79B9_7F4A_7C15u64, 150, &x);
    assert!(refused > 0);
}
