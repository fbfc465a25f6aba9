//! Analytical estimator (no external tool): LUT, FF, DSP, BRAM, latency,
//! II and Fmax for any IR on a device target, in milliseconds.
//!
//! It builds the same netlist and schedule as the RTL generator, so the
//! latency in cycles and the DSP count are exact, then prices every node
//! with per-operator cost rules whose coefficients were fitted against our
//! own Yosys `synth_xilinx` results (see docs/TOOLFLOW.md, "Hardware").
//! Models too large for a netlist fall back to a per-layer formula.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::devices::Device;
use super::rtl::net::{Net, Op, Term};
use super::rtl::pipeline::{DelayModel, Schedule};
use super::rtl::{self, NetOptions};
use crate::CompiledModel;
use crate::error::Result;

/// Cost coefficients, fitted against Yosys 0.23 `synth_xilinx` (xc7,
/// `tests/hw_synth.rs::estimator_matches_yosys`). Adders are priced by the
/// bits where both operands carry a signal ([`adder_luts`]); counting
/// every bit of the carry chain instead had the LUT estimate +4..29 % high
/// on the QONNX fixtures (their biases and unsigned ReLU outputs), which a
/// factor of 0.88 only centred. On the jet tagger the LUT count per such
/// bit is 1.01 (issue 4).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Coefficients {
    /// LUTs per adder bit where both operands carry a signal.
    pub lut_per_add_bit: f64,
    /// LUTs per compared bit (saturation, thresholds).
    pub lut_per_cmp_bit: f64,
    /// LUTs per multiplexed bit (ReLU, select, saturation result).
    pub lut_per_mux_bit: f64,
    /// FFs per pipeline register bit that survives constant propagation.
    pub ff_per_reg_bit: f64,
    /// Delay chains at least this deep become shift-register LUTs (SRL).
    pub srl_min_depth: u32,
}

impl Default for Coefficients {
    fn default() -> Self {
        Coefficients {
            lut_per_add_bit: 1.0,
            lut_per_cmp_bit: 0.55,
            lut_per_mux_bit: 0.6,
            ff_per_reg_bit: 1.0,
            srl_min_depth: 3,
        }
    }
}

/// The estimate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Estimate {
    pub device: String,
    pub clock_ns: f64,
    /// LUTs as logic.
    pub lut: u64,
    /// LUTs used as shift registers for delay lines.
    pub srl: u64,
    pub ff: u64,
    pub dsp: u64,
    pub bram36: f64,
    /// Carry-chain cells (CARRY4 on 7-series, CARRY8 on UltraScale).
    pub carry: u64,
    pub latency_cycles: u32,
    pub latency_ns: f64,
    pub ii: u32,
    /// Estimated maximum clock frequency (MHz) from the delay model.
    pub fmax_mhz: f64,
    /// Constant products that vanished / became wiring / shift-add / DSP.
    pub products_zero: u64,
    pub products_shift: u64,
    pub products_shift_add: u64,
    pub products_dsp: u64,
    /// Netlist nodes priced (0 for the fallback formula).
    pub nodes: u64,
    /// `netlist` or `formula`.
    pub method: String,
    pub elapsed_ms: f64,
    pub notes: Vec<String>,
}

/// Bits of a node's value that are not constant: the width without known-zero
/// low bits (shifts) and without a sign bit that is always 0.
fn live_bits(net: &Net, sch: &Schedule, id: u32) -> u32 {
    let n = net.node(id);
    let mut w = sch.width[id as usize];
    if n.lo >= 0 && w == n.width() {
        w = w.saturating_sub(1);
    }
    if let Op::Shl(_, s) = n.op {
        w = w.saturating_sub(s);
    }
    w.max(1)
}

/// LUTs of an adder's carry chain (result `width` bits): one per bit
/// where both operands carry a signal. Where one operand's bit is a
/// constant (below its shift, or above the top of an unsigned operand)
/// the sum bit takes the other operand's bit as it is or inverted, and
/// where both are past their sign bits every bit computes the same
/// `sign_a ^ sign_b`, which synthesis builds once.
fn adder_luts(net: &Net, sch: &Schedule, a: Term, b: Term, width: u32) -> u32 {
    if net.const_of(a.node).is_some() || net.const_of(b.node).is_some() {
        return 0;
    }
    // (first signal bit, end of the signal bits, signed)
    let span = |t: Term| -> (u32, u32, bool) {
        let n = net.node(t.node);
        let declared = sch.width[t.node as usize];
        let first = match n.op {
            Op::Shl(_, s) => t.shift + s,
            _ => t.shift,
        };
        if n.lo >= 0 && declared == n.width() {
            (first, t.shift + declared - 1, false)
        } else {
            (first, t.shift + declared, true)
        }
    };
    let ((a0, a1, sa), (b0, b1, sb)) = (span(a), span(b));
    let end = match (sa, sb) {
        (true, true) => a1.max(b1),
        (true, false) => b1,
        (false, true) => a1,
        (false, false) => a1.min(b1),
    };
    end.min(width).saturating_sub(a0.max(b0))
}

