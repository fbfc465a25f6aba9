//! Our own view of an ONNX graph: nodes with decoded attributes, constants
//! as f64 tensors, static input shapes. Built from the protobuf once; all
//! later passes (clean-up, lowering) work on this form.

use std::collections::{HashMap, HashSet, VecDeque};

use prost::Message;

use super::proto::{self, GraphProto, ModelProto, attribute_type as at};
use super::tensor::{self, Tensor};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Float(f32),
    Int(i64),
    Str(String),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strs(Vec<String>),
}

/// One operator application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// Node name; generated (`Op_index`) when the model leaves it empty.
    pub name: String,
    pub op: String,
    pub domain: String,
    /// Input names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: HashMap<String, Attr>,
    /// The names hls4ml knows this node by (`crate::hls4ml::names`), for
    /// precision configuration lookups.
    pub aliases: Aliases,
}

/// The layer names hls4ml gives a node: the names of qonnx's preprocessing
/// (`MatMul_0`, ...) and of hls4ml's conversion (`Dense_MatMul_0`, ...).
/// A Gemm is two hls4ml layers: the MatMul (`main`) and its bias Add (`bias`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aliases {
    pub main: Vec<String>,
    pub bias: Vec<String>,
    /// The file left the node unnamed; `name` was made up (`Op_index`) and
    /// is not a name the user can know, so lookups skip it.
    pub unnamed: bool,
}

/// A graph input with its static shape (dimension 0 is the batch).
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub shape: Vec<usize>,
}

/// The decoded graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub consts: HashMap<String, Tensor>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<String>,
    /// Version of the default ("" / "ai.onnx") opset.
    pub opset: i64,
}

/// Lowest and highest default-domain opset accepted.
pub const OPSET_RANGE: (i64, i64) = (6, 21);

/// Parses ONNX bytes into a [`Graph`], checking limits on the way.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Graph> {
    from_model(decode(bytes, limits)?, limits)
}

/// Decodes ONNX bytes within the file size limit.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<ModelProto> {
    if bytes.len() > limits.max_model_bytes {
        return Err(Error::Limit(format!(
            "model file is {} bytes, the limit is {}",
            bytes.len(),
            limits.max_model_bytes
        )));
    }
    ModelProto::decode(bytes).map_err(|e| Error::Protobuf(e.to_string()))
}

/// The model's graph, within the node count limit.
pub fn graph_of<'m>(model: &'m ModelProto, limits: &Limits) -> Result<&'m GraphProto> {
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Invalid("the model has no graph".into()))?;
    if g.node.len() > limits.max_nodes {
        return Err(Error::Limit(format!(
            "{} nodes, the limit is {}",
            g.node.len(),
            limits.max_nodes
        )));
    }
    Ok(g)
}

fn from_model(model: ModelProto, limits: &Limits) -> Result<Graph> {
    let opset = default_opset(&model)?;
    let g = graph_of(&model, limits)?;
    let mut consts = HashMap::new();
    for t in &g.initializer {
        consts.insert(
            t.name.clone(),
            tensor::decode(t, limits.max_tensor_elements)?,
        );
    }
    let mut nodes = Vec::with_capacity(g.node.len());
    for (i, n) in g.node.iter().enumerate() {
        nodes.push(convert_node(n, i, limits)?);
    }
    let mut inputs = Vec::new();
    for vi in g.input.iter().filter(|vi| !consts.contains_key(&vi.name)) {
        inputs.push(Input {
            name: vi.name.clone(),
            shape: static_shape(vi)?,
        });
    }
    if inputs.is_empty() {
        return Err(Error::Invalid(
            "the graph has no (non-initializer) input".into(),
        ));
    }
    let outputs: Vec<String> = g.output.iter().map(|o| o.name.clone()).collect();
    if outputs.is_empty() {
        return Err(Error::Invalid("the graph has no output".into()));
    }
    Ok(Graph {
        nodes,
        consts,
        inputs,
        outputs,
        opset,
    })
}

fn default_opset(model: &ModelProto) -> Result<i64> {
    let v = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(OPSET_RANGE.1);
    if v < OPSET_RANGE.0 || v > OPSET_RANGE.1 {
        return Err(Error::Invalid(format!(
            "default opset {v} is outside the supported range {}..={}",
            OPSET_RANGE.0, OPSET_RANGE.1
        )));
    }
    Ok(v)
}

fn convert_node(n: &proto::NodeProto, index: usize, limits: &Limits) -> Result<Node> {
    let name = if n.name.is_empty() {
        format!("{}_{index}", n.op_type)
    } else {
        n.name.clone()
    };
    let mut attrs = HashMap::new();
    for a in &n.attribute {
        if let Some(v) = convert_attr(a, &name, limits)? {
            attrs.insert(a.name.clone(), v);
        }
    }
    Ok(Node {
        name,
        op: n.op_type.clone(),
        domain: n.domain.clone(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attrs,
        aliases: Aliases {
            unnamed: n.name.is_empty(),
            ..Aliases::default()
        },
    })
}

fn convert_attr(a: &proto::AttributeProto, node: &str, limits: &Limits) -> Result<Option<Attr>> {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Some(match a.r#type {
        at::FLOAT => Attr::Float(a.f),
        at::INT => Attr::Int(a.i),
        at::STRING => Attr::Str(s(&a.s)),
        at::TENSOR => match &a.t {
            Some(t) => Attr::Tensor(tensor::decode(t, limits.max_tensor_elements)?),
            None => {
                return Err(Error::Invalid(format!(
                    "node '{node}': attribute '{}' has no tensor",
                    a.name
                )));
            }
        },
        at::FLOATS => Attr::Floats(a.floats.clone()),
        at::INTS => Attr::Ints(a.ints.clone()),
        at::STRINGS => Attr::Strs(a.strings.iter().map(|b| s(b)).collect()),
        _ => return Ok(None),
    }))
}

