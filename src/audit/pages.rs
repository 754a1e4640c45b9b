//! The admin page of the audit log, with filters.
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AuditFilter;
use crate::error::AppResult;
use crate::web::context::RequestCtx;
use crate::web::extract::Query;
use crate::web::paging::{PageParams, PageQuery};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/audit", web::get().to(list));
}

async fn list(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    filter: Query<AuditFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let entries = super::list(
        &state.db,
        actor,
        &filter,
        state.tz(),
        PageParams::try_from(&*paging)?,
    )
    .await?;
    let entries = entries.map(|e| {
        let summary = if e.summary.as_object().is_some_and(|m| m.is_empty()) {
            String::new()
        } else {
            e.summary.to_string()
        };
        json!({"entry": e, "summary_text": summary})
    });
    state.page(
        &ctx,
        "admin/audit",
        json!({"entries": entries, "filter": &*filter}),
    )
}
