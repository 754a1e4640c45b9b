//! JSON API for message templates. Same service calls as the pages.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::service::{self, Preview, TemplateDraft, TemplateFilter, TemplateView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::{Json, Query};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/templates", web::get().to(list))
        .route("/templates", web::post().to(create))
        .route("/templates/{id}", web::get().to(get))
        .route("/templates/{id}", web::put().to(update))
        .route("/templates/{id}/preview", web::post().to(preview));
}

/// Message templates (current versions).
#[utoipa::path(get, path = "/api/v1/templates", tag = "messages",
    params(TemplateFilter),
    responses((status = 200, body = Vec<TemplateView>)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<TemplateFilter>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&state.db, &actor, &filter).await?))
}

/// Creates a template (staff and admins). Content is checked on save: unknown variables and
/// unbalanced blocks are 422 errors naming the field and line.
#[utoipa::path(post, path = "/api/v1/templates", tag = "messages",
    request_body = TemplateDraft,
    responses((status = 201, body = TemplateView), (status = 403, description = "Liaisons cannot"),
        (status = 422, description = "Invalid fields or template errors")),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<TemplateDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::create(&state.db, &actor, &body).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VersionQuery {
    /// A past version; the current one by default.
    pub version: Option<i32>,
}

/// A template with one version's content and the list of versions.
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "messages",
    params(("id" = i64, Path), VersionQuery),
    responses((status = 200, body = TemplateView), (status = 404, description = "Unknown template or version")),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    q: Query<VersionQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&state.db, &actor, *path, q.version).await?))
}

/// Saves an edit as a new version (the channel cannot change).
#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "messages",
    params(("id" = i64, Path)), request_body = TemplateDraft,
    responses((status = 200, body = TemplateView), (status = 422, description = "Invalid fields or template errors")),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<TemplateDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::update(&state.db, &actor, *path, &body).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// Fill the template with this guardian's data (within the caller's scope) instead of sample data.
    pub guardian_id: Option<i64>,
    pub version: Option<i32>,
}

/// Renders a template exactly as a parent would receive it; SMS comes with its encoding,
/// segment count and unaccented variant.
#[utoipa::path(post, path = "/api/v1/templates/{id}/preview", tag = "messages",
    params(("id" = i64, Path)), request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 404, description = "Unknown template, or guardian outside scope")),
    security(("bearer" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<PreviewRequest>,
) -> AppResult<HttpResponse> {
    let base = state.settings.base();
    let p = service::preview(
        &state.db,
        &actor,
        &state.i18n,
        &base,
        *path,
        body.version,
        body.guardian_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(p))
}
