//! `arena`: the one binary of FastML Arena. See `arena --help`.

mod commands;
mod config;
mod platform;
mod seed;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "arena",
    version,
    about = "FastML Arena: FAIR challenges and benchmarks for fast machine learning on FPGAs"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything on embedded defaults: database, migrations, demo content, server and workers.
    Up,
    /// Serve HTTP only (no workers).
    Serve,
    /// Run workers only (no HTTP): claim jobs from the database and run them.
    Worker(commands::worker::WorkerArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage the private PostgreSQL cluster.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// Compile an ONNX/QONNX model to the fixed-point IR and print its summary.
    Compile(commands::compile::CompileArgs),
    /// Generate Verilog, a testbench and a hardware report; optionally co-simulate and synthesize.
    Rtl(commands::rtl::RtlArgs),
    /// Run the bit-exact simulator over a Parquet file.
    Simulate(commands::simulate::SimulateArgs),
    /// Create, update, check or import challenges.
    #[command(subcommand)]
    Challenge(commands::challenge::ChallengeCommand),
    /// Submit a model to a challenge on a running server.
    Submit(commands::submit::SubmitArgs),
    /// Generate demo datasets, or import a dataset version from a manifest.
    #[command(subcommand)]
    Dataset(commands::dataset::DatasetCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Grant and revoke roles (organizer, admin).
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Run one evaluation in this process (a worker starts this child under
    /// its limits; not for people).
    #[command(hide = true)]
    EvaluateChild {
        /// The work directory holding request.json, the model and the split.
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::EvaluateChild { dir } = &cli.command {
        // No runtime, no logging set-up: the child reports through its events.
        return ExitCode::from(worker::evaluate::child::main(dir) as u8);
    }
    init_logging(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up => commands::up::run(&cli.config).await,
            Command::Serve => commands::serve::run(&cli.config).await,
            Command::Worker(args) => commands::worker::run(&cli.config, args).await,
            Command::Migrate => commands::migrate::run(&cli.config).await,
            Command::Db(command) => commands::db::run(&cli.config, command).await,
            Command::Compile(args) => commands::compile::run(args),
            Command::Simulate(args) => commands::simulate::run(args),
            Command::Rtl(args) => commands::rtl::run(args),
            Command::Challenge(command) => commands::challenge::run(&cli.config, command).await,
            Command::Submit(args) => commands::submit::run(args).await,
            Command::Token(command) => commands::token::run(&cli.config, command).await,
            Command::User(command) => commands::user::run(&cli.config, command).await,
            Command::Dataset(command) => commands::dataset::run(&cli.config, command).await,
            Command::EvaluateChild { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line: the error and its causes, no backtrace.
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn error_chain(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ARENA_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
