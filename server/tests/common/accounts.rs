//! Shared by the account tests (authz, oauth, browser): a site on a real
//! database with chosen account settings, a cookie-carrying client over the
//! router, and a small OpenID Connect provider served on 127.0.0.1:0.
//!
//! Included with `#[path = "common/accounts.rs"] mod accounts;`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use object_store::ObjectStore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// A site: the real router on a fresh database with the given account settings.
pub struct Site {
    pub router: Router,
    pub state: server::AppState,
    pub db: db::testing::TestDb,
}

pub async fn site(public_url: &str, accounts: server::accounts::AccountSettings) -> Site {
    let db = db::testing::database().await;
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let state = server::AppState {
        pool: db.pool.clone(),
        store,
        settings: Arc::new(server::Settings {
            public_url: public_url.to_owned(),
            accounts,
            ..Default::default()
        }),
    };
    Site {
        router: server::router(state.clone()),
        state,
        db,
    }
}

/// An answer, with the body as text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A browser without a browser: keeps the session cookie between requests.
#[derive(Clone, Default)]
pub struct Client {
    pub cookie: Option<String>,
}

impl Client {
    /// A client signed in as `user_id` (a session opened in the database).
    pub async fn signed_in(site: &Site, user_id: uuid::Uuid) -> (Client, String) {
        let (secret, session) = db::sessions::create(&site.db.pool, Some(user_id))
            .await
            .unwrap();
        (
            Client {
                cookie: Some(secret),
            },
            session.csrf_token,
        )
    }

    pub async fn send(&mut self, site: &Site, request: Request<Body>) -> Answer {
        let response = site.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_owned());
            self.cookie = value.filter(|v| !v.is_empty());
        }
        let body = to_bytes(response.into_body(), 1 << 26).await.unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn request(&self, method: &str, uri: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, format!("arena_session={cookie}"));
        }
        builder
    }

    pub async fn get(&mut self, site: &Site, uri: &str) -> Answer {
        let request = self.request("GET", uri).body(Body::empty()).unwrap();
        self.send(site, request).await
    }

    /// POST an urlencoded form.
    pub async fn post_form(&mut self, site: &Site, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .request("POST", uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(site, request).await
    }

    /// POST multipart/form-data (built by `common::multipart`).
    pub async fn post_multipart(
        &mut self,
        site: &Site,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let request = self
            .request("POST", uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(site, request).await
    }
}

/// The value of the first `name="csrf"` hidden input of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

// ---------------------------------------------------------------------------
// A small OpenID Connect provider: discovery, authorize (a page to pick a user,
// or `login=` to approve at once), token (client secret over HTTP Basic, PKCE
// S256, single-use codes bound to the redirect URI), userinfo.

pub const CLIENT_ID: &str = "arena-test";
pub const CLIENT_SECRET: &str = "arena-test-secret";

struct Grant {
    redirect_uri: String,
    challenge: String,
    login: String,
    used: bool,
}

#[derive(Default)]
struct ProviderState {
    issuer: String,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, String>,
    counter: u64,
}

type Shared = Arc<Mutex<ProviderState>>;

/// A running provider.
pub struct OidcProvider {
    pub issuer: String,
    pub discovery_url: String,
    /// How many token requests it refused, with the reasons.
    refusals: Arc<Mutex<Vec<String>>>,
}

/// The users the provider knows: login -> (subject, name, email).
fn known_user(login: &str) -> Option<(String, String, String)> {
    let users = [
        ("olivia", "sub-olivia-1", "Olivia Organizer"),
        ("pat", "sub-pat-2", "Pat Participant"),
        ("alice", "sub-alice-3", "Alice Example"),
    ];
    users
        .iter()
        .find(|(l, _, _)| *l == login)
        .map(|(l, s, n)| (s.to_string(), n.to_string(), format!("{l}@example.org")))
}

pub async fn oidc_provider() -> OidcProvider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let state: Shared = Arc::new(Mutex::new(ProviderState {
        issuer: issuer.clone(),
        ..Default::default()
    }));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize).post(approve))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state((state, refusals.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    OidcProvider {
        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
        issuer,
        refusals,
    }
}

impl OidcProvider {
    pub fn refusals(&self) -> Vec<String> {
        self.refusals.lock().unwrap().clone()
    }

    /// Account settings offering this provider as `oidc`.
    pub fn settings(&self) -> server::accounts::AccountSettings {
        let provider = server::accounts::Provider::new(
            "oidc",
            "Local OIDC",
            CLIENT_ID,
            CLIENT_SECRET,
            server::accounts::ProviderKind::Oidc {
                discovery_url: self.discovery_url.clone(),
            },
        );
        server::accounts::AccountSettings {
            providers: vec![Arc::new(provider)],
            secure_cookies: false,
            dev_login: false,
            http: reqwest::Client::new(),
        }
    }
}

type ProviderCtx = State<(Shared, Arc<Mutex<Vec<String>>>)>;

async fn discovery(State((state, _)): ProviderCtx) -> Response {
    let issuer = state.lock().unwrap().issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login: Option<String>,
}

async fn authorize(ctx: ProviderCtx, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.client_id != CLIENT_ID {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    if q.code_challenge_method.as_deref() != Some("S256") || q.code_challenge.is_none() {
        return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
    }
    if let Some(login) = &q.login {
        return issue_code(ctx, &q, login);
    }
    // A page to pick who signs in (for the browser test).
    let hidden = |name: &str, value: &str| {
        format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">")
    };
    let fields = [
        hidden("client_id", &q.client_id),
        hidden("redirect_uri", &q.redirect_uri),
        hidden("state", &q.state),
        hidden("code_challenge", q.code_challenge.as_deref().unwrap_or("")),
        hidden("code_challenge_method", "S256"),
    ]
    .concat();
    let buttons: String = ["olivia", "pat", "alice"]
        .iter()
        .map(|l| format!("<button type=\"submit\" name=\"login\" value=\"{l}\" id=\"as-{l}\">Sign in as {l}</button>"))
        .collect();
    Html(format!(
        "<!doctype html><title>Local OIDC</title><h1>Local OpenID Connect provider</h1><form method=\"post\" action=\"/authorize\">{fields}{buttons}</form>"
    ))
    .into_response()
}

async fn approve(ctx: ProviderCtx, Form(q): Form<AuthorizeQuery>) -> Response {
    let login = q.login.clone().unwrap_or_default();
    issue_code(ctx, &q, &login)
}

fn issue_code(State((state, _)): ProviderCtx, q: &AuthorizeQuery, login: &str) -> Response {
    if known_user(login).is_none() {
        return (StatusCode::BAD_REQUEST, "unknown user").into_response();
    }
    let mut s = state.lock().unwrap();
    s.counter += 1;
    let code = format!("code-{}-{}", s.counter, rand_hex());
    s.codes.insert(
        code.clone(),
        Grant {
            redirect_uri: q.redirect_uri.clone(),
            challenge: q.code_challenge.clone().unwrap_or_default(),
            login: login.to_owned(),
            used: false,
        },
    );
    let mut url = url::Url::parse(&q.redirect_uri).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    Redirect::to(url.as_str()).into_response()
}

fn rand_hex() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    hex::encode(Sha256::digest(nanos.to_le_bytes()))[..16].to_owned()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
}

