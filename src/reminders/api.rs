//! JSON API of audiences, waves, reminder rules and schools' collection deadlines.
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::audience::{self, AudienceDraft, AudienceView, Preview};
use super::rules::{self, DryRun, RuleDetail, RuleDraft, RuleView};
use super::waves::{self, Estimate, WaveDetail, WaveDraft, WaveView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::Json;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audiences", web::get().to(list))
        .route("/audiences", web::post().to(create))
        .route("/audiences/preview", web::post().to(preview))
        .route("/audiences/{id}", web::get().to(get))
        .route("/audiences/{id}", web::put().to(update));
    configure_sending(cfg);
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AudienceWithCount {
    #[serde(flatten)]
    pub audience: AudienceView,
    /// Guardians it picks now.
    pub guardians: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AudienceDetail {
    pub audience: AudienceView,
    pub preview: Preview,
}

/// Saved audiences within the caller's scope, each with its live count.
#[utoipa::path(get, path = "/api/v1/audiences", tag = "reminders",
    responses((status = 200, body = Vec<AudienceWithCount>)), security(("bearer" = [])))]
pub async fn list(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    let items: Vec<AudienceWithCount> = audience::list(&state.db, &actor)
        .await?
        .into_iter()
        .map(|(audience, guardians)| AudienceWithCount {
            audience,
            guardians,
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// Who a filter picks now, without saving it: counts and ten guardians (contacts masked).
#[utoipa::path(post, path = "/api/v1/audiences/preview", tag = "reminders", request_body = AudienceDraft,
    responses((status = 200, body = Preview), (status = 422)), security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<AudienceDraft>,
) -> AppResult<HttpResponse> {
    crate::campaigns::service::require_planner(&actor)?;
    let (_, spec) = audience::validate(&state.db.conn, &actor, &body, false).await?;
    Ok(HttpResponse::Ok().json(audience::preview(&state.db.conn, &actor, &spec, 10).await?))
}

/// Saves an audience (staff; province staff within their province).
#[utoipa::path(post, path = "/api/v1/audiences", tag = "reminders", request_body = AudienceDraft,
    responses((status = 201, body = AudienceView), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<AudienceDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(audience::save(&state.db, &actor, None, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/audiences/{id}", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = AudienceDetail), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (audience, preview) = audience::get(&state.db, &actor, *path).await?;
    Ok(HttpResponse::Ok().json(AudienceDetail { audience, preview }))
}

#[utoipa::path(put, path = "/api/v1/audiences/{id}", tag = "reminders", params(("id" = i64, Path)), request_body = AudienceDraft,
    responses((status = 200, body = AudienceView), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<AudienceDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audience::save(&state.db, &actor, Some(*path), &body).await?))
}

pub fn configure_sending(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves", web::get().to(list_waves))
        .route("/waves", web::post().to(create_wave))
        .route("/waves/preview", web::post().to(preview_wave))
        .route("/waves/{id}", web::get().to(get_wave))
        .route("/waves/{id}", web::put().to(update_wave))
        .route("/waves/{id}/confirm", web::post().to(confirm_wave))
        .route("/waves/{id}/cancel", web::post().to(cancel_wave))
        .route("/waves/{id}/retry", web::post().to(retry_wave))
        .route("/rules", web::get().to(list_rules))
        .route("/rules", web::post().to(create_rule))
        .route("/rules/schedule-preview", web::post().to(schedule_preview))
        .route("/rules/{id}", web::get().to(get_rule))
        .route("/rules/{id}", web::put().to(update_rule))
        .route("/rules/{id}/activate", web::post().to(activate_rule))
        .route("/rules/{id}/pause", web::post().to(pause_rule))
        .route("/rules/{id}/dry-run", web::post().to(dry_run_rule))
        .route("/schools/{id}/deadline", web::put().to(set_deadline));
}

/// Waves within the caller's scope (staff; a province's staff see their province's).
#[utoipa::path(get, path = "/api/v1/waves", tag = "reminders",
    responses((status = 200, body = Vec<WaveView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_waves(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(waves::list(&state.db, &actor).await?))
}

/// What a wave would do if sent now, without saving it: recipients per channel, those the
/// frequency cap holds back, SMS segments and cost, and a few messages as parents would read
/// them.
#[utoipa::path(post, path = "/api/v1/waves/preview", tag = "reminders", request_body = WaveDraft,
    responses((status = 200, body = Estimate), (status = 422)), security(("bearer" = [])))]
pub async fn preview_wave(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<WaveDraft>,
) -> AppResult<HttpResponse> {
    let e = waves::preview(&state.db, &actor, &state.composer(), &state.settings, &body).await?;
    Ok(HttpResponse::Ok().json(e))
}

/// Saves a draft wave with its estimate. It is sent only once confirmed.
#[utoipa::path(post, path = "/api/v1/waves", tag = "reminders", request_body = WaveDraft,
    responses((status = 201, body = WaveView), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_wave(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<WaveDraft>,
) -> AppResult<HttpResponse> {
    let w = waves::save(
        &state.db,
        &actor,
        &state.composer(),
        &state.settings,
        None,
        &body,
    )
    .await?;
    Ok(HttpResponse::Created().json(w))
}

/// A wave and its progress (the delivery funnel of its messages).
#[utoipa::path(get, path = "/api/v1/waves/{id}", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = WaveDetail), (status = 404)), security(("bearer" = [])))]
pub async fn get_wave(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(waves::get(&state.db, &actor, *path).await?))
}

/// Changes a draft wave (409 once confirmed).
#[utoipa::path(put, path = "/api/v1/waves/{id}", tag = "reminders", params(("id" = i64, Path)), request_body = WaveDraft,
    responses((status = 200, body = WaveView), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn update_wave(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<WaveDraft>,
) -> AppResult<HttpResponse> {
    let w = waves::save(
        &state.db,
        &actor,
        &state.composer(),
        &state.settings,
        Some(*path),
        &body,
    )
    .await?;
    Ok(HttpResponse::Ok().json(w))
}

/// Confirms a draft: counted again, then sent at its time (the campaign must be active).
#[utoipa::path(post, path = "/api/v1/waves/{id}/confirm", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = WaveView), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn confirm_wave(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let w = waves::confirm(&state.db, &actor, &state.composer(), &state.settings, *path).await?;
    Ok(HttpResponse::Ok().json(w))
}

/// Cancels a wave not yet finished; its messages not yet sent are cancelled.
#[utoipa::path(post, path = "/api/v1/waves/{id}/cancel", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = WaveView), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn cancel_wave(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(waves::cancel(&state.db, &actor, *path).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Retried {
    /// Dead messages queued again.
    pub retried: u64,
}

