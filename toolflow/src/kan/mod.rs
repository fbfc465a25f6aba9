//! Kolmogorov-Arnold networks: every edge function is tabulated into a
//! lookup table over its quantized input range, every node sums its edge
//! tables in fixed point. The format (`arena-kan/1`, JSON) and the exact
//! tabulation procedure are documented in docs/TOOLFLOW.md; the reference
//! evaluation in python/make_kan_fixtures.py follows the same procedure.
//!
//! Per layer `l` with input type `T_l` (layer 0: `input_type`; later
//! layers: the previous layer's `output_type`):
//! - edge `(o, i)` gets the table `LUT[r] = table_type(phi_oi(r * 2^-frac(T_l)))`
//!   for every raw value `r` of `T_l`, with
//!   `phi(x) = scale_base * b(x) + scale_spline * sum_j coef_j * B_j(x)`
//!   (`b` = SiLU `x / (1 + exp(-x))` or zero; `B_j` the degree-`k` B-splines
//!   of the edge's knot vector by the Cox-de Boor recursion, zero outside it);
//! - node `o` = `output_type(bias_o + sum_i LUT_oi[x_i])`: an exact integer
//!   sum at the table type's fraction, then one ap_fixed cast.
//!
//! Tables are evaluated in f64 with one fixed order of operations, so the
//! same tables come out of any IEEE implementation with the same `exp`.

pub mod format;

use crate::error::{Error, Result};
use crate::fixed::FixedType;
use crate::hw::rtl::NetOptions;
use crate::hw::rtl::net::{Net, NodeId, OutPort, Port, Term};
use crate::ir::Model;
use crate::summary::Summary;

pub use format::{KanFile, LayerFile};

/// Widest layer input type: tables have `2^width` entries.
pub const MAX_INPUT_BITS: u32 = 12;
/// Most table entries over the whole network.
pub const MAX_TABLE_ENTRIES: usize = 1 << 22;
/// Most layers.
pub const MAX_LAYERS: usize = 16;
/// Highest spline degree.
pub const MAX_DEGREE: usize = 8;

/// One tabulated layer.
#[derive(Debug, Clone)]
pub struct KanLayer {
    pub n_in: usize,
    pub n_out: usize,
    pub in_type: FixedType,
    pub table_type: FixedType,
    pub out_type: FixedType,
    /// Per edge `o * n_in + i`: the table (indexed by `raw - in_type.min_raw()`), or `None` when all zero.
    pub tables: Vec<Option<Vec<i64>>>,
    /// Raw biases at the table type's fraction.
    pub bias: Vec<i64>,
}

/// A tabulated KAN.
#[derive(Debug, Clone)]
pub struct Kan {
    pub name: String,
    pub input_shape: Vec<usize>,
    pub layers: Vec<KanLayer>,
}

