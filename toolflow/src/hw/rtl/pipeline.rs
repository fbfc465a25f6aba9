//! Pipeline scheduling: a per-operator delay model places registers so that
//! every stage fits the clock period. Nodes are visited in creation order,
//! which is topological (a node only references older nodes).

use serde::{Deserialize, Serialize};

use super::net::{Net, NodeId, Op};

/// Combinational delays (ns) of the operators on one FPGA family.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DelayModel {
    /// Fixed part of a carry-chain adder (LUT + routing).
    pub add_base: f64,
    /// Per bit of carry chain.
    pub add_per_bit: f64,
    /// One LUT level plus routing (multiplexers, compare glue).
    pub lut: f64,
    /// A combinational DSP multiplication.
    pub dsp: f64,
    /// Clock-to-out plus setup of the registers around a stage.
    pub reg_overhead: f64,
}

impl DelayModel {
    /// Typical figures for a family speed factor (1.0 = 7-series -1).
    pub fn scaled(factor: f64) -> Self {
        DelayModel {
            add_base: 0.85 * factor,
            add_per_bit: 0.03 * factor,
            lut: 0.55 * factor,
            dsp: 3.6 * factor,
            reg_overhead: 0.7 * factor,
        }
    }

    /// Delay of node `id` whose wire is `width` bits.
    pub fn delay(&self, net: &Net, id: NodeId, width: u32) -> f64 {
        let n = net.node(id);
        let w = width as f64;
        let adder = |w: f64| self.add_base + self.add_per_bit * w;
        match &n.op {
            Op::Input { .. } | Op::Const(_) | Op::Shl(..) | Op::Wrap { .. } | Op::Phase { .. } => {
                0.0
            }
            // A LUT6 selects among 4 inputs; each further factor 4 is one more level.
            Op::Mux { cases, .. } => {
                let levels = (usize::BITS - (cases.len().max(2) - 1).leading_zeros()).div_ceil(2);
                self.lut * f64::from(levels)
            }
            // The first-phase select folds into the adder's LUTs.
            Op::Acc { .. } => adder(w),
            Op::Round { mode, a, .. } => {
                if *mode == crate::fixed::Rounding::Trn {
                    0.0
                } else {
                    adder(net.node(*a).width() as f64) + self.lut
                }
            }
            Op::Add(..) => adder(w),
            Op::Sat { a, .. } => adder(net.node(*a).width() as f64) + self.lut,
            Op::Ge(a, _) => adder(net.node(*a).width() as f64),
            Op::Select { .. } => self.lut,
            Op::Mul(..) | Op::MulConst(..) => self.dsp,
            Op::Rom { a, .. } => {
                let bits = (128 - (net.node(*a).hi.max(1)).leading_zeros()) as f64;
                self.lut + 0.3 * (bits - 6.0).max(0.0)
            }
        }
    }
}

/// Operands of a node (constants included).
pub fn operands(op: &Op) -> Vec<NodeId> {
    match op {
        Op::Input { .. } | Op::Const(_) | Op::Phase { .. } => vec![],
        Op::Mux { sel, cases } => std::iter::once(*sel)
            .chain(cases.iter().map(|t| t.node))
            .collect(),
        Op::Acc { a, phase, .. } => vec![*a, *phase],
        Op::Add(a, b) => vec![a.node, b.node],
        Op::Shl(a, _)
        | Op::Round { a, .. }
        | Op::Sat { a, .. }
        | Op::Wrap { a, .. }
        | Op::MulConst(a, _)
        | Op::Ge(a, _)
        | Op::Rom { a, .. } => vec![*a],
        Op::Select { c, neg, pos } => vec![*c, *neg, *pos],
        Op::Mul(a, b) => vec![*a, *b],
    }
}

/// Declared wire width of every node: its natural width, trimmed to the low
/// bits its consumers need. Additions, shifts, floor-shifts and wraps are
/// exact modulo 2^k, so when every consumer only looks at the low `k` bits
/// (ultimately: a WRAP cast to a narrower type), the upper bits are never built.
pub fn demand_widths(net: &Net) -> Vec<u32> {
    let n = net.nodes.len();
    let mut need = vec![0u32; n];
    for p in &net.outputs {
        for &o in &p.nodes {
            let nat = net.node(o).width();
            need[o as usize] = need[o as usize].max(p.width.min(nat));
        }
    }
    let mut width = vec![0u32; n];
    for id in (0..n).rev() {
        let node = &net.nodes[id];
        let nat = node.width();
        let dw = need[id].min(nat);
        width[id] = dw.max(1);
        if need[id] == 0 {
            continue;
        }
        let mut req = |o: NodeId, k: u32| {
            let k = k.clamp(1, net.node(o).width());
            need[o as usize] = need[o as usize].max(k);
        };
        match &node.op {
            Op::Add(a, b) => {
                req(a.node, dw.saturating_sub(a.shift));
                req(b.node, dw.saturating_sub(b.shift));
            }
            Op::Shl(a, s) => req(*a, dw.saturating_sub(*s)),
            Op::Wrap { a, width: w, .. } => req(*a, (*w).min(dw)),
            Op::Round {
                a,
                s,
                mode: crate::fixed::Rounding::Trn,
            } => req(*a, dw.saturating_add(*s)),
            Op::Select { c, neg, pos } => {
                req(*c, u32::MAX);
                req(*neg, dw);
                req(*pos, dw);
            }
            Op::Mux { sel, cases } => {
                req(*sel, u32::MAX);
                for c in cases {
                    req(c.node, dw.saturating_sub(c.shift));
                }
            }
            // The accumulator adds modulo 2^width.
            Op::Acc { a, phase, .. } => {
                req(*a, dw);
                req(*phase, u32::MAX);
            }
            op => {
                for o in operands(op) {
                    req(o, u32::MAX);
                }
            }
        }
    }
    width
}

