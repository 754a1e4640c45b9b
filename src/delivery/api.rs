//! JSON API of delivery: messages, the funnel, retrying failures, sending one message, and
//! provider settings.
use actix_web::{web, HttpRequest, HttpResponse};

use super::compose::Composer;
use super::providers::{self, ProviderDraft, ProviderView};
use super::service::{
    self, Funnel, MessageDetail, MessageFilter, MessageView, SendRequest, SendResponse,
};
use crate::auth::actor::Actor;
use crate::error::AppResult;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/messages", web::get().to(list))
        .route("/messages", web::post().to(send))
        .route("/messages/funnel", web::get().to(funnel))
        .route("/messages/retry", web::post().to(retry))
        .route("/messages/{id}", web::get().to(get))
        .route("/providers", web::get().to(list_providers))
        .route("/providers", web::post().to(create_provider))
        .route("/providers/{id}", web::get().to(get_provider))
        .route("/providers/{id}", web::put().to(update_provider));
}

/// The per-recipient delivery log, newest first, within the caller's scope.
#[utoipa::path(get, path = "/api/v1/messages", tag = "delivery",
    params(MessageFilter, PageQuery),
    responses((status = 200, body = Paged<MessageView>)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    actor: Actor,
    f: Query<MessageFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(service::list(&state.db, &actor, &f, PageParams::try_from(&*paging)?).await?))
}

/// One message and everything that happened to it.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "delivery",
    params(("id" = i64, Path)),
    responses((status = 200, body = MessageDetail), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&state.db, &actor, *path).await?))
}

/// Counts by state, opens and clicks, for the filtered messages (e.g. one wave).
#[utoipa::path(get, path = "/api/v1/messages/funnel", tag = "delivery",
    params(MessageFilter),
    responses((status = 200, body = Funnel)),
    security(("bearer" = [])))]
pub async fn funnel(
    state: web::Data<AppState>,
    actor: Actor,
    f: Query<MessageFilter>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::funnel(&state.db, &actor, &f).await?))
}

/// Sends the dead (failed) messages of the filter again; the others are left alone.
#[utoipa::path(post, path = "/api/v1/messages/retry", tag = "delivery",
    request_body = MessageFilter,
    responses((status = 200, description = "{\"requeued\": n}"), (status = 403, description = "Liaisons cannot")),
    security(("bearer" = [])))]
pub async fn retry(
    state: web::Data<AppState>,
    actor: Actor,
    f: Json<MessageFilter>,
) -> AppResult<HttpResponse> {
    let n = service::retry_failures(&state.db, &actor, &f).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"requeued": n})))
}

/// Queues one message to one guardian. Send an `Idempotency-Key` header to make retries of this
/// request safe: the same key returns the message already queued.
#[utoipa::path(post, path = "/api/v1/messages", tag = "delivery",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to repeat")),
    responses((status = 201, body = SendResponse), (status = 200, body = SendResponse, description = "Already queued by an earlier request"),
        (status = 422, description = "Not reachable on the template's channel, or unknown template")),
    security(("bearer" = [])))]
pub async fn send(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: Json<SendRequest>,
) -> AppResult<HttpResponse> {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let base = state.settings.base();
    let composer = Composer {
        i18n: &state.i18n,
        base_url: &base,
        secret: state.secret(),
        track_opens: state.settings.track_opens,
    };
    let r = service::send_one(
        &state.db,
        &actor,
        &composer,
        &body,
        key.as_deref(),
        state.settings.max_attempts as i32,
    )
    .await?;
    Ok(if r.created {
        HttpResponse::Created().json(r)
    } else {
        HttpResponse::Ok().json(r)
    })
}

/// Providers (admins). Credentials are never returned, only the names of those stored.
#[utoipa::path(get, path = "/api/v1/providers", tag = "delivery",
    responses((status = 200, body = Vec<ProviderView>), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub async fn list_providers(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(providers::list(&state.db, &actor, state.tz()).await?))
}

#[utoipa::path(get, path = "/api/v1/providers/{id}", tag = "delivery",
    params(("id" = i64, Path)),
    responses((status = 200, body = ProviderView), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub async fn get_provider(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(providers::get(&state.db, &actor, *path, state.tz()).await?))
}

/// Adds a provider; its settings are checked by building the channel.
#[utoipa::path(post, path = "/api/v1/providers", tag = "delivery",
    request_body = ProviderDraft,
    responses((status = 201, body = ProviderView), (status = 422, description = "Invalid settings, each named")),
    security(("bearer" = [])))]
pub async fn create_provider(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<ProviderDraft>,
) -> AppResult<HttpResponse> {
    Ok(
        HttpResponse::Created()
            .json(providers::create(&state.db, &actor, &body, state.tz()).await?),
    )
}

/// Changes a provider; credentials left out are kept.
#[utoipa::path(put, path = "/api/v1/providers/{id}", tag = "delivery",
    params(("id" = i64, Path)), request_body = ProviderDraft,
    responses((status = 200, body = ProviderView), (status = 422, description = "Invalid settings")),
    security(("bearer" = [])))]
pub async fn update_provider(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<ProviderDraft>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(providers::update(&state.db, &actor, *path, &body, state.tz()).await?))
}
