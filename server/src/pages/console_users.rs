//! `/console/users`: admins grant and revoke the organizer role. Organizing
//! is a role, not something a user can give themselves; every change is
//! audited.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::{OrPage, PageError, check_form, chrome, render, require_user, see_other};
use crate::accounts::Viewer;
use crate::{ApiError, AppState, ops};

const PATH: &str = "/console/users";
/// Users listed on the page.
const LISTED: i64 = 1000;

/// The signed-in admin, or 403.
fn require_admin(viewer: &Viewer) -> Result<&db::users::User, PageError> {
    let user = require_user(viewer, PATH)?;
    if !user.is_admin {
        return Err(ApiError::Forbidden("only admins manage roles".into())).or_page(viewer);
    }
    Ok(user)
}

pub async fn index(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    require_admin(&viewer)?;
    let users = db::users::list(&state.pool, LISTED)
        .await
        .or_page(&viewer)?
        .into_iter()
        .map(|u| web::UserItem {
            roles: if u.is_admin {
                "admin".into()
            } else if u.can_organize {
                "organizer".into()
            } else {
                "—".into()
            },
            organizer: u.can_organize,
            is_admin: u.is_admin,
            handle: u.handle,
            display_name: u.display_name,
        })
        .collect();
    Ok(render(web::ConsoleUsersPage {
        chrome: chrome(&viewer),
        users,
        notice: None,
    }))
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    grant: String,
}

pub async fn set_organizer(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(handle): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, PageError> {
    check_form(&viewer, &form.csrf, PATH)?;
    let admin = require_admin(&viewer)?.clone();
    let grant = match form.grant.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(ApiError::BadRequest(format!(
                "`grant`: `{other}` is not true or false"
            )))
            .or_page(&viewer);
        }
    };
    let user = db::users::by_handle(&state.pool, &handle)
        .await
        .or_page(&viewer)?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{handle}`")))
        .or_page(&viewer)?;
    db::users::set_organizer(&state.pool, user.id, grant)
        .await
        .or_page(&viewer)?;
    let action = if grant {
        "user.organizer.grant"
    } else {
        "user.organizer.revoke"
    };
    let detail = serde_json::json!({ "via": "console" });
    ops::audit::record(
        &state.pool,
        &admin,
        action,
        ops::audit::On::Site,
        &handle,
        detail,
    )
    .await
    .or_page(&viewer)?;
    Ok(see_other(PATH))
}
