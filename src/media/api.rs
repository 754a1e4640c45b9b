//! JSON API of media outlets and pieces.
use actix_web::{web, HttpResponse};

use super::service::{self, OutletDraft, OutletView, PieceDraft, PieceFilter, PieceView};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/media/outlets", web::get().to(list_outlets))
        .route("/media/outlets", web::post().to(create_outlet))
        .route("/media/outlets/{id}", web::get().to(get_outlet))
        .route("/media/outlets/{id}", web::put().to(update_outlet))
        .route("/media/pieces", web::get().to(list_pieces))
        .route("/media/pieces", web::post().to(create_piece))
        .route("/media/pieces/{id}", web::get().to(get_piece))
        .route("/media/pieces/{id}", web::put().to(update_piece));
}

/// National outlets and those of the caller's province(s).
#[utoipa::path(get, path = "/api/v1/media/outlets", tag = "media",
    responses((status = 200, body = Vec<OutletView>)), security(("bearer" = [])))]
pub async fn list_outlets(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list_outlets(&state.db, &actor).await?))
}

#[utoipa::path(post, path = "/api/v1/media/outlets", tag = "media", request_body = OutletDraft,
    responses((status = 201, body = OutletView), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_outlet(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<OutletDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created().json(service::save_outlet(&state.db, &actor, None, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/media/outlets/{id}", tag = "media", params(("id" = i64, Path)),
    responses((status = 200, body = OutletView), (status = 404)), security(("bearer" = [])))]
pub async fn get_outlet(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_outlet(&state.db, &actor, *path).await?))
}

#[utoipa::path(put, path = "/api/v1/media/outlets/{id}", tag = "media", params(("id" = i64, Path)), request_body = OutletDraft,
    responses((status = 200, body = OutletView), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update_outlet(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<OutletDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::save_outlet(&state.db, &actor, Some(*path), &body).await?))
}

/// Media pieces, filtered by campaign, outlet, province, kinds, topic and days.
#[utoipa::path(get, path = "/api/v1/media/pieces", tag = "media", params(PieceFilter, PageQuery),
    responses((status = 200, body = Paged<PieceView>), (status = 422)), security(("bearer" = [])))]
pub async fn list_pieces(
    state: web::Data<AppState>,
    actor: Actor,
    f: Query<PieceFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::list_pieces(&state.db, &actor, &f, PageParams::try_from(&*paging)?).await?))
}

#[utoipa::path(post, path = "/api/v1/media/pieces", tag = "media", request_body = PieceDraft,
    responses((status = 201, body = PieceView), (status = 403), (status = 422)), security(("bearer" = [])))]
pub async fn create_piece(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<PieceDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Created()
        .json(service::save_piece(&state.db, &actor, None, &body, state.tz()).await?))
}

#[utoipa::path(get, path = "/api/v1/media/pieces/{id}", tag = "media", params(("id" = i64, Path)),
    responses((status = 200, body = PieceView), (status = 404)), security(("bearer" = [])))]
pub async fn get_piece(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get_piece(&state.db, &actor, *path).await?))
}

#[utoipa::path(put, path = "/api/v1/media/pieces/{id}", tag = "media", params(("id" = i64, Path)), request_body = PieceDraft,
    responses((status = 200, body = PieceView), (status = 403), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn update_piece(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<PieceDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::save_piece(&state.db, &actor, Some(*path), &body, state.tz()).await?))
}
