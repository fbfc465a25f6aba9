//! The external tools (Yosys, Verilator, Icarus) run under the limits of
//! `RunLimits`: CPU time and address space (set before `exec`) and wall-clock
//! time (the tool's process group is killed with `killpg`, and nothing else).
//! Checked with a shell and Python, which report and hit the limits the same
//! way a tool would.

use std::path::{Path, PathBuf};
use std::time::Instant;

use toolflow::hw::tools::{RunLimits, run, which};

fn workdir(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shell(script: &str, dir: &Path, limits: RunLimits) -> toolflow::hw::tools::ToolRun {
    run(
        Path::new("/bin/sh"),
        &["-c".to_owned(), script.to_owned()],
        dir,
        "sh",
        limits,
    )
    .unwrap()
}

#[test]
fn tools_run_under_cpu_memory_and_wall_clock_limits() {
    let dir = workdir("tool-limits");
    let limits = RunLimits {
        timeout_s: 7,
        memory_mib: 256,
    };

    // The limits the tool sees: CPU seconds (the wall-clock limit plus one,
    // so the wall-clock kill comes first) and address space in KiB.
    let seen = shell("ulimit -t; ulimit -v", &dir, limits);
    assert!(seen.success, "{}", seen.stderr);
    assert_eq!(
        seen.stdout.split_whitespace().collect::<Vec<_>>(),
        ["8", "262144"]
    );

    // A tool that allocates past the address-space limit fails.
    if let Some(python) = which("python3") {
        let args = [
            "-c".to_owned(),
            "b = bytearray(512 << 20); print(len(b))".to_owned(),
        ];
        let hog = run(&python, &args, &dir, "hog", limits).unwrap();
        assert!(
            !hog.success,
            "512 MiB allocated under a 256 MiB limit: {}",
            hog.stdout
        );
        assert!(hog.stderr.contains("MemoryError"), "{}", hog.stderr);
    }

    let _ = std::fs::remove_dir_all(&dir);
}

/// Is `pid` gone (or a zombie waiting for whoever adopted it)?
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn pid_in(dir: &Path, file: &str) -> u32 {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits a little for the kernel to finish delivering a SIGKILL.
fn soon_dead(pid: u32) -> bool {
    let until = Instant::now() + std::time::Duration::from_secs(2);
    while Instant::now() < until {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    dead(pid)
}

/// A timed-out tool and its children are killed; processes outside its group
/// (a neighbour of the test, and one the tool moved to a session of its own)
/// are left alone.
#[test]
fn a_timeout_kills_the_tools_group_and_nothing_else() {
    let dir = workdir("tool-timeout");
    let mut neighbour = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let started = Instant::now();
    let spin = shell(
        "sleep 60 & echo $! > child.pid; setsid sleep 60 & echo $! > escaped.pid; \
         while :; do :; done",
        &dir,
        RunLimits {
            timeout_s: 1,
            memory_mib: 0,
        },
    );
    assert!(spin.timed_out && !spin.success);
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "{:?}",
        started.elapsed()
    );
    let (child, escaped) = (pid_in(&dir, "child.pid"), pid_in(&dir, "escaped.pid"));
    assert!(soon_dead(child), "the tool's child {child} survived");
    assert!(!dead(escaped), "a process outside the group was signalled");
    assert!(
        neighbour.try_wait().unwrap().is_none(),
        "the test's own neighbour process was signalled"
    );
    let _ = neighbour.kill();
    let _ = neighbour.wait();
    // It leads a session (and group) of its own, so its group is just itself.
    procgroup::kill_group(escaped).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a tool leaves running in its group when it exits is killed with it.
#[test]
fn a_finished_tool_leaves_nothing_running() {
    let dir = workdir("tool-leftover");
    let run = shell(
        "sleep 60 & echo $! > child.pid; exit 0",
        &dir,
        RunLimits {
            timeout_s: 30,
            memory_mib: 0,
        },
    );
    assert!(run.success && !run.timed_out, "{}", run.stderr);
    let child = pid_in(&dir, "child.pid");
    assert!(
        soon_dead(child),
        "the tool's background child {child} survived"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
