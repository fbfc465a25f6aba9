//! Open-source synthesis: Yosys `synth_xilinx` for the target's family,
//! with the cell counts (LUT by size, FF, CARRY, DSP, BRAM, LUTRAM, SRL),
//! the logic depth (`ltp -noff`), run time and peak memory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::devices::Device;
use super::rtl::Design;
use super::rtl::Net;
use super::rtl::net::Op;
use super::tools::{self, RunLimits};
use crate::error::{Error, Result};

/// Synthesis options.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    pub limits: RunLimits,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            limits: RunLimits {
                timeout_s: 1800,
                memory_mib: 16 << 10,
            },
        }
    }
}

/// Cell counts of a synthesized design.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SynthResult {
    pub tool_version: String,
    pub family: String,
    /// LUTs used as logic (LUT1..LUT6).
    pub lut: u64,
    /// `LUT1`..`LUT6` counts.
    pub lut_by_size: BTreeMap<String, u64>,
    pub ff: u64,
    /// CARRY4 (7-series) or CARRY8 (UltraScale) cells.
    pub carry: u64,
    pub dsp: u64,
    /// Block RAM in 36 Kb units (a RAMB18 counts one half).
    pub bram36: f64,
    /// LUTs used as distributed RAM.
    pub lutram: u64,
    /// LUTs used as shift registers (SRL16E / SRLC32E).
    pub srl: u64,
    /// MUXF7/MUXF8/MUXF9 cells.
    pub muxf: u64,
    /// Logic depth: the longest path in cells between registers (`ltp -noff`).
    pub logic_depth: Option<u64>,
    /// Wall-clock time of the Yosys run.
    pub run_s: f64,
    /// Yosys' own CPU time (user + system), independent of machine load.
    pub cpu_s: Option<f64>,
    pub peak_memory_mb: Option<f64>,
    /// Every cell type and its count.
    pub cells: BTreeMap<String, u64>,
}

impl SynthResult {
    /// All LUTs of the slice (logic + LUTRAM + SRL), as Vivado's "Slice LUTs".
    pub fn slice_luts(&self) -> u64 {
        self.lut + self.lutram + self.srl
    }
}

/// The Yosys script: `synth_xilinx` for the family, with three changes that
/// keep the netlist's arithmetic and make Yosys faster on our datapaths
/// (measured on the jet tagger in docs/BENCHMARKS.md, "Hardware (issue 4)"):
///
/// - `maccmap -unmap` after the coarse step. `alumacc` merges every chain of
///   additions whose partial sums have no other reader into one multi-operand
///   `$macc`, which `maccmap` would build as a carry-save tree of full adders
///   (two LUTs per bit per extra operand) in front of one carry chain. Our
///   netlists are already balanced trees of shift-add terms; unmapping gives
///   back two-operand adders on carry chains, one LUT per bit: fewer LUTs and
///   far fewer cells for the later passes.
/// - `-nodsp` when the netlist has no multiplier node (constant weights that
///   became shift-add networks), which skips the DSP inference passes.
/// - ABC's fast LUT-mapping script (`abc -fast`): after the unmap the soft
///   logic is mostly the carry chains' XORs, which it maps as the full
///   script does.
pub fn script(design: &Design, device: &Device) -> String {
    let mut opts = format!(
        "-family {} -top {} -noiopad -noclkbuf",
        device.family.yosys(),
        design.module
    );
    if !has_multipliers(&design.net) {
        opts.push_str(" -nodsp");
    }
    // The `map_luts` step of `synth_xilinx` for 6-input-LUT families with
    // MUXF7/F8/F9, with `abc -fast` in place of `abc`.
    let map_luts = "opt_expr -mux_undef -noclkinv\n\
                    abc -fast -luts 2:2,3,6:5,10,20\n\
                    clean\n\
                    techmap -map +/xilinx/ff_map.v\n\
                    xilinx_srl -fixed -minlen 3\n\
                    techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6\n\
                    xilinx_dffopt\n\
                    opt_lut_ins -tech xilinx\n";
    format!(
        "read_verilog model.v\n\
         synth_xilinx {opts} -flatten -run :fine\n\
         maccmap -unmap\n\
         synth_xilinx {opts} -run fine:map_luts\n\
         {map_luts}\
         synth_xilinx {opts} -run finalize:\n\
         tee -o stat.txt stat\n\
         tee -o ltp.txt ltp -noff * t:FD* %d\n"
    )
}

/// Whether any node needs a hardware multiplier (a DSP block candidate).
fn has_multipliers(net: &Net) -> bool {
    net.nodes
        .iter()
        .any(|n| matches!(n.op, Op::Mul(..) | Op::MulConst(..)))
}

/// Runs Yosys in `dir` (which receives `model.v`, `synth.ys` and the logs).
pub fn run(
    design: &Design,
    device: &Device,
    opts: &SynthOptions,
    dir: &Path,
) -> Result<SynthResult> {
    let yosys = tools::require("yosys")?;
    std::fs::create_dir_all(dir).map_err(|e| Error::HwFile {
        path: dir.display().to_string(),
        detail: e.to_string(),
    })?;
    tools::write_file(&dir.join("model.v"), &design.verilog)?;
    tools::write_file(&dir.join("synth.ys"), &script(design, device))?;
    let run = tools::run(
        &yosys,
        &[
            "-q".into(),
            "-l".into(),
            "yosys.log".into(),
            "-s".into(),
            "synth.ys".into(),
        ],
        dir,
        "yosys",
        opts.limits,
    )?;
    tools::check("yosys", &run, opts.limits)?;
    let stat = tools::read_file(&dir.join("stat.txt"))?;
    let ltp = std::fs::read_to_string(dir.join("ltp.txt")).unwrap_or_default();
    let log = std::fs::read_to_string(dir.join("yosys.log")).unwrap_or_default();
    let mut r = parse_stat(&stat);
    r.logic_depth = parse_ltp(&ltp);
    r.peak_memory_mb = parse_peak_mem(&log);
    r.cpu_s = parse_cpu(&log);
    r.run_s = run.elapsed_s;
    r.family = device.family.yosys().to_string();
    r.tool_version = tools::version("yosys", "-V").unwrap_or_default();
    Ok(r)
}

