//! `/api/v1/datasets`: the FAIR dataset registry.
//!
//! - `GET /api/v1/datasets`, `/{slug}`, `/{slug}/versions`, `/{slug}/versions/{version}`
//!   (`latest` names the newest version);
//! - `GET .../versions/{version}/splits/{split}.parquet` (the first or only file of a
//!   split) and `.../splits/{split}/{file}` (also `.../splits/{split}/files/{file}`):
//!   streamed from the object store with `ETag`, digests, HTTP ranges and HEAD;
//! - `GET .../rows?split=&offset=&length=&columns=`: rows as JSON in the shape of the
//!   Hugging Face dataset viewer, reading only the row groups and pages needed;
//! - `GET .../statistics[?split=]`;
//! - `GET .../croissant.json`, `datacite.xml`, `datacite.json`, `citation.bib`,
//!   `citation.cff`;
//! - `POST /api/v1/datasets` (scope `organize`): a manifest plus its files, multipart.
//!
//! Labels of test splits: a `labels_hidden` split is served from its label-stripped
//! files, a `private` split not at all, to everyone but admins and the organizers
//! (with an `organize` token) of a challenge run on the dataset. Rows and statistics of
//! such splits also drop the label and `extra` columns; metadata documents always
//! describe the public view.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use datasets::metadata;
use datasets::{
    ColumnSchema, DatasetMeta, FileMeta, Role, SplitMeta, SplitName, VersionMeta, Visibility,
};
use db::datasets::{DatasetRow, VersionRow};
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::Problem;
use crate::ops;
use crate::{ApiError, ApiResult, AppState};

/// Most rows one `rows` request may ask for.
pub const MAX_ROWS_PER_REQUEST: u64 = 100;
/// Largest organizer upload (manifest and files together).
pub const MAX_UPLOAD_BYTES: usize = 1 << 30;
/// Media type of the Parquet files we serve.
pub const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

const VERSION: &str = "/api/v1/datasets/{slug}/versions/{version}";

pub fn routes() -> Router<AppState> {
    let at = |tail: &str| format!("{VERSION}{tail}");
    Router::new()
        .route(
            "/api/v1/datasets",
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/api/v1/datasets/{slug}", get(show))
        .route("/api/v1/datasets/{slug}/versions", get(versions))
        .route(VERSION, get(version))
        .route(&at("/splits/{file}"), get(split_file))
        .route(&at("/splits/{split}/{name}"), get(named_file))
        .route(&at("/splits/{split}/files/{name}"), get(named_file))
        .route(&at("/rows"), get(rows))
        .route(&at("/statistics"), get(statistics))
        .route(&at("/croissant.json"), get(croissant))
        .route(&at("/croissant"), get(croissant))
        .route(&at("/datacite.xml"), get(datacite_xml))
        .route(&at("/datacite.json"), get(datacite_json))
        .route(&at("/citation.bib"), get(bibtex))
        .route(&at("/citation.cff"), get(cff))
}

// ---------------------------------------------------------------------------
// Loading and access

/// A dataset and one of its versions, parsed.
pub(crate) struct Loaded {
    pub row: DatasetRow,
    pub meta: DatasetMeta,
    pub version_row: VersionRow,
    pub version: VersionMeta,
}

/// Logs an internal failure and wraps it as a 500 (details never reach the client).
fn internal(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    tracing::error!(error = %e, "{context}");
    ApiError::Store(object_store::Error::Generic {
        store: "datasets",
        source: Box::new(e),
    })
}

fn parse_meta(row: &DatasetRow) -> ApiResult<DatasetMeta> {
    serde_json::from_value(row.meta.clone())
        .map_err(|e| internal(&format!("stored metadata of dataset {}", row.slug), e))
}

fn parse_version(row: &VersionRow) -> ApiResult<VersionMeta> {
    serde_json::from_value(row.doc.clone())
        .map_err(|e| internal(&format!("stored document of version {}", row.id), e))
}

pub(crate) async fn load_dataset(
    state: &AppState,
    slug: &str,
) -> ApiResult<(DatasetRow, DatasetMeta)> {
    let row = db::datasets::by_slug(&state.pool, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dataset `{slug}`")))?;
    let meta = parse_meta(&row)?;
    Ok((row, meta))
}

pub(crate) async fn load(state: &AppState, slug: &str, version: &str) -> ApiResult<Loaded> {
    let (row, meta) = load_dataset(state, slug).await?;
    let version_row = db::datasets::version(&state.pool, slug, version)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("dataset `{slug}` has no version `{version}`"))
        })?;
    let version = parse_version(&version_row)?;
    Ok(Loaded {
        row,
        meta,
        version_row,
        version,
    })
}

/// What of a split a caller may read.
pub(crate) enum Served<'a> {
    /// These files; `hidden` lists the columns to drop from rows and statistics (label
    /// and extra columns of non-public splits, for callers who may not see them).
    Files {
        files: &'a [FileMeta],
        hidden: BTreeSet<String>,
        labels: bool,
    },
    /// Nothing (a private split, for callers who may not see it).
    Private,
}

pub(crate) fn served<'a>(v: &VersionMeta, split: &'a SplitMeta, full: bool) -> Served<'a> {
    if full || split.visibility == Visibility::Public {
        return Served::Files {
            files: &split.files,
            hidden: BTreeSet::new(),
            labels: true,
        };
    }
    match split.visibility {
        Visibility::Private | Visibility::Public => Served::Private,
        Visibility::LabelsHidden => {
            let mut hidden: BTreeSet<String> =
                datasets::hidden_names(&v.features).into_iter().collect();
            for f in &split.files {
                for c in &f.columns {
                    if matches!(c.role, Role::Label | Role::Extra) {
                        hidden.insert(c.name.clone());
                    }
                }
            }
            Served::Files {
                files: &split.stripped_files,
                hidden,
                labels: false,
            }
        }
    }
}

