//! Binary and ternary networks (QONNX `BipolarQuant` and 2-bit narrow
//! `Quant` weights) become add/subtract-only datapaths: the netlist has no
//! multiplier node, Yosys `synth_xilinx` maps no DSP, and the RTL matches
//! the bit-exact simulator in co-simulation.
//!
//! The three models are the QONNX fixtures `binary_bipolar_mlp`,
//! `binary_xnor_multithreshold` and `ternary_mlp` (python/make_qonnx_fixtures.py).
//! Yosys runs on the two quicker ones by default (both have ±1 or ternary
//! weights); `yosys_maps_no_dsp_bipolar_mlp` (ignored, about a minute) adds
//! the third. Co-simulation uses Icarus when installed (seconds to compile),
//! else Verilator.

mod common;

use std::path::{Path, PathBuf};

use toolflow::hw::cosim::{self, CosimOptions, Simulator};
use toolflow::hw::devices;
use toolflow::hw::rtl::{self, NetOptions, net::Op};
use toolflow::hw::synth::{self, SynthOptions};
use toolflow::hw::tools;
use toolflow::{CompiledModel, Limits, compile};

const MODELS: &[&str] = &[
    "binary_bipolar_mlp",
    "binary_xnor_multithreshold",
    "ternary_mlp",
];

fn load(name: &str) -> CompiledModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(format!("{name}.onnx"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compile(&bytes, None, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn work_dir(what: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "arena-binary-ternary-{}-{what}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn design(model: &CompiledModel) -> rtl::Design {
    let dev = devices::device("xc7a100t").unwrap();
    rtl::generate(model, "dut_top", dev, 5.0, &NetOptions::default()).unwrap()
}

#[test]
fn weights_become_adders_not_multipliers() {
    for name in MODELS {
        let d = design(&load(name));
        let mults = d
            .net
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Mul(..) | Op::MulConst(..)))
            .count();
        eprintln!("{name}: {} nodes, {:?}", d.net.nodes.len(), d.net.stats);
        assert_eq!(mults, 0, "{name}: multiplier nodes in the netlist");
        assert_eq!(d.net.stats.dsp, 0, "{name}: products mapped to DSP");
        assert_eq!(
            d.net.stats.shift_add, 0,
            "{name}: ±1 weights need no shift-add"
        );
        assert!(
            d.net.stats.shift > 0,
            "{name}: the ±1 weights should appear as wiring (shift) products"
        );
        assert!(d.verilog.contains("module dut_top"));
        assert!(
            !d.verilog.contains(" * "),
            "{name}: the Verilog has a `*` operator"
        );
    }
}

#[test]
fn yosys_maps_no_dsp() {
    synthesize(&["binary_xnor_multithreshold", "ternary_mlp"]);
}

#[test]
#[ignore = "slow: about a minute of Yosys"]
fn yosys_maps_no_dsp_bipolar_mlp() {
    synthesize(&["binary_bipolar_mlp"]);
}

fn synthesize(models: &[&str]) {
    if tools::which("yosys").is_none() {
        eprintln!("SKIP: yosys not on PATH ({})", tools::install_hint("yosys"));
        return;
    }
    let dev = devices::device("xc7a100t").unwrap();
    for name in models {
        let d = design(&load(name));
        let dir = work_dir("synth", name);
        let r = synth::run(&d, dev, &SynthOptions::default(), &dir).unwrap();
        eprintln!(
            "{name}: yosys LUT {} FF {} CARRY {} DSP {} in {:.1} s",
            r.lut, r.ff, r.carry, r.dsp, r.run_s
        );
        assert_eq!(r.dsp, 0, "{name}: Yosys mapped DSP blocks");
        assert!(r.lut > 0, "{name}: nothing was synthesized");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn cosim_has_no_mismatch() {
    let preferred = tools::which("iverilog")
        .is_some()
        .then_some(Simulator::Icarus);
    let Ok(simulator) = cosim::pick_simulator(preferred) else {
        eprintln!(
            "SKIP: neither iverilog nor verilator on PATH ({})",
            tools::install_hint("verilator")
        );
        return;
    };
    for name in MODELS {
        let model = load(name);
        let d = design(&model);
        let dir = work_dir("cosim", name);
        let opts = CosimOptions {
            vectors: 1000,
            simulator: Some(simulator),
            ..Default::default()
        };
        let r = cosim::run(&model, &d, &opts, &dir).unwrap();
        common::assert_cosim_clean(name, &r, &d);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
