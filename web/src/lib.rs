//! Page templates (askama, compiled into the binary) and static assets.

pub use askama::Template;

/// The stylesheet, served at `/static/arena.css`.
pub const STYLESHEET: &str = include_str!("../static/arena.css");

/// The script (progressive enhancement: sortable tables, live status), served at `/static/arena.js`.
pub const SCRIPT: &str = include_str!("../static/arena.js");

/// What every page of the site shows around its content: who is signed in,
/// and the CSRF token that the page's forms (and the sign-out button) echo.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// Handle of the signed-in user.
    pub user: Option<String>,
    pub is_admin: bool,
    pub csrf: String,
}

/// A challenge on the start page.
pub struct ChallengeCard {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub domain: String,
    pub dataset: String,
    pub target: String,
    /// The phase open for submissions now, if any.
    pub open_phase: Option<String>,
}

/// The landing page: challenges and datasets, with a search by keyword and domain.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub q: String,
    pub domain: String,
    pub domains: Vec<String>,
    pub challenges: Vec<ChallengeCard>,
    pub datasets: Vec<DatasetListItem>,
}

/// 404 (kept for the router fallback).
#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFoundPage {}

/// 400, 403, 404, 500...: what went wrong, in words.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: String,
    pub message: String,
}

/// A labelled value (rules, budgets, hardware figures).
pub struct Fact {
    pub name: String,
    pub value: String,
}

/// A phase on the challenge page and in the console.
pub struct PhaseRow {
    pub name: String,
    pub split: String,
    pub starts: String,
    pub ends: String,
    pub leaderboard: String,
    pub open: bool,
    pub published: bool,
    pub hidden: bool,
}

/// One leaderboard row as shown.
pub struct BoardRow {
    pub rank: usize,
    pub submission_id: String,
    pub who: String,
    pub label: String,
    pub is_baseline: bool,
    pub score: String,
    /// For sorting: the raw score.
    pub score_raw: f64,
    pub latency_ns: String,
    pub lut: String,
    pub ff: String,
    pub dsp: String,
    pub bram: String,
    pub in_budget: bool,
    pub violations: String,
}

/// A submission in a list (own submissions, console).
pub struct SubmissionItem {
    pub id: String,
    pub who: String,
    pub label: String,
    pub phase: String,
    pub status: String,
    pub created: String,
    pub is_baseline: bool,
    pub disqualified: bool,
}

/// A form's input and the error beside a field.
#[derive(Debug, Clone, Default)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// `/challenges/{slug}`.
#[derive(Template)]
#[template(path = "challenge.html")]
pub struct ChallengePage {
    pub chrome: Chrome,
    pub slug: String,
    pub title: String,
    /// Rendered (and sanitized) Markdown.
    pub description_html: String,
    pub organizers: String,
    pub dataset: String,
    pub dataset_url: String,
    pub target: Vec<Fact>,
    pub budgets: Vec<Fact>,
    pub rules: Vec<Fact>,
    pub phases: Vec<PhaseRow>,
    pub board_phase: String,
    pub board_metric: String,
    pub board: Vec<BoardRow>,
    /// Why the leaderboard is not shown (hidden phase).
    pub board_note: Option<String>,
    /// Inline SVG, produced by the server's Pareto plot (escaped there).
    pub pareto_svg: String,
    pub api_url: String,
    pub is_organizer: bool,
    /// The phase a submission goes to now, if any.
    pub open_phase: Option<String>,
    pub mine: Vec<SubmissionItem>,
    pub form_error: Option<FieldError>,
    pub form_label: String,
}

