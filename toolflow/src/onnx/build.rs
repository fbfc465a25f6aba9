//! A small builder for ONNX models, used by tests (here and in other crates)
//! to make tiny graphs without Python.

use prost::Message;

use super::proto::*;

/// Domain of QONNX custom operators.
pub const QONNX: &str = "qonnx.custom_op.general";

/// Builds a single-input ONNX model.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    graph: GraphProto,
    opset: i64,
    count: usize,
}

fn value_info(name: &str, shape: &[i64]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| Dimension {
            value: Some(if i == 0 && d < 0 {
                DimValue::DimParam("N".into())
            } else {
                DimValue::DimValue(d)
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// A float tensor proto.
pub fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

/// An int64 tensor proto.
pub fn tensor_i64(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

/// Integer attribute.
pub fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: v,
        ..Default::default()
    }
}

/// Float attribute.
pub fn attr_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: v,
        ..Default::default()
    }
}

/// String attribute.
pub fn attr_s(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Integer-list attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

impl ModelBuilder {
    /// A model whose input `name` has `shape` (a negative first dimension is a dynamic batch).
    pub fn new(name: &str, shape: &[i64]) -> Self {
        let graph = GraphProto {
            name: "g".into(),
            input: vec![value_info(name, shape)],
            ..Default::default()
        };
        ModelBuilder {
            graph,
            opset: 13,
            count: 0,
        }
    }

    /// Sets the default opset version.
    pub fn opset(mut self, v: i64) -> Self {
        self.opset = v;
        self
    }

    /// Adds a float initializer.
    pub fn init(mut self, name: &str, dims: &[i64], data: &[f32]) -> Self {
        self.graph.initializer.push(tensor(name, dims, data));
        self
    }

    /// Adds an int64 initializer.
    pub fn init_i64(mut self, name: &str, dims: &[i64], data: &[i64]) -> Self {
        self.graph.initializer.push(tensor_i64(name, dims, data));
        self
    }

    /// Adds a standard-domain node.
    pub fn node(
        self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        self.node_in("", op, inputs, outputs, attrs)
    }

    /// Adds a QONNX-domain node.
    pub fn qnode(
        self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        self.node_in(QONNX, op, inputs, outputs, attrs)
    }

    /// Adds a node of domain `domain`.
    pub fn node_in(
        mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        self.count += 1;
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: format!("{op}_{}", self.count),
            op_type: op.into(),
            domain: domain.into(),
            attribute: attrs,
            doc_string: String::new(),
        });
        self
    }

    /// Declares a graph output.
    pub fn output(mut self, name: &str) -> Self {
        self.graph.output.push(value_info(name, &[]));
        self
    }

    /// The model proto.
    pub fn model(&self) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![
                OperatorSetIdProto {
                    domain: String::new(),
                    version: self.opset,
                },
                OperatorSetIdProto {
                    domain: QONNX.into(),
                    version: 1,
                },
            ],
            producer_name: "toolflow-tests".into(),
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
    }

    /// Serialized model bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
}