/// Parses the cell table of `stat` (the last module listed, i.e. the flattened top).
pub fn parse_stat(text: &str) -> SynthResult {
    let mut cells: BTreeMap<String, u64> = BTreeMap::new();
    let mut in_cells = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("===") {
            cells.clear();
            in_cells = false;
            continue;
        }
        if t.starts_with("Number of cells:") {
            in_cells = true;
            continue;
        }
        if !in_cells {
            continue;
        }
        let mut parts = t.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(count), None) => match count.parse::<u64>() {
                Ok(c) => {
                    *cells.entry(name.to_string()).or_default() += c;
                }
                Err(_) => in_cells = false,
            },
            _ => in_cells = !t.is_empty() && in_cells && t.starts_with('$'),
        }
    }
    let mut r = SynthResult::default();
    for (name, &c) in &cells {
        let n = name.as_str();
        match n {
            _ if n.starts_with("LUT") && n.len() == 4 => {
                r.lut += c;
                r.lut_by_size.insert(n.to_string(), c);
            }
            _ if n.starts_with("FD") => r.ff += c,
            "CARRY4" | "CARRY8" => r.carry += c,
            _ if n.starts_with("DSP48") => r.dsp += c,
            "RAMB36E1" | "RAMB36E2" => r.bram36 += c as f64,
            "RAMB18E1" | "RAMB18E2" => r.bram36 += 0.5 * c as f64,
            "SRL16E" | "SRLC32E" | "SRLC16E" => r.srl += c,
            _ if n.starts_with("RAM") && !n.starts_with("RAMB") => {
                r.lutram += lutram_luts(n) * c;
            }
            _ if n.starts_with("MUXF") => r.muxf += c,
            _ => {}
        }
    }
    r.cells = cells;
    r
}

/// LUTs taken by one distributed-RAM primitive.
fn lutram_luts(cell: &str) -> u64 {
    match cell {
        "RAM32M" | "RAM64M" => 4,
        "RAM32M16" | "RAM64M8" => 8,
        "RAM32X1D" | "RAM64X1D" => 2,
        "RAM128X1D" => 4,
        "RAM128X1S" => 2,
        "RAM256X1S" => 4,
        "RAM256X1D" => 8,
        "RAM512X1S" => 8,
        _ => 1,
    }
}

/// `Longest topological path in top (length=N):`
pub fn parse_ltp(text: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.split("length=").nth(1))
        .filter_map(|s| s.split(')').next()?.trim().parse::<u64>().ok())
        .max()
}

/// `... MEM: 123.45 MB peak` at the end of a Yosys log.
pub fn parse_peak_mem(log: &str) -> Option<f64> {
    log.lines()
        .rev()
        .filter_map(|l| l.split("MEM:").nth(1))
        .find_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
}

/// `CPU: user 1.50s system 0.10s` at the end of a Yosys log (user + system).
pub fn parse_cpu(log: &str) -> Option<f64> {
    let line = log.lines().rev().find(|l| l.contains("CPU: user"))?;
    let num = |key: &str| -> Option<f64> {
        line.split(key)
            .nth(1)?
            .split_whitespace()
            .next()?
            .trim_end_matches(['s', ','])
            .parse()
            .ok()
    };
    Some(num("user ")? + num("system ").unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "
=== top ===

   Number of wires:                 12
   Number of wire bits:            345
   Number of public wires:           4
   Number of public wire bits:      40
   Number of memories:               0
   Number of memory bits:            0
   Number of processes:              0
   Number of cells:                 98
     CARRY4                          7
     DSP48E1                         2
     FDRE                           40
     LUT1                            3
     LUT2                           20
     LUT6                            5
     MUXF7                           1
     RAMB18E1                        1
     SRLC32E                         4
     RAM64X1D                        2

";

    #[test]
    fn dsp_inference_only_for_multipliers() {
        let mut net = Net::new(100, 0);
        let a = net.input(0, 0, -128, 127).unwrap();
        let b = net.input(0, 1, -128, 127).unwrap();
        let d = net.sub(a, b).unwrap();
        net.mul_const_node(d, 5).unwrap();
        assert!(!has_multipliers(&net), "shift-add only");
        net.mul(a, b).unwrap();
        assert!(has_multipliers(&net));
    }

    #[test]
    fn stat_is_parsed() {
        let r = parse_stat(STAT);
        assert_eq!(
            (r.lut, r.ff, r.carry, r.dsp, r.srl, r.lutram, r.muxf),
            (28, 40, 7, 2, 4, 4, 1)
        );
        assert_eq!(r.bram36, 0.5);
        assert_eq!(r.lut_by_size["LUT2"], 20);
        assert_eq!(
            parse_ltp("Longest topological path in top (length=17):\n"),
            Some(17)
        );
        assert_eq!(
            parse_peak_mem(
                "End of script. Logfile hash: x, CPU: user 1.0s system 0.1s, MEM: 52.30 MB peak"
            ),
            Some(52.3)
        );
        assert_eq!(
            parse_cpu(
                "End of script. Logfile hash: x, CPU: user 1.50s system 0.25s, MEM: 52.30 MB peak"
            ),
            Some(1.75)
        );
    }
}
