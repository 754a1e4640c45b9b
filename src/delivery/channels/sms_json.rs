//! A generic JSON SMS gateway: `POST {base_url}` with `Authorization: Bearer <token>`,
//! `Idempotency-Key`, and `{"to": "+84…", "text": "…", "unicode": bool, "request_id": "…"}`;
//! any 2xx is accepted (an `id` in the answer is kept). Classes follow the HTTP status.
use std::time::Duration;

use serde_json::json;

use super::{
    classify_http, classify_reqwest, http_client, required_setting, short_key, Outbound, Sender,
};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;
use crate::messaging::sms::Encoding;

pub struct SmsJsonSender {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl SmsJsonSender {
    pub fn new(
        base: Option<&str>,
        secrets: &serde_json::Value,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            client: http_client(timeout),
            url: base
                .ok_or_else(|| anyhow::anyhow!("base_url is required"))?
                .to_string(),
            token: required_setting(secrets, "token")?,
        })
    }
}

#[async_trait::async_trait]
impl Sender for SmsJsonSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let Rendered::Sms { text, info } = &out.content else {
            return Err(Failure::new(ErrorClass::Content, "not an SMS"));
        };
        let key = short_key(&out.idempotency_key);
        let body = json!({"to": out.recipient, "text": text, "unicode": info.length.encoding == Encoding::Ucs2, "request_id": key});
        let resp = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        if let Some(f) = classify_http(resp.status()) {
            return Err(f);
        }
        let id = resp.json::<serde_json::Value>().await.ok().and_then(|v| {
            v.get("id").map(|i| match i {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}
