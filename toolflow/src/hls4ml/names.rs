//! The names hls4ml knows the layers of a model by.
//!
//! hls4ml reads ONNX after qonnx's preprocessing (`cleanup_model`,
//! `ConvertToChannelsLastAndClean`, `GemmToMatMul`, `cleanup_model`), whose
//! `GiveUniqueNodeNames` (qonnx `transformation/general.py`) renames every
//! node `OpType_k`, counting per operator type in graph order, and whose
//! `GiveReadableTensorNames` names the graph input `global_in` and each
//! initializer `<node>_param<k>`. `config_from_onnx_model` at granularity
//! `name` lists those names. hls4ml's own passes then name derived layers
//! after them (`Dense_MatMul_0`, `bn_Add_0`, `Conv2D_Conv_0`; hls4ml
//! `model/optimizer/passes/matmul_const_to_dense.py`, `merge_const.py`,
//! `conv_to_convxd.py`).
//!
//! [`assign`] computes these names for the model as uploaded, so a
//! configuration written for the preprocessed model applies to the original
//! one: nodes that qonnx folds (constant subgraphs) or removes (`Identity`,
//! and with a Gemm present `RemoveIdentityOps`: adding ~0, multiplying by
//! ~1) take no number; a Gemm becomes `MatMul_i` (its dense part) and
//! `Add_j` (its bias); every other node keeps its type. A model already
//! preprocessed keeps its names (the numbering is the same).

use std::collections::{HashMap, HashSet};

use crate::config::PrecisionConfig;
use crate::error::{Error, Result};
use crate::onnx::{Graph, Node};

/// qonnx's tolerance in `RemoveIdentityOps` (`np.isclose`, atol 1e-5, rtol 1e-5).
fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 + 1e-5 * b.abs()
}

/// True when qonnx's `RemoveIdentityOps` (run by `GemmToMatMul`) drops the node.
pub fn qonnx_identity(g: &Graph, n: &Node) -> bool {
    let second = n.input(1).and_then(|i| g.consts.get(i));
    match n.op.as_str() {
        "Identity" => true,
        "Dropout" => {
            // opset < 12: only with ratio 0; from 12 on: without a ratio input, or ratio 0.
            if g.opset < 12 {
                n.attrs.contains_key("ratio") && n.float("ratio", 0.5) == 0.0
            } else {
                n.input(1).is_none() || second.is_some_and(|t| t.data.iter().all(|&v| v == 0.0))
            }
        }
        "Add" | "Sub" => second.is_some_and(|t| t.data.iter().all(|&v| is_close(v, 0.0))),
        "Mul" | "Div" => second.is_some_and(|t| t.data.iter().all(|&v| is_close(v, 1.0))),
        _ => false,
    }
}

/// Operators qonnx's `MoveChanFirstDownstream` moves a channels-first
/// Transpose past (`is_eltwise_optype`, qonnx `util/onnx.py`).
const ELTWISE: [&str; 41] = [
    "Identity",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Selu",
    "Celu",
    "Elu",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Softplus",
    "Exp",
    "Log",
    "Sqrt",
    "Erf",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Quant",
    "Mul",
    "Div",
    "Sub",
    "Add",
    "Mod",
    "And",
    "Or",
    "Xor",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Maximum",
    "Minimum",
    "BitShift",
    "Pow",
    "BatchNormalization",
];

/// Who writes and who reads each tensor of a graph.
pub struct Links {
    producer: HashMap<String, usize>,
    readers: HashMap<String, Vec<usize>>,
}

impl Links {
    /// The node writing tensor `t`.
    pub fn producer(&self, t: &str) -> Option<usize> {
        self.producer.get(t).copied()
    }

    pub fn of(g: &Graph) -> Links {
        let mut producer = HashMap::new();
        let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for o in &n.outputs {
                producer.entry(o.clone()).or_insert(i);
            }
            for x in n.inputs.iter().filter(|x| !x.is_empty()) {
                readers.entry(x.clone()).or_default().push(i);
            }
        }
        Links { producer, readers }
    }
}

