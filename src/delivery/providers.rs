//! Provider settings (admins only). Credentials are write-only: after saving they are never
//! shown again, nor logged, nor written to the audit log — only which keys are set.
use chrono::Utc;
use chrono_tz::Tz;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::channels::{self, Kind};
use super::entity::provider;
use super::outbox;
use crate::audit;
use crate::auth::actor::Actor;
use crate::contacts::fields::Channel;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::required_text;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ProviderDraft {
    #[serde(default)]
    pub name: String,
    /// `email`, `sms`, `zalo` or `push`.
    #[serde(default)]
    pub channel: String,
    /// `smtp`, `zalo_zns`, `esms`, `sms_json`, `webhook` or `file`.
    #[serde(default)]
    pub kind: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i32,
    pub base_url: Option<String>,
    /// Kind-specific, non-secret: smtp {host, port, security, username, from_address,
    /// from_name}; esms {brandname, sms_type, sandbox}; file {directory}.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Kind-specific secrets: smtp {password}; zalo_zns {access_token}; esms {api_key,
    /// secret_key}; sms_json {token}; webhook {signing_secret}; any {receipt_secret}. Absent on an
    /// update: keep what is stored.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: i32,
    /// Messages a second, per instance.
    #[serde(default = "default_rate")]
    pub rate_per_sec: i32,
    pub daily_quota: Option<i64>,
    /// Sends in flight at once, per instance.
    #[serde(default = "default_concurrency")]
    pub concurrency: i32,
}

fn yes() -> bool {
    true
}
fn default_timeout() -> i32 {
    10_000
}
fn default_rate() -> i32 {
    50
}
fn default_concurrency() -> i32 {
    16
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: i64,
    pub name: String,
    pub channel: String,
    pub kind: String,
    pub enabled: bool,
    pub priority: i32,
    pub base_url: Option<String>,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Names of the secrets stored (their values are never shown).
    pub credentials_set: Vec<String>,
    pub timeout_ms: i32,
    pub rate_per_sec: i32,
    pub daily_quota: Option<i64>,
    pub concurrency: i32,
    pub sent_today: i64,
    /// Where this provider posts signed delivery receipts.
    pub receipt_path: String,
}

