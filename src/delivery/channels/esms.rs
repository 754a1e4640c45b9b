//! SMS brandname through eSMS.vn (ViHAT), a widely used Vietnamese gateway:
//! `POST {base}/MainService.svc/json/SendMultipleMessage_V4_post_json/` with ApiKey, SecretKey,
//! Brandname, Phone, Content, SmsType (2: customer care), IsUnicode and a RequestId the gateway
//! uses to refuse duplicates for 24 hours. `CodeResult` "100" means accepted. Codes follow the
//! gateway's table of error codes (developers.esms.vn).
use std::time::Duration;

use serde_json::json;

use super::{
    classify_http, classify_reqwest, http_client, required_setting, short_key, text_setting,
    Outbound, Sender,
};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;
use crate::messaging::sms::Encoding;

pub const DEFAULT_BASE: &str = "https://rest.esms.vn";

pub struct EsmsSender {
    client: reqwest::Client,
    url: String,
    api_key: String,
    secret_key: String,
    brandname: String,
    sms_type: String,
    sandbox: bool,
}

impl EsmsSender {
    /// Settings: brandname, sms_type (default "2"), sandbox. Secrets: api_key, secret_key.
    pub fn new(
        base: Option<&str>,
        settings: &serde_json::Value,
        secrets: &serde_json::Value,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = base.unwrap_or(DEFAULT_BASE).trim_end_matches('/');
        Ok(Self {
            client: http_client(timeout),
            url: format!("{base}/MainService.svc/json/SendMultipleMessage_V4_post_json/"),
            api_key: required_setting(secrets, "api_key")?,
            secret_key: required_setting(secrets, "secret_key")?,
            brandname: required_setting(settings, "brandname")?,
            sms_type: text_setting(settings, "sms_type").unwrap_or_else(|| "2".into()),
            sandbox: settings
                .get("sandbox")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
        })
    }
}

pub fn classify_code(code: &str) -> Option<ErrorClass> {
    Some(match code {
        "100" => return None,
        // A RequestId seen before: the message was already taken.
        "124" => return None,
        "99" | "108" => ErrorClass::InvalidRecipient,
        "177" => ErrorClass::NotOnChannel,
        "103" => ErrorClass::RateLimited,
        "146" => ErrorClass::Content,
        // Keys, price list, brandname, message type, IP whitelist.
        _ => ErrorClass::ProviderConfig,
    })
}

/// The national form the gateway expects: 0912345678.
fn local_phone(e164: &str) -> String {
    match e164.strip_prefix("+84") {
        Some(rest) => format!("0{rest}"),
        None => e164.to_string(),
    }
}

#[async_trait::async_trait]
impl Sender for EsmsSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let Rendered::Sms { text, info } = &out.content else {
            return Err(Failure::new(ErrorClass::Content, "not an SMS"));
        };
        let unicode = info.length.encoding == Encoding::Ucs2;
        let body = json!({
            "ApiKey": self.api_key,
            "SecretKey": self.secret_key,
            "Content": text,
            "Phone": local_phone(&out.recipient),
            "Brandname": self.brandname,
            "SmsType": self.sms_type,
            "IsUnicode": if unicode { "1" } else { "0" },
            "Sandbox": if self.sandbox { "1" } else { "0" },
            "RequestId": short_key(&out.idempotency_key),
        });
        let resp = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        if let Some(f) = classify_http(resp.status()) {
            return Err(f);
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| classify_reqwest(&e))?;
        let code = match v.get("CodeResult") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "0".into(),
        };
        match classify_code(&code) {
            None => Ok(Accepted {
                provider_message_id: v.get("SMSID").and_then(|s| s.as_str()).map(str::to_string),
            }),
            Some(class) => Err(Failure::new(class, format!("eSMS code {code}"))),
        }
    }
}