fn static_shape(vi: &proto::ValueInfoProto) -> Result<Vec<usize>> {
    let name = &vi.name;
    let dims = vi
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.as_slice())
        .ok_or_else(|| Error::Shape(format!("input '{name}' has no tensor shape")))?;
    if dims.is_empty() {
        return Err(Error::Shape(format!(
            "input '{name}' is a scalar; a batch dimension is required"
        )));
    }
    let mut shape = vec![1usize];
    for (i, d) in dims.iter().enumerate().skip(1) {
        match d.value {
            Some(proto::DimValue::DimValue(v)) if v > 0 => shape.push(v as usize),
            _ => {
                return Err(Error::Shape(format!(
                    "input '{name}' has a dynamic or unknown dimension {i}; only the batch dimension (0) may be dynamic"
                )));
            }
        }
    }
    Ok(shape)
}

impl Node {
    fn attr(&self, key: &str) -> Option<&Attr> {
        self.attrs.get(key)
    }

    /// Integer attribute with a default.
    pub fn int(&self, key: &str, default: i64) -> i64 {
        match self.attr(key) {
            Some(Attr::Int(v)) => *v,
            _ => default,
        }
    }

    /// Float attribute with a default.
    pub fn float(&self, key: &str, default: f32) -> f32 {
        match self.attr(key) {
            Some(Attr::Float(v)) => *v,
            Some(Attr::Int(v)) => *v as f32,
            _ => default,
        }
    }

    /// String attribute with a default.
    pub fn string(&self, key: &str, default: &str) -> String {
        match self.attr(key) {
            Some(Attr::Str(v)) => v.clone(),
            _ => default.to_string(),
        }
    }

    /// Integer-list attribute, if present.
    pub fn ints(&self, key: &str) -> Option<Vec<i64>> {
        match self.attr(key) {
            Some(Attr::Ints(v)) => Some(v.clone()),
            Some(Attr::Int(v)) => Some(vec![*v]),
            _ => None,
        }
    }

    /// Float-list attribute, if present.
    pub fn floats(&self, key: &str) -> Option<Vec<f32>> {
        match self.attr(key) {
            Some(Attr::Floats(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Tensor attribute, if present.
    pub fn tensor(&self, key: &str) -> Option<&Tensor> {
        match self.attr(key) {
            Some(Attr::Tensor(t)) => Some(t),
            _ => None,
        }
    }

    /// Name of input `i`, if present and not omitted.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Error naming this node.
    pub fn err(&self, detail: impl Into<String>) -> Error {
        Error::node(&self.name, &self.op, detail)
    }
}

impl Graph {
    /// Orders nodes so every node follows the producers of its inputs.
    /// Errors on cycles, duplicate outputs and inputs nobody produces.
    pub fn topo_sort(&mut self) -> Result<()> {
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                if producer.insert(o.as_str(), i).is_some() || self.consts.contains_key(o) {
                    return Err(Error::Invalid(format!("tensor '{o}' is produced twice")));
                }
            }
        }
        let known: HashSet<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        let mut indeg = vec![0usize; self.nodes.len()];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
                if let Some(&p) = producer.get(inp.as_str()) {
                    indeg[i] += 1;
                    users[p].push(i);
                } else if !known.contains(inp.as_str()) && !self.consts.contains_key(inp) {
                    return Err(n.err(format!(
                        "input '{inp}' is neither a graph input, an initializer nor a node output"
                    )));
                }
            }
        }
        let order = kahn(&mut indeg, &users);
        if order.len() != self.nodes.len() {
            return Err(Error::Invalid("the graph has a cycle".into()));
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order.into_iter().filter_map(|i| old[i].take()).collect();
        Ok(())
    }

    /// Number of nodes reading each tensor (graph outputs count as a reader).
    pub fn use_counts(&self) -> HashMap<String, usize> {
        let mut m: HashMap<String, usize> = HashMap::new();
        for n in &self.nodes {
            for i in n.inputs.iter().filter(|s| !s.is_empty()) {
                *m.entry(i.clone()).or_default() += 1;
            }
        }
        for o in &self.outputs {
            *m.entry(o.clone()).or_default() += 1;
        }
        m
    }
}

fn kahn(indeg: &mut [usize], users: &[Vec<usize>]) -> Vec<usize> {
    let mut queue: VecDeque<usize> = (0..indeg.len()).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(indeg.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                queue.push_back(u);
            }
        }
    }
    order
}
