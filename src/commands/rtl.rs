//! `arena rtl MODEL.onnx --out DIR [--config CFG] [--target PART] [--clock-ns 5]
//! [--cosim N] [--synth]`: writes the Verilog, a testbench, a Vivado build
//! script and `report.json` (estimate, and co-simulation / synthesis when
//! asked for and installed).

use std::path::{Path, PathBuf};

use anyhow::Context;
use toolflow::hw::devices;
use toolflow::hw::report::{self, FlowOptions};
use toolflow::hw::tools::RunLimits;

/// Arguments of `arena rtl`.
#[derive(Debug, clap::Args)]
pub struct RtlArgs {
    /// The ONNX or QONNX model.
    pub model: PathBuf,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// hls4ml-style precision configuration (YAML or JSON) for float models.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// FPGA part (xc7a35t, xc7a100t, xc7z020, xcku115, xcvu9p, xcvu13p, ...).
    #[arg(long, default_value = devices::DEFAULT_DEVICE)]
    pub target: String,
    /// Clock period in ns.
    #[arg(long, default_value_t = devices::DEFAULT_CLOCK_NS)]
    pub clock_ns: f64,
    /// Co-simulate this many random vectors against the simulator (Verilator, else Icarus).
    #[arg(long)]
    pub cosim: Option<usize>,
    /// Synthesize with Yosys (synth_xilinx for the target's family).
    #[arg(long)]
    pub synth: bool,
    /// Name of the generated top module.
    #[arg(long, default_value = "arena_top")]
    pub module: String,
    /// Time limit of each external tool run, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_s: u64,
    /// Memory limit of each external tool run, in MiB.
    #[arg(long, default_value_t = 16384)]
    pub memory_mib: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// Runs the hardware flow and writes its files.
pub fn run(args: RtlArgs) -> anyhow::Result<()> {
    let model = super::compile::load(&args.model, args.config.as_deref())?;
    let device = devices::device(&args.target)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let limits = RunLimits {
        timeout_s: args.timeout_s,
        memory_mib: args.memory_mib,
    };
    let mut opts = FlowOptions {
        module: toolflow::hw::rtl::module_name(&args.module),
        clock_ns: args.clock_ns,
        cosim_vectors: args.cosim,
        synth: args.synth,
        ..Default::default()
    };
    opts.cosim.limits = limits;
    opts.synth_opts.limits = limits;
    let name = args
        .model
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().to_string());
    let out = report::flow(&model, &name, device, &opts, &args.out)?;
    let mut files = Vec::new();
    for (name, text) in out.files()? {
        files.push(write(&args.out, &name, &text)?);
    }
    let json = serde_json::to_string_pretty(&out.report)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", out.report.table());
        for f in &files {
            println!("wrote {}", f.display());
        }
    }
    if let report::Step::Ok { result } = &out.report.cosim
        && result.mismatches > 0
    {
        anyhow::bail!(
            "co-simulation: {} of {} vectors differ from the simulator (see {})",
            result.mismatches,
            result.vectors,
            args.out.join("cosim").display()
        );
    }
    Ok(())
}
