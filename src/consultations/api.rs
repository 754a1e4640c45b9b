//! JSON API of consultation sessions and calendar feeds.
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::ics::{self, FeedView};
use super::service::{self, SessionDraft, SessionFilter, SessionLog, SessionView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list_sessions))
        .route("/sessions", web::post().to(create_session))
        .route("/sessions/{id}", web::get().to(get_session))
        .route("/sessions/{id}", web::put().to(update_session))
        .route("/sessions/{id}/log", web::put().to(log_session))
        .route("/sessions/{id}/ics", web::get().to(session_ics))
        .route("/calendar-feeds", web::get().to(list_feeds))
        .route("/calendar-feeds", web::post().to(create_feed))
        .route("/calendar-feeds/{id}", web::delete().to(revoke_feed));
}

/// Sessions at schools in the caller's scope.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(SessionFilter, PageQuery),
    responses((status = 200, body = Paged<SessionView>), (status = 422)), security(("bearer" = [])))]
pub async fn list_sessions(
    state: web::Data<AppState>,
    actor: Actor,
    f: Query<SessionFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(
        service::list_sessions(
            &state.db,
            &actor,
            &f,
            PageParams::try_from(&*paging)?,
            state.tz(),
            None,
        )
        .await?,
    ))
}

/// Schedules a session at a school of the caller's scope.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SessionDraft,
    responses((status = 201, body = SessionView), (status = 409, description = "Campaign completed or archived"), (status = 422, description = "Invalid fields, or a school outside the caller's scope")),
    security(("bearer" = [])))]
pub async fn create_session(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<SessionDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(service::create_session(&state.db, &actor, &body, state.tz()).await?))
}

/// One session with its log; 404 outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = SessionView), (status = 404)), security(("bearer" = [])))]
pub async fn get_session(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_session(&state.db, &actor, *path, state.tz()).await?))
}

/// Reschedules a session.
#[utoipa::path(put, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path)), request_body = SessionDraft,
    responses((status = 200, body = SessionView), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update_session(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<SessionDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::update_session(&state.db, &actor, *path, &body, state.tz()).await?))
}

/// Records what happened (replaces an earlier log): status, attendance, questions, tasks.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/log", tag = "sessions", params(("id" = i64, Path)), request_body = SessionLog,
    responses((status = 200, body = SessionView), (status = 404), (status = 422, description = "Invalid fields, e.g. `questions[0].topic`")),
    security(("bearer" = [])))]
pub async fn log_session(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<SessionLog>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::log_session(&state.db, &actor, *path, &body, state.tz()).await?))
}

/// The session as an iCalendar file.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/ics", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/calendar", body = String), (status = 404)), security(("bearer" = [])))]
pub async fn session_ics(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let body = ics::session_ics(&state.db, &actor, *path, host(&state), state.tz()).await?;
    Ok(ics_response(body, &format!("session-{}.ics", *path)))
}

pub fn host(state: &AppState) -> &str {
    state.settings.base_url.host_str().unwrap_or("hi-outreach")
}

pub fn ics_response(body: String, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// The caller's calendar feeds (their URLs are shown only when created).
#[utoipa::path(get, path = "/api/v1/calendar-feeds", tag = "sessions",
    responses((status = 200, body = Vec<FeedView>)), security(("bearer" = [])))]
pub async fn list_feeds(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ics::list_feeds(&state.db, &actor).await?))
}

#[derive(Debug, Default, serde::Deserialize, Serialize, utoipa::ToSchema)]
pub struct FeedRequest {
    /// A campaign (staff): its sessions and activities. Empty: the caller's own sessions.
    #[serde(default)]
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewFeed {
    pub feed: FeedView,
    /// The secret address to subscribe to; shown only now.
    pub url: String,
}

/// Creates a feed and answers its secret URL once.
#[utoipa::path(post, path = "/api/v1/calendar-feeds", tag = "sessions", request_body = FeedRequest,
    responses((status = 201, body = NewFeed), (status = 404, description = "Campaign unknown or outside scope")), security(("bearer" = [])))]
pub async fn create_feed(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<FeedRequest>,
) -> AppResult<HttpResponse> {
    let (feed, path) = ics::create_feed(&state.db, &actor, body.campaign_id).await?;
    let base = state.settings.base_url.as_str().trim_end_matches('/');
    Ok(HttpResponse::Created().json(NewFeed {
        feed,
        url: format!("{base}{path}"),
    }))
}

/// Revokes a feed: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/calendar-feeds/{id}", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = FeedView), (status = 404)), security(("bearer" = [])))]
pub async fn revoke_feed(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ics::revoke_feed(&state.db, &actor, *path).await?))
}
