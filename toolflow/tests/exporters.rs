//! Exporter constructs that hls4ml 1.3 cannot convert, checked against
//! another reference (issue 17, item 2):
//!
//! - `resize_matches_onnxruntime`: Resize / Upsample nearest in every
//!   coordinate transformation and nearest mode, scales and sizes, opsets 7
//!   to 19, against onnxruntime (`tests/fixtures/resize`, written by
//!   `python/make_resize_fixtures.py`).
//! - `channels_last_equals_channels_first`: the `qonnx.custom_op.channels_last`
//!   Conv, BatchNormalization and MaxPool compute exactly what the standard
//!   operators compute on the transposed tensor, under two configurations.
//! - `every_opset_from_6_to_21`: one model written in each opset's form
//!   (Gemm `broadcast`, Clip attributes or inputs, Unsqueeze/Squeeze `axes`
//!   attribute or input) gives the same bits; opsets 5 and 22 are refused.
//! - `foreign_domains_are_refused_by_name`, `misnamed_layers_are_listed`,
//!   `flow_style_configuration`, `hard_sigmoid_types_are_hls4ml_s`: clear
//!   refusals and issue 19's configuration forms.
//!
//! The exporters' own forms (tf2onnx / onnxmltools, PyTorch opsets 6 and 9)
//! are bit-exact fixtures against hls4ml in `tests/hls4ml` (`keras_*`,
//! `pytorch_*`), and HardSigmoid / PRelu against hls4ml's C++ functions
//! (`*_harness`).

use std::path::Path;

use toolflow::onnx::build::{ModelBuilder, attr_f, attr_i, attr_ints};
use toolflow::{Limits, PrecisionConfig, compile};

fn config(text: &str) -> PrecisionConfig {
    PrecisionConfig::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn resize_matches_onnxruntime() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resize");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let cases = meta["cases"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        let model =
            compile(&bytes, None, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let floats = |k: &str| -> Vec<f32> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let (x, y) = (floats("x"), floats("y"));
        let out_shape: Vec<usize> = case["out_shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(model.output_shape(), &out_shape[..], "{name}");
        let got = model.simulate_f32(&x, 1).unwrap();
        assert_eq!(got, y, "{name}");
    }
}

/// Deterministic inputs in [-4, 4).
fn inputs(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 8.0 - 4.0) as f32
        })
        .collect()
}

const CL: &str = "qonnx.custom_op.channels_last";

/// Conv 3x3 (pad 1) -> BatchNormalization -> Relu -> MaxPool 2x2 on a
/// `[1, 3, 6, 4]` image, channels first or (all three operators, as qonnx's
/// ConvertToChannelsLastAndClean writes them) channels last.
fn conv_bn_pool(channels_last: bool) -> Vec<u8> {
    let (c, h, w, f) = (3usize, 6usize, 4usize, 4usize);
    let wts: Vec<f32> = inputs(f * c * 9, 3).iter().map(|v| v / 8.0).collect();
    let shape: Vec<i64> = if channels_last {
        vec![-1, h as i64, w as i64, c as i64]
    } else {
        vec![-1, c as i64, h as i64, w as i64]
    };
    let d = if channels_last { CL } else { "" };
    let f64_ = f as i64;
    // qonnx's channels-last Conv takes its weights channels last too: [M, kh, kw, C].
    let (wts, wshape) = if channels_last {
        let mut t = vec![0f32; wts.len()];
        for m in 0..f {
            for ch in 0..c {
                for k in 0..9 {
                    t[(m * 9 + k) * c + ch] = wts[(m * c + ch) * 9 + k];
                }
            }
        }
        (t, [f64_, 3, 3, c as i64])
    } else {
        (wts, [f64_, c as i64, 3, 3])
    };
    ModelBuilder::new("x", &shape)
        .init("w", &wshape, &wts)
        .init("b", &[f64_], &[0.25, -0.5, 0.125, 0.0])
        .init("g", &[f64_], &[1.5, 0.75, -1.0, 1.25])
        .init("beta", &[f64_], &[0.1, -0.2, 0.3, 0.0])
        .init("mean", &[f64_], &[0.05, 0.1, -0.1, 0.2])
        .init("var", &[f64_], &[0.9, 1.1, 0.5, 2.0])
        .node_in(
            d,
            "Conv",
            &["x", "w", "b"],
            &["c"],
            vec![
                attr_ints("kernel_shape", &[3, 3]),
                attr_ints("pads", &[1, 1, 1, 1]),
            ],
        )
        .node_in(
            d,
            "BatchNormalization",
            &["c", "g", "beta", "mean", "var"],
            &["n"],
            vec![attr_f("epsilon", 1e-3)],
        )
        .node("Relu", &["n"], &["r"], vec![])
        .node_in(
            d,
            "MaxPool",
            &["r"],
            &["y"],
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_ints("strides", &[2, 2]),
            ],
        )
        .output("y")
        .bytes()
}

