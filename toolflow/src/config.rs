//! hls4ml precision configuration for float ONNX models, read as hls4ml 1.3
//! reads it (`hls4ml/model/graph.py`, `HLSConfig`).
//!
//! ```yaml
//! Model:
//!   Precision: fixed<16,6>          # or {default: fixed<16,6>, maximum: fixed<24,10>}
//!   ReuseFactor: 1
//!   Strategy: Latency
//! LayerName:
//!   dense1:                         # ONNX node name, or the name hls4ml gives it (MatMul_0, ...)
//!     Precision: {weight: fixed<8,2>, bias: fixed<8,2>, accum: auto, result: fixed<12,4,RND,SAT>}
//!     ReuseFactor: 4
//! LayerType:
//!   Activation: {table_t: fixed<18,8>, TableSize: 1024}
//! TensorName:
//!   some_tensor: fixed<10,4>        # result type of the layer producing this ONNX tensor
//! ```
//!
//! The dictionaries that `config_from_onnx_model` / `config_from_keras_model`
//! write (granularity `model`, `type` or `name`) are read as they are, and so
//! is a whole hls4ml project configuration (`HLSConfig` with `OutputDir`,
//! `IOType`, ...). Every key is either honoured, accepted because it does not
//! change the arithmetic of an io_parallel design (listed in [`read`]), or
//! refused with a message that says why.

mod read;

use crate::error::{Error, Result};
use crate::fixed::FixedType;
use read::Node;

/// A configured precision: a type, or `auto` (hls4ml's UnspecifiedPrecisionType,
/// inferred at conversion).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    Auto,
    Type(FixedType),
}

/// A `Precision` value: one string (the default of every variable) or a
/// mapping from variable (`default`, `result`, `accum`, ...) to type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Precision {
    pub default: Option<Spec>,
    pub vars: Vec<(String, Spec)>,
}

impl Precision {
    /// The type of `var`, without falling back to `default`.
    pub fn var(&self, var: &str) -> Option<Spec> {
        self.vars.iter().find(|(k, _)| k == var).map(|(_, s)| *s)
    }
}

/// Model-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub precision: Precision,
    /// `Precision: {maximum: ...}`: the cap of inferred (`auto`) types.
    pub maximum: Option<FixedType>,
    pub reuse_factor: u32,
    pub strategy: String,
    /// Our extension: the table size of every lookup table without its own.
    pub table_size: Option<u32>,
}

/// Settings of one layer (by name) or one layer class (by type).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerConfig {
    pub precision: Option<Precision>,
    pub reuse_factor: Option<u32>,
    pub strategy: Option<String>,
    pub table_size: Option<u32>,
    /// Softmax `Implementation`: latency, stable, argmax or legacy.
    pub implementation: Option<String>,
    /// Softmax `Skip`: the layer is removed.
    pub skip: Option<bool>,
    pub exp_table_size: Option<u32>,
    pub inv_table_size: Option<u32>,
    /// Layer type attributes (`table_t`, `exp_table_t`, ...), applied as hls4ml does.
    pub types: Vec<(String, FixedType)>,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrecisionConfig {
    pub model: ModelConfig,
    pub layer_name: Vec<(String, LayerConfig)>,
    pub layer_type: Vec<(String, LayerConfig)>,
    pub tensor_name: Vec<(String, FixedType)>,
    /// hls4ml keys that were accepted without effect (they do not change the arithmetic).
    pub ignored: Vec<String>,
}

/// The default precision (hls4ml's `config_from_*` default).
pub const DEFAULT_PRECISION: &str = "fixed<16,6>";
/// Default table type of activations, as hls4ml's `table_t` attribute.
pub const DEFAULT_TABLE: &str = "fixed<18,8>";
/// Default softmax table, accumulator and inverse-input type (hls4ml's attributes).
pub const DEFAULT_SOFTMAX_TABLE: &str = "fixed<18,8,RND,SAT>";
/// Default table size, as hls4ml.
pub const DEFAULT_TABLE_SIZE: u32 = 1024;

fn default_type() -> FixedType {
    FixedType::new(true, 16, 6)
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            precision: Precision {
                default: Some(Spec::Type(default_type())),
                vars: Vec::new(),
            },
            maximum: None,
            reuse_factor: 1,
            strategy: "Latency".into(),
            table_size: None,
        }
    }
}

fn cfg_err(path: &str, detail: impl Into<String>) -> Error {
    Error::Config(format!("{path}: {}", detail.into()))
}

