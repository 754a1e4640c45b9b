//! Pages of the signed-in user: login, logout, own account, password, language, API tokens.
use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::actor::{Actor, AuthVia, Scope};
use super::login::{login, LoginOutcome};
use super::throttle::{self, AttemptKeys};
use super::{session, tokens, users};
use crate::audit;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::web::context::{cookie, RequestCtx, LANG_COOKIE};
use crate::web::extract::Query;
use crate::web::i18n::Lang;
use crate::web::render::{self, see_other};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout))
        .route("/language", web::post().to(set_language))
        .route("/account", web::get().to(account))
        .route("/account/password", web::get().to(password_form))
        .route("/account/password", web::post().to(password_submit))
        .route("/account/tokens", web::get().to(tokens_page))
        .route("/account/tokens", web::post().to(token_create))
        .route("/tokens/{id}/revoke", web::post().to(token_revoke));
}

/// Only same-site paths may be redirect targets: a path starting with one `/`, with no
/// backslash, control character or whitespace anywhere (browsers drop tabs and newlines, so
/// `/\t/evil.example` would become `//evil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2000
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

async fn login_form(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    q: Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if ctx.actor.is_some() {
        return Ok(see_other(&safe_next(q.next.as_deref())));
    }
    state.page(
        &ctx,
        "auth/login",
        json!({"next": safe_next(q.next.as_deref()), "form": {}}),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    pub next: Option<String>,
}

async fn login_submit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<LoginForm>,
) -> AppResult<HttpResponse> {
    let next = safe_next(form.next.as_deref());
    let outcome = login(
        &state,
        &form.email,
        &form.password,
        &ctx.client_ip,
        ctx.request_id.clone(),
    )
    .await?;
    let (status, message, retry_after) = match outcome {
        LoginOutcome::Success { token, user } => {
            let mut lang_cookie = cookie(&state, LANG_COOKIE, user.language.clone());
            lang_cookie.set_max_age(actix_web::cookie::time::Duration::days(365));
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, next))
                .cookie(cookie(&state, state.session_cookie(), token))
                .cookie(lang_cookie)
                .finish());
        }
        LoginOutcome::Failed => (
            actix_web::http::StatusCode::UNAUTHORIZED,
            Msg::new("login-failed"),
            None,
        ),
        LoginOutcome::Throttled { retry_after_secs } => (
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            Msg::new("login-throttled").arg("seconds", retry_after_secs),
            Some(retry_after_secs),
        ),
    };
    let body = render::render(
        &state.hbs,
        &ctx,
        "auth/login",
        json!({"next": next, "form": {"email": form.email}, "error": state.t(&ctx, &message)}),
    )?;
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
    if let Some(secs) = retry_after {
        resp.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    Ok(resp.body(body))
}

async fn logout(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    if let Some(actor) = &ctx.actor {
        if let AuthVia::Session { session_id, .. } = actor.via {
            let tx = state.db.begin_write().await?;
            session::revoke(&*tx, session_id).await?;
            audit::record(
                &*tx,
                actor,
                "logout",
                "session",
                Some(session_id.to_string()),
                json!({}),
            )
            .await?;
            tx.commit().await?;
        }
    }
    let mut gone = cookie(&state, state.session_cookie(), String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .cookie(gone)
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    pub lang: String,
    pub next: Option<String>,
}

async fn set_language(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<LanguageForm>,
) -> AppResult<HttpResponse> {
    let lang = Lang::parse(&form.lang).ok_or_else(|| {
        AppError::invalid("lang", Msg::new("error-one-of").arg("allowed", "vi, en"))
    })?;
    if let Some(actor) = &ctx.actor {
        if actor.lang != lang {
            users::set_language(&state.db, actor, lang).await?;
        }
    }
    let mut c: Cookie = cookie(&state, LANG_COOKIE, lang.code().to_string());
    c.set_max_age(actix_web::cookie::time::Duration::days(365));
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, safe_next(form.next.as_deref())))
        .cookie(c)
        .finish())
}

async fn account(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let me = users::get(&state.db, actor, actor.user_id.ok_or(AppError::NotFound)?).await?;
    let scope = match actor.scope() {
        Scope::National => "national",
        Scope::Province(_) => "province",
        Scope::Schools(_) => "schools",
    };
    state.page(&ctx, "auth/account", json!({"user": me, "scope": scope}))
}

async fn password_form(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    ctx.actor()?;
    state.page(&ctx, "auth/password", json!({}))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
    #[serde(default)]
    pub confirm_password: String,
}

async fn password_submit(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<PasswordForm>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    if form.new_password != form.confirm_password {
        let errors = FieldErrors::single("confirm_password", Msg::new("error-password-mismatch"));
        return state.form_errors(&ctx, "auth/password", json!({}), &errors);
    }
    // Guessing the current password through this form is throttled like logging in.
    let keys = AttemptKeys::new(state.secret(), &actor.label, &ctx.client_ip);
    let attempt = throttle::begin(&state.db, &keys, &state.settings)
        .await?
        .map_err(|wait| AppError::TooManyRequests {
            retry_after_secs: wait,
        })?;
    let result =
        users::change_own_password(&state.db, actor, &form.current_password, &form.new_password)
            .await;
    match &result {
        Ok(()) => throttle::succeeded(&state.db, attempt).await?,
        Err(AppError::Invalid(errors))
            if errors.0.iter().any(|e| e.field == "current_password") => {}
        Err(_) => throttle::forget(&state.db, attempt).await?,
    }
    match result {
        Ok(()) => Ok(see_other("/account?notice=password-changed")),
        Err(AppError::Invalid(errors)) => {
            state.form_errors(&ctx, "auth/password", json!({}), &errors)
        }
        Err(e) => Err(e),
    }
}

async fn tokens_page(state: web::Data<AppState>, ctx: RequestCtx) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    let list =
        tokens::list_for_user(&state.db, actor, actor.user_id.ok_or(AppError::Forbidden)?).await?;
    state.page(&ctx, "auth/tokens", json!({"tokens": list}))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
}

async fn token_create(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    form: web::Form<TokenForm>,
) -> AppResult<HttpResponse> {
    let actor: &Actor = ctx.actor()?;
    let owner = actor.user_id.ok_or(AppError::Forbidden)?;
    match tokens::create(&state.db, actor, owner, &form.name).await {
        Ok((secret, _)) => {
            let list = tokens::list_for_user(&state.db, actor, owner).await?;
            state.page(
                &ctx,
                "auth/tokens",
                json!({"tokens": list, "new_secret": secret}),
            )
        }
        Err(AppError::Invalid(errors)) => {
            let list = tokens::list_for_user(&state.db, actor, owner).await?;
            state.form_errors(
                &ctx,
                "auth/tokens",
                json!({"tokens": list, "form": {"name": form.name}}),
                &errors,
            )
        }
        Err(e) => Err(e),
    }
}

async fn token_revoke(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<i64>,
    form: web::Form<NextQuery>,
) -> AppResult<HttpResponse> {
    let actor = ctx.actor()?;
    tokens::revoke(&state.db, actor, path.into_inner()).await?;
    let next = safe_next(form.next.as_deref().or(Some("/account/tokens")));
    Ok(see_other(&next))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn redirects_stay_on_site() {
        assert_eq!(safe_next(Some("/schools?page=2")), "/schools?page=2");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example/")), "/");
        assert_eq!(safe_next(Some("/a\nb")), "/");
        assert_eq!(safe_next(Some("/x/\\y")), "/");
        assert_eq!(safe_next(Some("/ /evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
