//! Reader of ONNX models whose graph is one `ai.onnx.ml`
//! `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node, as skl2onnx
//! writes for scikit-learn's GradientBoosting, HistGradientBoosting,
//! RandomForest and ExtraTrees classifiers and regressors (and onnxmltools
//! for LightGBM/XGBoost).
//!
//! Mapping onto the tree IR ([`Ensemble`]):
//! - `nodes_*` (`treeids`, `nodeids`, `featureids`, `values` or
//!   `values_as_tensor`, `modes`, `truenodeids`, `falsenodeids`) give the
//!   trees; a tree's root is its one node that no other node points to.
//!   `BRANCH_LEQ` and `BRANCH_LT` go to the true child when `x <= t` / `x < t`;
//!   `BRANCH_GT` and `BRANCH_GTE` are the same comparators with the children
//!   swapped. `BRANCH_EQ` and `BRANCH_NEQ` are refused.
//! - `class_*` / `target_*` (`treeids`, `nodeids`, `ids`, `weights` or
//!   `weights_as_tensor`) give leaf values: a leaf adding to several outputs
//!   becomes one tree per output (same splits), and several weights of one
//!   leaf for the same output are added in f64 before quantization.
//! - Outputs: `n_targets` for a regressor; one per class label for a
//!   classifier, except a binary classifier whose weights all go to class 0
//!   (skl2onnx's form): one score column, the positive class's score.
//! - `base_values` (or `base_values_as_tensor`): the initial score per output.
//! - `aggregate_function`: `SUM`, or `AVERAGE` (leaf values divided by the
//!   number of trees in f64 before quantization; skl2onnx writes random
//!   forests already divided). `MIN`/`MAX` are refused.
//! - `post_transform` (`NONE`, `LOGISTIC`, `SOFTMAX`, `SOFTMAX_ZERO`,
//!   `PROBIT`) is not computed: the hardware outputs the raw scores, as
//!   conifer does (a monotone transform keeps the ranking; the softmax keeps
//!   the arg-max).
//! - `nodes_missing_value_tracks_true` is not used: the toolflow's input cast
//!   maps NaN to 0, so no value is missing in hardware.
//!
//! Around the ensemble the graph may hold `Identity`, `Cast` and `ZipMap`
//! nodes (the label and probability outputs skl2onnx adds); they are dropped.
//! Any other node is refused with its name.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use super::{Ensemble, MAX_TREE_NODES, MAX_TREES, Tree};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::onnx::proto::{self, AttributeProto, NodeProto, attribute_type as at};
use crate::onnx::tensor;

/// The ONNX-ML domain.
pub const DOMAIN: &str = "ai.onnx.ml";
/// Most outputs (classes or targets) accepted.
pub const MAX_OUTPUTS: usize = 4096;

const ENSEMBLE_OPS: [&str; 2] = ["TreeEnsembleClassifier", "TreeEnsembleRegressor"];
const PASS_OPS: [&str; 3] = ["Identity", "Cast", "ZipMap"];
const POST_TRANSFORMS: [&str; 5] = ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"];

/// Just enough of `ModelProto` to see the graph's operators (prost skips the
/// rest, initializers included, without decoding them).
#[derive(Clone, PartialEq, prost::Message)]
struct ProbeModel {
    #[prost(message, optional, tag = "7")]
    graph: Option<ProbeGraph>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProbeGraph {
    #[prost(message, repeated, tag = "1")]
    node: Vec<ProbeNode>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProbeNode {
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(string, tag = "7")]
    domain: String,
}

/// True when the bytes are an ONNX model holding an `ai.onnx.ml` tree
/// ensemble node (`TreeEnsembleClassifier`, `TreeEnsembleRegressor` or the
/// opset-5 `TreeEnsemble`). Malformed or oversized bytes give false (the
/// ONNX reader then reports them).
pub fn is_tree_ensemble(bytes: &[u8], limits: &Limits) -> bool {
    if bytes.len() > limits.max_model_bytes {
        return false;
    }
    let Ok(m) = ProbeModel::decode(bytes) else {
        return false;
    };
    m.graph.is_some_and(|g| {
        g.node.iter().any(|n| {
            n.domain == DOMAIN
                && (ENSEMBLE_OPS.contains(&n.op_type.as_str()) || n.op_type == "TreeEnsemble")
        })
    })
}

/// Errors of one node name it and its operator.
struct At<'a> {
    node: &'a NodeProto,
    name: String,
    attrs: HashMap<&'a str, &'a AttributeProto>,
    max_elems: u64,
    max_parameters: u64,
}

