//! Zalo Notification Service: a template approved on Zalo's side, filled with our values.
//! `POST {base}/message/template` with the OA's `access_token` header and
//! `{phone, template_id, template_data, tracking_id}`; the answer's `error` is 0 on success.
//! Error codes and their classes follow Zalo's ZNS guide to handling error codes
//! (zalo.cloud/zns/guidelines/handle-error-code).
use std::time::Duration;

use serde_json::json;

use super::{
    classify_http, classify_reqwest, http_client, required_setting, short_key, Outbound, Sender,
};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;

pub const DEFAULT_BASE: &str = "https://business.openapi.zalo.me";

pub struct ZaloSender {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl ZaloSender {
    pub fn new(
        base: Option<&str>,
        secrets: &serde_json::Value,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = base.unwrap_or(DEFAULT_BASE).trim_end_matches('/');
        Ok(Self {
            client: http_client(timeout),
            url: format!("{base}/message/template"),
            token: required_setting(secrets, "access_token")?,
        })
    }
}

/// The class of a ZNS error code.
pub fn classify_code(code: i64) -> ErrorClass {
    match code {
        // Unknown error, try again later.
        -100 => ErrorClass::Server,
        // Invalid phone number.
        -108 => ErrorClass::InvalidRecipient,
        // The person cannot get ZNS: app version unsupported, account inactive or refusing
        // ZNS, no Zalo account, account cannot receive ZNS, refused this OA's messages.
        -110 | -114 | -118 | -119 | -139 => ErrorClass::NotOnChannel,
        // The OA has used its daily ZNS quota: nothing more goes through it until the next
        // day in Vietnam.
        -144 => ErrorClass::QuotaExhausted,
        // "Out of quota" in Zalo's table, explained there as the ZNS account's balance being
        // too low: an operator must top it up (it falls to provider configuration below).

        // Sending outside the hours Zalo allows.
        -133 => ErrorClass::RateLimited,
        // Template data empty/invalid, QR, buttons, text.
        -111 | -112 | -113 | -116 => ErrorClass::Content,
        // Application, secret key, OA link, method, template id or permission, access token.
        _ => ErrorClass::ProviderConfig,
    }
}

/// E.164 without the plus, as Zalo takes it: 84912345678.
fn zalo_phone(e164: &str) -> String {
    e164.trim_start_matches('+').to_string()
}

#[async_trait::async_trait]
impl Sender for ZaloSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let Rendered::Zalo {
            template_id,
            params,
        } = &out.content
        else {
            return Err(Failure::new(ErrorClass::Content, "not a ZNS message"));
        };
        let body = json!({
            "phone": zalo_phone(&out.recipient),
            "template_id": template_id,
            "template_data": params,
            "tracking_id": short_key(&out.idempotency_key),
        });
        let resp = self
            .client
            .post(&self.url)
            .header("access_token", &self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        if let Some(f) = classify_http(resp.status()) {
            return Err(f);
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| classify_reqwest(&e))?;
        let code = v.get("error").and_then(|e| e.as_i64()).unwrap_or(-100);
        if code == 0 {
            let id = v
                .pointer("/data/msg_id")
                .and_then(|m| m.as_str())
                .map(str::to_string);
            return Ok(Accepted {
                provider_message_id: id,
            });
        }
        Err(Failure::new(
            classify_code(code),
            format!("ZNS error {code}"),
        ))
    }
}