/// DSP blocks for an `a x b` signed product on the family (25x18 or 27x18).
fn dsp_blocks(wa: u32, wb: u32, device: &Device) -> u64 {
    let a_max = if device.family == super::devices::Family::Series7 {
        25
    } else {
        27
    };
    let (big, small) = if wa >= wb { (wa, wb) } else { (wb, wa) };
    if small <= 1 {
        return 0;
    }
    let ka = big.div_ceil(a_max).max(1);
    let kb = small.div_ceil(18).max(1);
    u64::from(ka * kb)
}

/// LUTs per bit of an n-way multiplexer: a LUT6 is a 4:1 multiplexer (or
/// two 2:1 sharing the select); wider ones add a LUT per 4 inputs (the
/// MUXF7/F8 combining them are free). Constant cases (zero weights) count
/// once.
fn mux_luts_per_bit(net: &Net, cases: &[Term]) -> f64 {
    let mut live: Vec<Term> = cases
        .iter()
        .copied()
        .filter(|t| net.const_of(t.node).is_none())
        .collect();
    live.sort_unstable_by_key(|t| (t.node, t.shift));
    live.dedup();
    let consts = usize::from(live.len() < cases.len());
    match live.len() + consts {
        0 | 1 => 0.0,
        2 => 0.5,
        n => (n as f64 / 4.0).ceil(),
    }
}

/// Adders that Yosys (`xilinx_dsp`) folds into a DSP's post-adder: an
/// addition one of whose operands is a DSP output (a product, or an adder
/// already folded) used by nothing else. Such adders cost no LUT.
fn dsp_absorbed(net: &Net, sch: &Schedule) -> Vec<bool> {
    let n = net.nodes.len();
    let mut users = vec![0u32; n];
    for (i, node) in net.nodes.iter().enumerate() {
        if sch.used[i] {
            for o in super::rtl::pipeline::operands(&node.op) {
                users[o as usize] += 1;
            }
        }
    }
    for p in &net.outputs {
        for &o in &p.nodes {
            users[o as usize] += 1;
        }
    }
    let mut out_of_dsp = vec![false; n];
    let mut absorbed = vec![false; n];
    for (i, node) in net.nodes.iter().enumerate() {
        match &node.op {
            Op::Mul(..) | Op::MulConst(..) => out_of_dsp[i] = true,
            Op::Add(a, b) => {
                let feeds = |t: &Term| out_of_dsp[t.node as usize] && users[t.node as usize] == 1;
                // Chains of adders behind a product fold too (measured on
                // mlp 16-16-5, w12, R 2: LUT -16 %, FF -16 %; folding only
                // the first adder gave +27 % / +31 %).
                if feeds(a) || feeds(b) {
                    absorbed[i] = true;
                    out_of_dsp[i] = true;
                }
            }
            _ => {}
        }
    }
    absorbed
}

