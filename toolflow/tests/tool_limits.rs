//! The external tools (Yosys, Verilator, Icarus) run under the limits of
//! `RunLimits`: CPU time and address space (through `prlimit`) and wall-clock
//! time (the process group is killed). Checked with a shell and Python, which
//! report and hit the limits the same way a tool would.

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
    assert!(
        which("prlimit").is_some(),
        "prlimit (util-linux) is needed for the tool limits"
    );
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

    // A tool that spins is killed at the wall-clock limit (with its children).
    let started = Instant::now();
    let spin = shell(
        "sleep 30 & while :; do :; done",
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
    let _ = std::fs::remove_dir_all(&dir);
}
