//! hls4ml's public example models (fastmachinelearning/example-models,
//! `onnx/`): every one compiles, and every one hls4ml 1.3 converts is bit
//! exact with hls4ml's C simulation at granularity `model` and `name`.
//!
//! The models are not in our repository (their licence is not stated), so
//! this test reads them from a directory of `.onnx` files named in
//! `EXAMPLE_MODELS`, or from a git mirror of the repository named in
//! `EXAMPLE_MODELS_GIT` (default `/work/.mirror/fastmachinelearning+example-models/repo`),
//! and skips with a message when neither is there. The hls4ml side is
//! committed in `tests/hls4ml/examples/` (configurations and C simulation
//! outputs, written by `python/make_hls4ml_example_fixtures.py`); the
//! constructs these models use are covered without them by our own fixtures.

mod common;

use std::path::{Path, PathBuf};

use toolflow::{Limits, PrecisionConfig, compile};

/// The 14 models of `onnx/`.
const MODELS: [&str; 14] = [
    "bnn_model_fc_1layer",
    "branched_model_ch_last",
    "conv1d_small_keras",
    "conv2d_small_keras",
    "conv2d_small_mp_keras",
    "dense_big_keras",
    "separable_conv_model_ch_last",
    "three_layer_bn_keras",
    "three_layer_bn_pytorch",
    "three_layer_keras",
    "three_layer_pytorch",
    "tiny_unet_ch_last",
    "two_layer_keras",
    "two_layer_pytorch",
];

/// The bytes of example model `name`, if it can be found.
fn model(name: &str) -> Option<Vec<u8>> {
    if let Some(dir) = std::env::var_os("EXAMPLE_MODELS") {
        return std::fs::read(Path::new(&dir).join(format!("{name}.onnx"))).ok();
    }
    let git = std::env::var_os("EXAMPLE_MODELS_GIT").map_or_else(
        || PathBuf::from("/work/.mirror/fastmachinelearning+example-models/repo"),
        PathBuf::from,
    );
    if !git.exists() {
        return None;
    }
    let out = std::process::Command::new("git")
        .arg(format!("--git-dir={}", git.display()))
        .args(["show", &format!("HEAD:onnx/{name}.onnx")])
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// `rows x n` inputs uniform in [-4, 4), as `uniform_inputs` of
/// python/make_hls4ml_example_fixtures.py draws them (xorshift64*, seed 17).
fn uniform_inputs(rows: usize, n: usize) -> Vec<f32> {
    let mut state: u64 = 17;
    (0..rows * n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((v >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0) as f32
        })
        .collect()
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hls4ml/examples")
}

/// The configuration `config_from_onnx_model(granularity='model')` writes.
const MODEL_CONFIG: &str = "Model:\n  Precision:\n    default: fixed<16,6>\n  ReuseFactor: 1\n  Strategy: Latency\n  BramFactor: 1000000000\n  TraceOutput: false\n";

#[test]
fn all_example_models_compile() {
    if model("two_layer_keras").is_none() {
        eprintln!(
            "SKIP: the example models are not here (set EXAMPLE_MODELS to a directory of their .onnx files)"
        );
        return;
    }
    let cfg = PrecisionConfig::parse(MODEL_CONFIG).unwrap();
    let mut failures = Vec::new();
    for name in MODELS {
        let Some(bytes) = model(name) else {
            failures.push(format!("{name}: not found"));
            continue;
        };
        let t = std::time::Instant::now();
        // Each compiles without a configuration (a float model gets hls4ml's
        // default) and with hls4ml's granularity-model configuration.
        for (what, c) in [
            ("no configuration", None),
            ("hls4ml model config", Some(&cfg)),
        ] {
            match compile(&bytes, c, &Limits::default()) {
                Ok(m) => eprintln!(
                    "ok   {name:<30} {what:<20} {} layers, {} parameters, {} mults/sample, in {:?} out {:?} ({:.1} s)",
                    m.summary().totals.layers,
                    m.summary().totals.parameters,
                    m.summary().totals.mults_per_sample,
                    m.input_shape(),
                    m.output_shape(),
                    t.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    eprintln!("FAIL {name} ({what}): {e}");
                    failures.push(format!("{name} ({what}): {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn example_models_match_hls4ml_csim() {
    let dir = examples_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("SKIP: no {}", dir.display());
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != "parquet" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().to_string())
        })
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in &names {
        let Some(bytes) = model(name) else {
            eprintln!("SKIP {name}: the model file is not here");
            continue;
        };
        let cols = common::hls4ml::read_columns(&dir.join(format!("{name}.parquet"))).unwrap();
        for g in ["model", "name"] {
            let yaml = dir.join(format!("{name}.{g}.yaml"));
            let Ok(text) = std::fs::read_to_string(&yaml) else {
                continue;
            };
            let cfg = PrecisionConfig::parse(&text).unwrap();
            let m = compile(&bytes, Some(&cfg), &Limits::default()).unwrap();
            let (yw, want) = &cols[&format!("y_{g}")];
            let rows = want.len() / yw;
            let x = uniform_inputs(rows, m.input_len());
            let got = m.simulate_f32(&x, rows).unwrap();
            let bad = common::hls4ml::bad_rows(&got, want, m.output_len());
            eprintln!(
                "{:<4} {name:<30} [{g}] {} of {rows} rows bit-exact",
                if bad == 0 { "ok" } else { "FAIL" },
                rows - bad
            );
            checked += 1;
            if bad > 0 {
                failures.push(format!("{name} [{g}]: {bad} of {rows} rows differ"));
            }
        }
    }
    eprintln!("{checked} model/configuration pairs checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
