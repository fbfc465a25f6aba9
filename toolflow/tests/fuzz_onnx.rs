//! Fuzz target `onnx`: the ONNX/QONNX reader, the graph clean-up, the
//! lowering to the fixed-point IR and the simulator. Any byte string must give
//! a compiled model or an error, never a panic or a hang. See fuzz/harness.rs.

#[path = "../../fuzz/harness.rs"]
mod harness;

use toolflow::{Limits, PrecisionConfig, compile};

/// Smaller caps than the server's so one input stays in milliseconds; the
/// caps themselves are what is fuzzed for huge declared sizes.
fn limits() -> Limits {
    Limits {
        max_tensor_elements: 1 << 16,
        max_parameters: 1 << 16,
        max_mults_per_sample: 1 << 20,
        ..Limits::default()
    }
}

/// Compile and simulate; the outcome names the layer kinds reached or the error.
fn exercise(bytes: &[u8], config: Option<&PrecisionConfig>) -> String {
    let model = match compile(bytes, config, &limits()) {
        Ok(model) => model,
        Err(e) => return e.to_string(),
    };
    let n = 2;
    let x: Vec<f32> = (0..n * model.input_len())
        .map(|i| ((i * 7919) % 257) as f32 / 64.0 - 2.0)
        .collect();
    let _ = model.simulate_f32(&x[..x.len() / 2], n);
    let kinds: Vec<&str> = model
        .summary()
        .layers
        .iter()
        .map(|l| l.kind.as_str())
        .collect();
    match model.simulate_f32(&x, n) {
        Ok(_) => format!("ok {}", kinds.join(" ")),
        Err(e) => format!("simulation: {e}"),
    }
}

#[test]
fn fuzz_onnx_reader_and_lowering() {
    let config = PrecisionConfig::parse("Model:\n  Precision: fixed<16,6>\n").unwrap();
    harness::fuzz("onnx", Vec::new(), |bytes| {
        let plain = exercise(bytes, None);
        let configured = exercise(bytes, Some(&config));
        format!("{plain} | {configured}")
    });
}
