//! Boosted decision trees (XGBoost JSON) against conifer's bit-accurate C++
//! emulation, the RTL against the simulator, and bad model files.
//!
//! Fixtures in tests/fixtures/bdt come from python/make_bdt_fixtures.py:
//! three XGBoost classifiers (5 trees depth 2, 20 trees depth 3, 60 trees
//! depth 4) trained on the `coastal-flooding` demo dataset's training split,
//! with conifer 1.11's outputs (cpp backend, ap_fixed) on 300 inputs.

mod common;

use std::path::{Path, PathBuf};

use toolflow::hw::tools;
use toolflow::{CompiledModel, Family, Limits, PrecisionConfig, compile};

const SIZES: &[&str] = &["bdt_small", "bdt_medium", "bdt_large"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdt")
}

fn load(name: &str) -> CompiledModel {
    let bytes = std::fs::read(dir().join(format!("{name}.json"))).unwrap();
    let yaml = std::fs::read_to_string(dir().join(format!("{name}.yaml"))).unwrap();
    let cfg = PrecisionConfig::parse(&yaml).unwrap();
    compile(&bytes, Some(&cfg), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn inputs() -> (Vec<f32>, usize) {
    common::fixture_inputs(&dir().join("inputs.json"))
}

#[test]
fn simulator_equals_conifer_emulation() {
    let (x, n) = inputs();
    for name in SIZES {
        let model = load(name);
        assert!(
            matches!(model.family(), Family::Bdt(_)),
            "{name}: not read as BDT"
        );
        assert_eq!(model.input_shape(), &[12, 7]);
        let expected = common::floats(
            &common::json(&dir().join(format!("{name}.expected.json"))),
            "y",
        );
        assert_eq!(expected.len(), n);
        let raw = model.simulate_raw(&x, n).unwrap();
        let frac = raw.types[0].frac;
        let mut mismatches = Vec::new();
        for (i, (&got, &want)) in raw.values[0].iter().zip(&expected).enumerate() {
            let want_raw = want * 2f64.powi(frac);
            assert_eq!(want_raw.fract(), 0.0, "{name}: conifer output off the grid");
            if got as f64 != want_raw {
                mismatches.push(format!("row {i}: {got} vs conifer {want_raw}"));
            }
        }
        let distinct: std::collections::BTreeSet<i64> = raw.values[0].iter().copied().collect();
        eprintln!(
            "{name}: {n} rows, {} mismatches, {} distinct outputs, {:?}",
            mismatches.len(),
            distinct.len(),
            model.summary().layers[1].op
        );
        assert!(distinct.len() > 3, "{name}: outputs hardly vary; weak test");
        assert!(mismatches.is_empty(), "{name}: {mismatches:?}");
    }
}

#[test]
fn estimate_has_no_dsp_and_tree_latency() {
    for name in SIZES {
        common::assert_tree_estimate(&load(name), name, 12);
    }
}

#[test]
fn rtl_matches_simulator_in_verilator() {
    if tools::which("verilator").is_none() {
        eprintln!(
            "SKIP: verilator not on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    }
    let (x, n) = inputs();
    for name in ["bdt_small", "bdt_large"] {
        common::assert_tree_rtl_matches(&load(name), name, &x, n);
    }
}

fn tiny(tree: &str) -> String {
    format!(
        r#"{{"learner": {{"attributes": {{}},
          "gradient_booster": {{"name": "gbtree", "model": {{"tree_info": [0], "trees": [{tree}]}}}},
          "learner_model_param": {{"base_score": "5E-1", "num_class": "0", "num_feature": "2", "num_target": "1"}},
          "objective": {{"name": "binary:logistic"}}}}, "version": [3, 2, 0]}}"#
    )
}

const GOOD_TREE: &str = r#"{"left_children": [1, -1, -1], "right_children": [2, -1, -1],
    "split_indices": [1, 0, 0], "split_conditions": [0.25, -1.5, 2.0], "split_type": [0, 0, 0]}"#;

#[test]
fn tiny_model_by_hand() {
    let model = compile(tiny(GOOD_TREE).as_bytes(), None, &Limits::default()).unwrap();
    // logit(0.5) = 0; x1 < 0.25 -> -1.5 else 2.0 (fixed<18,8>: exact).
    let y = model
        .simulate_f32(&[0.0, 0.0, 0.0, 0.25, 9.0, 255.0 / 1024.0], 3)
        .unwrap();
    assert_eq!(y, vec![-1.5, 2.0, -1.5]);
    // 0.2499 truncates to 255/1024 (fixed<18,8> has 10 fraction bits): left.
    assert_eq!(model.simulate_f32(&[0.0, 0.2499], 1).unwrap(), vec![-1.5]);
}

#[test]
fn bad_models_are_refused_with_a_reason() {
    let cases = [
        (
            tiny(
                r#"{"left_children": [1, -1, -1], "right_children": [5, -1, -1],
                "split_indices": [1, 0, 0], "split_conditions": [0.25, -1.5, 2.0]}"#,
            ),
            "outside the tree",
        ),
        (
            tiny(
                r#"{"left_children": [1, -1, -1], "right_children": [2, -1, -1],
                "split_indices": [7, 0, 0], "split_conditions": [0.25, -1.5, 2.0]}"#,
            ),
            "feature 7",
        ),
        (
            tiny(
                r#"{"left_children": [1, 0, -1], "right_children": [2, 2, -1],
                "split_indices": [0, 0, 0], "split_conditions": [0.25, -1.5, 2.0]}"#,
            ),
            "reached twice",
        ),
        (
            tiny(
                r#"{"left_children": [1, -1, -1], "right_children": [2, -1, -1],
                "split_indices": [1, 0, 0], "split_conditions": [0.25, -1.5, 2.0], "split_type": [1, 0, 0]}"#,
            ),
            "categorical",
        ),
        (
            tiny(
                r#"{"left_children": [1, -1], "right_children": [2, -1, -1],
                "split_indices": [1, 0, 0], "split_conditions": [0.25, -1.5, 2.0]}"#,
            ),
            "differ in length",
        ),
        (r#"{"learner": {}}"#.to_string(), "missing"),
        (r#"{"hello": 1}"#.to_string(), "XGBoost"),
        (r#"{"learner": "#.to_string(), "does not parse"),
    ];
    for (text, want) in cases {
        let err = compile(text.as_bytes(), None, &Limits::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string();
        assert!(err.contains(want), "`{err}` does not mention `{want}`");
    }
    // A saturating score type is refused (conifer's sums wrap).
    let cfg = PrecisionConfig::parse("Model:\n  Precision: 'fixed<16,6,RND,SAT>'\n").unwrap();
    let err = compile(tiny(GOOD_TREE).as_bytes(), Some(&cfg), &Limits::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("wrap"), "{err}");
}

/// Byte mutations of a real model never panic: every result is a model or an error.
#[test]
fn mutated_xgboost_files_never_panic() {
    let original = std::fs::read(dir().join("bdt_small.json")).unwrap();
    let (x, _) = inputs();
    let (_, refused) = common::json_mutants(&original, 0x2545_F491_4F6C_DD1Du64, 400, &x);
    assert!(refused > 0);
}