fn split_of<'a>(v: &'a VersionMeta, name: &str) -> ApiResult<&'a SplitMeta> {
    let parsed = SplitName::parse(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no split `{name}` (splits are train, validation, public_test and private_test)"
        ))
    })?;
    v.split(parsed)
        .ok_or_else(|| ApiError::NotFound(format!("version {} has no split `{name}`", v.version)))
}

/// The files a caller may read of `split`, and the columns to hide; 403 for a private split.
fn readable<'a>(
    v: &VersionMeta,
    split: &'a SplitMeta,
    full: bool,
) -> ApiResult<(&'a [FileMeta], BTreeSet<String>, bool)> {
    match served(v, split, full) {
        Served::Files {
            files,
            hidden,
            labels,
        } => Ok((files, hidden, labels)),
        Served::Private => Err(ApiError::Forbidden(format!(
            "split `{}` is private: it scores submissions and is served to nobody",
            split.name
        ))),
    }
}

// ---------------------------------------------------------------------------
// URLs

fn base(state: &AppState) -> &str {
    state.settings.public_url.trim_end_matches('/')
}

pub(crate) fn api_version_url(base: &str, slug: &str, version: &str) -> String {
    format!("{base}/api/v1/datasets/{slug}/versions/{version}")
}

/// Download URL of a file: `.../splits/{split}.parquet` when the split has one file,
/// `.../splits/{split}/{name}` otherwise.
pub(crate) fn file_url(
    base: &str,
    slug: &str,
    version: &str,
    split: &SplitMeta,
    name: &str,
) -> String {
    let root = api_version_url(base, slug, version);
    if split.files.len() <= 1 {
        format!("{root}/splits/{}.parquet", split.name)
    } else {
        format!("{root}/splits/{}/{name}", split.name)
    }
}

/// The version with every file's `content_url` pointing at our download routes.
pub(crate) fn linked(base: &str, ds: &DatasetMeta, v: &VersionMeta) -> VersionMeta {
    let mut out = v.clone();
    for split in &mut out.splits {
        let probe = split.clone();
        for f in split
            .files
            .iter_mut()
            .chain(split.stripped_files.iter_mut())
        {
            f.content_url = Some(file_url(base, &ds.slug, &v.version, &probe, &f.name));
        }
    }
    out
}

/// Links to the metadata documents of a version.
pub(crate) fn document_links(base: &str, slug: &str, version: &str) -> Vec<(&'static str, String)> {
    let root = api_version_url(base, slug, version);
    vec![
        ("Croissant", format!("{root}/croissant.json")),
        ("DataCite XML", format!("{root}/datacite.xml")),
        ("DataCite JSON", format!("{root}/datacite.json")),
        ("BibTeX", format!("{root}/citation.bib")),
        ("CITATION.cff", format!("{root}/citation.cff")),
        ("Statistics", format!("{root}/statistics")),
    ]
}

// ---------------------------------------------------------------------------
// JSON documents

fn dataset_summary(
    base: &str,
    row: &DatasetRow,
    meta: &DatasetMeta,
    versions: &[VersionRow],
) -> Value {
    json!({
        "slug": row.slug,
        "title": meta.title,
        "description": meta.description,
        "domain": meta.domain,
        "keywords": meta.keywords,
        "licence": meta.licence,
        "doi": meta.doi,
        "latest_version": versions.first().map(|v| v.version.clone()),
        "versions": versions.len(),
        "url": format!("{base}/api/v1/datasets/{}", row.slug),
        "page": metadata::dataset_url(base, &row.slug),
        "updated_at": row.updated_at,
    })
}

fn version_summary(base: &str, slug: &str, row: &VersionRow) -> Value {
    let v: Option<VersionMeta> = serde_json::from_value(row.doc.clone()).ok();
    json!({
        "version": row.version,
        "created": v.as_ref().map(|v| v.created),
        "changelog": v.as_ref().map(|v| v.changelog.clone()),
        "doi": v.as_ref().and_then(|v| v.doi.clone()),
        "rows": v.as_ref().map(|v| v.total_rows()),
        "content_sha256": row.content_sha256,
        "url": api_version_url(base, slug, &row.version),
        "page": metadata::version_url(base, slug, &row.version),
        "published_at": row.created_at,
    })
}

fn file_json(url: String, f: &FileMeta) -> Value {
    json!({
        "name": f.name,
        "url": url,
        "sha256": f.sha256,
        "size": f.size,
        "rows": f.rows,
        "columns": f.columns,
    })
}

