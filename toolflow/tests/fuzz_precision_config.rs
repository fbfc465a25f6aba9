//! Fuzz target `precision_config`: the hls4ml-style precision configuration
//! (YAML/JSON), parsed, validated and applied to a float model that has every
//! kind of layer it can name (Dense, Relu, Sigmoid table, Softmax, Add).
//! Any text must give a configuration or an error, never a panic.

#[path = "../../fuzz/harness.rs"]
mod harness;

use toolflow::onnx::build::ModelBuilder;
use toolflow::{Limits, PrecisionConfig, compile};

fn model() -> Vec<u8> {
    let w1: Vec<f32> = (0..4 * 6)
        .map(|i| ((i * 5) % 11) as f32 / 8.0 - 0.6)
        .collect();
    let w2: Vec<f32> = (0..6 * 3)
        .map(|i| ((i * 3) % 7) as f32 / 4.0 - 0.7)
        .collect();
    ModelBuilder::new("x", &[1, 4])
        .init("w1", &[4, 6], &w1)
        .init("b1", &[6], &[0.125; 6])
        .init("w2", &[6, 3], &w2)
        .node("MatMul", &["x", "w1"], &["h"], vec![])
        .node("Add", &["h", "b1"], &["hidden_1"], vec![])
        .node("Relu", &["hidden_1"], &["r"], vec![])
        .node("MatMul", &["r", "w2"], &["z"], vec![])
        .node("Sigmoid", &["z"], &["s"], vec![])
        .node("Softmax", &["s"], &["y"], vec![])
        .output("y")
        .bytes()
}

#[test]
fn fuzz_precision_configuration() {
    let model = model();
    let limits = Limits::default();
    let seeds = vec![
        b"Model:\n  Precision: fixed<16,6>\n".to_vec(),
        br#"{"Model": {"Precision": "fixed<8,3,RND,SAT>", "ReuseFactor": 2}, "LayerType": {"Sigmoid": {"TableSize": 64}}}"#.to_vec(),
        b"Model: {Precision: 'ufixed<12,4,RND_CONV,SAT_SYM>', Strategy: Resource}\nTensorName: {hidden_1: 'fixed<10,4>'}\n".to_vec(),
    ];
    harness::fuzz("precision_config", seeds, |bytes| {
        // Invalid UTF-8 is refused before parsing; fuzz the text behind it.
        let text = String::from_utf8_lossy(bytes);
        let text = text.as_ref();
        let config = match PrecisionConfig::parse(text) {
            Ok(config) => config,
            Err(e) => return e.to_string(),
        };
        match compile(&model, Some(&config), &limits) {
            Ok(compiled) => {
                let x = [0.5f32, -1.25, 3.0, 0.0, 7.5, -8.0, 0.03125, 100.0];
                match compiled.simulate_f32(&x, 2) {
                    Ok(_) => format!("ok {:?}", compiled.output_types()),
                    Err(e) => format!("simulation: {e}"),
                }
            }
            Err(e) => format!("compile: {e}"),
        }
    });
}