#[test]
fn channels_last_equals_channels_first() {
    let (c, h, w) = (3usize, 6usize, 4usize);
    let rows = 200;
    let x = inputs(rows * c * h * w, 9);
    // The same images, channels last.
    let mut xl = vec![0f32; x.len()];
    for r in 0..rows {
        for ch in 0..c {
            for i in 0..h * w {
                xl[r * c * h * w + i * c + ch] = x[r * c * h * w + ch * h * w + i];
            }
        }
    }
    let configs = [
        "Model:\n  Precision: fixed<16,6>\n",
        "Model:\n  Precision:\n    default: fixed<12,4,RND,SAT>\n    result: auto\n    accum: auto\n",
    ];
    for text in configs {
        let cfg = config(text);
        let first = compile(&conv_bn_pool(false), Some(&cfg), &Limits::default()).unwrap();
        let last = compile(&conv_bn_pool(true), Some(&cfg), &Limits::default()).unwrap();
        assert_eq!(first.output_shape(), &[1, 4, 3, 2]);
        assert_eq!(last.output_shape(), &[1, 3, 2, 4]);
        let yf = first.simulate_f32(&x, rows).unwrap();
        let yl = last.simulate_f32(&xl, rows).unwrap();
        let (f, hw) = (4, 6);
        let mut differ = 0;
        for r in 0..rows {
            for ch in 0..f {
                for i in 0..hw {
                    if yl[r * f * hw + i * f + ch] != yf[r * f * hw + ch * hw + i] {
                        differ += 1;
                    }
                }
            }
        }
        assert_eq!(differ, 0, "{text}");
        assert!(yf.iter().any(|&v| v != 0.0));
    }
}

/// Gemm -> Clip(0, 2) -> Unsqueeze -> Squeeze -> Gemm -> Softmax written in
/// the form of default opset `v`.
fn opset_model(v: i64) -> Vec<u8> {
    let w1: Vec<f32> = inputs(8 * 6, 5).iter().map(|x| x / 4.0).collect();
    let w2: Vec<f32> = inputs(6 * 3, 6).iter().map(|x| x / 4.0).collect();
    let gemm = |mut a: Vec<_>| {
        if v < 7 {
            a.push(attr_i("broadcast", 1));
        }
        a
    };
    let mut b = ModelBuilder::new("x", &[-1, 8])
        .opset(v)
        .init("w1", &[8, 6], &w1)
        .init("b1", &[6], &[0.5, -0.25, 0.0, 1.0, -1.0, 0.125])
        .init("w2", &[6, 3], &w2)
        .init("b2", &[3], &[0.1, 0.2, -0.3])
        .node("Gemm", &["x", "w1", "b1"], &["h"], gemm(vec![]));
    b = if v < 11 {
        b.node(
            "Clip",
            &["h"],
            &["c"],
            vec![attr_f("min", 0.0), attr_f("max", 2.0)],
        )
    } else {
        b.init("lo", &[], &[0.0]).init("hi", &[], &[2.0]).node(
            "Clip",
            &["h", "lo", "hi"],
            &["c"],
            vec![],
        )
    };
    b = if v < 13 {
        b.node("Unsqueeze", &["c"], &["u"], vec![attr_ints("axes", &[2])])
            .node("Squeeze", &["u"], &["s"], vec![attr_ints("axes", &[2])])
    } else {
        b.init_i64("ax", &[1], &[2])
            .node("Unsqueeze", &["c", "ax"], &["u"], vec![])
            .node("Squeeze", &["u", "ax"], &["s"], vec![])
    };
    b.node("Gemm", &["s", "w2", "b2"], &["g"], gemm(vec![]))
        .node("Softmax", &["g"], &["y"], vec![attr_i("axis", 1)])
        .output("y")
        .bytes()
}

