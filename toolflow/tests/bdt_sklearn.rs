//! scikit-learn tree ensembles exported through ONNX-ML
//! (`TreeEnsembleClassifier/Regressor`, skl2onnx) against conifer's
//! bit-accurate C++ emulation, the RTL against the simulator, the attribute
//! semantics on hand-made trees, and bad models.
//!
//! Fixtures in tests/fixtures/bdt_sklearn come from
//! python/make_bdt_sklearn_fixtures.py: five scikit-learn 1.7 ensembles
//! (binary GradientBoosting 10 trees depth 2, binary RandomForest 20 trees
//! depth 4, 3-class HistGradientBoosting 45 trees depth 3, GradientBoosting
//! regressor 40 trees depth 4, 12-target ExtraTrees regressor 8 trees depth
//! 3) trained on the `coastal-flooding` demo dataset's training split and
//! exported with skl2onnx 1.20, with conifer 1.11's outputs (cpp backend,
//! ap_fixed) on 300 inputs.

mod common;

use std::path::{Path, PathBuf};

use prost::Message;
use toolflow::hw::tools;
use toolflow::onnx::build::{attr_i, attr_ints, attr_s};
use toolflow::onnx::proto::{
    AttributeProto, DimValue, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type,
    data_type,
};
use toolflow::{CompiledModel, Family, Limits, PrecisionConfig, compile};

const MODELS: &[(&str, usize)] = &[
    ("skl_gbc_small", 1),
    ("skl_rf_medium", 1),
    ("skl_hgb_multiclass", 3),
    ("skl_gbr_large", 1),
    ("skl_et_multitarget", 12),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdt_sklearn")
}

fn config(name: &str) -> PrecisionConfig {
    let yaml = std::fs::read_to_string(dir().join(format!("{name}.yaml"))).unwrap();
    PrecisionConfig::parse(&yaml).unwrap()
}

fn onnx_bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.onnx"))).unwrap()
}