/// `B_j(x)` for every basis function of degree `k` on `knots` (Cox-de Boor),
/// in the documented order of operations.
pub fn bspline_basis(x: f64, knots: &[f64], k: usize) -> Vec<f64> {
    let n0 = knots.len().saturating_sub(1);
    let mut b: Vec<f64> = (0..n0)
        .map(|j| {
            if knots[j] <= x && x < knots[j + 1] {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    for p in 1..=k {
        let n = n0.saturating_sub(p);
        let mut next = vec![0.0; n];
        for (j, slot) in next.iter_mut().enumerate() {
            let d1 = knots[j + p] - knots[j];
            let d2 = knots[j + p + 1] - knots[j + 1];
            let left = if d1 != 0.0 {
                (x - knots[j]) / d1 * b[j]
            } else {
                0.0
            };
            let right = if d2 != 0.0 {
                (knots[j + p + 1] - x) / d2 * b[j + 1]
            } else {
                0.0
            };
            *slot = left + right;
        }
        b = next;
    }
    b
}

/// SiLU as documented: `x / (1 + exp(-x))`.
pub fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// The float edge function.
pub fn edge_value(x: f64, knots: &[f64], coef: &[f64], k: usize, base: f64, spline: f64) -> f64 {
    let basis = bspline_basis(x, knots, k);
    let mut s = 0.0;
    for (c, b) in coef.iter().zip(&basis) {
        s += c * b;
    }
    let base_part = if base != 0.0 { base * silu(x) } else { 0.0 };
    base_part + spline * s
}

impl Kan {
    /// Tabulates a parsed file (every type comes from the file).
    pub fn tabulate(file: &KanFile) -> Result<Self> {
        let (input_shape, layers) = file.checked()?;
        let mut in_type = layers[0].1;
        let mut out = Vec::with_capacity(layers.len());
        let mut entries = 0usize;
        for (l, (lf, _, table_type, out_type)) in layers.iter().enumerate() {
            if in_type.width > MAX_INPUT_BITS {
                return Err(Error::Limit(format!(
                    "layer {l}: input type {in_type} has {} bits; tables need at most {MAX_INPUT_BITS}",
                    in_type.width
                )));
            }
            let len = (in_type.max_raw() - in_type.min_raw() + 1) as usize;
            entries += len * lf.n_in * lf.n_out;
            if entries > MAX_TABLE_ENTRIES {
                return Err(Error::Limit(format!(
                    "the tables would hold more than {MAX_TABLE_ENTRIES} entries"
                )));
            }
            let xs: Vec<f64> = (0..len)
                .map(|r| in_type.to_f64(in_type.min_raw() + r as i128))
                .collect();
            let mut tables = Vec::with_capacity(lf.n_in * lf.n_out);
            for o in 0..lf.n_out {
                for i in 0..lf.n_in {
                    let (base, spline) = (lf.scale_base(o, i), lf.scale_spline(o, i));
                    let coef = &lf.coef[o][i];
                    let knots = lf.knots(i);
                    let table: Vec<i64> = xs
                        .iter()
                        .map(|&x| {
                            let v = edge_value(x, knots, coef, lf.degree, base, spline);
                            table_type.quantize_f64(v) as i64
                        })
                        .collect();
                    tables.push(table.iter().any(|&v| v != 0).then_some(table));
                }
            }
            let bias = (0..lf.n_out)
                .map(|o| table_type.quantize_f64(lf.bias.get(o).copied().unwrap_or(0.0)) as i64)
                .collect();
            out.push(KanLayer {
                n_in: lf.n_in,
                n_out: lf.n_out,
                in_type,
                table_type: *table_type,
                out_type: *out_type,
                tables,
                bias,
            });
            in_type = *out_type;
        }
        Ok(Kan {
            name: file.name.clone().unwrap_or_else(|| "kan".into()),
            input_shape,
            layers: out,
        })
    }

    pub fn input_type(&self) -> FixedType {
        self.layers[0].in_type
    }

    pub fn output_type(&self) -> FixedType {
        self.layers[self.layers.len() - 1].out_type
    }

    pub fn n_inputs(&self) -> usize {
        self.layers[0].n_in
    }

    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].n_out
    }

    /// Raw outputs of one sample from raw (already quantized) inputs.
    pub fn eval_raw(&self, x: &[i64]) -> Vec<i64> {
        let mut cur = x.to_vec();
        for layer in &self.layers {
            let lo = layer.in_type.min_raw() as i64;
            let mut next = Vec::with_capacity(layer.n_out);
            for o in 0..layer.n_out {
                let mut acc = layer.bias[o] as i128;
                for (i, &xi) in cur.iter().enumerate() {
                    if let Some(t) = &layer.tables[o * layer.n_in + i] {
                        acc += t[(xi - lo) as usize] as i128;
                    }
                }
                next.push(layer.out_type.cast(acc, layer.table_type.frac) as i64);
            }
            cur = next;
        }
        cur
    }

    /// Non-zero edge tables and their entries.
    pub fn table_stats(&self) -> (usize, usize) {
        let tables: Vec<&Vec<i64>> = self
            .layers
            .iter()
            .flat_map(|l| l.tables.iter().flatten())
            .collect();
        (tables.len(), tables.iter().map(|t| t.len()).sum())
    }

    pub fn stub_ir(&self) -> Model {
        crate::bdt::stub_ir(
            &self.input_shape,
            self.input_type(),
            self.n_outputs(),
            self.output_type(),
            "KAN",
        )
    }

    pub fn summary(&self) -> Summary {
        let (edges, entries) = self.table_stats();
        let dims: Vec<String> = std::iter::once(self.n_inputs())
            .chain(self.layers.iter().map(|l| l.n_out))
            .map(|d| d.to_string())
            .collect();
        crate::bdt::family_summary(
            &self.stub_ir(),
            "KAN",
            &format!(
                "KAN {}: {edges} edge tables, {entries} entries",
                dims.join("-")
            ),
            entries as u64,
        )
    }

    /// The datapath: one ROM per non-zero edge (indexed by the input's raw
    /// value minus the type's minimum), an adder tree per node, a cast.
    pub fn build_net(&self, opts: &NetOptions) -> Result<Net> {
        let mut net = Net::new(opts.max_nodes, opts.dsp_threshold_bits);
        let ty = self.input_type();
        net.inputs.push(Port {
            name: "x0".into(),
            tensor: 0,
            elems: self.n_inputs(),
            width: ty.width,
            signed: ty.signed,
        });
        let mut cur: Vec<NodeId> = (0..self.n_inputs())
            .map(|e| net.input(0, e as u32, ty.min_raw(), ty.max_raw()))
            .collect::<Result<_>>()?;
        for layer in &self.layers {
            let lo = layer.in_type.min_raw();
            let index: Vec<NodeId> = cur
                .iter()
                .map(|&x| net.add_const(x, -lo))
                .collect::<Result<_>>()?;
            let mut next = Vec::with_capacity(layer.n_out);
            for o in 0..layer.n_out {
                let mut terms = vec![net.const_term(layer.bias[o] as i128)?];
                for (i, &ix) in index.iter().enumerate() {
                    if let Some(t) = &layer.tables[o * layer.n_in + i] {
                        terms.push(Term::of(net.rom(ix, t)?));
                    }
                }
                let sum = net.sum(terms)?;
                let n = net.node_of(sum)?;
                next.push(net.cast(n, layer.table_type.frac, &layer.out_type)?);
            }
            cur = next;
        }
        let out = self.output_type();
        let nodes = cur
            .into_iter()
            .map(|n| net.wrap(n, out.width, out.signed))
            .collect::<Result<_>>()?;
        net.outputs.push(OutPort {
            name: "y0".into(),
            tensor: 1,
            width: out.width,
            signed: out.signed,
            nodes,
        });
        Ok(net)
    }
}
