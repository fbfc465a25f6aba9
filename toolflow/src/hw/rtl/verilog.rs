//! Verilog-2001 emission of a scheduled netlist: one flat module, every
//! wire two's-complement `signed`, pipeline registers named `n<id>_p<k>`
//! (node `id` delayed by `k` cycles).

use std::fmt::Write;

use super::net::{Net, NodeId, Op, Term, signed_width};
use super::pipeline::Schedule;
use crate::fixed::Rounding;

/// A sized signed literal of `v`.
pub fn lit(v: i128) -> String {
    if v >= 0 {
        format!("{}'sd{}", signed_width(v, v), v)
    } else {
        let m = v.unsigned_abs();
        let w = 128 - m.leading_zeros() + 1;
        format!("(-{w}'sd{m})")
    }
}

struct Emitter<'a> {
    net: &'a Net,
    sch: &'a Schedule,
    /// Deepest delay each node needs.
    depth: Vec<u32>,
}

impl Emitter<'_> {
    /// Reference to node `id` as seen from stage `at`.
    fn r(&self, id: NodeId, at: u32) -> String {
        if let Some(v) = self.net.const_of(id) {
            return lit(v);
        }
        let d = at.saturating_sub(self.sch.stage[id as usize]);
        if d == 0 {
            format!("n{id}")
        } else {
            format!("n{id}_p{d}")
        }
    }

    fn term(&self, t: Term, at: u32) -> String {
        let base = self.r(t.node, at);
        if t.shift == 0 {
            base
        } else {
            format!("({base} <<< {})", t.shift)
        }
    }
}

/// Packed bit width of a port (at least 1).
pub fn port_bits(elems: usize, width: u32) -> usize {
    (elems * width as usize).max(1)
}

/// The phase counter of a time-shared datapath: `ph` is the phase of the
/// vector in stage 0 (`0..ii-1`), `ii` when idle; a vector is taken when
/// the last phase of the previous one is running or the design is idle.
fn phase_counter(v: &mut String, ii: u32) {
    let pw = signed_width(0, i128::from(ii)) - 1;
    let _ = writeln!(
        v,
        "reg [{hi}:0] ph;\nassign in_ready = (ph >= {pw}'d{last});\nwire in_take = in_valid & in_ready;\nalways @(posedge clk) begin\n    if (rst) ph <= {pw}'d{ii};\n    else if (in_take) ph <= {pw}'d0;\n    else if (ph != {pw}'d{ii}) ph <= ph + {pw}'d1;\nend",
        hi = pw - 1,
        last = ii - 1,
    );
}

