//! Constant matrix-vector products `y_o = Σ_j x_j · w[o][j]` as one
//! shift-add network for the whole matrix, with two-term common
//! subexpressions shared across outputs.
//!
//! The idea is the one of da4ml's "cmvm" (Sun et al., distributed
//! arithmetic for ML on FPGAs) and of the classic multiple-constant
//! multiplication literature (Hartley's common subexpression elimination):
//! every weight is written in canonical signed digits, so each output is a
//! signed sum of shifted inputs ("digits"). A pair of digits of one output,
//! `±(a << s) ± (b << (s + d))`, is the shifted, signed copy of the
//! subexpression `a ± (b << d)`. We repeatedly build the pair worth most
//! over all outputs as one adder, make it a new expression, and substitute
//! it wherever it occurs, until no pair occurring twice is worth building.
//! Each output then adds what is left with a tree that pairs the
//! shallowest terms first (Huffman on adder depth), so a deep shared
//! subexpression does not lengthen the critical path more than it must.
//!
//! Cost model: adder bits. Each further occurrence of a built pair saves
//! an adder about as wide as its operands overlap, so a pair is worth its
//! count times that overlap (da4ml's "wmc"), less a penalty per level of
//! depth between its operands, which keeps layers shallow enough to fit
//! the clock periods the pipeline gives them (da4ml's "-dc"). The search
//! keeps exact pair counts, updated incrementally on every substitution,
//! and a lazily revalidated max-heap, so it is fast (the jet tagger's four
//! layers take a few
//! milliseconds) and deterministic (ties go to the oldest expressions).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::net::{Net, NodeId, Term, csd, signed_width};
use crate::error::Result;

/// Shift differences up to this many bits form pairs (wider ones never
/// share an adder usefully and would not fit the key).
const MAX_PAIR_SHIFT: u32 = 127;
/// Expressions are numbered in 28 bits inside a pair key.
const MAX_EXPRS: usize = 1 << 28;

/// Limits of the search.
#[derive(Debug, Clone, Copy)]
pub struct CmvmOptions {
    /// Give up (the caller builds the products one by one) when the digit
    /// pairs of all outputs exceed this many: the counts would take too long.
    pub max_pairs: u64,
    /// Largest adder depth a shared subexpression may reach above the
    /// shallowest tree that could add an output's digits (`None`: no limit).
    pub depth_slack: Option<u32>,
    /// Overlapping bits a pair's occurrences must save per level of depth
    /// between its operands (see `Search::score`). 8 on the jet tagger
    /// (issue 4): with 0, shared expressions deepen a 32-input layer past
    /// one clock period; with 256 (da4ml's value) they cost 4 % more
    /// adder bits.
    pub depth_penalty: u32,
}

impl Default for CmvmOptions {
    fn default() -> Self {
        CmvmOptions {
            max_pairs: 8_000_000,
            depth_slack: None,
            depth_penalty: 8,
        }
    }
}

/// A cheap multiplicative hasher for the `u64` pair keys (deterministic,
/// unlike the default SipHash with a random seed, and several times faster).
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        let x = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;

/// A value the network can reuse: an input or a built subexpression.
#[derive(Debug, Clone, Copy)]
struct Expr {
    term: Term,
    lo: i128,
    hi: i128,
    /// Adders between the inputs and this value.
    depth: u32,
}

/// `±(expr << s)` in one output's sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digit {
    e: u32,
    s: u32,
    neg: bool,
}

/// A pair `a ± (b << d)`, packed: a (28 bits), b (28), d (7), subtract (1).
fn pack(a: u32, b: u32, d: u32, sub: bool) -> u64 {
    (u64::from(a) << 36) | (u64::from(b) << 8) | (u64::from(d) << 1) | u64::from(sub)
}

fn unpack(k: u64) -> (u32, u32, u32, bool) {
    (
        (k >> 36) as u32,
        ((k >> 8) & ((1 << 28) - 1)) as u32,
        ((k >> 1) & 0x7f) as u32,
        k & 1 == 1,
    )
}

/// The key of two digits of one output: `a` is the digit at the lower
/// shift (the older expression on a tie), the new expression is
/// `a ± (b << d)` and replaces both as `±(new << s_a)` with `a`'s sign.
fn pair_key(p: Digit, q: Digit) -> Option<u64> {
    let (a, b) = if (p.s, p.e) <= (q.s, q.e) {
        (p, q)
    } else {
        (q, p)
    };
    let d = b.s - a.s;
    (d <= MAX_PAIR_SHIFT).then(|| pack(a.e, b.e, d, a.neg != b.neg))
}