fn parse_spec(path: &str, node: &Node) -> Result<Spec> {
    let Node::Str(s) = node else {
        return Err(cfg_err(
            path,
            format!(
                "expected a type such as fixed<16,6> or auto, found {}",
                node.kind()
            ),
        ));
    };
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(Spec::Auto);
    }
    parse_type(path, s).map(Spec::Type)
}

fn parse_type(path: &str, s: &str) -> Result<FixedType> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("ac_") || lower.contains("float") || ["double", "half"].contains(&t) {
        return Err(cfg_err(
            path,
            format!(
                "'{t}': only ap_fixed / ap_int types (fixed<W,I>, ufixed, int, uint, with or without ap_) are supported; \
                 ac_ and floating-point types are not"
            ),
        ));
    }
    FixedType::parse(t).map_err(|e| cfg_err(path, e.to_string()))
}

fn uint(path: &str, node: &Node, min: u32) -> Result<u32> {
    match node {
        Node::Num(n) if n.fract() == 0.0 && *n >= min as f64 && *n <= u32::MAX as f64 => {
            Ok(*n as u32)
        }
        _ => Err(cfg_err(
            path,
            format!("expected a whole number of at least {min}, found {node:?}"),
        )),
    }
}

fn text(path: &str, node: &Node) -> Result<String> {
    node.scalar()
        .ok_or_else(|| cfg_err(path, format!("expected a string, found {}", node.kind())))
}

fn boolean(path: &str, node: &Node) -> Result<bool> {
    match node {
        Node::Bool(b) => Ok(*b),
        Node::Null => Ok(false),
        _ => Err(cfg_err(
            path,
            format!("expected true or false, found {}", node.kind()),
        )),
    }
}

fn entries<'a>(path: &str, node: &'a Node) -> Result<&'a [(String, Node)]> {
    match node {
        Node::Map(m) => Ok(m),
        Node::Null => Ok(&[]),
        _ => Err(cfg_err(
            path,
            format!("expected a mapping, found {}", node.kind()),
        )),
    }
}

fn strategy(path: &str, node: &Node) -> Result<String> {
    let s = text(path, node)?;
    match read::snake(&s).as_str() {
        "latency" | "resource" | "resource_unrolled" => Ok(s),
        _ => Err(cfg_err(
            path,
            format!(
                "strategy '{s}' is not modelled (Latency, Resource and resource_unrolled compute the same sums; \
                 distributed_arithmetic is not supported)"
            ),
        )),
    }
}

/// hls4ml applies `Precision: {table: ...}` (and the softmax table keys)
/// nowhere: the tables keep their attribute types. A value other than that
/// default would be silently ignored, so it is refused with the fix.
fn check_ignored_table_var(path: &str, var: &str, spec: Spec) -> Result<()> {
    let default = match var {
        "table" => DEFAULT_TABLE,
        "exp_table" | "inv_table" | "inv_inp" => DEFAULT_SOFTMAX_TABLE,
        _ => return Ok(()),
    };
    match spec {
        Spec::Type(t) if t != FixedType::parse(default)? => Err(cfg_err(
            path,
            format!(
                "hls4ml 1.3 does not apply `Precision: {{{var}: ...}}`: its tables keep {default}. \
                 Write the layer attribute instead (`{var}_t: {t}` in the layer's entry, which hls4ml applies), \
                 or remove the key"
            ),
        )),
        _ => Ok(()),
    }
}

fn parse_precision(path: &str, node: &Node, model: bool) -> Result<(Precision, Option<FixedType>)> {
    let mut p = Precision::default();
    let mut maximum = None;
    match node {
        Node::Str(_) => p.default = Some(parse_spec(path, node)?),
        Node::Map(m) => {
            for (k, v) in m {
                let at = format!("{path}.{k}");
                if k == "maximum" {
                    if !model {
                        return Err(cfg_err(
                            &at,
                            "only Model.Precision.maximum is read by hls4ml",
                        ));
                    }
                    match parse_spec(&at, v)? {
                        Spec::Type(t) => maximum = Some(t),
                        Spec::Auto => return Err(cfg_err(&at, "the maximum cannot be auto")),
                    }
                    continue;
                }
                if !read::PRECISION_VARS.contains(&k.as_str()) {
                    return Err(cfg_err(
                        &at,
                        format!(
                            "unknown precision variable '{k}'; hls4ml's are {} (and maximum under Model)",
                            read::PRECISION_VARS.join(", ")
                        ),
                    ));
                }
                let spec = parse_spec(&at, v)?;
                check_ignored_table_var(&at, k, spec)?;
                if k == "default" {
                    p.default = Some(spec);
                } else {
                    p.vars.push((k.clone(), spec));
                }
            }
        }
        _ => {
            return Err(cfg_err(
                path,
                format!(
                    "expected a type or a mapping of types, found {}",
                    node.kind()
                ),
            ));
        }
    }
    Ok((p, maximum))
}

