//! Operator tests on tiny graphs built with [`crate::onnx::build`].

use crate::onnx::build::{ModelBuilder, attr_f, attr_i, attr_ints, attr_s};
use crate::{Limits, PrecisionConfig, compile};

fn sim(b: &ModelBuilder, cfg: Option<&PrecisionConfig>, x: &[f32], n: usize) -> Vec<f32> {
    let m = compile(&b.bytes(), cfg, &Limits::default()).unwrap();
    m.simulate_f32(x, n).unwrap()
}

fn err(b: &ModelBuilder) -> String {
    compile(&b.bytes(), None, &Limits::default())
        .unwrap_err()
        .to_string()
}

/// Quant of the input with scale 2^-k, `bits`, signed, narrow, rounding mode.
fn quant_model(k: i32, bits: f32, signed: i64, narrow: i64, mode: &str, zp: f32) -> ModelBuilder {
    ModelBuilder::new("x", &[-1, 4])
        .init("s", &[], &[2f32.powi(-k)])
        .init("z", &[], &[zp])
        .init("b", &[], &[bits])
        .qnode(
            "Quant",
            &["x", "s", "z", "b"],
            &["y"],
            vec![
                attr_i("signed", signed),
                attr_i("narrow", narrow),
                attr_s("rounding_mode", mode),
            ],
        )
        .output("y")
}

#[test]
fn quant_rounding_modes_and_ranges() {
    let x = [0.0625, 0.1875, -0.0625, 100.0];
    assert_eq!(
        sim(&quant_model(3, 8.0, 1, 0, "ROUND", 0.0), None, &x, 1),
        vec![0.0, 0.25, 0.0, 127.0 / 8.0]
    );
    assert_eq!(
        sim(&quant_model(3, 8.0, 1, 0, "FLOOR", 0.0), None, &x, 1),
        vec![0.0, 0.125, -0.125, 127.0 / 8.0]
    );
    assert_eq!(
        sim(&quant_model(3, 8.0, 1, 0, "CEIL", 0.0), None, &x, 1),
        vec![0.125, 0.25, 0.0, 127.0 / 8.0]
    );
    let x = [-100.0, -0.0, 1.0, 100.0];
    assert_eq!(
        sim(&quant_model(0, 4.0, 1, 1, "ROUND", 0.0), None, &x, 1),
        vec![-7.0, 0.0, 1.0, 7.0]
    );
    assert_eq!(
        sim(&quant_model(0, 4.0, 0, 1, "ROUND", 0.0), None, &x, 1),
        vec![0.0, 0.0, 1.0, 14.0]
    );
    assert_eq!(
        sim(&quant_model(-1, 3.0, 0, 0, "ROUND", 0.0), None, &x, 1),
        vec![0.0, 0.0, 0.0, 14.0]
    );
    // zero point 2, unsigned 3 bits: q = clamp(round(x + 2), 0, 7) - 2
    assert_eq!(
        sim(
            &quant_model(0, 3.0, 0, 0, "ROUND", 2.0),
            None,
            &[-5.0, -1.5, 0.5, 9.0],
            1
        ),
        vec![-2.0, -2.0, 0.0, 5.0]
    );
    // 1-bit signed Quant is bipolar
    assert_eq!(
        sim(
            &quant_model(0, 1.0, 1, 0, "ROUND", 0.0),
            None,
            &[-0.1, 0.0, 0.3, -3.0],
            1
        ),
        vec![-1.0, 1.0, 1.0, -1.0]
    );
}

#[test]
fn non_power_of_two_scale_is_rejected_naming_the_node() {
    let b = ModelBuilder::new("x", &[-1, 4])
        .init("s", &[], &[0.3])
        .init("z", &[], &[0.0])
        .init("b", &[], &[8.0])
        .qnode("Quant", &["x", "s", "z", "b"], &["y"], vec![])
        .output("y");
    let e = err(&b);
    assert!(e.contains("Quant_1") && e.contains("power of two"), "{e}");
    let b = quant_model(3, 3.5, 1, 0, "ROUND", 0.0);
    assert!(err(&b).contains("integer"));
}

