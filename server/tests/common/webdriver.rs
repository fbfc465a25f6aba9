//! A small W3C WebDriver client over reqwest, driving the Debian `chromium`
//! through `chromedriver` (package `chromium-driver`), headless.
//!
//! Included with `#[path = "common/webdriver.rs"] mod webdriver;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([
        PathBuf::from("/usr/bin"),
        PathBuf::from("/usr/lib/chromium"),
    ]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: tokio::process::Child,
    pub artifacts: PathBuf,
}

/// An element of the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Start chromedriver and a headless Chromium. Fails with the install step
    /// when either is missing: nothing is skipped silently.
    pub async fn start(artifacts: &Path) -> Browser {
        let chromium = find_program(&["chromium", "chromium-browser"]).expect(
            "Chromium is not installed: run `scripts/install-system-packages chromium chromium-driver` (scripts/test does this)",
        );
        let driver_path = find_program(&["chromedriver"]).expect(
            "chromedriver is not installed: run `scripts/install-system-packages chromium chromium-driver` (scripts/test does this)",
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_path.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1100", "--no-first-run", "--disable-extensions"],
            },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        std::fs::create_dir_all(artifacts).unwrap();
        // Element look-ups wait up to 10 s for the element (pages navigate and reload).
        http.post(format!("{base}/session/{session}/timeouts"))
            .json(&json!({ "implicit": 10_000 }))
            .send()
            .await
            .unwrap();
        Browser {
            http,
            base: format!("{base}/session/{session}"),
            driver,
            artifacts: artifacts.to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let answer: Value = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({ "using": "css selector", "value": css }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"][ELEMENT_KEY].as_str().map(|id| Element {
            browser: self,
            id: id.to_owned(),
        })
    }

    pub async fn find(&self, css: &str) -> Element<'_> {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!(
                "no element `{css}` on {} (saved as missing-element.html)",
                {
                    let _ = std::fs::write(
                        self.artifacts.join("missing-element.html"),
                        self.source().await,
                    );
                    self.url().await
                }
            ),
        }
    }

    /// Run a script in the page and return its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Run a script, `None` when the page is between two documents (reloading).
    pub async fn try_script(&self, script: &str) -> Option<Value> {
        let answer: Value = self
            .http
            .post(format!("{}/execute/sync", self.base))
            .json(&json!({ "script": script, "args": [] }))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["value"]
            .get("error")
            .is_none()
            .then(|| answer["value"].clone())
    }

    /// Save a PNG screenshot under the artifacts directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .unwrap();
        let path = self.artifacts.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill().await;
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    pub async fn click(&self) {
        self.browser
            .call(reqwest::Method::POST, &self.path("/click"), None)
            .await;
    }

    pub async fn clear(&self) {
        self.browser
            .call(reqwest::Method::POST, &self.path("/clear"), None)
            .await;
    }

    /// Type `text` (a file path for `<input type=file>`).
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .call(
                reqwest::Method::POST,
                &self.path("/value"),
                Some(json!({ "text": text })),
            )
            .await;
    }

    /// Replace the content of an input or textarea.
    pub async fn fill(&self, text: &str) {
        self.clear().await;
        self.send_keys(text).await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .call(reqwest::Method::GET, &self.path("/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn property(&self, name: &str) -> Value {
        self.browser
            .call(
                reqwest::Method::GET,
                &self.path(&format!("/property/{name}")),
                None,
            )
            .await
    }
}
