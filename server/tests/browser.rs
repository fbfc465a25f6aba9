//! The site in a real browser (headless Chromium over WebDriver): sign in
//! through an OpenID Connect provider started by the test, create a challenge
//! as organizer (first with a mistake the form shows beside its field), sign
//! in as a participant, upload a model, watch the submission reach `finished`
//! while a worker runs, and find its row on the leaderboard and its point on
//! the Pareto plot. Screenshots go to target/browser-artifacts/.

#[path = "common/accounts.rs"]
mod accounts;
mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use accounts::*;
use webdriver::Browser;

const CONFIG: &str = "Model:\n  Precision: fixed<16,6>\n";

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts")
}

async fn sign_in(browser: &Browser, base: &str, login: &str) {
    browser.goto(&format!("{base}/login")).await;
    browser.find("#login-oidc").await.click().await;
    // The provider's page, then back to the site.
    browser.find(&format!("#as-{login}")).await.click().await;
    let who = browser.find("#whoami").await.text().await;
    assert_eq!(who, login, "signed in as {login}");
}

async fn sign_out(browser: &Browser) {
    browser
        .find("form[action='/logout'] button")
        .await
        .click()
        .await;
    browser.find("a[href='/login']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizer_and_participant_in_a_real_browser() {
    let provider = oidc_provider().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let site = site(&base, provider.settings()).await;
    server::ops::datasets::publish(
        &site.db.pool,
        site.state.store.as_ref(),
        &common::toy_dataset(),
        None,
    )
    .await
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(server::serve(
        listener,
        site.state.clone(),
        shutdown.clone(),
    ));
    let registry = worker::Registry::new().with(worker::EvaluateHandler {
        pool: site.db.pool.clone(),
        store: site.state.store.clone(),
        sandbox: common::sandbox(),
    });
    let options = worker::WorkerOptions {
        concurrency: 1,
        poll: Duration::from_millis(200),
        ..Default::default()
    };
    let working = tokio::spawn(worker::run(
        site.db.pool.clone(),
        registry,
        options,
        shutdown.clone(),
    ));

    let browser = Browser::start(&artifacts()).await;

    // The organizer signs in and creates a challenge by form.
    sign_in(&browser, &base, "olivia").await;
    // An admin made her an organizer and a maintainer of `toy` (whose hidden
    // test labels her challenge scores).
    let olivia = db::users::by_handle(&site.db.pool, "olivia")
        .await
        .unwrap()
        .expect("signed in");
    db::users::set_organizer(&site.db.pool, olivia.id, true)
        .await
        .unwrap();
    let toy = db::datasets::by_slug(&site.db.pool, "toy")
        .await
        .unwrap()
        .expect("toy");
    db::datasets::add_maintainer(&site.db.pool, toy.id, olivia.id, None)
        .await
        .unwrap();
    browser.goto(&format!("{base}/console/new")).await;
    let fields = [
        ("#f-slug", "toy-web"),
        ("#f-title", "Toy web challenge"),
        ("#f-description", "Find the **anomalies** in the toy data."),
        ("#f-input", "x"),
        ("#f-shape", "4"),
        ("#f-label", "x"),
        ("#f-part", "xc7a35t"),
        ("#f-max-lut", "2000"),
    ];
    for (css, value) in fields {
        browser.find(css).await.fill(value).await;
    }
    browser.find("#save-challenge").await.click().await;
    // `x` is a feature, not a label: the form comes back, typed input kept, the
    // error beside the label field.
    let error = browser
        .find(".field-error[data-field='label']")
        .await
        .text()
        .await;
    assert!(error.contains("not a label"), "{error}");
    assert_eq!(
        browser.find("#f-slug").await.property("value").await,
        "toy-web"
    );
    assert_eq!(
        browser.find("#f-max-lut").await.property("value").await,
        "2000"
    );
    browser.screenshot("1-form-error.png").await;
    browser.find("#f-label").await.fill("is_anomaly").await;
    browser.find("#save-challenge").await.click().await;
    browser.find("#console-phases").await;
    assert!(
        browser.url().await.ends_with("/console/toy-web"),
        "{}",
        browser.url().await
    );
    browser.screenshot("2-console.png").await;

    // ... and publishes a dataset version: manifest and files chosen in the form.
    let upload_dir = artifacts().join("upload");
    std::fs::create_dir_all(&upload_dir).unwrap();
    let upload_dir = upload_dir.canonicalize().unwrap();
    let manifest = "slug: web-upload\ntitle: Web upload\ndescription: Uploaded in a browser.\n\
        domain: testing\nlicence: CC-BY-4.0\ncreators:\n  - name: \"Doe, Jane\"\nversion: 1.0.0\n\
        changelog: First.\ncreated: 2025-01-02T03:04:05Z\nfeatures:\n\
        \x20 - {name: id, dtype: int64, role: id}\n  - {name: a, dtype: float32}\n\
        \x20 - {name: y, dtype: bool, role: label}\nsplits:\n  train:\n    files: [data/train.csv]\n\
        \x20 public_test:\n    files: [data/public_test.csv]\n";
    let write = |name: &str, text: &str| {
        let path = upload_dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let manifest_path = write("dataset.yaml", manifest);
    let train = write("train.csv", "id,a,y\n0,0.5,true\n1,1.5,false\n");
    let test = write("public_test.csv", "id,a,y\n10,3.5,true\n11,4.5,false\n");
    browser.goto(&format!("{base}/console/new/dataset")).await;
    browser
        .find("#f-manifest-file")
        .await
        .send_keys(&manifest_path)
        .await;
    browser
        .find("#f-files")
        .await
        .send_keys(&format!("{train}\n{test}"))
        .await;
    browser.find("#upload-dataset").await.click().await;
    browser.find("h1").await;
    assert!(
        browser
            .url()
            .await
            .ends_with("/datasets/web-upload/versions/1.0.0"),
        "{}",
        browser.url().await
    );
    sign_out(&browser).await;

    // A participant signs in and uploads a model.
    sign_in(&browser, &base, "pat").await;
    browser.goto(&format!("{base}/challenges/toy-web")).await;
    let model = std::env::temp_dir().join(format!("arena-browser-{}.onnx", std::process::id()));
    std::fs::write(&model, common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0)).unwrap();
    browser
        .find("#model-file")
        .await
        .send_keys(model.to_str().unwrap())
        .await;
    browser
        .script(
            "document.querySelector('textarea[name=config]').value = arguments[0];",
            serde_json::json!([CONFIG]),
        )
        .await;
    browser.find("#entry-label").await.fill("web entry").await;
    browser.find("#submit-button").await.click().await;
    let status = browser.find("#status").await;
    let url = browser.url().await;
    let id = url.rsplit('/').next().unwrap_or_default().to_owned();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "on the submission page: {url}"
    );
    assert!(!status.text().await.is_empty());
    browser.screenshot("3-submitted.png").await;

    // The page follows the submission (polling, then a reload) to `finished`.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = browser
            .try_script(
                "const s = document.getElementById('status'); return s ? s.textContent : '';",
            )
            .await
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if text == "finished" {
            break;
        }
        assert!(
            !["failed", "cancelled"].contains(&text.as_str()),
            "submission {text}: {}",
            browser.source().await
        );
        assert!(
            Instant::now() < deadline,
            "submission still `{text}` after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // After the reload: the hardware report and the utilisation bar.
    let hardware = browser.find("#hardware").await.text().await;
    assert!(hardware.contains("lut"), "{hardware}");
    browser.find("#utilisation .bar-fill").await;
    browser.find("#download-model").await;
    browser.find("#download-rtl").await;
    browser.screenshot("4-finished.png").await;

    // The leaderboard row and the Pareto point of this submission.
    browser.goto(&format!("{base}/challenges/toy-web")).await;
    let row = browser
        .find(&format!("#board tr[data-submission='{id}']"))
        .await
        .text()
        .await;
    assert!(row.contains("web entry") && row.contains("pat"), "{row}");
    browser
        .find(&format!("#pareto g.entry[data-submission='{id}']"))
        .await;
    // The table sorts on click (progressive enhancement).
    browser
        .find("#board thead th:nth-child(4)")
        .await
        .click()
        .await;
    browser.find("#board thead th[data-dir]").await;
    browser
        .script(
            "document.getElementById('leaderboard').scrollIntoView();",
            serde_json::json!([]),
        )
        .await;
    browser.screenshot("5-leaderboard.png").await;

    browser.close().await;
    let _ = std::fs::remove_file(&model);
    shutdown.cancel();
    working.await.unwrap();
    serving.await.unwrap().unwrap();
}
