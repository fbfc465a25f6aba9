//! A word-level datapath netlist. Every node is an exact integer with a
//! proven range `[lo, hi]`; its bit width follows from the range (every wire
//! is two's-complement signed). Builders fold constants, drop additions of
//! zero, factor common low zero bits out of adders and share identical nodes
//! (hash-consing), so the netlist is both the RTL and the estimator's input.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::fixed::{FixedType, Overflow, Rounding, shift_round};

/// `odd = ±(a << i) ± b`: (node of a, i, a negated, node of b, b negated).
type Decomposition = (NodeId, u32, bool, NodeId, bool);

/// Index of a node in [`Net::nodes`].
pub type NodeId = u32;

/// Widest value a netlist node may carry.
pub const MAX_BITS: u32 = 120;

/// A signed, shifted reference to a node: `±(node << shift)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Term {
    pub node: NodeId,
    pub shift: u32,
    pub neg: bool,
}

impl Term {
    pub fn of(node: NodeId) -> Self {
        Term {
            node,
            shift: 0,
            neg: false,
        }
    }
}

/// Node operations. All arithmetic is exact (ranges are proven, no overflow).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// Element `elem` of input port `port`.
    Input {
        port: u32,
        elem: u32,
    },
    Const(i128),
    /// `±(a << sa) ± (b << sb)`.
    Add(Term, Term),
    /// `a << s` (wiring only).
    Shl(NodeId, u32),
    /// `shift_round(a, s, mode)`: drop `s` fraction bits with a rounding mode.
    Round {
        a: NodeId,
        s: u32,
        mode: Rounding,
    },
    /// `a < lo ? below : a > hi ? above : a`.
    Sat {
        a: NodeId,
        lo: i128,
        hi: i128,
        below: i128,
        above: i128,
    },
    /// Two's-complement wrap to `width` bits.
    Wrap {
        a: NodeId,
        width: u32,
        signed: bool,
    },
    /// `c < 0 ? neg : pos`.
    Select {
        c: NodeId,
        neg: NodeId,
        pos: NodeId,
    },
    /// Product of two signals (a DSP block).
    Mul(NodeId, NodeId),
    /// Product with a constant mapped to a DSP block.
    MulConst(NodeId, i128),
    /// `a >= t` (0 or 1).
    Ge(NodeId, i128),
    /// Table lookup: `tables[table][a]`.
    Rom {
        a: NodeId,
        table: u32,
    },
    /// Phase of the time-shared datapath in stage 0: `0..ii-1` while a
    /// vector is in flight, `ii` when idle (see [`Net::phase`]).
    Phase {
        ii: u32,
    },
    /// `cases[sel]` (the last case when `sel` is out of range). Cases are
    /// shifted nodes (never negated), so the shifts stay wiring and every
    /// multiplexer of a slot shares the delay registers of the base nodes.
    Mux {
        sel: NodeId,
        cases: Vec<Term>,
    },
    /// Accumulator of a time-shared layer: sums `a` over phases `0..=last`
    /// (starting from `init`) and registers the total when phase `last` is
    /// in. Its value appears `last + 1` stages after the stage that adds `a`.
    Acc {
        a: NodeId,
        phase: NodeId,
        last: u32,
        init: i128,
    },
}

/// A node with its proven value range.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: Op,
    pub lo: i128,
    pub hi: i128,
}

impl Node {
    /// Signed bit width of the node's wire.
    pub fn width(&self) -> u32 {
        signed_width(self.lo, self.hi)
    }
}

/// An input port: the packed elements of one IR tensor.
#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub tensor: usize,
    pub elems: usize,
    pub width: u32,
    pub signed: bool,
}

/// An output port: one node per element, packed at `width` bits.
#[derive(Debug, Clone)]
pub struct OutPort {
    pub name: String,
    pub tensor: usize,
    pub width: u32,
    pub signed: bool,
    pub nodes: Vec<NodeId>,
}

/// Counters of how constant multiplications were realised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultStats {
    /// Constant products that vanished (zero weights).
    pub zero: u64,
    /// Products that became wiring (powers of two, up to sign).
    pub shift: u64,
    /// Products built as shift-add networks (shared per input).
    pub shift_add: u64,
    /// Products mapped to DSP blocks.
    pub dsp: u64,
}

