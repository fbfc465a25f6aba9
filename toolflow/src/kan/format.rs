//! The `arena-kan/1` JSON format (documented in docs/TOOLFLOW.md).
//!
//! ```json
//! {"format": "arena-kan/1", "name": "flood_kan", "input_shape": [12, 7],
//!  "input_type": "fixed<6,1,RND,SAT>",
//!  "layers": [{"in": 84, "out": 12, "degree": 3,
//!              "grid": [-1.6, -1.2, ...],
//!              "coef": [[[...], ...], ...],
//!              "scale_base": [[...]], "scale_spline": [[...]], "base_function": "silu",
//!              "bias": [...],
//!              "table_type": "fixed<12,4,RND,SAT>", "output_type": "fixed<12,4,RND,SAT>"}]}
//! ```
//!
//! - `grid`: the knot vector (already extended by `degree` knots on each
//!   side, as pykan's `grid` and efficient-KAN's `grid` buffers), one shared
//!   by every input (`[knots]`) or one per input (`[in][knots]`);
//! - `coef[o][i]`: the `knots - 1 - degree` B-spline coefficients of edge
//!   `i -> o` (efficient-KAN's `spline_weight * spline_scaler`, or pykan's
//!   `coef` transposed to `[out][in]`);
//! - `scale_base[o][i]`, `scale_spline[o][i]`: optional (0 and 1); `bias[o]` optional (0);
//! - types: ap_fixed strings; `input_type` quantizes the float inputs of
//!   layer 0; each layer's `output_type` is the next layer's input type.

use serde::Deserialize;

use super::{MAX_DEGREE, MAX_LAYERS};
use crate::error::{Error, Result};
use crate::fixed::FixedType;

/// The format tag a KAN file carries.
pub const FORMAT: &str = "arena-kan/1";

/// A whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KanFile {
    pub format: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input_shape: Option<Vec<usize>>,
    pub input_type: String,
    pub layers: Vec<LayerFile>,
    /// Free-form provenance (training script, metrics); ignored.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// A knot vector shared by all inputs, or one per input.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Grid {
    Shared(Vec<f64>),
    PerInput(Vec<Vec<f64>>),
}

/// One layer as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    #[serde(rename = "in")]
    pub n_in: usize,
    #[serde(rename = "out")]
    pub n_out: usize,
    pub degree: usize,
    pub grid: Grid,
    pub coef: Vec<Vec<Vec<f64>>>,
    #[serde(default)]
    pub scale_base: Option<Vec<Vec<f64>>>,
    #[serde(default)]
    pub scale_spline: Option<Vec<Vec<f64>>>,
    #[serde(default = "silu")]
    pub base_function: String,
    #[serde(default)]
    pub bias: Vec<f64>,
    pub table_type: String,
    pub output_type: String,
}

fn silu() -> String {
    "silu".into()
}

fn bad(detail: impl Into<String>) -> Error {
    Error::Invalid(format!("KAN file: {}", detail.into()))
}

fn ty(s: &str, what: &str) -> Result<FixedType> {
    FixedType::parse(s).map_err(|e| bad(format!("{what}: {e}")))
}

impl LayerFile {
    pub fn knots(&self, i: usize) -> &[f64] {
        match &self.grid {
            Grid::Shared(g) => g,
            Grid::PerInput(g) => &g[i],
        }
    }

    pub fn scale_base(&self, o: usize, i: usize) -> f64 {
        if self.base_function == "zero" {
            return 0.0;
        }
        self.scale_base.as_ref().map_or(0.0, |s| s[o][i])
    }

    pub fn scale_spline(&self, o: usize, i: usize) -> f64 {
        self.scale_spline.as_ref().map_or(1.0, |s| s[o][i])
    }

