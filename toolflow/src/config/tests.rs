use super::*;

fn t(s: &str) -> Spec {
    Spec::Type(FixedType::parse(s).unwrap())
}

#[test]
fn lookup_follows_hls4ml() {
    let cfg = PrecisionConfig::parse(
        "Model:\n  Precision: fixed<16,6>\n  ReuseFactor: 2\n  Strategy: Latency\n\
         LayerName:\n  fc1: {Precision: {weight: 'fixed<8,2>', result: 'ufixed<8,4,RND,SAT>'}, ReuseFactor: 4}\n  fc2: {Precision: 'fixed<10,3>'}\n\
         LayerType:\n  Dense: {Precision: {accum: fixed<30,12>}}\n",
    )
    .unwrap();
    // name variable, then name default, then type, then model.
    assert_eq!(
        cfg.precision(&["fc1"], &["Dense"], "weight"),
        t("fixed<8,2>")
    );
    assert_eq!(
        cfg.precision(&["fc1"], &["Dense"], "accum"),
        t("fixed<30,12>")
    );
    assert_eq!(
        cfg.precision(&["fc1"], &["Dense"], "bias"),
        t("fixed<16,6>")
    );
    assert_eq!(
        cfg.precision(&["fc2"], &["Dense"], "accum"),
        t("fixed<10,3>")
    );
    assert_eq!(
        cfg.precision(&["x"], &["Activation"], "result"),
        t("fixed<16,6>")
    );
    // Names are matched ignoring case, as hls4ml's precision lookups.
    assert_eq!(cfg.precision(&["FC1"], &[], "weight"), t("fixed<8,2>"));
    assert_eq!(cfg.reuse(&["fc1"], &["Dense"]), (4, "Latency".into()));
    assert_eq!(cfg.reuse(&["x"], &["Dense"]).0, 2);
}

#[test]
fn hls4ml_dictionaries_are_read_as_written() {
    // config_from_onnx_model(granularity='model'), dumped to YAML.
    let model = "Model:\n  Precision:\n    default: fixed<16,6>\n  ReuseFactor: 1\n  Strategy: Latency\n  \
                 BramFactor: 1000000000\n  TraceOutput: false\n";
    let cfg = PrecisionConfig::parse(model).unwrap();
    assert_eq!(cfg.default_type(), FixedType::parse("fixed<16,6>").unwrap());
    assert_eq!(cfg.ignored, vec!["Model.BramFactor", "Model.TraceOutput"]);
    // granularity='name': auto types, Trace, the default table types.
    let name = "Model: {Precision: {default: 'fixed<16,6>', maximum: 'fixed<24,10>'}}\nLayerName:\n  \
                Relu_0: {Trace: false, Precision: {result: auto, table: 'fixed<18,8,TRN,WRAP,0>'}, ReuseFactor: 1, TableSize: 1024}\n  \
                Softmax_0:\n    Trace: false\n    Precision: {result: auto, table: 'fixed<18,8,TRN,WRAP,0>', exp_table: 'fixed<18,8,RND,SAT,0>', \
                inv_table: 'fixed<18,8,RND,SAT,0>', inv_inp: 'fixed<18,8,RND,SAT,0>', accum: 'fixed<18,8,RND,SAT,0>'}\n    \
                Implementation: stable\n    Skip: false\n";
    let cfg = PrecisionConfig::parse(name).unwrap();
    assert_eq!(cfg.precision(&["Relu_0"], &[], "result"), Spec::Auto);
    assert_eq!(
        cfg.model.maximum,
        Some(FixedType::parse("fixed<24,10>").unwrap())
    );
    assert_eq!(
        cfg.layer(&["Softmax_0"], &[], |l| l.implementation.clone())
            .as_deref(),
        Some("stable")
    );
    // The same as JSON.
    let json = r#"{"Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1, "Strategy": "Latency",
                  "BramFactor": 1000000000, "TraceOutput": false},
                  "LayerName": {"MatMul_0": {"Trace": false, "Precision": {"result": "auto", "accum": "auto"}, "ReuseFactor": 1}}}"#;
    let cfg = PrecisionConfig::parse(json).unwrap();
    assert_eq!(
        cfg.precision(&["MatMul_0"], &["Dense"], "accum"),
        Spec::Auto
    );
    assert_eq!(
        cfg.precision(&["MatMul_0"], &["Dense"], "weight"),
        t("fixed<16,6>")
    );
}

