//! Lowering: ONNX graph -> typed fixed-point IR.
//!
//! Nodes are visited in topological order. Each ONNX value is either a
//! constant (folded here, in float with f32 rounding like ONNX runtimes),
//! the float model input (quantized by the first layer that reads it), or a
//! fixed-point IR tensor with a proven integer range. Everything dynamic is
//! exact integer arithmetic; only lookup-table activations approximate.

mod activation;
mod consts;
mod elementwise;
mod linear;
mod pool;
mod quant;
mod shape;
pub(crate) mod util;

use std::collections::HashMap;

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
}

/// Lowers a cleaned-up graph.
pub fn lower(graph: &Graph, cfg: Option<&PrecisionConfig>, limits: &Limits) -> Result<Model> {
    let [input] = graph.inputs.as_slice() else {
        return Err(Error::Invalid(format!(
            "exactly one graph input is supported, found {}",
            graph.inputs.len()
        )));
    };
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
    };
    util::numel(&input.shape, limits, &input.name)?;
    for (k, v) in &graph.consts {
        ctx.env.insert(k.clone(), Val::Const(v.clone()));
    }
    ctx.env.insert(input.name.clone(), Val::Float);
    for node in &graph.nodes {
        lower_node(&mut ctx, node)?;
    }
    for out in &graph.outputs {
        let id = ctx.dyn_named(out, "graph output")?;
        ctx.model.outputs.push(id);
    }
    Ok(ctx.model)
}

fn lower_node(ctx: &mut Ctx, node: &Node) -> Result<()> {
    if node.outputs.first().is_none_or(|o| o.is_empty()) {
        return Err(node.err("node has no output"));
    }
    if let Some(t) = consts::try_fold(ctx, node)? {
        let out = node
            .outputs
            .first()
            .ok_or_else(|| node.err("node has no output"))?;
        ctx.env.insert(out.clone(), Val::Const(t));
        return Ok(());
    }
    let qonnx = matches!(
        node.domain.as_str(),
        "qonnx.custom_op.general" | "finn.custom_op.general" | "finn"
    );
    match (qonnx, node.op.as_str()) {
        (_, "Quant" | "IntQuant") => quant::quant(ctx, node),
        (_, "BipolarQuant") => quant::bipolar(ctx, node),
        (_, "Trunc") => quant::trunc(ctx, node),
        (_, "MultiThreshold") => quant::multithreshold(ctx, node),
        (false, "MatMul" | "Gemm") => linear::dense(ctx, node),
        (false, "Conv") => linear::conv(ctx, node),
        (false, "Add" | "Sub" | "Mul" | "Div") => elementwise::binary(ctx, node),
        (false, "BatchNormalization") => elementwise::batchnorm(ctx, node),
        (false, "Relu" | "LeakyRelu" | "Clip") => elementwise::activation(ctx, node),
        (false, "Sigmoid" | "Tanh") => activation::table(ctx, node),
        (false, "Softmax") => activation::softmax(ctx, node),
        (false, "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool") => {
            pool::pool(ctx, node)
        }
        (false, "Identity" | "Dropout") => shape::identity(ctx, node),
        (false, "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze") => shape::reshape(ctx, node),
        (false, "Transpose") => shape::transpose(ctx, node),
        (false, "Concat") => shape::concat(ctx, node),
        _ => Err(Error::unsupported(
            &node.name,
            &node.op,
            format!("operator not supported (domain '{}')", node.domain),
        )),
    }
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
        let ty = self.types().result(&name, "Input", &name)?;
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
        let (reuse_factor, strategy) = self.types().reuse(name, op);
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
    /// when a configuration is given (hls4ml: every layer writes its `result_t`).
    pub fn finish(&mut self, node: &Node, id: TensorId) -> Result<()> {
        let out = node
            .outputs
            .first()
            .ok_or_else(|| node.err("node has no output"))?
            .clone();
        let id = match self.cfg {
            Some(cfg) => {
                let ty = cfg.result(&node.name, &node.op, &out)?;
                self.cast(node, id, ty, &out)?
            }
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
