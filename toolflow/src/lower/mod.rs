//! Lowering: ONNX graph -> typed fixed-point IR.
//!
//! Nodes are visited in topological order. Each ONNX value is either a
//! constant (folded here, in float with f32 rounding like ONNX runtimes),
//! the float model input (quantized by the first layer that reads it), or a
//! fixed-point IR tensor with a proven integer range. Everything dynamic is
//! exact integer arithmetic; only lookup-table activations approximate.

mod activation;
mod affine;
mod consts;
mod elementwise;
pub(crate) mod hls;
mod linear;
mod param_act;
mod plan;
mod pool;
mod quant;
mod shape;
pub(crate) mod util;

pub(crate) use shape::permute_index;

use std::collections::{HashMap, HashSet};

use crate::config::PrecisionConfig;
use crate::error::{Error, Result};
use crate::fixed::FixedType;
use crate::ir::{Layer, LayerKind, Model, TensorId, TensorInfo};
use crate::limits::Limits;
use crate::onnx::{Graph, Node, Tensor};

/// What an ONNX value is during lowering.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// The float graph input, not yet quantized.
    Float,
    Const(Tensor),
    Dyn(TensorId),
}

/// Lowering state.
pub(crate) struct Ctx<'a> {
    /// The user's configuration (float front door), if any.
    pub cfg: Option<&'a PrecisionConfig>,
    /// Defaults for what a QONNX model leaves open (tables, unquantized input).
    pub defaults: PrecisionConfig,
    pub limits: &'a Limits,
    pub env: HashMap<String, Val>,
    pub model: Model,
    pub mults: u64,
    pub params: u64,
    /// Default-domain opset of the model.
    pub opset: i64,
    input_cast: Option<TensorId>,
    /// The graph being lowered (configuration mode looks ahead for fusing).
    pub graph: &'a Graph,
    /// For each tensor, the nodes reading it.
    pub consumers: HashMap<String, Vec<usize>>,
    /// Writers and readers of the graph's tensors.
    pub links: crate::hls4ml::names::Links,
    pub graph_outputs: HashSet<String>,
    /// Nodes already lowered (folded constants, layers fused into others).
    pub handled: HashSet<usize>,
    /// The model has a Gemm (qonnx's `GemmToMatMul` then removes identity operations).
    pub has_gemm: bool,
    /// The hls4ml layer of the node being lowered (for reuse factor lookups).
    pub cur: hls::Identity,
    /// Constants produced by QONNX quantizers (hls4ml: a `quantizer` is
    /// attached), with hls4ml's type of the quantizer when it has one.
    pub quantized: HashMap<String, Option<FixedType>>,
    /// Quant nodes hls4ml merges into the layer before them (`MergeLinearActivation`).
    pub merged_quant: std::cell::RefCell<HashSet<usize>>,
}

/// Domains of the QONNX custom operators (`onnx.brevitas` is Brevitas'
/// export name for the same operators; qonnx maps it to `qonnx.custom_op.general`).
pub const QONNX_DOMAINS: [&str; 4] = [
    "qonnx.custom_op.general",
    "finn.custom_op.general",
    "finn",
    "onnx.brevitas",
];

/// Refuses a node of a domain (or an operator of a domain) we do not implement,
/// so that it is never read as the standard operator of the same name.
fn check_domain(node: &Node) -> Result<()> {
    let d = node.domain.as_str();
    let qonnx_op = matches!(
        node.op.as_str(),
        "Quant" | "IntQuant" | "BipolarQuant" | "Trunc" | "MultiThreshold"
    );
    if d.is_empty() || d == "ai.onnx" {
        // qonnx's clean-up accepts its quantizers without their domain, too.
        if node.op == "MultiThreshold" {
            return Err(Error::unsupported(
                &node.name,
                &node.op,
                "MultiThreshold is a QONNX operator; give it the domain qonnx.custom_op.general",
            ));
        }
        return Ok(());
    }
    if d == crate::layout::CHANNELS_LAST && node.op == "BatchNormalization" {
        return Ok(());
    }
    if QONNX_DOMAINS.contains(&d) {
        if qonnx_op {
            return Ok(());
        }
        return Err(Error::unsupported(
            &node.name,
            &node.op,
            format!(
                "domain '{d}' has no operator {} that we implement (QONNX: Quant, IntQuant, BipolarQuant, Trunc, MultiThreshold)",
                node.op
            ),
        ));
    }
    Err(Error::unsupported(
        &node.name,
        &node.op,
        format!(
            "domain '{d}' is not implemented (supported: the default ONNX domain, {} and qonnx.custom_op.channels_last)",
            QONNX_DOMAINS.join(", ")
        ),
    ))
}

