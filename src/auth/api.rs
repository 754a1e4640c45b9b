//! JSON API of accounts and tokens. Same service calls as the pages.
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::actor::Actor;
use super::tokens::{self, TokenView};
use super::users::{self, UserDraft, UserFilter, UserView};
use crate::error::{AppError, AppResult};
use crate::fields::NewPassword;
use crate::web::extract::{Json, Query};
use crate::web::paging::{PageParams, PageQuery, Paged};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/users", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/users/{id}", web::get().to(get_user))
        .route("/users/{id}", web::put().to(update_user))
        .route("/tokens", web::get().to(list_tokens))
        .route("/tokens/{id}", web::delete().to(revoke_token));
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = UserView), (status = 401, description = "No or bad token")),
    security(("bearer" = [])))]
pub async fn me(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    let id = actor.user_id.ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(users::get(&state.db, &actor, id).await?))
}

/// Users the caller may see: admins and national staff all, province staff those working in
/// their province. Liaisons get 403.
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    params(UserFilter, PageQuery),
    responses((status = 200, body = Paged<UserView>), (status = 403, description = "Liaisons cannot list users")),
    security(("bearer" = [])))]
pub async fn list_users(
    state: web::Data<AppState>,
    actor: Actor,
    filter: Query<UserFilter>,
    paging: Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = users::list(&state.db, &actor, &filter, PageParams::try_from(&*paging)?).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One user; 404 outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts",
    params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, description = "Unknown or outside scope")),
    security(("bearer" = [])))]
pub async fn get_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(users::get(&state.db, &actor, *path).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    #[serde(flatten)]
    pub user: UserDraft,
    /// 10 to 128 characters.
    #[serde(default)]
    pub password: String,
}

/// Creates a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts",
    request_body = NewUser,
    responses((status = 201, body = UserView), (status = 403, description = "Admins only"),
        (status = 422, description = "Invalid fields, each named")),
    security(("bearer" = [])))]
pub async fn create_user(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<NewUser>,
) -> AppResult<HttpResponse> {
    actor.require_admin()?;
    let password = NewPassword::parse(&body.password).map_err(|m| AppError::invalid("password", m));
    let input = users::validate(&state.db.conn, &body.user).await;
    let (input, password) = match (input, password) {
        (Ok(i), Ok(p)) => (i, p),
        (Err(AppError::Invalid(mut a)), Err(AppError::Invalid(b))) => {
            a.0.extend(b.0);
            return Err(AppError::Invalid(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    Ok(HttpResponse::Created().json(users::create(&state.db, &actor, input, password).await?))
}

/// Replaces a user's fields: role, scope, language, active (admins only).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "accounts",
    params(("id" = i64, Path)), request_body = UserDraft,
    responses((status = 200, body = UserView), (status = 403, description = "Admins only"),
        (status = 422, description = "Invalid fields")),
    security(("bearer" = [])))]
pub async fn update_user(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
    body: Json<UserDraft>,
) -> AppResult<HttpResponse> {
    actor.require_admin()?;
    let input = users::validate(&state.db.conn, &body).await?;
    Ok(HttpResponse::Ok().json(users::update(&state.db, &actor, *path, input).await?))
}

/// The caller's API tokens (never their secrets). Tokens are created on the Account page or
/// with `hi-outreach token create`, not with a token: a leaked token cannot breed new ones.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts",
    responses((status = 200, body = Vec<TokenView>)),
    security(("bearer" = [])))]
pub async fn list_tokens(state: web::Data<AppState>, actor: Actor) -> AppResult<HttpResponse> {
    let owner = actor.user_id.ok_or(AppError::Forbidden)?;
    Ok(HttpResponse::Ok().json(tokens::list_for_user(&state.db, &actor, owner).await?))
}

/// Revokes a token (one's own; admins any).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts",
    params(("id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 404, description = "Unknown or not yours")),
    security(("bearer" = [])))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(tokens::revoke(&state.db, &actor, *path).await?))
}
