//! Per-request context: who is asking (session cookie on pages, bearer token on the API), in
//! which language, and the CSRF check on every state-changing request to a page.
use std::future::{ready, Ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;

use super::i18n::Lang;
use super::state::AppState;
use crate::auth::actor::{Actor, AuthVia};
use crate::auth::secrets::{constant_time_eq, keyed_hash, random_token, token_hash};
use crate::auth::{session, tokens, users};
use crate::config::Settings;
use crate::error::AppError;

pub const LANG_COOKIE: &str = "hio_lang";
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Everything a handler needs to know about the request beyond its own inputs.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub actor: Option<Actor>,
    pub lang: Lang,
    /// The token forms must send back (empty on the API).
    pub csrf_token: String,
    pub path_and_query: String,
    pub is_api: bool,
    pub client_ip: String,
    pub request_id: Option<String>,
}

impl RequestCtx {
    pub fn actor(&self) -> Result<&Actor, AppError> {
        self.actor.as_ref().ok_or(AppError::Unauthenticated)
    }
}

impl FromRequest for RequestCtx {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<RequestCtx>()
                .cloned()
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("request context missing"))),
        )
    }
}

impl FromRequest for Actor {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<RequestCtx>()
                .and_then(|c| c.actor.clone())
                .ok_or(AppError::Unauthenticated),
        )
    }
}

