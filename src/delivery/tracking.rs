//! Engagement coming back: click tracking through signed redirect links, an open pixel, and
//! signed delivery receipts from providers.
//!
//! A tracked link names the message (by idempotency key) and the target, and carries an HMAC
//! of both under the platform's secret: the redirect goes only where the platform itself wrote,
//! so it cannot be turned into an open redirect. A receipt must carry
//! `X-HIO-Signature: sha256=<hex HMAC-SHA256(receipt_secret, "<timestamp>.<body>")>` and an
//! `X-HIO-Timestamp` within five minutes; anything else is refused.
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use serde_json::json;

use super::entity::{event, message, provider};
use super::model::{EventKind, Status};
use crate::auth::secrets::{constant_time_eq, keyed_hash};
use crate::error::{AppError, AppResult, Msg};
use crate::web::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/r/{token}", web::get().to(click))
        .route("/o/{token}", web::get().to(open))
        .route("/hooks/receipts/{provider_id}", web::post().to(receipt));
}

/// Paths that take posts from outside (providers), authenticated by their own signature.
pub fn is_receipt_path(path: &str) -> bool {
    path.starts_with("/hooks/receipts/")
}

fn sign(secret: &[u8], kind: &str, parts: &[&str]) -> String {
    let mut all = vec![kind];
    all.extend_from_slice(parts);
    keyed_hash(secret, &all)[..22].to_string()
}

/// `{base}/r/<key>.<url>.<sig>` with key and url base64url-encoded.
pub fn click_url(base: &str, secret: &[u8], idempotency_key: &str, target: &str) -> String {
    let k = URL_SAFE_NO_PAD.encode(idempotency_key);
    let u = URL_SAFE_NO_PAD.encode(target);
    format!(
        "{base}/r/{k}.{u}.{}",
        sign(secret, "click", &[idempotency_key, target])
    )
}

/// `{base}/o/<key>.<sig>.gif`
pub fn open_pixel_url(base: &str, secret: &[u8], idempotency_key: &str) -> String {
    let k = URL_SAFE_NO_PAD.encode(idempotency_key);
    format!(
        "{base}/o/{k}.{}.gif",
        sign(secret, "open", &[idempotency_key])
    )
}

fn decode(part: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

pub fn verify_click(secret: &[u8], token: &str) -> Option<(String, String)> {
    let mut parts = token.split('.');
    let key = decode(parts.next()?)?;
    let url = decode(parts.next()?)?;
    let sig = parts.next()?;
    if parts.next().is_some() || !constant_time_eq(sig, &sign(secret, "click", &[&key, &url])) {
        return None;
    }
    // Only web addresses, whatever was signed.
    (url.starts_with("https://") || url.starts_with("http://")).then_some((key, url))
}

pub fn verify_open(secret: &[u8], token: &str) -> Option<String> {
    let token = token.strip_suffix(".gif")?;
    let (k, sig) = token.split_once('.')?;
    let key = decode(k)?;
    constant_time_eq(sig, &sign(secret, "open", &[&key])).then_some(key)
}

async fn add_event(
    state: &AppState,
    key: &str,
    kind: EventKind,
    detail: serde_json::Value,
) -> AppResult<bool> {
    let Some(m) = message::Entity::find()
        .filter(message::Column::IdempotencyKey.eq(key))
        .one(&state.db.conn)
        .await?
    else {
        return Ok(false);
    };
    event::Entity::insert(event::ActiveModel {
        message_id: Set(m.id),
        kind: Set(kind.code().to_string()),
        at: Set(Utc::now()),
        detail: Set(Some(detail.to_string())),
        external_id: Set(None),
        ..Default::default()
    })
    .exec(&state.db.conn)
    .await?;
    Ok(true)
}

async fn click(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let (key, url) = verify_click(state.secret(), &path).ok_or(AppError::NotFound)?;
    add_event(&state, &key, EventKind::Clicked, json!({})).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish())
}

/// A 1×1 transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