    fn check(&self, l: usize) -> Result<()> {
        let at = |what: String| bad(format!("layer {l}: {what}"));
        if self.n_in == 0 || self.n_out == 0 {
            return Err(at("`in` and `out` must be positive".into()));
        }
        if self.degree > MAX_DEGREE {
            return Err(at(format!("degree {} (at most {MAX_DEGREE})", self.degree)));
        }
        if !matches!(self.base_function.as_str(), "silu" | "zero") {
            return Err(at(format!(
                "base_function `{}` (silu or zero)",
                self.base_function
            )));
        }
        let grids: Vec<&[f64]> = match &self.grid {
            Grid::Shared(g) => vec![g.as_slice()],
            Grid::PerInput(g) if g.len() == self.n_in => g.iter().map(Vec::as_slice).collect(),
            Grid::PerInput(g) => {
                return Err(at(format!("{} grids for {} inputs", g.len(), self.n_in)));
            }
        };
        for g in &grids {
            if g.len() < self.degree + 2 {
                return Err(at(format!(
                    "a grid of {} knots is too short for degree {}",
                    g.len(),
                    self.degree
                )));
            }
            if g.iter().any(|v| !v.is_finite()) || g.windows(2).any(|w| w[1] < w[0]) {
                return Err(at("grid knots must be finite and non-decreasing".into()));
            }
        }
        let finite = |m: &[Vec<f64>], what: &str| -> Result<()> {
            if m.len() != self.n_out || m.iter().any(|r| r.len() != self.n_in) {
                return Err(at(format!(
                    "`{what}` must be [out={}][in={}]",
                    self.n_out, self.n_in
                )));
            }
            if m.iter().flatten().any(|v| !v.is_finite()) {
                return Err(at(format!("`{what}` holds a non-finite value")));
            }
            Ok(())
        };
        if let Some(s) = &self.scale_base {
            finite(s, "scale_base")?;
        }
        if let Some(s) = &self.scale_spline {
            finite(s, "scale_spline")?;
        }
        if self.coef.len() != self.n_out || self.coef.iter().any(|r| r.len() != self.n_in) {
            return Err(at(format!(
                "`coef` must be [out={}][in={}][basis]",
                self.n_out, self.n_in
            )));
        }
        for (o, row) in self.coef.iter().enumerate() {
            for (i, c) in row.iter().enumerate() {
                let want = self.knots(i).len() - 1 - self.degree;
                if c.len() != want {
                    return Err(at(format!(
                        "coef[{o}][{i}] has {} values; the grid and degree give {want} basis functions",
                        c.len()
                    )));
                }
                if c.iter().any(|v| !v.is_finite()) {
                    return Err(at(format!("coef[{o}][{i}] holds a non-finite value")));
                }
            }
        }
        if !self.bias.is_empty() && self.bias.len() != self.n_out {
            return Err(at(format!(
                "{} biases for {} outputs",
                self.bias.len(),
                self.n_out
            )));
        }
        if self.bias.iter().any(|v| !v.is_finite()) {
            return Err(at("a bias is not finite".into()));
        }
        Ok(())
    }

    fn as_layer(&self, l: usize) -> Result<(FixedType, FixedType)> {
        Ok((
            ty(&self.table_type, &format!("layer {l} table_type"))?,
            ty(&self.output_type, &format!("layer {l} output_type"))?,
        ))
    }
}

impl KanFile {
    /// Parses and checks a document.
    pub fn from_json(doc: serde_json::Value) -> Result<Self> {
        let f: KanFile = serde_json::from_value(doc).map_err(|e| bad(e.to_string()))?;
        if f.format != FORMAT {
            return Err(bad(format!("format `{}` (expected `{FORMAT}`)", f.format)));
        }
        Ok(f)
    }

    /// Checks every layer; returns the input shape and per layer `(layer, input type, table type, output type)`.
    #[allow(clippy::type_complexity)]
    pub fn checked(
        &self,
    ) -> Result<(
        Vec<usize>,
        Vec<(&LayerFile, FixedType, FixedType, FixedType)>,
    )> {
        if self.layers.is_empty() || self.layers.len() > MAX_LAYERS {
            return Err(bad(format!(
                "1 to {MAX_LAYERS} layers, not {}",
                self.layers.len()
            )));
        }
        let mut in_type = ty(&self.input_type, "input_type")?;
        let mut out = Vec::with_capacity(self.layers.len());
        for (l, lf) in self.layers.iter().enumerate() {
            lf.check(l)?;
            if l > 0 && lf.n_in != self.layers[l - 1].n_out {
                return Err(bad(format!(
                    "layer {l} takes {} inputs; layer {} gives {}",
                    lf.n_in,
                    l - 1,
                    self.layers[l - 1].n_out
                )));
            }
            let (table, output) = lf.as_layer(l)?;
            out.push((lf, in_type, table, output));
            in_type = output;
        }
        let n_in = self.layers[0].n_in;
        let shape = match &self.input_shape {
            Some(s) if s.iter().product::<usize>() == n_in && !s.is_empty() => s.clone(),
            Some(s) => {
                return Err(bad(format!(
                    "input_shape {s:?} does not hold {n_in} inputs"
                )));
            }
            None => vec![n_in],
        };
        Ok((shape, out))
    }
}