/// `/submissions/{id}`.
#[derive(Template)]
#[template(path = "submission.html")]
pub struct SubmissionPage {
    pub chrome: Chrome,
    pub id: String,
    pub challenge_slug: String,
    pub challenge_title: String,
    pub phase: String,
    pub who: String,
    pub label: String,
    pub status: String,
    pub ended: bool,
    pub message: Option<String>,
    pub queue_position: Option<i64>,
    pub steps: Vec<Fact>,
    pub scores: Vec<Fact>,
    pub hardware: Vec<Fact>,
    /// (resource, percent of the device, used / available).
    pub utilisation: Vec<(String, f64, String)>,
    pub fits_budget: Option<bool>,
    pub violations: Vec<String>,
    pub results_hidden: bool,
    pub disqualified: Option<String>,
    /// Owner or organizer: log, model and report downloads.
    pub private: bool,
    /// The worker stored an RTL bundle (shown with the other downloads).
    pub has_rtl: bool,
    pub log: String,
    /// The part of the log computed from hidden labels (organizers only; empty otherwise).
    pub organizer_log: String,
    pub can_cancel: bool,
    pub is_organizer: bool,
    pub api_url: String,
}

/// `/login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    /// (id, label) of each provider.
    pub providers: Vec<(String, String)>,
    pub return_to: String,
    /// Handles offered by the development login (empty when it is off).
    pub dev_users: Vec<String>,
}

/// A token on the account page.
pub struct TokenItem {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

/// `/account`.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub chrome: Chrome,
    pub handle: String,
    pub display_name: String,
    pub email: String,
    pub orcid: String,
    pub is_admin: bool,
    pub identities: Vec<String>,
    pub tokens: Vec<TokenItem>,
    /// A token just created: shown once.
    pub new_token: Option<String>,
    pub error: Option<FieldError>,
    pub organizes: Vec<(String, String)>,
    /// Whether the user holds the organizer role (the `organize` scope is offered).
    pub can_organize: bool,
}

/// `/console`: the challenges a user organizes.
#[derive(Template)]
#[template(path = "console.html")]
pub struct ConsolePage {
    pub chrome: Chrome,
    /// (slug, title)
    pub challenges: Vec<(String, String)>,
    /// The user holds the organizer role (may create challenges and datasets).
    pub can_organize: bool,
}

/// One user on the admins' roles page.
pub struct UserItem {
    pub handle: String,
    pub display_name: String,
    /// `admin`, `organizer` or `—`.
    pub roles: String,
    pub is_admin: bool,
    pub organizer: bool,
}

/// `/console/users`: admins grant and revoke the organizer role.
#[derive(Template)]
#[template(path = "console_users.html")]
pub struct ConsoleUsersPage {
    pub chrome: Chrome,
    pub users: Vec<UserItem>,
    pub notice: Option<String>,
}

/// `/console/new/dataset`: upload a dataset version (manifest and files).
#[derive(Template)]
#[template(path = "console_dataset.html")]
pub struct ConsoleDatasetPage {
    pub chrome: Chrome,
    /// The pasted manifest, re-displayed after an error.
    pub manifest: String,
    pub error: Option<FieldError>,
    /// Largest upload, for the form's hint.
    pub max_upload_mib: u64,
}

/// The fields of the challenge form (as typed, so they can be re-displayed).
#[derive(Debug, Clone, Default)]
pub struct ChallengeForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub dataset: String,
    pub dataset_version: String,
    pub input_column: String,
    pub input_shape: String,
    pub label: String,
    pub metric: String,
    pub part: String,
    pub clock_ns: String,
    pub max_latency_ns: String,
    pub max_lut: String,
    pub max_ff: String,
    pub max_dsp: String,
    pub max_bram: String,
    /// One phase per line: `name split [starts] [ends] [live|hidden]`.
    pub phases: String,
}

/// `/console/new` and `/console/{slug}`: the form, the YAML, and (when editing)
/// phases, submissions and participants.
#[derive(Template)]
#[template(path = "console_challenge.html")]
pub struct ConsoleChallengePage {
    pub chrome: Chrome,
    /// `None` when creating.
    pub slug: Option<String>,
    pub form: ChallengeForm,
    pub yaml: String,
    pub error: Option<FieldError>,
    pub notice: Option<String>,
    pub metrics: Vec<String>,
    pub datasets: Vec<String>,
    pub phases: Vec<PhaseRow>,
    pub submissions: Vec<SubmissionItem>,
    /// (handle, submissions)
    pub participants: Vec<(String, usize)>,
}

