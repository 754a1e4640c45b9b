//! JSON API of the organisation map. Same service calls as the pages.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::import::{self, ImportReportView};
use super::service::{self, CommuneView, ProvinceSummary, SchoolDraft, SchoolFilter, SchoolView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::context::RequestCtx;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;
use crate::web::upload::read_body;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/provinces", web::get().to(list_provinces))
        .route("/provinces/{code}", web::get().to(get_province))
        .route("/provinces/{code}/communes", web::get().to(list_communes))
        .route("/schools", web::get().to(list_schools))
        .route("/schools", web::post().to(create_school))
        .route("/schools/import", web::post().to(import_schools))
        .route("/schools/{id}", web::get().to(get_school))
        .route("/schools/{id}", web::put().to(update_school));
}

/// Provinces in the caller's scope, with counts of visible communes, schools and students.
#[utoipa::path(get, path = "/api/v1/provinces", tag = "organisation",
    responses((status = 200, body = Vec<ProvinceSummary>), (status = 401, description = "No or bad token")),
    security(("bearer" = [])))]
pub async fn list_provinces(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_provinces(&state.db, &actor).await?))
}

/// One province by its two-digit code; 404 outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/provinces/{code}", tag = "organisation",
    params(("code" = String, Path, description = "Province code, e.g. 79")),
    responses((status = 200, body = ProvinceSummary), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get_province(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_province(&state.db, &actor, &path).await?))
}

/// Communes of a province.
#[utoipa::path(get, path = "/api/v1/provinces/{code}/communes", tag = "organisation",
    params(("code" = String, Path, description = "Province code")),
    responses((status = 200, body = Vec<CommuneView>), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn list_communes(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_communes(&state.db, &actor, &path).await?))
}

/// Schools in the caller's scope, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/schools", tag = "organisation",
    params(SchoolFilter, PageQuery),
    responses((status = 200, body = Paged<SchoolView>), (status = 422, description = "Bad filter or paging")),
    security(("bearer" = [])))]
pub async fn list_schools(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<SchoolFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page =
        service::list_schools(&state.db, &actor, &filter, PageParams::try_from(&*paging)?).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One school; 404 when unknown or outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/schools/{id}", tag = "organisation",
    params(("id" = i64, Path)),
    responses((status = 200, body = SchoolView), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get_school(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_school(&state.db, &actor, *path).await?))
}

/// Creates a school (admins; staff in their province).
#[utoipa::path(post, path = "/api/v1/schools", tag = "organisation",
    request_body = SchoolDraft,
    responses((status = 201, body = SchoolView), (status = 403, description = "Liaisons cannot"),
        (status = 422, description = "Invalid fields, each named")),
    security(("bearer" = [])))]
pub async fn create_school(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<SchoolDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create_school(&state.db, &actor, &body).await?))
}

/// Replaces a school's fields.
#[utoipa::path(put, path = "/api/v1/schools/{id}", tag = "organisation",
    params(("id" = i64, Path)), request_body = SchoolDraft,
    responses((status = 200, body = SchoolView), (status = 403, description = "Liaisons cannot"),
        (status = 404, description = "Unknown or outside scope"), (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn update_school(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<SchoolDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update_school(&state.db, &actor, *path, &body).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// `true` (default): check and report only. `false`: write every row, or nothing if any
    /// row is bad (then 422 with the report).
    pub dry_run: Option<bool>,
    /// Recorded with the import.
    pub filename: Option<String>,
}

/// Imports schools from CSV (`text/csv` body). See the column list in the README.
#[utoipa::path(post, path = "/api/v1/schools/import", tag = "organisation",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReportView, description = "A clean dry run, or committed"),
        (status = 422, body = ImportReportView, description = "Bad rows, each with row, column and reason; nothing written"),
        (status = 413, description = "File too large")),
    security(("bearer" = [])))]
pub async fn import_schools(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<ImportQuery>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    actor.require_map_editor()?;
    let content = read_body(payload, state.settings.max_upload_bytes).await?;
    let filename = q.filename.clone().unwrap_or_else(|| "api.csv".into());
    if q.dry_run.unwrap_or(true) {
        let report = import::dry_run(&state.db, actor, &content).await?;
        return Ok(if report.errors.is_empty() {
            HttpResponse::Ok().json(report.view(&state.i18n, ctx.lang, "dry_run", None))
        } else {
            HttpResponse::UnprocessableEntity().json(report.view(
                &state.i18n,
                ctx.lang,
                "rejected",
                None,
            ))
        });
    }
    let (report, id) = import::commit(&state.db, actor, &filename, content, None).await?;
    Ok(match id {
        Some(id) => {
            HttpResponse::Ok().json(report.view(&state.i18n, ctx.lang, "committed", Some(id)))
        }
        None => HttpResponse::UnprocessableEntity().json(report.view(
            &state.i18n,
            ctx.lang,
            "rejected",
            None,
        )),
    })
}
