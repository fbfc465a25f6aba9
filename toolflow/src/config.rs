//! hls4ml-style precision configuration for float ONNX models.
//!
//! ```yaml
//! Model:
//!   Precision: fixed<16,6>          # or {default: fixed<16,6>}
//!   ReuseFactor: 1
//!   Strategy: Latency
//! LayerName:
//!   dense1:                         # ONNX node name (or graph input name)
//!     Precision: {weight: fixed<8,2>, bias: fixed<8,2>, accum: fixed<24,10>, result: fixed<12,4,RND,SAT>}
//!     ReuseFactor: 4
//! LayerType:
//!   Sigmoid: {Precision: {table: fixed<18,8>}, TableSize: 1024}
//! TensorName:
//!   some_tensor: fixed<10,4>        # result type of the layer producing this ONNX tensor
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fixed::FixedType;

/// A precision: one type for everything, or named types (`default`, `weight`, `bias`, `accum`, `result`, `table`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PrecisionSpec {
    One(String),
    Map(HashMap<String, String>),
}

/// Model-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(rename = "Precision", default = "default_precision")]
    pub precision: PrecisionSpec,
    #[serde(rename = "ReuseFactor", default = "one")]
    pub reuse_factor: u32,
    #[serde(rename = "Strategy", default = "latency")]
    pub strategy: String,
    #[serde(rename = "TableSize", default)]
    pub table_size: Option<u32>,
}

/// Settings of one layer (by name) or one operator type.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    #[serde(rename = "Precision", default)]
    pub precision: Option<PrecisionSpec>,
    #[serde(rename = "ReuseFactor", default)]
    pub reuse_factor: Option<u32>,
    #[serde(rename = "Strategy", default)]
    pub strategy: Option<String>,
    #[serde(rename = "TableSize", default)]
    pub table_size: Option<u32>,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecisionConfig {
    #[serde(rename = "Model", default = "default_model")]
    pub model: ModelConfig,
    #[serde(rename = "LayerName", default)]
    pub layer_name: HashMap<String, LayerConfig>,
    #[serde(rename = "LayerType", default)]
    pub layer_type: HashMap<String, LayerConfig>,
    #[serde(rename = "TensorName", default)]
    pub tensor_name: HashMap<String, String>,
}

fn default_precision() -> PrecisionSpec {
    PrecisionSpec::One("fixed<16,6>".into())
}
fn one() -> u32 {
    1
}
fn latency() -> String {
    "Latency".into()
}
fn default_model() -> ModelConfig {
    ModelConfig {
        precision: default_precision(),
        reuse_factor: 1,
        strategy: latency(),
        table_size: None,
    }
}

impl Default for PrecisionConfig {
    fn default() -> Self {
        PrecisionConfig {
            model: default_model(),
            layer_name: HashMap::new(),
            layer_type: HashMap::new(),
            tensor_name: HashMap::new(),
        }
    }
}

/// Which type of a layer is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Weight,
    Bias,
    Accum,
    Result,
    Table,
}

impl Role {
    fn key(self) -> &'static str {
        match self {
            Role::Weight => "weight",
            Role::Bias => "bias",
            Role::Accum => "accum",
            Role::Result => "result",
            Role::Table => "table",
        }
    }
}

/// Default table type, as hls4ml's `table_t`.
pub const DEFAULT_TABLE: &str = "fixed<18,8>";
/// Default table size, as hls4ml.
pub const DEFAULT_TABLE_SIZE: u32 = 1024;

