//! `arena compile MODEL.onnx [--config CFG] [--target PART] [--clock-ns 5]
//! [--json]`: compile an ONNX/QONNX model to the fixed-point IR and print its
//! summary with the analytical hardware estimate (milliseconds, no external
//! tool).

use std::path::PathBuf;

use anyhow::Context;
use toolflow::hw::{devices, estimate};

/// Arguments of `arena compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The ONNX or QONNX model.
    pub model: PathBuf,
    /// hls4ml-style precision configuration (YAML or JSON) for float models.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// FPGA part of the hardware estimate (xc7a35t, xc7a100t, xc7z020, xcku115, xcvu9p, xcvu13p, ...).
    #[arg(long, default_value = devices::DEFAULT_DEVICE)]
    pub target: String,
    /// Clock period of the hardware estimate, in ns.
    #[arg(long, default_value_t = devices::DEFAULT_CLOCK_NS)]
    pub clock_ns: f64,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Reads the model (and configuration), compiles it and prints the summary.
pub fn run(args: CompileArgs) -> anyhow::Result<()> {
    let model = load(&args.model, args.config.as_deref())?;
    let device = devices::device(&args.target)?;
    // A model the simulator runs but the hardware tier cannot price still
    // gets its summary; the estimate then says why it is missing.
    let estimate = estimate::estimate(&model, device, args.clock_ns);
    if args.json {
        // The summary's fields stay at the top level; the estimate is one more.
        let mut out = serde_json::to_value(model.summary())?;
        if let Some(fields) = out.as_object_mut() {
            let (value, error) = match &estimate {
                Ok(e) => (serde_json::to_value(e)?, serde_json::Value::Null),
                Err(e) => (serde_json::Value::Null, e.to_string().into()),
            };
            fields.insert("estimate".into(), value);
            fields.insert("estimate_error".into(), error);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", model.summary().to_table());
        match &estimate {
            Ok(e) => print!("{}", estimate_table(e)),
            Err(e) => println!("\nestimate: not available: {e}"),
        }
    }
    Ok(())
}

/// The estimate as a few human lines under the layer table.
fn estimate_table(e: &estimate::Estimate) -> String {
    format!(
        "\nestimate ({} at {} ns, {} in {:.1} ms):\n  LUT {}  (+{} SRL)  FF {}  DSP {}  BRAM36 {}  CARRY {}\n  latency {} cycles = {:.1} ns, II {}, Fmax ~{:.0} MHz\n",
        e.device,
        e.clock_ns,
        e.method,
        e.elapsed_ms,
        e.lut,
        e.srl,
        e.ff,
        e.dsp,
        e.bram36,
        e.carry,
        e.latency_cycles,
        e.latency_ns,
        e.ii,
        e.fmax_mhz
    )
}

/// Reads and compiles a model with default limits; shared with `arena simulate`.
pub fn load(
    model: &std::path::Path,
    config: Option<&std::path::Path>,
) -> anyhow::Result<toolflow::CompiledModel> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let cfg = match config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                toolflow::PrecisionConfig::parse(&text)
                    .with_context(|| format!("in {}", p.display()))?,
            )
        }
        None => None,
    };
    toolflow::compile(&bytes, cfg.as_ref(), &toolflow::Limits::default())
        .with_context(|| format!("compiling {}", model.display()))
}
