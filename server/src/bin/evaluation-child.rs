//! `evaluation-child DIR`: one evaluation in a process of its own, as a
//! worker starts it. Production workers run the same function as
//! `arena evaluate-child DIR`; this binary exists so the server's tests (which
//! run real workers in process) have an evaluation child that cargo builds
//! with them (`CARGO_BIN_EXE_evaluation-child`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: evaluation-child DIR");
        return ExitCode::from(2);
    };
    ExitCode::from(worker::evaluate::child::main(std::path::Path::new(&dir)) as u8)
}