/// QONNX MLP: Quant(x) -> MatMul(Quant(W)) -> Add(b) -> Relu -> Quant.
#[test]
fn qonnx_dense_is_exact() {
    let w: Vec<f32> = (0..12).map(|i| (i as f32 - 5.3) * 0.37).collect();
    let b = ModelBuilder::new("x", &[-1, 4])
        .init("s", &[], &[0.125])
        .init("z", &[], &[0.0])
        .init("b8", &[], &[8.0])
        .init("ws", &[], &[0.0625])
        .init("W", &[4, 3], &w)
        .init("bias", &[3], &[0.5, -0.25, 0.125])
        .init("s2", &[], &[0.25])
        .init("b6", &[], &[6.0])
        .qnode(
            "Quant",
            &["x", "s", "z", "b8"],
            &["xq"],
            vec![attr_i("signed", 1)],
        )
        .qnode(
            "Quant",
            &["W", "ws", "z", "b8"],
            &["wq"],
            vec![attr_i("signed", 1)],
        )
        .node("MatMul", &["xq", "wq"], &["mm"], vec![])
        .node("Add", &["mm", "bias"], &["h"], vec![])
        .node("Relu", &["h"], &["r"], vec![])
        .qnode(
            "Quant",
            &["r", "s2", "z", "b6"],
            &["y"],
            vec![attr_i("signed", 0)],
        )
        .output("y");
    let x = [0.3f32, -1.2, 2.71, 0.05, -0.4, 0.9, 1.1, -2.0];
    let got = sim(&b, None, &x, 2);
    let q = |v: f64, s: f64, lo: f64, hi: f64| {
        let t = v / s;
        let r = t.round();
        let r = if (t - t.trunc()).abs() == 0.5 {
            2.0 * (t / 2.0).round()
        } else {
            r
        };
        r.clamp(lo, hi) * s
    };
    for n in 0..2 {
        for j in 0..3 {
            let mut acc = [0.5, -0.25, 0.125][j];
            for i in 0..4 {
                acc += q(x[n * 4 + i] as f64, 0.125, -128.0, 127.0)
                    * q(w[i * 3 + j] as f64, 0.0625, -128.0, 127.0);
            }
            let want = q(acc.max(0.0), 0.25, 0.0, 63.0);
            assert_eq!(got[n * 3 + j] as f64, want, "sample {n} output {j}");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    c: usize,
    h: usize,
    w: usize,
    wt: &[f64],
    m: usize,
    k: usize,
    s: usize,
    p: usize,
    g: usize,
) -> Vec<f64> {
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (w + 2 * p - k) / s + 1;
    let cg = c / g;
    let mut out = vec![0.0; m * oh * ow];
    for mo in 0..m {
        let grp = mo / (m / g);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0;
                for ci in 0..cg {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - p as isize;
                            let ix = (ox * s + kx) as isize - p as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                acc += x[(grp * cg + ci) * h * w + iy as usize * w + ix as usize]
                                    * wt[((mo * cg + ci) * k + ky) * k + kx];
                            }
                        }
                    }
                }
                out[(mo * oh + oy) * ow + ox] = acc;
            }
        }
    }
    out
}

