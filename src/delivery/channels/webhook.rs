//! The app-integration webhook (for VssID-style apps): the platform POSTs a JSON notification
//! to the integrator, signed so they can trust it.
//!
//! Headers: `X-HIO-Timestamp` (Unix seconds), `X-HIO-Signature: sha256=<hex>` where the hex is
//! HMAC-SHA256 under the shared signing secret of `<timestamp>.<raw body>`, and
//! `Idempotency-Key` (the same for every retry of one message: deliver it once). Body:
//! `{"message_id", "app_ref", "title", "body", "link", "language"}`. Any 2xx is acceptance; 404
//! or 410 means the app user is unknown (another channel is tried); 429 and 5xx are retried.
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    classify_http, classify_reqwest, http_client, required_setting, short_key, Outbound, Sender,
};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;

pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl WebhookSender {
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
            secret: required_setting(secrets, "signing_secret")?,
        })
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait::async_trait]
impl Sender for WebhookSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let Rendered::Push { title, body, link } = &out.content else {
            return Err(Failure::new(ErrorClass::Content, "not an app notification"));
        };
        let payload = serde_json::to_vec(&serde_json::json!({
            "message_id": out.message_id,
            "app_ref": out.recipient,
            "title": title,
            "body": body,
            "link": link,
            "language": out.language,
        }))
        .map_err(|_| Failure::new(ErrorClass::Content, "unserialisable"))?;
        let ts = chrono::Utc::now().timestamp();
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-HIO-Timestamp", ts.to_string())
            .header(
                "X-HIO-Signature",
                signature(self.secret.as_bytes(), ts, &payload),
            )
            .header("Idempotency-Key", short_key(&out.idempotency_key))
            .body(payload)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        // By this webhook's contract, 404 and 410 mean the app has no such user.
        if matches!(resp.status().as_u16(), 404 | 410) {
            return Err(Failure::new(
                ErrorClass::NotOnChannel,
                format!("HTTP {}", resp.status().as_u16()),
            ));
        }
        if let Some(f) = classify_http(resp.status()) {
            return Err(f);
        }
        let id = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string));
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}