/// Stage of every node and the resulting latency.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Declared wire width of every node (see [`demand_widths`]).
    pub width: Vec<u32>,
    pub stage: Vec<u32>,
    /// Combinational arrival time of each node within its stage.
    pub finish: Vec<f64>,
    /// Stage whose values the output registers capture.
    pub out_stage: u32,
    /// Clock cycles from the input register to the output register (inclusive).
    pub latency: u32,
    /// Longest stage delay found (ns, registers included).
    pub critical_ns: f64,
    /// Whether the node is used by a later node or an output.
    pub used: Vec<bool>,
}

impl Schedule {
    /// Stage in which node `id` reads its operands: its own stage, except
    /// for an accumulator, which adds them `last + 1` stages before its
    /// total appears.
    pub fn consume_stage(&self, net: &Net, id: NodeId) -> u32 {
        match net.node(id).op {
            Op::Acc { last, .. } => self.stage[id as usize].saturating_sub(last + 1),
            _ => self.stage[id as usize],
        }
    }

    /// How many cycles each node's value must be delayed for its latest
    /// consumer (0: used only in its own stage).
    pub fn delay_depths(&self, net: &Net) -> Vec<u32> {
        let mut depth = vec![0u32; net.nodes.len()];
        for (id, node) in net.nodes.iter().enumerate() {
            if !self.used[id] {
                continue;
            }
            let at = self.consume_stage(net, id as NodeId);
            for o in operands(&node.op) {
                let d = at.saturating_sub(self.stage[o as usize]);
                depth[o as usize] = depth[o as usize].max(d);
            }
        }
        for p in &net.outputs {
            for &o in &p.nodes {
                let d = self.out_stage.saturating_sub(self.stage[o as usize]);
                depth[o as usize] = depth[o as usize].max(d);
            }
        }
        depth
    }
}

/// Greedy as-soon-as-possible staging: a node moves to the next stage when
/// it would not fit in the budget of its operands' stage.
pub fn schedule(net: &Net, model: &DelayModel, clock_ns: f64) -> Schedule {
    let n = net.nodes.len();
    let budget = (clock_ns - model.reg_overhead).max(0.1);
    let mut stage = vec![0u32; n];
    let mut finish = vec![0f64; n];
    let mut critical = 0f64;
    let width = demand_widths(net);
    for id in 0..n {
        let node = &net.nodes[id];
        let ops = operands(&node.op);
        let live: Vec<NodeId> = ops
            .into_iter()
            .filter(|&o| net.const_of(o).is_none())
            .collect();
        let s = live.iter().map(|&o| stage[o as usize]).max().unwrap_or(0);
        let t = live
            .iter()
            .filter(|&&o| stage[o as usize] == s)
            .map(|&o| finish[o as usize])
            .fold(0f64, f64::max);
        let d = model.delay(net, id as NodeId, width[id]);
        let (s, t0) = if t > 0.0 && t + d > budget {
            (s + 1, 0.0)
        } else {
            (s, t)
        };
        critical = critical.max(t0 + d);
        if let Op::Acc { last, .. } = node.op {
            // Registered: the total is there `last + 1` cycles after the
            // stage that adds the first partial sum.
            stage[id] = s + last + 1;
            finish[id] = 0.0;
        } else {
            stage[id] = s;
            finish[id] = t0 + d;
        }
    }
    let mut used = vec![false; n];
    for node in &net.nodes {
        for o in operands(&node.op) {
            used[o as usize] = true;
        }
    }
    let mut out_stage = 0;
    for p in &net.outputs {
        for &o in &p.nodes {
            used[o as usize] = true;
            if net.const_of(o).is_none() {
                out_stage = out_stage.max(stage[o as usize]);
            }
        }
    }
    Schedule {
        width,
        stage,
        finish,
        out_stage,
        latency: out_stage + 2,
        critical_ns: critical + model.reg_overhead,
        used,
    }
}
