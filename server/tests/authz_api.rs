//! The authorization matrix of the JSON API with tokens: every `/api/v1`
//! route for the roles of `common/roles.rs`, each holding a token with every
//! scope its user holds, with the status each must get. (Pages and session
//! reads: `authz.rs`.) Requests that would change something are built to be
//! refused after the authorization check (a bad body, a phase that does not
//! exist, a submission that has ended), so the matrix shows who gets past it.

#[path = "common/accounts.rs"]
mod accounts;
mod common;
#[path = "common/roles.rs"]
mod roles;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use roles::{ROLES, THIS, world};

/// (method, path, content type, body, expected status per role)
type Case = (&'static str, String, &'static str, Vec<u8>, [StatusCode; 8]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_for_every_role_with_tokens() {
    let world = world().await;
    let site = &world.site;
    let mut tokens: Vec<Option<String>> = Vec::new();
    for user in &world.users {
        tokens.push(match user {
            None => None,
            Some(u) => {
                let scopes: Vec<String> = u.held_scopes().iter().map(|s| s.to_string()).collect();
                let (_, secret) = db::users::create_token(&site.db.pool, u.id, "all", &scopes)
                    .await
                    .unwrap();
                Some(secret)
            }
        });
    }

    let (s, h, f) = (&world.submission, &world.hidden, &world.failed);
    use StatusCode as S;
    const OK: S = S::OK;
    const NO: S = S::FORBIDDEN;
    const NF: S = S::NOT_FOUND;
    const BAD: S = S::BAD_REQUEST;
    const CONFLICT: S = S::CONFLICT;
    const UNAUTH: S = S::UNAUTHORIZED;
    const CREATED: S = S::CREATED;
    const UNPROCESSABLE: S = S::UNPROCESSABLE_ENTITY;
    let none = Vec::new;
    let json = "application/json";
    let yaml = "application/yaml";
    // A new challenge on the hidden splits of `toy`: only its maintainer (and
    // then nobody: the slug is taken) gets it created.
    let steal = THIS.replace("toy-trigger", "toy-steal");
    let (multipart_type, no_model) = common::multipart(&[("label", None, b"x")]);
    let multipart_type: &'static str = multipart_type.leak();
    let manifest = "slug: toy\nversion: 2.0.0\ntitle: Toy\ndescription: x\ndomain: testing\n\
                    licence: CC-BY-4.0\ncreators: [{name: X}]\n\
                    features: [{name: id, dtype: int64, role: id}, {name: a, dtype: float32}]\n\
                    splits: {train: {files: [t.csv]}}\n";
    let (upload_type, manifest_only) =
        common::multipart(&[("manifest", None, manifest.as_bytes())]);
    let upload_type: &'static str = upload_type.leak();
    let base = "/api/v1/datasets/toy/versions/1.0.0";
    // Roles: anonymous, owner, other participant, owner in a hidden phase,
    // organizer of this, organizer of another on the same dataset, maintainer, admin.
    let matrix: Vec<Case> = vec![
        // Challenges.
        ("GET", "/api/v1/challenges".into(), json, none(), [OK; 8]),
        (
            "GET",
            "/api/v1/challenges/toy-trigger".into(),
            json,
            none(),
            [OK; 8],
        ),
        (
            "GET",
            "/api/v1/challenges/nope".into(),
            json,
            none(),
            [NF; 8],
        ),
        (
            "POST",
            "/api/v1/challenges".into(),
            yaml,
            b"slug: [".to_vec(),
            [UNAUTH, NO, NO, NO, BAD, BAD, BAD, BAD],
        ),
        (
            "POST",
            "/api/v1/challenges".into(),
            yaml,
            steal.into_bytes(),
            [UNAUTH, NO, NO, NO, NO, NO, CREATED, CONFLICT],
        ),
        (
            "PUT",
            "/api/v1/challenges/toy-trigger".into(),
            yaml,
            b"slug: [".to_vec(),
            [UNAUTH, NO, NO, NO, BAD, NO, NO, BAD],
        ),
        (
            "POST",
            "/api/v1/challenges/toy-trigger/phases/nope/publish".into(),
            json,
            none(),
            [UNAUTH, NO, NO, NO, NF, NO, NO, NF],
        ),
        (
            "POST",
            "/api/v1/challenges/toy-trigger/submissions".into(),
            multipart_type,
            no_model,
            [UNAUTH, BAD, BAD, BAD, BAD, BAD, BAD, BAD],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/submissions".into(),
            json,
            none(),
            [UNAUTH, OK, OK, OK, OK, OK, OK, OK],
        ),
        // Leaderboards: a live phase for all, a hidden one for its organizers.
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard".into(),
            json,
            none(),
            [OK; 8],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard?phase=final".into(),
            json,
            none(),
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard.csv?phase=final".into(),
            json,
            none(),
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard.parquet?phase=final".into(),
            json,
            none(),
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard/pareto.svg?phase=final".into(),
            json,
            none(),
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard/croissant.json?phase=final".into(),
            json,
            none(),
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        // Submissions: owners and organizers; others do not learn they exist.
        (
            "GET",
            format!("/api/v1/submissions/{s}"),
            json,
            none(),
            [NF, OK, NF, NF, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{h}"),
            json,
            none(),
            [NF, NF, NF, OK, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{s}/model"),
            json,
            none(),
            [NF, OK, NF, NF, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{h}/model"),
            json,
            none(),
            [NF, NF, NF, OK, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{s}/rtl"),
            json,
            none(),
            [NF; 8],
        ),
        (
            "POST",
            format!("/api/v1/submissions/{f}/cancel"),
            json,
            none(),
            [NF, CONFLICT, NF, NF, CONFLICT, NF, NF, CONFLICT],
        ),
        (
            "POST",
            format!("/api/v1/submissions/{s}/rerun"),
            json,
            none(),
            [UNAUTH, NO, NO, NO, CONFLICT, NF, NF, CONFLICT],
        ),
        (
            "POST",
            format!("/api/v1/submissions/{s}/disqualify"),
            json,
            br#"{"reason":" "}"#.to_vec(),
            [UNAUTH, NO, NO, NO, BAD, NF, NF, BAD],
        ),
        // Datasets: public reads; the private split for its maintainers and admins.
        ("GET", "/api/v1/datasets".into(), json, none(), [OK; 8]),
        ("GET", "/api/v1/datasets/toy".into(), json, none(), [OK; 8]),
        (
            "GET",
            "/api/v1/datasets/toy/versions".into(),
            json,
            none(),
            [OK; 8],
        ),
        ("GET", base.into(), json, none(), [OK; 8]),
        (
            "GET",
            format!("{base}/splits/train.parquet"),
            json,
            none(),
            [OK; 8],
        ),
        (
            "GET",
            format!("{base}/splits/public_test.parquet"),
            json,
            none(),
            [OK; 8],
        ),
        (
            "GET",
            format!("{base}/splits/private_test.parquet"),
            json,
            none(),
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            format!("{base}/splits/private_test/private_test.parquet"),
            json,
            none(),
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            format!("{base}/rows?split=private_test"),
            json,
            none(),
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            format!("{base}/statistics?split=private_test"),
            json,
            none(),
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            format!("{base}/rows?split=public_test"),
            json,
            none(),
            [OK; 8],
        ),
        ("GET", format!("{base}/statistics"), json, none(), [OK; 8]),
        (
            "GET",
            format!("{base}/croissant.json"),
            json,
            none(),
            [OK; 8],
        ),
        ("GET", format!("{base}/datacite.xml"), json, none(), [OK; 8]),
        (
            "GET",
            format!("{base}/datacite.json"),
            json,
            none(),
            [OK; 8],
        ),
        ("GET", format!("{base}/citation.bib"), json, none(), [OK; 8]),
        ("GET", format!("{base}/citation.cff"), json, none(), [OK; 8]),
        (
            "GET",
            "/api/v1/datasets/toy/maintainers".into(),
            json,
            none(),
            [OK; 8],
        ),
        (
            "POST",
            "/api/v1/datasets/toy/maintainers".into(),
            json,
            br#"{"handle":"nobody"}"#.to_vec(),
            [UNAUTH, NO, NO, NO, NO, NO, BAD, BAD],
        ),
        (
            "DELETE",
            "/api/v1/datasets/toy/maintainers/nobody".into(),
            json,
            none(),
            [UNAUTH, NO, NO, NO, NO, NO, NF, NF],
        ),
        // A new version of `toy` (without its file): its maintainers and admins
        // get as far as the missing file.
        (
            "POST",
            "/api/v1/datasets".into(),
            upload_type,
            manifest_only,
            [UNAUTH, NO, NO, NO, NO, NO, UNPROCESSABLE, UNPROCESSABLE],
        ),
    ];
    let mut failures = Vec::new();
    let mut labels_seen = Vec::new();
    for (method, path, content_type, body, expected) in &matrix {
        for (i, token) in tokens.iter().enumerate() {
            let mut request = Request::builder()
                .method(*method)
                .uri(path.as_str())
                .header("content-type", *content_type);
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let response = site
                .router
                .clone()
                .oneshot_request(request.body(Body::from(body.clone())).unwrap())
                .await;
            if response.0 != expected[i] {
                failures.push(format!(
                    "{method} {path} as {}: got {}, expected {} ({})",
                    ROLES[i],
                    response.0,
                    expected[i],
                    String::from_utf8_lossy(&response.1)
                        .chars()
                        .take(160)
                        .collect::<String>()
                ));
            }
            // Rows of the labels-hidden split: labels only for those who may read them.
            if path.ends_with("rows?split=public_test")
                && String::from_utf8_lossy(&response.1).contains("is_anomaly")
            {
                labels_seen.push(ROLES[i]);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(labels_seen, ["dataset maintainer", "admin"]);
}

/// One request through the router: status and body.
trait OneShot {
    async fn oneshot_request(self, request: Request<Body>) -> (StatusCode, Vec<u8>);
}

impl OneShot for axum::Router {
    async fn oneshot_request(self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        use tower::ServiceExt;
        let response = self.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 26)
            .await
            .unwrap()
            .to_vec();
        (status, body)
    }
}