async fn open(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    if state.settings.track_opens {
        if let Some(key) = verify_open(state.secret(), &path) {
            add_event(&state, &key, EventKind::Opened, json!({})).await?;
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/gif"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PIXEL))
}

/// A delivery receipt as providers (or an adapter in front of them) post it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The provider's id for the message (as returned when it was sent).
    pub provider_message_id: String,
    /// `delivered`, `read`, `failed` or `bounced`.
    pub status: String,
    /// The provider's id for this event; a receipt posted twice counts once (without it, one
    /// receipt per message and status counts).
    pub event_id: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

const MAX_SKEW_SECS: i64 = 300;

/// How long a provider is asked to wait before posting again a receipt that came too early.
const RETRY_AFTER_SECS: u32 = 60;

async fn receipt(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let provider_id = path.into_inner();
    let unauthorized = || AppError::BadRequest(Msg::new("error-receipt-signature"));
    let p = provider::Entity::find_by_id(provider_id)
        .one(&state.db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let creds: serde_json::Value = serde_json::from_str(&p.credentials).unwrap_or_default();
    let secret = creds
        .get("receipt_secret")
        .and_then(|s| s.as_str())
        .ok_or(AppError::NotFound)?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ts: i64 = header("x-hio-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(unauthorized)?;
    if (Utc::now().timestamp() - ts).abs() > MAX_SKEW_SECS {
        return Err(unauthorized());
    }
    let given = header("x-hio-signature").ok_or_else(unauthorized)?;
    let expected = super::channels::webhook::signature(secret.as_bytes(), ts, &body);
    if !constant_time_eq(&given, &expected) {
        return Err(unauthorized());
    }
    let r: Receipt = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(Msg::new("error-bad-input").arg("detail", e)))?;
    let (kind, status) = match r.status.as_str() {
        "delivered" => (EventKind::Delivered, Some(Status::Delivered)),
        "read" => (EventKind::Read, Some(Status::Read)),
        "failed" => (EventKind::Failed, Some(Status::Dead)),
        "bounced" => (EventKind::Bounced, Some(Status::Dead)),
        _ => {
            return Err(AppError::invalid(
                "status",
                Msg::new("error-one-of").arg("allowed", "delivered, read, failed, bounced"),
            ))
        }
    };
    // Unknown messages are refused: a receipt can only speak of what this provider sent. But a
    // fast provider may report before the worker has recorded the send (and the provider's id
    // for it): while messages of the provider's channel are being sent, the provider is asked to
    // post again later rather than told the message does not exist.
    let Some(m) = message::Entity::find()
        .filter(message::Column::ProviderId.eq(provider_id))
        .filter(message::Column::ProviderMessageId.eq(r.provider_message_id.clone()))
        .one(&state.db.conn)
        .await?
    else {
        let in_flight = message::Entity::find()
            .filter(message::Column::Channel.eq(p.channel.clone()))
            .filter(message::Column::Status.eq(Status::Sending.code()))
            .one(&state.db.conn)
            .await?
            .is_some();
        if in_flight {
            return Ok(HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
                .json(json!({"ok": false, "retry_after": RETRY_AFTER_SECS})));
        }
        return Err(AppError::NotFound);
    };
    let at = r.at.unwrap_or_else(Utc::now);
    let tx = state.db.begin_write().await?;
    let inserted = event::Entity::insert(event::ActiveModel {
        message_id: Set(m.id),
        kind: Set(kind.code().to_string()),
        at: Set(at),
        detail: Set(Some(json!({"provider_id": provider_id}).to_string())),
        // Replays count once: by the provider's event id, or without one, by message and status.
        external_id: Set(Some(format!(
            "{provider_id}:{}",
            super::channels::short_key(
                &r.event_id
                    .unwrap_or_else(|| format!("{}\u{0}{}", r.status, r.provider_message_id))
            )
        ))),
        ..Default::default()
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(event::Column::ExternalId)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(&*tx)
    .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
        if let Some(s) = status {
            // Read comes after delivered; a late "delivered" does not undo "read".
            let mut q = message::Entity::update_many()
                .col_expr(message::Column::Status, Expr::value(s.code()))
                .col_expr(message::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(message::Column::Id.eq(m.id));
            q = match s {
                // The provider could not deliver it after all: dead, with the reason. A message
                // already read is not undone by a late report.
                Status::Dead => q
                    .col_expr(message::Column::ErrorClass, Expr::value(r.status.clone()))
                    .col_expr(
                        message::Column::LastError,
                        Expr::value(format!("delivery receipt: {}", r.status)),
                    )
                    .filter(
                        message::Column::Status
                            .is_in([Status::Sent.code(), Status::Delivered.code()]),
                    ),
                Status::Delivered => q
                    .col_expr(message::Column::DeliveredAt, Expr::value(Some(at)))
                    .filter(message::Column::Status.eq(Status::Sent.code())),
                _ => q
                    .col_expr(message::Column::ReadAt, Expr::value(Some(at)))
                    .filter(
                        message::Column::Status
                            .is_in([Status::Sent.code(), Status::Delivered.code()]),
                    ),
            };
            q.exec(&*tx).await?;
        }
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_and_cannot_be_redirected_elsewhere() {
        let key = b"a-secret-key-for-the-test-0123456789";
        let url = click_url("", key, "wave:1:g:2:email", "https://vssid.vn/dong-bhyt");
        let token = url.trim_start_matches("/r/");
        assert_eq!(
            verify_click(key, token),
            Some((
                "wave:1:g:2:email".into(),
                "https://vssid.vn/dong-bhyt".into()
            ))
        );
        // Swap in another target: the signature no longer matches.
        let parts: Vec<&str> = token.split('.').collect();
        let evil = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode("https://evil.example"),
            parts[2]
        );
        assert_eq!(verify_click(key, &evil), None);
        assert_eq!(
            verify_click(b"another-secret-key-0123456789abcdef", token),
            None
        );
        let pixel = open_pixel_url("", key, "wave:1:g:2:email");
        assert_eq!(
            verify_open(key, pixel.trim_start_matches("/o/")),
            Some("wave:1:g:2:email".into())
        );
        assert_eq!(verify_open(key, "x.y.gif"), None);
    }
}
