//! The typed fixed-point IR: tensors with exact types and value ranges,
//! layers with integer parameters. This is what the simulator runs and what
//! the estimator / RTL generator will consume, so layers keep their shapes,
//! reuse factor and strategy.

use serde::{Deserialize, Serialize};

use crate::fixed::{FixedType, Overflow, Rounding};

/// Identifier of a tensor in [`Model::tensors`].
pub type TensorId = usize;

/// A tensor of the IR. `shape` is the ONNX shape with the batch dimension set to 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    /// Container type: every value is a raw integer of this type.
    pub ty: FixedType,
    /// Proven bounds of the raw values (tighter than the type when known).
    pub lo: i64,
    pub hi: i64,
}

impl TensorInfo {
    /// Elements per sample.
    pub fn elems(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One QONNX-style requantization parameter set for an element (or all elements).
///
/// `q = clamp(R((x + zp·2^in_shift) / 2^in_shift), lo, hi)`; output `(q - zp) << out_shift`.
/// A negative `in_shift` multiplies instead (no rounding needed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ElemQuant {
    pub in_shift: i32,
    pub zp: i64,
    pub out_shift: u32,
}

/// Parameters of a requantization layer (QONNX Quant, BipolarQuant, Trunc).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requant {
    /// One entry (per tensor) or one per element.
    pub params: Vec<ElemQuant>,
    pub rounding: Rounding,
    pub lo: i64,
    pub hi: i64,
    /// 1-bit signed: `q = x >= 0 ? 1 : -1` (QONNX bipolar semantics).
    pub bipolar: bool,
}

/// How an accumulating layer sums its products.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Accum {
    /// Exact sum in i64 (`wide == false`) or i128; optionally wrapped/saturated
    /// into `ty` at the end (equivalent to per-addition wrap).
    Exact { wide: bool, ty: Option<FixedType> },
    /// hls4ml semantics for a narrow accumulator: every product is cast to
    /// `ty`, then summed with `ty`'s overflow after each addition.
    PerProduct { ty: FixedType },
}

/// Dense layer parameters (MatMul / Gemm with constant weights).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    /// Repetitions over leading dimensions (1 for a plain [1, n_in] input).
    pub outer: usize,
    /// Row-major `[n_out][n_in]` raw weights at `w_frac`.
    pub weights: Vec<i64>,
    pub w_frac: i32,
    pub w_type: FixedType,
    /// Raw biases at the accumulator's frac (already cast into the accumulator).
    pub bias: Vec<i64>,
    pub accum: Accum,
    /// Frac of the exact product (input frac + weight frac).
    pub prod_frac: i32,
    /// The 16-bit kernel, when lowering proved it exact (see [`Narrow`]).
    #[serde(skip)]
    pub narrow: Option<Narrow>,
}

/// How the 16-bit kernel turns one exact i32 product `p` into an addend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductCast {
    /// `p << s` (an exact sum is `Shl(0)`).
    Shl(u32),
    /// `(p + add) >> k`: TRN (add 0), CEIL (2^k - 1), RND (2^(k-1)), RND_MIN_INF (2^(k-1) - 1).
    Shr { k: u32, add: i32 },
    /// RND_CONV: `(p + 2^(k-1) - 1 + bit k of p) >> k` (ties to even).
    ShrEven { k: u32 },
}

impl ProductCast {
    /// The hls4ml per-product cast `(accum_t)(x * w)` as an i32 operation that is
    /// exact modulo 2^32, for an AP_WRAP accumulator of `W` bits. Shifting left by
    /// `s` is exact modulo 2^32. Dropping `k` bits with a rounding that looks only
    /// at the dropped bits and the kept low bit (TRN, CEIL, RND, RND_MIN_INF,
    /// RND_CONV) is `floor((p + c) / 2^k)`, which modulo 2^(32-k) depends only on
    /// `p + c` modulo 2^32; the wrap keeps `W` bits, so `W + k <= 32` makes it exact.
    /// The sign-dependent modes (TRN_ZERO, RND_ZERO, RND_INF) and saturating
    /// accumulators take the exact path instead.
    pub fn modular(ty: &FixedType, prod_frac: i32) -> Option<ProductCast> {
        if ty.overflow != Overflow::Wrap || ty.width > 32 {
            return None;
        }
        let shift = ty.frac - prod_frac;
        if shift >= 0 {
            return (shift < 32).then_some(ProductCast::Shl(shift as u32));
        }
        let k = shift.unsigned_abs();
        if ty.width + k > 32 {
            return None;
        }
        let half = 1i64 << (k - 1);
        let add = match ty.rounding {
            Rounding::Trn => 0,
            Rounding::Ceil => (1i64 << k) - 1,
            Rounding::Rnd => half,
            Rounding::RndMinInf => half - 1,
            Rounding::RndConv => return Some(ProductCast::ShrEven { k }),
            _ => return None,
        };
        Some(ProductCast::Shr { k, add: add as i32 })
    }
}