struct Search {
    exprs: Vec<Expr>,
    outs: Vec<Vec<Digit>>,
    /// Pair counts over all outputs (overlapping occurrences included).
    count: FastMap<u64, u32>,
    /// (score, key), lazily revalidated against `count`.
    heap: BinaryHeap<(u64, Reverse<u64>)>,
    /// Per expression: the outputs where it has (or had) digits.
    users: Vec<Vec<u32>>,
    /// Pairs whose count rose during the current substitution.
    raised: Vec<u64>,
    depth_limit: u32,
    depth_penalty: u32,
}

impl Search {
    /// Range and depth of `a ± (b << d)`.
    fn combined(&self, a: u32, b: u32, d: u32, sub: bool) -> (i128, i128, u32) {
        let (ea, eb) = (self.exprs[a as usize], self.exprs[b as usize]);
        let (bl, bh) = (ea_shift(eb.lo, d), ea_shift(eb.hi, d));
        let (lo, hi) = if sub {
            (ea.lo.saturating_sub(bh), ea.hi.saturating_sub(bl))
        } else {
            (ea.lo.saturating_add(bl), ea.hi.saturating_add(bh))
        };
        (lo, hi, ea.depth.max(eb.depth) + 1)
    }

    /// Higher is better; 0: not worth building. A pair is worth how often
    /// it occurs times the bits where its operands overlap (about the adder
    /// bits each further occurrence saves: da4ml's "wmc" weighting), less
    /// `depth_penalty` per level of adder depth between its operands (a
    /// deep expression paired with a shallow one lengthens every path
    /// through the shallow one: da4ml's "-dc" variant). Ties go to the
    /// narrower adder.
    fn score(&self, key: u64, count: u32) -> u64 {
        let (a, b, d, sub) = unpack(key);
        let (ea, eb) = (self.exprs[a as usize], self.exprs[b as usize]);
        let overlap = signed_width(ea.lo, ea.hi)
            .saturating_sub(d)
            .min(signed_width(eb.lo, eb.hi));
        let skew = ea.depth.abs_diff(eb.depth);
        let worth =
            i64::from(count) * i64::from(overlap) - i64::from(self.depth_penalty) * i64::from(skew);
        if worth <= 0 {
            return 0;
        }
        let (lo, hi, _) = self.combined(a, b, d, sub);
        let bits = signed_width(lo, hi).saturating_sub(d).min(0xffff);
        ((worth as u64) << 16) | u64::from(0xffff - bits)
    }

    fn bump(&mut self, key: u64, up: bool) {
        let c = self.count.entry(key).or_insert(0);
        if up {
            *c += 1;
        } else {
            *c = c.saturating_sub(1);
        }
        let c = *c;
        if c == 0 {
            self.count.remove(&key);
        } else if up && c >= 2 {
            self.raised.push(key);
        }
    }

    /// Queues every pair whose count rose, once each, at its new score.
    fn requeue(&mut self) {
        let mut raised = std::mem::take(&mut self.raised);
        raised.sort_unstable();
        raised.dedup();
        for &key in &raised {
            if let Some(&c) = self.count.get(&key) {
                let s = self.score(key, c);
                self.heap.push((s, Reverse(key)));
            }
        }
        raised.clear();
        self.raised = raised;
    }

    /// Removes digit `i` of output `o`, uncounting its pairs.
    fn remove(&mut self, o: usize, i: usize) -> Digit {
        let dg = self.outs[o].swap_remove(i);
        for k in 0..self.outs[o].len() {
            if let Some(key) = pair_key(dg, self.outs[o][k]) {
                self.bump(key, false);
            }
        }
        dg
    }

    fn insert(&mut self, o: usize, dg: Digit) {
        for k in 0..self.outs[o].len() {
            if let Some(key) = pair_key(dg, self.outs[o][k]) {
                self.bump(key, true);
            }
        }
        self.outs[o].push(dg);
    }