impl<'a> At<'a> {
    fn new(node: &'a NodeProto, index: usize, limits: &Limits) -> Self {
        let name = if node.name.is_empty() {
            format!("{}_{index}", node.op_type)
        } else {
            node.name.clone()
        };
        At {
            node,
            name,
            attrs: node
                .attribute
                .iter()
                .map(|a| (a.name.as_str(), a))
                .collect(),
            max_elems: limits.max_tensor_elements,
            max_parameters: limits.max_parameters,
        }
    }

    fn err(&self, detail: impl Into<String>) -> Error {
        Error::node(&self.name, &self.node.op_type, detail)
    }

    fn unsupported(&self, detail: impl Into<String>) -> Error {
        Error::unsupported(&self.name, &self.node.op_type, detail)
    }

    fn has(&self, key: &str) -> bool {
        self.attrs.contains_key(key)
    }

    fn typed(&self, key: &str, want: i32, what: &str) -> Result<Option<&'a AttributeProto>> {
        match self.attrs.get(key) {
            None => Ok(None),
            // Writers of old IR versions leave `type` unset (0).
            Some(a) if a.r#type == want || a.r#type == 0 => Ok(Some(a)),
            Some(a) => Err(self.err(format!(
                "attribute '{key}' has type code {} (expected {what})",
                a.r#type
            ))),
        }
    }

    fn ints(&self, key: &str) -> Result<Option<&'a [i64]>> {
        Ok(self
            .typed(key, at::INTS, "a list of ints")?
            .map(|a| a.ints.as_slice()))
    }

    fn req_ints(&self, key: &str) -> Result<&'a [i64]> {
        self.ints(key)?
            .ok_or_else(|| self.err(format!("attribute '{key}' is missing")))
    }

    fn int(&self, key: &str) -> Result<Option<i64>> {
        Ok(self.typed(key, at::INT, "an int")?.map(|a| a.i))
    }

    fn string(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.typed(key, at::STRING, "a string")?.map_or_else(
            || default.to_string(),
            |a| String::from_utf8_lossy(&a.s).into_owned(),
        ))
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        Ok(self.typed(key, at::STRINGS, "a list of strings")?.map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        }))
    }

    /// A float list given as `key` (floats) or `key_as_tensor` (a float or
    /// double tensor, ai.onnx.ml opset 3).
    fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let tkey = format!("{key}_as_tensor");
        if let Some(a) = self.typed(&tkey, at::TENSOR, "a tensor")? {
            if self.has(key) {
                return Err(self.err(format!("both '{key}' and '{tkey}' are given")));
            }
            let t =
                a.t.as_ref()
                    .ok_or_else(|| self.err(format!("attribute '{tkey}' holds no tensor")))?;
            let t = tensor::decode(t, self.max_elems)
                .map_err(|e| self.err(format!("attribute '{tkey}': {e}")))?;
            return Ok(Some(t.data));
        }
        Ok(self
            .typed(key, at::FLOATS, "a list of floats")?
            .map(|a| a.floats.iter().map(|&v| f64::from(v)).collect()))
    }

    fn req_numbers(&self, key: &str) -> Result<Vec<f64>> {
        self.numbers(key)?.ok_or_else(|| {
            self.err(format!(
                "attribute '{key}' (or '{key}_as_tensor') is missing"
            ))
        })
    }
}

/// How a split node compares, already normalised to `x < t` / `x <= t`
/// going to `left`.
#[derive(Debug, Clone, Copy)]
struct Split {
    le: bool,
    swap: bool,
}

fn split_of(mode: &str) -> Option<Option<Split>> {
    Some(match mode {
        "LEAF" => None,
        "BRANCH_LEQ" => Some(Split {
            le: true,
            swap: false,
        }),
        "BRANCH_LT" => Some(Split {
            le: false,
            swap: false,
        }),
        "BRANCH_GT" => Some(Split {
            le: true,
            swap: true,
        }),
        "BRANCH_GTE" => Some(Split {
            le: false,
            swap: true,
        }),
        _ => return None,
    })
}

