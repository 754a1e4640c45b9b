//! JSON API of enrollment snapshots and coverage.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::analysis::{self, AnalysisQuery, DidView, DoseResponse, SchoolEngagement};
use super::coverage::{self, CoverageQuery, CoverageView};
use super::import::{self, ReportView};
use super::service::{self, Outcome, SnapshotDraft, SnapshotFilter, SnapshotView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::context::RequestCtx;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;
use crate::web::upload::read_body;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/enrollment/snapshots", web::get().to(list))
        .route("/enrollment/snapshots", web::post().to(save))
        .route("/enrollment/snapshots/{id}", web::get().to(get))
        .route("/enrollment/import", web::post().to(import_csv))
        .route("/coverage", web::get().to(coverage_json))
        .route("/coverage.csv", web::get().to(coverage_csv))
        .route("/analytics/engagement", web::get().to(engagement))
        .route("/analytics/panel.csv", web::get().to(panel_csv))
        .route("/analytics/did", web::get().to(did))
        .route("/analytics/dose-response", web::get().to(dose_response));
}

/// Snapshots of schools in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/enrollment/snapshots", tag = "enrollment", params(SnapshotFilter, PageQuery),
    responses((status = 200, body = Paged<SnapshotView>), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    actor: Actor,
    f: Query<SnapshotFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::list(&state.db, &actor, &f, PageParams::try_from(&*paging)?).await?))
}

/// Records a school's figures for a day: 201 when new, 200 when it corrects (the earlier
/// values stay in `history`) or repeats the stored ones.
#[utoipa::path(post, path = "/api/v1/enrollment/snapshots", tag = "enrollment", request_body = SnapshotDraft,
    responses((status = 201, body = SnapshotView), (status = 200, body = SnapshotView), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn save(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<SnapshotDraft>,
) -> AppResult<HttpResponse> {
    let (view, outcome) = service::save(&state.db, &actor, &body).await?;
    Ok(if outcome == Outcome::Created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// One snapshot with the values corrections replaced.
#[utoipa::path(get, path = "/api/v1/enrollment/snapshots/{id}", tag = "enrollment", params(("id" = i64, Path)),
    responses((status = 200, body = SnapshotView), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&state.db, &actor, *path).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// `true` (default): check and report only. `false`: write every row, or nothing.
    pub dry_run: Option<bool>,
    pub filename: Option<String>,
}

/// Imports snapshots from CSV (`text/csv`): columns school_code, taken_on, enrolled, insured,
/// state_funded, source.
#[utoipa::path(post, path = "/api/v1/enrollment/import", tag = "enrollment", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ReportView), (status = 422, body = ReportView, description = "Bad rows with row, column and reason; nothing written")),
    security(("bearer" = [])))]
pub async fn import_csv(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<ImportQuery>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    crate::campaigns::service::require_planner(actor)?;
    let content = read_body(payload, state.settings.max_upload_bytes).await?;
    if q.dry_run.unwrap_or(true) {
        let report = import::dry_run(&state.db, actor, &content).await?;
        let status = if report.errors.is_empty() {
            "dry_run"
        } else {
            "rejected"
        };
        let view = report.view(&state.i18n, ctx.lang, status, None);
        return Ok(if report.errors.is_empty() {
            HttpResponse::Ok().json(view)
        } else {
            HttpResponse::UnprocessableEntity().json(view)
        });
    }
    let filename = q.filename.clone().unwrap_or_else(|| "api.csv".into());
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

/// Coverage for the nation, a province or a commune as of a day: totals weighted by
/// enrollment, the places one level down, the monthly trend, the schools furthest from the
/// target and, with a campaign, uplift since its start with a 95% interval.
#[utoipa::path(get, path = "/api/v1/coverage", tag = "enrollment", params(CoverageQuery),
    responses((status = 200, body = CoverageView), (status = 404, description = "Place outside scope"), (status = 422)),
    security(("bearer" = [])))]
pub async fn coverage_json(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<CoverageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.coverage_of(&actor, &q).await?))
}

/// The same rows as CSV.
#[utoipa::path(get, path = "/api/v1/coverage.csv", tag = "enrollment", params(CoverageQuery),
    responses((status = 200, content_type = "text/csv", body = String)), security(("bearer" = [])))]
pub async fn coverage_csv(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<CoverageQuery>,
) -> AppResult<HttpResponse> {
    let v = state.coverage_of(&actor, &q).await?;
    Ok(csv_response(coverage::to_csv(&v)?, &v))
}

pub fn csv_response(body: Vec<u8>, v: &CoverageView) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"coverage-{}.csv\"", v.date),
        ))
        .body(body)
}

/// Engagement per school over whole months: sessions held, attendance, questions, messages
/// sent / delivered / opened / clicked, parents reached, media pieces, app notifications.
#[utoipa::path(get, path = "/api/v1/analytics/engagement", tag = "enrollment", params(AnalysisQuery),
    responses((status = 200, body = Vec<SchoolEngagement>), (status = 422)), security(("bearer" = [])))]
pub async fn engagement(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(analysis::engagement(&state.db, &actor, &q, state.tz()).await?))
}

/// The school panel in the `hi-outreach analyze did` CSV form: `unit,period,outcome,
/// first_treated,province` (period = months since December 1999, outcome = coverage %,
/// first_treated 0 = never), for checking the estimates in R (`did::att_gt`).
#[utoipa::path(get, path = "/api/v1/analytics/panel.csv", tag = "enrollment", params(AnalysisQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422)), security(("bearer" = [])))]
pub async fn panel_csv(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    let rows = analysis::panel(&state.db, &actor, &q, state.tz()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"panel.csv\""))
        .body(analysis::panel_csv(&rows)?))
}

/// Staggered difference-in-differences (Callaway & Sant'Anna 2021) of coverage on the chosen
/// treatment, clustered by province: overall effect, event study, pre-trend test, caveats.
#[utoipa::path(get, path = "/api/v1/analytics/did", tag = "enrollment", params(AnalysisQuery),
    responses((status = 200, body = DidView), (status = 400, description = "The data cannot support the estimate (reason given)"), (status = 422)),
    security(("bearer" = [])))]
pub async fn did(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(analysis::did(&state.db, &actor, &q, state.tz()).await?))
}

/// Uplift regressed on engagement intensity with controls, CR1 by province — an association.
#[utoipa::path(get, path = "/api/v1/analytics/dose-response", tag = "enrollment", params(AnalysisQuery),
    responses((status = 200, body = DoseResponse), (status = 400), (status = 422)), security(("bearer" = [])))]
pub async fn dose_response(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<AnalysisQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(analysis::dose_response(&state.db, &actor, &q, state.tz()).await?))
}
