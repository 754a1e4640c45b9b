//! Unsubscribing by signed link, without logging in. The link names the guardian and the
//! channel and carries an HMAC of both under the platform's secret, so it cannot be guessed or
//! altered; a tampered link is simply "not found". E-mail also gets RFC 8058 one-click
//! unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the `/one-click` address.
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::json;

use super::entity::guardian;
use super::fields::{Channel, ConsentSource};
use super::service::append_consent;
use crate::audit;
use crate::auth::secrets::{constant_time_eq, keyed_hash};
use crate::error::{AppError, AppResult};
use crate::web::context::RequestCtx;
use crate::web::i18n::Lang;
use crate::web::render;
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/unsubscribe/{token}", web::get().to(page))
        .route("/unsubscribe/{token}", web::post().to(confirm))
        .route("/unsubscribe/{token}/one-click", web::post().to(one_click));
}

/// The path that takes one-click unsubscribe posts (exempt from CSRF: the link is its own proof).
pub fn is_one_click_path(path: &str) -> bool {
    path.starts_with("/unsubscribe/") && path.ends_with("/one-click")
}

fn signature(secret: &[u8], guardian_id: i64, channel: Channel) -> String {
    keyed_hash(
        secret,
        &["unsubscribe", &guardian_id.to_string(), channel.code()],
    )
}

/// `<guardian>.<channel>.<signature>`
pub fn token(secret: &[u8], guardian_id: i64, channel: Channel) -> String {
    format!(
        "{guardian_id}.{}.{}",
        channel.code(),
        signature(secret, guardian_id, channel)
    )
}

/// The page a message links to.
pub fn url(base: &str, secret: &[u8], guardian_id: i64, channel: Channel) -> String {
    format!("{base}/unsubscribe/{}", token(secret, guardian_id, channel))
}

/// The address for the `List-Unsubscribe` header of an e-mail.
pub fn one_click_url(base: &str, secret: &[u8], guardian_id: i64) -> String {
    format!(
        "{}/one-click",
        url(base, secret, guardian_id, Channel::Email)
    )
}

/// The guardian and channel of a genuine token; None for anything altered or malformed.
pub fn verify(secret: &[u8], token: &str) -> Option<(i64, Channel)> {
    let mut parts = token.splitn(3, '.');
    let id: i64 = parts.next()?.parse().ok()?;
    let channel = Channel::parse(parts.next()?).ok()?;
    let sig = parts.next()?;
    constant_time_eq(sig, &signature(secret, id, channel)).then_some((id, channel))
}

async fn load(state: &AppState, token: &str) -> AppResult<(guardian::Model, Channel)> {
    let (id, channel) = verify(state.secret(), token).ok_or(AppError::NotFound)?;
    let g = guardian::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((g, channel))
}

/// Shows the page in the guardian's language (the visitor has no account).
fn page_ctx(ctx: &RequestCtx, g: &guardian::Model) -> RequestCtx {
    let mut c = ctx.clone();
    if ctx.actor.is_none() {
        c.lang = Lang::parse(&g.language).unwrap_or_default();
    }
    c
}

async fn page(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    let (g, channel) = load(&state, &token).await?;
    let c = page_ctx(&ctx, &g);
    let done = g.opted_out_at.is_some();
    state.page(
        &c,
        "contacts/unsubscribe",
        json!({"token": token, "channel": channel.code(), "done": done}),
    )
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    /// `channel` (only this channel) or `all`.
    #[serde(default)]
    pub scope: String,
}

/// Records the withdrawal: this channel, or every channel and a general opt-out.
async fn withdraw(
    state: &AppState,
    g: &guardian::Model,
    channel: Channel,
    all: bool,
    request_id: Option<String>,
) -> AppResult<()> {
    let tx = state.db.begin_write().await?;
    let label = "guardian (unsubscribe link)";
    let channels: Vec<Channel> = if all {
        Channel::ALL.to_vec()
    } else {
        vec![channel]
    };
    for ch in &channels {
        append_consent(
            &*tx,
            g.id,
            *ch,
            false,
            ConsentSource::Unsubscribe,
            None,
            None,
            label,
        )
        .await?;
    }
    if all {
        guardian::Entity::update_many()
            .col_expr(guardian::Column::OptedOutAt, Expr::value(Some(Utc::now())))
            .filter(guardian::Column::Id.eq(g.id))
            .exec(&*tx)
            .await?;
    }
    crate::delivery::outbox::note_unsubscribe(&*tx, g.id, channel, &channels).await?;
    audit::record_as(
        &*tx,
        None,
        label,
        request_id,
        "consent.withdrawn",
        "guardian",
        Some(g.id.to_string()),
        json!({"source": "unsubscribe", "channels": channels.iter().map(|c| c.code()).collect::<Vec<_>>(), "all": all}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn confirm(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    let (g, channel) = load(&state, &token).await?;
    let all = form.scope == "all";
    withdraw(&state, &g, channel, all, ctx.request_id.clone()).await?;
    let c = page_ctx(&ctx, &g);
    let body = render::render(
        &state.hbs,
        &c,
        "contacts/unsubscribe",
        json!({"token": token, "channel": channel.code(), "confirmed": true, "all": all}),
    )?;
    Ok(render::html(body))
}

/// RFC 8058: the mail client posts `List-Unsubscribe=One-Click`; nothing else is needed.
async fn one_click(
    state: web::Data<AppState>,
    ctx: RequestCtx,
    path: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let (g, channel) = load(&state, &path.into_inner()).await?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !form
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
    {
        return Err(AppError::bad_request("error-one-click"));
    }
    withdraw(&state, &g, channel, false, ctx.request_id.clone()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body("unsubscribed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_fails() {
        let key = b"a-secret-key-for-the-test-0123456789";
        let t = token(key, 42, Channel::Sms);
        assert_eq!(verify(key, &t), Some((42, Channel::Sms)));
        assert_eq!(verify(b"another-secret-key-0123456789abcdef", &t), None);
        let other_guardian = t.replacen("42.", "43.", 1);
        assert_eq!(verify(key, &other_guardian), None);
        let other_channel = t.replacen(".sms.", ".zalo.", 1);
        assert_eq!(verify(key, &other_channel), None);
        assert_eq!(verify(key, "42.sms"), None);
        assert_eq!(verify(key, "x.sms.abc"), None);
        assert!(is_one_click_path(&format!("/unsubscribe/{t}/one-click")));
        assert!(!is_one_click_path(&format!("/unsubscribe/{t}")));
    }
}