/// One ONNX tree: its nodes in attribute order, by node id.
#[derive(Default)]
struct RawTree {
    /// Positions in the flat `nodes_*` lists.
    flat: Vec<usize>,
    /// Node ids, by local index.
    ids: Vec<i64>,
    local: HashMap<i64, usize>,
}

/// Parses an ONNX model holding one tree ensemble node.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Ensemble> {
    let model = crate::onnx::graph::decode(bytes, limits)?;
    let g = crate::onnx::graph::graph_of(&model, limits)?;
    let mut ensemble_node = None;
    for (i, n) in g.node.iter().enumerate() {
        let at = At::new(n, i, limits);
        let ml = n.domain == DOMAIN;
        if ml && ENSEMBLE_OPS.contains(&n.op_type.as_str()) {
            if ensemble_node.is_some() {
                return Err(at.unsupported(
                    "the graph holds a second tree ensemble; one TreeEnsembleClassifier/Regressor per model",
                ));
            }
            ensemble_node = Some(at);
        } else if ml && n.op_type == "TreeEnsemble" {
            return Err(at.unsupported(
                "the ai.onnx.ml opset-5 TreeEnsemble operator is not supported; export with ai.onnx.ml opset 1 to 3 (TreeEnsembleClassifier/Regressor), e.g. skl2onnx target_opset={'': 21, 'ai.onnx.ml': 3}",
            ));
        } else if !PASS_OPS.contains(&n.op_type.as_str())
            || !(n.domain.is_empty() || n.domain == "ai.onnx" || n.domain == DOMAIN)
        {
            return Err(at.unsupported(
                "a tree-ensemble model may hold only the TreeEnsembleClassifier/Regressor node and Identity, Cast or ZipMap nodes around it (preprocessing such as a Scaler belongs in the dataset or in the thresholds)",
            ));
        }
    }
    let at = ensemble_node.ok_or_else(|| {
        Error::Invalid("the model holds no TreeEnsembleClassifier/Regressor node".into())
    })?;
    let (input_shape, n_features) = input_of(g, &at)?;
    read_ensemble(&at, input_shape, n_features)
}

/// The graph input feeding the ensemble (through Identity/Cast nodes) and its feature count.
fn input_of(g: &proto::GraphProto, at: &At) -> Result<(Vec<usize>, usize)> {
    let producers: HashMap<&str, &NodeProto> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let mut name = at
        .node
        .input
        .first()
        .map(String::as_str)
        .ok_or_else(|| at.err("the node has no input"))?;
    for _ in 0..=g.node.len() {
        match producers.get(name) {
            Some(p) if p.op_type == "Identity" || p.op_type == "Cast" => {
                name = p
                    .input
                    .first()
                    .map(String::as_str)
                    .ok_or_else(|| at.err("an Identity/Cast before it has no input"))?;
            }
            Some(p) => {
                return Err(at.unsupported(format!(
                    "its input '{name}' comes from a {} node; it must read the graph input (through Identity/Cast only)",
                    p.op_type
                )));
            }
            None => break,
        }
    }
    let vi = g
        .input
        .iter()
        .find(|i| i.name == name)
        .ok_or_else(|| at.err(format!("its input '{name}' is not a graph input")))?;
    let dims = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.as_slice())
        .ok_or_else(|| Error::Shape(format!("input '{name}' has no tensor shape")))?;
    if dims.len() != 2 {
        return Err(Error::Shape(format!(
            "input '{name}' of the tree ensemble has rank {} (expected [batch, features])",
            dims.len()
        )));
    }
    match dims[1].value {
        Some(proto::DimValue::DimValue(f)) if f > 0 && f <= 1 << 20 => {
            Ok((vec![f as usize], f as usize))
        }
        _ => Err(Error::Shape(format!(
            "input '{name}' has no static feature count (dimension 1)"
        ))),
    }
}

