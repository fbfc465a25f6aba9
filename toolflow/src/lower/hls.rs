//! hls4ml 1.3's configuration semantics during lowering (a configuration is
//! given): which hls4ml layer a node is (its class, for `LayerType`), the
//! names it is looked up by, and the type of each of its variables
//! (`HLSConfig.get_precision`, `hls4ml/model/graph.py`), with `auto` types
//! inferred as `InferPrecisionTypes` does (`crate::hls4ml::infer`).

use super::Ctx;
use crate::config::Spec;
use crate::error::Result;
use crate::fixed::FixedType;
use crate::hls4ml::names;
use crate::ir::TensorId;
use crate::onnx::Node;

/// The hls4ml layer classes an ONNX node becomes (for `LayerType` entries),
/// most specific first. hls4ml looks `LayerType` up by the class of the
/// layer it builds (`Dense` for a MatMul, `Activation` for a Relu, ...).
pub fn classes(node: &Node) -> &'static [&'static str] {
    match node.op.as_str() {
        "MatMul" | "Gemm" => &["Dense"],
        "Conv" => {
            let g = node.int("group", 1);
            if g > 1 {
                &["DepthwiseConv2D", "DepthwiseConv1D", "Conv2D", "Conv1D"]
            } else {
                &["Conv2D", "Conv1D", "PointwiseConv2D", "PointwiseConv1D"]
            }
        }
        "BatchNormalization" => &["BatchNormalization"],
        "Relu" | "Sigmoid" | "Tanh" | "Softsign" | "Softplus" | "Selu" | "HardSigmoid" | "Clip" => {
            &["Activation"]
        }
        "LeakyRelu" => &["ParametrizedActivation", "LeakyReLU"],
        "Elu" => &["ParametrizedActivation", "ELU"],
        "ThresholdedRelu" => &["ParametrizedActivation", "ThresholdedReLU"],
        "PRelu" => &["PReLU"],
        "Softmax" => &["Softmax"],
        "MaxPool" | "AveragePool" => {
            &["Pooling2D", "Pooling1D", "MaxPooling2D", "AveragePooling2D"]
        }
        "GlobalMaxPool" | "GlobalAveragePool" => &["GlobalPooling2D", "GlobalPooling1D"],
        "Concat" => &["Concatenate"],
        "Reshape" | "Flatten" => &["Reshape"],
        "Transpose" => &["Transpose"],
        "Resize" | "Upsample" => &["Resize"],
        "Quant" | "BipolarQuant" => &["Activation", "Quant"],
        _ => &[],
    }
}

/// The identity of an hls4ml layer: the names and classes its configuration is looked up by.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub names: Vec<String>,
    pub classes: Vec<String>,
}

impl Identity {
    /// The main layer a node becomes.
    pub fn of(node: &Node) -> Self {
        Identity {
            names: names::lookup(node)
                .into_iter()
                .map(str::to_string)
                .collect(),
            classes: classes(node)
                .iter()
                .map(|s| s.to_string())
                .chain(std::iter::once(node.op.clone()))
                .collect(),
        }
    }

    /// A node's layer with explicit hls4ml classes (a Merge, an ApplyAlpha).
    pub fn with_classes(node: &Node, classes: &[&str]) -> Self {
        let mut id = Identity::of(node);
        id.classes = classes
            .iter()
            .map(|s| s.to_string())
            .chain(std::iter::once(node.op.clone()))
            .collect();
        id
    }

    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    pub fn classes(&self) -> Vec<&str> {
        self.classes.iter().map(String::as_str).collect()
    }
}

