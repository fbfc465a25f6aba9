//! Boosted decision trees: an XGBoost JSON model ([`xgboost`]) or an
//! ONNX-ML tree ensemble from scikit-learn ([`onnx_ml`]) quantized to fixed
//! point with conifer's semantics, a bit-exact evaluator and the datapath
//! netlist (all trees in parallel: one comparator per split, a multiplexer
//! tree per decision tree selecting the leaf, an adder tree per output).
//!
//! Fixed-point semantics (those of conifer's C++ emulation with `ap_fixed`
//! types, so outputs are bit-equal to it):
//! - every input is cast to the input type (its rounding and overflow modes);
//! - thresholds are cast to the same input type; a split goes left when
//!   `x < threshold` (XGBoost's convention), or `x <= threshold` where the
//!   tree says so (`Tree::le`, scikit-learn's convention), compared on the
//!   raw integers (`x <= t` as `x < t + 1`);
//! - leaf values and the initial prediction are cast to the score type;
//!   the initial prediction is `base_score`, or `logit(base_score)` for the
//!   logistic objectives (`binary:logistic`, `reg:logistic`, `multi:softprob`,
//!   `multi:softmax`) as XGBoost's margin (ONNX `base_values` as they are);
//! - per output, the leaves of its trees are added to the initial prediction
//!   in the score type, wrapping (the score type must use `WRAP`).
//!
//! The output is the raw margin (no sigmoid/softmax, no ONNX
//! `post_transform`), one value per output. NaN inputs are quantized to 0
//! (the toolflow's input cast), so `default_left` and
//! `nodes_missing_value_tracks_true` are not used.
//!
//! Precision: from the precision configuration, `Model.Precision` either
//! one type (inputs, thresholds and scores) or a map with `default`
//! (inputs and thresholds) and `result` (leaves and scores). Without a
//! configuration, `fixed<18,8>` (conifer's default) for both.

pub mod onnx_ml;
pub mod xgboost;

use serde::Serialize;

use crate::config::{PrecisionConfig, Spec};
use crate::error::{Error, Result};
use crate::fixed::{FixedType, Overflow};
use crate::hw::rtl::NetOptions;
use crate::hw::rtl::net::{Net, NodeId, OutPort, Port, Term};
use crate::ir::{Layer, LayerKind, Model, TensorInfo};
use crate::summary::{LayerSummary, Summary, Totals};

/// Largest number of trees accepted.
pub const MAX_TREES: usize = 20_000;
/// Largest number of nodes in one tree.
pub const MAX_TREE_NODES: usize = 1 << 16;
/// Deepest tree accepted (root at depth 0).
pub const MAX_DEPTH: usize = 32;
/// conifer's default precision.
pub const DEFAULT_PRECISION: &str = "fixed<18,8>";

/// One decision tree in float, as read. Node 0 is the root.
#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    /// Feature index of each split; -1 at a leaf.
    pub feature: Vec<i32>,
    /// Threshold of a split, or the value of a leaf.
    pub threshold: Vec<f64>,
    /// Children (taken when `x < threshold` and otherwise); 0 at a leaf.
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Per node: the split goes left when `x <= threshold` instead of
    /// `x < threshold` (scikit-learn's convention, ONNX `BRANCH_LEQ`). Empty
    /// means `<` at every node (XGBoost's convention).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub le: Vec<bool>,
}

/// A tree ensemble in float, as read from the model file.
#[derive(Debug, Clone, Serialize)]
pub struct Ensemble {
    pub n_features: usize,
    pub n_outputs: usize,
    pub input_shape: Vec<usize>,
    /// `(output, tree)`: the output the tree adds to.
    pub trees: Vec<(usize, Tree)>,
    pub base_score: Vec<f64>,
    pub objective: String,
    /// Where the model comes from, for reports: "XGBoost" or "ONNX-ML".
    pub source: String,
}