fn read_ensemble(at: &At, input_shape: Vec<usize>, n_features: usize) -> Result<Ensemble> {
    let classifier = at.node.op_type == "TreeEnsembleClassifier";
    let tree_ids = at.req_ints("nodes_treeids")?;
    let node_ids = at.req_ints("nodes_nodeids")?;
    let feature_ids = at.req_ints("nodes_featureids")?;
    let values = at.req_numbers("nodes_values")?;
    let true_ids = at.req_ints("nodes_truenodeids")?;
    let false_ids = at.req_ints("nodes_falsenodeids")?;
    let modes = at
        .strings("nodes_modes")?
        .ok_or_else(|| at.err("attribute 'nodes_modes' is missing"))?;
    let n = tree_ids.len();
    for (key, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_modes", modes.len()),
    ] {
        if len != n {
            return Err(at.err(format!(
                "attribute '{key}' has {len} entries, 'nodes_treeids' has {n}"
            )));
        }
    }
    if n == 0 {
        return Err(at.err("the ensemble has no nodes"));
    }
    // Trees by id, nodes by id within each.
    let mut trees: BTreeMap<i64, RawTree> = BTreeMap::new();
    for i in 0..n {
        let t = trees.entry(tree_ids[i]).or_default();
        if t.local.insert(node_ids[i], t.flat.len()).is_some() {
            return Err(at.err(format!(
                "tree {} has node id {} twice (nodes_nodeids)",
                tree_ids[i], node_ids[i]
            )));
        }
        t.flat.push(i);
        t.ids.push(node_ids[i]);
        if t.flat.len() > MAX_TREE_NODES {
            return Err(Error::Limit(format!(
                "tree {} has more than {MAX_TREE_NODES} nodes",
                tree_ids[i]
            )));
        }
    }
    let n_trees = trees.len();

    // Leaf weights.
    let (prefix, ids_key) = if classifier {
        ("class", "class_ids")
    } else {
        ("target", "target_ids")
    };
    let w_trees = at.req_ints(&format!("{prefix}_treeids"))?;
    let w_nodes = at.req_ints(&format!("{prefix}_nodeids"))?;
    let w_ids = at.req_ints(ids_key)?;
    let w_values = at.req_numbers(&format!("{prefix}_weights"))?;
    let m = w_trees.len();
    if w_nodes.len() != m || w_ids.len() != m || w_values.len() != m {
        return Err(at.err(format!(
            "attributes '{prefix}_treeids' ({m}), '{prefix}_nodeids' ({}), '{ids_key}' ({}) and '{prefix}_weights' ({}) differ in length",
            w_nodes.len(),
            w_ids.len(),
            w_values.len()
        )));
    }
    let n_outputs = outputs(at, classifier, w_ids)?;

    let aggregate = if classifier {
        "SUM".to_string()
    } else {
        at.string("aggregate_function", "SUM")?
    };
    let scale = match aggregate.as_str() {
        "SUM" => 1.0,
        "AVERAGE" => 1.0 / n_trees as f64,
        other => {
            return Err(at.unsupported(format!(
                "attribute 'aggregate_function' = {other} is not supported (SUM or AVERAGE)"
            )));
        }
    };
    let post = at.string("post_transform", "NONE")?;
    if !POST_TRANSFORMS.contains(&post.as_str()) {
        return Err(at.unsupported(format!(
            "attribute 'post_transform' = {post} is not known ({})",
            POST_TRANSFORMS.join(", ")
        )));
    }

    // Per tree: output -> leaf values by local node index.
    let mut leaf_values: BTreeMap<(i64, usize), Vec<f64>> = BTreeMap::new();
    let mut total_nodes = 0u64;
    let max_nodes = at.max_parameters;
    for k in 0..m {
        let tree = trees.get(&w_trees[k]).ok_or_else(|| {
            at.err(format!(
                "'{prefix}_treeids'[{k}] = {} names no tree",
                w_trees[k]
            ))
        })?;
        let local = *tree.local.get(&w_nodes[k]).ok_or_else(|| {
            at.err(format!(
                "'{prefix}_nodeids'[{k}] = {} is not a node of tree {}",
                w_nodes[k], w_trees[k]
            ))
        })?;
        let flat = tree.flat[local];
        if modes[flat] != "LEAF" {
            return Err(at.err(format!(
                "'{prefix}_nodeids'[{k}]: node {} of tree {} is a {} node, not a LEAF",
                w_nodes[k], w_trees[k], modes[flat]
            )));
        }
        let output = w_ids[k] as usize;
        if !w_values[k].is_finite() {
            return Err(at.err(format!("'{prefix}_weights'[{k}] is not finite")));
        }
        let len = tree.flat.len();
        let slot = leaf_values.entry((w_trees[k], output)).or_insert_with(|| {
            total_nodes += len as u64;
            vec![0.0; len]
        });
        slot[local] += w_values[k] * scale;
        if leaf_values.len() > MAX_TREES {
            return Err(Error::Limit(format!(
                "more than {MAX_TREES} (tree, output) pairs"
            )));
        }
        if total_nodes > max_nodes {
            return Err(Error::Limit(format!(
                "more than {max_nodes} tree nodes over all (tree, output) pairs (the parameter limit)"
            )));
        }
    }

    // Structure of each tree (splits, children), shared by its outputs.
    let mut structure: BTreeMap<i64, (Tree, usize)> = BTreeMap::new();
    for (&id, raw) in &trees {
        if leaf_values
            .range((id, 0)..=(id, usize::MAX))
            .next()
            .is_none()
        {
            continue;
        }
        structure.insert(
            id,
            tree_structure(
                at,
                id,
                raw,
                &modes,
                feature_ids,
                &values,
                true_ids,
                false_ids,
                n_features,
            )?,
        );
    }
    let mut out_trees = Vec::with_capacity(leaf_values.len());
    for ((id, output), leaves) in leaf_values {
        let (t, root) = &structure[&id];
        let mut t = t.clone();
        // Local indices were reordered root first: map the leaf values too.
        for (old, v) in leaves.into_iter().enumerate() {
            let new = root_first(*root, old);
            if t.feature[new] < 0 {
                t.threshold[new] = v;
            }
        }
        out_trees.push((output, t));
    }

    let base = match at.numbers("base_values")? {
        None => vec![0.0; n_outputs],
        Some(b) if b.is_empty() => vec![0.0; n_outputs],
        Some(b) if b.len() == n_outputs => b,
        Some(b) => {
            return Err(at.err(format!(
                "attribute 'base_values' has {} values for {n_outputs} outputs",
                b.len()
            )));
        }
    };
    if base.iter().any(|b| !b.is_finite()) {
        return Err(at.err("attribute 'base_values' holds a non-finite value"));
    }
    Ok(Ensemble {
        n_features,
        n_outputs,
        input_shape,
        trees: out_trees,
        base_score: base,
        objective: format!("{} post_transform {post} (raw scores)", at.node.op_type),
        source: "ONNX-ML".into(),
    })
}