fn token_error(refusals: &Mutex<Vec<String>>, description: &str) -> Response {
    refusals.lock().unwrap().push(description.to_owned());
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_grant", "error_description": description })),
    )
        .into_response()
}

async fn token(
    State((state, refusals)): ProviderCtx,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if form.grant_type != "authorization_code" {
        return token_error(&refusals, "unsupported grant type");
    }
    let mut s = state.lock().unwrap();
    let Some(grant) = s.codes.get_mut(&form.code) else {
        return token_error(&refusals, "unknown authorization code");
    };
    if grant.used {
        return token_error(&refusals, "authorization code already used");
    }
    // A code is spent by its first exchange, successful or not.
    grant.used = true;
    if grant.redirect_uri != form.redirect_uri {
        return token_error(&refusals, "redirect_uri does not match");
    }
    let verifier = form.code_verifier.unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if computed != grant.challenge {
        return token_error(
            &refusals,
            "PKCE verification failed: code_verifier does not match code_challenge",
        );
    }
    let login = grant.login.clone();
    let access = format!("at-{}", rand_hex());
    s.tokens.insert(access.clone(), login);
    axum::Json(json!({ "access_token": access, "token_type": "Bearer", "expires_in": 300 }))
        .into_response()
}

async fn userinfo(State((state, _)): ProviderCtx, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let login = state.lock().unwrap().tokens.get(token).cloned();
    match login.and_then(|l| known_user(&l).map(|u| (l, u))) {
        Some((login, (sub, name, email))) => axum::Json(json!({
            "sub": sub, "preferred_username": login, "name": name, "email": email,
        }))
        .into_response(),
        None => (StatusCode::UNAUTHORIZED, "invalid token").into_response(),
    }
}

/// Sign in through the provider without a browser: the site's login redirect,
/// the provider's approval of `login`, the site's callback. Returns the
/// callback's answer.
pub async fn sign_in_via_provider(site: &Site, client: &mut Client, login: &str) -> Answer {
    let start = client
        .get(site, "/auth/oidc/login?return_to=/account")
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let callback = provider_approves(&start.location(), login).await;
    client.get(site, &callback).await
}

/// Follow the site's redirect to the provider with `login=`; returns the
/// callback path (with code and state) the provider redirects to.
pub async fn provider_approves(authorize_url: &str, login: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http
        .get(format!("{authorize_url}&login={login}"))
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_redirection(),
        "provider: {}",
        answer.status()
    );
    let location = answer.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let url = url::Url::parse(&location).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}