/// The version document a caller may see: for splits whose labels they may not read,
/// the label-stripped files only, and nothing of private splits but their size.
fn version_json(base: &str, loaded: &Loaded, full: bool) -> Value {
    let (ds, v) = (&loaded.meta, &loaded.version);
    let root = api_version_url(base, &ds.slug, &v.version);
    let splits: Vec<Value> = v
        .splits
        .iter()
        .map(|split| {
            let mut s = json!({
                "name": split.name,
                "visibility": split.visibility,
                "rows": split.rows,
            });
            match served(v, split, full) {
                Served::Files { files, labels, .. } => {
                    s["served"] = json!(true);
                    s["labels"] = json!(labels);
                    s["url"] = json!(format!("{root}/splits/{}.parquet", split.name));
                    s["files"] = Value::Array(
                        files
                            .iter()
                            .map(|f| {
                                file_json(file_url(base, &ds.slug, &v.version, split, &f.name), f)
                            })
                            .collect(),
                    );
                    s["rows_url"] = json!(format!("{root}/rows?split={}", split.name));
                    s["statistics_url"] = json!(format!("{root}/statistics?split={}", split.name));
                }
                Served::Private => {
                    s["served"] = json!(false);
                    s["labels"] = json!(false);
                }
            }
            s
        })
        .collect();
    let mut links = Map::new();
    for (label, url) in document_links(base, &ds.slug, &v.version) {
        links.insert(label.to_owned(), json!(url));
    }
    links.insert(
        "Page".into(),
        json!(metadata::version_url(base, &ds.slug, &v.version)),
    );
    json!({
        "dataset": ds.slug,
        "title": ds.title,
        "version": v.version,
        "created": v.created,
        "changelog": v.changelog,
        "doi": v.doi,
        "content_sha256": v.content_hash,
        "rows": v.total_rows(),
        "features": v.features,
        "splits": splits,
        "links": links,
        "url": root,
    })
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let base = base(&state);
    let mut items = Vec::new();
    for row in db::datasets::list(&state.pool).await? {
        let meta = parse_meta(&row)?;
        let versions = db::datasets::versions(&state.pool, row.id).await?;
        items.push(dataset_summary(base, &row, &meta, &versions));
    }
    Ok(Json(json!({ "datasets": items })))
}

async fn show(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let base = base(&state);
    let (row, meta) = load_dataset(&state, &slug).await?;
    let versions = db::datasets::versions(&state.pool, row.id).await?;
    let mut body = dataset_summary(base, &row, &meta, &versions);
    body["creators"] = json!(meta.creators);
    body["publisher"] = json!(meta.publisher);
    body["rai"] = json!(meta.rai);
    body["versions"] = Value::Array(
        versions
            .iter()
            .map(|v| version_summary(base, &slug, v))
            .collect(),
    );
    Ok(Json(body))
}

async fn versions(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let base = base(&state);
    let (row, _) = load_dataset(&state, &slug).await?;
    let versions = db::datasets::versions(&state.pool, row.id).await?;
    Ok(Json(json!({
        "dataset": slug,
        "versions": versions.iter().map(|v| version_summary(base, &slug, v)).collect::<Vec<_>>(),
    })))
}

async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let loaded = load(&state, &slug, &version).await?;
    let full = ops::datasets::sees_labels(&state.pool, &caller, &loaded.row).await?;
    Ok(personal(
        Json(version_json(base(&state), &loaded, full)).into_response(),
        full,
    ))
}

/// Responses that depend on who asks vary by `Authorization`; those with labels are
/// never stored by shared caches.
fn personal(mut response: Response, full: bool) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("authorization"));
    if full {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    response
}

// ---------------------------------------------------------------------------
// Files

/// `.../splits/{split}.parquet`: the first (or only) file of a split.
async fn split_file(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    Path((slug, version, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let split = file.strip_suffix(".parquet").ok_or_else(|| {
        ApiError::NotFound(format!(
            "no file `{file}`: use splits/{{split}}.parquet or splits/{{split}}/{{file}}"
        ))
    })?;
    let loaded = load(&state, &slug, &version).await?;
    let full = ops::datasets::sees_labels(&state.pool, &caller, &loaded.row).await?;
    let split = split_of(&loaded.version, split)?;
    let (files, _, _) = readable(&loaded.version, split, full)?;
    let file = files
        .first()
        .ok_or_else(|| ApiError::NotFound(format!("split `{}` has no files", split.name)))?;
    let name = format!(
        "{}-{}-{}",
        loaded.meta.slug, loaded.version.version, file.name
    );
    serve_file(
        &state,
        &method,
        &headers,
        file,
        &name,
        cache_policy(full, &version),
    )
    .await
}

/// `.../splits/{split}/{name}`: one file of a split.
async fn named_file(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    Path((slug, version, split, name)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let loaded = load(&state, &slug, &version).await?;
    let full = ops::datasets::sees_labels(&state.pool, &caller, &loaded.row).await?;
    let split = split_of(&loaded.version, &split)?;
    let (files, _, _) = readable(&loaded.version, split, full)?;
    let file = files.iter().find(|f| f.name == name).ok_or_else(|| {
        ApiError::NotFound(format!("split `{}` has no file `{name}`", split.name))
    })?;
    let download = format!(
        "{}-{}-{}-{}",
        loaded.meta.slug, loaded.version.version, split.name, file.name
    );
    serve_file(
        &state,
        &method,
        &headers,
        file,
        &download,
        cache_policy(full, &version),
    )
    .await
}

/// A parsed `Range` header against a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No usable range: send the whole representation.
    Whole,
    /// The inclusive byte range `first..=last`.
    Part(u64, u64),
    /// A syntactically valid range that selects nothing: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range (`a-b`, `a-`, `-n`). Other units, several ranges
/// and malformed values are ignored (RFC 9110 allows serving the whole representation).
pub(crate) fn parse_range(value: &str, size: u64) -> ByteRange {
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(size.saturating_sub(n), size - 1)
            }
        }
        (false, Some(a), None) if last.trim().is_empty() => {
            if a >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(a, size - 1)
            }
        }
        (false, Some(a), Some(b)) if a <= b => {
            if a >= size {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(a, b.min(size - 1))
            }
        }
        _ => ByteRange::Whole,
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

/// `Cache-Control` of a download: files with labels are never stored by shared caches;
/// a named version never changes (versions are immutable); `latest` may move.
fn cache_policy(full: bool, version: &str) -> &'static str {
    match (full, version) {
        (true, _) => "private, no-store",
        (false, "latest") => "public, no-cache",
        (false, _) => "public, max-age=86400",
    }
}

