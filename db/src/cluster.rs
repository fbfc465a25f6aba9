//! A private PostgreSQL cluster run from the system's server binaries.
//!
//! `arena` uses this when no `ARENA_DATABASE_URL` is given, and the test harness
//! uses it for every test that needs a database. The cluster lives in a data
//! directory of ours, listens on loopback TCP only (no Unix socket, so it never
//! collides with a system PostgreSQL), and authenticates with a generated
//! password kept beside it. When we run as root the server runs as the
//! `postgres` system user, because PostgreSQL refuses to run as root.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::error::{Error, Result};

/// The role and database the platform uses inside a private cluster.
pub const ROLE: &str = "arena";
pub const DATABASE: &str = "arena";

/// How long we wait for a starting server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before we ask for an immediate one.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to run a private cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Directory that holds everything of the cluster: `pgdata/`, the password file and the log.
    pub dir: PathBuf,
    /// Port to listen on; `None` picks a free loopback port at each start.
    pub port: Option<u16>,
    /// Stop the server when the process that started it dies (even by SIGKILL).
    /// `arena up` wants this; the test harness shares one cluster across test
    /// processes and so does not.
    pub stop_with_parent: bool,
    /// Skip fsync (test clusters only: faster, not crash-safe).
    pub fsync: bool,
}

impl ClusterOptions {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            dir: dir.into(),
            port: None,
            stop_with_parent: true,
            fsync: true,
        }
    }
}

/// A running private cluster. Call [`Cluster::stop`] to shut it down; a cluster
/// that was already running when we found it (another `arena` process owns it)
/// is left running.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    password: String,
    server: Option<Supervisor>,
}

/// The thread that started the server and owns it. The parent-death signal of
/// the server is tied to the thread that forked it (not to the process), so
/// that thread must live exactly as long as the server: it waits for the stop
/// request, stops the server, and only then exits.
#[derive(Debug)]
struct Supervisor {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Result<()>>,
    /// Set when the server exited on its own (with its status).
    exited: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Supervisor {
    fn start(spawn: impl FnOnce() -> Result<Child> + Send + 'static) -> Result<Supervisor> {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<()>>();
        let exited = std::sync::Arc::new(std::sync::Mutex::new(None));
        let exited_in_thread = exited.clone();
        let thread = std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || {
                let mut child = match spawn() {
                    Ok(child) => {
                        let _ = started_tx.send(Ok(()));
                        child
                    }
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return Ok(());
                    }
                };
                loop {
                    match stop_rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            return stop_child(child);
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if let Ok(Some(status)) = child.try_wait() {
                                if let Ok(mut slot) = exited_in_thread.lock() {
                                    *slot = Some(status.to_string());
                                }
                                // Stay until asked to stop, so `stop` has one path.
                                let _ = stop_rx.recv();
                                return Ok(());
                            }
                        }
                    }
                }
            })
            .map_err(Error::io("starting the supervisor thread"))?;
        started_rx.recv().map_err(|_| Error::Tool {
            tool: "postgres".into(),
            detail: "the supervisor thread died".into(),
        })??;
        Ok(Supervisor {
            stop: stop_tx,
            thread,
            exited,
        })
    }

    fn exit_status(&self) -> Option<String> {
        self.exited.lock().ok().and_then(|slot| slot.clone())
    }

    fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| Error::Tool {
            tool: "postgres".into(),
            detail: "the supervisor thread panicked".into(),
        })?
    }
}

/// The PostgreSQL server programs we need.
#[derive(Debug, Clone)]
struct Binaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

/// The user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Start the cluster in `options.dir` (creating it on first use), or attach to
    /// the one already running there.
    pub async fn start(options: &ClusterOptions) -> Result<Cluster> {
        let options = options.clone();
        tokio::task::spawn_blocking(move || start_blocking(&options))
            .await
            .map_err(|e| Error::Tool {
                tool: "cluster start".into(),
                detail: e.to_string(),
            })?
    }

    /// The connection URL for the platform's database (contains the password).
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The connection URL for another database of this cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{ROLE}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this process started the server (and so stops it).
    pub fn is_owned(&self) -> bool {
        self.server.is_some()
    }

    /// Fast shutdown: active sessions are disconnected, the server checkpoints and exits.
    pub async fn stop(mut self) -> Result<()> {
        let Some(server) = self.server.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || server.stop())
            .await
            .map_err(|e| Error::Tool {
                tool: "cluster stop".into(),
                detail: e.to_string(),
            })?
    }
}