/// A tree quantized: thresholds (at splits) and leaf values as raw integers.
#[derive(Debug, Clone)]
struct QTree {
    output: usize,
    feature: Vec<i32>,
    value: Vec<i64>,
    left: Vec<u32>,
    right: Vec<u32>,
    depth: usize,
}

/// A quantized ensemble: what the simulator and the RTL use.
#[derive(Debug, Clone)]
pub struct Bdt {
    pub ensemble: Ensemble,
    pub input_type: FixedType,
    pub score_type: FixedType,
    trees: Vec<QTree>,
    /// Initial prediction per output, raw in the score type.
    base: Vec<i64>,
}

fn logistic(objective: &str) -> bool {
    matches!(
        objective,
        "binary:logistic" | "reg:logistic" | "multi:softprob" | "multi:softmax"
    )
}

/// Input and score types from the precision configuration.
pub fn precision(config: Option<&PrecisionConfig>) -> Result<(FixedType, FixedType)> {
    let default = FixedType::parse(DEFAULT_PRECISION)?;
    let (input, score) = match config {
        None => (default, default),
        Some(c) => {
            let ty = |s: Option<Spec>| match s {
                Some(Spec::Type(t)) => Ok(Some(t)),
                Some(Spec::Auto) => Err(Error::Config(
                    "a tree ensemble's precision cannot be auto".into(),
                )),
                None => Ok(None),
            };
            let input = ty(c.model.precision.default)?.unwrap_or(default);
            let score = ty(c.model.precision.var("result"))?.unwrap_or(input);
            (input, score)
        }
    };
    if score.overflow != Overflow::Wrap {
        return Err(Error::Config(format!(
            "the tree ensemble's score type {score:?} must wrap on overflow (as ap_fixed's default AP_WRAP)"
        )));
    }
    if !score.signed || score.int_bits() < 2 {
        return Err(Error::Config(
            "the tree ensemble's score type must be signed with at least 2 integer bits".into(),
        ));
    }
    Ok((input, score))
}

/// Quantizes an ensemble with the precision configuration's types and
/// wraps it as a compiled model (the IR stand-in, its summary, the family).
pub(crate) fn compiled(
    ensemble: Ensemble,
    config: Option<&PrecisionConfig>,
) -> Result<crate::CompiledModel> {
    let (input, score) = precision(config)?;
    let model = Bdt::quantize(ensemble, input, score)?;
    Ok(crate::CompiledModel {
        ir: model.stub_ir(),
        summary: model.summary(),
        family: crate::Family::Bdt(Box::new(model)),
    })
}

/// Checks the structure (every node reached once from the root, depth bound) and returns the depth.
fn check_tree(t: &Tree, index: usize) -> Result<usize> {
    let n = t.feature.len();
    if !t.le.is_empty() && t.le.len() != n {
        return Err(Error::Invalid(format!(
            "tree {index}: {} split conventions for {n} nodes",
            t.le.len()
        )));
    }
    if n > MAX_TREE_NODES {
        return Err(Error::Limit(format!(
            "tree {index} has {n} nodes (at most {MAX_TREE_NODES})"
        )));
    }
    let mut seen = vec![false; n];
    let mut stack = vec![(0usize, 0usize)];
    let mut depth = 0;
    while let Some((i, d)) = stack.pop() {
        if seen[i] {
            return Err(Error::Invalid(format!(
                "tree {index}: node {i} is reached twice (not a tree)"
            )));
        }
        seen[i] = true;
        depth = depth.max(d);
        if d > MAX_DEPTH {
            return Err(Error::Limit(format!(
                "tree {index} is deeper than {MAX_DEPTH}"
            )));
        }
        if t.feature[i] >= 0 {
            stack.push((t.left[i] as usize, d + 1));
            stack.push((t.right[i] as usize, d + 1));
        }
    }
    Ok(depth)
}

