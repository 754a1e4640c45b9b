//! Channels: each provider kind sends a rendered message and says, in the classes of
//! `model::ErrorClass`, what went wrong when it did not.
pub mod esms;
pub mod file;
pub mod sms_json;
pub mod smtp;
pub mod webhook;
pub mod zalo;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::entity::provider;
use super::model::{Accepted, ErrorClass, Failure};
use crate::contacts::fields::Channel;
use crate::messaging::render::Rendered;

/// What a channel needs to send one message.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub message_id: i64,
    /// Also sent to providers that deduplicate (Zalo tracking id, eSMS RequestId, the webhook's
    /// Idempotency-Key, the e-mail's Message-ID), so a message re-sent after a crash is
    /// recognised as the same one.
    pub idempotency_key: String,
    pub recipient: String,
    pub language: String,
    pub content: Rendered,
    /// For e-mail: the RFC 8058 one-click unsubscribe address.
    pub one_click_unsubscribe: Option<String>,
}

#[async_trait::async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure>;
}

/// The kinds of provider the platform speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Smtp,
    ZaloZns,
    Esms,
    SmsJson,
    Webhook,
    File,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Smtp,
        Kind::ZaloZns,
        Kind::Esms,
        Kind::SmsJson,
        Kind::Webhook,
        Kind::File,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Smtp => "smtp",
            Kind::ZaloZns => "zalo_zns",
            Kind::Esms => "esms",
            Kind::SmsJson => "sms_json",
            Kind::Webhook => "webhook",
            Kind::File => "file",
        }
    }

    pub fn parse(raw: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == raw)
    }

    /// The channels a kind can serve.
    pub fn serves(self, channel: Channel) -> bool {
        match self {
            Kind::Smtp => channel == Channel::Email,
            Kind::ZaloZns => channel == Channel::Zalo,
            Kind::Esms | Kind::SmsJson => channel == Channel::Sms,
            Kind::Webhook => channel == Channel::Push,
            Kind::File => true,
        }
    }
}

/// A message id hashed to a short, stable token for places with length limits.
pub fn short_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

/// How an HTTP answer maps to our classes; `None` for success. A 404 or 410 from a gateway
/// means a wrong URL or a retired endpoint — the provider's set-up, not the person (only the app
/// webhook uses them to say the person is unknown, see `webhook`).
pub fn classify_http(status: reqwest::StatusCode) -> Option<Failure> {
    let code = status.as_u16();
    let detail = format!("HTTP {code}");
    match code {
        200..=299 => None,
        408 => Some(Failure::new(ErrorClass::Timeout, detail)),
        429 => Some(Failure::new(ErrorClass::RateLimited, detail)),
        401 | 403 | 404 | 410 => Some(Failure::new(ErrorClass::ProviderConfig, detail)),
        500..=599 => Some(Failure::new(ErrorClass::Server, detail)),
        _ => Some(Failure::new(ErrorClass::Content, detail)),
    }
}

/// A transport-level failure of an HTTP call.
pub fn classify_reqwest(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::new(ErrorClass::Timeout, "no answer in time")
    } else if e.is_connect() || e.is_request() || e.is_body() {
        Failure::new(ErrorClass::Network, "connection failed")
    } else if e.is_decode() {
        Failure::new(ErrorClass::Server, "unreadable answer")
    } else {
        Failure::new(ErrorClass::Network, "request failed")
    }
}

pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(64)
        .build()
        .expect("the HTTP client builds with static settings")
}

/// Builds the sender for a provider row.
pub fn build(p: &provider::Model, default_dir: &str) -> anyhow::Result<Box<dyn Sender>> {
    let kind =
        Kind::parse(&p.kind).ok_or_else(|| anyhow::anyhow!("unknown provider kind {}", p.kind))?;
    let timeout = Duration::from_millis(p.timeout_ms.max(100) as u64);
    let settings: serde_json::Value = serde_json::from_str(&p.settings)?;
    let secrets: serde_json::Value = serde_json::from_str(&p.credentials)?;
    Ok(match kind {
        Kind::Smtp => Box::new(smtp::SmtpSender::new(
            &settings,
            &secrets,
            timeout,
            p.concurrency.max(1) as u32,
        )?),
        Kind::ZaloZns => Box::new(zalo::ZaloSender::new(
            p.base_url.as_deref(),
            &secrets,
            timeout,
        )?),
        Kind::Esms => Box::new(esms::EsmsSender::new(
            p.base_url.as_deref(),
            &settings,
            &secrets,
            timeout,
        )?),
        Kind::SmsJson => Box::new(sms_json::SmsJsonSender::new(
            p.base_url.as_deref(),
            &secrets,
            timeout,
        )?),
        Kind::Webhook => Box::new(webhook::WebhookSender::new(
            p.base_url.as_deref(),
            &secrets,
            timeout,
        )?),
        Kind::File => Box::new(file::FileSender::new(
            settings
                .get("directory")
                .and_then(|v| v.as_str())
                .unwrap_or(default_dir),
        )),
    })
}

pub(crate) fn text_setting(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|x| x.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(crate) fn required_setting(v: &serde_json::Value, key: &str) -> anyhow::Result<String> {
    text_setting(v, key).ok_or_else(|| anyhow::anyhow!("setting {key} is required"))
}
