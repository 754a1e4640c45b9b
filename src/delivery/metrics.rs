//! Counters for operators at `/metrics`, in Prometheus' text format: what this instance's
//! worker did since it started, and (from the database) how many messages wait in the outbox.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entity::message;
use super::model::Status;
use super::outbox::Outcome;
use crate::auth::secrets::constant_time_eq;
use crate::contacts::fields::Channel;
use crate::error::AppResult;
use crate::web::state::AppState;

const OUTCOMES: [&str; 6] = [
    "sent",
    "retry",
    "dead",
    "suppressed",
    "deferred",
    "cancelled",
];

/// Per channel × outcome, counted by this process.
#[derive(Default)]
pub struct Metrics {
    counts: [[AtomicU64; 6]; 4],
}

fn channel_index(c: Channel) -> usize {
    Channel::ALL.iter().position(|x| *x == c).unwrap_or(0)
}

impl Metrics {
    pub fn count(&self, channel: Channel, outcome: &Outcome) {
        let i = match outcome {
            Outcome::Sent { .. } => 0,
            Outcome::Retry { .. } => 1,
            Outcome::Dead { .. } => 2,
            Outcome::Suppressed => 3,
            Outcome::Defer { .. } | Outcome::Release { .. } => 4,
            Outcome::Cancel { .. } => 5,
        };
        self.counts[channel_index(channel)][i].fetch_add(1, Ordering::Relaxed);
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    if let Some(token) = &state.settings.metrics_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given, token) {
            // A scraper, not a person: a plain 401 rather than the login page.
            return Ok(HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# HELP hio_delivery_outcomes_total Messages handled by this instance's worker, by channel and outcome.");
    let _ = writeln!(out, "# TYPE hio_delivery_outcomes_total counter");
    for c in Channel::ALL {
        for (i, o) in OUTCOMES.iter().enumerate() {
            let n = state.metrics.counts[channel_index(*c)][i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "hio_delivery_outcomes_total{{channel=\"{}\",outcome=\"{o}\"}} {n}",
                c.code()
            );
        }
    }
    // The backlog only: sent, dead and cancelled messages pile up for good (tens of millions
    // after a few national waves), and counting them on every scrape would read them all. The
    // backlog is read from the index on (status, channel); what was sent or given up is in the
    // counters above.
    let backlog = [Status::Queued, Status::Sending, Status::Retrying];
    let rows: Vec<(String, String, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::Channel)
        .column(message::Column::Status)
        .column_as(Expr::col(message::Column::Id).count(), "n")
        .filter(message::Column::Status.is_in(backlog.map(Status::code)))
        .group_by(message::Column::Channel)
        .group_by(message::Column::Status)
        .into_tuple()
        .all(&state.db.conn)
        .await?;
    let _ = writeln!(
        out,
        "# HELP hio_messages Messages waiting in the outbox (queued, sending, retrying), by channel and status."
    );
    let _ = writeln!(out, "# TYPE hio_messages gauge");
    for c in Channel::ALL {
        for s in backlog {
            let n = rows
                .iter()
                .find(|(channel, status, _)| channel == c.code() && status == s.code())
                .map_or(0, |r| r.2);
            let _ = writeln!(
                out,
                "hio_messages{{channel=\"{}\",status=\"{}\"}} {n}",
                c.code(),
                s.code()
            );
        }
    }
    let up = if crate::db::Db::ping(&state.db).await.is_ok() {
        1
    } else {
        0
    };
    let _ = writeln!(out, "# TYPE hio_database_up gauge\nhio_database_up {up}");
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(out))
}
