//! The cast of the authorization matrices (`authz.rs` for pages and session
//! reads, `authz_api.rs` for API tokens): one challenge on the toy dataset,
//! another challenge on the same dataset, a dataset maintainer, and three
//! submissions (a queued one in a live phase, one in a hidden phase, one that
//! failed).
//!
//! Included with `#[path = "common/roles.rs"] mod roles;` beside
//! `mod accounts` and `mod common`.

#![allow(dead_code)]

use crate::accounts::{Site, site};
use crate::common;

/// The challenge the matrices are about: a live phase open now, a hidden
/// phase that opens in 2099 (its entries come from organizers' set-up).
pub const THIS: &str = r#"
slug: toy-trigger
title: Toy trigger
description: Find the anomalies.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
  - { name: final, split: private_test, starts: 2099-01-01T00:00:00Z }
"#;

/// The roles, in the order of every row of expected statuses.
pub const ROLES: [&str; 8] = [
    "anonymous",
    "owner",
    "other participant",
    "owner in a hidden phase",
    "organizer of this",
    "organizer of another challenge on the same dataset",
    "dataset maintainer",
    "admin",
];

/// Set-up acts as the platform's operator (no stewardship check).
pub const OPERATOR: server::ops::challenges::Authority<'static> =
    server::ops::challenges::Authority::Operator;

pub struct World {
    pub site: Site,
    /// The user of each role (none for anonymous).
    pub users: Vec<Option<db::users::User>>,
    /// pat's queued entry in the live `development` phase.
    pub submission: String,
    /// hana's entry in the hidden `final` phase.
    pub hidden: String,
    /// pat's failed entry in `development`.
    pub failed: String,
}

async fn user(site: &Site, handle: &str, admin: bool, organizer: bool) -> db::users::User {
    let mut user = db::users::ensure(&site.db.pool, handle, handle, admin)
        .await
        .unwrap();
    if organizer {
        db::users::set_organizer(&site.db.pool, user.id, true)
            .await
            .unwrap();
        user.can_organize = true;
    }
    user
}

async fn submit(site: &Site, slug: &str, owner: &db::users::User, phase: &str) -> String {
    let row = db::challenges::by_slug(&site.db.pool, slug)
        .await
        .unwrap()
        .unwrap();
    let challenge = server::ops::challenges::definition(&row).unwrap();
    let upload = server::ops::submissions::Upload {
        model: common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0).into(),
        config: Some("Model:\n  Precision: fixed<16,6>\n".into()),
        label: format!("{} in {phase}", owner.handle),
        is_baseline: false,
        phase: Some(phase.into()),
    };
    server::ops::submissions::submit(
        &site.db.pool,
        site.state.store.as_ref(),
        &row,
        &challenge,
        owner,
        upload,
        chrono::Utc::now(),
        &Default::default(),
    )
    .await
    .unwrap()
    .to_string()
}

pub async fn world() -> World {
    let site = site("http://arena.test", Default::default()).await;
    server::ops::datasets::publish(
        &site.db.pool,
        site.state.store.as_ref(),
        &common::toy_dataset(),
        None,
    )
    .await
    .unwrap();
    let pat = user(&site, "pat", false, false).await;
    let quinn = user(&site, "quinn", false, false).await;
    let hana = user(&site, "hana", false, false).await;
    let olivia = user(&site, "olivia", false, true).await;
    let oscar = user(&site, "oscar", false, true).await;
    let mara = user(&site, "mara", false, true).await;
    let root = user(&site, "root", true, false).await;
    let toy = db::datasets::by_slug(&site.db.pool, "toy")
        .await
        .unwrap()
        .unwrap();
    db::datasets::add_maintainer(&site.db.pool, toy.id, mara.id, None)
        .await
        .unwrap();
    let this = server::ops::challenges::parse(THIS).unwrap();
    server::ops::challenges::create(&site.db.pool, this, Some(&olivia), OPERATOR)
        .await
        .unwrap();
    let another =
        server::ops::challenges::parse(&THIS.replace("toy-trigger", "toy-other")).unwrap();
    server::ops::challenges::create(&site.db.pool, another, Some(&oscar), OPERATOR)
        .await
        .unwrap();
    let submission = submit(&site, "toy-trigger", &pat, "development").await;
    let hidden = submit(&site, "toy-trigger", &hana, "final").await;
    let failed = submit(&site, "toy-trigger", &pat, "development").await;
    let ended = db::submissions::Conclusion {
        status: "failed",
        message: Some("set-up"),
        results: None,
        log: "",
        organizer_log: "",
    };
    db::submissions::conclude(&site.db.pool, failed.parse().unwrap(), &ended)
        .await
        .unwrap();
    World {
        users: vec![
            None,
            Some(pat),
            Some(quinn),
            Some(hana),
            Some(olivia),
            Some(oscar),
            Some(mara),
            Some(root),
        ],
        site,
        submission,
        hidden,
        failed,
    }
}