#[test]
fn conv2d_strides_pads_groups() {
    let (c, h, w, m, k, g) = (4, 5, 6, 6, 3, 2);
    let wt: Vec<f32> = (0..m * (c / g) * k * k)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.25)
        .collect();
    let x: Vec<f32> = (0..c * h * w)
        .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.5)
        .collect();
    for (s, p) in [(1, 1), (2, 0), (2, 1)] {
        let b = ModelBuilder::new("x", &[-1, c as i64, h as i64, w as i64])
            .init("W", &[m as i64, (c / g) as i64, k as i64, k as i64], &wt)
            .node(
                "Conv",
                &["x", "W"],
                &["y"],
                vec![
                    attr_ints("strides", &[s, s]),
                    attr_ints("pads", &[p, p, p, p]),
                    attr_i("group", g as i64),
                    attr_ints("kernel_shape", &[3, 3]),
                ],
            )
            .output("y");
        let got = sim(&b, None, &x, 1);
        let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let wf: Vec<f64> = wt.iter().map(|&v| v as f64).collect();
        let want = naive_conv(&xf, c, h, w, &wf, m, k, s as usize, p as usize, g);
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert_eq!(*a as f64, *b);
        }
    }
}

#[test]
fn conv1d_depthwise_and_auto_pad() {
    let b = ModelBuilder::new("x", &[-1, 2, 5])
        .init("W", &[2, 1, 3], &[1.0, 2.0, 1.0, 0.0, 1.0, -1.0])
        .node(
            "Conv",
            &["x", "W"],
            &["y"],
            vec![attr_i("group", 2), attr_s("auto_pad", "SAME_UPPER")],
        )
        .output("y");
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 1.0, 2.0, 3.0, 5.0];
    let m = compile(&b.bytes(), None, &Limits::default()).unwrap();
    assert_eq!(m.output_shape(), &[1, 2, 5]);
    let got = m.simulate_f32(&x, 1).unwrap();
    assert_eq!(
        got,
        vec![4.0, 8.0, 12.0, 16.0, 14.0, 0.0, -1.0, -1.0, -2.0, 5.0]
    );
}

#[test]
fn pooling() {
    let x: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let mk = |op: &str, attrs| {
        ModelBuilder::new("x", &[-1, 1, 4, 4])
            .node(op, &["x"], &["y"], attrs)
            .output("y")
    };
    let k = || {
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ]
    };
    assert_eq!(
        sim(&mk("MaxPool", k()), None, &x, 1),
        vec![5.0, 7.0, 13.0, 15.0]
    );
    assert_eq!(
        sim(&mk("AveragePool", k()), None, &x, 1),
        vec![2.5, 4.5, 10.5, 12.5]
    );
    assert_eq!(
        sim(&mk("GlobalAveragePool", vec![]), None, &x, 1),
        vec![7.5]
    );
    let pads = vec![
        attr_ints("kernel_shape", &[3, 3]),
        attr_ints("pads", &[1, 1, 1, 1]),
        attr_ints("strides", &[2, 2]),
    ];
    let got = sim(&mk("AveragePool", pads), None, &x, 1);
    assert_eq!(got[0], (0.0 + 1.0 + 4.0 + 5.0) / 4.0);
}

#[test]
fn float_model_with_hls4ml_config() {
    let cfg = PrecisionConfig::parse(
        "Model: {Precision: 'fixed<16,6>'}\nLayerName:\n  fc: {Precision: {weight: 'fixed<6,2>', bias: 'fixed<8,3>', result: 'fixed<8,4,RND,SAT>'}}\n",
    )
    .unwrap();
    let mut b = ModelBuilder::new("x", &[-1, 2])
        .init("W", &[2, 1], &[0.3, -1.1])
        .init("B", &[1], &[0.05]);
    b = b.node("Gemm", &["x", "W", "B"], &["y"], vec![]).output("y");
    let model = {
        let mut m = b.model();
        if let Some(g) = m.graph.as_mut() {
            g.node[0].name = "fc".into();
        }
        prost::Message::encode_to_vec(&m)
    };
    let compiled = compile(&model, Some(&cfg), &Limits::default()).unwrap();
    let got = compiled.simulate_f32(&[1.0, 0.5, 100.0, 0.0], 2).unwrap();
    // weights: fixed<6,2> TRN: 0.3 -> 0.25, -1.1 -> -1.125; bias fixed<8,3> TRN: 0.05 -> 0.03125
    // sample 0: 0.25 - 0.5625 + 0.03125 = -0.28125 -> fixed<8,4,RND>: frac 4 -> -0.25 (-4.5 -> -4)
    assert_eq!(got[0], -0.25);
    // sample 1: input 100 wraps in fixed<16,6> (range [-32, 32)) to -28; -28*0.25+0.03125 = -6.96875
    // = -111.5/16 -> RND (ties up) -> -111/16
    assert_eq!(got[1], -6.9375);
}