/// Stop the server running in the cluster at `dir` (started by any process).
/// Returns whether one was running.
pub fn stop_running(dir: &Path) -> Result<bool> {
    let dir = cluster_dir(dir, run_as()?)?;
    let pgdata = dir.join("pgdata");
    if running_port(&pgdata).is_none() {
        return Ok(false);
    }
    let Some(pid) = fs::read_to_string(pgdata.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
    else {
        return Ok(false);
    };
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(true)
}

/// The state of the cluster at `dir`: its port when running.
pub fn running(dir: &Path) -> Result<Option<u16>> {
    let dir = cluster_dir(dir, run_as()?)?;
    Ok(running_port(&dir.join("pgdata")))
}

fn start_blocking(options: &ClusterOptions) -> Result<Cluster> {
    let binaries = find_binaries()?;
    let run_as = run_as()?;
    let dir = cluster_dir(&options.dir, run_as)?;
    let pgdata = dir.join("pgdata");
    let password = ensure_password(&dir)?;

    // Serialise concurrent starters (parallel test processes) on one lock file.
    let _lock = DirLock::acquire(&dir.join("start.lock"))?;

    if let Some(port) = running_port(&pgdata) {
        tracing::info!(port, dir = %dir.display(), "attaching to the running private PostgreSQL");
        let cluster = Cluster {
            dir,
            port,
            password,
            server: None,
        };
        wait_ready(&cluster.url_for("postgres"), &cluster.dir, None)?;
        return Ok(cluster);
    }

    if !pgdata.join("PG_VERSION").exists() {
        init_cluster(&binaries, run_as, &dir, &pgdata, &password)?;
    }
    let port = match options.port {
        Some(port) => ensure_port_free(port)?,
        None => free_port()?,
    };
    let server = {
        let (dir, pgdata, options) = (dir.clone(), pgdata.clone(), options.clone());
        Supervisor::start(move || spawn_server(&binaries, run_as, &dir, &pgdata, port, &options))?
    };
    let mut cluster = Cluster {
        dir,
        port,
        password,
        server: Some(server),
    };
    let admin_url = cluster.url_for("postgres");
    if let Err(e) = wait_ready(&admin_url, &cluster.dir, cluster.server.as_ref()) {
        if let Some(server) = cluster.server.take() {
            let _ = server.stop();
        }
        return Err(e);
    }
    create_database(&cluster)?;
    tracing::info!(port, dir = %cluster.dir.display(), "private PostgreSQL started");
    Ok(cluster)
}

/// `ARENA_PG_BINDIR` when set (only there); else PATH, then the directories where
/// Debian and Ubuntu install the server.
fn find_binaries() -> Result<Binaries> {
    if let Some(dir) = std::env::var_os("ARENA_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        let (initdb, postgres) = (dir.join("initdb"), dir.join("postgres"));
        return if initdb.is_file() && postgres.is_file() {
            Ok(Binaries { initdb, postgres })
        } else {
            Err(Error::BinariesMissing)
        };
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
    };
    if let (Some(initdb), Some(postgres)) = (on_path("initdb"), on_path("postgres")) {
        return Ok(Binaries { initdb, postgres });
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    let (_, bin) = versions.pop().ok_or(Error::BinariesMissing)?;
    Ok(Binaries {
        initdb: bin.join("initdb"),
        postgres: bin.join("postgres"),
    })
}

/// PostgreSQL refuses to run as root: as root we run it as `postgres`.
fn run_as() -> Result<Option<RunAs>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(Error::io("reading /etc/passwd"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == "postgres")
        .and_then(|f| {
            Some(RunAs {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
        .map(Some)
        .ok_or(Error::NoPostgresUser)
}

/// The directory the cluster lives in. As root, the `postgres` user must be able
/// to reach it; when the requested place is inside a private directory (such as
/// /root), the cluster moves to a stable place under /var/lib/arena instead.
fn cluster_dir(requested: &Path, run_as: Option<RunAs>) -> Result<PathBuf> {
    fs::create_dir_all(requested)
        .map_err(Error::io(format!("creating {}", requested.display())))?;
    let requested = requested
        .canonicalize()
        .map_err(Error::io(format!("resolving {}", requested.display())))?;
    let Some(user) = run_as else {
        return Ok(requested);
    };
    let dir = if reachable_by_others(&requested) {
        requested
    } else {
        let digest = {
            use sha2::{Digest, Sha256};
            hex::encode(&Sha256::digest(requested.as_os_str().as_encoded_bytes())[..6])
        };
        let moved = PathBuf::from("/var/lib/arena/clusters").join(digest);
        tracing::warn!(
            requested = %requested.display(),
            used = %moved.display(),
            "the postgres user cannot reach the data directory; keeping the cluster outside it"
        );
        fs::create_dir_all(&moved).map_err(Error::io(format!("creating {}", moved.display())))?;
        set_mode(Path::new("/var/lib/arena"), 0o755)?;
        set_mode(Path::new("/var/lib/arena/clusters"), 0o755)?;
        moved
    };
    chown(&dir, Some(user.uid), Some(user.gid))
        .map_err(Error::io(format!("giving {} to postgres", dir.display())))?;
    set_mode(&dir, 0o700)?;
    Ok(dir)
}

/// Whether every ancestor of `dir` lets other users through (the x bit).
fn reachable_by_others(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|p| {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io(format!(
        "setting permissions on {}",
        path.display()
    )))
}

/// The generated password of the `arena` role, created on first use.
fn ensure_password(dir: &Path) -> Result<String> {
    let file = dir.join("password");
    if let Ok(existing) = fs::read_to_string(&file) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    let password = hex::encode(rand::random::<[u8; 16]>());
    fs::write(&file, &password).map_err(Error::io(format!("writing {}", file.display())))?;
    // Readable by the postgres user (who owns the directory) for initdb's --pwfile.
    set_mode(&file, 0o600)?;
    if let Some(user) = run_as()? {
        chown(&file, Some(user.uid), Some(user.gid))
            .map_err(Error::io(format!("chown {}", file.display())))?;
    }
    Ok(password)
}

fn command_as(program: &Path, run_as: Option<RunAs>) -> Command {
    let mut command = Command::new(program);
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
        // Keep HOME and the working directory somewhere the postgres user may read.
        command.env("HOME", "/tmp").current_dir("/");
    }
    command
}

fn init_cluster(
    binaries: &Binaries,
    run_as: Option<RunAs>,
    dir: &Path,
    pgdata: &Path,
    _password: &str,
) -> Result<()> {
    tracing::info!(dir = %pgdata.display(), "creating a private PostgreSQL cluster (first run)");
    let output = command_as(&binaries.initdb, run_as)
        .arg("--pgdata")
        .arg(pgdata)
        .args(["--username", ROLE, "--auth", "scram-sha-256"])
        .arg(format!("--pwfile={}", dir.join("password").display()))
        .args(["--encoding", "UTF8", "--locale", "C", "--no-instructions"])
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("running {}", binaries.initdb.display())))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(pgdata);
        return Err(Error::Tool {
            tool: "initdb".into(),
            detail: last_lines(&String::from_utf8_lossy(&output.stderr), 5),
        });
    }
    Ok(())
}

fn spawn_server(
    binaries: &Binaries,
    run_as: Option<RunAs>,
    dir: &Path,
    pgdata: &Path,
    port: u16,
    options: &ClusterOptions,
) -> Result<Child> {
    let log_path = dir.join("postgres.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(Error::io(format!("opening {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(Error::io("duplicating the log handle"))?;
    let mut command = command_as(&binaries.postgres, run_as);
    command
        .arg("-D")
        .arg(pgdata)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_directories="])
        .args(["-c", "max_connections=300"])
        .args(["-c", "shared_buffers=128MB"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Own process group: a Ctrl-C in the terminal reaches only `arena`, which
        // then finishes its work before stopping the database.
        .process_group(0);
    if !options.fsync {
        command.args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]);
    }
    if options.stop_with_parent {
        // SAFETY: prctl is async-signal-safe; this runs in the child between fork and exec,
        // after the uid change (which would otherwise clear the setting).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command.spawn().map_err(Error::io(format!(
        "starting {}",
        binaries.postgres.display()
    )))
}

/// Poll until the server accepts a login, or it exits, or time runs out.
fn wait_ready(url: &str, dir: &Path, server: Option<&Supervisor>) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let log = dir.join("postgres.log");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("creating a runtime"))?;
    loop {
        if let Some(status) = server.and_then(Supervisor::exit_status) {
            return Err(Error::Tool {
                tool: "postgres".into(),
                detail: format!("exited with {status}: {}", log_tail(&log)),
            });
        }
        if runtime
            .block_on(async { PgConnection::connect(url).await })
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::StartTimeout {
                seconds: START_TIMEOUT.as_secs(),
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create_database(cluster: &Cluster) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("creating a runtime"))?;
    runtime.block_on(async {
        let url = cluster.url_for("postgres");
        let mut conn = PgConnection::connect(&url)
            .await
            .map_err(|source| Error::Connect {
                url: crate::redact_url(&url),
                source,
            })?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    })
}

/// The port of a live server in `pgdata`, from its postmaster.pid.
fn running_port(pgdata: &Path) -> Option<u16> {
    let pidfile = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let mut lines = pidfile.lines();
    let pid: i32 = lines.next()?.trim().parse().ok()?;
    let port: u16 = lines.nth(2)?.trim().parse().ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(port)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(Error::io("finding a free loopback port"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(Error::io("finding a free loopback port"))
}

fn ensure_port_free(port: u16) -> Result<u16> {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
        .map(|_| port)
        .map_err(|_| Error::Tool {
            tool: "postgres".into(),
            detail: format!(
                "port {port} on 127.0.0.1 is already in use; choose another with ARENA_PG_PORT or leave it unset for a free one"
            ),
        })
}

fn stop_child(mut child: Child) -> Result<()> {
    let pid = child.id() as i32;
    // SIGINT = fast shutdown.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                // SIGQUIT = immediate shutdown.
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGQUIT) };
                child
                    .wait()
                    .map_err(Error::io("waiting for postgres to exit"))?;
                return Ok(());
            }
        }
    }
}

fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log) {
        let _ = file.read_to_string(&mut text);
    }
    last_lines(&text, 3)
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// An exclusive advisory lock on a file, released on drop.
struct DirLock(fs::File);

impl DirLock {
    fn acquire(path: &Path) -> Result<DirLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on an open descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(format!("locking {}", path.display()))(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(DirLock(file))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
