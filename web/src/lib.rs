//! Page templates (askama, compiled into the binary) and static assets.

pub use askama::Template;

/// The stylesheet, served at `/static/arena.css`.
pub const STYLESHEET: &str = include_str!("../static/arena.css");

/// The landing page.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    pub public_url: &'a str,
}

/// 404.
#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {}
