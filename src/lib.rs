//! hi-outreach: plans, sends and measures outreach about Vietnam's student health insurance.
pub mod analytics;
pub mod api;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod config;
pub mod consultations;
pub mod contacts;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod demo_outreach;
pub mod enrollment;
pub mod error;
pub mod fields;
pub mod generate;
pub mod imports;
pub mod media;
pub mod messaging;
pub mod org;
pub mod recent;
pub mod reminders;
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
        let per_thread = state.settings.http_worker_connections;
        // Each HTTP worker thread gets its own pool (see `Db::for_worker_thread`); background
        // work keeps the process's first pool.
        let mut server = HttpServer::new(move || {
            let mut local = (**app_state).clone();
            local.db = app_state.db.for_worker_thread(per_thread);
            web::app(Data::new(local))
        })
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

    /// The delivery worker for this process, sharing its database, settings and counters.
    pub fn worker(&self) -> std::sync::Arc<delivery::worker::Worker> {
        worker_for(&self.state)
    }

    /// Serves until SIGINT/SIGTERM (actix finishes in-flight requests first) and runs
    /// housekeeping and, unless turned off, the delivery worker and the scheduler alongside. On shutdown the
    /// worker finishes the sends in flight and gives back what it still holds.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = self
            .state
            .settings
            .worker_enabled
            .then(|| tokio::spawn(worker_for(&self.state).run(stopped.clone())));
        let scheduler = self
            .state
            .settings
            .scheduler_enabled
            .then(|| tokio::spawn(scheduler_for(&self.state).run(stopped)));
        let result = self.server.await;
        let _ = stop.send(true);
        if let Some(s) = scheduler {
            let _ = s.await;
        }
        if let Some(w) = worker {
            let grace = Duration::from_secs(self.state.settings.shutdown_timeout_secs.max(1));
            if tokio::time::timeout(grace, w).await.is_err() {
                tracing::warn!("the worker did not stop in time");
            }
        }
        housekeeping.abort();
        self.state.db.close_pool().await;
        result
    }
}

pub fn worker_for(state: &Data<AppState>) -> std::sync::Arc<delivery::worker::Worker> {
    delivery::worker::Worker::new(
        state.db.clone(),
        state.settings.clone(),
        state.i18n.clone(),
        state.secret().to_vec(),
        state.metrics.clone(),
    )
}

/// Runs the delivery worker and/or the scheduler without a web server (the `worker` and
/// `scheduler` commands) until SIGINT or SIGTERM.
pub async fn run_background(
    settings: Settings,
    db: Db,
    worker: bool,
    scheduler: bool,
) -> anyhow::Result<()> {
    let secret = settings.secret_key.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "invalid configuration: setting `secret_key` (environment HIO_SECRET_KEY) is required"
        )
    })?;
    let state = Data::new(AppState::new(db, settings, secret)?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    if worker {
        tasks.push(tokio::spawn(worker_for(&state).run(stopped.clone())));
    }
    if scheduler {
        tasks.push(tokio::spawn(scheduler_for(&state).run(stopped)));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// The scheduler of waves and reminder rules for this process.
pub fn scheduler_for(state: &Data<AppState>) -> std::sync::Arc<reminders::scheduler::Scheduler> {
    reminders::scheduler::Scheduler::new(state.db.clone(), state.settings.clone())
}

/// Hourly: forget expired sessions, old login attempts and unconfirmed uploads; erase the
/// content of messages past their retention.
async fn housekeeping(state: Data<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let sessions = auth::session::purge_expired(&state.db).await;
        let attempts = auth::throttle::purge_old(&state.db).await;
        let uploads = imports::purge_stale(&state.db).await;
        let messages =
            delivery::outbox::purge_content(&state.db, state.settings.message_retention_days).await;
        match (sessions, attempts, uploads, messages) {
            (Ok(s), Ok(a), Ok(u), Ok(m)) => {
                tracing::debug!(
                    sessions = s,
                    attempts = a,
                    uploads = u,
                    messages = m,
                    "housekeeping done"
                )
            }
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) => {
                tracing::warn!(error = %e, "housekeeping failed")
            }
            (_, _, _, Err(e)) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}