/// A link with a label.
pub struct Link {
    pub label: String,
    pub url: String,
}

/// One row of the dataset index.
pub struct DatasetListItem {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub domain: String,
    pub licence: String,
    pub latest_version: String,
    pub url: String,
}

/// `/datasets`: every dataset.
#[derive(Template)]
#[template(path = "datasets.html")]
pub struct DatasetListPage {
    pub chrome: Chrome,
    pub datasets: Vec<DatasetListItem>,
    pub api_url: String,
}

/// A version in the version list of a dataset page.
pub struct VersionLink {
    pub version: String,
    pub created: String,
    pub url: String,
    pub current: bool,
}

/// A downloadable file of a split.
pub struct FileLink {
    pub name: String,
    pub url: String,
    pub size: String,
    pub sha256: String,
}

/// A split as listed on a dataset page.
pub struct SplitRow {
    pub name: String,
    pub visibility: String,
    pub rows: u64,
    /// Empty for splits that are not served.
    pub files: Vec<FileLink>,
    /// What is served of the split (all columns, without labels, nothing).
    pub note: String,
    /// Rows viewer (JSON API), when served.
    pub rows_url: Option<String>,
}

/// A declared column.
pub struct FeatureRow {
    pub name: String,
    pub dtype: String,
    pub shape: String,
    pub role: String,
    pub description: String,
}

/// `/datasets/{slug}` and `/datasets/{slug}/versions/{version}`.
#[derive(Template)]
#[template(path = "dataset.html")]
pub struct DatasetPage {
    pub chrome: Chrome,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub domain: String,
    pub keywords: String,
    pub licence: String,
    pub licence_url: String,
    pub creators: Vec<String>,
    pub publisher: String,
    /// `https://doi.org/...` of the version (or the dataset's concept DOI).
    pub doi_url: Option<String>,
    pub version: String,
    pub created: String,
    pub changelog: String,
    pub rows: u64,
    pub content_sha256: String,
    pub versions: Vec<VersionLink>,
    pub splits: Vec<SplitRow>,
    pub features: Vec<FeatureRow>,
    pub bibtex: String,
    pub documents: Vec<Link>,
    pub api_url: String,
    /// Download URL of the first served file, for the usage example.
    pub example_url: Option<String>,
    /// schema.org `Dataset` JSON-LD, already escaped for a `<script>` element.
    pub json_ld: String,
}

/// Serializes JSON-LD for a `<script type="application/ld+json">` element: `<`, `>`
/// and `&` (which can only occur inside JSON strings) become `\u` escapes, so the text
/// can never close the element.
pub fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Render Markdown to HTML with raw HTML shown as text (descriptions are written
/// by organizers, read by everyone: no markup of theirs reaches the page).
pub fn markdown(text: &str) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};
    let events = Parser::new_ext(text, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        // Links and images in organizer text: web and mail addresses only (no `javascript:`).
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
        let lower = url.trim().to_ascii_lowercase();
        let scheme = lower
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| !s.contains('/'));
        match scheme {
            None | Some("http" | "https" | "mailto") => url,
            Some(_) => CowStr::Borrowed("#"),
        }
    }
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::markdown;

    #[test]
    fn markdown_keeps_no_markup_or_script_links_of_the_author() {
        let html = markdown(
            "# Title\n\n<script>alert(1)</script>\n\nSee [x](JavaScript:alert(1)) and [y](https://a.org), <b>inline</b>.",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("href=\"#\""), "{html}");
        assert!(html.contains("href=\"https://a.org\""), "{html}");
        assert!(html.contains("&lt;b&gt;inline"), "{html}");
    }
}