/// True when qonnx's `AbsorbChanFirstIntoMatMul` (`transformation/channels_last.py`)
/// replaces node `i`, a Reshape or Flatten read only by a MatMul or Gemm, by a
/// `Flatten` of the channels-last tensor (permuting the MatMul's weights rows
/// into channels-last order): the flattened tensor is, after
/// `ConvertToChannelsLast`, a channels-first Transpose of the output of a
/// Conv or MaxPool (or an explicit channels-first Transpose), through
/// element-wise operators only.
pub fn absorbs_channels_first(g: &Graph, links: &Links, i: usize) -> bool {
    let n = &g.nodes[i];
    if !matches!(n.op.as_str(), "Reshape" | "Flatten") {
        return false;
    }
    let Some(out) = n.outputs.first() else {
        return false;
    };
    let reader_ok = match links.readers.get(out).map(Vec::as_slice) {
        Some([j]) => matches!(g.nodes[*j].op.as_str(), "MatMul" | "Gemm"),
        _ => false,
    };
    if !reader_ok || g.outputs.iter().any(|o| o == out) {
        return false;
    }
    let mut t = n.input(0).unwrap_or_default().to_string();
    // A bounded walk (hostile graphs can chain element-wise nodes at length).
    for _ in 0..256 {
        let Some(&pi) = links.producer.get(&t) else {
            return false;
        };
        let p = &g.nodes[pi];
        if p.domain == crate::layout::CHANNELS_LAST {
            return true;
        }
        match p.op.as_str() {
            "Conv" | "MaxPool" => return true,
            "Transpose" => {
                return p.ints("perm").is_some_and(|perm| {
                    let nd = perm.len() as i64;
                    nd >= 3
                        && perm[0] == 0
                        && perm[1] == nd - 1
                        && perm[2..].iter().copied().eq(1..nd - 1)
                });
            }
            op if ELTWISE.contains(&op) => {
                let dynamic: Vec<&String> = p
                    .inputs
                    .iter()
                    .filter(|x| !x.is_empty() && !g.consts.contains_key(*x))
                    .collect();
                match dynamic.as_slice() {
                    [x] => t = (*x).clone(),
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
    false
}

/// Sets `aliases` of every node; call on the graph in file order (before clean-up).
pub fn assign(g: &mut Graph) {
    let links = Links::of(g);
    let mut constant: HashSet<String> = g.consts.keys().cloned().collect();
    let gemm = g.nodes.iter().any(|n| n.op == "Gemm");
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut next = |op: &str| {
        let c = counts.entry(op.to_string()).or_insert(0);
        *c += 1;
        format!("{op}_{}", *c - 1)
    };
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        let all_const = n
            .inputs
            .iter()
            .filter(|s| !s.is_empty())
            .all(|s| constant.contains(s));
        let keep_quant = matches!(n.op.as_str(), "Quant" | "BipolarQuant");
        if (all_const || n.op == "Shape") && !keep_quant {
            // Folded by qonnx's FoldConstants (Shape: the shape is known).
            constant.extend(n.outputs.iter().cloned());
            continue;
        }
        if n.op == "Identity" || (gemm && qonnx_identity(g, n)) {
            continue;
        }
        let mut main = Vec::new();
        let mut bias = Vec::new();
        if n.op == "Gemm" {
            if n.int("transA", 0) != 0 {
                next("Transpose");
            }
            main.push(next("MatMul"));
            if n.float("alpha", 1.0) != 1.0 {
                next("Mul");
            }
            if n.input(2).is_some() {
                bias.push(next("Add"));
            }
        } else if n.op == "Reshape" && absorbs_channels_first(g, &links, i) {
            main.push(next("Flatten"));
        } else {
            main.push(next(&n.op));
        }
        let derived = derived_names(g, n, &main);
        let bias_derived: Vec<String> = bias.iter().map(|b| format!("bn_{b}")).collect();
        let a = &mut g.nodes[i].aliases;
        a.main = main.into_iter().chain(derived).collect();
        a.bias = bias.into_iter().chain(bias_derived).collect();
    }
}

/// The names hls4ml's conversion gives the layer made from `n` (qonnx name `base`).
fn derived_names(g: &Graph, n: &Node, base: &[String]) -> Vec<String> {
    let Some(b) = base.first() else {
        return Vec::new();
    };
    let const_in = |i: usize| n.input(i).is_some_and(|x| g.consts.contains_key(x));
    match n.op.as_str() {
        "MatMul" | "Gemm" => vec![format!("Dense_{b}")],
        "Add" | "Sub" | "Mul" | "Div" if const_in(0) || const_in(1) => vec![format!("bn_{b}")],
        "Conv" => ["Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D"]
            .iter()
            .map(|p| format!("{p}_{b}"))
            .collect(),
        "Quant" | "BipolarQuant" => vec![format!("{b}_act")],
        _ => Vec::new(),
    }
}

/// The names hls4ml gives the graph input `name`: qonnx's `global_in`, and
/// hls4ml's sanitised name (`.` -> `_`, a leading digit prefixed with `inputlayer`).
pub fn input_aliases(name: &str) -> Vec<String> {
    let mut v = vec!["global_in".to_string()];
    let clean = name.replace('.', "_");
    if clean.starts_with(|c: char| c.is_ascii_digit()) {
        v.push(format!("inputlayer{clean}"));
    } else if clean != name {
        v.push(clean);
    }
    v
}

/// The names a configuration lookup uses for a node's main layer, most
/// specific first: its own name (when the file gave one), then hls4ml's.
pub fn lookup(n: &Node) -> Vec<&str> {
    let own = (!n.aliases.unnamed).then_some(n.name.as_str());
    own.into_iter()
        .chain(n.aliases.main.iter().map(String::as_str))
        .collect()
}

/// Refuses a `LayerName` entry that names no layer, listing the real ones.
/// Known are: node names, hls4ml's names, the graph input and its names,
/// initializers (by name or qonnx's `<layer>_param<k>`), and the Transposes
/// qonnx's channels-last conversion inserts (`Transpose_<k>`, no arithmetic).
pub fn check_layer_names(g: &Graph, cfg: &PrecisionConfig) -> Result<()> {
    let mut known: HashSet<String> = HashSet::new();
    let mut listing = Vec::new();
    for i in &g.inputs {
        let al = input_aliases(&i.name);
        listing.push(format!("{} (the input; hls4ml: {})", i.name, al.join(", ")));
        known.insert(i.name.clone());
        known.extend(al);
    }
    for n in &g.nodes {
        let mut names: Vec<&str> = lookup(n);
        names.extend(n.aliases.bias.iter().map(String::as_str));
        if names.is_empty() {
            continue;
        }
        let shown = if n.aliases.unnamed {
            "(unnamed)"
        } else {
            n.name.as_str()
        };
        let hls: Vec<&str> = n
            .aliases
            .main
            .iter()
            .chain(&n.aliases.bias)
            .map(String::as_str)
            .filter(|a| {
                !a.starts_with("Dense_")
                    && !a.starts_with("bn_")
                    && !a.contains("Conv1D_")
                    && !a.contains("Conv2D_")
            })
            .collect();
        listing.push(format!("{shown} ({}; hls4ml: {})", n.op, hls.join(", ")));
        known.extend(names.iter().map(|s| s.to_string()));
    }
    known.extend(g.consts.keys().cloned());
    let lower: HashSet<String> = known.iter().map(|k| k.to_ascii_lowercase()).collect();
    let is_known = |name: &str| {
        let l = name.to_ascii_lowercase();
        if lower.contains(&l) {
            return true;
        }
        if let Some((layer, k)) = l.rsplit_once("_param")
            && !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_digit())
            && lower.contains(layer)
        {
            return true;
        }
        l.strip_prefix("transpose_")
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    };
    let unknown = cfg.unknown_layer_names(&is_known);
    if unknown.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 60;
    let more = listing.len().saturating_sub(SHOWN);
    listing.truncate(SHOWN);
    if more > 0 {
        listing.push(format!("... and {more} more"));
    }
    Err(Error::Config(format!(
        "LayerName {} {} no layer of the model. Its layers are: {}",
        unknown
            .iter()
            .map(|u| format!("'{u}'"))
            .collect::<Vec<_>>()
            .join(", "),
        if unknown.len() == 1 { "names" } else { "name" },
        listing.join("; ")
    )))
}