/// Streams a stored file (or a byte range of it) from the object store.
async fn serve_file(
    state: &AppState,
    method: &Method,
    request: &HeaderMap,
    file: &FileMeta,
    download_name: &str,
    cache: &'static str,
) -> ApiResult<Response> {
    let size = file.size;
    let etag = format!("\"{}\"", file.sha256);
    let digest = hex_to_base64(&file.sha256)
        .ok_or_else(|| ApiError::NotFound(format!("file `{}` has no valid digest", file.name)))?;
    let mut headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put(header::ETAG, etag.clone());
    put(header::ACCEPT_RANGES, "bytes".into());
    put(header::CONTENT_TYPE, PARQUET_CONTENT_TYPE.into());
    put(
        header::CONTENT_DISPOSITION,
        format!(
            "attachment; filename=\"{}\"",
            download_name.replace(['"', '\\'], "_")
        ),
    );
    put(
        header::HeaderName::from_static("digest"),
        format!("sha-256={digest}"),
    );
    put(
        header::HeaderName::from_static("repr-digest"),
        format!("sha-256=:{digest}:"),
    );
    put(
        header::HeaderName::from_static("x-content-sha256"),
        file.sha256.clone(),
    );
    put(header::VARY, "authorization".into());
    put(header::CACHE_CONTROL, cache.into());

    if let Some(inm) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && etag_matches(inm, &etag)
    {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let mut range = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, size))
        .unwrap_or(ByteRange::Whole);
    // If-Range: a range only applies to the representation the client already has.
    if let Some(if_range) = request.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        range = ByteRange::Whole;
    }
    let (status, span) = match range {
        ByteRange::Whole => (StatusCode::OK, None),
        ByteRange::Part(a, b) => (StatusCode::PARTIAL_CONTENT, Some((a, b))),
        ByteRange::Unsatisfiable => {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            let status = StatusCode::RANGE_NOT_SATISFIABLE;
            let problem = Problem {
                kind: "about:blank",
                title: "Range Not Satisfiable",
                status: status.as_u16(),
                detail: format!("the file has {size} bytes"),
            };
            let body = serde_json::to_vec(&problem).unwrap_or_default();
            return Ok((status, headers, body).into_response());
        }
    };
    let length = match span {
        Some((a, b)) => {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{size}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            b - a + 1
        }
        None => size,
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if method == Method::HEAD {
        return Ok((status, headers).into_response());
    }
    let key = datasets::store::content_path(ops::datasets::DATASETS_PREFIX, &file.sha256);
    let path = StorePath::parse(&key).map_err(|e| internal("object key", e))?;
    let options = GetOptions {
        range: span.map(|(a, b)| GetRange::Bounded(a..b + 1)),
        ..GetOptions::default()
    };
    let got = if size == 0 {
        None
    } else {
        Some(state.store.get_opts(&path, options).await?)
    };
    if let Some(got) = &got
        && got.meta.size != size
    {
        tracing::error!(
            key,
            stored = got.meta.size,
            expected = size,
            "stored dataset file has the wrong size"
        );
        return Err(ApiError::Unavailable(format!(
            "file `{}` is being repaired; try again later",
            file.name
        )));
    }
    let body = match got {
        Some(got) => Body::from_stream(got.into_stream().map_err(std::io::Error::other)),
        None => Body::empty(),
    };
    Ok((status, headers, body).into_response())
}

fn hex_to_base64(hex: &str) -> Option<String> {
    if hex.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes?))
}

// ---------------------------------------------------------------------------
// Rows

#[derive(Debug, Deserialize)]
struct RowsQuery {
    split: Option<String>,
    offset: Option<String>,
    length: Option<String>,
    columns: Option<String>,
}

fn number_param(name: &str, value: Option<&str>, default: u64) -> ApiResult<u64> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "`{name}` must be a non-negative integer, got `{v}`"
            ))
        }),
    }
}

/// Hugging Face dataset-viewer feature type of a column.
fn hf_type(c: &ColumnSchema) -> Value {
    let dtype = match c.dtype {
        Some(datasets::Dtype::Date) => "date32".to_owned(),
        Some(d) => d.as_str().to_owned(),
        None => c.arrow_type.clone(),
    };
    match c.shape.len() {
        0 => json!({"dtype": dtype, "_type": "Value"}),
        1 => {
            json!({"feature": {"dtype": dtype, "_type": "Value"}, "length": c.shape[0], "_type": "Sequence"})
        }
        n @ 2..=5 => json!({"shape": c.shape, "dtype": dtype, "_type": format!("Array{n}D")}),
        _ => {
            json!({"feature": {"dtype": dtype, "_type": "Value"}, "length": c.shape.iter().product::<usize>(), "_type": "Sequence"})
        }
    }
}

