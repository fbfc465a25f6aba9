//! Shared pieces of the process-level tests (tests/s3_store.rs, tests/scale.rs,
//! tests/faults.rs): a real S3-compatible server (moto, from the venv), `arena`
//! processes that are killed when the test ends, and a small HTTP client for the API.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ARENA: &str = env!("CARGO_BIN_EXE_arena");
pub const BUCKET: &str = "arena-test";
pub const S3_ACCESS_KEY: &str = "arena-test-key";
pub const S3_SECRET: &str = "arena-test-secret-do-not-print";

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped, even on panic; its stderr
/// goes to a log file shown by [`Process::tail`].
pub struct Process {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Process {
        let log = dir.join(format!("{name}.log"));
        let child = command
            .stdin(Stdio::null())
            .stdout(File::create(dir.join(format!("{name}.out"))).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics with the log's tail if the process has exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.tail(40));
        }
    }

    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's standalone S3 server on a free loopback port, with one bucket.
pub struct Moto {
    pub endpoint: String,
    pub process: Process,
}

/// The venv's `moto_server`, or `None` (then the test says it is skipped).
pub fn moto_binary() -> Option<PathBuf> {
    let path = workspace().join(".venv/bin/moto_server");
    path.is_file().then_some(path)
}

impl Moto {
    pub fn start(binary: &Path, dir: &Path) -> Moto {
        let port = free_port();
        let mut command = Command::new(binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut process = Process::spawn("moto", command, dir);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/", &[], &[]).is_none() {
            process.check_alive();
            assert!(Instant::now() < deadline, "moto did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        // CreateBucket: moto does not check signatures by default.
        let created = http(port, "PUT", &format!("/{BUCKET}"), &[], &[]).expect("create bucket");
        assert_eq!(created.status, 200, "{}", created.text());
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            process,
        }
    }

    /// Object keys in the bucket below `prefix` (ListObjectsV2, first 1000).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let port: u16 = self.endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let listed = http(
            port,
            "GET",
            &format!("/{BUCKET}?list-type=2&prefix={prefix}"),
            &[],
            &[],
        )
        .expect("list bucket");
        let body = listed.text();
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

/// `arena` with a clean environment pointed at one database and the moto bucket.
pub fn arena(database_url: &str, moto: &Moto, data_dir: &Path) -> Command {
    let mut command = Command::new(ARENA);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ARENA_DATABASE_URL", database_url)
        .env("ARENA_DATA_DIR", data_dir)
        .env("ARENA_STORE_URL", format!("s3://{BUCKET}/arena"))
        .env("ARENA_S3_ENDPOINT", &moto.endpoint)
        .env("ARENA_S3_REGION", "us-east-1")
        .env("ARENA_S3_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("ARENA_S3_SECRET_ACCESS_KEY", S3_SECRET)
        .env("ARENA_LOG", "info");
    command
}

/// Run a short `arena` command to completion; panics with its stderr on failure.
pub fn run_ok(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed:\n{}",
        command,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An HTTP/1.1 response read to the end (the request says `Connection: close`).
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A plain HTTP/1.1 request on loopback; `None` when nothing listens.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    Some(Response { status, body })
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Wait until `GET /readyz` answers 200.
pub fn wait_ready(process: &mut Process, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        process.check_alive();
        if http(port, "GET", "/readyz", &[], &[]).is_some_and(|r| r.status == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready within 60 s:\n{}",
            process.name,
            process.tail(20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A multipart/form-data body; returns (content type, body).
pub fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "arenaDeployBoundary4e2a";
    let mut body = Vec::new();
    for (name, filename, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(file) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A flood-watch model for the coastal-flooding demo dataset (input [1, 12, 7]):
/// per station, the target day's anomaly minus `threshold`. Different thresholds
/// give different bytes, hence different stored models.
pub fn flood_model(threshold: f32) -> Vec<u8> {
    use toolflow::onnx::build::ModelBuilder;
    let mut select = vec![0.0f32; 84 * 12];
    for s in 0..12 {
        select[(s * 7 + 6) * 12 + s] = 1.0;
    }
    ModelBuilder::new("x", &[1, 12, 7])
        .init_i64("shape", &[2], &[1, 84])
        .init("select", &[84, 12], &select)
        .init("offset", &[12], &[-threshold; 12])
        .node("Reshape", &["x", "shape"], &["flat"], vec![])
        .node("MatMul", &["flat", "select"], &["last"], vec![])
        .node("Add", &["last", "offset"], &["y"], vec![])
        .output("y")
        .bytes()
}

pub const PRECISION: &str = "Model:\n  Precision: fixed<16,6>\n";

/// A challenge on the coastal-flooding demo dataset without daily limits.
pub const CHALLENGE: &str = r#"
slug: deploy-watch
title: Deployment flood watch
description: Flood watch without daily limits, for the deployment tests.
dataset: { slug: coastal-flooding, version: latest }
input: { column: x, shape: [12, 7] }
label: floods
metric: flooding_score:threshold=0
target: { part: xc7a35t, clock_ns: 10 }
phases:
  - { name: development, split: public_test }
"#;

/// Migrate, publish a small coastal-flooding dataset and the challenge, and
/// create a participant token; everything through the `arena` CLI.
pub fn prepare_site(database_url: &str, moto: &Moto, dir: &Path, rows: usize) -> String {
    let data = dir.join("cli");
    run_ok({
        let mut c = arena(database_url, moto, &data);
        c.arg("migrate");
        c
    });
    let generated = dir.join("dataset");
    run_ok({
        let mut c = arena(database_url, moto, &data);
        c.args(["dataset", "generate", "coastal-flooding", "--rows"])
            .arg(rows.to_string())
            .arg("--out")
            .arg(&generated);
        c
    });
    run_ok({
        let mut c = arena(database_url, moto, &data);
        c.args(["dataset", "import", "--manifest"])
            .arg(generated.join("dataset.yaml"));
        c
    });
    let challenge = dir.join("challenge.yaml");
    std::fs::write(&challenge, CHALLENGE).unwrap();
    run_ok({
        let mut c = arena(database_url, moto, &data);
        c.args(["challenge", "create"]).arg(&challenge);
        c
    });
    let token = run_ok({
        let mut c = arena(database_url, moto, &data);
        c.args(["token", "create", "--user", "participant"]);
        c
    });
    token.trim().to_owned()
}

/// POST one model to the challenge; returns the response.
pub fn submit(port: u16, token: &str, model: &[u8], label: &str) -> Response {
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), model),
        ("config", None, PRECISION.as_bytes()),
        ("label", None, label.as_bytes()),
    ]);
    let auth = format!("Bearer {token}");
    http(
        port,
        "POST",
        "/api/v1/challenges/deploy-watch/submissions",
        &[("content-type", &content_type), ("authorization", &auth)],
        &body,
    )
    .expect("server answers")
}
