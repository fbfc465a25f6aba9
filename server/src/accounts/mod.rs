//! Accounts on the web: sign-in providers (OAuth2 authorization code with PKCE
//! and state), server-side sessions with CSRF tokens, and the development login.
//!
//! The OAuth2 client is written here rather than taken from the `oauth2` crate:
//! the flow is three HTTP exchanges (authorize redirect, token, user info), and
//! doing them with the `reqwest` client the workspace already builds keeps the
//! dependency tree lean.

pub mod oauth;
pub mod providers;
pub mod session;

use std::net::SocketAddr;

pub use providers::{Provider, ProviderKind};
pub use session::{SESSION_COOKIE, Viewer};

/// Account settings: the sign-in providers and cookie policy.
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    pub providers: Vec<std::sync::Arc<Provider>>,
    /// Mark cookies `Secure` (the site is served over TLS, possibly by a proxy).
    pub secure_cookies: bool,
    /// The development login (pick any user without a password). Only
    /// [`dev_login_allowed`] may turn it on.
    pub dev_login: bool,
    /// The HTTP client for the providers' token and user-info endpoints.
    pub http: reqwest::Client,
}

impl AccountSettings {
    pub fn provider(&self, id: &str) -> Option<&std::sync::Arc<Provider>> {
        self.providers.iter().find(|p| p.id == id)
    }
}

/// The development login signs anyone in as any user, so it exists only for a
/// server bound to a loopback address (`arena up` on a laptop). Anything else
/// is refused with the reason.
pub fn dev_login_allowed(bind: SocketAddr) -> Result<(), String> {
    if bind.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "the development login is only available on a loopback address, and the server binds {bind}; unset ARENA_DEV_LOGIN or bind 127.0.0.1"
        ))
    }
}