/// Prices a scheduled netlist.
pub fn price(
    net: &Net,
    sch: &Schedule,
    device: &Device,
    clock_ns: f64,
    c: &Coefficients,
) -> Estimate {
    let (mut lut, mut carry_bits, mut dsp, mut ff, mut srl) = (0f64, 0f64, 0u64, 0f64, 0f64);
    let in_dsp = dsp_absorbed(net, sch);
    let in_reset = sch.reset_folded(net);
    let carry_width = if device.family == super::devices::Family::Series7 {
        4.0
    } else {
        8.0
    };
    for (i, node) in net.nodes.iter().enumerate() {
        if !sch.used[i] {
            continue;
        }
        let w = f64::from(live_bits(net, sch, i as u32));
        match &node.op {
            Op::Input { .. } | Op::Const(_) | Op::Shl(..) | Op::Wrap { .. } => {}
            Op::Add(..) if in_dsp[i] => {}
            Op::Add(a, b) => {
                // The low bits below the shifted operand pass through.
                let pass = a.shift.max(b.shift) as f64;
                let bits = (w - pass).max(1.0);
                let luts = f64::from(adder_luts(net, sch, *a, *b, sch.width[i]));
                lut += c.lut_per_add_bit * luts;
                carry_bits += bits;
            }
            Op::Round { mode, .. } => {
                if *mode != crate::fixed::Rounding::Trn {
                    lut += c.lut_per_add_bit * w + 2.0;
                    carry_bits += w;
                }
            }
            Op::Sat { a, lo, hi, .. } => {
                let an = net.node(*a);
                let wa = f64::from(an.width());
                let checks = f64::from(u8::from(an.lo < *lo) + u8::from(an.hi > *hi));
                lut += checks * c.lut_per_cmp_bit * wa + c.lut_per_mux_bit * w;
                carry_bits += checks * wa;
            }
            Op::Ge(a, _) => {
                let wa = f64::from(net.node(*a).width());
                lut += c.lut_per_cmp_bit * wa;
                carry_bits += wa;
            }
            // The flip-flops' synchronous reset does the select.
            Op::Select { .. } if in_reset[i] => {}
            Op::Select { .. } => lut += c.lut_per_mux_bit * w,
            Op::Mul(a, b) => {
                dsp += dsp_blocks(net.node(*a).width(), net.node(*b).width(), device);
            }
            Op::MulConst(a, k) => {
                let wk = 128 - k.leading_zeros() + 1;
                dsp += dsp_blocks(net.node(*a).width(), wk, device);
            }
            Op::Rom { a, .. } => {
                let an = net.node(*a);
                let entries = (an.hi - an.lo + 1).max(1) as f64;
                lut += w * (entries / 64.0).ceil();
            }
            Op::Phase { ii } => {
                // The phase counter: its register and increment/compare logic.
                let pw = f64::from(super::rtl::net::signed_width(0, i128::from(*ii)) - 1);
                ff += pw;
                lut += pw + 2.0;
            }
            Op::Mux { cases, .. } => lut += w * mux_luts_per_bit(net, cases),
            Op::Acc { .. } => {
                // One adder (the first-phase select folds into its LUTs), the
                // running sum and the registered total.
                lut += c.lut_per_add_bit * w;
                carry_bits += w;
                ff += 2.0 * c.ff_per_reg_bit * w;
            }
        }
    }
    // Registers: inputs, pipeline delay lines, outputs, valid chain.
    let depth = sch.delay_depths(net);
    for (i, &d) in depth.iter().enumerate() {
        if d == 0 || net.const_of(i as u32).is_some() {
            continue;
        }
        // A DSP's output register (PREG, and MREG behind a multiplier)
        // and the B-input registers of a per-phase weight ROM are inside the DSP.
        let inside = match net.node(i as u32).op {
            Op::Mul(..) | Op::MulConst(..) => 2,
            Op::Add(..) if in_dsp[i] => 1,
            Op::Rom { a, .. } if matches!(net.node(a).op, Op::Phase { .. }) => 2,
            _ => 0,
        };
        let d = d.saturating_sub(inside);
        if d == 0 {
            continue;
        }
        let bits = f64::from(live_bits(net, sch, i as u32));
        if d >= c.srl_min_depth {
            srl += bits * f64::from(d.div_ceil(32));
            ff += bits; // the chain's last stage stays a flip-flop
        } else {
            ff += c.ff_per_reg_bit * bits * f64::from(d);
        }
    }
    for p in &net.inputs {
        ff += (p.elems * p.width as usize) as f64;
    }
    for p in &net.outputs {
        let non_const = p
            .nodes
            .iter()
            .filter(|&&n| net.const_of(n).is_none())
            .count();
        ff += (non_const * p.width as usize) as f64;
    }
    ff += f64::from(sch.latency);
    let fmax = 1000.0 / sch.critical_ns.max(clock_ns.min(sch.critical_ns)).max(0.5);
    Estimate {
        device: device.name.to_string(),
        clock_ns,
        lut: lut.round() as u64,
        srl: srl.round() as u64,
        ff: ff.round() as u64,
        dsp,
        bram36: 0.0,
        carry: (carry_bits / carry_width).ceil() as u64,
        latency_cycles: sch.latency,
        latency_ns: f64::from(sch.latency) * clock_ns,
        ii: net.ii.max(1),
        fmax_mhz: (fmax * 10.0).round() / 10.0,
        products_zero: net.stats.zero,
        products_shift: net.stats.shift,
        products_shift_add: net.stats.shift_add,
        products_dsp: net.stats.dsp,
        nodes: net.nodes.len() as u64,
        method: "netlist".into(),
        elapsed_ms: 0.0,
        notes: Vec::new(),
    }
}

/// Estimates a compiled model on a device at a clock period.
pub fn estimate(model: &CompiledModel, device: &Device, clock_ns: f64) -> Result<Estimate> {
    estimate_with(
        model,
        device,
        clock_ns,
        &NetOptions::default(),
        &Coefficients::default(),
    )
}

/// As [`estimate`] with explicit netlist options and coefficients.
pub fn estimate_with(
    model: &CompiledModel,
    device: &Device,
    clock_ns: f64,
    opts: &NetOptions,
    c: &Coefficients,
) -> Result<Estimate> {
    let t0 = Instant::now();
    let mut est = match rtl::build_scheduled(model, device, clock_ns, opts) {
        Ok((net, sch, notes)) => {
            let mut e = price(&net, &sch, device, clock_ns, c);
            e.notes = notes;
            e
        }
        Err(crate::Error::Limit(why)) => formula(model, device, clock_ns, why),
        Err(e) => return Err(e),
    };
    est.elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    Ok(est)
}

