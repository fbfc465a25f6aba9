//! Subprocess runner for the external tools (Verilator, Icarus, Yosys):
//! a work directory handed in by the caller, a wall-clock limit (the whole
//! process group is killed, with `killpg`), CPU-time and address-space limits
//! set before `exec` (the `procgroup` crate), and stdout/stderr captured to
//! files in the work directory. This is the only place the toolflow starts
//! processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Limits of one tool run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RunLimits {
    pub timeout_s: u64,
    /// Address-space limit in MiB (0 = none).
    pub memory_mib: u64,
}

/// Outcome of one tool run.
#[derive(Debug, Clone)]
pub struct ToolRun {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub elapsed_s: f64,
    pub stdout: String,
    pub stderr: String,
}

/// How to install a tool on Debian/Ubuntu.
pub fn install_hint(tool: &str) -> String {
    let pkg = match tool {
        "iverilog" | "vvp" => "iverilog",
        other => other,
    };
    format!("install it with `apt-get install -y {pkg}` (or `scripts/install-system-packages`)")
}

/// Finds an executable on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The tool's path, or `Error::ToolMissing` with an install hint.
pub fn require(tool: &str) -> Result<PathBuf> {
    which(tool).ok_or_else(|| Error::ToolMissing {
        tool: tool.to_string(),
        hint: install_hint(tool),
    })
}

/// First line of `tool --version` (or `-V`), if the tool runs.
pub fn version(tool: &str, flag: &str) -> Option<String> {
    let path = which(tool)?;
    let out = Command::new(path)
        .arg(flag)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// Writes a file in a work directory.
pub fn write_file(path: &Path, data: &str) -> Result<()> {
    std::fs::write(path, data).map_err(|e| Error::HwFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Reads a file from a work directory.
pub fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::HwFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Runs `program args...` in `dir` under `limits`; output goes to `<log>.out` / `<log>.err`.
///
/// The tool runs in a process group of its own (`procgroup`): at the
/// wall-clock limit the whole group is killed with `killpg`, and whatever the
/// tool leaves running in its group when it exits is killed too. Each process
/// also has a CPU-time limit (one second above the wall-clock limit, so a
/// single-threaded tool meets the clear "timed out" first; it still holds if
/// this process dies) and the address-space limit, both set before `exec`.
pub fn run(
    program: &Path,
    args: &[String],
    dir: &Path,
    log: &str,
    limits: RunLimits,
) -> Result<ToolRun> {
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let io = |e: std::io::Error, what: &str| Error::Tool {
        tool: name.clone(),
        detail: format!("{what}: {e}"),
    };
    let out_path = dir.join(format!("{log}.out"));
    let err_path = dir.join(format!("{log}.err"));
    let out = std::fs::File::create(&out_path).map_err(|e| io(e, "cannot create log"))?;
    let err = std::fs::File::create(&err_path).map_err(|e| io(e, "cannot create log"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    procgroup::prepare(
        &mut cmd,
        procgroup::Limits {
            cpu_seconds: Some(limits.timeout_s.max(1) + 1),
            address_space_bytes: (limits.memory_mib > 0)
                .then(|| limits.memory_mib.saturating_mul(1 << 20)),
        },
    );
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| io(e, "cannot start"))?;
    let deadline = start + Duration::from_secs(limits.timeout_s.max(1));
    let waited = procgroup::wait_until(&mut child, deadline).map_err(|e| io(e, "wait failed"))?;
    let (status, timed_out) = match waited {
        procgroup::Waited::Exited(status) => (Some(status), false),
        procgroup::Waited::TimedOut => (None, true),
    };
    let elapsed_s = start.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Ok(ToolRun {
        success: status.is_some_and(|s| s.success()),
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        elapsed_s,
        stdout,
        stderr,
    })
}

/// The last `n` lines of a log, for error messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Turns a failed run into an error.
pub fn check(tool: &str, run: &ToolRun, limits: RunLimits) -> Result<()> {
    if run.timed_out {
        return Err(Error::Tool {
            tool: tool.to_string(),
            detail: format!("timed out after {} s (limit)", limits.timeout_s),
        });
    }
    if !run.success {
        return Err(Error::Tool {
            tool: tool.to_string(),
            detail: format!(
                "exit code {:?}:\n{}",
                run.exit_code,
                tail(&format!("{}\n{}", run.stdout, run.stderr), 20)
            ),
        });
    }
    Ok(())
}
