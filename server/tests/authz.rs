//! The authorization matrix of the web pages (and the API reads a session
//! cookie allows): every route for the roles of `common/roles.rs` —
//! anonymous, a submission's owner, another participant, the owner of an
//! entry in a hidden phase, an organizer of this challenge, an organizer of
//! another challenge on the same dataset, a maintainer of the dataset, and an
//! admin — with the status each must get. (API tokens: `authz_api.rs`.)
//!
//! Anonymous visitors of pages that need an account are sent to the sign-in
//! page (303); a signed-in user without the role gets 403; what a user may not
//! know exists (someone else's unfinished submission) is 404.

#[path = "common/accounts.rs"]
mod accounts;
mod common;
#[path = "common/roles.rs"]
mod roles;

use accounts::*;
use axum::http::StatusCode;
use roles::{OPERATOR, ROLES, THIS, world};

/// (method, path, form fields besides the CSRF token, expected status per role)
type Case = (
    &'static str,
    String,
    Vec<(&'static str, &'static str)>,
    [StatusCode; 8],
);

struct Role {
    client: Client,
    csrf: String,
}

/// A site with the toy dataset published.
async fn site_with_toy_dataset() -> Site {
    let site = site("http://arena.test", Default::default()).await;
    server::ops::datasets::publish(
        &site.db.pool,
        site.state.store.as_ref(),
        &common::toy_dataset(),
        None,
    )
    .await
    .unwrap();
    site
}