impl Bdt {
    /// Quantizes an ensemble with the given input/threshold and score types.
    pub fn quantize(
        ensemble: Ensemble,
        input_type: FixedType,
        score_type: FixedType,
    ) -> Result<Self> {
        if ensemble.trees.is_empty() {
            return Err(Error::Invalid("the tree ensemble has no trees".into()));
        }
        if ensemble.trees.len() > MAX_TREES {
            return Err(Error::Limit(format!(
                "{} trees (at most {MAX_TREES})",
                ensemble.trees.len()
            )));
        }
        let mut trees = Vec::with_capacity(ensemble.trees.len());
        for (index, (output, t)) in ensemble.trees.iter().enumerate() {
            let depth = check_tree(t, index)?;
            // `x <= t` on the raw integers is `x < t + 1`: a `<=` split keeps
            // the one comparator form with its threshold one LSB up.
            let value = t
                .feature
                .iter()
                .zip(&t.threshold)
                .enumerate()
                .map(|(i, (&f, &v))| {
                    if f >= 0 {
                        let le = t.le.get(i).copied().unwrap_or(false);
                        input_type.quantize_f64(v) as i64 + i64::from(le)
                    } else {
                        score_type.quantize_f64(v) as i64
                    }
                })
                .collect();
            trees.push(QTree {
                output: *output,
                feature: t.feature.clone(),
                value,
                left: t.left.clone(),
                right: t.right.clone(),
                depth,
            });
        }
        let base = ensemble
            .base_score
            .iter()
            .map(|&b| {
                let margin = if logistic(&ensemble.objective) && b != 0.0 {
                    (b / (1.0 - b)).ln()
                } else {
                    b
                };
                score_type.quantize_f64(margin) as i64
            })
            .collect();
        Ok(Bdt {
            ensemble,
            input_type,
            score_type,
            trees,
            base,
        })
    }

    /// Raw outputs of one sample from raw (already quantized) inputs.
    pub fn eval_raw(&self, x: &[i64], out: &mut [i64]) {
        out.copy_from_slice(&self.base);
        for t in &self.trees {
            let mut i = 0usize;
            while t.feature[i] >= 0 {
                i = if x[t.feature[i] as usize] < t.value[i] {
                    t.left[i] as usize
                } else {
                    t.right[i] as usize
                };
            }
            let o = &mut out[t.output];
            *o = self
                .score_type
                .overflow_adjust(*o as i128 + t.value[i] as i128) as i64;
        }
    }

    /// Depth of the deepest tree.
    pub fn max_depth(&self) -> usize {
        self.trees.iter().map(|t| t.depth).max().unwrap_or(0)
    }

    /// Nodes over all trees.
    pub fn nodes(&self) -> usize {
        self.trees.iter().map(|t| t.feature.len()).sum()
    }

    /// The IR stand-in: the input cast (what the RTL receives) and the output tensor.
    pub fn stub_ir(&self) -> Model {
        stub_ir(
            &self.ensemble.input_shape,
            self.input_type,
            self.ensemble.n_outputs,
            self.score_type,
            "TreeEnsemble",
        )
    }

    pub fn summary(&self) -> Summary {
        family_summary(
            &self.stub_ir(),
            "TreeEnsemble",
            &format!(
                "{} {} trees, depth {}, objective {}",
                self.ensemble.source,
                self.trees.len(),
                self.max_depth(),
                self.ensemble.objective
            ),
            self.nodes() as u64 + self.base.len() as u64,
        )
    }

