//! JSON API for students, guardians, consent and the student import. Same service calls as
//! the pages.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::import::{self, CommitMode, Kind, ReportView};
use super::service::{
    self, ConsentInput, GuardianDetail, StudentDetail, StudentFilter, StudentView,
};
use crate::auth::actor::Actor;
use crate::error::{AppError, AppResult, Msg};
use crate::imports;
use crate::web::context::RequestCtx;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/students", web::get().to(list_students))
        .route("/students/import", web::post().to(import_students))
        .route("/students/{id}", web::get().to(get_student))
        .route("/students/{id}/hi_status", web::put().to(set_hi_status))
        .route("/guardians/{id}", web::get().to(get_guardian))
        .route("/guardians/{id}", web::delete().to(erase_guardian))
        .route("/guardians/{id}/consents", web::post().to(record_consent))
        .route("/guardians/{id}/export", web::get().to(export_guardian));
}

/// Students in the caller's scope. SI numbers are masked for staff.
#[utoipa::path(get, path = "/api/v1/students", tag = "contacts",
    params(StudentFilter, PageQuery),
    responses((status = 200, body = Paged<StudentView>), (status = 422, description = "Bad filter")),
    security(("bearer" = [])))]
pub async fn list_students(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<StudentFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page =
        service::list_students(&state.db, &actor, &filter, PageParams::try_from(&*paging)?).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A student with guardians and their current consent; 404 outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/students/{id}", tag = "contacts",
    params(("id" = i64, Path)),
    responses((status = 200, body = StudentDetail), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get_student(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_student(&state.db, &actor, *path).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HiStatusBody {
    /// `insured`, `uninsured` or `state_funded`.
    #[serde(default)]
    pub hi_status: String,
    /// dd/mm/yyyy or yyyy-mm-dd; empty for none.
    #[serde(default)]
    pub card_valid_until: Option<String>,
}

/// Records a student's HI status (any role, within scope).
#[utoipa::path(put, path = "/api/v1/students/{id}/hi_status", tag = "contacts",
    params(("id" = i64, Path)), request_body = HiStatusBody,
    responses((status = 200, body = StudentView), (status = 404, description = "Unknown or outside scope"),
        (status = 422, description = "Invalid status or date")),
    security(("bearer" = [])))]
pub async fn set_hi_status(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<HiStatusBody>,
) -> AppResult<HttpResponse> {
    let (status, until) = super::pages::parse_status(
        &body.hi_status,
        body.card_valid_until.as_deref().unwrap_or(""),
    )?;
    Ok(HttpResponse::Ok()
        .json(service::set_hi_status(&state.db, &actor, *path, status, until).await?))
}

/// A guardian, their students in the caller's scope, and the consent history.
#[utoipa::path(get, path = "/api/v1/guardians/{id}", tag = "contacts",
    params(("id" = i64, Path)),
    responses((status = 200, body = GuardianDetail), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get_guardian(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_guardian(&state.db, &actor, *path).await?))
}

/// Appends a consent decision (the history is never rewritten).
#[utoipa::path(post, path = "/api/v1/guardians/{id}/consents", tag = "contacts",
    params(("id" = i64, Path)), request_body = ConsentInput,
    responses((status = 200, body = GuardianDetail), (status = 404, description = "Unknown or outside scope"),
        (status = 422, description = "Invalid channel or source")),
    security(("bearer" = [])))]
pub async fn record_consent(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<ConsentInput>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::record_consent(&state.db, &actor, *path, &body).await?))
}

/// Everything stored about a guardian (admins; for data-subject requests).
#[utoipa::path(get, path = "/api/v1/guardians/{id}/export", tag = "contacts",
    params(("id" = i64, Path)),
    responses((status = 200, description = "JSON export"), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub async fn export_guardian(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::export_guardian(&state.db, &actor, *path).await?))
}

/// Erases a guardian's personal data; counts and consent proof remain (admins).
#[utoipa::path(delete, path = "/api/v1/guardians/{id}", tag = "contacts",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Erased"), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub async fn erase_guardian(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    service::erase_guardian(&state.db, &actor, *path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StudentImportQuery {
    /// `students` (students with guardians; default) or `hi_status` (status updates only).
    pub kind: Option<String>,
    /// `true` (default): check and report only. `false`: write.
    pub dry_run: Option<bool>,
    /// `all_or_nothing` (default) or `valid_only`.
    pub mode: Option<CommitMode>,
    pub filename: Option<String>,
}

/// Imports students with guardians, or HI-status updates, from CSV (`text/csv` body). The body
/// streams through; a commit stores it in pieces, checks it, then writes in one transaction.
#[utoipa::path(post, path = "/api/v1/students/import", tag = "contacts",
    params(StudentImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ReportView, description = "A clean dry run, or committed"),
        (status = 422, body = ReportView, description = "Bad rows (each with row, column, reason); nothing written"),
        (status = 413, description = "File too large")),
    security(("bearer" = [])))]
pub async fn import_students(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<StudentImportQuery>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let kind = match q.kind.as_deref() {
        None => Kind::Students,
        Some(k) => Kind::parse(k).ok_or_else(|| {
            AppError::invalid(
                "kind",
                Msg::new("error-one-of").arg("allowed", "students, hi_status"),
            )
        })?,
    };
    import::require_importer(actor, kind)?;
    let limit = state.settings.max_upload_bytes;
    let respond = |report: &import::Report, status: &str, id: Option<i64>| {
        let view = report.view(&state.i18n, ctx.lang, status, id);
        if report.has_errors() {
            HttpResponse::UnprocessableEntity().json(view)
        } else {
            HttpResponse::Ok().json(view)
        }
    };
    if q.dry_run.unwrap_or(true) {
        let report = import::check(&state.db, actor, kind, move |tx| {
            imports::pump(payload, limit, None, tx)
        })
        .await?;
        return Ok(respond(
            &report,
            if report.has_errors() {
                "rejected"
            } else {
                "dry_run"
            },
            None,
        ));
    }
    let filename = q.filename.clone().unwrap_or_else(|| "api.csv".into());
    let pending = imports::create_chunked(&state.db, actor, kind.code(), &filename).await?;
    let db = state.db.clone();
    let checked = import::check(&state.db, actor, kind, move |tx| {
        imports::pump(payload, limit, Some((db, pending.id)), tx)
    })
    .await;
    let report = match checked {
        Ok(r) => r,
        Err(e) => {
            imports::discard(&state.db, pending.id).await?;
            return Err(e);
        }
    };
    imports::finish_check(&state.db, actor, &pending, report.counts(0)).await?;
    let mode = q.mode.unwrap_or_default();
    if report.has_errors() && mode == CommitMode::AllOrNothing {
        imports::discard(&state.db, pending.id).await?;
        return Ok(respond(&report, "rejected", None));
    }
    let (written_report, _) = import::commit(&state.db, actor, kind, pending.id, mode).await?;
    let view = written_report.view(&state.i18n, ctx.lang, "committed", Some(pending.id));
    Ok(HttpResponse::Ok().json(view))
}
