//! `arena compile` from the command line: the IR summary carries the
//! analytical hardware estimate, and bad arguments are one clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ARENA: &str = env!("CARGO_BIN_EXE_arena");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("toolflow/tests/fixtures")
        .join(name)
}

fn compile(args: &[&str]) -> Output {
    Command::new(ARENA)
        .arg("compile")
        .args(args)
        .output()
        .expect("running arena compile")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "arena compile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("arena compile --json prints JSON")
}

#[test]
fn compile_json_includes_the_estimate_for_the_chosen_target() {
    let model = fixture("mlp_gemm.onnx");
    let model = model.to_str().unwrap();
    let default = json_of(&compile(&[model, "--json"]));
    let estimate = &default["estimate"];
    assert_eq!(estimate["device"], "xc7a100t", "{estimate}");
    assert_eq!(estimate["clock_ns"], 5.0);
    assert!(estimate["lut"].as_u64().unwrap() > 0, "{estimate}");
    assert!(
        estimate["latency_cycles"].as_u64().unwrap() >= 1,
        "{estimate}"
    );
    assert_eq!(estimate["ii"], 1);
    assert!(default["estimate_error"].is_null());
    // The summary's own fields stay where they were.
    assert!(
        default["layers"].as_array().is_some_and(|l| !l.is_empty()),
        "{default}"
    );

    // A faster clock on a bigger part: same logic, at least as many stages.
    let fast = json_of(&compile(&[
        model,
        "--json",
        "--target",
        "xcvu9p",
        "--clock-ns",
        "2.5",
    ]));
    assert_eq!(fast["estimate"]["device"], "xcvu9p");
    assert!(
        fast["estimate"]["latency_cycles"].as_u64() >= estimate["latency_cycles"].as_u64(),
        "{fast}"
    );
}

#[test]
fn compile_prints_the_estimate_under_the_layer_table() {
    let out = compile(&[fixture("conv1d.onnx").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("estimate (xc7a100t at 5 ns"), "{text}");
    assert!(text.contains("latency"), "{text}");
}

#[test]
fn an_unknown_target_is_one_clear_error() {
    let out = compile(&[
        fixture("mlp_gemm.onnx").to_str().unwrap(),
        "--target",
        "xc9nope",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("xc9nope"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
