//! Sign-in providers: GitHub and ORCID with their fixed endpoints, and any
//! OpenID Connect issuer found through its discovery document.

use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::ApiError;

/// A configured provider.
#[derive(Debug)]
pub struct Provider {
    /// The path segment: `/auth/{id}/login`.
    pub id: String,
    /// What the sign-in button says.
    pub label: String,
    pub client_id: String,
    pub client_secret: String,
    pub kind: ProviderKind,
    endpoints: OnceCell<Endpoints>,
}

#[derive(Debug, Clone)]
pub enum ProviderKind {
    GitHub,
    Orcid,
    /// The issuer's discovery URL (`.../.well-known/openid-configuration`) or its issuer URL.
    Oidc {
        discovery_url: String,
    },
}

/// Where the three steps of the flow go.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub scope: String,
    /// Client credentials in an HTTP Basic header (`client_secret_basic`, the
    /// OpenID Connect default) rather than in the form (`client_secret_post`).
    pub basic_auth: bool,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Stable identifier at the provider (GitHub user id, ORCID iD, OIDC `sub`).
    pub subject: String,
    /// A login name to derive a handle from.
    pub login: String,
    pub name: String,
    pub email: Option<String>,
    pub orcid: Option<String>,
}

#[derive(Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Provider {
    pub fn new(
        id: &str,
        label: &str,
        client_id: &str,
        client_secret: &str,
        kind: ProviderKind,
    ) -> Self {
        Provider {
            id: id.to_owned(),
            label: label.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            kind,
            endpoints: OnceCell::new(),
        }
    }

    /// The endpoints: fixed for GitHub and ORCID, discovered (once) for OIDC.
    pub async fn endpoints(&self, http: &reqwest::Client) -> Result<&Endpoints, ApiError> {
        self.endpoints
            .get_or_try_init(|| async {
                match &self.kind {
                    ProviderKind::GitHub => Ok(Endpoints {
                        authorize: "https://github.com/login/oauth/authorize".into(),
                        token: "https://github.com/login/oauth/access_token".into(),
                        userinfo: Some("https://api.github.com/user".into()),
                        scope: "read:user user:email".into(),
                        basic_auth: false,
                    }),
                    ProviderKind::Orcid => Ok(Endpoints {
                        authorize: "https://orcid.org/oauth/authorize".into(),
                        token: "https://orcid.org/oauth/token".into(),
                        // The token response names the ORCID iD and the name.
                        userinfo: None,
                        scope: "/authenticate".into(),
                        basic_auth: false,
                    }),
                    ProviderKind::Oidc { discovery_url } => discover(http, discovery_url).await,
                }
            })
            .await
    }

    /// Identify the user from the token response (and the user-info endpoint).
    pub async fn identify(
        &self,
        http: &reqwest::Client,
        token: &serde_json::Value,
    ) -> Result<Identity, ApiError> {
        let access_token = token["access_token"].as_str().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{}: the token response has no access_token",
                self.label
            ))
        })?;
        match self.kind {
            ProviderKind::Orcid => {
                let orcid = token["orcid"].as_str().ok_or_else(|| {
                    ApiError::BadRequest("ORCID: the token response has no ORCID iD".into())
                })?;
                let name = token["name"].as_str().unwrap_or(orcid);
                Ok(Identity {
                    subject: orcid.to_owned(),
                    login: name.to_owned(),
                    name: name.to_owned(),
                    email: None,
                    orcid: Some(orcid.to_owned()),
                })
            }
            ProviderKind::GitHub | ProviderKind::Oidc { .. } => {
                let endpoints = self.endpoints(http).await?;
                let url = endpoints.userinfo.as_deref().ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{}: the provider publishes no userinfo_endpoint, so the user cannot be identified",
                        self.label
                    ))
                })?;
                let info = get_json(http, url, Some(access_token), &self.label).await?;
                self.identity_from_userinfo(&info)
            }
        }
    }

    fn identity_from_userinfo(&self, info: &serde_json::Value) -> Result<Identity, ApiError> {
        let text = |key: &str| info[key].as_str().map(str::to_owned);
        let subject = match self.kind {
            ProviderKind::GitHub => info["id"].as_i64().map(|id| id.to_string()),
            _ => text("sub"),
        }
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{}: the user info names no subject", self.label))
        })?;
        let login = text("login")
            .or_else(|| text("preferred_username"))
            .or_else(|| text("name"))
            .unwrap_or_else(|| subject.clone());
        Ok(Identity {
            name: text("name").unwrap_or_else(|| login.clone()),
            email: text("email"),
            orcid: None,
            subject,
            login,
        })
    }
}

async fn discover(http: &reqwest::Client, url: &str) -> Result<Endpoints, ApiError> {
    let url = if url.contains("/.well-known/") {
        url.to_owned()
    } else {
        format!(
            "{}/.well-known/openid-configuration",
            url.trim_end_matches('/')
        )
    };
    let doc = get_json(http, &url, None, "OpenID Connect discovery").await?;
    let doc: Discovery = serde_json::from_value(doc).map_err(|e| {
        ApiError::Unavailable(format!(
            "the discovery document at {url} is incomplete: {e}"
        ))
    })?;
    let basic_auth = doc
        .token_endpoint_auth_methods_supported
        .is_none_or(|methods| methods.iter().any(|m| m == "client_secret_basic"));
    Ok(Endpoints {
        basic_auth,
        authorize: doc.authorization_endpoint,
        token: doc.token_endpoint,
        userinfo: doc.userinfo_endpoint,
        scope: "openid profile email".into(),
    })
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    what: &str,
) -> Result<serde_json::Value, ApiError> {
    let mut request = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(format!("{what}: {url} unreachable: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::BadRequest(format!(
            "{what}: {url} answered {status}"
        )));
    }
    capped_json(response, what)
        .await?
        .ok_or_else(|| ApiError::Unavailable(format!("{what}: {url} sent no JSON")))
}

/// Largest response read from a sign-in provider.
pub const MAX_PROVIDER_RESPONSE: usize = 1 << 20;

/// The JSON body of a provider's response, read up to
/// [`MAX_PROVIDER_RESPONSE`] bytes (a larger body is refused, never
/// buffered); `None` when it is not JSON.
pub(crate) async fn capped_json(
    mut response: reqwest::Response,
    what: &str,
) -> Result<Option<serde_json::Value>, ApiError> {
    let too_large = || {
        ApiError::Unavailable(format!(
            "{what}: the provider's response is over {MAX_PROVIDER_RESPONSE} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_PROVIDER_RESPONSE as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::Unavailable(format!("{what}: reading the response: {e}")))?
    {
        if body.len() + chunk.len() > MAX_PROVIDER_RESPONSE {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body).ok())
}

#[cfg(test)]
mod tests {
    use super::{MAX_PROVIDER_RESPONSE, capped_json};

    fn response(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(
            axum::http::Response::builder()
                .status(200)
                .body(body)
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn provider_responses_are_read_up_to_the_cap() {
        let small = capped_json(response(br#"{"sub":"1"}"#.to_vec()), "test")
            .await
            .unwrap();
        assert_eq!(small.unwrap()["sub"], "1");
        let not_json = capped_json(response(b"<html>".to_vec()), "test").await;
        assert!(not_json.unwrap().is_none());
        let huge = vec![b' '; MAX_PROVIDER_RESPONSE + 1];
        let refused = capped_json(response(huge), "test").await.unwrap_err();
        assert!(refused.to_string().contains("over"), "{refused}");
    }
}