    /// Builds the pair `key` as a new expression and substitutes it in
    /// every output, occurrences taken from the lowest shift up (for
    /// `a == b` they may overlap).
    fn apply(&mut self, net: &mut Net, key: u64) -> Result<()> {
        let (a, b, d, sub) = unpack(key);
        let (lo, hi, depth) = self.combined(a, b, d, sub);
        let ta = self.exprs[a as usize].term;
        let tb = self.exprs[b as usize].term;
        let tb = Term {
            node: tb.node,
            shift: tb.shift + d,
            neg: tb.neg != sub,
        };
        let term = net.add(ta, tb)?;
        let n = self.exprs.len() as u32;
        self.exprs.push(Expr {
            term,
            lo,
            hi,
            depth,
        });
        self.users.push(Vec::new());
        let mut outs = std::mem::take(&mut self.users[a as usize]);
        outs.sort_unstable();
        outs.dedup();
        for &o in &outs {
            let o = o as usize;
            let mut shifts: Vec<u32> = self.outs[o]
                .iter()
                .filter(|g| g.e == a)
                .map(|g| g.s)
                .collect();
            shifts.sort_unstable();
            let mut used = false;
            for s in shifts {
                let Some(ia) = self.outs[o].iter().position(|g| g.e == a && g.s == s) else {
                    continue; // consumed as the b side of an overlapping occurrence
                };
                let na = self.outs[o][ia].neg;
                let Some(ib) = self.outs[o]
                    .iter()
                    .position(|g| g.e == b && g.s == s + d && (g.neg != na) == sub)
                else {
                    continue;
                };
                if ia == ib {
                    continue;
                }
                // Remove the later index first so the earlier one stays valid.
                let (hi_i, lo_i) = if ia > ib { (ia, ib) } else { (ib, ia) };
                self.remove(o, hi_i);
                self.remove(o, lo_i);
                self.insert(o, Digit { e: n, s, neg: na });
                used = true;
            }
            if used {
                self.users[n as usize].push(o as u32);
            }
        }
        // Outputs where `a` is gone need no visit next time.
        let keep: Vec<u32> = outs
            .into_iter()
            .filter(|&o| self.outs[o as usize].iter().any(|g| g.e == a))
            .collect();
        self.users[a as usize] = keep;
        self.requeue();
        Ok(())
    }
}

/// `v << d` saturating (ranges only; real values are checked by `Net::add`).
fn ea_shift(v: i128, d: u32) -> i128 {
    if v == 0 {
        0
    } else if d >= 126 {
        if v < 0 { i128::MIN / 2 } else { i128::MAX / 2 }
    } else {
        v.saturating_mul(1i128 << d)
    }
}

/// A term of an output's sum with the adder depth behind it.
pub type DepthTerm = (Term, u32);

