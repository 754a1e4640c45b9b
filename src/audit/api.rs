//! JSON API of the audit log (admins only).
use actix_web::{web, HttpResponse};

use super::{AuditEntry, AuditFilter};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list));
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditFilter, PageQuery),
    responses((status = 200, body = Paged<AuditEntry>), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<AuditFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = super::list(
        &state.db,
        &actor,
        &filter,
        state.tz(),
        PageParams::try_from(&*paging)?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