async fn rows(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
    Query(query): Query<RowsQuery>,
) -> ApiResult<Response> {
    let split_name = query
        .split
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("`split` is required (e.g. ?split=train)".into()))?;
    let offset = number_param("offset", query.offset.as_deref(), 0)?;
    let length = number_param("length", query.length.as_deref(), MAX_ROWS_PER_REQUEST)?;
    if length > MAX_ROWS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "`length` is at most {MAX_ROWS_PER_REQUEST}, got {length}; page with `offset`"
        )));
    }
    let loaded = load(&state, &slug, &version).await?;
    let full = ops::datasets::sees_labels(&state.pool, &caller, &loaded.row).await?;
    let split = split_of(&loaded.version, split_name)?;
    let (files, hidden, _) = readable(&loaded.version, split, full)?;
    let total: u64 = files.iter().map(|f| f.rows).sum();

    // Visible columns, in file order; `columns=` selects among them.
    let schema: Vec<&ColumnSchema> = files
        .first()
        .map(|f| {
            f.columns
                .iter()
                .filter(|c| !hidden.contains(&c.name))
                .filter(|c| {
                    full || split.visibility == Visibility::Public
                        || !matches!(c.role, Role::Label | Role::Extra)
                })
                .collect()
        })
        .unwrap_or_default();
    let wanted: Vec<&ColumnSchema> = match query
        .columns
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => schema.clone(),
        Some(list) => {
            let names: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            for n in &names {
                if !schema.iter().any(|c| c.name == *n) {
                    return Err(ApiError::BadRequest(format!(
                        "no column `{n}` in split `{}` (columns: {})",
                        split.name,
                        schema
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            schema
                .iter()
                .copied()
                .filter(|c| names.contains(&c.name.as_str()))
                .collect()
        }
    };
    let names: Vec<String> = wanted.iter().map(|c| c.name.clone()).collect();
    let shapes: Vec<Vec<usize>> = wanted.iter().map(|c| c.shape.clone()).collect();

    // The rows are written as JSON text directly: a `Value` per cell and a
    // decimal round trip per float cost most of a request's CPU.
    let mut out_rows = String::new();
    let end = offset.saturating_add(length).min(total);
    let mut start = 0u64;
    for file in files {
        let (lo, hi) = (start, start + file.rows);
        start = hi;
        if hi <= offset || lo >= end {
            continue;
        }
        let (a, b) = (offset.max(lo) - lo, end.min(hi) - lo);
        let batches = read_rows(state.store.clone(), file, a, b, &names).await?;
        let mut row_idx = lo + a;
        for batch in &batches {
            let columns: Vec<Option<&ArrayRef>> =
                names.iter().map(|n| batch.column_by_name(n)).collect();
            for i in 0..batch.num_rows() {
                if !out_rows.is_empty() {
                    out_rows.push(',');
                }
                out_rows.push_str(&format!("{{\"row_idx\":{row_idx},\"row\":{{"));
                for (k, ((name, column), shape)) in
                    names.iter().zip(&columns).zip(&shapes).enumerate()
                {
                    if k > 0 {
                        out_rows.push(',');
                    }
                    out_rows.push_str(&Value::from(name.as_str()).to_string());
                    out_rows.push(':');
                    match column {
                        Some(c) => write_cell(&mut out_rows, c, i, shape),
                        None => out_rows.push_str("null"),
                    }
                }
                out_rows.push_str("},\"truncated_cells\":[]}");
                row_idx += 1;
            }
        }
    }
    let features: Vec<Value> = wanted
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"feature_idx": i, "name": c.name, "type": hf_type(c), "role": c.role}))
        .collect();
    let body = format!(
        "{{\"features\":{},\"rows\":[{out_rows}],\"num_rows_total\":{total},\"num_rows_per_page\":{MAX_ROWS_PER_REQUEST},\"partial\":false}}",
        Value::Array(features)
    );
    let response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    Ok(personal(response, full))
}

/// Parsed footers (with page indexes) of stored Parquet files, by content digest:
/// files are content-addressed, so an entry never goes stale. At most
/// [`FOOTERS`] are kept (the map is cleared when full).
fn footers() -> &'static std::sync::Mutex<std::collections::HashMap<String, ArrowReaderMetadata>> {
    static FOOTERS_BY_DIGEST: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, ArrowReaderMetadata>>,
    > = std::sync::OnceLock::new();
    FOOTERS_BY_DIGEST.get_or_init(Default::default)
}

const FOOTERS: usize = 1024;

/// The footer of a stored file: from memory, or read once from the store.
async fn footer(
    reader: &mut ParquetObjectReader,
    sha256: &str,
) -> parquet::errors::Result<ArrowReaderMetadata> {
    let cached = footers()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(sha256)
        .cloned();
    if let Some(metadata) = cached {
        return Ok(metadata);
    }
    let options = ArrowReaderOptions::new().with_page_index(true);
    let metadata = ArrowReaderMetadata::load_async(reader, options).await?;
    let mut cache = footers().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= FOOTERS {
        cache.clear();
    }
    cache.insert(sha256.to_owned(), metadata.clone());
    Ok(metadata)
}

/// Rows `a..b` of a stored Parquet file, only the named columns, reading only the row
/// groups (and, through the offset index, the pages) that hold them.
async fn read_rows(
    store: Arc<dyn ObjectStore>,
    file: &FileMeta,
    a: u64,
    b: u64,
    columns: &[String],
) -> ApiResult<Vec<RecordBatch>> {
    let key = datasets::store::content_path(ops::datasets::DATASETS_PREFIX, &file.sha256);
    let path = StorePath::parse(&key).map_err(|e| internal("object key", e))?;
    let mut reader = ParquetObjectReader::new(store, path).with_file_size(file.size);
    let metadata = footer(&mut reader, &file.sha256)
        .await
        .map_err(|e| internal(&format!("opening {key}"), e))?;
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
    let mut groups = Vec::new();
    let (mut first_start, mut selected_rows, mut at) = (None, 0u64, 0u64);
    for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
        let n = rg.num_rows().max(0) as u64;
        if at < b && at + n > a {
            groups.push(i);
            first_start.get_or_insert(at);
            selected_rows += n;
        }
        at += n;
    }
    let Some(first_start) = first_start else {
        return Ok(Vec::new());
    };
    let before = (a - first_start) as usize;
    let take = (b - a) as usize;
    let after = (selected_rows - (b - first_start)) as usize;
    let selectors: Vec<RowSelector> = [
        RowSelector::skip(before),
        RowSelector::select(take),
        RowSelector::skip(after),
    ]
    .into_iter()
    .filter(|s| s.row_count > 0)
    .collect();
    let indices: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.iter().any(|c| c == f.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let stream = builder
        .with_row_groups(groups)
        .with_row_selection(RowSelection::from(selectors))
        .with_projection(mask)
        .with_batch_size(take.max(1))
        .build()
        .map_err(|e| internal(&format!("reading {key}"), e))?;
    stream
        .try_collect()
        .await
        .map_err(|e| internal(&format!("reading {key}"), e))
}

