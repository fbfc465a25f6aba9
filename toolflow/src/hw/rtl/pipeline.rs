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

    /// Arrival of node `id`'s lowest and highest result bits given those
    /// of its operands (`at`). Carry-chain adders ripple bit by bit, so in
    /// a chain of adders each level adds one LUT and routing (`add_base`)
    /// while the carry runs through the word about once: an adder's top
    /// bit is ready `add_per_bit x width` after its operands' lowest bits,
    /// or one carry block after their top bits, whichever is later. Other
    /// operators wait for their whole operands.
    pub fn timing(&self, net: &Net, id: NodeId, width: u32, at: (f64, f64)) -> (f64, f64) {
        let (lo, hi) = at;
        match &net.node(id).op {
            Op::Add(..) | Op::Acc { .. } => {
                let w = f64::from(width);
                let first = lo + self.add_base;
                let top = (first + self.add_per_bit * w)
                    .max(hi + self.add_base + self.add_per_bit * w.min(8.0));
                (first, top)
            }
            Op::Input { .. }
            | Op::Const(_)
            | Op::Shl(..)
            | Op::Wrap { .. }
            | Op::Phase { .. }
            | Op::Round {
                mode: crate::fixed::Rounding::Trn,
                ..
            } => (lo, hi),
            _ => {
                let t = hi + self.delay(net, id, width);
                (t, t)
            }
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
    /// Combinational arrival time of each node's highest bit within its
    /// stage (infinite for a zero-arm select that must be registered where
    /// it is: see `schedule_with`).
    pub finish: Vec<f64>,
    /// Time within its stage at which each node's lowest operand bits arrive.
    pub start: Vec<f64>,
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

    /// Which nodes are selects with a constant-zero arm (a ReLU, for one)
    /// whose value is only read through a register. Such a select costs no
    /// logic: synthesis folds its condition into the flip-flop's
    /// synchronous reset (FDRE `R`; Yosys `opt_dff` finds the pattern).
    pub fn reset_folded(&self, net: &Net) -> Vec<bool> {
        let n = net.nodes.len();
        let mut first_use = vec![u32::MAX; n];
        for (id, node) in net.nodes.iter().enumerate() {
            if !self.used[id] {
                continue;
            }
            let at = self.consume_stage(net, id as NodeId);
            for o in operands(&node.op) {
                first_use[o as usize] = first_use[o as usize].min(at);
            }
        }
        (0..n)
            .map(|i| {
                self.used[i] && is_zero_select(net, i as NodeId) && first_use[i] > self.stage[i]
            })
            .collect()
    }
}

/// A select with a constant-zero arm: `c < 0 ? 0 : x` or `c < 0 ? x : 0`.
pub fn is_zero_select(net: &Net, id: NodeId) -> bool {
    match net.node(id).op {
        Op::Select { neg, pos, .. } => net.const_of(neg) == Some(0) || net.const_of(pos) == Some(0),
        _ => false,
    }
}

/// Pipeline staging: registers go where the delay budget of the clock
/// period runs out (as soon as possible), then each stage boundary is moved
/// earlier within its stage when that crosses fewer register bits without
/// adding a cycle (see [`narrow_cuts`]).
pub fn schedule(net: &Net, model: &DelayModel, clock_ns: f64) -> Schedule {
    let width = demand_widths(net);
    let none = vec![0u32; net.nodes.len()];
    let asap = schedule_with(net, model, clock_ns, width.clone(), &none);
    if net.ii > 1 {
        // Time-shared datapaths keep the plain schedule (their phase and
        // accumulator alignment was verified on it).
        return asap;
    }
    narrow_cuts(net, model, clock_ns, &width, asap)
}

/// Register bits of a schedule: every delayed value once per cycle of delay.
pub fn register_bits(net: &Net, sch: &Schedule) -> u64 {
    sch.delay_depths(net)
        .iter()
        .enumerate()
        .filter(|&(i, &d)| d > 0 && net.const_of(i as NodeId).is_none())
        .map(|(i, &d)| u64::from(sch.width[i]) * u64::from(d))
        .sum()
}

/// What a placement of stage boundaries costs, in flip-flop equivalents:
/// its register bits, plus two per bit of every zero-arm select that is
/// not read through a register (it then needs a LUT per bit, and a LUT
/// site holds two flip-flops).
fn cut_cost(net: &Net, sch: &Schedule) -> u64 {
    let folded = sch.reset_folded(net);
    let selects: u64 = (0..net.nodes.len())
        .filter(|&i| sch.used[i] && !folded[i] && is_zero_select(net, i as NodeId))
        .map(|i| u64::from(sch.width[i]))
        .sum();
    register_bits(net, sch) + 2 * selects
}

/// Greedy boundary placement. The as-soon-as-possible schedule puts a
/// boundary wherever a path runs out of time, often in the middle of a
/// fan-out (the first shared subexpressions of a layer, many and wide)
/// rather than at the narrow layer outputs just before it. For each
/// boundary in turn, every node of the stage that starts at or after a
/// time `θ` is pushed to the next stage; the `θ` (among the start times in
/// the stage) that gives the fewest register bits with no extra latency is
/// kept. Deterministic; a few dozen re-schedules of the netlist.
fn narrow_cuts(
    net: &Net,
    model: &DelayModel,
    clock_ns: f64,
    width: &[u32],
    asap: Schedule,
) -> Schedule {
    let n = net.nodes.len();
    let mut force = vec![0u32; n];
    let mut best_cost = cut_cost(net, &asap);
    let mut best = asap;
    let latency = best.latency;
    let mut k = 0u32;
    while k < best.out_stage {
        let starts = |sch: &Schedule| -> Vec<f64> {
            let mut v: Vec<f64> = (0..n)
                .filter(|&i| {
                    sch.used[i] && sch.stage[i] == k && net.const_of(i as NodeId).is_none()
                })
                .map(|i| sch.start[i])
                .filter(|&t| t > 1e-9)
                .collect();
            v.sort_by(f64::total_cmp);
            v.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
            v
        };
        let mut chosen: Option<(Vec<u32>, Schedule, u64)> = None;
        for theta in starts(&best) {
            let mut f = force.clone();
            for (i, fi) in f.iter_mut().enumerate() {
                if best.stage[i] == k
                    && best.used[i]
                    && !matches!(net.nodes[i].op, Op::Acc { .. } | Op::Phase { .. })
                    && best.start[i] >= theta - 1e-9
                {
                    *fi = (*fi).max(k + 1);
                }
            }
            let sch = schedule_with(net, model, clock_ns, width.to_vec(), &f);
            if sch.latency > latency {
                continue;
            }
            let cost = cut_cost(net, &sch);
            let better = match &chosen {
                Some((_, _, c)) => cost < *c,
                None => cost < best_cost,
            };
            if better {
                chosen = Some((f, sch, cost));
            }
        }
        if let Some((f, sch, cost)) = chosen {
            force = f;
            best = sch;
            best_cost = cost;
        }
        k += 1;
    }
    best
}

/// As-soon-as-possible staging: a node moves to the next stage when it
/// would not fit in the budget of its operands' stage, or when `force`
/// asks for a later stage.
fn schedule_with(
    net: &Net,
    model: &DelayModel,
    clock_ns: f64,
    width: Vec<u32>,
    force: &[u32],
) -> Schedule {
    let n = net.nodes.len();
    let budget = (clock_ns - model.reg_overhead).max(0.1);
    let mut stage = vec![0u32; n];
    let mut finish = vec![0f64; n];
    let mut lsb = vec![0f64; n];
    let mut start = vec![0f64; n];
    let mut critical = 0f64;
    for id in 0..n {
        let node = &net.nodes[id];
        let live: Vec<NodeId> = operands(&node.op)
            .into_iter()
            .filter(|&o| net.const_of(o).is_none())
            .collect();
        let mut s = live.iter().map(|&o| stage[o as usize]).max().unwrap_or(0);
        // Arrival of the operands' lowest and highest bits within stage `s`
        // (values from earlier stages come from registers: time 0).
        let mut at = (0f64, 0f64);
        if force[id] > s {
            s = force[id];
        } else {
            for &o in &live {
                if stage[o as usize] == s {
                    at.0 = at.0.max(lsb[o as usize]);
                    at.1 = at.1.max(finish[o as usize]);
                }
            }
        }
        let timing = |at: (f64, f64)| model.timing(net, id as NodeId, width[id], at);
        let mut t = timing(at);
        if at.1 > 0.0 && t.1 > budget {
            if at.1 <= budget && net.ii <= 1 && is_zero_select(net, id as NodeId) {
                // Its operands arrive in time, and registered right here
                // the select is the flip-flops' synchronous reset, with no
                // logic in the path: keep it, and make every reader wait
                // for the next stage. (Fully pipelined datapaths only:
                // time-shared ones keep the schedule their phase alignment
                // was verified on.)
                critical = critical.max(at.1);
                stage[id] = s;
                start[id] = at.0;
                lsb[id] = f64::INFINITY;
                finish[id] = f64::INFINITY;
                continue;
            }
            s += 1;
            at = (0.0, 0.0);
            t = timing(at);
        }
        critical = critical.max(t.1);
        start[id] = at.0;
        if let Op::Acc { last, .. } = node.op {
            // Registered: the total is there `last + 1` cycles after the
            // stage that adds the first partial sum.
            stage[id] = s + last + 1;
            finish[id] = 0.0;
            lsb[id] = 0.0;
        } else {
            stage[id] = s;
            lsb[id] = t.0;
            finish[id] = t.1;
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
        start,
        out_stage,
        latency: out_stage + 2,
        critical_ns: critical + model.reg_overhead,
        used,
    }
}

#[cfg(test)]
mod tests {
    use super::super::net::{Net, Term};
    use super::*;

    /// A chain of `levels` adders over 16-bit inputs, then a ReLU, then one
    /// more adder that reads the ReLU; returns the net and the ReLU's id.
    fn chain_relu_add(levels: usize) -> (Net, NodeId) {
        let mut net = Net::new(10_000, 55);
        let x: Vec<NodeId> = (0..=levels as u32)
            .map(|j| net.input(0, j, -30_000, 30_000).unwrap())
            .collect();
        let mut acc = Term::of(x[0]);
        for &xi in &x[1..] {
            acc = net.add(acc, Term::of(xi)).unwrap();
        }
        let sum = net.node_of(acc).unwrap();
        let relu = net.relu(sum).unwrap();
        let y = net.add(Term::of(relu), Term::of(x[1])).unwrap();
        let y = net.node_of(y).unwrap();
        net.output_one(y);
        (net, relu)
    }

    #[test]
    fn a_relu_just_before_a_boundary_stays_and_folds_into_the_reset() {
        let model = DelayModel::scaled(1.0);
        let (net, relu) = chain_relu_add(4);
        let sum = operands(&net.node(relu).op)[0] as usize;
        // A clock whose budget the sum meets and the sum plus a LUT misses.
        let arrival = schedule(&net, &model, 100.0).finish[sum];
        let clock = arrival + model.reg_overhead + model.lut / 2.0;
        let sch = schedule(&net, &model, clock);
        assert_eq!(sch.stage[sum], 0);
        assert_eq!(sch.stage[relu as usize], 0, "kept in its operand's stage");
        assert!(
            sch.reset_folded(&net)[relu as usize],
            "read only through a register"
        );
        let reader = net.outputs[0].nodes[0] as usize;
        assert_eq!(sch.stage[reader], 1);
        assert!(sch.critical_ns <= clock + 1e-9);
    }

    #[test]
    fn a_relu_read_in_its_own_stage_costs_logic() {
        let (net, relu) = chain_relu_add(2);
        let sch = schedule(&net, &DelayModel::scaled(1.0), 20.0);
        let reader = net.outputs[0].nodes[0] as usize;
        assert_eq!(sch.stage[reader], sch.stage[relu as usize]);
        assert!(!sch.reset_folded(&net)[relu as usize]);
    }
}
