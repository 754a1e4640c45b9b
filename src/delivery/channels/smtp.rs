//! E-mail over SMTP with lettre: multipart text + HTML, a Message-ID derived from the
//! idempotency key, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058), UTF-8 headers.
//! Connections are pooled here rather than by lettre's transport so that their sockets can have
//! Nagle's algorithm turned off (see `connect`); every send is wrapped in the provider's timeout.
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::Message;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

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

/// How the connection is secured.
enum Security {
    None,
    StartTls(TlsParameters),
    /// Implicit TLS (port 465).
    Wrapper(TlsParameters),
}

/// Open connections waiting for the next message, with when they were last used.
type Idle = std::sync::Mutex<Vec<(AsyncSmtpConnection, Instant)>>;

/// An idle connection older than this is checked with NOOP before use.
const CHECK_AFTER: Duration = Duration::from_secs(30);

pub struct SmtpSender {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Idle,
    /// At most `pool` connections at once.
    slots: Semaphore,
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
        let security = match text_setting(settings, "security")
            .unwrap_or_else(|| "starttls".into())
            .as_str()
        {
            "none" => Security::None,
            "starttls" => Security::StartTls(TlsParameters::new(host.clone())?),
            "tls" => Security::Wrapper(TlsParameters::new(host.clone())?),
            other => anyhow::bail!("security must be none, starttls or tls, not {other}"),
        };
        let credentials = match (
            text_setting(settings, "username"),
            text_setting(secrets, "password"),
        ) {
            (Some(user), Some(pass)) => Some(Credentials::new(user, pass)),
            _ => None,
        };
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
            host,
            port,
            security,
            credentials,
            hello: ClientId::Domain(domain.clone()),
            idle: Idle::default(),
            slots: Semaphore::new(pool.max(1) as usize),
            from,
            domain,
            timeout,
        })
    }

    /// A new connection: greeted, secured, authenticated. The socket has Nagle's algorithm
    /// off: lettre writes a message's body and its final dot separately, and with Nagle on
    /// the dot waits for the server's delayed ACK — 40 ms a message on Linux.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let mut conn = match &self.security {
            Security::Wrapper(tls) => {
                // lettre opens implicit-TLS sockets itself (Nagle stays on there).
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello,
                    Some(tls.clone()),
                    None,
                )
                .await
                .map_err(|e| classify_session(&e))?
            }
            _ => {
                let tcp = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|_| Failure::new(ErrorClass::Network, "SMTP connection failed"))?;
                let _ = tcp.set_nodelay(true);
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(|e| classify_session(&e))?
            }
        };
        if let Security::StartTls(tls) = &self.security {
            conn.starttls(tls.clone(), &self.hello)
                .await
                .map_err(|e| classify_session(&e))?;
        }
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                .await
                .map_err(|e| {
                    let f = classify_session(&e);
                    match f.class {
                        ErrorClass::Timeout | ErrorClass::Network => f,
                        _ => Failure::new(
                            ErrorClass::ProviderConfig,
                            format!("SMTP login refused: {}", f.detail),
                        ),
                    }
                })?;
        }
        Ok(conn)
    }

    /// An idle connection that still works, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let next = self.idle.lock().expect("not poisoned").pop();
            match next {
                Some((conn, used)) if used.elapsed() < CHECK_AFTER => return Ok(conn),
                Some((mut conn, _)) => {
                    if conn.test_connected().await {
                        return Ok(conn);
                    }
                    conn.abort().await;
                }
                None => return self.connect().await,
            }
        }
    }

    async fn send_on_pool(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), Failure> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| Failure::new(ErrorClass::Network, "SMTP sender closed"))?;
        let mut conn = self.checkout().await?;
        let result = transaction(&mut conn, envelope, raw).await;
        match &result {
            // A refusal leaves the session usable; a broken connection is dropped.
            _ if conn.has_broken() => conn.abort().await,
            Ok(_) => self
                .idle
                .lock()
                .expect("not poisoned")
                .push((conn, Instant::now())),
            Err(_) => {
                // Reset the transaction before the connection is used again.
                if conn.command(Rset).await.is_ok() {
                    self.idle
                        .lock()
                        .expect("not poisoned")
                        .push((conn, Instant::now()));
                } else {
                    conn.abort().await;
                }
            }
        }
        result
    }
}

/// One mail transaction, step by step, so that a refusal is classed by the step that met it:
/// MAIL FROM speaks of our sender (the provider's set-up), RCPT TO of the recipient, the end of
/// DATA of this message.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<(), Failure> {
    let mut options = Vec::new();
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a: &lettre::Address| !a.to_string().is_ascii());
    if non_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::new(
                ErrorClass::InvalidRecipient,
                "the server takes no UTF-8 addresses",
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failure::new(
                ErrorClass::ProviderConfig,
                "the server takes no 8-bit messages",
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(|e| classify_session(&e))?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| classify(&e))?;
    }
    conn.command(Data).await.map_err(|e| classify(&e))?;
    conn.message(raw).await.map_err(|e| classify(&e))?;
    Ok(())
}

/// A failure before any recipient is named — connecting, the greeting, STARTTLS, login, MAIL
/// FROM — concerns the provider, not the message: retried, never a message's permanent error.
fn classify_session(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    if e.is_timeout() {
        Failure::new(ErrorClass::Timeout, "SMTP timeout")
    } else if e.is_permanent() {
        Failure::new(
            ErrorClass::ProviderConfig,
            format!("SMTP {code} before the recipient"),
        )
    } else if e.is_transient() {
        Failure::new(ErrorClass::SmtpTransient, format!("SMTP {code}"))
    } else {
        Failure::new(ErrorClass::Network, "SMTP connection failed")
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
        let raw = email.formatted();
        match tokio::time::timeout(self.timeout, self.send_on_pool(email.envelope(), &raw)).await {
            Err(_) => Err(Failure::new(ErrorClass::Timeout, "SMTP send timed out")),
            Ok(Err(f)) => Err(f),
            Ok(Ok(())) => Ok(Accepted {
                provider_message_id: Some(message_id),
            }),
        }
    }
}
