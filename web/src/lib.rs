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