#[test]
fn project_configuration_is_read() {
    let project = "OnnxModel: m.onnx\nOutputDir: my-hls-test\nProjectName: myproject\nXilinxPart: xcku115-flvb2104-2-i\n\
                   ClockPeriod: 5\nIOType: io_parallel\nHLSConfig:\n  Model:\n    Precision: ap_fixed<16,6>\n    ReuseFactor: 1\n";
    let cfg = PrecisionConfig::parse(project).unwrap();
    assert_eq!(cfg.default_type(), FixedType::parse("fixed<16,6>").unwrap());
    let e =
        PrecisionConfig::parse("IOType: io_stream\nHLSConfig: {Model: {Precision: fixed<8,3>}}\n")
            .unwrap_err();
    assert!(e.to_string().contains("io_parallel"), "{e}");
}

#[test]
fn flow_style_is_accepted() {
    for text in [
        "Model: {Precision: fixed<16,6>}",
        "Model: {Precision: 'fixed<16,6>'}",
        "Model: {Precision: ap_fixed<16,6>}",
        "Model:\n  Precision: fixed<16,6>\n",
        "{\"Model\": {\"Precision\": \"fixed<16,6>\"}}",
    ] {
        let cfg = PrecisionConfig::parse(text).unwrap();
        assert_eq!(
            cfg.default_type(),
            FixedType::parse("fixed<16,6>").unwrap(),
            "{text}"
        );
    }
    let cfg =
        PrecisionConfig::parse("Model: {Precision: fixed<8,3,RND,SAT>, ReuseFactor: 2}").unwrap();
    assert_eq!(
        cfg.default_type(),
        FixedType::parse("fixed<8,3,RND,SAT>").unwrap()
    );
    assert_eq!(cfg.model.reuse_factor, 2);
}

#[test]
fn refusals_say_why() {
    let cases = [
        ("Model: {Precision: fixed<99,4>}", "width"),
        (
            "Model: {Precision: {wieght: 'fixed<8,4>'}}",
            "unknown precision variable",
        ),
        ("Model: {Bogus: 1}", "unknown key"),
        ("Model: {Precision: auto}", "not auto"),
        ("Model: {Strategy: distributed_arithmetic}", "not modelled"),
        ("Model: {BitExact: true}", "BitExact"),
        (
            "LayerName: {a: {Precision: {table: 'fixed<10,2>'}}}",
            "table_t: fixed<10,2>",
        ),
        ("LayerName: {a: {Implementation: fast}}", "latency, stable"),
        ("LayerName: {a: {weight_t: 'fixed<8,2>'}}", "not modelled"),
        ("Model: {Precision: ac_fixed<16,6,true>}", "ac_"),
        ("Model: {Precision: float}", "floating-point"),
        ("Optimizers: [fuse_batch_normalization]", "optimizer"),
        ("Model: {ReuseFactor: 0}", "at least 1"),
    ];
    for (text, want) in cases {
        let e = PrecisionConfig::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
    // The default table types that config_from_* writes are accepted.
    PrecisionConfig::parse("LayerName: {a: {Precision: {table: 'fixed<18,8,TRN,WRAP,0>'}}}")
        .unwrap();
}

#[test]
fn unknown_layer_names_are_listed() {
    let cfg = PrecisionConfig::parse("LayerName: {fc1: {ReuseFactor: 2}, fc9: {ReuseFactor: 2}}")
        .unwrap();
    let known = |n: &str| n == "fc1";
    assert_eq!(cfg.unknown_layer_names(&known), vec!["fc9"]);
}