    /// The datapath: comparators `x - t < 0` steer multiplexers from the
    /// leaves up to the root of each tree; an adder tree sums each output.
    pub fn build_net(&self, opts: &NetOptions) -> Result<Net> {
        let mut net = Net::new(opts.max_nodes, opts.dsp_threshold_bits);
        let ty = self.input_type;
        net.inputs.push(Port {
            name: "x0".into(),
            tensor: 0,
            elems: self.ensemble.n_features,
            width: ty.width,
            signed: ty.signed,
        });
        let xs: Vec<NodeId> = (0..self.ensemble.n_features)
            .map(|e| net.input(0, e as u32, ty.min_raw(), ty.max_raw()))
            .collect::<Result<_>>()?;
        let mut per_output: Vec<Vec<Term>> = self
            .base
            .iter()
            .map(|&b| net.const_term(b as i128).map(|t| vec![t]))
            .collect::<Result<_>>()?;
        for t in &self.trees {
            let node = tree_net(&mut net, t, &xs, 0)?;
            per_output[t.output].push(Term::of(node));
        }
        let mut nodes = Vec::with_capacity(per_output.len());
        for terms in per_output {
            let sum = net.sum(terms)?;
            let n = net.node_of(sum)?;
            nodes.push(net.wrap(n, self.score_type.width, true)?);
        }
        net.outputs.push(OutPort {
            name: "y0".into(),
            tensor: 1,
            width: self.score_type.width,
            signed: true,
            nodes,
        });
        Ok(net)
    }
}

fn tree_net(net: &mut Net, t: &QTree, xs: &[NodeId], i: usize) -> Result<NodeId> {
    if t.feature[i] < 0 {
        return net.konst(t.value[i] as i128);
    }
    let left = tree_net(net, t, xs, t.left[i] as usize)?;
    let right = tree_net(net, t, xs, t.right[i] as usize)?;
    // x < t  <=>  x - t < 0: the subtractor's sign bit is the comparator.
    let diff = net.add_const(xs[t.feature[i] as usize], -(t.value[i] as i128))?;
    net.select(diff, left, right)
}

/// An IR holding only the input cast and the output tensor of a model
/// family evaluated outside the layer IR (trees, KAN). The RTL and the
/// co-simulation take their input quantization from it.
pub(crate) fn stub_ir(
    input_shape: &[usize],
    input_type: FixedType,
    n_outputs: usize,
    output_type: FixedType,
    name: &str,
) -> Model {
    let tensor = |name: &str, shape: Vec<usize>, ty: FixedType| TensorInfo {
        name: name.into(),
        shape,
        ty,
        lo: ty.min_raw() as i64,
        hi: ty.max_raw() as i64,
    };
    Model {
        tensors: vec![
            tensor("x", input_shape.to_vec(), input_type),
            tensor("y", vec![n_outputs], output_type),
        ],
        layers: vec![Layer {
            name: "input".into(),
            op: name.into(),
            kind: LayerKind::InputCast(input_type),
            inputs: vec![],
            output: 0,
            reuse_factor: 1,
            strategy: "Latency".into(),
        }],
        input_name: "x".into(),
        input_shape: input_shape.to_vec(),
        outputs: vec![1],
    }
}

/// A two-row summary (input cast, the family's one block) for reports and logs.
pub(crate) fn family_summary(ir: &Model, kind: &str, op: &str, parameters: u64) -> Summary {
    let (x, y) = (&ir.tensors[0], &ir.tensors[1]);
    let ty = |t: &TensorInfo| t.ty.to_string();
    let row = |name: &str, kind: &str, op: &str, inp: &TensorInfo, out: &TensorInfo, p: u64| {
        LayerSummary {
            name: name.into(),
            op: op.into(),
            kind: kind.into(),
            input_shapes: vec![inp.shape.clone()],
            output_shape: out.shape.clone(),
            input_types: vec![ty(inp)],
            output_type: ty(out),
            weight_type: None,
            accum_type: None,
            parameters: p,
            mults_per_sample: 0,
            reuse_factor: 1,
            strategy: "Latency".into(),
        }
    };
    Summary {
        input_name: ir.input_name.clone(),
        input_shape: ir.input_shape.clone(),
        input_type: Some(ty(x)),
        output_shapes: vec![y.shape.clone()],
        output_types: vec![ty(y)],
        layers: vec![
            row("input", "InputCast", "Cast", x, x, 0),
            row(kind, kind, op, x, y, parameters),
        ],
        totals: Totals {
            layers: 2,
            parameters,
            mults_per_sample: 0,
            max_width: x.ty.width.max(y.ty.width),
        },
    }
}