/// Number of outputs (score columns), checking the class or target ids.
fn outputs(at: &At, classifier: bool, ids: &[i64]) -> Result<usize> {
    let max_id = ids.iter().copied().max().unwrap_or(0);
    if let Some(&bad) = ids.iter().find(|&&i| i < 0) {
        return Err(at.err(format!("a class/target id is negative ({bad})")));
    }
    let n = if classifier {
        let labels = match (
            at.ints("classlabels_int64s")?,
            at.strings("classlabels_strings")?,
        ) {
            (Some(l), None) => l.len(),
            (None, Some(l)) => l.len(),
            (Some(_), Some(_)) => {
                return Err(at.err("both 'classlabels_int64s' and 'classlabels_strings' are given"));
            }
            (None, None) => {
                return Err(
                    at.err("attribute 'classlabels_int64s' (or 'classlabels_strings') is missing")
                );
            }
        };
        if labels == 0 {
            return Err(at.err("the classifier has no class labels"));
        }
        if max_id as u64 >= labels as u64 {
            return Err(at.err(format!(
                "attribute 'class_ids' holds class {max_id} but there are {labels} class labels"
            )));
        }
        // skl2onnx's binary form: one score column (the positive class's).
        if labels == 2 && max_id == 0 {
            1
        } else {
            labels
        }
    } else {
        let targets = match at.int("n_targets")? {
            Some(t) if t <= 0 => {
                return Err(at.err(format!("attribute 'n_targets' = {t} is not positive")));
            }
            Some(t) => t as u64,
            None => max_id as u64 + 1,
        };
        if max_id as u64 >= targets {
            return Err(at.err(format!(
                "attribute 'target_ids' holds target {max_id} but 'n_targets' is {targets}"
            )));
        }
        targets.min(u64::MAX >> 1) as usize
    };
    if n > MAX_OUTPUTS {
        return Err(Error::Limit(format!(
            "{n} outputs (classes or targets); at most {MAX_OUTPUTS}"
        )));
    }
    Ok(n)
}

