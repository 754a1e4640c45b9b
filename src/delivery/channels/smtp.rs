//! E-mail over SMTP with lettre's pooled transport: multipart text + HTML, a Message-ID derived
//! from the idempotency key, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058), UTF-8
//! headers. lettre's own timeout covers connecting only, so every send is wrapped in one.
use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{required_setting, short_key, text_setting, Outbound, Sender};
use crate::delivery::model::{Accepted, ErrorClass, Failure};
use crate::messaging::render::Rendered;

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    timeout: Duration,
}

impl SmtpSender {
    /// Settings: host, port, security (`none`, `starttls`, `tls`), username, from_address,
    /// from_name. Secrets: password.
    pub fn new(
        settings: &serde_json::Value,
        secrets: &serde_json::Value,
        timeout: Duration,
        pool: u32,
    ) -> anyhow::Result<Self> {
        let host = required_setting(settings, "host")?;
        let port = settings.get("port").and_then(|v| v.as_u64()).unwrap_or(25) as u16;
        let security = text_setting(settings, "security").unwrap_or_else(|| "starttls".into());
        let tls = match security.as_str() {
            "none" => Tls::None,
            "starttls" => Tls::Required(TlsParameters::new(host.clone())?),
            "tls" => Tls::Wrapper(TlsParameters::new(host.clone())?),
            other => anyhow::bail!("security must be none, starttls or tls, not {other}"),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(pool.max(1)));
        if let (Some(user), Some(pass)) = (
            text_setting(settings, "username"),
            text_setting(secrets, "password"),
        ) {
            builder = builder.credentials(Credentials::new(user, pass));
        }
        let from_address = required_setting(settings, "from_address")?;
        let from: Mailbox = match text_setting(settings, "from_name") {
            Some(name) => format!("{name} <{from_address}>").parse()?,
            None => from_address.parse()?,
        };
        let domain = from_address
            .rsplit('@')
            .next()
            .unwrap_or("localhost")
            .to_string();
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
            timeout,
        })
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    if e.is_timeout() {
        Failure::new(ErrorClass::Timeout, "SMTP timeout")
    } else if e.is_permanent() {
        // 5xx: an address problem for 550 (no such mailbox), 551 (not local) and 553 (name not
        // allowed); otherwise refused for another reason (policy, content, size).
        let class = if matches!(code.as_str(), "550" | "551" | "553") {
            ErrorClass::InvalidRecipient
        } else {
            ErrorClass::SmtpPermanent
        };
        Failure::new(class, format!("SMTP {code}"))
    } else if e.is_transient() {
        Failure::new(ErrorClass::SmtpTransient, format!("SMTP {code}"))
    } else {
        Failure::new(ErrorClass::Network, "SMTP connection failed")
    }
}

#[async_trait::async_trait]
impl Sender for SmtpSender {
    async fn send(&self, out: &Outbound) -> Result<Accepted, Failure> {
        let Rendered::Email {
            subject,
            html,
            text,
        } = &out.content
        else {
            return Err(Failure::new(ErrorClass::Content, "not an e-mail"));
        };
        let to: Mailbox = out
            .recipient
            .parse()
            .map_err(|_| Failure::new(ErrorClass::InvalidRecipient, "not an e-mail address"))?;
        let message_id = format!("<{}@{}>", short_key(&out.idempotency_key), self.domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject.clone())
            .message_id(Some(message_id.clone()));
        if let Some(url) = &out.one_click_unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let email = builder
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            ))
            .map_err(|_| Failure::new(ErrorClass::Content, "the e-mail could not be built"))?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Err(_) => Err(Failure::new(ErrorClass::Timeout, "SMTP send timed out")),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(_)) => Ok(Accepted {
                provider_message_id: Some(message_id),
            }),
        }
    }
}