/// The datapath.
#[derive(Debug, Clone, Default)]
pub struct Net {
    pub nodes: Vec<Node>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<OutPort>,
    pub tables: Vec<Vec<i64>>,
    pub stats: MultStats,
    /// Largest number of nodes before the builder gives up.
    pub max_nodes: usize,
    /// Use a DSP for a constant product when its shift-add cost exceeds this many adder bits.
    pub dsp_threshold_bits: u32,
    cache: HashMap<Op, NodeId>,
    /// Per input node: the odd constant multiples already built.
    multiples: HashMap<NodeId, Multiples>,
    /// Initiation interval (0 or 1: fully pipelined; > 1: time-shared layers).
    pub ii: u32,
    /// Notes for the report (e.g. layers whose reuse factor was adjusted).
    pub notes: Vec<String>,
}

/// The odd constant multiples `x*c` of one input node built so far.
#[derive(Debug, Clone)]
struct Multiples {
    /// Every multiple by its constant, DSP products included.
    built: HashMap<i128, NodeId>,
    /// Shift-add multiples that may feed a new adder, in build order, `x`
    /// itself (constant 1) first. The order decides which decomposition wins.
    operands: Vec<(i128, NodeId)>,
    /// First position of each constant in `operands`.
    operand_position: HashMap<i128, usize>,
}

impl Multiples {
    fn of(x: NodeId) -> Self {
        let mut m = Multiples {
            built: HashMap::new(),
            operands: Vec::new(),
            operand_position: HashMap::new(),
        };
        m.push_operand(1, x);
        m
    }

    fn push_operand(&mut self, c: i128, n: NodeId) {
        self.operand_position
            .entry(c)
            .or_insert(self.operands.len());
        self.operands.push((c, n));
    }

    /// The first decomposition `odd = ±(a << i) ± b` over two operands, in
    /// the order (a, i, b) of a full scan, found with one lookup per (a, i):
    /// O(operands x bits) instead of O(operands² x bits). Taking the first
    /// rather than the shallowest keeps LUTs low: preferring shallow ones on
    /// the jet tagger saved 3 pipeline stages and 5k FFs but cost 8.5k LUTs
    /// in Yosys (79.6k -> 88.1k).
    fn find_adder(&self, odd: i128) -> Option<Decomposition> {
        let bits = 128 - odd.leading_zeros() + 1;
        for &(a, na) in &self.operands {
            for i in 1..=bits {
                let Some(p) = checked_shl(a, i) else { break };
                // odd = p + b, p - b, or b - p: the operand b each form needs.
                let forms = [
                    (odd.checked_sub(p), false, false),
                    (p.checked_sub(odd), false, true),
                    (odd.checked_add(p), true, false),
                ];
                let first = forms
                    .iter()
                    .filter_map(|&(b, neg_a, neg_b)| {
                        let k = *self.operand_position.get(&b?)?;
                        Some((k, neg_a, neg_b))
                    })
                    .min_by_key(|&(k, ..)| k);
                if let Some((k, neg_a, neg_b)) = first {
                    return Some((na, i, neg_a, self.operands[k].1, neg_b));
                }
            }
        }
        None
    }
}

/// Bits of a two's-complement signed wire holding `[lo, hi]`.
pub fn signed_width(lo: i128, hi: i128) -> u32 {
    let need = |v: i128| -> u32 {
        if v >= 0 {
            128 - v.leading_zeros() + 1
        } else {
            128 - (!v).leading_zeros() + 1
        }
    };
    need(lo).max(need(hi)).max(1)
}

/// Canonical signed digits of `v` (LSB first), each -1, 0 or 1.
pub fn csd(v: i128) -> Vec<i8> {
    let mut digits = Vec::new();
    let mut x = v;
    while x != 0 {
        if x & 1 == 1 {
            let d: i8 = if x & 3 == 3 { -1 } else { 1 };
            digits.push(d);
            x -= d as i128;
        } else {
            digits.push(0);
        }
        x >>= 1;
    }
    digits
}

/// Non-zero canonical signed digits of `v`.
pub fn csd_weight(v: i128) -> u32 {
    csd(v).iter().filter(|&&d| d != 0).count() as u32
}

