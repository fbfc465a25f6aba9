//! The organizer console's dataset upload: a manifest (file or pasted) and the
//! files it lists, published through the same `ops::datasets::Upload` as the
//! API's `POST /api/v1/datasets`.

use axum::extract::{Multipart, State};
use axum::response::Response;

use super::{OrPage, PageError, chrome, render, render_status, require_organizer, see_other};
use crate::accounts::Viewer;
use crate::api::datasets::MAX_UPLOAD_BYTES;
use crate::{ApiError, AppState, ops};

const PATH: &str = "/console/new/dataset";

pub async fn form(viewer: Viewer) -> Result<Response, PageError> {
    require_organizer(&viewer, PATH)?;
    Ok(render(page(&viewer, String::new(), None)))
}

fn page(
    viewer: &Viewer,
    manifest: String,
    error: Option<web::FieldError>,
) -> web::ConsoleDatasetPage {
    web::ConsoleDatasetPage {
        chrome: chrome(viewer),
        manifest,
        error,
        max_upload_mib: (MAX_UPLOAD_BYTES >> 20) as u64,
    }
}

/// What went wrong, and beside which field.
struct Refusal {
    field: &'static str,
    error: ApiError,
}

fn at(field: &'static str) -> impl FnOnce(ApiError) -> Refusal {
    move |error| Refusal { field, error }
}

pub async fn upload(
    State(state): State<AppState>,
    viewer: Viewer,
    form: Multipart,
) -> Result<Response, PageError> {
    require_organizer(&viewer, PATH)?;
    let mut pasted = String::new();
    match receive(&state, &viewer, form, &mut pasted).await {
        Ok((slug, version)) => Ok(see_other(&format!("/datasets/{slug}/versions/{version}"))),
        Err(Refusal { field, error }) => {
            let status = error.status();
            // A stale CSRF token or a failure of ours: the error page, not the form.
            if field == "csrf" || status.is_server_error() {
                return Err(error).or_page(&viewer);
            }
            let error = web::FieldError {
                field: field.into(),
                message: error.to_string(),
            };
            Ok(render_status(status, page(&viewer, pasted, Some(error))))
        }
    }
}

/// Read the form: the CSRF token first (browsers send fields in document order),
/// then the manifest (file, else pasted text), then the files.
async fn receive(
    state: &AppState,
    viewer: &Viewer,
    mut form: Multipart,
    pasted: &mut String,
) -> Result<(String, String), Refusal> {
    let caller = viewer.caller();
    let _slot = ops::datasets::upload_slot(&state.settings.uploads).map_err(at("files"))?;
    let limits =
        ops::datasets::ingest_limits(state.settings.ingest, state.settings.request_timeout);
    let mut upload = ops::datasets::Upload::new();
    let (mut csrf_checked, mut manifest_file, mut manifest_taken) = (false, String::new(), false);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("malformed upload: {e}")))
        .map_err(at("files"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csrf" {
            let token = field.text().await.unwrap_or_default();
            viewer.check_csrf(&token).map_err(at("csrf"))?;
            csrf_checked = true;
            continue;
        }
        if !csrf_checked {
            return Err(at("csrf")(ApiError::Forbidden(
                "the form's security token must come first; reload the page and send it again"
                    .into(),
            )));
        }
        match name.as_str() {
            "manifest_file" | "manifest" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::multipart_field(&name, e))
                    .map_err(at("manifest"))?
                    .replace("\r\n", "\n");
                if name == "manifest" {
                    *pasted = text;
                } else {
                    manifest_file = text;
                }
            }
            _ => {
                if !manifest_taken {
                    take_manifest(state, &caller, &mut upload, &manifest_file, pasted).await?;
                    manifest_taken = true;
                }
                upload
                    .part(&state.pool, &caller, field)
                    .await
                    .map_err(at("files"))?;
            }
        }
    }
    if !csrf_checked {
        return Err(at("csrf")(ApiError::Forbidden(
            "the form's security token is missing; reload the page and send it again".into(),
        )));
    }
    if !manifest_taken {
        take_manifest(state, &caller, &mut upload, &manifest_file, pasted).await?;
    }
    let (built, _) = upload
        .finish(&state.pool, state.store.as_ref(), limits)
        .await
        .map_err(at("files"))?;
    Ok((built.dataset.slug, built.version.version))
}

async fn take_manifest(
    state: &AppState,
    caller: &crate::auth::Caller,
    upload: &mut ops::datasets::Upload,
    file: &str,
    pasted: &str,
) -> Result<(), Refusal> {
    let text = if file.trim().is_empty() { pasted } else { file };
    if text.trim().is_empty() {
        return Err(at("manifest")(ApiError::BadRequest(
            "choose the manifest file (dataset.yaml) or paste it".into(),
        )));
    }
    upload
        .manifest(&state.pool, caller, text)
        .await
        .map_err(at("manifest"))
}