impl Ctx<'_> {
    /// The configured precision of `var` (None without a configuration).
    pub fn spec(&self, id: &Identity, var: &str) -> Option<Spec> {
        self.cfg
            .map(|c| c.precision(&id.names(), &id.classes(), var))
    }

    /// A weight-like type (`weight`, `bias`, `scale`, `param`): `auto`
    /// becomes the model default (`_infer_default_type`).
    pub fn param_type(&self, id: &Identity, var: &str) -> Option<FixedType> {
        let cfg = self.cfg?;
        Some(match cfg.precision(&id.names(), &id.classes(), var) {
            Spec::Type(t) => t,
            Spec::Auto => cfg.default_type(),
        })
    }

    /// The result type of a layer writing ONNX tensor `tensor`: `TensorName`
    /// (ours), then `result`; `auto` becomes `inferred`, or the model default
    /// for layers hls4ml does not infer (activations, softmax, the input).
    pub fn result_type(
        &self,
        id: &Identity,
        tensor: &str,
        inferred: Option<FixedType>,
    ) -> Option<FixedType> {
        let cfg = self.cfg?;
        if let Some(t) = cfg.tensor_type(tensor) {
            return Some(t);
        }
        Some(match cfg.precision(&id.names(), &id.classes(), "result") {
            Spec::Type(t) => t,
            Spec::Auto => match self.merge_linear(id, tensor) {
                Some(t) => t,
                None => inferred.unwrap_or_else(|| cfg.default_type()),
            },
        })
    }

    /// hls4ml's `MergeLinearActivation` (`model/optimizer/passes/linear.py`):
    /// a QONNX Quant (a linear activation with its quantizer's type) that is
    /// the only reader of a Dense, Conv, BatchNormalization or activation
    /// whose result is `auto` gives that layer its type and disappears.
    fn merge_linear(&self, id: &Identity, tensor: &str) -> Option<FixedType> {
        const SAFE: [&str; 12] = [
            "Dense",
            "Conv1D",
            "Conv2D",
            "DepthwiseConv1D",
            "DepthwiseConv2D",
            "PointwiseConv1D",
            "PointwiseConv2D",
            "BatchNormalization",
            "ApplyAlpha",
            "Activation",
            "ParametrizedActivation",
            "Softmax",
        ];
        if !id
            .classes
            .iter()
            .any(|c| SAFE.contains(&c.as_str()) || c == "PReLU")
        {
            return None;
        }
        if self.graph_outputs.contains(tensor) {
            return None;
        }
        let [j] = self.consumers.get(tensor).map(Vec::as_slice)? else {
            return None;
        };
        let q = &self.graph.nodes[*j];
        if q.input(0) != Some(tensor) {
            return None;
        }
        let ty = super::quant::hls_type(self, q)?;
        self.merged_quant.borrow_mut().insert(*j);
        Some(ty)
    }

    /// True when the layer's result is `auto` (and no `TensorName` fixes it).
    pub fn result_is_auto(&self, id: &Identity, tensor: &str) -> bool {
        match self.cfg {
            Some(cfg) => {
                cfg.tensor_type(tensor).is_none()
                    && cfg.precision(&id.names(), &id.classes(), "result") == Spec::Auto
            }
            None => false,
        }
    }

    /// `Model.Precision.maximum`, the cap of inferred types.
    pub fn maximum(&self) -> Option<FixedType> {
        self.cfg.and_then(|c| c.model.maximum)
    }

    /// A `*_t` layer attribute (`table_t`, ...).
    pub fn type_attr(&self, id: &Identity, attr: &str) -> Option<FixedType> {
        self.cfg
            .and_then(|c| c.type_attr(&id.names(), &id.classes(), attr))
    }

    /// Casts `id` to the result type of layer `ident` (when configured) and binds ONNX tensor `tensor`.
    pub fn finish_as(
        &mut self,
        node: &Node,
        ident: &Identity,
        id: TensorId,
        tensor: &str,
        inferred: Option<FixedType>,
    ) -> Result<()> {
        let id = match self.result_type(ident, tensor, inferred) {
            Some(ty) => self.cast(node, id, ty, tensor)?,
            None => id,
        };
        self.env.insert(tensor.to_string(), super::Val::Dyn(id));
        Ok(())
    }
}