/// The new index of local node `old` in a tree reordered root first:
/// the root and node 0 swap places, everything else stays.
fn root_first(root: usize, old: usize) -> usize {
    if old == root {
        0
    } else if old == 0 {
        root
    } else {
        old
    }
}

#[allow(clippy::too_many_arguments)]
fn tree_structure(
    at: &At,
    id: i64,
    raw: &RawTree,
    modes: &[String],
    feature_ids: &[i64],
    values: &[f64],
    true_ids: &[i64],
    false_ids: &[i64],
    n_features: usize,
) -> Result<(Tree, usize)> {
    let len = raw.flat.len();
    let mut pointed = vec![false; len];
    let mut t = Tree {
        feature: Vec::with_capacity(len),
        threshold: Vec::with_capacity(len),
        left: Vec::with_capacity(len),
        right: Vec::with_capacity(len),
        le: Vec::with_capacity(len),
    };
    for (local, &i) in raw.flat.iter().enumerate() {
        let node = raw.ids[local];
        let split = split_of(&modes[i]).ok_or_else(|| {
            at.unsupported(format!(
                "attribute 'nodes_modes': tree {id} node {node} has mode {} (supported: BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, LEAF)",
                modes[i]
            ))
        })?;
        match split {
            None => {
                t.feature.push(-1);
                t.threshold.push(0.0);
                t.left.push(0);
                t.right.push(0);
                t.le.push(false);
            }
            Some(s) => {
                let f = feature_ids[i];
                if f < 0 || f as u64 >= n_features as u64 {
                    return Err(at.err(format!(
                        "attribute 'nodes_featureids': tree {id} node {node} reads feature {f}, outside the input's 0..{n_features}"
                    )));
                }
                if !values[i].is_finite() {
                    return Err(at.err(format!(
                        "attribute 'nodes_values': tree {id} node {node} has a non-finite threshold"
                    )));
                }
                let child = |key: &str, c: i64| -> Result<u32> {
                    raw.local.get(&c).map(|&l| l as u32).ok_or_else(|| {
                        at.err(format!(
                            "attribute '{key}': tree {id} node {node} points to node {c}, which tree {id} does not have"
                        ))
                    })
                };
                let yes = child("nodes_truenodeids", true_ids[i])?;
                let no = child("nodes_falsenodeids", false_ids[i])?;
                for c in [yes, no] {
                    pointed[c as usize] = true;
                }
                let (l, r) = if s.swap { (no, yes) } else { (yes, no) };
                t.feature.push(f as i32);
                t.threshold.push(values[i]);
                t.left.push(l);
                t.right.push(r);
                t.le.push(s.le);
            }
        }
    }
    let mut roots = (0..len).filter(|&l| !pointed[l]);
    let root = match (roots.next(), roots.next()) {
        (Some(r), None) => r,
        (None, _) => {
            return Err(at.err(format!(
                "tree {id} has no root (every node is some node's child)"
            )));
        }
        (Some(a), Some(b)) => {
            return Err(at.err(format!(
                "tree {id} has more than one root (nodes {} and {} are nobody's child)",
                raw.ids[a], raw.ids[b]
            )));
        }
    };
    // Put the root at index 0 (the tree IR's convention): swap it with node 0.
    if root != 0 {
        let swap = |c: u32| root_first(root, c as usize) as u32;
        t.feature.swap(0, root);
        t.threshold.swap(0, root);
        t.left.swap(0, root);
        t.right.swap(0, root);
        t.le.swap(0, root);
        for k in 0..len {
            if t.feature[k] >= 0 {
                t.left[k] = swap(t.left[k]);
                t.right[k] = swap(t.right[k]);
            }
        }
    }
    Ok((t, root))
}
