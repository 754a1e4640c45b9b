//! hi-outreach: plans, sends and measures outreach about Vietnam's student health insurance.
pub mod analytics;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod contacts;
pub mod db;
pub mod demo;
pub mod error;
pub mod fields;
pub mod imports;
pub mod messaging;
pub mod org;
pub mod school_year;
pub mod telemetry;
pub mod web;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web::Data;
use actix_web::HttpServer;

use config::{SecretKey, Settings};
use db::Db;
use web::state::AppState;

/// Selects the TLS crypto provider once per process. Several dependencies bring rustls with
/// different providers enabled, and rustls then refuses to guess.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The running application: the HTTP server and its background housekeeping.
pub struct Application {
    port: u16,
    server: Server,
    state: Data<AppState>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares the server. The database
    /// must already be migrated. A `base_url` with port 0 is given the bound port, so tests
    /// can use the address the server really has.
    pub async fn build(mut settings: Settings, db: Db) -> anyhow::Result<Self> {
        let secret: SecretKey = settings.secret_key.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "invalid configuration: setting `secret_key` (environment HIO_SECRET_KEY) is required; \
                 generate one with `openssl rand -base64 48`"
            )
        })?;
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let port = listener.local_addr()?.port();
        if settings.base_url.port() == Some(0) {
            let _ = settings.base_url.set_port(Some(port));
        }
        let workers = settings.http_workers;
        let shutdown = settings.shutdown_timeout_secs;
        messaging::service::ensure_defaults(&db)
            .await
            .map_err(|e| anyhow::anyhow!("default message templates: {e}"))?;
        let state = Data::new(AppState::new(db, settings, secret)?);
        let app_state = state.clone();
        let mut server = HttpServer::new(move || web::app(app_state.clone()))
            .listen(listener)?
            .shutdown_timeout(shutdown)
            .client_request_timeout(Duration::from_secs(30));
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (actix finishes in-flight requests first) and runs
    /// housekeeping alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let result = self.server.await;
        housekeeping.abort();
        self.state.db.close_pool().await;
        result
    }
}

/// Hourly: forget expired sessions, old login attempts and unconfirmed uploads.
async fn housekeeping(state: Data<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let sessions = auth::session::purge_expired(&state.db).await;
        let attempts = auth::throttle::purge_old(&state.db).await;
        let uploads = imports::purge_stale(&state.db).await;
        match (sessions, attempts, uploads) {
            (Ok(s), Ok(a), Ok(u)) => {
                tracing::debug!(sessions = s, attempts = a, uploads = u, "housekeeping done")
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                tracing::warn!(error = %e, "housekeeping failed")
            }
        }
    }
}
