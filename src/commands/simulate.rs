//! `arena simulate MODEL.onnx --input IN.parquet [--column x] --output OUT.parquet [--config CFG]`:
//! run the bit-exact simulator over a Parquet file, batch by batch.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

/// Arguments of `arena simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The ONNX or QONNX model.
    pub model: PathBuf,
    /// Input Parquet file (one sample per row).
    #[arg(long)]
    pub input: PathBuf,
    /// Input column (FixedSizeList<Float32|Float64>); default `x`, else all numeric columns.
    #[arg(long)]
    pub column: Option<String>,
    /// Output Parquet file, with one column `y`.
    #[arg(long)]
    pub output: PathBuf,
    /// hls4ml-style precision configuration (YAML or JSON) for float models.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rows per batch.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
}

/// Streams the input through the simulator, printing progress to stderr.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let model = super::compile::load(&args.model, args.config.as_deref())?;
    let input =
        File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
    let output = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut last = Instant::now();
    let stats = toolflow::simulate_parquet(
        &model,
        input,
        BufWriter::new(output),
        args.column.as_deref(),
        args.batch_size,
        |s| {
            if last.elapsed().as_secs_f64() >= 1.0 {
                eprintln!("{} rows, {:.0} rows/s", s.rows, s.rows_per_second());
                last = Instant::now();
            }
        },
    )
    .with_context(|| format!("simulating {}", args.input.display()))?;
    eprintln!(
        "done: {} rows in {:.2} s ({:.0} rows/s) -> {}",
        stats.rows,
        stats.seconds,
        stats.rows_per_second(),
        args.output.display()
    );
    Ok(())
}
