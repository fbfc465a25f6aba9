//! Starting an evaluation child, watching it, and stopping it.
//!
//! The child is `PROGRAM ARGS... DIR` (in production `arena evaluate-child
//! DIR`): a process group of its own, an address-space limit (`RLIMIT_AS`),
//! a CPU-time backstop, a parent-death signal, an empty environment (it needs
//! no secret), and a wall-clock deadline kept by the worker. While it runs,
//! the worker polls the submission every half second and kills the child the
//! moment it is cancelled or disqualified; a worker that shuts down drops the
//! child, which kills it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use tokio_util::codec::{FramedRead, LinesCodec};
use uuid::Uuid;

use super::Stop;
use super::admission::EvalLimits;
use super::log::Log;
use super::protocol::{Event, Outcome, REQUEST_FILE, Request};

/// How a worker starts evaluation children.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The executable (the `arena` binary).
    pub program: PathBuf,
    /// Arguments before the work directory (`["evaluate-child"]`).
    pub args: Vec<String>,
    /// The site's limits of one evaluation (a challenge may lower them).
    pub limits: EvalLimits,
    /// Where work directories are made.
    pub scratch: PathBuf,
}

impl Sandbox {
    /// Children run by `program evaluate-child DIR`, with the default limits,
    /// in the system's temporary directory.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Sandbox {
            program: program.into(),
            args: vec!["evaluate-child".to_owned()],
            limits: EvalLimits::default(),
            scratch: std::env::temp_dir(),
        }
    }
}

/// How often a running child's submission is checked for a cancellation.
const POLL: Duration = Duration::from_millis(500);
/// Longest event line the worker reads from a child.
const MAX_EVENT_BYTES: usize = 1 << 20;
/// Bytes of the child's standard error kept for the organizers' log.
const STDERR_TAIL: usize = 4 << 10;