fn checked_shl(v: i128, s: u32) -> Option<i128> {
    if v == 0 {
        return Some(0);
    }
    if s >= 126 {
        return None;
    }
    v.checked_mul(1i128 << s)
}

fn too_wide(what: &str) -> Error {
    Error::Hardware(format!(
        "a {what} in the datapath needs more than {MAX_BITS} bits; quantize the model more narrowly"
    ))
}

impl Net {
    pub fn new(max_nodes: usize, dsp_threshold_bits: u32) -> Self {
        Net {
            max_nodes,
            dsp_threshold_bits,
            ..Default::default()
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn range(&self, id: NodeId) -> (i128, i128) {
        let n = self.node(id);
        (n.lo, n.hi)
    }

    /// Constant value of a node, if it is one.
    pub fn const_of(&self, id: NodeId) -> Option<i128> {
        match self.node(id).op {
            Op::Const(v) => Some(v),
            _ => None,
        }
    }

    /// Adds (or finds) a node with the given range; constant ranges fold to constants.
    fn push(&mut self, op: Op, lo: i128, hi: i128) -> Result<NodeId> {
        let (op, lo, hi) = if lo == hi && !matches!(op, Op::Const(_) | Op::Input { .. }) {
            (Op::Const(lo), lo, hi)
        } else {
            (op, lo.min(hi), hi.max(lo))
        };
        if let Some(&id) = self.cache.get(&op) {
            return Ok(id);
        }
        if signed_width(lo, hi) > MAX_BITS {
            return Err(too_wide("value"));
        }
        if self.nodes.len() >= self.max_nodes {
            return Err(Error::Limit(format!(
                "the datapath would exceed {} nodes; use a reuse factor or a smaller model",
                self.max_nodes
            )));
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node {
            op: op.clone(),
            lo,
            hi,
        });
        self.cache.insert(op, id);
        Ok(id)
    }

    pub fn konst(&mut self, v: i128) -> Result<NodeId> {
        self.push(Op::Const(v), v, v)
    }

    pub fn input(&mut self, port: u32, elem: u32, lo: i128, hi: i128) -> Result<NodeId> {
        self.push(Op::Input { port, elem }, lo, hi)
    }

    /// A constant as a term with its trailing zeros factored out.
    pub fn const_term(&mut self, v: i128) -> Result<Term> {
        if v == 0 {
            return Ok(Term::of(self.konst(0)?));
        }
        let tz = v.trailing_zeros();
        let m = v >> tz;
        let node = self.konst(m.abs())?;
        Ok(Term {
            node,
            shift: tz,
            neg: m < 0,
        })
    }

    fn term_range(&self, t: Term) -> Result<(i128, i128)> {
        let (lo, hi) = self.range(t.node);
        let lo = checked_shl(lo, t.shift).ok_or_else(|| too_wide("shift"))?;
        let hi = checked_shl(hi, t.shift).ok_or_else(|| too_wide("shift"))?;
        Ok(if t.neg { (-hi, -lo) } else { (lo, hi) })
    }

    fn is_zero(&self, t: Term) -> bool {
        self.const_of(t.node) == Some(0)
    }

    /// `a + b` as a term (the result may carry a shift and a sign).
    pub fn add(&mut self, a: Term, b: Term) -> Result<Term> {
        if self.is_zero(a) {
            return Ok(b);
        }
        if self.is_zero(b) {
            return Ok(a);
        }
        if let (Some(x), Some(y)) = (self.const_of(a.node), self.const_of(b.node)) {
            let v = |c: i128, t: Term| {
                checked_shl(c, t.shift)
                    .map(|v| if t.neg { -v } else { v })
                    .ok_or_else(|| too_wide("constant"))
            };
            let s = v(x, a)?
                .checked_add(v(y, b)?)
                .ok_or_else(|| too_wide("constant"))?;
            return self.const_term(s);
        }
        let m = a.shift.min(b.shift);
        let (mut a, mut b) = (a, b);
        a.shift -= m;
        b.shift -= m;
        let neg = a.neg && b.neg;
        if neg {
            a.neg = false;
            b.neg = false;
        } else if a.neg {
            std::mem::swap(&mut a, &mut b);
        }
        // Canonical operand order for sharing.
        if a.neg == b.neg && (b.node, b.shift) < (a.node, a.shift) {
            std::mem::swap(&mut a, &mut b);
        }
        let (al, ah) = self.term_range(a)?;
        let (bl, bh) = self.term_range(b)?;
        let lo = al.checked_add(bl).ok_or_else(|| too_wide("sum"))?;
        let hi = ah.checked_add(bh).ok_or_else(|| too_wide("sum"))?;
        let node = self.push(Op::Add(a, b), lo, hi)?;
        Ok(Term {
            node,
            shift: m,
            neg,
        })
    }

    /// Negated term.
    pub fn neg(t: Term) -> Term {
        Term { neg: !t.neg, ..t }
    }

    /// Sum of many terms as a balanced tree (terms of similar weight paired first).
    pub fn sum(&mut self, terms: Vec<Term>) -> Result<Term> {
        let mut level: Vec<Term> = terms.into_iter().filter(|t| !self.is_zero(*t)).collect();
        if level.is_empty() {
            return Ok(Term::of(self.konst(0)?));
        }
        // Fold all constants into one.
        let (consts, mut rest): (Vec<Term>, Vec<Term>) = level
            .into_iter()
            .partition(|t| self.const_of(t.node).is_some());
        let mut c = Term::of(self.konst(0)?);
        for t in consts {
            c = self.add(c, t)?;
        }
        if !self.is_zero(c) {
            rest.push(c);
        }
        level = rest;
        while level.len() > 1 {
            level.sort_by_key(|t| (t.shift, self.node(t.node).width()));
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            let mut it = level.chunks(2);
            for pair in &mut it {
                match *pair {
                    [a, b] => next.push(self.add(a, b)?),
                    [a] => next.push(a),
                    _ => {}
                }
            }
            level = next;
        }
        Ok(level[0])
    }

    /// A plain node holding the term's value.
    pub fn node_of(&mut self, t: Term) -> Result<NodeId> {
        if let Some(v) = self.const_of(t.node) {
            let v = checked_shl(v, t.shift).ok_or_else(|| too_wide("constant"))?;
            return self.konst(if t.neg { -v } else { v });
        }
        if t.neg {
            let zero = Term::of(self.konst(0)?);
            let (lo, hi) = self.term_range(t)?;
            return self.push(Op::Add(zero, t), lo, hi);
        }
        if t.shift == 0 {
            return Ok(t.node);
        }
        let (lo, hi) = self.term_range(t)?;
        self.push(Op::Shl(t.node, t.shift), lo, hi)
    }

    pub fn shl(&mut self, a: NodeId, s: u32) -> Result<NodeId> {
        self.node_of(Term {
            node: a,
            shift: s,
            neg: false,
        })
    }

    /// `a + c` for a constant `c`.
    pub fn add_const(&mut self, a: NodeId, c: i128) -> Result<NodeId> {
        let ct = self.const_term(c)?;
        let t = self.add(Term::of(a), ct)?;
        self.node_of(t)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        let t = self.add(Term::of(a), Net::neg(Term::of(b)))?;
        self.node_of(t)
    }

    /// Drops `s` fraction bits with `mode`.
    pub fn round(&mut self, a: NodeId, s: u32, mode: Rounding) -> Result<NodeId> {
        if s == 0 {
            return Ok(a);
        }
        let (lo, hi) = self.range(a);
        if let Some(v) = self.const_of(a) {
            return self.konst(shift_round(v, s, mode));
        }
        let s = s.min(MAX_BITS + 2);
        let (rl, rh) = (shift_round(lo, s, mode), shift_round(hi, s, mode));
        self.push(Op::Round { a, s, mode }, rl, rh)
    }

    /// `a < lo ? below : a > hi ? above : a` (checks that cannot trigger are dropped).
    pub fn sat(
        &mut self,
        a: NodeId,
        lo: i128,
        hi: i128,
        below: i128,
        above: i128,
    ) -> Result<NodeId> {
        let (al, ah) = self.range(a);
        if al >= lo && ah <= hi {
            return Ok(a);
        }
        if ah < lo {
            return self.konst(below);
        }
        if al > hi {
            return self.konst(above);
        }
        let (need_lo, need_hi) = (al < lo, ah > hi);
        let (mut rl, mut rh) = (al.max(lo), ah.min(hi));
        if need_lo {
            rl = rl.min(below);
            rh = rh.max(below);
        }
        if need_hi {
            rl = rl.min(above);
            rh = rh.max(above);
        }
        self.push(
            Op::Sat {
                a,
                lo,
                hi,
                below,
                above,
            },
            rl,
            rh,
        )
    }

    /// Clamp to `[lo, hi]`.
    pub fn clamp(&mut self, a: NodeId, lo: i128, hi: i128) -> Result<NodeId> {
        self.sat(a, lo, hi, lo, hi)
    }

    /// Makes `node` a one-element output port (for tests of later passes).
    #[cfg(test)]
    pub fn output_one(&mut self, node: NodeId) {
        self.outputs.push(OutPort {
            name: "y".into(),
            tensor: 0,
            width: self.node(node).width(),
            signed: true,
            nodes: vec![node],
        });
    }

    /// Two's-complement wrap to `width` bits.
    pub fn wrap(&mut self, a: NodeId, width: u32, signed: bool) -> Result<NodeId> {
        let t = FixedType::new(signed, width, width as i32);
        let (al, ah) = self.range(a);
        if al >= t.min_raw() && ah <= t.max_raw() {
            return Ok(a);
        }
        if let Some(v) = self.const_of(a) {
            return self.konst(t.overflow_adjust(v));
        }
        self.push(Op::Wrap { a, width, signed }, t.min_raw(), t.max_raw())
    }

    /// ap_fixed overflow handling of `a` (already at `ty.frac`) into `ty`.
    pub fn overflow(&mut self, a: NodeId, ty: &FixedType) -> Result<NodeId> {
        let (lo, hi) = (ty.min_raw(), ty.max_raw());
        match ty.overflow {
            Overflow::Wrap => self.wrap(a, ty.width, ty.signed),
            Overflow::Sat => self.sat(a, lo, hi, lo, hi),
            Overflow::SatZero => self.sat(a, lo, hi, 0, 0),
            // Never -2^(W-1) for a signed type of 2+ bits (see FixedType::sat_min_raw).
            Overflow::SatSym => {
                let lo = ty.sat_min_raw();
                self.sat(a, lo, hi, lo, hi)
            }
        }
    }

    /// ap_fixed assignment of `a` (at `from_frac`) to `ty`.
    pub fn cast(&mut self, a: NodeId, from_frac: i32, ty: &FixedType) -> Result<NodeId> {
        let diff = ty.frac - from_frac;
        let v = if diff >= 0 {
            self.shl(a, diff as u32)?
        } else {
            self.round(a, diff.unsigned_abs(), ty.rounding)?
        };
        self.overflow(v, ty)
    }

    /// `c < 0 ? neg : pos`.
    pub fn select(&mut self, c: NodeId, neg: NodeId, pos: NodeId) -> Result<NodeId> {
        let (cl, ch) = self.range(c);
        if cl >= 0 {
            return Ok(pos);
        }
        if ch < 0 {
            return Ok(neg);
        }
        if neg == pos {
            return Ok(pos);
        }
        let (nl, nh) = self.range(neg);
        let (pl, ph) = self.range(pos);
        self.push(Op::Select { c, neg, pos }, nl.min(pl), nh.max(ph))
    }

    /// `max(a, 0)`.
    pub fn relu(&mut self, a: NodeId) -> Result<NodeId> {
        let (lo, hi) = self.range(a);
        if lo >= 0 {
            return Ok(a);
        }
        if hi <= 0 {
            return self.konst(0);
        }
        let zero = self.konst(0)?;
        self.push(
            Op::Select {
                c: a,
                neg: zero,
                pos: a,
            },
            0,
            hi,
        )
    }

    /// `max(a, b)`.
    pub fn max(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        let ((al, ah), (bl, bh)) = (self.range(a), self.range(b));
        if al >= bh {
            return Ok(a);
        }
        if bl >= ah {
            return Ok(b);
        }
        let d = self.sub(a, b)?;
        let (nl, nh) = (al.max(bl), ah.max(bh));
        self.push(
            Op::Select {
                c: d,
                neg: b,
                pos: a,
            },
            nl,
            nh,
        )
    }

    /// Maximum of several nodes (balanced tree).
    pub fn max_tree(&mut self, mut v: Vec<NodeId>) -> Result<NodeId> {
        if v.is_empty() {
            return self.konst(0);
        }
        while v.len() > 1 {
            let mut next = Vec::with_capacity(v.len().div_ceil(2));
            for pair in v.chunks(2) {
                match *pair {
                    [a, b] => next.push(self.max(a, b)?),
                    [a] => next.push(a),
                    _ => {}
                }
            }
            v = next;
        }
        Ok(v[0])
    }

    /// Product of two signals (DSP).
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        if let Some(c) = self.const_of(b) {
            return self.mul_const_node(a, c);
        }
        if let Some(c) = self.const_of(a) {
            return self.mul_const_node(b, c);
        }
        let ((al, ah), (bl, bh)) = (self.range(a), self.range(b));
        let p = [al * bl, al * bh, ah * bl, ah * bh];
        let lo = p.iter().copied().min().unwrap_or(0);
        let hi = p.iter().copied().max().unwrap_or(0);
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        self.push(Op::Mul(x, y), lo, hi)
    }

    /// Product with a constant as a plain node.
    pub fn mul_const_node(&mut self, a: NodeId, c: i128) -> Result<NodeId> {
        match self.mul_const(a, c)? {
            Some(t) => self.node_of(t),
            None => self.konst(0),
        }
    }

    /// `x * c` as a term: zero vanishes, powers of two are wiring, other
    /// constants are `±(x * odd) << k` with `x * odd` built once per input as
    /// a shift-add network (or a DSP when that is cheaper).
    pub fn mul_const(&mut self, x: NodeId, c: i128) -> Result<Option<Term>> {
        if c == 0 {
            self.stats.zero += 1;
            return Ok(None);
        }
        if let Some(v) = self.const_of(x) {
            let p = v.checked_mul(c).ok_or_else(|| too_wide("product"))?;
            return Ok(Some(self.const_term(p)?));
        }
        let k = c.trailing_zeros();
        let odd = (c >> k).abs();
        let neg = c < 0;
        let node = if odd == 1 {
            self.stats.shift += 1;
            x
        } else {
            let (node, dsp) = self.multiple(x, odd)?;
            if dsp {
                self.stats.dsp += 1;
            } else {
                self.stats.shift_add += 1;
            }
            node
        };
        Ok(Some(Term {
            node,
            shift: k,
            neg,
        }))
    }

    /// Whether `x * odd` goes to a DSP block (deterministic rule shared with the estimator).
    pub fn use_dsp(&self, x_width: u32, odd: i128) -> bool {
        let adders = csd_weight(odd).saturating_sub(1);
        let bits = 128 - odd.leading_zeros();
        let cost = adders * (x_width + bits);
        x_width >= 10 && bits >= 8 && cost > self.dsp_threshold_bits
    }

    /// `x * odd` for an odd constant > 1, shared per input; returns (node, uses a DSP).
    fn multiple(&mut self, x: NodeId, odd: i128) -> Result<(NodeId, bool)> {
        let known = self.multiples.entry(x).or_insert_with(|| Multiples::of(x));
        if let Some(&n) = known.built.get(&odd) {
            return Ok((n, matches!(self.node(n).op, Op::MulConst(..))));
        }
        let xw = self.node(x).width();
        let (xl, xh) = self.range(x);
        if self.use_dsp(xw, odd) {
            let (lo, hi) = (
                xl.checked_mul(odd).ok_or_else(|| too_wide("product"))?,
                xh.checked_mul(odd).ok_or_else(|| too_wide("product"))?,
            );
            let n = self.push(Op::MulConst(x, odd), lo, hi)?;
            self.known_multiples(x).built.insert(odd, n);
            return Ok((n, true));
        }
        // One adder from two multiples already built (1 = x itself)?
        let found = self.known_multiples(x).find_adder(odd);
        let t = if let Some((na, i, neg_a, nb, neg_b)) = found {
            let ta = Term {
                node: na,
                shift: i,
                neg: neg_a,
            };
            let tb = Term {
                node: nb,
                shift: 0,
                neg: neg_b,
            };
            self.add(ta, tb)?
        } else {
            let terms: Vec<Term> = csd(odd)
                .iter()
                .enumerate()
                .filter(|(_, d)| **d != 0)
                .map(|(i, &d)| Term {
                    node: x,
                    shift: i as u32,
                    neg: d < 0,
                })
                .collect();
            self.sum(terms)?
        };
        let n = self.node_of(t)?;
        let known = self.known_multiples(x);
        known.built.insert(odd, n);
        known.push_operand(odd, n);
        Ok((n, false))
    }

    fn known_multiples(&mut self, x: NodeId) -> &mut Multiples {
        self.multiples.entry(x).or_insert_with(|| Multiples::of(x))
    }

    /// Pre-builds the odd multiples an input needs, cheapest first, so later
    /// ones can reuse earlier ones.
    pub fn prepare_multiples(&mut self, x: NodeId, consts: &[i128]) -> Result<()> {
        if self.const_of(x).is_some() {
            return Ok(());
        }
        let mut odds: Vec<i128> = consts
            .iter()
            .filter(|&&c| c != 0)
            .map(|&c| (c >> c.trailing_zeros()).abs())
            .filter(|&o| o > 1)
            .collect();
        odds.sort_by_key(|&o| (csd_weight(o), o));
        odds.dedup();
        for o in odds {
            self.multiple(x, o)?;
        }
        Ok(())
    }

    /// `a >= t` as 0/1.
    pub fn ge(&mut self, a: NodeId, t: i128) -> Result<NodeId> {
        let (lo, hi) = self.range(a);
        if lo >= t {
            return self.konst(1);
        }
        if hi < t {
            return self.konst(0);
        }
        self.push(Op::Ge(a, t), 0, 1)
    }

    /// The phase node of a time-shared datapath with initiation interval `ii`.
    pub fn phase(&mut self, ii: u32) -> Result<NodeId> {
        self.ii = self.ii.max(ii);
        self.push(Op::Phase { ii }, 0, i128::from(ii))
    }

    /// `cases[sel]`; the last case for `sel` beyond the cases.
    pub fn mux(&mut self, sel: NodeId, cases: Vec<NodeId>) -> Result<NodeId> {
        let t = self.mux_terms(sel, cases.into_iter().map(Term::of).collect())?;
        self.node_of(t)
    }

    /// `cases[sel]` over shifted nodes, as a term: the low zero bits common
    /// to every case are factored out (the result's shift), so the
    /// multiplexer and what follows it are only as wide as needed.
    pub fn mux_terms(&mut self, sel: NodeId, cases: Vec<Term>) -> Result<Term> {
        let mut norm = Vec::with_capacity(cases.len());
        for t in cases {
            // Constants and negations become plain nodes; shifts stay terms.
            let t = if t.neg || self.const_of(t.node).is_some() {
                let n = self.node_of(t)?;
                match self.const_of(n) {
                    Some(v) if v != 0 => {
                        let tz = v.trailing_zeros();
                        Term {
                            node: self.konst(v >> tz)?,
                            shift: tz,
                            neg: false,
                        }
                    }
                    _ => Term::of(n),
                }
            } else {
                t
            };
            norm.push(t);
        }
        let Some(&first) = norm.first() else {
            return Ok(Term::of(self.konst(0)?));
        };
        if norm.iter().all(|&c| c == first) {
            return Ok(first);
        }
        let common = norm
            .iter()
            .filter(|t| !self.is_zero(**t))
            .map(|t| t.shift)
            .min()
            .unwrap_or(0);
        let mut cases = Vec::with_capacity(norm.len());
        let (mut lo, mut hi) = (i128::MAX, i128::MIN);
        for t in norm {
            let t = if self.is_zero(t) {
                t
            } else {
                Term {
                    shift: t.shift - common,
                    ..t
                }
            };
            let (l, h) = self.term_range(t)?;
            lo = lo.min(l);
            hi = hi.max(h);
            cases.push(t);
        }
        let node = self.push(Op::Mux { sel, cases }, lo, hi)?;
        Ok(Term {
            node,
            shift: common,
            neg: false,
        })
    }

    /// A time-shared accumulator (see [`Op::Acc`]); `[lo, hi]` bounds the
    /// final total (partial totals may leave it: the register is exact
    /// modulo 2^width and the final total fits).
    pub fn accumulate(
        &mut self,
        a: NodeId,
        phase: NodeId,
        last: u32,
        init: i128,
        lo: i128,
        hi: i128,
    ) -> Result<NodeId> {
        if self.const_of(a) == Some(0) {
            return self.konst(init);
        }
        let (lo, hi) = (lo.min(init), hi.max(init));
        self.push(
            Op::Acc {
                a,
                phase,
                last,
                init,
            },
            lo,
            hi,
        )
    }

    /// Table lookup; `a` must lie in `[0, table.len())`.
    pub fn rom(&mut self, a: NodeId, table: &[i64]) -> Result<NodeId> {
        let (lo, hi) = self.range(a);
        if table.is_empty() || lo < 0 || hi >= table.len() as i128 {
            return Err(Error::Hardware(
                "table index out of the table's range".into(),
            ));
        }
        if let Some(v) = self.const_of(a) {
            return self.konst(table[v as usize] as i128);
        }
        let slice = &table[lo as usize..=hi as usize];
        let tl = slice.iter().copied().min().unwrap_or(0) as i128;
        let th = slice.iter().copied().max().unwrap_or(0) as i128;
        let id = match self.tables.iter().position(|t| t.as_slice() == table) {
            Some(i) => i,
            None => {
                self.tables.push(table.to_vec());
                self.tables.len() - 1
            }
        } as u32;
        self.push(Op::Rom { a, table: id }, tl, th)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decomposition a plain scan over every (a, shift, b, form) finds first.
    fn first_adder_by_scan(ops: &[(i128, NodeId)], odd: i128) -> Option<Decomposition> {
        let bits = 128 - odd.leading_zeros() + 1;
        for &(a, na) in ops {
            for i in 1..=bits {
                let Some(p) = checked_shl(a, i) else { break };
                for &(b, nb) in ops {
                    for (v, neg_a, neg_b) in [
                        (p + b, false, false),
                        (p - b, false, true),
                        (b - p, true, false),
                    ] {
                        if v == odd {
                            return Some((na, i, neg_a, nb, neg_b));
                        }
                    }
                }
            }
        }
        None
    }

    #[test]
    fn adder_search_finds_what_a_full_scan_finds_first() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..120 {
            let width = 3 + (round % 14) as u64;
            let mut ops = Multiples::of(0);
            for k in 0..next(40) {
                let c = (next(1 << width) | 1) as i128;
                ops.push_operand(c, k as NodeId + 1);
            }
            for _ in 0..40 {
                let odd = (next(1 << (width + 2)) | 1) as i128;
                assert_eq!(
                    ops.find_adder(odd),
                    first_adder_by_scan(&ops.operands, odd),
                    "odd {odd}, operands {:?}",
                    ops.operands
                );
            }
        }
    }

    #[test]
    fn csd_digits() {
        for v in -300i128..300 {
            let d = csd(v);
            let back: i128 = d.iter().enumerate().map(|(i, &x)| (x as i128) << i).sum();
            assert_eq!(back, v);
            for w in d.windows(2) {
                assert!(w[0] == 0 || w[1] == 0, "adjacent digits in {v}");
            }
        }
        assert_eq!(csd_weight(7), 2);
        assert_eq!(csd_weight(11), 3);
        assert_eq!(signed_width(0, 0), 1);
        assert_eq!(signed_width(-128, 127), 8);
        assert_eq!(signed_width(0, 128), 9);
    }

    #[test]
    fn constant_products_share_and_fold() {
        let mut n = Net::new(1000, 55);
        let x = n.input(0, 0, -100, 100).unwrap();
        assert!(n.mul_const(x, 0).unwrap().is_none());
        let t = n.mul_const(x, -8).unwrap().unwrap();
        assert_eq!((t.node, t.shift, t.neg), (x, 3, true));
        n.prepare_multiples(x, &[3, 11, 6]).unwrap();
        let before = n.nodes.len();
        let t = n.mul_const(x, 22).unwrap().unwrap();
        assert_eq!(t.shift, 1);
        assert_eq!(n.nodes.len(), before);
        let nd = n.node(t.node);
        assert_eq!((nd.lo, nd.hi), (-1100, 1100));
    }
}