fn float_json(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// f32 through its shortest decimal form, so 0.1f32 reads `0.1`, not `0.10000000149`.
fn f32_json(v: f32) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    v.to_string()
        .parse::<f64>()
        .map(float_json)
        .unwrap_or(Value::Null)
}

/// One cell as JSON text, the same value as [`cell`]; float32 values and
/// tensors of them are written without building a `Value`.
fn write_cell(out: &mut String, column: &ArrayRef, i: usize, shape: &[usize]) {
    if column.is_null(i) {
        out.push_str("null");
        return;
    }
    let floats = |values: &ArrayRef| values.as_primitive_opt::<Float32Type>().cloned();
    match column.data_type() {
        DataType::Float32 => write_f32(out, column.as_primitive::<Float32Type>().value(i)),
        DataType::FixedSizeList(_, _) => {
            let values = column.as_fixed_size_list().value(i);
            match floats(&values) {
                Some(v) => write_f32_nested(out, &v, 0, v.len(), shape),
                None => out.push_str(&cell(column, i, shape).to_string()),
            }
        }
        _ => out.push_str(&cell(column, i, shape).to_string()),
    }
}

/// A float32 through its shortest decimal form (`0.1`, not `0.10000000149`);
/// non-finite values are `null`.
fn write_f32(out: &mut String, v: f32) {
    if v.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(v));
    } else {
        out.push_str("null");
    }
}

/// `values[start..start + len]` as nested arrays following `shape` (row-major),
/// flat when the shape does not divide the length (as [`nest`] does).
fn write_f32_nested(
    out: &mut String,
    values: &arrow::array::Float32Array,
    start: usize,
    len: usize,
    shape: &[usize],
) {
    out.push('[');
    let inner: usize = shape.get(1..).map_or(1, |s| s.iter().product());
    if shape.len() > 1 && inner > 0 && len.is_multiple_of(inner) {
        for (k, at) in (start..start + len).step_by(inner).enumerate() {
            if k > 0 {
                out.push(',');
            }
            write_f32_nested(out, values, at, inner, &shape[1..]);
        }
    } else {
        for j in start..start + len {
            if j > start {
                out.push(',');
            }
            if values.is_null(j) {
                out.push_str("null");
            } else {
                write_f32(out, values.value(j));
            }
        }
    }
    out.push(']');
}

