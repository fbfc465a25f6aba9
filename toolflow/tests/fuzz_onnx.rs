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

fn exercise(bytes: &[u8], config: Option<&PrecisionConfig>) {
    if let Ok(model) = compile(bytes, config, &limits()) {
        let n = 2;
        let x: Vec<f32> = (0..n * model.input_len())
            .map(|i| ((i * 7919) % 257) as f32 / 64.0 - 2.0)
            .collect();
        let _ = model.simulate_f32(&x, n);
        let _ = model.simulate_f32(&x[..x.len() / 2], n);
    }
}

#[test]
fn fuzz_onnx_reader_and_lowering() {
    let config = PrecisionConfig::parse("Model:\n  Precision: fixed<16,6>\n").unwrap();
    harness::fuzz("onnx", Vec::new(), |bytes| {
        exercise(bytes, None);
        exercise(bytes, Some(&config));
    });
}