/// The client's address: the connection's peer or, behind the one reverse proxy the platform
/// is configured to trust, the last `X-Forwarded-For` entry — the one that proxy appended.
/// Earlier entries come from the client and could be anything.
pub fn client_ip(req: &HttpRequest, settings: &Settings) -> String {
    if settings.trust_forwarded_for {
        if let Some(last) = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .last()
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return last.to_string();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn csrf_for_session(secret: &[u8], session_token_hash: &str) -> String {
    keyed_hash(secret, &["csrf-session", session_token_hash])
}

pub fn csrf_for_anonymous(secret: &[u8], seed: &str) -> String {
    keyed_hash(secret, &["csrf-anonymous", seed])
}

pub fn cookie<'a>(state: &AppState, name: &'a str, value: String) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.is_https())
        .finish()
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn request_lang(req: &HttpRequest) -> Lang {
    req.cookie(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// The middleware: builds the `RequestCtx`, checks CSRF, and keeps the cookies right.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_string();
    if path.starts_with("/assets/") || path == "/health" || path == "/metrics" {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let mut state = req
        .app_data::<Data<AppState>>()
        .cloned()
        .expect("AppState is registered");
    // A reading request runs its statements on one connection (see `Db::for_request`): the
    // handlers find this request's own state before the application's.
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some(db) = state.db.for_request() {
            let mut own = (**state).clone();
            own.db = db;
            state = Data::new(own);
            let mut container = Extensions::new();
            container.insert(state.clone());
            req.add_data_container(std::rc::Rc::new(container));
        }
    }
    let request_id = req
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string());
    let is_api = path.starts_with("/api/");
    let client_ip = client_ip(req.request(), &state.settings);
    let path_and_query = match req.query_string() {
        "" => path.clone(),
        q => format!("{path}?{q}"),
    };

    let mut ctx = RequestCtx {
        actor: None,
        lang: request_lang(req.request()),
        csrf_token: String::new(),
        path_and_query,
        is_api,
        client_ip,
        request_id: request_id.clone(),
    };
    let mut new_csrf_seed = None;
    let mut drop_session_cookie = false;

    if is_api {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|v| v.trim().to_string());
        if let Some(secret) = bearer {
            match tokens::resolve(&state.db, &secret).await {
                Ok(Some((token, owner))) => {
                    let via = AuthVia::ApiToken { token_id: token.id };
                    match users::actor_for(&state.db, &owner, via, request_id.clone()).await {
                        Ok(actor) => ctx.actor = Some(actor),
                        Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
                    }
                }
                // Unknown, revoked, or its owner deactivated: no actor, so 401.
                Ok(None) => {}
                Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
            }
        }
        if let Some(actor) = &ctx.actor {
            ctx.lang = actor.lang;
        }
    } else {
        let cookie_token = req
            .cookie(state.session_cookie())
            .map(|c| c.value().to_string());
        if let Some(token) = cookie_token {
            match session::resolve(&state.db, &token, &state.settings).await {
                Ok(Some((sess, owner))) => {
                    let hash = token_hash(&token);
                    ctx.csrf_token = csrf_for_session(state.secret(), &hash);
                    let via = AuthVia::Session {
                        session_id: sess.id,
                        token_hash: hash,
                    };
                    match users::actor_for(&state.db, &owner, via, request_id.clone()).await {
                        Ok(actor) => {
                            ctx.lang = actor.lang;
                            ctx.actor = Some(actor);
                        }
                        Err(e) => return Ok(req.error_response(e).map_into_boxed_body()),
                    }
                }
                Ok(None) => drop_session_cookie = true,
                Err(e) => return Ok(req.error_response(AppError::from(e)).map_into_boxed_body()),
            }
        }
        if ctx.actor.is_none() {
            let seed = match req.cookie(state.csrf_cookie()) {
                Some(c) if c.value().len() >= 32 => c.value().to_string(),
                _ => {
                    let seed = random_token();
                    new_csrf_seed = Some(seed.clone());
                    seed
                }
            };
            ctx.csrf_token = csrf_for_anonymous(state.secret(), &seed);
        }
    }

    req.extensions_mut().insert(ctx.clone());

    // One-click unsubscribe (RFC 8058) comes from mail clients with no cookie or form: the
    // signed link is its own proof, and all it can do is stop messages.
    // Provider receipts are signed by the provider, not by a browser session.
    let signed_elsewhere = crate::contacts::unsubscribe::is_one_click_path(&path)
        || crate::delivery::tracking::is_receipt_path(&path);
    if !is_api && is_unsafe(req.method()) && !signed_elsewhere {
        if let Err(e) = check_csrf(&mut req, &state, &ctx, new_csrf_seed.is_some()).await {
            return Ok(req.error_response(e).map_into_boxed_body());
        }
    }

    let res = next.call(req).await;
    state.db.release().await;
    let mut res = res?.map_into_boxed_body();
    if let Some(seed) = new_csrf_seed {
        let _ = res
            .response_mut()
            .add_cookie(&cookie(&state, state.csrf_cookie(), seed));
    }
    if drop_session_cookie
        && !res
            .response()
            .cookies()
            .any(|c| c.name() == state.session_cookie())
    {
        let mut gone = cookie(&state, state.session_cookie(), String::new());
        gone.make_removal();
        let _ = res.response_mut().add_cookie(&gone);
    }
    Ok(res)
}

/// Accepts the token from the `X-CSRF-Token` header, a `csrf_token` form field (url-encoded
/// bodies, read here and handed on unchanged) or, for multipart uploads, the query string.
/// A cross-site `Origin` is refused outright.
async fn check_csrf(
    req: &mut ServiceRequest,
    state: &AppState,
    ctx: &RequestCtx,
    seed_is_new: bool,
) -> Result<(), AppError> {
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let expected = state.settings.base_url.origin().ascii_serialization();
        if origin != expected {
            return Err(AppError::Csrf);
        }
    }
    if seed_is_new {
        // No cookie came with the request, so no token can match it.
        return Err(AppError::Csrf);
    }
    let mut given = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if given.is_none() {
        given = url::form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if given.is_none() && is_form {
        let limit = state.settings.max_body_bytes;
        let mut payload = req.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| AppError::bad_request("error-body-unreadable"))?;
            if body.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let body: Bytes = body.freeze();
        given = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        req.set_payload(Payload::from(body));
    }
    match given {
        Some(token) if constant_time_eq(&token, &ctx.csrf_token) => Ok(()),
        _ => Err(AppError::Csrf),
    }
}