/// Sends the wave's dead messages again (failures only).
#[utoipa::path(post, path = "/api/v1/waves/{id}/retry", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = Retried), (status = 404)), security(("bearer" = [])))]
pub async fn retry_wave(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let retried = waves::retry_failures(&state.db, &actor, *path).await?;
    Ok(HttpResponse::Ok().json(Retried { retried }))
}

/// Reminder rules within the caller's scope, each with its next five fire times.
#[utoipa::path(get, path = "/api/v1/rules", tag = "reminders",
    responses((status = 200, body = Vec<RuleView>), (status = 403)), security(("bearer" = [])))]
pub async fn list_rules(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(rules::list(&state.db, &actor, &state.settings).await?))
}

/// Creates a reminder rule (staff; a province's staff within their province).
#[utoipa::path(post, path = "/api/v1/rules", tag = "reminders", request_body = RuleDraft,
    responses((status = 201, body = RuleView), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_rule(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<RuleDraft>,
) -> AppResult<HttpResponse> {
    let r = rules::save(&state.db, &actor, &state.settings, None, &body).await?;
    Ok(HttpResponse::Created().json(r))
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SchedulePreviewRequest {
    /// `cron` or `deadline`.
    pub schedule_kind: String,
    pub cron: String,
    pub offsets: String,
    pub at_time: String,
    /// For `deadline`: the campaign whose school year's deadlines count.
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SchedulePreview {
    /// The next five fire times (UTC; shown in Vietnam time on the pages).
    pub upcoming: Vec<chrono::DateTime<chrono::Utc>>,
}

/// The next five fire times of a schedule, before saving it.
#[utoipa::path(post, path = "/api/v1/rules/schedule-preview", tag = "reminders", request_body = SchedulePreviewRequest,
    responses((status = 200, body = SchedulePreview), (status = 422)), security(("bearer" = [])))]
pub async fn schedule_preview(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<SchedulePreviewRequest>,
) -> AppResult<HttpResponse> {
    let upcoming = rules::preview_schedule(
        &state.db,
        &actor,
        &state.settings,
        &body.schedule_kind,
        &body.cron,
        &body.offsets,
        &body.at_time,
        body.campaign_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(SchedulePreview { upcoming }))
}

/// A rule, its next fire times and its latest occurrences.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = RuleDetail), (status = 404)), security(("bearer" = [])))]
pub async fn get_rule(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(rules::get(&state.db, &actor, &state.settings, *path).await?))
}

#[utoipa::path(put, path = "/api/v1/rules/{id}", tag = "reminders", params(("id" = i64, Path)), request_body = RuleDraft,
    responses((status = 200, body = RuleView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update_rule(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<RuleDraft>,
) -> AppResult<HttpResponse> {
    let r = rules::save(&state.db, &actor, &state.settings, Some(*path), &body).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Turns a rule on: it fires from its next fire time after now.
#[utoipa::path(post, path = "/api/v1/rules/{id}/activate", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = RuleView), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn activate_rule(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let r = rules::set_active(&state.db, &actor, &state.settings, *path, true).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[utoipa::path(post, path = "/api/v1/rules/{id}/pause", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = RuleView), (status = 404)), security(("bearer" = [])))]
pub async fn pause_rule(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let r = rules::set_active(&state.db, &actor, &state.settings, *path, false).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Who would get the rule's next reminder now, and what they would read (nothing is sent).
#[utoipa::path(post, path = "/api/v1/rules/{id}/dry-run", tag = "reminders", params(("id" = i64, Path)),
    responses((status = 200, body = DryRun), (status = 404)), security(("bearer" = [])))]
pub async fn dry_run_rule(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let d = rules::dry_run(&state.db, &actor, &state.composer(), &state.settings, *path).await?;
    Ok(HttpResponse::Ok().json(d))
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DeadlineRequest {
    /// A school year code, e.g. `2025-2026`.
    pub school_year: String,
    /// The school's own HI collection deadline (`yyyy-mm-dd`); empty or null for the year's.
    pub deadline: Option<String>,
}

/// Sets a school's own HI collection deadline for a school year (deadline-relative reminder
/// rules use it instead of the year's).
#[utoipa::path(put, path = "/api/v1/schools/{id}/deadline", tag = "reminders", params(("id" = i64, Path)), request_body = DeadlineRequest,
    responses((status = 204), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn set_deadline(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<DeadlineRequest>,
) -> AppResult<HttpResponse> {
    let deadline = match body.deadline.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(crate::web::format::parse_day(d, "deadline")?),
    };
    rules::set_school_deadline(&state.db, &actor, *path, &body.school_year, deadline).await?;
    rules::reschedule_deadline_rules(&state.db, &state.settings).await?;
    Ok(HttpResponse::NoContent().finish())
}