fn secret_names(raw: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(raw).unwrap_or_default();
    let mut keys: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

async fn view(db: &Db, p: provider::Model, tz: Tz) -> AppResult<ProviderView> {
    Ok(ProviderView {
        sent_today: outbox::sent_today(db, p.id, tz).await?,
        receipt_path: format!("/hooks/receipts/{}", p.id),
        credentials_set: secret_names(&p.credentials),
        settings: serde_json::from_str(&p.settings).unwrap_or_default(),
        id: p.id,
        name: p.name,
        channel: p.channel,
        kind: p.kind,
        enabled: p.enabled,
        priority: p.priority,
        base_url: p.base_url,
        timeout_ms: p.timeout_ms,
        rate_per_sec: p.rate_per_sec,
        daily_quota: p.daily_quota,
        concurrency: p.concurrency,
    })
}

pub async fn list(db: &Db, actor: &Actor, tz: Tz) -> AppResult<Vec<ProviderView>> {
    actor.require_admin()?;
    let rows = provider::Entity::find()
        .order_by_asc(provider::Column::Channel)
        .order_by_asc(provider::Column::Priority)
        .all(&db.conn)
        .await?;
    let mut out = Vec::new();
    for p in rows {
        out.push(view(db, p, tz).await?);
    }
    Ok(out)
}

pub async fn get(db: &Db, actor: &Actor, id: i64, tz: Tz) -> AppResult<ProviderView> {
    actor.require_admin()?;
    let p = provider::Entity::find_by_id(id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    view(db, p, tz).await
}

fn object(v: &Value, field: &str, errors: &mut FieldErrors) -> Map<String, Value> {
    match v {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        _ => {
            errors.add(field, Msg::new("error-json-object"));
            Map::new()
        }
    }
}

/// Checks a draft and builds the row it describes (credentials merged over `existing`).
fn check(
    draft: &ProviderDraft,
    existing: Option<&provider::Model>,
) -> Result<provider::Model, AppError> {
    let mut errors = FieldErrors::new();
    let name = errors.take("name", required_text(&draft.name, 100));
    let channel = errors.take("channel", Channel::parse(&draft.channel));
    let kind = errors.take(
        "kind",
        Kind::parse(draft.kind.trim()).ok_or_else(|| {
            Msg::new("error-one-of").arg("allowed", Kind::ALL.map(|k| k.code()).join(", "))
        }),
    );
    if let (Some(c), Some(k)) = (channel, kind) {
        if !k.serves(c) {
            errors.add("kind", Msg::new("error-kind-channel"));
        }
    }
    if let Some(url) = draft.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
        match url::Url::parse(url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => errors.add("base_url", Msg::new("error-url")),
        }
    }
    let mut check_range = |field: &str, v: i64, min: i64, max: i64| {
        if v < min || v > max {
            errors.add(
                field,
                Msg::new("error-out-of-range")
                    .arg("min", min)
                    .arg("max", max),
            );
        }
    };
    check_range("timeout_ms", draft.timeout_ms.into(), 100, 300_000);
    check_range("rate_per_sec", draft.rate_per_sec.into(), 1, 100_000);
    check_range("concurrency", draft.concurrency.into(), 1, 1_000);
    if let Some(q) = draft.daily_quota {
        check_range("daily_quota", q, 1, 1_000_000_000);
    }
    let settings = object(&draft.settings, "settings", &mut errors);
    let mut secrets: Map<String, Value> = existing
        .and_then(|e| serde_json::from_str::<Value>(&e.credentials).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if let Some(c) = &draft.credentials {
        for (k, v) in object(c, "credentials", &mut errors) {
            // An empty value on a form means "keep"; null removes.
            match v {
                Value::String(s) if s.is_empty() => {}
                Value::Null => {
                    secrets.remove(&k);
                }
                v => {
                    secrets.insert(k, v);
                }
            }
        }
    }
    errors.into_result()?;
    let now = Utc::now();
    let model = provider::Model {
        id: existing.map(|e| e.id).unwrap_or(0),
        name: name.expect("checked"),
        channel: channel.expect("checked").code().to_string(),
        kind: kind.expect("checked").code().to_string(),
        enabled: draft.enabled,
        priority: draft.priority,
        base_url: draft
            .base_url
            .clone()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty()),
        settings: Value::Object(settings).to_string(),
        credentials: Value::Object(secrets).to_string(),
        timeout_ms: draft.timeout_ms,
        rate_per_sec: draft.rate_per_sec,
        daily_quota: draft.daily_quota,
        concurrency: draft.concurrency,
        created_at: existing.map(|e| e.created_at).unwrap_or(now),
        updated_at: now,
    };
    // The channel's own checks: a provider saved is a provider that can send.
    if let Err(e) = channels::build(&model, "data/outbox") {
        return Err(AppError::invalid(
            "settings",
            Msg::new("error-provider-settings").arg("detail", e),
        ));
    }
    Ok(model)
}

fn audit_view(m: &provider::Model) -> Value {
    json!({
        "name": m.name, "channel": m.channel, "kind": m.kind, "enabled": m.enabled, "priority": m.priority,
        "base_url": m.base_url, "settings": serde_json::from_str::<Value>(&m.settings).unwrap_or_default(),
        "credentials_set": secret_names(&m.credentials), "timeout_ms": m.timeout_ms,
        "rate_per_sec": m.rate_per_sec, "daily_quota": m.daily_quota, "concurrency": m.concurrency,
    })
}

pub async fn create(
    db: &Db,
    actor: &Actor,
    draft: &ProviderDraft,
    tz: Tz,
) -> AppResult<ProviderView> {
    actor.require_admin()?;
    let m = check(draft, None)?;
    let tx = db.begin_write().await?;
    let saved = provider::ActiveModel {
        name: Set(m.name.clone()),
        channel: Set(m.channel.clone()),
        kind: Set(m.kind.clone()),
        enabled: Set(m.enabled),
        priority: Set(m.priority),
        base_url: Set(m.base_url.clone()),
        settings: Set(m.settings.clone()),
        credentials: Set(m.credentials.clone()),
        timeout_ms: Set(m.timeout_ms),
        rate_per_sec: Set(m.rate_per_sec),
        daily_quota: Set(m.daily_quota),
        concurrency: Set(m.concurrency),
        created_at: Set(m.created_at),
        updated_at: Set(m.updated_at),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        actor,
        "provider.created",
        "provider",
        Some(saved.id.to_string()),
        audit_view(&saved),
    )
    .await?;
    tx.commit().await?;
    view(db, saved, tz).await
}

pub async fn update(
    db: &Db,
    actor: &Actor,
    id: i64,
    draft: &ProviderDraft,
    tz: Tz,
) -> AppResult<ProviderView> {
    actor.require_admin()?;
    let tx = db.begin_write().await?;
    let existing = provider::Entity::find_by_id(id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let m = check(draft, Some(&existing))?;
    let before = audit_view(&existing);
    let mut am: provider::ActiveModel = existing.into();
    am.name = Set(m.name.clone());
    am.channel = Set(m.channel.clone());
    am.kind = Set(m.kind.clone());
    am.enabled = Set(m.enabled);
    am.priority = Set(m.priority);
    am.base_url = Set(m.base_url.clone());
    am.settings = Set(m.settings.clone());
    am.credentials = Set(m.credentials.clone());
    am.timeout_ms = Set(m.timeout_ms);
    am.rate_per_sec = Set(m.rate_per_sec);
    am.daily_quota = Set(m.daily_quota);
    am.concurrency = Set(m.concurrency);
    am.updated_at = Set(m.updated_at);
    let saved = am.update(&*tx).await?;
    audit::record(
        &*tx,
        actor,
        "provider.updated",
        "provider",
        Some(id.to_string()),
        audit::changes(&before, &audit_view(&saved)),
    )
    .await?;
    tx.commit().await?;
    view(db, saved, tz).await
}

/// The enabled providers of a channel exist (else the outbox folder is used).
pub async fn any_enabled(db: &Db, channel: Channel) -> AppResult<bool> {
    Ok(provider::Entity::find()
        .filter(provider::Column::Enabled.eq(true))
        .filter(provider::Column::Channel.eq(channel.code()))
        .one(&db.conn)
        .await?
        .is_some())
}