/// The estimate of a design already generated: its netlist and schedule
/// priced, without building them again (`elapsed_ms` is left to the caller,
/// who knows what the build cost).
pub fn estimate_design(design: &rtl::Design, device: &Device, c: &Coefficients) -> Estimate {
    let mut e = price(&design.net, &design.schedule, device, design.clock_ns, c);
    e.notes = design.notes.clone();
    e
}

/// Per-layer fallback for models whose netlist would be too large.
fn formula(model: &CompiledModel, device: &Device, clock_ns: f64, why: String) -> Estimate {
    use crate::ir::LayerKind;
    let ir = model.ir();
    let delays = DelayModel::scaled(device.family.speed_factor());
    let (mut lut, mut ff, mut latency) = (0f64, 0f64, 2u32);
    for l in &ir.layers {
        let out = &ir.tensors[l.output];
        let w = f64::from(out.ty.width);
        let (terms, k) = match &l.kind {
            LayerKind::Dense(d) => {
                let nz = d.weights.iter().filter(|&&v| v != 0).count() * d.outer;
                (nz as f64, d.n_in)
            }
            LayerKind::Conv(c) => {
                let nz = c.weights.iter().filter(|&&v| v != 0).count() * c.out_h * c.out_w;
                (nz as f64, c.weights.len() / c.out_c.max(1))
            }
            _ => (out.elems() as f64, 1),
        };
        let width = w + 6.0;
        lut += terms * width;
        let levels = (k.max(1) as f64).log2().ceil().max(1.0);
        let per_stage = ((clock_ns - delays.reg_overhead)
            / (delays.add_base + delays.add_per_bit * width))
            .floor()
            .max(1.0);
        let stages = (levels / per_stage).ceil() as u32;
        latency += stages;
        ff += f64::from(stages) * out.elems() as f64 * width;
    }
    Estimate {
        device: device.name.to_string(),
        clock_ns,
        lut: lut as u64,
        srl: 0,
        ff: ff as u64,
        dsp: 0,
        bram36: 0.0,
        carry: (lut / 4.0) as u64,
        latency_cycles: latency,
        latency_ns: f64::from(latency) * clock_ns,
        ii: ir
            .layers
            .iter()
            .map(|l| l.reuse_factor)
            .max()
            .unwrap_or(1)
            .max(1),
        fmax_mhz: (1000.0 / clock_ns * 10.0).round() / 10.0,
        products_zero: 0,
        products_shift: 0,
        products_shift_add: 0,
        products_dsp: 0,
        nodes: 0,
        method: "formula".into(),
        elapsed_ms: 0.0,
        notes: vec![format!("per-layer formula (no netlist): {why}")],
    }
}

#[cfg(test)]
mod tests {
    use super::super::rtl::net::Net;
    use super::super::rtl::pipeline::{DelayModel, schedule};
    use super::*;

    /// LUTs Yosys builds for `a + (b << shift)` with the given input ranges.
    fn luts_of(a: (i128, i128), b: (i128, i128), shift: u32) -> u32 {
        let mut net = Net::new(100, 55);
        let x = net.input(0, 0, a.0, a.1).unwrap();
        let y = if b.0 == b.1 {
            net.konst(b.0).unwrap()
        } else {
            net.input(0, 1, b.0, b.1).unwrap()
        };
        let sum = net
            .add(
                Term::of(x),
                Term {
                    node: y,
                    shift,
                    neg: false,
                },
            )
            .unwrap();
        let id = net.node_of(sum).unwrap();
        net.output_one(id);
        let sch = schedule(&net, &DelayModel::scaled(1.0), 5.0);
        let Op::Add(ta, tb) = net.node(id).op else {
            panic!("not an adder")
        };
        adder_luts(&net, &sch, ta, tb, sch.width[id as usize])
    }

    #[test]
    fn adders_cost_a_lut_where_both_operands_carry_a_signal() {
        let s16 = (-32_768, 32_767);
        // Two signed words: 16 bits, the 17th repeats sign_a ^ sign_b.
        assert_eq!(luts_of(s16, s16, 0), 16);
        // Shifted: the 4 low bits pass through.
        assert_eq!(luts_of(s16, s16, 4), 16);
        // An unsigned byte: above its 8 bits the other word passes to the carry chain.
        assert_eq!(luts_of(s16, (0, 255), 0), 8);
        // A constant: every bit is the word as it is or inverted.
        assert_eq!(luts_of(s16, (100, 100), 0), 0);
    }
}