/// A work directory, removed with everything in it when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(root: &Path, id: Uuid) -> std::io::Result<Scratch> {
        let dir = root.join(format!("arena-eval-{id}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child whose process group is killed when this is dropped, unless it was
/// reaped (tokio's `id()` is `None` once the child has been waited for, so a
/// group id is never signalled after its leader is gone).
struct Guard(Child);

impl Guard {
    fn kill(&mut self) {
        if let Some(pid) = self.0.id()
            && let Err(e) = procgroup::kill_group(pid)
        {
            tracing::warn!(error = %e, pid, "cannot kill an evaluation child");
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How watching a child ended, before its exit status is read.
enum Watch {
    Done(Outcome),
    /// Its output ended without an outcome (it died).
    Ended,
    TimedOut,
    Cancelled,
}

impl Sandbox {
    /// Run the child on `request` until its outcome, a limit or a cancellation.
    pub(super) async fn run(
        &self,
        pool: &PgPool,
        id: Uuid,
        scratch: &Scratch,
        request: &Request,
        log: &mut Log,
    ) -> Result<Outcome, Stop> {
        let json = serde_json::to_vec(request).map_err(super::platform)?;
        std::fs::write(scratch.path(REQUEST_FILE), json).map_err(super::platform)?;
        let stderr_path = scratch.path("stderr.txt");
        let mut child = Guard(self.spawn(scratch, &stderr_path, &request.limits)?);
        let stdout = child
            .0
            .stdout
            .take()
            .ok_or_else(|| Stop::Platform("the child has no standard output".into()))?;
        let mut events = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_EVENT_BYTES));
        let limits = request.limits;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(limits.seconds.max(1));
        let watched = watch(pool, id, &mut events, deadline, log).await?;
        let outcome = match watched {
            Watch::Done(outcome) => Ok(outcome),
            Watch::Cancelled => {
                child.kill();
                Err(Stop::Cancelled)
            }
            Watch::TimedOut => {
                child.kill();
                Ok(over_limit(format!(
                    "the evaluation ran past its time limit of {} s and was stopped",
                    limits.seconds
                )))
            }
            Watch::Ended => Ok(died(child_status(&mut child).await, &stderr_path, &limits)),
        };
        // Whatever happened, nothing of the child outlives this evaluation.
        child.kill();
        let _ = child.0.wait().await;
        outcome
    }

    fn spawn(&self, scratch: &Scratch, stderr: &Path, limits: &EvalLimits) -> Result<Child, Stop> {
        let stderr = std::fs::File::create(stderr).map_err(super::platform)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .arg(&scratch.0)
            .env_clear()
            .env("RAYON_NUM_THREADS", limits.threads.to_string())
            // Few malloc arenas: each reserves 64 MiB of address space.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        procgroup::prepare(
            cmd.as_std_mut(),
            procgroup::Limits {
                // A backstop to the wall clock should this worker die.
                cpu_seconds: Some(limits.seconds.saturating_mul(limits.threads.max(1)) + 10),
                address_space_bytes: Some(limits.memory_mib.saturating_mul(1 << 20)),
            },
        );
        cmd.spawn().map_err(|e| {
            Stop::Platform(format!(
                "cannot start the evaluation child {}: {e}",
                self.program.display()
            ))
        })
    }
}

/// Read the child's events until it is done, ends, runs out of time or its
/// submission is cancelled.
async fn watch(
    pool: &PgPool,
    id: Uuid,
    events: &mut FramedRead<tokio::process::ChildStdout, LinesCodec>,
    deadline: tokio::time::Instant,
    log: &mut Log,
) -> Result<Watch, Stop> {
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            line = events.next() => {
                let Some(line) = line else { return Ok(Watch::Ended) };
                let line = line.map_err(|e| Stop::Platform(format!("reading the child's events: {e}")))?;
                let event: Event = serde_json::from_str(&line)
                    .map_err(|e| Stop::Platform(format!("a malformed event from the child: {e}")))?;
                match event {
                    Event::Step { step } => {
                        let status = step.status();
                        log.line(&format!("{status}..."));
                        log.start_step(status);
                        if !db::submissions::advance(pool, id, status).await.map_err(super::platform)? {
                            return Ok(Watch::Cancelled);
                        }
                    }
                    Event::Log { audience, line } => log.add(audience, &line),
                    Event::Done { outcome } => return Ok(Watch::Done(outcome)),
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(Watch::TimedOut),
            _ = poll.tick() => {
                if !db::submissions::running(pool, id).await.map_err(super::platform)? {
                    return Ok(Watch::Cancelled);
                }
            }
        }
    }
}

async fn child_status(child: &mut Guard) -> Option<ExitStatus> {
    // Its output has closed, so it is exiting; a child that closed its output
    // and lingers is killed after a moment.
    match tokio::time::timeout(Duration::from_secs(5), child.0.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => None,
    }
}

/// A limit stopped the evaluation: the submission fails, without a retry.
fn over_limit(message: String) -> Outcome {
    Outcome::Failed {
        message,
        detail: None,
    }
}

/// The child ended without an outcome: it ran out of memory, or crashed.
fn died(status: Option<ExitStatus>, stderr: &Path, limits: &EvalLimits) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let text = std::fs::read(stderr).unwrap_or_default();
    let tail =
        String::from_utf8_lossy(&text[text.len().saturating_sub(STDERR_TAIL)..]).into_owned();
    // Rust's allocation-failure handler prints this before it aborts.
    if tail.contains("memory allocation of") {
        return over_limit(format!(
            "the evaluation ran out of its memory limit of {} MiB and was stopped",
            limits.memory_mib
        ));
    }
    let how = match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(libc_signal)) => format!("signal {libc_signal}"),
            _ => "an unknown status".to_owned(),
        },
        None => "no exit status".to_owned(),
    };
    Outcome::Failed {
        message: format!(
            "the evaluation stopped unexpectedly ({how}); the organizers can see its output"
        ),
        detail: Some(format!("evaluation child ended with {how}: {tail}")),
    }
}
