//! JSON API of audiences.
use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::audience::{self, AudienceDraft, AudienceView, Preview};
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