/// Emits the module.
pub fn emit(net: &Net, sch: &Schedule, module: &str, header: &str) -> String {
    let n = net.nodes.len();
    let depth = sch.delay_depths(net);
    let e = Emitter { net, sch, depth };
    let mut v = String::with_capacity(n * 96);
    let _ = writeln!(v, "{header}");
    let _ = writeln!(v, "`timescale 1ns / 1ps");
    let _ = writeln!(v, "module {module} (");
    let _ = writeln!(v, "    input  wire clk,");
    let _ = writeln!(v, "    input  wire rst,");
    let _ = writeln!(v, "    input  wire in_valid,");
    for p in &net.inputs {
        let _ = writeln!(
            v,
            "    input  wire [{}:0] {}, // {} x {}-bit {}",
            port_bits(p.elems, p.width) - 1,
            p.name,
            p.elems,
            p.width,
            if p.signed { "signed" } else { "unsigned" }
        );
    }
    for p in &net.outputs {
        let _ = writeln!(
            v,
            "    output wire [{}:0] {}, // {} x {}-bit {}",
            port_bits(p.nodes.len(), p.width) - 1,
            p.name,
            p.nodes.len(),
            p.width,
            if p.signed { "signed" } else { "unsigned" }
        );
    }
    let _ = writeln!(v, "    output wire in_ready,");
    let _ = writeln!(v, "    output wire out_valid\n);");
    let lat = sch.latency;
    let ii = net.ii.max(1);
    let _ = writeln!(v, "// latency {lat} cycles, initiation interval {ii}");
    if ii > 1 {
        phase_counter(&mut v, ii);
    } else {
        let _ = writeln!(v, "assign in_ready = 1'b1;\nwire in_take = in_valid;");
    }
    let _ = writeln!(
        v,
        "reg [{}:0] vld;\nalways @(posedge clk) begin\n    if (rst) vld <= {lat}'d0;\n    else vld <= {{vld[{}:0], in_take}};\nend\nassign out_valid = vld[{}];",
        lat - 1,
        lat.saturating_sub(2),
        lat - 1
    );
    // With II > 1 the input registers hold the vector for the II cycles.
    let load = if ii > 1 { "if (in_take) " } else { "" };
    for p in &net.inputs {
        let b = port_bits(p.elems, p.width);
        let _ = writeln!(
            v,
            "reg [{}:0] {}_r;\nalways @(posedge clk) {load}{}_r <= {};",
            b - 1,
            p.name,
            p.name,
            p.name
        );
    }
    // Combinational nodes.
    for (id, node) in net.nodes.iter().enumerate() {
        if !sch.used[id] || matches!(node.op, Op::Const(_)) {
            continue;
        }
        let w = sch.width[id];
        let s = sch.stage[id];
        let name = format!("n{id}");
        let decl = |v: &mut String| {
            let _ = writeln!(v, "wire signed [{}:0] {name};", w - 1);
        };
        match &node.op {
            Op::Const(_) => {}
            Op::Input { port, elem } => {
                decl(&mut v);
                let p = &net.inputs[*port as usize];
                let off = *elem as usize * p.width as usize;
                let slice = format!("{}_r[{}:{}]", p.name, off + p.width as usize - 1, off);
                let rhs = if p.signed {
                    format!("$signed({slice})")
                } else {
                    format!("$signed({{1'b0, {slice}}})")
                };
                let _ = writeln!(v, "assign {name} = {rhs};");
            }
            Op::Add(a, b) => {
                decl(&mut v);
                let (ta, tb) = (e.term(*a, s), e.term(*b, s));
                let rhs = match (a.neg, b.neg) {
                    (false, false) => format!("{ta} + {tb}"),
                    (false, true) => format!("{ta} - {tb}"),
                    (true, false) => format!("{tb} - {ta}"),
                    (true, true) => format!("-{ta} - {tb}"),
                };
                let _ = writeln!(v, "assign {name} = {rhs};");
            }
            Op::Shl(a, k) => {
                decl(&mut v);
                let _ = writeln!(v, "assign {name} = {} <<< {k};", e.r(*a, s));
            }
            Op::Round { a, s: k, mode } => {
                decl(&mut v);
                let an = e.r(*a, s);
                if *mode == Rounding::Trn {
                    let _ = writeln!(v, "assign {name} = {an} >>> {k};");
                } else {
                    let k = *k;
                    let wx = sch.width[*a as usize].max(k + 1);
                    let _ = writeln!(v, "wire signed [{}:0] {name}_x = {an};", wx - 1);
                    let half = format!("{name}_x[{}]", k - 1);
                    let lower = if k >= 2 {
                        format!("(|{name}_x[{}:0])", k - 2)
                    } else {
                        "1'b0".to_string()
                    };
                    let neg = format!("{name}_x[{}]", wx - 1);
                    let any = format!("(|{name}_x[{}:0])", k - 1);
                    let odd = format!("{name}_x[{k}]");
                    let up = match mode {
                        Rounding::Trn => "1'b0".to_string(),
                        Rounding::Ceil => any,
                        Rounding::Up => format!("(~{neg} & {any})"),
                        Rounding::TrnZero => format!("({neg} & {any})"),
                        Rounding::Rnd => half,
                        Rounding::RndZero => format!("({half} & ({lower} | {neg}))"),
                        Rounding::RndMinInf => format!("({half} & {lower})"),
                        Rounding::RndInf => format!("({half} & ({lower} | ~{neg}))"),
                        Rounding::RndConv => format!("({half} & ({lower} | {odd}))"),
                    };
                    let _ = writeln!(
                        v,
                        "assign {name} = ({name}_x >>> {k}) + $signed({{1'b0, {up}}});"
                    );
                }
            }
            Op::Sat {
                a,
                lo,
                hi,
                below,
                above,
            } => {
                decl(&mut v);
                let an = e.r(*a, s);
                let ar = net.node(*a);
                let mut rhs = an.clone();
                if ar.hi > *hi {
                    rhs = format!("({an} > {}) ? {} : {rhs}", lit(*hi), lit(*above));
                }
                if ar.lo < *lo {
                    rhs = format!("({an} < {}) ? {} : {rhs}", lit(*lo), lit(*below));
                }
                let _ = writeln!(v, "assign {name} = {rhs};");
            }
            Op::Wrap { a, width, signed } => {
                decl(&mut v);
                let wx = sch.width[*a as usize].max(*width);
                let _ = writeln!(v, "wire signed [{}:0] {name}_x = {};", wx - 1, e.r(*a, s));
                let rhs = if *signed {
                    format!("$signed({name}_x[{}:0])", width - 1)
                } else {
                    format!("$signed({{1'b0, {name}_x[{}:0]}})", width - 1)
                };
                let _ = writeln!(v, "assign {name} = {rhs};");
            }
            Op::Select { c, neg, pos } => {
                decl(&mut v);
                let cw = sch.width[*c as usize];
                let _ = writeln!(
                    v,
                    "assign {name} = {}[{}] ? {} : {};",
                    e.r(*c, s),
                    cw - 1,
                    e.r(*neg, s),
                    e.r(*pos, s)
                );
            }
            Op::Mul(a, b) => {
                decl(&mut v);
                let _ = writeln!(v, "assign {name} = {} * {};", e.r(*a, s), e.r(*b, s));
            }
            Op::MulConst(a, c) => {
                decl(&mut v);
                let _ = writeln!(v, "assign {name} = {} * {};", e.r(*a, s), lit(*c));
            }
            Op::Ge(a, t) => {
                decl(&mut v);
                let _ = writeln!(
                    v,
                    "assign {name} = $signed({{1'b0, ({} >= {})}});",
                    e.r(*a, s),
                    lit(*t)
                );
            }
            Op::Phase { .. } => {
                decl(&mut v);
                let _ = writeln!(v, "assign {name} = $signed({{1'b0, ph}});");
            }
            Op::Mux { sel, cases } => {
                // Only the low phase bits that tell the cases apart: a 4:1
                // multiplexer then fits one LUT6 (phases past the cases are
                // don't-cares: the accumulator restarts at phase 0).
                let bits = (usize::BITS - (cases.len() - 1).leading_zeros()).max(1);
                let _ = writeln!(v, "reg signed [{}:0] {name};", w - 1);
                let _ = writeln!(
                    v,
                    "always @(*) begin\n    case ({}[{}:0])",
                    e.r(*sel, s),
                    bits - 1
                );
                for (i, &c) in cases.iter().enumerate().take(cases.len() - 1) {
                    let _ = writeln!(v, "        {bits}'d{i}: {name} = {};", e.term(c, s));
                }
                let last = cases[cases.len() - 1];
                let _ = writeln!(
                    v,
                    "        default: {name} = {};\n    endcase\nend",
                    e.term(last, s)
                );
            }
            Op::Acc {
                a,
                phase,
                last,
                init,
            } => {
                let at = sch.consume_stage(net, id as NodeId);
                let _ = writeln!(
                    v,
                    "reg signed [{hi}:0] {name}_acc;\nreg signed [{hi}:0] {name};\nwire signed [{hi}:0] {name}_sum = (({ph} == {zero}) ? {init} : {name}_acc) + {a};\nalways @(posedge clk) begin\n    {name}_acc <= {name}_sum;\n    if ({ph} == {last}) {name} <= {name}_sum;\nend",
                    hi = w - 1,
                    ph = e.r(*phase, at),
                    zero = lit(0),
                    init = lit(*init),
                    a = e.r(*a, at),
                    last = lit(i128::from(*last)),
                );
            }
            Op::Rom { a, table } => {
                let an = net.node(*a);
                let iw = (128 - an.hi.leading_zeros()).max(1);
                let _ = writeln!(v, "reg signed [{}:0] {name};", w - 1);
                let _ = writeln!(
                    v,
                    "always @(*) begin\n    case ({}[{}:0])",
                    e.r(*a, s),
                    iw - 1
                );
                let t = &net.tables[*table as usize];
                for i in an.lo..=an.hi {
                    let _ = writeln!(
                        v,
                        "        {iw}'d{i}: {name} = {};",
                        lit(t[i as usize] as i128)
                    );
                }
                let _ = writeln!(v, "        default: {name} = {};\n    endcase\nend", lit(0));
            }
        }
    }
    // Pipeline registers.
    let mut regs = String::new();
    for (id, node) in net.nodes.iter().enumerate() {
        let d = e.depth[id];
        if d == 0 || matches!(node.op, Op::Const(_)) {
            continue;
        }
        let w = sch.width[id];
        for k in 1..=d {
            let _ = writeln!(v, "reg signed [{}:0] n{id}_p{k};", w - 1);
            let src = if k == 1 {
                format!("n{id}")
            } else {
                format!("n{id}_p{}", k - 1)
            };
            let _ = writeln!(regs, "    n{id}_p{k} <= {src};");
        }
    }
    if !regs.is_empty() {
        let _ = writeln!(v, "always @(posedge clk) begin\n{regs}end");
    }
    // Output registers.
    for p in &net.outputs {
        let b = port_bits(p.nodes.len(), p.width);
        let _ = writeln!(v, "reg [{}:0] {}_r;", b - 1, p.name);
        let _ = writeln!(v, "always @(posedge clk) begin");
        for (i, &o) in p.nodes.iter().enumerate() {
            let off = i * p.width as usize;
            let _ = writeln!(
                v,
                "    {}_r[{}:{}] <= {};",
                p.name,
                off + p.width as usize - 1,
                off,
                e.r(o, sch.out_stage)
            );
        }
        let _ = writeln!(v, "end\nassign {} = {}_r;", p.name, p.name);
    }
    let _ = writeln!(v, "endmodule");
    v
}