/// Lowers a cleaned-up graph.
pub fn lower(graph: &Graph, cfg: Option<&PrecisionConfig>, limits: &Limits) -> Result<Model> {
    let [input] = graph.inputs.as_slice() else {
        return Err(Error::Invalid(format!(
            "exactly one graph input is supported, found {}",
            graph.inputs.len()
        )));
    };
    let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            let v = consumers.entry(inp.clone()).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    let mut ctx = Ctx {
        cfg,
        defaults: PrecisionConfig::default(),
        limits,
        env: HashMap::new(),
        model: Model {
            tensors: Vec::new(),
            layers: Vec::new(),
            input_name: input.name.clone(),
            input_shape: input.shape.clone(),
            outputs: Vec::new(),
        },
        mults: 0,
        params: 0,
        opset: graph.opset,
        input_cast: None,
        graph,
        consumers,
        links: crate::hls4ml::names::Links::of(graph),
        graph_outputs: graph.outputs.iter().cloned().collect(),
        handled: HashSet::new(),
        has_gemm: graph.nodes.iter().any(|n| n.op == "Gemm"),
        cur: hls::Identity::default(),
        quantized: HashMap::new(),
        merged_quant: Default::default(),
    };
    util::numel(&input.shape, limits, &input.name)?;
    for (k, v) in &graph.consts {
        ctx.env.insert(k.clone(), Val::Const(v.clone()));
    }
    ctx.env.insert(input.name.clone(), Val::Float);
    // Constant subgraphs first, so that looking ahead sees every constant.
    for (i, node) in graph.nodes.iter().enumerate() {
        check_domain(node)?;
        let ready = |n: &String| {
            n.is_empty()
                || matches!(ctx.env.get(n), Some(Val::Const(_)))
                || (node.op == "Shape" && matches!(ctx.env.get(n), Some(Val::Float)))
        };
        if node.inputs.iter().all(ready) && fold(&mut ctx, node)? {
            ctx.handled.insert(i);
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if ctx.handled.contains(&i) {
            continue;
        }
        lower_node(&mut ctx, node, i)?;
    }
    for out in &graph.outputs {
        let mut id = ctx.dyn_named(out, "graph output")?;
        // hls4ml writes a bipolar output (binary_tanh) as ap_uint<1>: 0 for -1.
        let bipolar = graph
            .nodes
            .iter()
            .any(|n| n.op == "BipolarQuant" && n.outputs.first() == Some(out));
        if cfg.is_some() && bipolar {
            let info = ctx.info(id).clone();
            let y = ctx.range_tensor(
                &format!("{out}_uint1"),
                info.shape.clone(),
                info.ty.frac,
                0,
                (info.hi as i128).max(0),
            )?;
            ctx.push_layer(out, "BipolarQuant", LayerKind::Relu, vec![id], y);
            id = y;
        }
        ctx.model.outputs.push(id);
    }
    Ok(ctx.model)
}

/// Folds `node` if its inputs are constants; true if it did.
fn fold(ctx: &mut Ctx, node: &Node) -> Result<bool> {
    let Some(t) = consts::try_fold(ctx, node)? else {
        return Ok(false);
    };
    let out = node
        .outputs
        .first()
        .ok_or_else(|| node.err("node has no output"))?;
    let quantizer = if matches!(node.op.as_str(), "Quant" | "IntQuant" | "BipolarQuant") {
        Some(quant::hls_type(ctx, node))
    } else if matches!(
        node.op.as_str(),
        "Identity" | "Transpose" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Cast"
    ) {
        node.input(0).and_then(|i| ctx.quantized.get(i).copied())
    } else {
        None
    };
    if let Some(q) = quantizer {
        ctx.quantized.insert(out.clone(), q);
    }
    ctx.env.insert(out.clone(), Val::Const(t));
    Ok(true)
}

fn lower_node(ctx: &mut Ctx, node: &Node, index: usize) -> Result<()> {
    if node.outputs.first().is_none_or(|o| o.is_empty()) {
        return Err(node.err("node has no output"));
    }
    if fold(ctx, node)? {
        return Ok(());
    }
    if ctx.qonnx_identity(node) || ctx.merged_quant.borrow().contains(&index) {
        return shape::identity(ctx, node);
    }
    ctx.cur = hls::Identity::of(node);
    let hls = ctx.cfg.is_some();
    match node.op.as_str() {
        "Quant" | "IntQuant" => quant::quant(ctx, node),
        "BipolarQuant" => quant::bipolar(ctx, node),
        "Trunc" => quant::trunc(ctx, node),
        "MultiThreshold" => quant::multithreshold(ctx, node),
        "MatMul" | "Gemm" => linear::dense(ctx, node, index),
        "Conv" => linear::conv(ctx, node, index),
        "Add" | "Sub" | "Mul" | "Div" | "BatchNormalization"
            if hls
                && (node
                    .input(0)
                    .is_some_and(|x| affine::is_affine(ctx, node, x))
                    || node
                        .input(1)
                        .is_some_and(|x| affine::is_affine(ctx, node, x))) =>
        {
            affine_line(ctx, node, index)
        }
        "Add" | "Sub" | "Mul" | "Div" => elementwise::binary(ctx, node),
        "BatchNormalization" => elementwise::batchnorm(ctx, node),
        "Relu" | "LeakyRelu" | "Clip" => elementwise::activation(ctx, node),
        "ThresholdedRelu" | "PRelu" | "HardSigmoid" => param_act::lower(ctx, node),
        "Sigmoid" | "Tanh" | "Softsign" | "Softplus" | "Elu" | "Selu" => {
            activation::table(ctx, node)
        }
        "Softmax" => activation::softmax(ctx, node),
        "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" => pool::pool(ctx, node),
        "Identity" | "Dropout" => shape::identity(ctx, node),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => shape::reshape(ctx, node),
        "Transpose" => shape::transpose(ctx, node),
        "Concat" => shape::concat(ctx, node),
        "Resize" | "Upsample" => shape::resize(ctx, node),
        _ => Err(Error::unsupported(
            &node.name,
            &node.op,
            format!("operator not supported (domain '{}')", node.domain),
        )),
    }
}

/// A BatchNormalization or an operation with a constant, in configuration
/// mode: hls4ml's scale-and-shift layers, with the ones after it merged as
/// hls4ml merges them (`affine.rs`).
fn affine_line(ctx: &mut Ctx, node: &Node, index: usize) -> Result<()> {
    let (xi, _) = [0usize, 1]
        .iter()
        .filter_map(|&i| node.input(i).map(|n| (i, n)))
        .find(|(_, n)| !matches!(ctx.env.get(*n), Some(Val::Const(_))))
        .ok_or_else(|| node.err("no computed input"))?;
    let x = ctx.dyn_in(node, xi)?;
    let shape = ctx.shape(x).to_vec();
    let links = ctx.affine_line(index, node, &shape)?;
    let mut y = x;
    for link in affine::merge_consecutive(ctx, links)? {
        y = ctx.lower_affine(y, &link)?;
    }
    Ok(())
}

impl Ctx<'_> {
    /// The configuration that decides types of non-exact operations.
    pub fn types(&self) -> &PrecisionConfig {
        self.cfg.unwrap_or(&self.defaults)
    }

    /// Value of input `i` of `node`.
    pub fn val(&self, node: &Node, i: usize) -> Result<&Val> {
        let name = node
            .input(i)
            .ok_or_else(|| node.err(format!("missing input {i}")))?;
        self.env
            .get(name)
            .ok_or_else(|| node.err(format!("input '{name}' is not defined before use")))
    }

    /// Constant input `i` of `node`.
    pub fn const_in(&self, node: &Node, i: usize) -> Result<&Tensor> {
        match self.val(node, i)? {
            Val::Const(t) => Ok(t),
            _ => Err(node.err(format!("input {i} must be a constant (initializer)"))),
        }
    }

    /// Optional constant input.
    pub fn opt_const(&self, node: &Node, i: usize) -> Result<Option<&Tensor>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        self.const_in(node, i).map(Some)
    }

    /// Dynamic (fixed-point) input `i`; the float input is quantized with the input precision.
    pub fn dyn_in(&mut self, node: &Node, i: usize) -> Result<TensorId> {
        let name = node
            .input(i)
            .ok_or_else(|| node.err(format!("missing input {i}")))?
            .to_string();
        self.dyn_named(&name, &node.name)
    }

    fn dyn_named(&mut self, name: &str, user: &str) -> Result<TensorId> {
        match self.env.get(name) {
            Some(Val::Dyn(id)) => Ok(*id),
            Some(Val::Float) => self.input_cast(),
            Some(Val::Const(_)) => Err(Error::Invalid(format!(
                "'{user}' needs '{name}' to be computed, but it is constant"
            ))),
            None => Err(Error::Invalid(format!(
                "'{user}' reads '{name}', which is never defined"
            ))),
        }
    }

    /// Quantizes the float input to the configured input precision (once).
    fn input_cast(&mut self) -> Result<TensorId> {
        if let Some(id) = self.input_cast {
            return Ok(id);
        }
        let name = self.model.input_name.clone();
        let ident = hls::Identity {
            names: std::iter::once(name.clone())
                .chain(crate::hls4ml::names::input_aliases(&name))
                .collect(),
            classes: vec!["Input".into(), "InputLayer".into()],
        };
        let ty = self
            .result_type(&ident, &name, None)
            .unwrap_or_else(|| self.defaults.default_type());
        let shape = self.model.input_shape.clone();
        let id = self.typed_tensor(&name, shape, ty)?;
        self.push_layer(&name, "Input", LayerKind::InputCast(ty), vec![], id);
        self.input_cast = Some(id);
        Ok(id)
    }

    /// Shape of an IR tensor.
    pub fn shape(&self, id: TensorId) -> &[usize] {
        &self.model.tensors[id].shape
    }

    /// Info of an IR tensor.
    pub fn info(&self, id: TensorId) -> &TensorInfo {
        &self.model.tensors[id]
    }

    /// New tensor holding raw values in `[lo, hi]` at `frac`, with the narrowest exact type.
    pub fn range_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        frac: i32,
        lo: i128,
        hi: i128,
    ) -> Result<TensorId> {
        let ty = FixedType::from_range(lo.min(0).min(hi), hi.max(lo), frac);
        self.check_width(name, ty.width)?;
        let (lo, hi) = (
            lo.clamp(i64::MIN as i128, i64::MAX as i128),
            hi.clamp(i64::MIN as i128, i64::MAX as i128),
        );
        self.add_tensor(TensorInfo {
            name: name.to_string(),
            shape,
            ty,
            lo: lo as i64,
            hi: hi as i64,
        })
    }

    /// New tensor of a given type (range = the type's range).
    pub fn typed_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        ty: FixedType,
    ) -> Result<TensorId> {
        self.check_width(name, ty.width)?;
        let (lo, hi) = (ty.min_raw() as i64, ty.max_raw() as i64);
        self.add_tensor(TensorInfo {
            name: name.to_string(),
            shape,
            ty,
            lo,
            hi,
        })
    }

    fn check_width(&self, name: &str, width: u32) -> Result<()> {
        if width > self.limits.max_width {
            return Err(Error::Limit(format!(
                "tensor '{name}' needs {width} bits to be exact, more than {}; quantize it (Quant node or precision config)",
                self.limits.max_width
            )));
        }
        Ok(())
    }

    fn add_tensor(&mut self, t: TensorInfo) -> Result<TensorId> {
        if t.ty.frac.abs() > util::MAX_FRAC {
            return Err(Error::Limit(format!(
                "tensor '{}' would need a binary point at 2^-{}, beyond 2^±{}",
                t.name,
                t.ty.frac,
                util::MAX_FRAC
            )));
        }
        util::numel(&t.shape, self.limits, &t.name)?;
        self.model.tensors.push(t);
        Ok(self.model.tensors.len() - 1)
    }

    /// Appends a layer, with reuse factor and strategy from the configuration.
    pub fn push_layer(
        &mut self,
        name: &str,
        op: &str,
        kind: LayerKind,
        inputs: Vec<TensorId>,
        output: TensorId,
    ) {
        let (reuse_factor, strategy) = {
            let mut names: Vec<&str> = vec![name];
            names.extend(self.cur.names.iter().map(String::as_str));
            let mut classes: Vec<&str> = self.cur.classes.iter().map(String::as_str).collect();
            classes.push(op);
            self.types().reuse(&names, &classes)
        };
        self.model.layers.push(Layer {
            name: name.to_string(),
            op: op.to_string(),
            kind,
            inputs,
            output,
            reuse_factor,
            strategy,
        });
    }

    /// Counts parameters and multiplications against the limits.
    pub fn account(&mut self, node: &Node, params: u64, mults: u64) -> Result<()> {
        self.params = self.params.saturating_add(params);
        self.mults = self.mults.saturating_add(mults);
        if self.params > self.limits.max_parameters {
            return Err(Error::Limit(format!(
                "at node '{}': {} parameters, the limit is {}",
                node.name, self.params, self.limits.max_parameters
            )));
        }
        if self.mults > self.limits.max_mults_per_sample {
            return Err(Error::Limit(format!(
                "at node '{}': {} multiplications per sample, the limit is {}",
                node.name, self.mults, self.limits.max_mults_per_sample
            )));
        }
        Ok(())
    }

    /// Binds the node's first output to `id`, casting to the configured result type first
    /// when a configuration is given (hls4ml: every layer writes its `result_t`; `auto`
    /// is the model default for the layers hls4ml does not infer).
    pub fn finish(&mut self, node: &Node, id: TensorId) -> Result<()> {
        let out = node
            .outputs
            .first()
            .ok_or_else(|| node.err("node has no output"))?
            .clone();
        let ident = hls::Identity::of(node);
        let id = match self.result_type(&ident, &out, None) {
            Some(ty) => self.cast(node, id, ty, &out)?,
            None => id,
        };
        self.env.insert(out, Val::Dyn(id));
        Ok(())
    }

    /// Binds the node's first output to `id` with no cast (exact operations, data movement).
    pub fn bind(&mut self, node: &Node, id: TensorId) -> Result<()> {
        let out = node
            .outputs
            .first()
            .ok_or_else(|| node.err("node has no output"))?
            .clone();
        self.env.insert(out, Val::Dyn(id));
        Ok(())
    }

    /// Emits an ap_fixed cast layer unless the tensor already has exactly that type.
    pub fn cast(
        &mut self,
        node: &Node,
        id: TensorId,
        ty: FixedType,
        name: &str,
    ) -> Result<TensorId> {
        if self.info(id).ty == ty {
            return Ok(id);
        }
        let shape = self.shape(id).to_vec();
        let out = self.typed_tensor(name, shape, ty)?;
        self.push_layer(&node.name, &node.op, LayerKind::Cast, vec![id], out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