/// The digit sums `Σ_j x_j · w(o, j)` of `n_out` outputs over the
/// non-constant inputs `xs` (ranges from the net), with shared two-term
/// subexpressions built into `net`. Returns, per output, the terms left to
/// add (with their adder depth), or `None` when the matrix is too large
/// for the search (`opts.max_pairs`); the caller then builds the products
/// its own way. Zero weights contribute nothing.
pub fn cmvm(
    net: &mut Net,
    xs: &[NodeId],
    n_out: usize,
    w: &dyn Fn(usize, usize) -> i128,
    opts: &CmvmOptions,
) -> Result<Option<Vec<Vec<DepthTerm>>>> {
    let mut outs: Vec<Vec<Digit>> = Vec::with_capacity(n_out);
    let mut pairs = 0u64;
    let mut most = 0usize;
    for o in 0..n_out {
        let mut digits = Vec::new();
        for j in 0..xs.len() {
            let c = w(o, j);
            for (s, &v) in csd(c).iter().enumerate() {
                if v != 0 {
                    digits.push(Digit {
                        e: j as u32,
                        s: s as u32,
                        neg: v < 0,
                    });
                }
            }
        }
        let n = digits.len() as u64;
        pairs += n * n.saturating_sub(1) / 2;
        most = most.max(digits.len());
        outs.push(digits);
    }
    if pairs > opts.max_pairs || xs.len() + 2 * (pairs as usize) >= MAX_EXPRS {
        return Ok(None);
    }
    let exprs: Vec<Expr> = xs
        .iter()
        .map(|&x| {
            let nd = net.node(x);
            Expr {
                term: Term::of(x),
                lo: nd.lo,
                hi: nd.hi,
                depth: 0,
            }
        })
        .collect();
    let mut users = vec![Vec::new(); xs.len()];
    for (o, digits) in outs.iter().enumerate() {
        for g in digits {
            let u: &mut Vec<u32> = &mut users[g.e as usize];
            if u.last() != Some(&(o as u32)) {
                u.push(o as u32);
            }
        }
    }
    let min_depth = usize::BITS - most.saturating_sub(1).leading_zeros();
    let mut st = Search {
        exprs,
        outs,
        count: FastMap::default(),
        heap: BinaryHeap::new(),
        users,
        raised: Vec::new(),
        depth_limit: opts
            .depth_slack
            .map_or(u32::MAX, |s| min_depth.saturating_add(s)),
        depth_penalty: opts.depth_penalty,
    };
    for o in 0..st.outs.len() {
        let digits = &st.outs[o];
        for i in 0..digits.len() {
            for k in i + 1..digits.len() {
                if let Some(key) = pair_key(digits[i], digits[k]) {
                    *st.count.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    let mut start: Vec<(u64, Reverse<u64>)> = st
        .count
        .iter()
        .filter(|&(_, &c)| c >= 2)
        .map(|(&k, &c)| (st.score(k, c), Reverse(k)))
        .collect();
    start.sort_unstable();
    st.heap = BinaryHeap::from(start);
    while let Some((score, Reverse(key))) = st.heap.pop() {
        let c = st.count.get(&key).copied().unwrap_or(0);
        if c < 2 {
            continue;
        }
        let now = st.score(key, c);
        if now == 0 {
            continue; // requeued if its count rises again
        }
        if now != score {
            st.heap.push((now, Reverse(key)));
            continue;
        }
        let (a, b, d, sub) = unpack(key);
        if st.combined(a, b, d, sub).2 > st.depth_limit {
            continue;
        }
        st.apply(net, key)?;
    }
    let mut result = Vec::with_capacity(n_out);
    for digits in &st.outs {
        let mut terms: Vec<DepthTerm> = digits
            .iter()
            .map(|g| {
                let e = st.exprs[g.e as usize];
                (
                    Term {
                        node: e.term.node,
                        shift: e.term.shift + g.s,
                        neg: e.term.neg != g.neg,
                    },
                    e.depth,
                )
            })
            .collect();
        terms.sort_unstable_by_key(|(t, dp)| (*dp, t.shift, t.node, t.neg));
        result.push(terms);
    }
    Ok(Some(result))
}

/// Adds terms with a tree that always pairs the two shallowest (then
/// lowest-shifted) terms, so the result is as shallow as the depths of
/// the terms allow and neighbouring shifts share narrow adders. Constants
/// are folded first. Returns the sum and its depth.
pub fn reduce(net: &mut Net, terms: Vec<DepthTerm>) -> Result<DepthTerm> {
    let mut konst = Term::of(net.konst(0)?);
    let mut heap = BinaryHeap::new();
    for (t, d) in terms {
        if net.const_of(t.node) == Some(0) {
            continue;
        }
        if net.const_of(t.node).is_some() {
            konst = net.add(konst, t)?;
        } else {
            heap.push(Reverse((d, t.shift, t.node, t.neg)));
        }
    }
    if net.const_of(konst.node) != Some(0) {
        heap.push(Reverse((0, konst.shift, konst.node, konst.neg)));
    }
    let as_term = |(d, shift, node, neg): (u32, u32, NodeId, bool)| (Term { node, shift, neg }, d);
    loop {
        let Some(Reverse(first)) = heap.pop() else {
            return Ok((Term::of(net.konst(0)?), 0));
        };
        let Some(Reverse(second)) = heap.pop() else {
            return Ok(as_term(first));
        };
        let (ta, da) = as_term(first);
        let (tb, db) = as_term(second);
        let t = net.add(ta, tb)?;
        heap.push(Reverse((da.max(db) + 1, t.shift, t.node, t.neg)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluates a term of a net on concrete input values.
    fn eval(net: &Net, t: Term, inputs: &[(NodeId, i128)]) -> i128 {
        fn node(net: &Net, id: NodeId, inputs: &[(NodeId, i128)]) -> i128 {
            use super::super::net::Op;
            match &net.node(id).op {
                Op::Input { .. } => inputs.iter().find(|(n, _)| *n == id).unwrap().1,
                Op::Const(v) => *v,
                Op::Add(a, b) => term(net, *a, inputs) + term(net, *b, inputs),
                Op::Shl(a, s) => node(net, *a, inputs) << s,
                other => panic!("unexpected {other:?}"),
            }
        }
        fn term(net: &Net, t: Term, inputs: &[(NodeId, i128)]) -> i128 {
            let v = node(net, t.node, inputs) << t.shift;
            if t.neg { -v } else { v }
        }
        term(net, t, inputs)
    }

    fn random_matrix(seed: u64, n_out: usize, n_in: usize, bits: u32) -> Vec<Vec<i128>> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        (0..n_out)
            .map(|_| {
                (0..n_in)
                    .map(|_| (next() % (1 << bits)) as i128 - (1 << (bits - 1)))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn sums_are_exact_and_share_adders() {
        for (seed, n_out, n_in, bits) in [(1, 8, 6, 6), (2, 16, 16, 6), (3, 5, 3, 10), (4, 1, 9, 4)]
        {
            let w = random_matrix(seed, n_out, n_in, bits);
            let mut net = Net::new(1_000_000, 55);
            let xs: Vec<NodeId> = (0..n_in)
                .map(|j| net.input(0, j as u32, -200, 300).unwrap())
                .collect();
            let before = net.nodes.len();
            let outs = cmvm(
                &mut net,
                &xs,
                n_out,
                &|o, j| w[o][j],
                &CmvmOptions::default(),
            )
            .unwrap()
            .unwrap();
            let sums: Vec<Term> = outs
                .into_iter()
                .map(|t| reduce(&mut net, t).unwrap().0)
                .collect();
            let adders = net.nodes[before..]
                .iter()
                .filter(|n| matches!(n.op, super::super::net::Op::Add(..)))
                .count();
            // Without sharing: one adder per digit beyond the first of each output.
            let naive: usize = w
                .iter()
                .map(|row| {
                    let digits: usize = row.iter().map(|&c| csd_weight(c) as usize).sum();
                    digits.saturating_sub(1)
                })
                .sum();
            assert!(adders <= naive, "seed {seed}: {adders} adders > {naive}");
            if n_out >= 8 {
                assert!(
                    adders * 10 < naive * 9,
                    "seed {seed}: {adders} adders, naive {naive}: no sharing"
                );
            }
            for v in 0..20i128 {
                let vals: Vec<(NodeId, i128)> = xs
                    .iter()
                    .enumerate()
                    .map(|(j, &x)| (x, ((v * 37 + j as i128 * 101) % 500) - 200))
                    .collect();
                for (o, &s) in sums.iter().enumerate() {
                    let want: i128 = (0..n_in).map(|j| vals[j].1 * w[o][j]).sum();
                    assert_eq!(eval(&net, s, &vals), want, "seed {seed} output {o}");
                }
            }
        }
    }

    use super::super::net::csd_weight;

    #[test]
    fn depth_limit_holds_and_search_is_deterministic() {
        let w = random_matrix(9, 24, 12, 7);
        let build = |slack: Option<u32>| {
            let mut net = Net::new(1_000_000, 55);
            let xs: Vec<NodeId> = (0..12)
                .map(|j| net.input(0, j as u32, -128, 127).unwrap())
                .collect();
            let opts = CmvmOptions {
                depth_slack: slack,
                ..CmvmOptions::default()
            };
            let outs = cmvm(&mut net, &xs, 24, &|o, j| w[o][j], &opts)
                .unwrap()
                .unwrap();
            let shared: u32 = outs.iter().flatten().map(|(_, d)| *d).max().unwrap_or(0);
            (net.nodes.len(), shared)
        };
        let (n1, _) = build(None);
        assert_eq!(build(None).0, n1, "same matrix, same netlist size");
        let (_, shallow) = build(Some(0));
        let most = w
            .iter()
            .map(|row| row.iter().map(|&c| csd_weight(c)).sum::<u32>())
            .max()
            .unwrap();
        let bound = 32 - (most - 1).leading_zeros();
        assert!(shallow <= bound, "shared depth {shallow} > bound {bound}");
    }

    #[test]
    fn too_many_pairs_is_declined() {
        let w = random_matrix(5, 4, 40, 12);
        let mut net = Net::new(1_000_000, 55);
        let xs: Vec<NodeId> = (0..40)
            .map(|j| net.input(0, j as u32, -128, 127).unwrap())
            .collect();
        let opts = CmvmOptions {
            max_pairs: 100,
            ..CmvmOptions::default()
        };
        assert!(
            cmvm(&mut net, &xs, 4, &|o, j| w[o][j], &opts)
                .unwrap()
                .is_none()
        );
    }
}