#[test]
fn shape_chain_reshape_transpose_concat() {
    let b = ModelBuilder::new("x", &[-1, 2, 3])
        .init_i64("zero", &[1], &[0])
        .init_i64("minus1", &[1], &[-1])
        .node("Shape", &["x"], &["sh"], vec![])
        .node("Gather", &["sh", "zero"], &["n"], vec![attr_i("axis", 0)])
        .node(
            "Concat",
            &["n", "minus1"],
            &["target"],
            vec![attr_i("axis", 0)],
        )
        .node(
            "Transpose",
            &["x"],
            &["t"],
            vec![attr_ints("perm", &[0, 2, 1])],
        )
        .node("Reshape", &["t", "target"], &["flat"], vec![])
        .node("Flatten", &["x"], &["f2"], vec![])
        .node("Concat", &["flat", "f2"], &["y"], vec![attr_i("axis", 1)])
        .output("y");
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(
        sim(&b, None, &x, 1),
        vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
}

#[test]
fn activations_tables() {
    let mk = |op: &str| {
        ModelBuilder::new("x", &[-1, 3])
            .node(op, &["x"], &["y"], vec![])
            .output("y")
    };
    let s = sim(&mk("Sigmoid"), None, &[0.0, 20.0, -20.0], 1);
    assert!(
        (s[0] - 0.5).abs() < 0.01 && s[1] > 0.99 && s[2] < 0.01,
        "{s:?}"
    );
    let t = sim(&mk("Tanh"), None, &[0.0, 1.0, -9.0], 1);
    assert!(
        t[0].abs() < 0.01 && (t[1] - 0.7616).abs() < 0.01 && t[2] < -0.99,
        "{t:?}"
    );
    let sm = sim(&mk("Softmax"), None, &[1.0, 2.0, 3.0], 1);
    let sum: f32 = sm.iter().sum();
    assert!(
        (sum - 1.0).abs() < 0.05 && sm[2] > sm[1] && sm[1] > sm[0],
        "{sm:?}"
    );
    let l = ModelBuilder::new("x", &[-1, 2])
        .node("LeakyRelu", &["x"], &["y"], vec![attr_f("alpha", 0.25)])
        .output("y");
    assert_eq!(sim(&l, None, &[-2.0, 3.0], 1), vec![-0.5, 3.0]);
    let c = ModelBuilder::new("x", &[-1, 3])
        .init("lo", &[], &[-1.0])
        .init("hi", &[], &[0.5])
        .node("Clip", &["x", "lo", "hi"], &["y"], vec![])
        .output("y");
    assert_eq!(sim(&c, None, &[-3.0, 0.25, 2.0], 1), vec![-1.0, 0.25, 0.5]);
}

#[test]
fn batchnorm_folds_into_conv() {
    let conv = ModelBuilder::new("x", &[-1, 1, 1, 2])
        .init("W", &[2, 1, 1, 1], &[1.0, 2.0])
        .node("Conv", &["x", "W"], &["c"], vec![]);
    let b = batch_norm(conv, [&[2.0, 0.5], &[1.0, 0.0], &[0.0, 1.0], &[1.0, 4.0]]).output("y");
    // hls4ml fuses the BN into a Conv whose result type is `auto`.
    let cfg = PrecisionConfig::parse(
        "Model: {Precision: fixed<16,6>}\nLayerName: {Conv_0: {Precision: {result: auto, accum: auto}}}",
    )
    .unwrap();
    let m = compile(&b.bytes(), Some(&cfg), &Limits::default()).unwrap();
    assert_eq!(
        m.summary()
            .layers
            .iter()
            .filter(|l| l.kind == "Conv")
            .count(),
        1
    );
    assert!(m.summary().layers.iter().all(|l| l.kind != "Binary"));
    // channel 0: (x*1)*2 + 1; channel 1: (2x - 1) * 0.25
    assert_eq!(
        m.simulate_f32(&[1.0, 2.0], 1).unwrap(),
        vec![3.0, 5.0, 0.25, 0.75]
    );
}

#[test]
fn multithreshold_bipolar_trunc() {
    let b = ModelBuilder::new("x", &[-1, 2])
        .init("t", &[2, 3], &[-1.0, 0.0, 1.0, 0.5, 0.5, 2.0])
        .qnode(
            "MultiThreshold",
            &["x", "t"],
            &["y"],
            vec![attr_f("out_scale", 2.0), attr_f("out_bias", -1.0)],
        )
        .output("y");
    assert_eq!(
        sim(&b, None, &[0.0, 0.5, 5.0, 0.49], 2),
        vec![3.0, 3.0, 5.0, -1.0]
    );
    let b = ModelBuilder::new("x", &[-1, 3])
        .init("s", &[], &[0.5])
        .qnode("BipolarQuant", &["x", "s"], &["y"], vec![])
        .output("y");
    assert_eq!(sim(&b, None, &[-0.1, 0.0, 7.0], 1), vec![-0.5, 0.5, 0.5]);
    // Trunc: 8-bit input at scale 1 to 4-bit output at scale 16, FLOOR.
    let b = ModelBuilder::new("x", &[-1, 3])
        .init("one", &[], &[1.0])
        .init("z", &[], &[0.0])
        .init("b8", &[], &[8.0])
        .init("s16", &[], &[16.0])
        .init("b4", &[], &[4.0])
        .qnode(
            "Quant",
            &["x", "one", "z", "b8"],
            &["q"],
            vec![attr_i("signed", 1)],
        )
        .qnode(
            "Trunc",
            &["q", "one", "z", "b8", "s16", "b4"],
            &["y"],
            vec![attr_s("rounding_mode", "FLOOR")],
        )
        .output("y");
    assert_eq!(
        sim(&b, None, &[100.0, -17.0, 127.0], 1),
        vec![96.0, -32.0, 112.0]
    );
}

#[test]
fn clear_errors() {
    let b = ModelBuilder::new("x", &[-1, 4])
        .node("Erf", &["x"], &["y"], vec![])
        .output("y");
    let e = err(&b);
    assert!(e.contains("Erf_1") && e.contains("unsupported"), "{e}");
    let b = ModelBuilder::new("x", &[-1, 0])
        .node("Relu", &["x"], &["y"], vec![])
        .output("y");
    assert!(err(&b).contains("dynamic"), "{}", err(&b));
    let b = ModelBuilder::new("x", &[-1, 2])
        .node("Relu", &["b"], &["a"], vec![])
        .node("Relu", &["a"], &["b"], vec![])
        .output("a");
    assert!(
        err(&b).contains("cycle") || err(&b).contains("neither"),
        "{}",
        err(&b)
    );
    assert!(
        compile(b"\x08\x01\x12\xff", None, &Limits::default())
            .unwrap_err()
            .to_string()
            .contains("protobuf")
    );
    // QONNX semantics (a quantizer, no configuration): only exact divisions.
    let b = ModelBuilder::new("x", &[-1, 4])
        .init("d", &[], &[3.0])
        .init("s", &[], &[0.125])
        .init("z", &[], &[0.0])
        .init("b8", &[], &[8.0])
        .qnode("Quant", &["x", "s", "z", "b8"], &["xq"], vec![])
        .node("Div", &["xq", "d"], &["y"], vec![])
        .output("y");
    assert!(err(&b).contains("powers of two"));
    let small = Limits {
        max_parameters: 3,
        ..Limits::default()
    };
    let b = ModelBuilder::new("x", &[-1, 2])
        .init("W", &[2, 2], &[1.0; 4])
        .node("MatMul", &["x", "W"], &["y"], vec![])
        .output("y");
    assert!(
        compile(&b.bytes(), None, &small)
            .unwrap_err()
            .to_string()
            .contains("limit")
    );
}

/// `b` followed by a BatchNormalization (epsilon 0) from `c` to `y` with
/// per-channel scale, shift, mean and variance.
fn batch_norm(b: ModelBuilder, [g, beta, mean, var]: [&[f32]; 4]) -> ModelBuilder {
    let n = g.len() as i64;
    b.init("g", &[n], g)
        .init("beta", &[n], beta)
        .init("mean", &[n], mean)
        .init("var", &[n], var)
        .node(
            "BatchNormalization",
            &["c", "g", "beta", "mean", "var"],
            &["y"],
            vec![attr_f("epsilon", 0.0)],
        )
}

/// Gemm `fc` (w 1, bias 0.25, result fixed<8,7>: one fraction bit) -> BN `bn` (scale 2, shift 0).
fn gemm_bn_model() -> Vec<u8> {
    let gemm = ModelBuilder::new("x", &[-1, 1])
        .init("W", &[1, 1], &[1.0])
        .init("B", &[1], &[0.25])
        .node("Gemm", &["x", "W", "B"], &["c"], vec![]);
    let b = batch_norm(gemm, [&[2.0], &[0.0], &[0.0], &[1.0]]).output("y");
    let mut m = b.model();
    if let Some(g) = m.graph.as_mut() {
        g.node[0].name = "fc".into();
        g.node[1].name = "bn".into();
    }
    prost::Message::encode_to_vec(&m)
}

#[test]
fn batchnorm_fusing_follows_hls4ml() {
    let head = "Model: {Precision: 'fixed<16,6>'}\nLayerName:\n";
    let run = |text: &str| {
        let cfg = PrecisionConfig::parse(text).unwrap();
        let m = compile(&gemm_bn_model(), Some(&cfg), &Limits::default()).unwrap();
        let binaries = m
            .summary()
            .layers
            .iter()
            .filter(|l| l.kind == "Binary")
            .count();
        (binaries, m.simulate_f32(&[0.25, 0.75], 2).unwrap())
    };
    // The Gemm's result 'auto': hls4ml fuses the BN into it (w' = 2, b' = 0.5),
    // FuseBatchNormalization; the inferred result holds 2x + 0.5 exactly.
    assert_eq!(
        run(&format!("{head}  fc: {{Precision: {{result: auto}}}}\n")),
        (0, vec![1.0, 2.0])
    );
    // Explicit result (fixed<8,7>: one fraction bit): the BN stays a layer. The
    // Gemm named by its own name is one dense layer with its bias: 0.5 and 1.0,
    // then x * 2 + 0 in the BN's types (model default), result inferred.
    let (b, y) = run(&format!(
        "{head}  fc: {{Precision: {{result: 'fixed<8,7>'}}}}\n"
    ));
    assert!(b >= 1, "BN lowered as a scale and shift");
    assert_eq!(y, vec![1.0, 2.0]);
    // Named as hls4ml names it (qonnx: MatMul_0 + Add_0): the MatMul accumulates
    // without the bias (0.25 -> 0, 0.75 -> 0.5 at one fraction bit); the bias Add
    // ('auto' result) merges into the BN (FuseConsecutiveBatchNormalization):
    // x * 2 + 2 * 0.25.
    let (b, y) = run(&format!(
        "{head}  MatMul_0: {{Precision: {{result: 'fixed<8,7>'}}}}\n"
    ));
    assert!(b >= 1);
    assert_eq!(y, vec![0.5, 1.5]);
}
