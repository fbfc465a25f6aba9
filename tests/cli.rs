//! End-to-end tests of the `arena` binary: `up` on embedded defaults, reuse of
//! the private cluster, an external database, and clear errors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ARENA: &str = env!("CARGO_BIN_EXE_arena");

fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn arena(data_dir: &Path) -> Command {
    let mut command = Command::new(ARENA);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ARENA_DATA_DIR", data_dir)
        .env("ARENA_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// A minimal HTTP/1.1 GET; returns the status code.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("arena exited early with {status}");
        }
        if http_status(port, "/readyz") == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("arena did not become ready on port {port}");
}

/// Ctrl-C (SIGINT) and wait for a clean exit.
fn interrupt(mut child: Child) -> Output {
    Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "arena did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn spawn_up(data_dir: &Path, port: u16) -> Child {
    arena(data_dir)
        .args(["up", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn cluster_status(data_dir: &Path) -> String {
    let output = arena(data_dir).args(["db", "status"]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn up_serves_then_stops_cleanly_and_reuses_its_cluster() {
    let data = scratch("up");
    let port = free_port();

    let mut first = spawn_up(&data, port);
    wait_ready(&mut first, port);
    assert_eq!(http_status(port, "/healthz"), Some(200));
    // The database outlives idle runtime threads (tokio retires blocking threads
    // after 10 s; the server must not be tied to one of them).
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(
        http_status(port, "/readyz"),
        Some(200),
        "database gone after 12 s"
    );
    assert_eq!(http_status(port, "/api/v1/challenges"), Some(200));
    assert!(cluster_status(&data).starts_with("running"));
    let out = interrupt(first);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{log}", out.status);
    assert!(
        log.contains(&format!("FastML Arena is up at http://127.0.0.1:{port}")),
        "{log}"
    );
    assert!(
        log.contains("creating a private PostgreSQL cluster"),
        "{log}"
    );
    assert_eq!(cluster_status(&data), "not running", "postgres left behind");

    let mut second = spawn_up(&data, port);
    wait_ready(&mut second, port);
    let out = interrupt(second);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("creating a private PostgreSQL cluster"),
        "cluster was not reused:\n{log}"
    );
    assert_eq!(cluster_status(&data), "not running");
}

#[test]
fn an_external_database_starts_no_private_cluster() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let test = runtime.block_on(db::testing::database());
    let data = scratch("external");
    let port = free_port();
    let mut child = arena(&data)
        .env("ARENA_DATABASE_URL", &test.url)
        .args(["up", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child, port);
    let out = interrupt(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !data.join("postgres").exists(),
        "a private cluster was created"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let password = test
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .and_then(|user| user.split(':').nth(1));
    if let Some(password) = password {
        assert!(
            !log.contains(password),
            "the database password was printed:\n{log}"
        );
    }
}

/// Exactly one `error:` line naming the problem, and no panic.
fn assert_one_clear_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(needle),
        "`{needle}` not in: {}",
        errors[0]
    );
}

#[test]
fn missing_postgres_binaries_name_the_package() {
    let data = scratch("nobin");
    let out = arena(&data)
        .env("ARENA_PG_BINDIR", data.join("empty"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_one_clear_error(&out, "apt-get install postgresql");
}

#[test]
fn an_occupied_port_is_one_clear_error() {
    let data = scratch("busy");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = arena(&data)
        .args(["up", "--bind", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_one_clear_error(&out, "already in use");
    assert!(
        !data.join("postgres").exists(),
        "nothing should start when the port is taken"
    );
}

#[test]
fn an_unreachable_database_is_one_clear_error() {
    let data = scratch("unreachable");
    let out = arena(&data)
        .env(
            "ARENA_DATABASE_URL",
            "postgres://arena:hunter2@127.0.0.1:1/arena",
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert_one_clear_error(
        &out,
        "cannot connect to the database at postgres://arena:***@127.0.0.1:1/arena",
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

/// A participant's round trip with the CLI against `arena up`: a token, a
/// submission with `--wait`, and its row on the demo leaderboard.
#[test]
fn a_participant_submits_with_the_cli_and_finds_the_result() {
    use toolflow::onnx::build::ModelBuilder;
    let data = scratch("submit");
    let port = free_port();
    let mut up = spawn_up(&data, port);
    wait_ready(&mut up, port);

    let token = arena(&data)
        .args([
            "token",
            "create",
            "--user",
            "participant",
            "--scopes",
            "read,submit",
        ])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("arena_"), "{token}");

    // Flood watch: per station, the target day's anomaly above 0.5 m.
    let mut select = vec![0.0f32; 84 * 12];
    for s in 0..12 {
        select[(s * 7 + 6) * 12 + s] = 1.0;
    }
    let model = ModelBuilder::new("x", &[1, 12, 7])
        .init_i64("shape", &[2], &[1, 84])
        .init("select", &[84, 12], &select)
        .init("offset", &[12], &[-0.5; 12])
        .node("Reshape", &["x", "shape"], &["flat"], vec![])
        .node("MatMul", &["flat", "select"], &["last"], vec![])
        .node("Add", &["last", "offset"], &["y"], vec![])
        .output("y")
        .bytes();
    std::fs::write(data.join("model.onnx"), model).unwrap();
    std::fs::write(
        data.join("config.yaml"),
        "Model:\n  Precision: fixed<16,6>\n",
    )
    .unwrap();
    let submit = arena(&data)
        .env("ARENA_TOKEN", &token)
        .args([
            "submit",
            "--challenge",
            "flood-watch",
            "--label",
            "cli test",
            "--wait",
            "--timeout",
            "120",
        ])
        .arg("--server")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--model")
        .arg(data.join("model.onnx"))
        .arg("--config")
        .arg(data.join("config.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&submit.stdout);
    assert!(
        submit.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "finished", "{result}");
    let score = result["scores"]
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|v| v.as_f64());
    assert!(score.is_some_and(|s| s > 0.0), "{result}");

    // A bad token is one clear error.
    let denied = arena(&data)
        .env("ARENA_TOKEN", "arena_not_a_token")
        .args(["submit", "--challenge", "flood-watch"])
        .arg("--server")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--model")
        .arg(data.join("model.onnx"))
        .output()
        .unwrap();
    assert_one_clear_error(&denied, "401");
    let out = interrupt(up);
    assert!(out.status.success());
}
