//! ONNX reading: protobuf types, tensor decoding and the graph view.

pub mod graph;
pub mod proto;
pub mod tensor;

pub use graph::{Aliases, Attr, Graph, Input, Node};
pub use tensor::Tensor;
pub mod build;
