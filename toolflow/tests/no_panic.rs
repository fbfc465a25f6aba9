//! Robustness: random and mutated bytes fed to the reader, the lowering and
//! the simulator must give errors, never panics. A small deterministic
//! mutation fuzzer (xorshift), bounded to run in a few seconds.

use std::path::Path;

use prost::Message;
use toolflow::onnx::build::{ModelBuilder, attr_i, attr_ints, attr_s};
use toolflow::onnx::proto::{DimValue, ModelProto};
use toolflow::{Limits, compile};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn limits() -> Limits {
    Limits {
        max_tensor_elements: 1 << 16,
        max_parameters: 1 << 16,
        max_mults_per_sample: 1 << 20,
        ..Limits::default()
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v = vec![
        ModelBuilder::new("x", &[-1, 4])
            .init("s", &[], &[0.125])
            .init("z", &[], &[0.0])
            .init("b", &[], &[8.0])
            .init("W", &[4, 3], &[0.5; 12])
            .qnode(
                "Quant",
                &["x", "s", "z", "b"],
                &["q"],
                vec![attr_i("signed", 1), attr_s("rounding_mode", "ROUND")],
            )
            .node("MatMul", &["q", "W"], &["m"], vec![])
            .node("Relu", &["m"], &["y"], vec![])
            .output("y")
            .bytes(),
        ModelBuilder::new("x", &[-1, 2, 6, 6])
            .init("W", &[4, 2, 3, 3], &[0.25; 72])
            .node(
                "Conv",
                &["x", "W"],
                &["c"],
                vec![
                    attr_ints("pads", &[1, 1, 1, 1]),
                    attr_ints("strides", &[2, 2]),
                ],
            )
            .node(
                "MaxPool",
                &["c"],
                &["p"],
                vec![attr_ints("kernel_shape", &[2, 2])],
            )
            .node("Flatten", &["p"], &["f"], vec![])
            .node("Sigmoid", &["f"], &["y"], vec![])
            .output("y")
            .bytes(),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures");
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut files: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        files.sort();
        v.extend(files.iter().take(12).filter_map(|p| std::fs::read(p).ok()));
    }
    v
}

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.push(rng.next() as u8);
        }
        let i = rng.below(b.len());
        match rng.below(5) {
            0 => b[i] = rng.next() as u8,
            1 => b[i] ^= 1 << rng.below(8),
            2 => b.truncate(i),
            3 => b.insert(i, rng.next() as u8),
            _ => {
                let j = rng.below(b.len());
                b[i] = b[j];
            }
        }
    }
    b
}

/// Compiles and, if that works, simulates a few samples of random inputs.
fn exercise(bytes: &[u8], rng: &mut Rng) {
    if let Ok(m) = compile(bytes, None, &limits()) {
        let n = 3;
        let x: Vec<f32> = (0..n * m.input_len())
            .map(|_| (rng.next() as i32 as f32) / 1e8)
            .collect();
        let _ = m.simulate_f32(&x, n);
        let _ = m.simulate_f32(&x, n + 1);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let len = rng.below(300);
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&b, &mut rng);
    }
}

#[test]
fn mutated_models_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let seeds = seeds();
    let per_seed = 16000 / seeds.len().max(1);
    for s in &seeds {
        for _ in 0..per_seed {
            let b = mutate(&mut rng, s.clone());
            exercise(&b, &mut rng);
        }
    }
}

const OPS: &[&str] = &[
    "MatMul",
    "Gemm",
    "Conv",
    "Relu",
    "Add",
    "Mul",
    "Sub",
    "Div",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Softmax",
    "Sigmoid",
    "Tanh",
    "Clip",
    "LeakyRelu",
    "BatchNormalization",
    "Quant",
    "Trunc",
    "MultiThreshold",
    "BipolarQuant",
    "Gather",
    "Shape",
    "Unsqueeze",
    "Squeeze",
    "Identity",
];

/// Structure-aware mutation: change attribute values, dims, op types, inputs.
fn mutate_model(rng: &mut Rng, m: &mut ModelProto) {
    let Some(g) = m.graph.as_mut() else { return };
    for _ in 0..1 + rng.below(3) {
        let vals = [-3i64, -1, 0, 1, 2, 3, 7, 1 << 20, i64::MAX];
        match rng.below(6) {
            0 if !g.node.is_empty() => {
                let n = rng.below(g.node.len());
                let node = &mut g.node[n];
                let k = rng.below(node.attribute.len().max(1));
                if let Some(a) = node.attribute.get_mut(k) {
                    a.i = vals[rng.below(vals.len())];
                    for v in a.ints.iter_mut() {
                        *v = vals[rng.below(vals.len())];
                    }
                    a.f = [0.0f32, -1.0, f32::NAN, 1e30, 0.3][rng.below(5)];
                }
            }
            1 if !g.initializer.is_empty() => {
                let t = rng.below(g.initializer.len());
                let init = &mut g.initializer[t];
                let k = rng.below(init.dims.len().max(1));
                if let Some(d) = init.dims.get_mut(k) {
                    *d = vals[rng.below(vals.len())];
                }
                for v in init.float_data.iter_mut().take(3) {
                    *v = [0.0f32, -0.0, 1e-30, 3.0, f32::INFINITY, 0.7][rng.below(6)];
                }
            }
            2 if !g.node.is_empty() => {
                let n = rng.below(g.node.len());
                g.node[n].op_type = OPS[rng.below(OPS.len())].to_string();
            }
            3 if !g.node.is_empty() => {
                let n = rng.below(g.node.len());
                let names: Vec<String> = g
                    .node
                    .iter()
                    .flat_map(|n| n.output.clone())
                    .chain(g.initializer.iter().map(|t| t.name.clone()))
                    .collect();
                let node = &mut g.node[n];
                let k = rng.below(node.input.len().max(1));
                if let Some(i) = node.input.get_mut(k) {
                    *i = names[rng.below(names.len().max(1))].clone();
                }
            }
            4 if !g.node.is_empty() => {
                let n = rng.below(g.node.len());
                g.node.remove(n);
            }
            _ => {
                if let Some(d) = g
                    .input
                    .first_mut()
                    .and_then(|i| i.r#type.as_mut())
                    .and_then(|t| t.tensor_type.as_mut())
                    .and_then(|t| t.shape.as_mut())
                {
                    let k = 1 + rng.below(d.dim.len().max(2) - 1);
                    if let Some(dim) = d.dim.get_mut(k) {
                        dim.value = Some(DimValue::DimValue([1i64, 2, 3, 64, 0, -5][rng.below(6)]));
                    }
                }
            }
        }
    }
}

#[test]
fn structurally_mutated_models_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let seeds = seeds();
    let per_seed = 3000 / seeds.len().max(1);
    for s in &seeds {
        let Ok(base) = ModelProto::decode(s.as_slice()) else {
            continue;
        };
        for _ in 0..per_seed {
            let mut m = base.clone();
            mutate_model(&mut rng, &mut m);
            exercise(&m.encode_to_vec(), &mut rng);
        }
    }
}
