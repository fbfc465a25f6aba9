//! The organizer console's dataset upload (`/console/new/dataset`): a browser
//! form with the manifest (file or pasted) and the files it lists, which browsers
//! send by base name; errors come back beside the field with the input kept.

#[path = "common/accounts.rs"]
mod accounts;
mod common;

use accounts::*;
use axum::http::StatusCode;

const MANIFEST: &str = "\
slug: console-upload
title: Console upload
description: Two splits uploaded through the organizer console.
domain: testing
licence: CC-BY-4.0
creators:
  - name: \"Doe, Jane\"
version: 1.0.0
changelog: First.
created: 2025-01-02T03:04:05Z
features:
  - {name: id, dtype: int64, role: id}
  - {name: a, dtype: float32}
  - {name: y, dtype: bool, role: label}
splits:
  train:
    files: [data/train.csv]
  public_test:
    files: [data/public_test.csv]
";

const TRAIN: &[u8] = b"id,a,y\n0,0.5,true\n1,1.5,false\n2,2.5,false\n";
const TEST: &[u8] = b"id,a,y\n10,3.5,true\n11,4.5,false\n";

/// The form as a browser sends it: the token, an empty manifest file input, the
/// pasted manifest, then the chosen files by base name.
fn form(csrf: &str, manifest: &str, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("csrf", None, csrf.as_bytes()),
        ("manifest_file", Some(""), b""),
        ("manifest", None, manifest.as_bytes()),
    ];
    parts.extend(
        files
            .iter()
            .map(|(name, data)| ("files", Some(*name), *data)),
    );
    common::multipart(&parts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizers_publish_a_dataset_version_from_the_console() {
    let site = site("http://arena.test", Default::default()).await;
    let olga = db::users::ensure(&site.db.pool, "olga", "olga", false)
        .await
        .unwrap();
    let (mut client, csrf) = Client::signed_in(&site, olga.id).await;
    // Uploading datasets takes the organizer role, which an admin grants.
    let page = client.get(&site, "/console/new/dataset").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("organizer role"), "{}", page.body);
    db::users::set_organizer(&site.db.pool, olga.id, true)
        .await
        .unwrap();
    let page = client.get(&site, "/console/new/dataset").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"dataset-form\""), "{}", page.body);

    // A stale token: refused before anything is read or stored.
    let (ct, body) = form(
        "forged",
        MANIFEST,
        &[("train.csv", TRAIN), ("public_test.csv", TEST)],
    );
    let answer = client
        .post_multipart(&site, "/console/new/dataset", &ct, body)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("CSRF"), "{}", answer.body);
    assert!(
        db::datasets::by_slug(&site.db.pool, "console-upload")
            .await
            .unwrap()
            .is_none()
    );

    // A file missing: the form again, the pasted manifest kept, the file named.
    let (ct, body) = form(&csrf, MANIFEST, &[("train.csv", TRAIN)]);
    let answer = client
        .post_multipart(&site, "/console/new/dataset", &ct, body)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("data/public_test.csv"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("slug: console-upload"), "input kept");
    assert!(
        db::datasets::by_slug(&site.db.pool, "console-upload")
            .await
            .unwrap()
            .is_none(),
        "nothing half-published"
    );

    // Bad data: the file and the problem named beside the files.
    let (ct, body) = form(
        &csrf,
        MANIFEST,
        &[
            ("train.csv", b"id,a,y\n0,zero,true\n"),
            ("public_test.csv", TEST),
        ],
    );
    let answer = client
        .post_multipart(&site, "/console/new/dataset", &ct, body)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("data-field=\"files\""),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("data/train.csv"), "{}", answer.body);

    // Complete: published, and the browser goes to the version's page.
    let (ct, body) = form(
        &csrf,
        MANIFEST,
        &[("train.csv", TRAIN), ("public_test.csv", TEST)],
    );
    let answer = client
        .post_multipart(&site, "/console/new/dataset", &ct, body)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/datasets/console-upload/versions/1.0.0");
    let version = client
        .get(&site, "/datasets/console-upload/versions/1.0.0")
        .await;
    assert_eq!(version.status, StatusCode::OK);
    assert!(version.body.contains("Console upload"));

    // A new version of someone else's dataset, by another organizer: refused
    // beside the manifest (olga, its uploader, maintains it; mallory does not).
    let mallory = db::users::ensure(&site.db.pool, "mallory", "mallory", false)
        .await
        .unwrap();
    db::users::set_organizer(&site.db.pool, mallory.id, true)
        .await
        .unwrap();
    let (mut other, other_csrf) = Client::signed_in(&site, mallory.id).await;
    let v2 = MANIFEST.replace("1.0.0", "2.0.0");
    let (ct, body) = form(
        &other_csrf,
        &v2,
        &[("train.csv", TRAIN), ("public_test.csv", TEST)],
    );
    let answer = other
        .post_multipart(&site, "/console/new/dataset", &ct, body)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.body.contains("data-field=\"manifest\""),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("only its maintainers and admins"),
        "{}",
        answer.body
    );
    assert!(
        db::datasets::version(&site.db.pool, "console-upload", "2.0.0")
            .await
            .unwrap()
            .is_none_or(|v| v.version != "2.0.0")
    );
}
