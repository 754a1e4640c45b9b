//! Typed settings: built-in defaults < config file (`--config`) < `HIO_*` environment.
//!
//! Every key is flat, so the same name works in the TOML file (`database_url = "…"`) and in the
//! environment (`HIO_DATABASE_URL=…`). Values are parsed into types here, once; a bad value stops
//! start-up with an error that names the setting.
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use chrono_tz::Tz;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

/// A database URL the platform can use: SQLite or PostgreSQL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("sqlite:") {
            if raw == "sqlite:" || raw == "sqlite://" {
                return Err(
                    "a sqlite URL needs a file path, e.g. sqlite://data/hi-outreach.db".into(),
                );
            }
            Ok(Self(raw.to_string()))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
            Ok(Self(raw.to_string()))
        } else {
            Err("expected a URL starting with sqlite:// or postgres://".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with any password replaced, for printing.
    pub fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DatabaseUrl> for String {
    fn from(value: DatabaseUrl) -> Self {
        value.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The key that signs CSRF tokens, unsubscribe links and keyed hashes. At least 32 characters.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretKey(String);

impl SecretKey {
    pub const MIN_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() < Self::MIN_LEN {
            return Err(format!(
                "must be at least {} characters long (got {})",
                Self::MIN_LEN,
                raw.len()
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn generate() -> Self {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<String> for SecretKey {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SecretKey> for String {
    fn from(value: SecretKey) -> Self {
        value.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub database_url: DatabaseUrl,
    /// Connections in the pool of each instance's background work (delivery worker, scheduler,
    /// housekeeping) and, on SQLite, of the whole process.
    pub database_max_connections: u32,
    /// On PostgreSQL, connections in the pool of each HTTP worker thread (see
    /// `Db::for_worker_thread`); a reading request holds one while it is served.
    pub http_worker_connections: u32,
    /// Address the web server listens on.
    pub bind: SocketAddr,
    /// The address users reach the platform at; HTTPS here turns on secure cookies and HSTS.
    pub base_url: Url,
    /// Required by `serve`; `demo` generates one when absent.
    pub secret_key: Option<SecretKey>,
    /// Time zone for schedules and for showing dates.
    pub timezone: Tz,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after login, whatever the activity.
    pub session_absolute_hours: u32,
    /// Largest accepted request body (forms and JSON), in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted upload (CSV imports), in bytes.
    pub max_upload_bytes: usize,
    /// Failed logins for one account from one address before that pair is slowed down.
    pub login_failures_per_account_ip: u32,
    /// Failed logins from one address, across all accounts, before it is slowed down.
    pub login_failures_per_ip: u32,
    /// Failed logins on one account, from all addresses, before unfamiliar addresses are slowed.
    pub login_failures_per_account: u32,
    /// Window in which failed logins are counted, in minutes.
    pub login_window_minutes: u32,
    /// Take the client address from the first `X-Forwarded-For` hop (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads; 0 means one per CPU core.
    pub http_workers: usize,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `hi_outreach=debug,info`.
    pub log_level: String,
    /// Run the delivery worker in this process (`serve --no-worker` turns it off).
    pub worker_enabled: bool,
    /// Messages a worker claims at a time, per channel.
    pub worker_batch: u32,
    /// Seconds a claim holds; a crashed worker's claims return to the queue after this.
    pub worker_lease_secs: u32,
    /// Milliseconds between looks at an empty queue.
    pub worker_poll_ms: u32,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// Retry backoff: the first wait's ceiling and the cap, in seconds (full jitter below).
    pub retry_base_secs: u32,
    pub retry_cap_secs: u32,
    /// Local-time windows (`HH:MM-HH:MM`, empty for none) when a channel does not send.
    pub quiet_hours_email: String,
    pub quiet_hours_sms: String,
    pub quiet_hours_zalo: String,
    pub quiet_hours_push: String,
    /// Where the file channel writes messages when no provider is configured.
    pub outbox_dir: String,
    /// Add an open-tracking pixel to e-mails.
    pub track_opens: bool,
    /// Days after which the rendered content and address of a message are erased (counts
    /// and statuses stay).
    pub message_retention_days: u32,
    /// When set, `/metrics` asks for `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Run the scheduler (due waves and reminder rules) in this process.
    pub scheduler_enabled: bool,
    /// Seconds between the scheduler's looks at what is due.
    pub scheduler_tick_secs: u32,
    /// Guardian ids materialised per transaction by waves and rules.
    pub materialise_batch: u32,
    /// Frequency cap per guardian across all campaigns: parent messages (waves and reminders)
    /// per Vietnam day and per seven days; 0 for no limit.
    pub cap_per_day: u32,
    pub cap_per_week: u32,
    /// Price of one SMS segment in VND, for cost estimates (set it to your gateway's price).
    pub sms_segment_price_vnd: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DatabaseUrl("sqlite://data/hi-outreach.db".into()),
            database_max_connections: 10,
            http_worker_connections: 2,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: Url::parse("http://127.0.0.1:8080").expect("static URL"),
            secret_key: None,
            timezone: chrono_tz::Asia::Ho_Chi_Minh,
            session_idle_minutes: 120,
            session_absolute_hours: 12,
            max_body_bytes: 256 * 1024,
            max_upload_bytes: 32 * 1024 * 1024,
            login_failures_per_account_ip: 5,
            login_failures_per_ip: 30,
            login_failures_per_account: 20,
            login_window_minutes: 15,
            trust_forwarded_for: false,
            shutdown_timeout_secs: 30,
            http_workers: 0,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            worker_enabled: true,
            worker_batch: 500,
            worker_lease_secs: 300,
            worker_poll_ms: 500,
            max_attempts: 8,
            retry_base_secs: 30,
            retry_cap_secs: 3600,
            quiet_hours_email: String::new(),
            quiet_hours_sms: "21:00-07:00".into(),
            quiet_hours_zalo: "21:00-07:00".into(),
            quiet_hours_push: "21:00-07:00".into(),
            outbox_dir: "data/outbox".into(),
            track_opens: true,
            message_retention_days: 180,
            metrics_token: None,
            scheduler_enabled: true,
            scheduler_tick_secs: 5,
            materialise_batch: 10_000,
            cap_per_day: 1,
            cap_per_week: 3,
            sms_segment_price_vnd: 800,
        }
    }
}

/// A setting that could not be read, naming the key and where the value came from.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        let lines: Vec<String> = err
            .into_iter()
            .map(|e| {
                let key = e
                    .path
                    .iter()
                    .filter(|p| p.as_str() != "default")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(".");
                let source = e
                    .metadata
                    .as_ref()
                    .map(|m| match &m.source {
                        Some(src) => format!(" (from {} {src})", m.name),
                        None => format!(" (from {})", m.name),
                    })
                    .unwrap_or_default();
                let key = if key.is_empty() {
                    String::new()
                } else {
                    format!(
                        "setting `{key}` (environment HIO_{}){source}: ",
                        key.to_uppercase()
                    )
                };
                format!("invalid configuration: {key}{}", e.kind)
            })
            .collect();
        Self(lines.join("\n"))
    }
}

impl Settings {
    /// Defaults, then the optional TOML file, then `HIO_*` variables from the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(config_file, Env::prefixed("HIO_"))
    }

    fn load_from(config_file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError::new(format!(
                    "invalid configuration: config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let settings: Settings = figment.merge(env).extract()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that need more than one value's type.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError::new(format!(
                "invalid configuration: setting `{key}` (environment HIO_{}): {why}",
                key.to_uppercase()
            )))
        };
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return bad("base_url", "must start with http:// or https://");
        }
        if self.database_max_connections == 0 {
            return bad("database_max_connections", "must be at least 1");
        }
        if self.http_worker_connections == 0 {
            return bad("http_worker_connections", "must be at least 1");
        }
        if self.session_idle_minutes == 0 || self.session_absolute_hours == 0 {
            return bad("session_idle_minutes", "session lifetimes must be positive");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes", "must be at least 1024");
        }
        if self.login_window_minutes == 0 {
            return bad("login_window_minutes", "must be at least 1");
        }
        if self.login_failures_per_account_ip == 0
            || self.login_failures_per_ip == 0
            || self.login_failures_per_account == 0
        {
            return bad(
                "login_failures_per_account_ip",
                "login limits must be at least 1",
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return bad("log_level", "not a valid log filter (try `info`)");
        }
        for (key, value) in [
            ("quiet_hours_email", &self.quiet_hours_email),
            ("quiet_hours_sms", &self.quiet_hours_sms),
            ("quiet_hours_zalo", &self.quiet_hours_zalo),
            ("quiet_hours_push", &self.quiet_hours_push),
        ] {
            if let Err(e) = crate::delivery::model::QuietHours::parse(value) {
                return bad(key, &e);
            }
        }
        if self.worker_batch == 0 || self.worker_lease_secs == 0 || self.max_attempts == 0 {
            return bad(
                "worker_batch",
                "worker_batch, worker_lease_secs and max_attempts must be at least 1",
            );
        }
        if self.scheduler_tick_secs == 0 || self.materialise_batch == 0 {
            return bad(
                "scheduler_tick_secs",
                "scheduler_tick_secs and materialise_batch must be at least 1",
            );
        }
        if self.cap_per_day > 0 && self.cap_per_week > 0 && self.cap_per_week < self.cap_per_day {
            return bad("cap_per_week", "must not be below cap_per_day");
        }
        if self.retry_base_secs == 0 || self.retry_cap_secs < self.retry_base_secs {
            return bad(
                "retry_cap_secs",
                "need 0 < retry_base_secs <= retry_cap_secs",
            );
        }
        Ok(())
    }

    /// Quiet hours as parsed windows (validated at load).
    pub fn quiet_policy(&self) -> crate::delivery::model::QuietPolicy {
        use crate::delivery::model::QuietHours;
        let q = |v: &str| QuietHours::parse(v).ok().flatten();
        crate::delivery::model::QuietPolicy {
            email: q(&self.quiet_hours_email),
            sms: q(&self.quiet_hours_sms),
            zalo: q(&self.quiet_hours_zalo),
            push: q(&self.quiet_hours_push),
        }
    }

    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The global frequency cap.
    pub fn cap(&self) -> crate::reminders::materialise::Cap {
        crate::reminders::materialise::Cap {
            per_day: self.cap_per_day,
            per_week: self.cap_per_week,
        }
    }

    /// The base URL without a trailing slash, for building links.
    pub fn base(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &[(&str, &str)]) -> Env {
        // Env reads the process environment; give each test its own prefix so tests do not
        // see each other's variables.
        let prefix = format!("HIOT{}_", uuid::Uuid::new_v4().simple());
        for (k, v) in vars {
            std::env::set_var(format!("{prefix}{k}"), v);
        }
        Env::prefixed(&prefix.clone())
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load_from(None, env_with(&[])).unwrap();
        assert!(s.database_url.is_sqlite());
        assert_eq!(s.timezone, chrono_tz::Asia::Ho_Chi_Minh);
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hio.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n").unwrap();
        let s = Settings::load_from(Some(&file), env_with(&[("BIND", "0.0.0.0:9100")])).unwrap();
        assert_eq!(s.bind.port(), 9100);
        assert_eq!(s.log_level, "debug");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Settings::load_from(None, env_with(&[("TIMEZONE", "Mars/Olympus")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timezone"), "{err}");
        let err = Settings::load_from(None, env_with(&[("DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_url"), "{err}");
        let err = Settings::load_from(None, env_with(&[("SECRET_KEY", "short")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret_key") && err.contains("32"), "{err}");
        let err = Settings::load_from(None, env_with(&[("SESION_IDLE_MINUTES", "5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sesion_idle_minutes"), "{err}");
        let err = Settings::load_from(None, env_with(&[("HTTP_WORKER_CONNECTIONS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("HIO_HTTP_WORKER_CONNECTIONS"), "{err}");
        let s = Settings::load_from(None, env_with(&[("HTTP_WORKER_CONNECTIONS", "3")])).unwrap();
        assert_eq!(s.http_worker_connections, 3);
    }

    #[test]
    fn the_example_file_is_valid() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hi-outreach.example.toml");
        let s = Settings::load_from(Some(&file), env_with(&[])).unwrap();
        assert!(s.is_https());
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = Settings::load_from(Some(Path::new("/nonexistent/hio.toml")), env_with(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