/// A provably exact fast form of an accumulating layer: inputs and weights fit
/// i16, so every product is exact in i32; the sum of the addends is kept in
/// wrapping i32 arithmetic. Either no partial sum can leave i32 (`wrap: None`,
/// the exact path), or the accumulator wraps at `wrap.0 <= 32` bits and
/// every addend is needed only modulo 2^32 (the hls4ml per-product path with
/// AP_WRAP and a rounding that depends only on the dropped bits), so one wrap
/// at the end gives the same bits as wrapping after every addition.
#[derive(Debug, Clone, PartialEq)]
pub struct Narrow {
    /// The weights as i16, same layout as the i64 weights.
    pub weights: Vec<i16>,
    /// The biases (already in the accumulator type) modulo 2^32.
    pub bias: Vec<i32>,
    pub cast: ProductCast,
    /// Final wrap: width and signedness of the accumulator; `None` when the sum is exact.
    pub wrap: Option<(u32, bool)>,
}

/// Convolution parameters (1D convs are 2D with height 1). Data layout NCHW.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conv {
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Pads: top, left (bottom/right follow from the output size).
    pub pad: [usize; 2],
    pub groups: usize,
    /// `[out_c][in_c/groups * k_h * k_w]` raw weights.
    pub weights: Vec<i64>,
    pub w_frac: i32,
    pub w_type: FixedType,
    pub bias: Vec<i64>,
    pub accum: Accum,
    pub prod_frac: i32,
    /// See [`Dense::narrow`].
    #[serde(skip)]
    pub narrow: Option<Narrow>,
}

/// Elementwise binary operation with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    /// `b - a` (a constant minus a tensor).
    RSub,
    Mul,
}

/// Second operand of a binary layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Operand {
    /// Another tensor (the layer's second input).
    Tensor,
    /// A constant, raw values at the constant's frac, indexed like a tensor.
    Const(Vec<i64>),
}

/// Binary layer: `out[e] = (a[ai[e]] << sa) op (b[bi[e]] << sb)`, optionally
/// converted to a type at once (`cast`: from binary point `cast_from`), so a
/// product wider than 63 bits never has to be stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binary {
    pub op: BinOp,
    pub b: Operand,
    pub a_index: Option<Vec<u32>>,
    pub b_index: Option<Vec<u32>>,
    pub a_shift: u32,
    pub b_shift: u32,
    #[serde(default)]
    pub cast: Option<(FixedType, i32)>,
}

/// Lookup-table activation, hls4ml style: `index = trunc0(x * N / range) + N/2`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub function: String,
    /// Raw table entries of `table_type`.
    pub table: Vec<i64>,
    pub table_type: FixedType,
    /// `x_raw * 2^index_shift` (right shifts truncate toward zero) gives the offset from the centre.
    pub index_shift: i32,
}

/// Pooling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pool {
    pub max: bool,
    pub c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub k: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    /// Average pooling: raw reciprocal of each possible window count, at `recip_frac`.
    pub recip: Vec<i64>,
    pub recip_frac: i32,
    pub count_include_pad: bool,
}

/// QONNX MultiThreshold: `out = bias + scale * #{t in thresholds[c] : x >= t}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MultiThreshold {
    /// Channel of each element.
    pub channel: Vec<u32>,
    /// Per channel, sorted raw thresholds at the input frac (x >= t iff raw >= t_raw).
    pub thresholds: Vec<Vec<i64>>,
    pub scale: i64,
    pub bias: i64,
}

