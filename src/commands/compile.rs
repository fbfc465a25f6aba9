//! `arena compile MODEL.onnx [--config CFG] [--json]`: compile an ONNX/QONNX
//! model to the fixed-point IR and print its summary.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `arena compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The ONNX or QONNX model.
    pub model: PathBuf,
    /// hls4ml-style precision configuration (YAML or JSON) for float models.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Reads the model (and configuration), compiles it and prints the summary.
pub fn run(args: CompileArgs) -> anyhow::Result<()> {
    let model = load(&args.model, args.config.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(model.summary())?);
    } else {
        print!("{}", model.summary().to_table());
    }
    Ok(())
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