impl PrecisionConfig {
    /// Parses YAML (a superset of JSON, so JSON works too).
    pub fn parse(text: &str) -> Result<Self> {
        let cfg: PrecisionConfig =
            yaml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every type string parses, so errors surface before lowering.
    pub fn validate(&self) -> Result<()> {
        let specs = std::iter::once(Some(&self.model.precision))
            .chain(self.layer_name.values().map(|l| l.precision.as_ref()))
            .chain(self.layer_type.values().map(|l| l.precision.as_ref()))
            .flatten();
        for spec in specs {
            match spec {
                PrecisionSpec::One(s) => {
                    FixedType::parse(s)?;
                }
                PrecisionSpec::Map(m) => {
                    for (k, v) in m {
                        if !["default", "weight", "bias", "accum", "result", "table"]
                            .contains(&k.as_str())
                        {
                            return Err(Error::Config(format!("unknown precision key '{k}'")));
                        }
                        FixedType::parse(v)?;
                    }
                }
            }
        }
        for v in self.tensor_name.values() {
            FixedType::parse(v)?;
        }
        if self.model.reuse_factor == 0 {
            return Err(Error::Config("ReuseFactor must be at least 1".into()));
        }
        Ok(())
    }

    /// The type for `role` of layer `name` (ONNX op `op`): LayerName, then LayerType,
    /// then the model default. `None` for an accumulator nobody set (exact).
    pub fn resolve(&self, name: &str, op: &str, role: Role) -> Result<Option<FixedType>> {
        for l in [self.layer_name.get(name), self.layer_type.get(op)]
            .into_iter()
            .flatten()
        {
            if let Some(t) = spec_lookup(l.precision.as_ref(), role, role != Role::Table)? {
                return Ok(Some(t));
            }
        }
        match role {
            Role::Accum => spec_lookup(Some(&self.model.precision), role, false),
            Role::Table => spec_lookup(Some(&self.model.precision), role, false)?.map_or_else(
                || FixedType::parse(DEFAULT_TABLE).map(Some),
                |t| Ok(Some(t)),
            ),
            _ => spec_lookup(Some(&self.model.precision), role, true),
        }
    }

    /// Result type of a layer, honouring a `TensorName` override of its output tensor.
    pub fn result(&self, name: &str, op: &str, tensor: &str) -> Result<FixedType> {
        if let Some(s) = self.tensor_name.get(tensor) {
            return FixedType::parse(s);
        }
        self.resolve(name, op, Role::Result)?
            .ok_or_else(|| Error::Config(format!("no result precision for layer '{name}'")))
    }

    /// Reuse factor and strategy of a layer.
    pub fn reuse(&self, name: &str, op: &str) -> (u32, String) {
        let layers = [self.layer_name.get(name), self.layer_type.get(op)];
        let rf = layers
            .iter()
            .flatten()
            .find_map(|l| l.reuse_factor)
            .unwrap_or(self.model.reuse_factor)
            .max(1);
        let st = layers
            .iter()
            .flatten()
            .find_map(|l| l.strategy.clone())
            .unwrap_or(self.model.strategy.clone());
        (rf, st)
    }

    /// Lookup-table size of a layer (power of two).
    pub fn table_size(&self, name: &str, op: &str) -> Result<u32> {
        let layers = [self.layer_name.get(name), self.layer_type.get(op)];
        let n = layers
            .iter()
            .flatten()
            .find_map(|l| l.table_size)
            .or(self.model.table_size)
            .unwrap_or(DEFAULT_TABLE_SIZE);
        if !n.is_power_of_two() || !(16..=1 << 20).contains(&n) {
            return Err(Error::Config(format!(
                "table size {n} of '{name}' must be a power of two in 16..=2^20"
            )));
        }
        Ok(n)
    }
}

/// Looks `role` up in a spec; a plain string applies to every role when `string_applies`.
fn spec_lookup(
    spec: Option<&PrecisionSpec>,
    role: Role,
    string_applies: bool,
) -> Result<Option<FixedType>> {
    match spec {
        Some(PrecisionSpec::One(s)) if string_applies => FixedType::parse(s).map(Some),
        Some(PrecisionSpec::Map(m)) => {
            let s = m.get(role.key()).or(if string_applies {
                m.get("default")
            } else {
                None
            });
            s.map(|s| FixedType::parse(s)).transpose()
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_lookup() {
        let cfg = PrecisionConfig::parse(
            "Model:\n  Precision: fixed<16,6>\n  ReuseFactor: 2\n  Strategy: Latency\n\
             LayerName:\n  fc1: {Precision: {weight: 'fixed<8,2>', result: 'ufixed<8,4,RND,SAT>'}, ReuseFactor: 4}\n  fc2: {Precision: 'fixed<10,3>'}\n",
        )
        .unwrap();
        let w = cfg.resolve("fc1", "Gemm", Role::Weight).unwrap().unwrap();
        assert_eq!((w.width, w.frac), (8, 6));
        let b = cfg.resolve("fc1", "Gemm", Role::Bias).unwrap().unwrap();
        assert_eq!((b.width, b.frac), (16, 10));
        assert!(cfg.resolve("fc1", "Gemm", Role::Accum).unwrap().is_none());
        assert_eq!(
            cfg.resolve("fc2", "Gemm", Role::Accum)
                .unwrap()
                .unwrap()
                .width,
            10
        );
        assert_eq!(cfg.reuse("fc1", "Gemm"), (4, "Latency".into()));
        assert_eq!(cfg.reuse("x", "Gemm").0, 2);
        assert_eq!(
            cfg.resolve("x", "Sigmoid", Role::Table)
                .unwrap()
                .unwrap()
                .width,
            18
        );
    }

    #[test]
    fn json_and_errors() {
        let cfg = PrecisionConfig::parse(r#"{"Model": {"Precision": {"default": "fixed<12,4>"}}}"#)
            .unwrap();
        assert_eq!(cfg.result("a", "Relu", "t").unwrap().width, 12);
        assert!(PrecisionConfig::parse("Model: {Precision: fixed<99,4>}").is_err());
        assert!(PrecisionConfig::parse("Model: {Precision: {wieght: 'fixed<8,4>'}}").is_err());
        assert!(PrecisionConfig::parse("Model: {Bogus: 1}").is_err());
    }
}