async fn user(site: &Site, handle: &str, admin: bool) -> db::users::User {
    db::users::ensure(&site.db.pool, handle, handle, admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role() {
    let world = world().await;
    let site = &world.site;
    let mut roles = Vec::new();
    for user in &world.users {
        roles.push(match user {
            None => Role {
                client: Client::default(),
                csrf: String::new(),
            },
            Some(u) => {
                let (client, csrf) = Client::signed_in(site, u.id).await;
                Role { client, csrf }
            }
        });
    }

    let (s, h) = (&world.submission, &world.hidden);
    use StatusCode as S;
    const OK: S = S::OK;
    const SEE: S = S::SEE_OTHER;
    const NO: S = S::FORBIDDEN;
    const NF: S = S::NOT_FOUND;
    const BAD: S = S::BAD_REQUEST;
    const CONFLICT: S = S::CONFLICT;
    const UNAUTH: S = S::UNAUTHORIZED;
    // Roles: anonymous, owner, other participant, owner in a hidden phase,
    // organizer of this, organizer of another on the same dataset, maintainer, admin.
    let matrix: Vec<Case> = vec![
        ("GET", "/".into(), vec![], [OK; 8]),
        ("GET", "/?q=toy&domain=testing".into(), vec![], [OK; 8]),
        ("GET", "/datasets".into(), vec![], [OK; 8]),
        ("GET", "/datasets/toy".into(), vec![], [OK; 8]),
        ("GET", "/challenges/toy-trigger".into(), vec![], [OK; 8]),
        (
            "GET",
            "/challenges/toy-trigger?phase=final".into(),
            vec![],
            [OK; 8],
        ),
        ("GET", "/challenges/nope".into(), vec![], [NF; 8]),
        ("GET", "/login".into(), vec![], [OK; 8]),
        (
            "GET",
            format!("/submissions/{s}"),
            vec![],
            [NF, OK, NF, NF, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/submissions/{h}"),
            vec![],
            [NF, NF, NF, OK, OK, NF, NF, OK],
        ),
        ("GET", "/submissions/not-a-uuid".into(), vec![], [NF; 8]),
        (
            "GET",
            format!("/api/v1/submissions/{s}"),
            vec![],
            [NF, OK, NF, NF, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{h}"),
            vec![],
            [NF, NF, NF, OK, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{s}/model"),
            vec![],
            [NF, OK, NF, NF, OK, NF, NF, OK],
        ),
        (
            "GET",
            format!("/api/v1/submissions/{h}/model"),
            vec![],
            [NF, NF, NF, OK, OK, NF, NF, OK],
        ),
        // Still queued: no RTL bundle yet, and none for those who may not see it.
        (
            "GET",
            format!("/api/v1/submissions/{s}/rtl"),
            vec![],
            [NF; 8],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/submissions".into(),
            vec![],
            [UNAUTH, OK, OK, OK, OK, OK, OK, OK],
        ),
        // A hidden phase's board: its organizers (and admins) only, in every format.
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard?phase=final".into(),
            vec![],
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard.csv?phase=final".into(),
            vec![],
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/api/v1/challenges/toy-trigger/leaderboard/pareto.svg?phase=final".into(),
            vec![],
            [NO, NO, NO, NO, OK, NO, NO, OK],
        ),
        // The private split: its maintainers and admins only, organizers included out.
        (
            "GET",
            "/api/v1/datasets/toy/versions/1.0.0/splits/private_test.parquet".into(),
            vec![],
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            "/api/v1/datasets/toy/versions/1.0.0/rows?split=private_test".into(),
            vec![],
            [NO, NO, NO, NO, NO, NO, OK, OK],
        ),
        (
            "GET",
            "/account".into(),
            vec![],
            [SEE, OK, OK, OK, OK, OK, OK, OK],
        ),
        (
            "GET",
            "/console".into(),
            vec![],
            [SEE, OK, OK, OK, OK, OK, OK, OK],
        ),
        // Creating takes the organizer role, which an admin grants.
        (
            "GET",
            "/console/new".into(),
            vec![],
            [SEE, NO, NO, NO, OK, OK, OK, OK],
        ),
        (
            "GET",
            "/console/new/dataset".into(),
            vec![],
            [SEE, NO, NO, NO, OK, OK, OK, OK],
        ),
        (
            "GET",
            "/console/users".into(),
            vec![],
            [SEE, NO, NO, NO, NO, NO, NO, OK],
        ),
        (
            "GET",
            "/console/toy-trigger".into(),
            vec![],
            [SEE, NO, NO, NO, OK, NO, NO, OK],
        ),
        (
            "GET",
            "/console/nope".into(),
            vec![],
            [SEE, NF, NF, NF, NF, NF, NF, NF],
        ),
        // An incomplete edit: organizers get the form back with the error (400).
        (
            "POST",
            "/console/toy-trigger".into(),
            vec![("slug", "toy-trigger")],
            [SEE, NO, NO, NO, BAD, NO, NO, BAD],
        ),
        (
            "POST",
            "/console/new".into(),
            vec![("slug", "x")],
            [SEE, NO, NO, NO, BAD, BAD, BAD, BAD],
        ),
        (
            "POST",
            "/console/toy-trigger/phases/development/publish".into(),
            vec![],
            [SEE, NO, NO, NO, SEE, NO, NO, SEE],
        ),
        (
            "POST",
            "/console/toy-trigger/phases/nope/publish".into(),
            vec![],
            [SEE, NO, NO, NO, NF, NO, NO, NF],
        ),
        // Roles are the admins' to give.
        (
            "POST",
            "/console/users/pat/organizer".into(),
            vec![("grant", "maybe")],
            [SEE, NO, NO, NO, NO, NO, NO, BAD],
        ),
        // Still queued: re-run conflicts for organizers; others may not.
        (
            "POST",
            format!("/submissions/{s}/rerun"),
            vec![],
            [SEE, NO, NF, NF, CONFLICT, NF, NF, CONFLICT],
        ),
        (
            "POST",
            format!("/submissions/{h}/rerun"),
            vec![],
            [SEE, NF, NF, NO, CONFLICT, NF, NF, CONFLICT],
        ),
        (
            "POST",
            format!("/submissions/{s}/disqualify"),
            vec![("reason", " ")],
            [SEE, NO, NF, NF, BAD, NF, NF, BAD],
        ),
        (
            "POST",
            format!("/submissions/{}/cancel", world.failed),
            vec![],
            [SEE, CONFLICT, NF, NF, CONFLICT, NF, NF, CONFLICT],
        ),
        (
            "POST",
            "/account/tokens".into(),
            vec![("name", "")],
            [SEE, BAD, BAD, BAD, BAD, BAD, BAD, BAD],
        ),
        // A token carries only what its user holds.
        (
            "POST",
            "/account/tokens".into(),
            vec![("name", "mine"), ("scope_organize", "on")],
            [SEE, BAD, BAD, BAD, OK, OK, OK, OK],
        ),
        (
            "POST",
            "/account/profile".into(),
            vec![("display_name", "")],
            [SEE, BAD, BAD, BAD, BAD, BAD, BAD, BAD],
        ),
        (
            "POST",
            "/account/tokens/00000000-0000-0000-0000-000000000000/revoke".into(),
            vec![],
            [SEE, NF, NF, NF, NF, NF, NF, NF],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, fields, expected) in &matrix {
        for (i, role) in roles.iter_mut().enumerate() {
            let answer = if *method == "GET" {
                role.client.get(site, path).await
            } else {
                let mut all = vec![("csrf", role.csrf.as_str())];
                all.extend(fields.iter().copied());
                role.client.post_form(site, path, &all).await
            };
            if answer.status != expected[i] {
                failures.push(format!(
                    "{method} {path} as {}: got {}, expected {}",
                    ROLES[i], answer.status, expected[i]
                ));
            }
        }
    }
    // The multipart submission form: anonymous to sign in, others get the form
    // back with the missing model named.
    for (i, role) in roles.iter_mut().enumerate() {
        let (content_type, body) =
            common::multipart(&[("csrf", None, role.csrf.as_bytes()), ("label", None, b"x")]);
        let answer = role
            .client
            .post_multipart(site, "/challenges/toy-trigger/submit", &content_type, body)
            .await;
        let expected = if i == 0 { SEE } else { BAD };
        if answer.status != expected || (i > 0 && !answer.body.contains("choose an ONNX file")) {
            failures.push(format!(
                "submit form as {}: got {}",
                ROLES[i], answer.status
            ));
        }
    }
    // The dataset upload form without a manifest: anonymous to sign in, users
    // without the organizer role 403, organizers get the form back with the
    // manifest named.
    let upload_expected = [SEE, NO, NO, NO, BAD, BAD, BAD, BAD];
    for (i, role) in roles.iter_mut().enumerate() {
        let (content_type, body) = common::multipart(&[("csrf", None, role.csrf.as_bytes())]);
        let answer = role
            .client
            .post_multipart(site, "/console/new/dataset", &content_type, body)
            .await;
        let named = upload_expected[i] != BAD || answer.body.contains("choose the manifest file");
        if answer.status != upload_expected[i] || !named {
            failures.push(format!(
                "dataset upload form as {}: got {}",
                ROLES[i], answer.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_session_token_are_refused() {
    let site = site("http://arena.test", Default::default()).await;
    let pat = user(&site, "pat", false).await;
    let (mut client, csrf) = Client::signed_in(&site, pat.id).await;
    let (mut other, other_csrf) = Client::signed_in(&site, pat.id).await;
    for token in ["", "forged", other_csrf.as_str()] {
        let answer = client
            .post_form(
                &site,
                "/account/tokens",
                &[("csrf", token), ("name", "laptop"), ("scope_read", "on")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "csrf {token:?}");
        assert!(answer.body.contains("CSRF"), "{}", answer.body);
    }
    let tokens = db::users::tokens_of(&site.db.pool, pat.id).await.unwrap();
    assert!(tokens.is_empty(), "nothing was created");

    // With the token: created, shown once, listed by prefix, revocable by its owner only.
    let answer = client
        .post_form(
            &site,
            "/account/tokens",
            &[
                ("csrf", &csrf),
                ("name", "laptop"),
                ("scope_read", "on"),
                ("scope_submit", "on"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let start = answer.body.find("arena_").unwrap();
    let secret = &answer.body[start..start + 54];
    let listed = client.get(&site, "/account").await;
    assert!(!listed.body.contains(secret), "shown once");
    assert!(listed.body.contains(&secret[..12]), "listed by prefix");
    let (caller, scopes) = db::users::authenticate(&site.db.pool, secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.id, pat.id);
    assert_eq!(scopes, vec!["read", "submit"]);
    let token_id = db::users::tokens_of(&site.db.pool, pat.id).await.unwrap()[0].id;
    let quinn = user(&site, "quinn", false).await;
    let (mut thief, thief_csrf) = Client::signed_in(&site, quinn.id).await;
    let answer = thief
        .post_form(
            &site,
            &format!("/account/tokens/{token_id}/revoke"),
            &[("csrf", &thief_csrf)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = other
        .post_form(
            &site,
            &format!("/account/tokens/{token_id}/revoke"),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        db::users::authenticate(&site.db.pool, secret)
            .await
            .unwrap()
            .is_none()
    );

    // A session cookie reads the API but never writes through it.
    let answer = client
        .post_form(&site, "/api/v1/challenges", &[("x", "y")])
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_yaml_form_edit_search_and_hidden_phases() {
    let site = site_with_toy_dataset().await;
    let olivia = user(&site, "olivia", false).await;
    // An organizer who maintains `toy` (her challenge scores its hidden labels).
    db::users::set_organizer(&site.db.pool, olivia.id, true)
        .await
        .unwrap();
    let toy = db::datasets::by_slug(&site.db.pool, "toy")
        .await
        .unwrap()
        .unwrap();
    db::datasets::add_maintainer(&site.db.pool, toy.id, olivia.id, None)
        .await
        .unwrap();
    let (mut organizer, csrf) = Client::signed_in(&site, olivia.id).await;

    // A YAML upload with a mistake: 400, the text back in the form, the reason beside it.
    let bad = THIS.replace("label: is_anomaly", "label: x");
    let (content_type, body) = common::multipart(&[
        ("csrf", None, csrf.as_bytes()),
        ("yaml", None, bad.as_bytes()),
    ]);
    let answer = organizer
        .post_multipart(&site, "/console/new/yaml", &content_type, body)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("data-field=\"yaml\"") && answer.body.contains("`label`"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("label: x"),
        "the input is re-displayed"
    );

    // The same definition, fixed, with Markdown that tries to inject a script.
    let good = THIS.replace(
        "description: Find the anomalies.",
        "description: \"Find the *anomalies*. <script>alert(1)</script>\"",
    );
    let (content_type, body) = common::multipart(&[
        ("csrf", None, csrf.as_bytes()),
        ("file", Some("challenge.yaml"), good.as_bytes()),
    ]);
    let answer = organizer
        .post_multipart(&site, "/console/new/yaml", &content_type, body)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), "/console/toy-trigger");
    let page = organizer.get(&site, "/challenges/toy-trigger").await;
    assert!(
        page.body.contains("<em>anomalies</em>"),
        "Markdown rendered"
    );
    assert!(
        !page.body.contains("<script>alert"),
        "no markup of the author"
    );

    // Edit by form: the budget and title change, the phases stay.
    let manage = organizer.get(&site, "/console/toy-trigger").await;
    assert!(
        manage.body.contains("development public_test"),
        "{}",
        manage.body
    );
    let answer = organizer
        .post_form(
            &site,
            "/console/toy-trigger",
            &[
                ("csrf", &csrf),
                ("slug", "toy-trigger"),
                ("title", "Toy trigger, edited"),
                ("description", "Edited."),
                ("dataset", "toy"),
                ("dataset_version", "latest"),
                ("input_column", "x"),
                ("input_shape", "4"),
                ("label", "is_anomaly"),
                ("metric", "roc_auc"),
                ("part", "xc7a35t"),
                ("clock_ns", "5"),
                ("max_lut", "1500"),
                (
                    "phases",
                    "development public_test\nfinal private_test 2099-01-01T00:00:00Z - hidden",
                ),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let row = db::challenges::by_slug(&site.db.pool, "toy-trigger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.title, "Toy trigger, edited");
    assert_eq!(row.definition["budget"]["max_lut"], 1500);
    assert_eq!(row.definition["phases"].as_array().unwrap().len(), 2);

    // A bad date in the phases: the form comes back with the line named.
    let answer = organizer
        .post_form(
            &site,
            "/console/toy-trigger",
            &[
                ("csrf", &csrf),
                ("slug", "toy-trigger"),
                ("title", "T"),
                ("dataset", "toy"),
                ("input_column", "x"),
                ("label", "is_anomaly"),
                ("metric", "roc_auc"),
                ("part", "xc7a35t"),
                ("phases", "development public_test yesterday"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("data-field=\"phases\"") && answer.body.contains("line 1"),
        "{}",
        answer.body
    );

    // Search by keyword and domain.
    let mut visitor = Client::default();
    let found = visitor.get(&site, "/?q=edited+toy&domain=testing").await;
    assert!(found.body.contains("Toy trigger, edited"), "{}", found.body);
    let none = visitor.get(&site, "/?q=gravitational").await;
    assert!(none.body.contains("No challenge matches"));
    let other_domain = visitor.get(&site, "/?domain=genomics").await;
    assert!(other_domain.body.contains("No dataset matches"));

    // A hidden phase shows no results to visitors, but does to its organizers.
    let hidden = visitor
        .get(&site, "/challenges/toy-trigger?phase=final")
        .await;
    assert!(hidden.body.contains("hidden until the organizers publish"));
    let shown = organizer
        .get(&site, "/challenges/toy-trigger?phase=final")
        .await;
    assert!(!shown.body.contains("hidden until the organizers publish"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_rerun_and_disqualify_from_the_submission_page() {
    let site = site_with_toy_dataset().await;
    let pat = user(&site, "pat", false).await;
    let olivia = user(&site, "olivia", false).await;
    let this = server::ops::challenges::parse(THIS).unwrap();
    server::ops::challenges::create(&site.db.pool, this, Some(&olivia), OPERATOR)
        .await
        .unwrap();
    let (mut participant, pat_csrf) = Client::signed_in(&site, pat.id).await;
    let (mut organizer, org_csrf) = Client::signed_in(&site, olivia.id).await;

    // The participant submits through the challenge page's form.
    let model = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = common::multipart(&[
        ("csrf", None, pat_csrf.as_bytes()),
        ("model", Some("m.onnx"), &model),
        ("config", None, b"Model:\n  Precision: fixed<16,6>\n"),
        ("label", None, b"from the form"),
    ]);
    let answer = participant
        .post_multipart(&site, "/challenges/toy-trigger/submit", &content_type, body)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let page_url = answer.location();
    let id = page_url.trim_start_matches("/submissions/").to_owned();
    let page = participant.get(&site, &page_url).await;
    assert!(page.body.contains("from the form") && page.body.contains("queued"));
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "refreshes without JS"
    );

    // A malformed model comes back on the challenge page with the reason beside the file field.
    let (content_type, body) = common::multipart(&[
        ("csrf", None, pat_csrf.as_bytes()),
        ("model", Some("m.onnx"), b"not a protobuf"),
        ("label", None, b"broken"),
    ]);
    let answer = participant
        .post_multipart(&site, "/challenges/toy-trigger/submit", &content_type, body)
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("data-field=\"model\"") && answer.body.contains("value=\"broken\""),
        "{}",
        answer.body
    );

    // The owner cancels; the organizer re-runs it, then disqualifies it.
    let cancel = participant
        .post_form(&site, &format!("{page_url}/cancel"), &[("csrf", &pat_csrf)])
        .await;
    assert_eq!(cancel.status, StatusCode::SEE_OTHER, "{}", cancel.body);
    let status = |row: Option<db::submissions::SubmissionRow>| row.unwrap().status;
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(
        status(db::submissions::get(&site.db.pool, uuid).await.unwrap()),
        "cancelled"
    );
    let rerun = organizer
        .post_form(&site, &format!("{page_url}/rerun"), &[("csrf", &org_csrf)])
        .await;
    assert_eq!(rerun.status, StatusCode::SEE_OTHER, "{}", rerun.body);
    assert_eq!(
        status(db::submissions::get(&site.db.pool, uuid).await.unwrap()),
        "queued"
    );
    let dq = organizer
        .post_form(
            &site,
            &format!("{page_url}/disqualify"),
            &[("csrf", &org_csrf), ("reason", "trained on the test split")],
        )
        .await;
    assert_eq!(dq.status, StatusCode::SEE_OTHER, "{}", dq.body);
    let row = db::submissions::get(&site.db.pool, uuid)
        .await
        .unwrap()
        .unwrap();
    assert!(row.disqualified);
    let page = participant.get(&site, &page_url).await;
    assert!(
        page.body
            .contains("Disqualified: trained on the test split")
    );
    // The organizer's console lists the participant and the submission.
    let console = organizer.get(&site, "/console/toy-trigger").await;
    assert!(console.body.contains("from the form") && console.body.contains("<td>pat</td>"));
}