#[test]
fn every_opset_from_6_to_21() {
    let rows = 300;
    let x = inputs(rows * 8, 21);
    let cfg = config("Model:\n  Precision: fixed<16,6>\n");
    let reference = compile(&opset_model(13), Some(&cfg), &Limits::default())
        .unwrap()
        .simulate_f32(&x, rows)
        .unwrap();
    for v in 6..=21 {
        let m = compile(&opset_model(v), Some(&cfg), &Limits::default())
            .unwrap_or_else(|e| panic!("opset {v}: {e}"));
        assert_eq!(m.simulate_f32(&x, rows).unwrap(), reference, "opset {v}");
    }
    for v in [5, 22] {
        let e = compile(&opset_model(v), Some(&cfg), &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("opset {v}")) && e.contains("6..=21"),
            "{e}"
        );
    }
}

#[test]
fn foreign_domains_are_refused_by_name() {
    for (domain, op) in [
        ("com.microsoft", "Relu"),
        ("qonnx.custom_op.general", "Relu"),
        (CL, "Relu"),
        ("ai.onnx.ml", "Normalizer"),
    ] {
        let bytes = ModelBuilder::new("x", &[-1, 4])
            .node_in(domain, op, &["x"], &["y"], vec![])
            .output("y")
            .bytes();
        let e = compile(&bytes, None, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(domain), "{domain} {op}: {e}");
    }
}

fn hls4ml_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/hls4ml")
            .join(format!("{name}.onnx")),
    )
    .unwrap()
}

#[test]
fn misnamed_layers_are_listed() {
    let bytes = hls4ml_fixture("jet_mlp");
    let cfg = config(
        "Model:\n  Precision: fixed<16,6>\nLayerName:\n  Dense_7:\n    Precision:\n      result: fixed<8,3>\n",
    );
    let e = compile(&bytes, Some(&cfg), &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'Dense_7'") && e.contains("MatMul_0") && e.contains("Softmax_0"),
        "{e}"
    );
}

#[test]
fn flow_style_configuration() {
    let bytes = hls4ml_fixture("jet_mlp");
    let x = inputs(100 * 16, 2);
    let run = |text: &str| {
        compile(&bytes, Some(&config(text)), &Limits::default())
            .unwrap()
            .simulate_f32(&x, 100)
            .unwrap()
    };
    let block = run("Model:\n  Precision: fixed<16,6>\n");
    assert_eq!(run("Model: {Precision: fixed<16,6>}\n"), block);
    assert_eq!(run("{Model: {Precision: {default: fixed<16,6>}}}\n"), block);
    assert_eq!(run("{\"Model\": {\"Precision\": \"fixed<16,6>\"}}"), block);
}

#[test]
fn hard_sigmoid_types_are_hls4ml_s() {
    let bytes = hls4ml_fixture("hard_sigmoid_harness");
    let cfg = config(
        "Model:\n  Precision: fixed<16,6>\nLayerName:\n  HardSigmoid_0:\n    slope_t: ufixed<8,0>\n",
    );
    let e = compile(&bytes, Some(&cfg), &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("slope_t") && e.contains("ap_ufixed<16,0>"),
        "{e}"
    );
}