fn parse_model(node: &Node, ignored: &mut Vec<String>) -> Result<ModelConfig> {
    let mut m = ModelConfig::default();
    for (k, v) in entries("Model", node)? {
        let at = format!("Model.{k}");
        match k.as_str() {
            "Precision" => {
                let (p, max) = parse_precision(&at, v, true)?;
                if p.default == Some(Spec::Auto) {
                    return Err(cfg_err(
                        &at,
                        "the model's default precision must be a type, not auto",
                    ));
                }
                let default = p.default.or(m.precision.default);
                m.precision = Precision {
                    default,
                    vars: p.vars,
                };
                m.maximum = max;
            }
            "ReuseFactor" => m.reuse_factor = uint(&at, v, 1)?,
            "Strategy" => m.strategy = strategy(&at, v)?,
            "TableSize" => m.table_size = Some(uint(&at, v, 1)?),
            "BitExact" => {
                if boolean(&at, v)? {
                    return Err(cfg_err(
                        &at,
                        "hls4ml's BitExact flow (for HGQ proxy models) is not modelled",
                    ));
                }
            }
            k if read::MODEL_IGNORED.contains(&k) => ignored.push(at),
            _ => {
                return Err(cfg_err(
                    &at,
                    format!(
                        "unknown key; Model keys are Precision, ReuseFactor, Strategy, TableSize, BitExact and {}",
                        read::MODEL_IGNORED.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(m)
}

fn parse_layer(path: &str, node: &Node, ignored: &mut Vec<String>) -> Result<LayerConfig> {
    let mut l = LayerConfig::default();
    if let Node::Str(_) = node {
        // A bare type: our shorthand for `Precision: TYPE`.
        l.precision = Some(parse_precision(path, node, false)?.0);
        return Ok(l);
    }
    for (k, v) in entries(path, node)? {
        let at = format!("{path}.{k}");
        match read::snake(k).as_str() {
            "precision" => l.precision = Some(parse_precision(&at, v, false)?.0),
            "reuse_factor" => l.reuse_factor = Some(uint(&at, v, 1)?),
            "strategy" => l.strategy = Some(strategy(&at, v)?),
            "table_size" => l.table_size = Some(uint(&at, v, 1)?),
            "exp_table_size" => l.exp_table_size = Some(uint(&at, v, 1)?),
            "inv_table_size" => l.inv_table_size = Some(uint(&at, v, 1)?),
            "implementation" => {
                let s = text(&at, v)?.to_ascii_lowercase();
                if !["latency", "stable", "argmax", "legacy"].contains(&s.as_str()) {
                    return Err(cfg_err(
                        &at,
                        format!(
                            "softmax implementation '{s}': hls4ml's are latency, stable, argmax and legacy"
                        ),
                    ));
                }
                l.implementation = Some(s);
            }
            "skip" => l.skip = Some(boolean(&at, v)?),
            "algorithm" => {
                // Resize: the ONNX node's mode must be nearest (checked when lowering).
                let a = text(&at, v)?;
                if a != "nearest" {
                    return Err(cfg_err(
                        &at,
                        format!("Resize algorithm '{a}' is not modelled (nearest is)"),
                    ));
                }
            }
            s if s.ends_with("_t") => {
                if !read::TYPE_ATTRIBUTES.contains(&s) {
                    return Err(cfg_err(
                        &at,
                        format!(
                            "the type attribute '{k}' is not modelled; set it through Precision, or use one of {}",
                            read::TYPE_ATTRIBUTES.join(", ")
                        ),
                    ));
                }
                match parse_spec(&at, v)? {
                    Spec::Type(t) => l.types.push((s.to_string(), t)),
                    Spec::Auto => return Err(cfg_err(&at, "a type attribute cannot be auto")),
                }
            }
            _ if read::LAYER_IGNORED.contains(&k.as_str()) => ignored.push(at),
            _ => {
                return Err(cfg_err(
                    &at,
                    format!(
                        "unknown key; layer keys are Precision, ReuseFactor, Strategy, TableSize, Implementation, Skip, \
                         Algorithm, exp_table_size, inv_table_size, {} and {}",
                        read::TYPE_ATTRIBUTES.join(", "),
                        read::LAYER_IGNORED.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(l)
}

fn parse_layers(
    path: &str,
    node: &Node,
    ignored: &mut Vec<String>,
) -> Result<Vec<(String, LayerConfig)>> {
    entries(path, node)?
        .iter()
        .map(|(k, v)| Ok((k.clone(), parse_layer(&format!("{path}.{k}"), v, ignored)?)))
        .collect()
}

/// The hls4ml part of a document: `Model`, `LayerName`, `LayerType` (and our `TensorName`).
fn parse_hls(node: &Node, ignored: &mut Vec<String>) -> Result<PrecisionConfig> {
    let mut cfg = PrecisionConfig::default();
    for (k, v) in entries("configuration", node)? {
        match k.as_str() {
            "Model" => cfg.model = parse_model(v, ignored)?,
            "LayerName" => cfg.layer_name = parse_layers("LayerName", v, ignored)?,
            "LayerType" => cfg.layer_type = parse_layers("LayerType", v, ignored)?,
            "TensorName" => {
                for (t, ty) in entries("TensorName", v)? {
                    let at = format!("TensorName.{t}");
                    cfg.tensor_name
                        .push((t.clone(), parse_type(&at, &text(&at, ty)?)?));
                }
            }
            "Flows" | "Optimizers" | "SkipOptimizers" if *v == Node::Null => {}
            "Flows" | "Optimizers" | "SkipOptimizers" => {
                return Err(cfg_err(
                    k,
                    "custom hls4ml optimizer flows change the conversion and are not modelled; remove the key",
                ));
            }
            _ if read::PROJECT_KEYS.contains(&k.as_str()) => {
                return Err(cfg_err(
                    k,
                    "a project key inside HLSConfig; it belongs at the top level",
                ));
            }
            _ => {
                return Err(cfg_err(
                    k,
                    "unknown key; a configuration has Model, LayerName, LayerType and TensorName \
                     (or a whole hls4ml project configuration with HLSConfig)",
                ));
            }
        }
    }
    Ok(cfg)
}

/// A whole hls4ml project configuration: project keys around `HLSConfig`.
fn parse_project(top: &[(String, Node)], ignored: &mut Vec<String>) -> Result<PrecisionConfig> {
    let mut hls = None;
    for (k, v) in top {
        match k.as_str() {
            "HLSConfig" => hls = Some(v),
            "IOType" => {
                let io = text(k, v)?;
                if io != "io_parallel" {
                    return Err(cfg_err(
                        k,
                        format!(
                            "'{io}': only io_parallel designs are modelled (io_stream sums convolutions in another order)"
                        ),
                    ));
                }
            }
            "Backend" => {
                let b = text(k, v)?;
                if !["vivado", "vitis", "vivadoaccelerator"]
                    .contains(&b.to_ascii_lowercase().as_str())
                {
                    return Err(cfg_err(
                        k,
                        format!(
                            "backend '{b}': only the Vivado/Vitis ap_fixed arithmetic is modelled"
                        ),
                    ));
                }
            }
            _ if read::PROJECT_KEYS.contains(&k.as_str()) => ignored.push(k.clone()),
            _ => {
                return Err(cfg_err(
                    k,
                    "unknown top-level key of an hls4ml project configuration",
                ));
            }
        }
    }
    match hls {
        Some(h) => parse_hls(h, ignored),
        None => Ok(PrecisionConfig::default()),
    }
}

impl PrecisionConfig {
    /// Parses YAML or JSON (an hls4ml configuration dictionary, or a whole
    /// hls4ml project configuration with `HLSConfig`).
    pub fn parse(text: &str) -> Result<Self> {
        let node = read::parse(text)?;
        let mut ignored = Vec::new();
        let mut cfg = match &node {
            Node::Map(top)
                if top.iter().any(|(k, _)| {
                    k == "HLSConfig" || (k != "Model" && read::PROJECT_KEYS.contains(&k.as_str()))
                }) =>
            {
                parse_project(top, &mut ignored)?
            }
            Node::Map(_) | Node::Null => parse_hls(&node, &mut ignored)?,
            other => {
                return Err(Error::Config(format!(
                    "expected a mapping with Model / LayerName / LayerType, found {}",
                    other.kind()
                )));
            }
        };
        cfg.ignored = ignored;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what can be checked without the model.
    pub fn validate(&self) -> Result<()> {
        if self.model.reuse_factor == 0 {
            return Err(Error::Config("ReuseFactor must be at least 1".into()));
        }
        Ok(())
    }

    fn find<'a>(list: &'a [(String, LayerConfig)], name: &str) -> Option<&'a LayerConfig> {
        list.iter()
            .find(|(k, _)| k == name)
            .or_else(|| list.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, l)| l)
    }

    /// The `LayerName` entries among `names` and the `LayerType` entries among `classes`, most specific first.
    fn entries<'a>(&'a self, names: &[&str], classes: &[&str]) -> Vec<&'a LayerConfig> {
        names
            .iter()
            .filter_map(|n| Self::find(&self.layer_name, n))
            .chain(
                classes
                    .iter()
                    .filter_map(|c| Self::find(&self.layer_type, c)),
            )
            .collect()
    }

    /// hls4ml's `HLSConfig.get_precision`: the layer's name entry (variable,
    /// then its default), the layer type entry (variable, then default), the
    /// model (variable, then default). `names` are the layer's names (ONNX
    /// node name and the names hls4ml gives it), `classes` its hls4ml class
    /// names (and ONNX op type).
    pub fn precision(&self, names: &[&str], classes: &[&str], var: &str) -> Spec {
        let named: Vec<&Precision> = names
            .iter()
            .filter_map(|n| Self::find(&self.layer_name, n))
            .filter_map(|l| l.precision.as_ref())
            .collect();
        let typed: Vec<&Precision> = classes
            .iter()
            .filter_map(|c| Self::find(&self.layer_type, c))
            .filter_map(|l| l.precision.as_ref())
            .collect();
        for group in [&named, &typed] {
            if let Some(s) = group.iter().find_map(|p| p.var(var)) {
                return s;
            }
            if let Some(s) = group.iter().find_map(|p| p.default) {
                return s;
            }
        }
        self.model
            .precision
            .var(var)
            .or(self.model.precision.default)
            .unwrap_or(Spec::Type(default_type()))
    }

    /// The model default precision (the type `auto` falls back to).
    pub fn default_type(&self) -> FixedType {
        match self.model.precision.default {
            Some(Spec::Type(t)) => t,
            _ => default_type(),
        }
    }

    /// A layer setting from the name entries, then the type entries (hls4ml's
    /// `get_layer_config`: the name entry overrides the type entry).
    pub fn layer<T>(
        &self,
        names: &[&str],
        classes: &[&str],
        f: impl Fn(&LayerConfig) -> Option<T>,
    ) -> Option<T> {
        self.entries(names, classes).into_iter().find_map(f)
    }

    /// A `*_t` type attribute of a layer (`table_t`, `exp_table_t`, ...).
    pub fn type_attr(&self, names: &[&str], classes: &[&str], attr: &str) -> Option<FixedType> {
        self.layer(names, classes, |l| {
            l.types.iter().find(|(k, _)| k == attr).map(|(_, t)| *t)
        })
    }

    /// Result type override from `TensorName` (ours) for an ONNX tensor.
    pub fn tensor_type(&self, tensor: &str) -> Option<FixedType> {
        self.tensor_name
            .iter()
            .find(|(k, _)| k == tensor)
            .map(|(_, t)| *t)
    }

    /// Reuse factor and strategy of a layer (name, type, model).
    pub fn reuse(&self, names: &[&str], classes: &[&str]) -> (u32, String) {
        let rf = self
            .layer(names, classes, |l| l.reuse_factor)
            .unwrap_or(self.model.reuse_factor)
            .max(1);
        let st = self
            .layer(names, classes, |l| l.strategy.clone())
            .unwrap_or_else(|| self.model.strategy.clone());
        (rf, st)
    }

    /// Lookup-table size of a layer (`TableSize` of its entries, ours at
    /// model level, else 1024), a power of two in 16..=2^20.
    pub fn table_size(&self, names: &[&str], classes: &[&str]) -> Result<u32> {
        let n = self
            .layer(names, classes, |l| l.table_size)
            .or(self.model.table_size)
            .unwrap_or(DEFAULT_TABLE_SIZE);
        check_table_size(n, names.first().copied().unwrap_or(""))
    }

    /// Names in `LayerName` that are not among `known` (matched like lookups,
    /// exactly or ignoring case).
    pub fn unknown_layer_names<'a>(&'a self, known: &dyn Fn(&str) -> bool) -> Vec<&'a str> {
        self.layer_name
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !known(k))
            .collect()
    }
}

/// A table size must be a power of two in 16..=2^20 (the simulator's tables are in memory).
pub fn check_table_size(n: u32, layer: &str) -> Result<u32> {
    if !n.is_power_of_two() || !(2..=1 << 20).contains(&n) {
        return Err(Error::Config(format!(
            "table size {n} of '{layer}' must be a power of two in 2..=2^20"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
