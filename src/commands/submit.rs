//! `arena submit`: send a model to a challenge on a running server, with an API
//! token, and optionally wait for its result.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Challenge slug.
    #[arg(long)]
    pub challenge: String,
    /// The ONNX / QONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// Precision configuration (YAML or JSON) for float models.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A name for this entry on the leaderboard.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Wait until the submission has finished (or failed) and print its result.
    #[arg(long)]
    pub wait: bool,
    /// Longest wait in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Server base URL.
    #[arg(long, env = "ARENA_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (create one on your account page, or with `arena token create`).
    #[arg(long, env = "ARENA_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub async fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let model =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let config = args
        .config
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("model", Some("model.onnx"), &model),
        ("label", None, args.label.as_bytes()),
    ];
    if let Some(config) = &config {
        fields.push(("config", None, config));
    }
    let (content_type, body) = multipart(&fields);
    let server = args.server.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let response = client
        .post(format!(
            "{server}/api/v1/challenges/{}/submissions",
            args.challenge
        ))
        .bearer_auth(&args.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {server}"))?;
    let submitted = json_or_problem(response).await?;
    let url = submitted["url"].as_str().unwrap_or_default().to_owned();
    eprintln!("submitted: {server}{url}");
    if !args.wait {
        println!("{}", serde_json::to_string_pretty(&submitted)?);
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut last = String::new();
    loop {
        let response = client
            .get(format!("{server}{url}"))
            .bearer_auth(&args.token)
            .send()
            .await?;
        let status = json_or_problem(response).await?;
        let now = status["status"].as_str().unwrap_or("?").to_owned();
        if now != last {
            let position = status["queue_position"]
                .as_i64()
                .map(|p| format!(" (position {p} in the queue)"))
                .unwrap_or_default();
            eprintln!("  {now}{position}");
            last = now.clone();
        }
        if matches!(now.as_str(), "finished" | "failed" | "cancelled") {
            println!("{}", serde_json::to_string_pretty(&status)?);
            if now != "finished" {
                anyhow::bail!(
                    "submission {now}: {}",
                    status["message"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("still {now} after {} s; check {server}{url}", args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The JSON body, or the server's problem detail as the error.
async fn json_or_problem(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        anyhow::bail!(
            "server answered {status}: {}",
            body["detail"].as_str().unwrap_or("(no detail)")
        )
    }
}

/// A multipart/form-data body: (content type, bytes).
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("arena-{:032x}", rand_u128());
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

fn rand_u128() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    nanos ^ (u128::from(std::process::id()) << 64)
}
