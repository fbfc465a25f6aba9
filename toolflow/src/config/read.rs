//! Reading the configuration text: YAML or JSON into an ordered tree
//! ([`Node`]), the repair of hls4ml types split by YAML's flow style, and
//! the tables of hls4ml keys (accepted, ignored or refused).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// A YAML/JSON value with its mapping order kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A short description for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) => "a boolean",
            Node::Num(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The value as text, for scalars.
    pub fn scalar(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Num(n) => Some(num_text(*n)),
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Node, E> {
        Ok(Node::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(n) = a.next_element()? {
            v.push(n);
        }
        Ok(Node::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some((k, val)) = a.next_entry::<Node, Node>()? {
            let key = match k {
                Node::Null => String::new(),
                k => k
                    .scalar()
                    .ok_or_else(|| de::Error::custom("mapping keys must be scalars"))?,
            };
            v.push((key, val));
        }
        Ok(Node::Map(v))
    }
}

/// Parses YAML or JSON (YAML is a superset) into a [`Node`], then repairs
/// types that YAML's flow style split at their commas.
pub fn parse(text: &str) -> Result<Node> {
    let node: Node = yaml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
    Ok(repair(node))
}

fn depth(s: &str) -> i64 {
    s.matches('<').count() as i64 - s.matches('>').count() as i64
}

/// In YAML's flow style (`{Precision: fixed<16,6>}`) a plain scalar ends at
/// the first comma, so the mapping reads `Precision: fixed<16` followed by a
/// key `6>` with no value. A key can never be a type fragment, so such
/// fragments are joined back (`fixed<16,6>`), at any depth.
fn repair(node: Node) -> Node {
    match node {
        Node::Seq(v) => Node::Seq(v.into_iter().map(repair).collect()),
        Node::Map(entries) => {
            let mut out: Vec<(String, Node)> = Vec::with_capacity(entries.len());
            let mut open: Option<usize> = None;
            for (k, v) in entries {
                if let Some(i) = open {
                    if let (Node::Null, Node::Str(s)) = (&v, &mut out[i].1) {
                        s.push(',');
                        s.push_str(&k);
                        if depth(s) <= 0 {
                            open = None;
                        }
                        continue;
                    }
                    open = None;
                }
                let v = repair(v);
                let unbalanced = matches!(&v, Node::Str(s) if depth(s) > 0);
                out.push((k, v));
                if unbalanced {
                    open = Some(out.len() - 1);
                }
            }
            Node::Map(out)
        }
        other => other,
    }
}

/// Top-level keys of an hls4ml project configuration (`hls4ml convert -c
/// config.yml`, or `create_config()`), which describe the project around the
/// model, not its arithmetic. Accepted and ignored.
pub const PROJECT_KEYS: &[&str] = &[
    "OutputDir",
    "ProjectName",
    "ProjectDir",
    "Version",
    "Part",
    "XilinxPart",
    "Board",
    "ClockPeriod",
    "ClockUncertainty",
    "InputData",
    "OutputPredictions",
    "KerasModel",
    "KerasJson",
    "KerasH5",
    "OnnxModel",
    "PytorchModel",
    "InputShape",
    "Interface",
    "Driver",
    "AcceleratorConfig",
    "WriterConfig",
    "Stamp",
    "HLSConfig",
    "IOType",
    "Backend",
];

/// `Model` keys of hls4ml that do not change the arithmetic of an
/// io_parallel design (storage, scheduling, tracing, front-end options).
pub const MODEL_IGNORED: &[&str] = &[
    "BramFactor",
    "TraceOutput",
    "TargetCycles",
    "ConvImplementation",
    "Compression",
    "PipelineStyle",
    "PipelineInterval",
    "ChannelsLastConversion",
    "TransposeOutputs",
];

/// Layer keys (in `LayerName` / `LayerType` entries) of hls4ml that do not
/// change the arithmetic of an io_parallel design.
pub const LAYER_IGNORED: &[&str] = &[
    "Trace",
    "ParallelizationFactor",
    "ConvImplementation",
    "Compression",
    "TargetCycles",
    // Reuse factors of parts of layers (separable convolutions, recurrent
    // layers) and recurrent-layer options: layers the toolflow does not read.
    "DepthwiseReuseFactor",
    "PointwiseReuseFactor",
    "RecurrentReuseFactor",
    "ForwardReuseFactor",
    "BackwardReuseFactor",
    "ForwardRecurrentReuseFactor",
    "BackwardRecurrentReuseFactor",
    "Direction",
    "Static",
    "TimeStepLoopParallelism",
    "TableRangePower2",
];

/// Precision variables hls4ml reads through `get_precision` (and ours).
pub const PRECISION_VARS: &[&str] = &[
    "default",
    "result",
    "accum",
    "weight",
    "bias",
    "scale",
    "param",
    "table",
    "exp_table",
    "inv_table",
    "inv_inp",
    "slope",
    "shift",
];

/// `*_t` layer attributes the toolflow applies as hls4ml does.
pub const TYPE_ATTRIBUTES: &[&str] = &[
    "table_t",
    "exp_table_t",
    "inv_table_t",
    "inv_inp_t",
    "inp_norm_t",
    "accum_t",
    "param_t",
    "slope_t",
    "shift_t",
];

/// hls4ml's own snake_case for a configuration key (`ReuseFactor` -> `reuse_factor`).
pub fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_style_types_are_joined() {
        let n = parse("Model: {Precision: fixed<16,6>, ReuseFactor: 2}").unwrap();
        let Node::Map(top) = n else { panic!() };
        let Node::Map(m) = &top[0].1 else { panic!() };
        assert_eq!(m[0], ("Precision".into(), Node::Str("fixed<16,6>".into())));
        assert_eq!(m[1], ("ReuseFactor".into(), Node::Num(2.0)));
        let n = parse("A: {p: {result: ap_fixed<8,3,AP_RND,AP_SAT>, accum: fixed<20,8>}}").unwrap();
        let Node::Map(top) = n else { panic!() };
        let Node::Map(a) = &top[0].1 else { panic!() };
        let Node::Map(p) = &a[0].1 else { panic!() };
        assert_eq!(p[0].1, Node::Str("ap_fixed<8,3,AP_RND,AP_SAT>".into()));
        assert_eq!(p[1].1, Node::Str("fixed<20,8>".into()));
    }

    #[test]
    fn snake_case() {
        assert_eq!(snake("ReuseFactor"), "reuse_factor");
        assert_eq!(snake("exp_table_t"), "exp_table_t");
        assert_eq!(snake("TableSize"), "table_size");
    }
}
