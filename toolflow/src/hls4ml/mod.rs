//! hls4ml 1.3 semantics the toolflow reproduces: the layer names hls4ml
//! gives a model (for configuration lookups) and its inference of `auto`
//! types. The rest (which layers exist, fusing, the arithmetic) lives in
//! lowering (`lower/hls.rs`, `lower/affine.rs`) and the simulator.

pub mod infer;
pub mod names;