fn load(name: &str) -> CompiledModel {
    compile(&onnx_bytes(name), Some(&config(name)), &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn inputs() -> (Vec<f32>, usize) {
    common::fixture_inputs(&dir().join("inputs.json"))
}

#[test]
fn simulator_equals_conifer_emulation() {
    let (x, n) = inputs();
    for &(name, outputs) in MODELS {
        let model = load(name);
        assert!(
            matches!(model.family(), Family::Bdt(_)),
            "{name}: not read as BDT"
        );
        assert_eq!(model.input_shape(), &[84]);
        assert_eq!(model.output_len(), outputs, "{name}");
        let op = &model.summary().layers[1].op;
        assert!(op.starts_with("ONNX-ML"), "{name}: {op}");
        let expected = common::floats(
            &common::json(&dir().join(format!("{name}.expected.json"))),
            "y",
        );
        assert_eq!(expected.len(), n * outputs);
        let raw = model.simulate_raw(&x, n).unwrap();
        let frac = raw.types[0].frac;
        let mut mismatches = Vec::new();
        for (i, (&got, &want)) in raw.values[0].iter().zip(&expected).enumerate() {
            let want_raw = want * 2f64.powi(frac);
            assert_eq!(want_raw.fract(), 0.0, "{name}: conifer output off the grid");
            if got as f64 != want_raw {
                mismatches.push(format!(
                    "row {} output {}: {got} vs conifer {want_raw}",
                    i / outputs,
                    i % outputs
                ));
            }
        }
        let distinct: std::collections::BTreeSet<i64> = raw.values[0].iter().copied().collect();
        eprintln!(
            "{name}: {n} rows x {outputs} outputs, {} mismatches, {} distinct outputs, {op}",
            mismatches.len(),
            distinct.len(),
        );
        assert!(distinct.len() > 3, "{name}: outputs hardly vary; weak test");
        assert!(
            mismatches.is_empty(),
            "{name}: {} mismatches, first {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }
}

/// The `<=` convention matters: read as `<`, the tie rows would differ.
#[test]
fn threshold_ties_follow_leq() {
    let (x, n) = inputs();
    let name = "skl_rf_medium";
    let mut proto = ModelProto::decode(onnx_bytes(name).as_slice()).unwrap();
    set_all_modes(&mut proto, "BRANCH_LEQ", "BRANCH_LT");
    let lt = compile(
        &proto.encode_to_vec(),
        Some(&config(name)),
        &Limits::default(),
    )
    .unwrap();
    let leq = load(name);
    let (a, b) = (
        leq.simulate_raw(&x, n).unwrap().values.remove(0),
        lt.simulate_raw(&x, n).unwrap().values.remove(0),
    );
    let differ = a.iter().zip(&b).filter(|(p, q)| p != q).count();
    eprintln!("{name}: {differ} of {n} rows change when <= is read as <");
    assert!(
        differ > 0,
        "the tie rows do not exercise the split convention"
    );
}

#[test]
fn estimate_has_no_dsp_and_tree_latency() {
    for &(name, _) in MODELS {
        common::assert_tree_estimate(&load(name), name, 14);
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
    for name in ["skl_rf_medium", "skl_et_multitarget"] {
        common::assert_tree_rtl_matches(&load(name), name, &x, n);
    }
}

// ---- hand-made ensembles -------------------------------------------------

fn attr_floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOATS,
        floats: v.to_vec(),
        ..Default::default()
    }
}

fn attr_strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRINGS,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

fn attr_double_tensor(name: &str, v: &[f64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::TENSOR,
        t: Some(TensorProto {
            dims: vec![v.len() as i64],
            data_type: data_type::DOUBLE,
            double_data: v.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: (d > 0).then_some(DimValue::DimValue(d)),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            }),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

fn model_of(nodes: Vec<NodeProto>, outputs: &[&str]) -> ModelProto {
    ModelProto {
        ir_version: 10,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 22,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
        ],
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            input: vec![value_info("X", &[0, 2])],
            output: outputs.iter().map(|o| value_info(o, &[0, 2])).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ensemble(op: &str, outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: vec!["X".into()],
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: "trees".into(),
        op_type: op.into(),
        domain: "ai.onnx.ml".into(),
        attribute,
        doc_string: String::new(),
    }
}

/// Two trees, two targets. Tree 7 lists its root (node id 5) last, splits
/// `x1 > 0.5` (GT: true child first) and leaf 1 adds to both targets (twice
/// to target 1); tree 3 splits `x0 >= -0.25` (GTE). AVERAGE over 2 trees.
fn hand_regressor(aggregate: &str) -> Vec<AttributeProto> {
    vec![
        attr_ints("nodes_treeids", &[7, 7, 7, 3, 3, 3]),
        attr_ints("nodes_nodeids", &[1, 2, 5, 0, 1, 2]),
        attr_ints("nodes_featureids", &[0, 0, 1, 0, 0, 0]),
        attr_floats("nodes_values", &[0.0, 0.0, 0.5, -0.25, 0.0, 0.0]),
        attr_strings(
            "nodes_modes",
            &["LEAF", "LEAF", "BRANCH_GT", "BRANCH_GTE", "LEAF", "LEAF"],
        ),
        attr_ints("nodes_truenodeids", &[0, 0, 1, 1, 0, 0]),
        attr_ints("nodes_falsenodeids", &[0, 0, 2, 2, 0, 0]),
        attr_ints("target_treeids", &[7, 7, 7, 7, 3, 3]),
        attr_ints("target_nodeids", &[1, 1, 1, 2, 1, 2]),
        attr_ints("target_ids", &[0, 1, 1, 0, 0, 0]),
        attr_floats("target_weights", &[1.0, 0.5, 0.25, -2.0, 4.0, 8.0]),
        attr_i("n_targets", 2),
        attr_floats("base_values", &[0.125, -0.125]),
        attr_s("aggregate_function", aggregate),
        attr_s("post_transform", "NONE"),
    ]
}

fn compile_nodes(nodes: Vec<NodeProto>, outputs: &[&str]) -> toolflow::Result<CompiledModel> {
    compile(
        &model_of(nodes, outputs).encode_to_vec(),
        None,
        &Limits::default(),
    )
}

#[test]
fn hand_made_regressor_semantics() {
    let reference = |x0: f32, x1: f32, scale: f32| -> [f32; 2] {
        // tree 7: x1 > 0.5 -> leaf 1 (t0 +1, t1 +0.75) else leaf 2 (t0 -2)
        let (a0, a1) = if x1 > 0.5 { (1.0, 0.75) } else { (-2.0, 0.0) };
        // tree 3: x0 >= -0.25 -> leaf 1 (t0 +4) else leaf 2 (t0 +8)
        let b0 = if x0 >= -0.25 { 4.0 } else { 8.0 };
        [0.125 + (a0 + b0) * scale, -0.125 + a1 * scale]
    };
    let rows: [[f32; 2]; 6] = [
        [0.0, 0.0],
        [-0.25, 0.5],
        [-0.2578125, 0.5 + 1.0 / 1024.0],
        [1.5, 3.0],
        [-3.0, -1.0],
        [-0.25, 0.5 + 1.0 / 1024.0],
    ];
    let x: Vec<f32> = rows.iter().flatten().copied().collect();
    for (aggregate, scale) in [("SUM", 1.0), ("AVERAGE", 0.5)] {
        let m = compile_nodes(
            vec![ensemble(
                "TreeEnsembleRegressor",
                &["Y"],
                hand_regressor(aggregate),
            )],
            &["Y"],
        )
        .unwrap();
        assert_eq!(m.output_len(), 2);
        let y = m.simulate_f32(&x, rows.len()).unwrap();
        let want: Vec<f32> = rows
            .iter()
            .flat_map(|r| reference(r[0], r[1], scale))
            .collect();
        assert_eq!(y, want, "{aggregate}");
    }
    // The same thresholds and weights given as double tensors (ai.onnx.ml opset 3).
    let mut attrs = hand_regressor("SUM");
    for a in attrs.iter_mut() {
        if a.name == "nodes_values" || a.name == "target_weights" {
            let v: Vec<f64> = a.floats.iter().map(|&f| f64::from(f)).collect();
            *a = attr_double_tensor(&format!("{}_as_tensor", a.name), &v);
        }
    }
    let m = compile_nodes(
        vec![ensemble("TreeEnsembleRegressor", &["Y"], attrs)],
        &["Y"],
    )
    .unwrap();
    let y = m.simulate_f32(&x, rows.len()).unwrap();
    let want: Vec<f32> = rows
        .iter()
        .flat_map(|r| reference(r[0], r[1], 1.0))
        .collect();
    assert_eq!(y, want, "as_tensor");
}

fn replace_attr(proto: &mut ModelProto, attr: AttributeProto) {
    let node = &mut proto.graph.as_mut().unwrap().node[0];
    node.attribute.retain(|a| a.name != attr.name);
    node.attribute.push(attr);
}

fn set_all_modes(proto: &mut ModelProto, from: &str, to: &str) {
    let node = &mut proto.graph.as_mut().unwrap().node[0];
    for a in node
        .attribute
        .iter_mut()
        .filter(|a| a.name == "nodes_modes")
    {
        for s in a
            .strings
            .iter_mut()
            .filter(|s| s.as_slice() == from.as_bytes())
        {
            *s = to.as_bytes().to_vec();
        }
    }
}

fn get_ints(proto: &ModelProto, name: &str) -> Vec<i64> {
    proto.graph.as_ref().unwrap().node[0]
        .attribute
        .iter()
        .find(|a| a.name == name)
        .unwrap()
        .ints
        .clone()
}

#[test]
fn gt_with_swapped_children_equals_leq() {
    // `x <= t ? a : b` is `x > t ? b : a`: same outputs, bit for bit.
    let (x, n) = inputs();
    let name = "skl_gbr_large";
    let mut proto = ModelProto::decode(onnx_bytes(name).as_slice()).unwrap();
    set_all_modes(&mut proto, "BRANCH_LEQ", "BRANCH_GT");
    let (t, f) = (
        get_ints(&proto, "nodes_truenodeids"),
        get_ints(&proto, "nodes_falsenodeids"),
    );
    replace_attr(&mut proto, attr_ints("nodes_truenodeids", &f));
    replace_attr(&mut proto, attr_ints("nodes_falsenodeids", &t));
    let gt = compile(
        &proto.encode_to_vec(),
        Some(&config(name)),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        gt.simulate_raw(&x, n).unwrap().values,
        load(name).simulate_raw(&x, n).unwrap().values
    );
}

#[test]
fn bad_models_are_refused_naming_node_and_attribute() {
    let good = ModelProto::decode(onnx_bytes("skl_gbc_small").as_slice()).unwrap();
    let n_nodes = get_ints(&good, "nodes_treeids").len();
    let mut cases: Vec<(ModelProto, &str)> = Vec::new();

    let mut m = good.clone();
    set_all_modes(&mut m, "BRANCH_LEQ", "BRANCH_EQ");
    cases.push((m, "'nodes_modes': tree 0 node 0 has mode BRANCH_EQ"));

    let mut m = good.clone();
    let mut f = get_ints(&m, "nodes_featureids");
    f[0] = 84;
    replace_attr(&mut m, attr_ints("nodes_featureids", &f));
    cases.push((m, "'nodes_featureids': tree 0 node 0 reads feature 84"));

    let mut m = good.clone();
    let mut t = get_ints(&m, "nodes_truenodeids");
    t[0] = 99;
    replace_attr(&mut m, attr_ints("nodes_truenodeids", &t));
    cases.push((m, "'nodes_truenodeids': tree 0 node 0 points to node 99"));

    let mut m = good.clone();
    replace_attr(&mut m, attr_ints("nodes_nodeids", &vec![0; n_nodes]));
    cases.push((m, "node id 0 twice"));

    let mut m = good.clone();
    replace_attr(&mut m, attr_ints("class_nodeids", &vec![0; 40]));
    cases.push((m, "differ in length"));

    let mut m = good.clone();
    let mut c = get_ints(&m, "class_nodeids");
    c[0] = 0;
    replace_attr(&mut m, attr_ints("class_nodeids", &c));
    cases.push((m, "node 0 of tree 0 is a BRANCH_LEQ node, not a LEAF"));

    let mut m = good.clone();
    let mut c = get_ints(&m, "class_ids");
    c[0] = 2;
    replace_attr(&mut m, attr_ints("class_ids", &c));
    cases.push((m, "'class_ids' holds class 2 but there are 2 class labels"));

    let mut m = good.clone();
    replace_attr(&mut m, attr_floats("base_values", &[0.0, 1.0, 2.0]));
    cases.push((m, "'base_values' has 3 values for 1 outputs"));

    let mut m = good.clone();
    replace_attr(&mut m, attr_s("post_transform", "CUBE"));
    cases.push((m, "'post_transform' = CUBE"));

    let mut m = good.clone();
    m.graph.as_mut().unwrap().node[0]
        .attribute
        .retain(|a| a.name != "nodes_values");
    cases.push((m, "'nodes_values' (or 'nodes_values_as_tensor') is missing"));

    let mut m = good.clone();
    m.graph.as_mut().unwrap().node[0]
        .attribute
        .retain(|a| a.name != "classlabels_int64s");
    cases.push((m, "'classlabels_int64s'"));

    // A Scaler in front of the trees.
    let mut m = good.clone();
    {
        let g = m.graph.as_mut().unwrap();
        g.node[0].input[0] = "Xs".into();
        g.node.insert(
            0,
            NodeProto {
                input: vec!["X".into()],
                output: vec!["Xs".into()],
                name: "scale".into(),
                op_type: "Scaler".into(),
                domain: "ai.onnx.ml".into(),
                ..Default::default()
            },
        );
    }
    cases.push((m, "node 'scale': unsupported operator Scaler"));

    // A second ensemble.
    let mut m = good.clone();
    {
        let g = m.graph.as_mut().unwrap();
        let mut twin = g.node[0].clone();
        twin.name = "twin".into();
        twin.output = vec!["l2".into(), "p2".into()];
        g.node.push(twin);
    }
    cases.push((m, "second tree ensemble"));

    // The opset-5 TreeEnsemble operator.
    let mut m = good.clone();
    m.graph.as_mut().unwrap().node[0].op_type = "TreeEnsemble".into();
    cases.push((m, "opset-5 TreeEnsemble"));

    // A regressor with MAX aggregation.
    cases.push((
        model_of(
            vec![ensemble(
                "TreeEnsembleRegressor",
                &["Y"],
                hand_regressor("MAX"),
            )],
            &["Y"],
        ),
        "'aggregate_function' = MAX",
    ));

    // A tree with two roots (node 2 of tree 7 pointed to by nobody).
    let mut attrs = hand_regressor("SUM");
    for a in attrs.iter_mut() {
        if a.name == "nodes_falsenodeids" {
            a.ints = vec![0, 0, 1, 2, 0, 0];
        }
    }
    cases.push((
        model_of(
            vec![ensemble("TreeEnsembleRegressor", &["Y"], attrs)],
            &["Y"],
        ),
        "tree 7 has more than one root",
    ));

    for (m, want) in cases {
        let err = compile(&m.encode_to_vec(), None, &Limits::default())
            .err()
            .unwrap_or_else(|| panic!("accepted; expected `{want}`"))
            .to_string();
        assert!(err.contains(want), "`{err}` does not mention `{want}`");
        if want.starts_with('\'') {
            assert!(
                err.contains("node 'TreeEnsembleClassifier'") || err.contains("node 'trees'"),
                "{err}"
            );
        }
    }
}

/// Byte mutations of a real model never panic: every result is a model or an error.
#[test]
fn mutated_onnx_files_never_panic() {
    let original = onnx_bytes("skl_rf_medium");
    let (x, _) = inputs();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..600 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        match compile(&bytes, None, &Limits::default()) {
            Ok(m) => {
                if m.input_len() == 84 {
                    let _ = m.simulate_raw(&x[..2 * 84], 2);
                }
                ok += 1;
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("{ok} mutants compiled, {refused} refused");
    assert!(ok > 0 && refused > 0);
}
