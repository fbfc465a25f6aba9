//! Child processes under limits, and how they are stopped.
//!
//! Every external program we start (Yosys, Verilator, Icarus, and the
//! evaluation child of a worker) runs in a process group of its own, with
//! resource limits set between `fork` and `exec` (so they hold from the first
//! instruction, and hold even if we die), and a parent-death signal. Stopping
//! it is one system call, `killpg`, on that group: never a `kill` subprocess
//! (procps-ng 4.0.2's `kill -KILL -PID` keeps only the first digit of the pid,
//! so `kill -KILL -13838` signalled every process of the machine).
//!
//! A group is only signalled while its leader is known not to be reaped: a
//! zombie leader keeps its pid, so the group id cannot have been reused by
//! an unrelated process. [`wait_until`] waits with `WNOWAIT` for that reason.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! let mut cmd = std::process::Command::new("yosys");
//! procgroup::prepare(&mut cmd, procgroup::Limits { cpu_seconds: Some(60), address_space_bytes: None });
//! let mut child = cmd.spawn().unwrap();
//! match procgroup::wait_until(&mut child, Instant::now() + Duration::from_secs(60)).unwrap() {
//!     procgroup::Waited::Exited(status) => println!("{status}"),
//!     procgroup::Waited::TimedOut => println!("killed at the deadline"),
//! }
//! ```

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Resource limits of a child, applied with `setrlimit` before `exec`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds (`RLIMIT_CPU`): the kernel sends SIGKILL past it.
    pub cpu_seconds: Option<u64>,
    /// Address space in bytes (`RLIMIT_AS`): allocations past it fail.
    pub address_space_bytes: Option<u64>,
}

/// Make `cmd` start in a process group of its own (its pid is the group id),
/// under `limits`, and killed by the kernel if the process that started it
/// dies.
pub fn prepare(cmd: &mut Command, limits: Limits) {
    cmd.process_group(0);
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (setrlimit, prctl, getppid, _exit); it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(seconds) = limits.cpu_seconds {
                set_limit(libc::RLIMIT_CPU, seconds)?;
            }
            if let Some(bytes) = limits.address_space_bytes {
                set_limit(libc::RLIMIT_AS, bytes)?;
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: a plain system call on a stack value.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Send SIGKILL to the process group `pgid` (a child started through
/// [`prepare`], whose pid is its group id), with the `killpg` system call.
/// Group ids 0 and 1 are refused: `killpg(0)` is our own group and a group
/// id of 1 is init's. A group that no longer exists is not an error.
///
/// Call it only while the group's leader has not been reaped (see the crate
/// documentation).
pub fn kill_group(pgid: u32) -> io::Result<()> {
    let Ok(id) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid out of range",
        ));
    };
    if id <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process group {id}"),
        ));
    }
    // SAFETY: a plain system call.
    if unsafe { libc::killpg(id, libc::SIGKILL) } != 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ESRCH) {
            return Err(error);
        }
    }
    Ok(())
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Exited(ExitStatus),
    /// The deadline passed: the whole group was killed (and the leader reaped).
    TimedOut,
}

/// Wait for `child` (started through [`prepare`]) until `deadline`. At the
/// deadline its whole process group is killed. When it exits on its own, what
/// it left running in its group is killed too. Either way the group is
/// signalled before the leader is reaped.
pub fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Waited> {
    let pid = child.id();
    let mut pause = Duration::from_millis(1);
    loop {
        if exited_unreaped(pid)? {
            kill_group(pid)?;
            return Ok(Waited::Exited(child.wait()?));
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(pid)?;
            child.wait()?;
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Has the process `pid` (our child) exited? It stays a zombie: not reaped.
fn exited_unreaped(pid: u32) -> io::Result<bool> {
    // SAFETY: siginfo_t is plain data; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: a plain system call on our own child.
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: si_pid is valid for SIGCHLD-style results; 0 means no change.
    Ok(unsafe { info.si_pid() } != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_zero_and_one_are_never_signalled() {
        assert!(kill_group(0).is_err());
        assert!(kill_group(1).is_err());
        assert!(kill_group(u32::MAX).is_err());
    }
}
