//! JSON API of campaign planning. Same service calls as the pages.
use actix_web::{web, HttpResponse};

use super::activities::{self, ActivityDraft, ActivityFilter, ActivityView, Overview};
use super::calendar::{self, CalendarItem, CalendarQuery};
use super::service::{
    self, CampaignDraft, CampaignFilter, CampaignView, StatusChange, TopicDraft, TopicView,
};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/topics", web::get().to(list_topics))
        .route("/topics", web::post().to(create_topic))
        .route("/topics/{code}", web::put().to(update_topic))
        .route("/campaigns", web::get().to(list_campaigns))
        .route("/campaigns", web::post().to(create_campaign))
        .route("/campaigns/{id}", web::get().to(get_campaign))
        .route("/campaigns/{id}", web::put().to(update_campaign))
        .route("/campaigns/{id}/status", web::post().to(change_status))
        .route("/campaigns/{id}/overview", web::get().to(overview))
        .route("/activities", web::get().to(list_activities))
        .route("/activities", web::post().to(create_activity))
        .route("/activities/{id}", web::get().to(get_activity))
        .route("/activities/{id}", web::put().to(update_activity))
        .route("/calendar", web::get().to(calendar_items));
}

/// The topics taxonomy, inactive topics included.
#[utoipa::path(get, path = "/api/v1/topics", tag = "campaigns",
    responses((status = 200, body = Vec<TopicView>)), security(("bearer" = [])))]
pub async fn list_topics(state: web::Data<AppState>, _actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_topics(&state.db.conn).await?))
}

/// Adds a topic (admins).
#[utoipa::path(post, path = "/api/v1/topics", tag = "campaigns", request_body = TopicDraft,
    responses((status = 201, body = TopicView), (status = 403, description = "Admins only"), (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn create_topic(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<TopicDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::save_topic(&state.db, &actor, None, &body).await?))
}

/// Renames, reorders or deactivates a topic (admins); its code stays.
#[utoipa::path(put, path = "/api/v1/topics/{code}", tag = "campaigns", request_body = TopicDraft,
    params(("code" = String, Path)),
    responses((status = 200, body = TopicView), (status = 403, description = "Admins only"), (status = 404, description = "Unknown topic")),
    security(("bearer" = [])))]
pub async fn update_topic(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: Json<TopicDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::save_topic(&state.db, &actor, Some(&path), &body).await?))
}

/// Campaigns the caller sees: national ones and those touching their province or schools.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", params(CampaignFilter, PageQuery),
    responses((status = 200, body = Paged<CampaignView>)), security(("bearer" = [])))]
pub async fn list_campaigns(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<CampaignFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        service::list_campaigns(&state.db, &actor, &filter, PageParams::try_from(&*paging)?)
            .await?,
    ))
}

/// Creates a campaign in status `draft` (staff and admins; province staff within their province).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CampaignDraft,
    responses((status = 201, body = CampaignView), (status = 403, description = "Liaisons cannot"), (status = 422, description = "Invalid fields, each named")),
    security(("bearer" = [])))]
pub async fn create_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<CampaignDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create_campaign(&state.db, &actor, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, description = "Unknown or outside scope")), security(("bearer" = [])))]
pub async fn get_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_campaign(&state.db, &actor, *path).await?))
}

/// Replaces a campaign's fields (not its status); archived campaigns answer 409.
#[utoipa::path(put, path = "/api/v1/campaigns/{id}", tag = "campaigns", params(("id" = i64, Path)), request_body = CampaignDraft,
    responses((status = 200, body = CampaignView), (status = 403), (status = 404), (status = 409, description = "Archived"), (status = 422)),
    security(("bearer" = [])))]
pub async fn update_campaign(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<CampaignDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update_campaign(&state.db, &actor, *path, &body).await?))
}

/// Moves a campaign along draft → active ⇄ paused → completed → archived. A transition that
/// is not allowed answers 409 with the reason and the allowed next statuses.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/status", tag = "campaigns", params(("id" = i64, Path)), request_body = StatusChange,
    responses((status = 200, body = CampaignView), (status = 409, description = "Transition not allowed"), (status = 422, description = "Unknown status")),
    security(("bearer" = [])))]
pub async fn change_status(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<StatusChange>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::change_status(&state.db, &actor, *path, &body.status).await?))
}

/// Activities per channel, what is done, what is due in the next 14 days.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/overview", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Overview), (status = 404)), security(("bearer" = [])))]
pub async fn overview(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(activities::overview(&state.db, &actor, *path, chrono::Utc::now()).await?))
}

/// Activities, filtered by campaign, province, channel, status and days (Vietnam time).
#[utoipa::path(get, path = "/api/v1/activities", tag = "campaigns", params(ActivityFilter, PageQuery),
    responses((status = 200, body = Paged<ActivityView>), (status = 422)), security(("bearer" = [])))]
pub async fn list_activities(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<ActivityFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        activities::list_activities(
            &state.db,
            &actor,
            &filter,
            PageParams::try_from(&*paging)?,
            state.tz(),
        )
        .await?,
    ))
}

/// Adds an activity to a campaign (staff; province staff aim at their province or its schools).
#[utoipa::path(post, path = "/api/v1/activities", tag = "campaigns", request_body = ActivityDraft,
    responses((status = 201, body = ActivityView), (status = 403), (status = 409, description = "Campaign completed or archived"), (status = 422)),
    security(("bearer" = [])))]
pub async fn create_activity(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<ActivityDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(activities::create_activity(&state.db, &actor, &body, state.tz()).await?))
}

#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = ActivityView), (status = 404)), security(("bearer" = [])))]
pub async fn get_activity(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(activities::get_activity(&state.db, &actor, *path).await?))
}

#[utoipa::path(put, path = "/api/v1/activities/{id}", tag = "campaigns", params(("id" = i64, Path)), request_body = ActivityDraft,
    responses((status = 200, body = ActivityView), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn update_activity(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<ActivityDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(activities::update_activity(&state.db, &actor, *path, &body, state.tz()).await?))
}

/// Activities and consultation sessions between two days (inclusive, Vietnam time; at most 62 days).
#[utoipa::path(get, path = "/api/v1/calendar", tag = "campaigns", params(CalendarQuery),
    responses((status = 200, body = Vec<CalendarItem>), (status = 422)), security(("bearer" = [])))]
pub async fn calendar_items(
    state: web::Data<AppState>,
    actor: Actor,
    q: Query<CalendarQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(calendar::items(&state.db, &actor, &q, state.tz()).await?))
}