/// One cell as JSON; tensors are nested following `shape` (row-major).
fn cell(column: &ArrayRef, i: usize, shape: &[usize]) -> Value {
    if column.is_null(i) {
        return Value::Null;
    }
    match column.data_type() {
        DataType::Boolean => json!(column.as_boolean().value(i)),
        DataType::Int8 => json!(column.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => json!(column.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => json!(column.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => json!(column.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => json!(column.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => json!(column.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => json!(column.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => json!(column.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => f32_json(column.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => float_json(column.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => json!(column.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => json!(column.as_string::<i64>().value(i)),
        DataType::Utf8View => json!(column.as_string_view().value(i)),
        DataType::Date32 => {
            let days = column
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(i);
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(i64::from(days))))
                .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                .unwrap_or(Value::Null)
        }
        DataType::FixedSizeList(_, _) => {
            let values = column.as_fixed_size_list().value(i);
            let flat: Vec<Value> = (0..values.len()).map(|j| cell(&values, j, &[])).collect();
            nest(flat, shape)
        }
        DataType::List(_) => {
            let values = column.as_list::<i32>().value(i);
            Value::Array((0..values.len()).map(|j| cell(&values, j, &[])).collect())
        }
        DataType::LargeList(_) => {
            let values = column.as_list::<i64>().value(i);
            Value::Array((0..values.len()).map(|j| cell(&values, j, &[])).collect())
        }
        _ => Value::Null,
    }
}

fn nest(flat: Vec<Value>, shape: &[usize]) -> Value {
    if shape.len() <= 1 {
        return Value::Array(flat);
    }
    let inner: usize = shape[1..].iter().product();
    if flat.len().checked_rem(inner) != Some(0) {
        return Value::Array(flat);
    }
    Value::Array(
        flat.chunks(inner)
            .map(|chunk| nest(chunk.to_vec(), &shape[1..]))
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Statistics

#[derive(Debug, Deserialize)]
struct SplitQuery {
    split: Option<String>,
}

async fn statistics(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, version)): Path<(String, String)>,
    Query(query): Query<SplitQuery>,
) -> ApiResult<Response> {
    let loaded = load(&state, &slug, &version).await?;
    let full = ops::datasets::sees_labels(&state.pool, &caller, &loaded.row).await?;
    let v = &loaded.version;
    let chosen: Vec<&SplitMeta> = match query
        .split
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(name) => {
            let split = split_of(v, name)?;
            readable(v, split, full)?;
            vec![split]
        }
        None => v.splits.iter().collect(),
    };
    let mut splits = Vec::new();
    for split in chosen {
        let Served::Files { hidden, labels, .. } = served(v, split, full) else {
            continue;
        };
        let columns: Vec<&datasets::ColumnStats> = split
            .stats
            .iter()
            .filter(|c| {
                labels
                    || (!hidden.contains(&c.name) && !matches!(c.role, Role::Label | Role::Extra))
            })
            .collect();
        splits.push(json!({
            "split": split.name,
            "visibility": split.visibility,
            "num_examples": split.rows,
            "labels": labels,
            "statistics": columns,
        }));
    }
    let body = json!({
        "dataset": loaded.meta.slug,
        "version": v.version,
        "splits": splits,
    });
    Ok(personal(Json(body).into_response(), full))
}

// ---------------------------------------------------------------------------
// Metadata documents (always the public view)

async fn public_view(
    state: &AppState,
    slug: &str,
    version: &str,
) -> ApiResult<(DatasetMeta, VersionMeta, String)> {
    let loaded = load(state, slug, version).await?;
    let base = base(state).to_owned();
    let v = linked(&base, &loaded.meta, &loaded.version);
    Ok((loaded.meta, v, base))
}

fn document(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn croissant(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (ds, v, base) = public_view(&state, &slug, &version).await?;
    let doc = metadata::croissant::croissant(&ds, &v, &base);
    let body = serde_json::to_string_pretty(&doc).map_err(|e| internal("croissant", e))?;
    Ok(document("application/ld+json", body))
}

async fn datacite_xml(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (ds, v, base) = public_view(&state, &slug, &version).await?;
    Ok(document(
        "application/xml; charset=utf-8",
        metadata::datacite::datacite_xml(&ds, &v, &base),
    ))
}

async fn datacite_json(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (ds, v, base) = public_view(&state, &slug, &version).await?;
    let doc = metadata::datacite::datacite_json(&ds, &v, &base);
    let body = serde_json::to_string_pretty(&doc).map_err(|e| internal("datacite json", e))?;
    Ok(document("application/vnd.datacite.datacite+json", body))
}

async fn bibtex(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (ds, v, base) = public_view(&state, &slug, &version).await?;
    Ok(document(
        "application/x-bibtex; charset=utf-8",
        metadata::citation::bibtex(&ds, &v, &base),
    ))
}

async fn cff(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (ds, v, base) = public_view(&state, &slug, &version).await?;
    let body = metadata::citation::citation_cff(&ds, &v, &base)
        .map_err(|e| internal("citation.cff", e))?;
    Ok(document("application/yaml; charset=utf-8", body))
}

// ---------------------------------------------------------------------------
// Pages (rendered by `crate::pages`; always the public view)

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `/datasets`.
pub(crate) async fn list_page(
    state: &AppState,
    chrome: web::Chrome,
) -> ApiResult<web::DatasetListPage> {
    let base = base(state);
    let mut items = Vec::new();
    for row in db::datasets::list(&state.pool).await? {
        let meta = parse_meta(&row)?;
        let versions = db::datasets::versions(&state.pool, row.id).await?;
        items.push(web::DatasetListItem {
            url: format!("/datasets/{}", row.slug),
            slug: row.slug,
            title: meta.title,
            description: meta.description,
            domain: meta.domain,
            licence: meta.licence,
            latest_version: versions
                .first()
                .map(|v| v.version.clone())
                .unwrap_or_default(),
        });
    }
    Ok(web::DatasetListPage {
        chrome,
        datasets: items,
        api_url: format!("{base}/api/v1/datasets"),
    })
}

/// `/datasets/{slug}` (the latest version) and `/datasets/{slug}/versions/{version}`.
pub(crate) async fn dataset_page(
    state: &AppState,
    slug: &str,
    version: &str,
    chrome: web::Chrome,
) -> ApiResult<web::DatasetPage> {
    let loaded = load(state, slug, version).await?;
    let base = base(state).to_owned();
    let ds = &loaded.meta;
    let v = linked(&base, ds, &loaded.version);
    let versions = db::datasets::versions(&state.pool, loaded.row.id).await?;
    let (licence_url, _) = metadata::licence_info(&ds.licence);
    let splits: Vec<web::SplitRow> = v
        .splits
        .iter()
        .map(|split| {
            let (files, note, served_rows) = match served(&v, split, false) {
                Served::Files {
                    files,
                    labels: true,
                    ..
                } => (files, "all columns".to_owned(), true),
                Served::Files {
                    files,
                    labels: false,
                    hidden,
                } => (
                    files,
                    format!(
                        "features only ({} withheld)",
                        hidden.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                    true,
                ),
                Served::Private => (&[][..], "not served (scores submissions)".to_owned(), false),
            };
            web::SplitRow {
                name: split.name.as_str().to_owned(),
                visibility: split.visibility.as_str().to_owned(),
                rows: split.rows,
                files: files
                    .iter()
                    .map(|f| web::FileLink {
                        name: f.name.clone(),
                        url: file_url(&base, &ds.slug, &v.version, split, &f.name),
                        size: human_size(f.size),
                        sha256: f.sha256.clone(),
                    })
                    .collect(),
                note,
                rows_url: served_rows.then(|| {
                    format!(
                        "{}/rows?split={}&offset=0&length=10",
                        api_version_url(&base, &ds.slug, &v.version),
                        split.name
                    )
                }),
            }
        })
        .collect();
    let example_url = splits
        .iter()
        .find_map(|s| s.files.first().map(|f| f.url.clone()));
    let features = v
        .features
        .iter()
        .map(|f| web::FeatureRow {
            name: f.name.clone(),
            dtype: f.dtype.as_str().to_owned(),
            shape: if f.shape.is_empty() {
                "scalar".to_owned()
            } else {
                f.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" × ")
            },
            role: f.role.as_str().to_owned(),
            description: f.description.clone().unwrap_or_default(),
        })
        .collect();
    let json_ld = web::script_json(&metadata::schema_org::schema_org(ds, &v, &base));
    Ok(web::DatasetPage {
        chrome,
        slug: ds.slug.clone(),
        title: ds.title.clone(),
        description: ds.description.clone(),
        domain: ds.domain.clone(),
        keywords: ds.keywords.join(", "),
        licence: ds.licence.clone(),
        licence_url,
        creators: ds.creators.iter().map(|c| c.name.clone()).collect(),
        publisher: ds.publisher.clone(),
        doi_url: metadata::effective_doi(ds, &v).map(metadata::doi_url),
        version: v.version.clone(),
        created: v.created.format("%Y-%m-%d").to_string(),
        changelog: v.changelog.clone(),
        rows: v.total_rows(),
        content_sha256: v.content_hash.clone(),
        versions: versions
            .iter()
            .map(|r| web::VersionLink {
                version: r.version.clone(),
                created: r.created_at.format("%Y-%m-%d").to_string(),
                url: format!("/datasets/{}/versions/{}", ds.slug, r.version),
                current: r.id == loaded.version_row.id,
            })
            .collect(),
        splits,
        features,
        bibtex: metadata::citation::bibtex(ds, &v, &base),
        documents: document_links(&base, &ds.slug, &v.version)
            .into_iter()
            .map(|(label, url)| web::Link {
                label: label.to_owned(),
                url,
            })
            .collect(),
        api_url: api_version_url(&base, &ds.slug, &v.version),
        example_url,
        json_ld,
    })
}

// ---------------------------------------------------------------------------
// Upload

/// Maps an ingestion failure to the response: problems of the upload are 422.
/// `multipart/form-data`: first `manifest` (the `dataset.yaml` text), then one part per
/// file the manifest lists, named by its manifest path (as the part's file name or name).
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    mut form: Multipart,
) -> ApiResult<Response> {
    caller.require("organize")?;
    let _slot = ops::datasets::upload_slot(&state.settings.uploads)?;
    let limits =
        ops::datasets::ingest_limits(state.settings.ingest, state.settings.request_timeout);
    let mut upload = ops::datasets::Upload::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
    {
        upload.part(&state.pool, &caller, field).await?;
    }
    let (built, outcome) = upload
        .finish(&state.pool, state.store.as_ref(), limits)
        .await?;
    let location = api_version_url(base(&state), &built.dataset.slug, &built.version.version);
    let (status, created) = match outcome {
        ops::datasets::Published::Created(_) => (StatusCode::CREATED, true),
        ops::datasets::Published::Unchanged(_) => (StatusCode::OK, false),
    };
    Ok((
        status,
        [(header::LOCATION, location.clone())],
        Json(json!({
            "dataset": built.dataset.slug,
            "version": built.version.version,
            "content_sha256": built.version.content_hash,
            "created": created,
            "url": location,
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), ByteRange::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), ByteRange::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), ByteRange::Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), ByteRange::Part(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), ByteRange::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), ByteRange::Unsatisfiable);
        assert_eq!(parse_range("bytes=9-1", 100), ByteRange::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), ByteRange::Whole);
        assert_eq!(parse_range("items=0-1", 100), ByteRange::Whole);
        assert_eq!(parse_range("bytes=a-b", 100), ByteRange::Whole);
        assert_eq!(parse_range("bytes=-", 100), ByteRange::Whole);
    }

    #[test]
    fn written_cells_equal_the_value_cells() {
        use arrow::array::{FixedSizeListArray, Float32Array};
        use arrow::datatypes::Field;
        let samples = [
            0.1f32,
            -0.0,
            1e-7,
            f32::NAN,
            3.4e38,
            1e-45,
            -2.5,
            f32::INFINITY,
            16777217.0,
            0.3333333,
            -1e10,
            7.0,
        ];
        let values: ArrayRef = Arc::new(Float32Array::from_iter(
            samples
                .iter()
                .enumerate()
                .map(|(k, &v)| (k != 6).then_some(v)),
        ));
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let lists: ArrayRef = Arc::new(FixedSizeListArray::new(item, 6, values.clone(), None));
        // Numbers compared as the f32 they stand for (serde_json's own float
        // parser is not correctly rounded in the last f64 bit).
        fn as_f32(v: Value) -> Value {
            match v {
                Value::Number(n) => json!(n.as_f64().unwrap() as f32),
                Value::Array(a) => Value::Array(a.into_iter().map(as_f32).collect()),
                other => other,
            }
        }
        let same = |column: &ArrayRef, i: usize, shape: &[usize]| {
            let mut text = String::new();
            write_cell(&mut text, column, i, shape);
            let written: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(as_f32(written), as_f32(cell(column, i, shape)), "{text}");
        };
        for shape in [&[6][..], &[2, 3], &[3, 2], &[4, 2], &[0, 6]] {
            same(&lists, 0, shape);
            same(&lists, 1, shape);
        }
        for i in 0..samples.len() {
            same(&values, i, &[]);
        }
    }

    #[test]
    fn digests_and_nesting() {
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(
            hex_to_base64(hex).as_deref(),
            Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
        );
        assert_eq!(hex_to_base64("zz"), None);
        let flat: Vec<Value> = (0..6).map(|i| json!(i)).collect();
        assert_eq!(nest(flat, &[2, 3]), json!([[0, 1, 2], [3, 4, 5]]));
        assert_eq!(f32_json(0.1), json!(0.1));
        assert_eq!(f32_json(f32::NAN), Value::Null);
    }
}