/// hls4ml's softmax implementations (`nnet_activation.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SoftmaxImpl {
    /// `exp_table[top bits of x]`, summed, times `inv_table[top bits of the sum]`.
    Latency,
    /// As latency on `max(x) - x` (in `norm_type`), exp of its negation.
    Stable,
    /// One-hot of the first maximum.
    Argmax,
}

/// Softmax over the last axis, as hls4ml computes it (io_parallel).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Softmax {
    /// Length of the softmax axis (innermost).
    pub n: usize,
    pub implementation: SoftmaxImpl,
    /// The input type (`data_T`).
    pub in_type: FixedType,
    /// Stable: the type of `max - x` (`inp_norm_t`), which indexes the exp table.
    pub norm_type: FixedType,
    pub exp_table: Vec<i64>,
    pub exp_type: FixedType,
    /// The type of each exponential and of their sum (`accum_t`).
    pub accum_type: FixedType,
    /// The type the sum is converted to before indexing the inverse table (`inv_inp_t`).
    pub inv_inp_type: FixedType,
    pub inv_table: Vec<i64>,
    pub inv_type: FixedType,
}

/// The operation of a layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LayerKind {
    /// Float model input quantized with QONNX Quant semantics (scale/zero point/clamp).
    InputQuant(Requant),
    /// Float model input quantized to an ap_fixed type.
    InputCast(FixedType),
    /// Fixed to fixed requantization (QONNX Quant / BipolarQuant / Trunc).
    Requant(Requant),
    /// ap_fixed assignment to the output tensor's type.
    Cast,
    Dense(Dense),
    Conv(Conv),
    Binary(Binary),
    Relu,
    /// `x < 0 ? x * alpha : x << alpha_frac`.
    LeakyRelu {
        alpha: i64,
        alpha_frac: u32,
    },
    /// Clamp to raw bounds at the input frac, after shifting left by `shift`.
    Clip {
        shift: u32,
        lo: i64,
        hi: i64,
    },
    Table(Table),
    Softmax(Softmax),
    Pool(Pool),
    MultiThreshold(MultiThreshold),
    /// Data movement: output element `e` is input `src[e].0` at index `src[e].1`, shifted left by `shifts[input]`.
    Gather {
        src: Vec<(u16, u32)>,
        shifts: Vec<u32>,
    },
}

/// One layer: reads `inputs`, writes `output`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    /// The ONNX operator (or operators) this layer came from.
    pub op: String,
    pub kind: LayerKind,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
    pub reuse_factor: u32,
    pub strategy: String,
}

/// A compiled model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub tensors: Vec<TensorInfo>,
    pub layers: Vec<Layer>,
    /// Graph input name and its ONNX shape (batch set to 1).
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub outputs: Vec<TensorId>,
}

impl LayerKind {
    /// Short operation name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::InputQuant(_) => "InputQuant",
            LayerKind::InputCast(_) => "InputCast",
            LayerKind::Requant(_) => "Requant",
            LayerKind::Cast => "Cast",
            LayerKind::Dense(_) => "Dense",
            LayerKind::Conv(_) => "Conv",
            LayerKind::Binary(_) => "Binary",
            LayerKind::Relu => "Relu",
            LayerKind::LeakyRelu { .. } => "LeakyRelu",
            LayerKind::Clip { .. } => "Clip",
            LayerKind::Table(_) => "Table",
            LayerKind::Softmax(_) => "Softmax",
            LayerKind::Pool(_) => "Pool",
            LayerKind::MultiThreshold(_) => "MultiThreshold",
            LayerKind::Gather { .. } => "Gather",
        }
    }

    /// Stored parameters (weights, biases, table entries, thresholds).
    pub fn parameters(&self) -> u64 {
        let n = match self {
            LayerKind::Dense(d) => d.weights.len() + d.bias.len(),
            LayerKind::Conv(c) => c.weights.len() + c.bias.len(),
            LayerKind::Binary(Binary {
                b: Operand::Const(v),
                ..
            }) => v.len(),
            LayerKind::Table(t) => t.table.len(),
            LayerKind::Softmax(s) => s.exp_table.len() + s.inv_table.len(),
            LayerKind::MultiThreshold(m) => m.thresholds.iter().map(Vec::len).sum(),
            _ => 0,
        };
        n as u64
    }
}
