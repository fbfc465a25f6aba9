//! Sign-in through OpenID Connect (authorization code, PKCE S256, state)
//! against a provider started by the test, and every way it must fail: wrong
//! state, replayed code, wrong PKCE verifier, unknown provider, a callback in
//! another browser. Also: cookie flags and the development login's guard.

#[path = "common/accounts.rs"]
mod accounts;

use accounts::*;
use axum::http::StatusCode;

async fn oidc_site() -> (Site, OidcProvider) {
    let provider = oidc_provider().await;
    let site = site("http://arena.test", provider.settings()).await;
    (site, provider)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_creates_the_user_once_and_opens_a_session() {
    let (site, _provider) = oidc_site().await;
    let mut browser = Client::default();
    let login_page = browser.get(&site, "/login").await;
    assert_eq!(login_page.status, StatusCode::OK);
    assert!(
        login_page.body.contains("Sign in with Local OIDC"),
        "{}",
        login_page.body
    );
    assert!(
        login_page.set_cookie().is_none(),
        "viewing the page stores nothing"
    );
    let start = browser
        .get(&site, "/auth/oidc/login?return_to=/account")
        .await;
    let cookie = start
        .set_cookie()
        .expect("starting a sign-in opens a session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let before = browser.cookie.clone();

    let callback = provider_approves(&start.location(), "alice").await;
    let done = browser.get(&site, &callback).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/account");
    assert_ne!(browser.cookie, before, "the session id changes at sign-in");
    let account = browser.get(&site, "/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Account: alice"), "{}", account.body);
    assert!(
        account.body.contains("oidc (sub-alice-3)"),
        "{}",
        account.body
    );

    // The same identity signs in the same user again.
    let mut other = Client::default();
    let again = sign_in_via_provider(&site, &mut other, "alice").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE handle LIKE 'alice%'")
        .fetch_one(&site.db.pool)
        .await
        .unwrap();
    assert_eq!(users, 1);

    // Sign out ends the session.
    let csrf = csrf_of(&account.body);
    let out = browser
        .post_form(&site, "/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.set_cookie().unwrap().contains("Max-Age=0"));
    let after = browser.get(&site, "/account").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "signed out: to the login page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_is_refused() {
    let (site, _provider) = oidc_site().await;
    let mut browser = Client::default();
    let start = browser.get(&site, "/auth/oidc/login").await;
    let callback = provider_approves(&start.location(), "alice").await;
    let forged = callback.replace("state=", "state=forged");
    let answer = browser.get(&site, &forged).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .body
            .contains("unknown, used or expired sign-in state"),
        "{}",
        answer.body
    );
    // No session was signed in.
    let account = browser.get(&site, "/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused() {
    let (site, provider) = oidc_site().await;
    let mut browser = Client::default();
    let start = browser.get(&site, "/auth/oidc/login").await;
    let callback = provider_approves(&start.location(), "alice").await;
    let first = browser.get(&site, &callback).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);

    // The same callback again: its state was used.
    let replay = browser.get(&site, &callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("state"), "{}", replay.body);

    // The old code under a fresh, valid state: the provider refuses it.
    let mut second = Client::default();
    let start = second.get(&site, "/auth/oidc/login").await;
    let fresh = provider_approves(&start.location(), "alice").await;
    let state = fresh.split("state=").nth(1).unwrap();
    let code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let answer = second
        .get(
            &site,
            &format!("/auth/oidc/callback?code={code}&state={state}"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("refused the authorization code")
            && answer.body.contains("invalid_grant")
            && answer.body.contains("already used"),
        "{}",
        answer.body
    );
    assert!(
        provider
            .refusals()
            .iter()
            .any(|r| r.contains("already used"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pkce_verifier_is_refused() {
    let (site, provider) = oidc_site().await;
    let mut browser = Client::default();
    let start = browser.get(&site, "/auth/oidc/login").await;
    let callback = provider_approves(&start.location(), "alice").await;
    // Replace the verifier kept for this flow: the provider sees a verifier that
    // does not hash to the challenge it was given.
    let changed = sqlx::query("UPDATE oauth_flows SET pkce_verifier = repeat('0', 64)")
        .execute(&site.db.pool)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let answer = browser.get(&site, &callback).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("PKCE verification failed"),
        "{}",
        answer.body
    );
    assert!(provider.refusals().iter().any(|r| r.contains("PKCE")));
    let account = browser.get(&site, "/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER, "not signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_and_foreign_callbacks_are_refused() {
    let (site, _provider) = oidc_site().await;
    let mut browser = Client::default();
    let answer = browser.get(&site, "/auth/nope/login").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("no sign-in provider `nope`") && answer.body.contains("oidc"),
        "{}",
        answer.body
    );
    let answer = browser
        .get(&site, "/auth/nope/callback?code=x&state=y")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    // A callback opened in another browser (another session) than the one that
    // started the sign-in: refused, the state is spent.
    let mut victim = Client::default();
    let start = victim.get(&site, "/auth/oidc/login").await;
    let callback = provider_approves(&start.location(), "alice").await;
    let mut attacker = Client::default();
    attacker.get(&site, "/auth/oidc/login").await;
    let answer = attacker.get(&site, &callback).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("another browser session"),
        "{}",
        answer.body
    );

    // The provider's own refusal is shown with its reason.
    let answer = victim
        .get(
            &site,
            "/auth/oidc/callback?error=access_denied&error_description=user+said+no",
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("access_denied (user said no)"),
        "{}",
        answer.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_and_the_development_login_guard() {
    let provider = oidc_provider().await;
    let mut settings = provider.settings();
    settings.secure_cookies = true;
    let site = site("https://arena.test", settings).await;
    let mut browser = Client::default();
    let page = browser.get(&site, "/login").await;
    let start = browser.get(&site, "/auth/oidc/login").await;
    assert!(start.set_cookie().unwrap().contains("; Secure"));
    // The development login is off: no form, and its endpoint refuses.
    assert!(!page.body.contains("Development login"));
    let csrf: String = sqlx::query_scalar("SELECT csrf_token FROM sessions")
        .fetch_one(&site.db.pool)
        .await
        .unwrap();
    let answer = browser
        .post_form(&site, "/dev-login", &[("csrf", &csrf), ("handle", "x")])
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body.contains("development login is off"),
        "{}",
        answer.body
    );

    // It can only be turned on for a loopback address.
    let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let error = server::accounts::dev_login_allowed(public).unwrap_err();
    assert!(error.contains("loopback"), "{error}");
    assert!(server::accounts::dev_login_allowed("127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(server::accounts::dev_login_allowed("192.168.1.5:80".parse().unwrap()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_login_signs_in_with_a_csrf_token_only() {
    let provider = oidc_provider().await;
    let mut settings = provider.settings();
    settings.dev_login = true;
    let site = site("http://127.0.0.1:8080", settings).await;
    db::users::ensure(&site.db.pool, "participant", "Demo participant", false)
        .await
        .unwrap();
    let mut browser = Client::default();
    let page = browser.get(&site, "/login").await;
    assert!(page.body.contains("Development login"), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let forged = browser
        .post_form(
            &site,
            "/dev-login",
            &[("csrf", "forged"), ("handle", "participant")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("CSRF"), "{}", forged.body);
    let ok = browser
        .post_form(
            &site,
            "/dev-login",
            &[
                ("csrf", &csrf),
                ("handle", "participant"),
                ("return_to", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/", "no open redirect");
    let account = browser.get(&site, "/account").await;
    assert!(account.body.contains("Account: participant"));
}
