//! The outbox: putting messages in (unique by idempotency key, so enqueueing twice is
//! harmless), claiming due ones atomically, and recording what became of them.
//!
//! Claims are one statement: `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …`, with
//! `FOR UPDATE SKIP LOCKED` in the sub-select on PostgreSQL, so any number of workers share the
//! queue without taking the same message. A claim is a lease: if its worker dies, the message
//! is due again when the lease runs out, and is re-sent under the same idempotency key.
//!
//! Every claim is held under its own token (`<worker id>#<claim number>`, in `leased_by`), and
//! outcomes are recorded only on rows that token still holds: a worker whose lease ran out while
//! it was busy cannot overwrite what the worker that took the message over recorded, even when
//! that is itself (a later claim of the same worker).
use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, QueryTrait, Set, Statement, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{event, message, usage};
use super::model::{Accepted, EventKind, Failure, Status};
use crate::contacts::fields::Channel;
use crate::db::{Db, Params};
use crate::error::AppResult;
use crate::messaging::render::Rendered;
use crate::web::i18n::Lang;

/// Where a message came from.
pub mod source {
    pub const MANUAL: &str = "manual";
    pub const WAVE: &str = "wave";
    pub const RULE: &str = "rule";
    /// A thank-you to a parent whose child got insured while a rule was reminding them.
    pub const THANKS: &str = "thanks";
    pub const ALL: [&str; 4] = [MANUAL, WAVE, RULE, THANKS];
}

/// The next channel to try if this one cannot reach the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FallbackStep {
    pub channel: Channel,
    pub template_id: i64,
    pub template_version: i32,
}

/// A message to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub idempotency_key: String,
    pub source_kind: &'static str,
    pub source_id: Option<i64>,
    /// The reminder rule occurrence, for messages of a rule.
    pub occurrence_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub school_id: Option<i64>,
    pub guardian_id: i64,
    pub channel: Channel,
    pub template_id: Option<i64>,
    pub template_version: Option<i32>,
    pub language: Lang,
    pub recipient: String,
    /// None for messages written when they are sent (waves, reminders and their fallbacks).
    pub content: Option<Rendered>,
    pub student_ids: Vec<i64>,
    pub fallback: Vec<FallbackStep>,
    pub fallback_of: Option<i64>,
    pub not_before: DateTime<Utc>,
    pub max_attempts: i32,
}

pub fn event_model(
    message_id: i64,
    kind: EventKind,
    detail: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> event::ActiveModel {
    event::ActiveModel {
        message_id: Set(message_id),
        kind: Set(kind.code().to_string()),
        at: Set(at),
        detail: Set(detail.map(|d| d.to_string())),
        external_id: Set(None),
        ..Default::default()
    }
}

/// Inserts messages whose key is new; returns the ids of those inserted (a key seen before is
/// skipped, which makes every producer safe to re-run).
pub async fn enqueue<C: ConnectionTrait>(conn: &C, msgs: Vec<NewMessage>) -> AppResult<Vec<i64>> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    // Whole microseconds, as PostgreSQL keeps them: the same instant on both databases.
    let now = Utc::now().trunc_subsecs(6);
    let mut ids = Vec::new();
    // Chunks of 100 (some 3,000 values a statement): SQLite binds long parameter lists in
    // quadratic time.
    for chunk in msgs.chunks(100) {
        let models: Vec<message::ActiveModel> = chunk
            .iter()
            .map(|m| message::ActiveModel {
                idempotency_key: Set(m.idempotency_key.clone()),
                source_kind: Set(m.source_kind.to_string()),
                source_id: Set(m.source_id),
                occurrence_id: Set(m.occurrence_id),
                campaign_id: Set(m.campaign_id),
                school_id: Set(m.school_id),
                guardian_id: Set(m.guardian_id),
                channel: Set(m.channel.code().to_string()),
                provider_id: Set(None),
                template_id: Set(m.template_id),
                template_version: Set(m.template_version),
                language: Set(m.language.code().to_string()),
                recipient: Set(Some(m.recipient.clone())),
                content: Set(m
                    .content
                    .as_ref()
                    .map(|c| serde_json::to_string(c).unwrap_or_default())),
                fallback_plan: Set((!m.fallback.is_empty())
                    .then(|| serde_json::to_string(&m.fallback).unwrap_or_default())),
                fallback_of: Set(m.fallback_of),
                status: Set(Status::Queued.code().to_string()),
                attempts: Set(0),
                max_attempts: Set(m.max_attempts),
                next_attempt_at: Set(m.not_before),
                lease_until: Set(None),
                leased_by: Set(None),
                error_class: Set(None),
                last_error: Set(None),
                provider_message_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                sent_at: Set(None),
                delivered_at: Set(None),
                read_at: Set(None),
                content_purged_at: Set(None),
                ..Default::default()
            })
            .collect();
        // A key seen before (or inserted meanwhile by a racing producer) is skipped by the
        // database; RETURNING answers only the rows inserted.
        let mut insert = message::Entity::insert_many(models)
            .on_conflict(
                OnConflict::column(message::Column::IdempotencyKey)
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        insert.returning(
            sea_orm::sea_query::Query::returning()
                .columns([message::Column::Id, message::Column::IdempotencyKey]),
        );
        let rows = conn
            .query_all(conn.get_database_backend().build(&insert))
            .await?;
        let mut inserted: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for r in rows {
            inserted.insert(r.try_get("", "idempotency_key")?, r.try_get("", "id")?);
        }
        let mut events = Vec::new();
        let mut links = Vec::new();
        for m in chunk {
            if let Some(id) = inserted.remove(&m.idempotency_key) {
                ids.push(id);
                events.push((id, EventKind::Queued, None));
                for s in &m.student_ids {
                    links.push(json!({"message_id": id, "student_id": s}));
                }
            }
        }
        insert_events(conn, &events, now).await?;
        if !links.is_empty() {
            let mut p = Params::new(conn.get_database_backend());
            let v = p.bind_rows(
                &serde_json::Value::Array(links),
                &[("message_id", "BIGINT"), ("student_id", "BIGINT")],
            );
            conn.execute(p.statement(format!(
                "INSERT INTO message_students (message_id, student_id) \
                 SELECT v.message_id, v.student_id FROM ({v}) AS v"
            )))
            .await?;
        }
    }
    Ok(ids)
}

/// Claims up to `limit` due messages of one channel for `holder` (the claim's token, written to
/// `leased_by`), for `lease`: first claims whose lease ran out (their worker died or was too
/// slow), then due messages, oldest first.
pub async fn claim(
    db: &Db,
    channel: Channel,
    holder: &str,
    limit: u32,
    lease: Duration,
) -> AppResult<Vec<message::Model>> {
    let mut claimed = claim_where(
        db,
        channel,
        holder,
        limit,
        lease,
        "status = 'sending' AND lease_until < {now}",
        "lease_until",
    )
    .await?;
    let left = limit.saturating_sub(claimed.len() as u32);
    if left > 0 {
        claimed.extend(
            claim_where(
                db,
                channel,
                holder,
                left,
                lease,
                "status IN ('queued', 'retrying') AND next_attempt_at <= {now}",
                "next_attempt_at",
            )
            .await?,
        );
    }
    Ok(claimed)
}

/// One claim statement: `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING *` (on PostgreSQL
/// the sub-select is a materialised CTE `FOR UPDATE SKIP LOCKED`). `due` must match a partial
/// index's predicate (see the migration) so the sub-select reads only waiting rows.
async fn claim_where(
    db: &Db,
    channel: Channel,
    holder: &str,
    limit: u32,
    lease: Duration,
    due: &str,
    order: &str,
) -> AppResult<Vec<message::Model>> {
    let now = Utc::now();
    let backend = db.backend();
    let pg = backend == DbBackend::Postgres;
    let ph = |n: usize| if pg { format!("${n}") } else { format!("?{n}") };
    let set = format!(
        "status = 'sending', lease_until = {lease_at}, leased_by = {who}, \
         attempts = attempts + 1, updated_at = {now}",
        lease_at = ph(1),
        who = ph(2),
        now = ph(3),
    );
    let pick = format!(
        "SELECT id FROM messages WHERE channel = {ch} AND {due} ORDER BY {order} LIMIT {lim}",
        ch = ph(4),
        lim = ph(5),
        due = due.replace("{now}", &ph(3)),
    );
    // On PostgreSQL the pick runs once, in a materialised CTE: as `id IN (SELECT … LIMIT n
    // FOR UPDATE SKIP LOCKED)` the sub-select could be evaluated again while the statement
    // ran (with other workers claiming and recording), each time skipping the rows it had just
    // locked itself and taking n more — two instances saw claims of 17 × n.
    let sql = if pg {
        format!(
            "WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) \
             UPDATE messages SET {set} FROM picked WHERE messages.id = picked.id \
             RETURNING messages.*"
        )
    } else {
        format!("UPDATE messages SET {set} WHERE id IN ({pick}) RETURNING *")
    };
    let values: Vec<Value> = vec![
        (now + lease).into(),
        holder.into(),
        now.into(),
        channel.code().into(),
        i64::from(limit).into(),
    ];
    let rows = db
        .conn
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|r| message::Model::from_query_result(r, "").map_err(Into::into))
        .collect()
}

/// What happened to one claimed message.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        provider_id: Option<i64>,
        accepted: Accepted,
        /// Counted ahead against the provider's daily quota ([`reserve`]); sends through a
        /// provider without a quota are counted when recorded.
        reserved: bool,
        /// The content, when it was written at send time (it is stored with the send).
        content: Option<String>,
    },
    /// Not sent and never will be: there is nothing left to say (every child it was about is
    /// insured now).
    Cancel {
        reason: &'static str,
    },
    Retry {
        failure: Failure,
        at: DateTime<Utc>,
    },
    Dead {
        failure: Failure,
        /// The next channel's message, queued in the same transaction that records this one
        /// dead (so neither is ever recorded without the other).
        fallback: Option<Box<NewMessage>>,
    },
    /// Consent was withdrawn (or the guardian erased) after the message was queued.
    Suppressed,
    /// Not now (quiet hours, a provider's daily quota): back to the queue, attempt not counted.
    Defer {
        until: DateTime<Utc>,
        reason: &'static str,
    },
    /// Not sent by this claim (its lease is running out, or the worker is stopping): back to
    /// the queue, due at once, attempt not counted. If another worker has taken the message
    /// over meanwhile, nothing changes.
    Release {
        reason: &'static str,
    },
}

/// Records the outcomes of a batch in one transaction. Each update checks the claim is still
/// held by `holder`, the claim's token (a compare-and-set): if the lease ran out and another
/// claim took the message, that claim's outcome counts. Sends not `reserved` (through a provider
/// without a daily quota) are added to the provider's usage of the day; reserved ones were
/// counted by [`reserve`] already.
pub async fn record(
    db: &Db,
    holder: &str,
    outcomes: Vec<(message::Model, Outcome)>,
    tz: chrono_tz::Tz,
) -> AppResult<Vec<(message::Model, Outcome)>> {
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let mut events = Vec::new();
    let mut usage_by_provider: HashMap<i64, i64> = HashMap::new();
    let mut recorded = Vec::new();
    // Sends, the bulk of every batch, are recorded by one statement per chunk.
    let (sent, others): (Vec<_>, Vec<_>) = outcomes
        .into_iter()
        .partition(|(_, o)| matches!(o, Outcome::Sent { .. }));
    for chunk in sent.chunks(500) {
        let ids = record_sent(&*tx, holder, chunk, now).await?;
        for (m, outcome) in chunk {
            if !ids.contains(&m.id) {
                continue;
            }
            if let Outcome::Sent {
                provider_id: Some(p),
                reserved: false,
                ..
            } = outcome
            {
                *usage_by_provider.entry(*p).or_default() += 1;
            }
            events.push((m.id, EventKind::Sent, Some(json!({"attempt": m.attempts}))));
            recorded.push((m.clone(), outcome.clone()));
        }
    }
    for (m, outcome) in others {
        let mine = message::Column::Id
            .eq(m.id)
            .and(message::Column::Status.eq(Status::Sending.code()))
            .and(message::Column::LeasedBy.eq(holder));
        let mut q = message::Entity::update_many()
            .col_expr(
                message::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                message::Column::LeasedBy,
                Expr::value(Option::<String>::None),
            )
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .filter(mine);
        let (kind, detail) = match &outcome {
            Outcome::Sent {
                provider_id,
                accepted,
                reserved,
                content,
            } => {
                if let Some(c) = content {
                    q = q.col_expr(message::Column::Content, Expr::value(Some(c.clone())));
                }
                q = q
                    .col_expr(message::Column::Status, Expr::value(Status::Sent.code()))
                    .col_expr(message::Column::SentAt, Expr::value(Some(now)))
                    .col_expr(message::Column::ProviderId, Expr::value(*provider_id))
                    .col_expr(
                        message::Column::ProviderMessageId,
                        Expr::value(
                            accepted
                                .provider_message_id
                                .as_deref()
                                .map(|id| super::model::clip(id, 200)),
                        ),
                    )
                    .col_expr(
                        message::Column::ErrorClass,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        message::Column::LastError,
                        Expr::value(Option::<String>::None),
                    );
                if let (Some(p), false) = (provider_id, reserved) {
                    *usage_by_provider.entry(*p).or_default() += 1;
                }
                (EventKind::Sent, json!({"attempt": m.attempts}))
            }
            Outcome::Retry { failure, at } => {
                q = q
                    .col_expr(
                        message::Column::Status,
                        Expr::value(Status::Retrying.code()),
                    )
                    .col_expr(message::Column::NextAttemptAt, Expr::value(*at))
                    .col_expr(
                        message::Column::ErrorClass,
                        Expr::value(failure.class.code()),
                    )
                    .col_expr(
                        message::Column::LastError,
                        Expr::value(failure.detail.clone()),
                    );
                (
                    EventKind::Retry,
                    json!({"attempt": m.attempts, "class": failure.class.code(), "detail": failure.detail, "next": at}),
                )
            }
            Outcome::Dead { failure, .. } => {
                q = q
                    .col_expr(message::Column::Status, Expr::value(Status::Dead.code()))
                    .col_expr(
                        message::Column::ErrorClass,
                        Expr::value(failure.class.code()),
                    )
                    .col_expr(
                        message::Column::LastError,
                        Expr::value(failure.detail.clone()),
                    );
                (
                    EventKind::Dead,
                    json!({"attempt": m.attempts, "class": failure.class.code(), "detail": failure.detail}),
                )
            }
            Outcome::Cancel { reason } => {
                q = q.col_expr(
                    message::Column::Status,
                    Expr::value(Status::Cancelled.code()),
                );
                (EventKind::Cancelled, json!({"reason": reason}))
            }
            Outcome::Suppressed => {
                q = q.col_expr(
                    message::Column::Status,
                    Expr::value(Status::Suppressed.code()),
                );
                (EventKind::Suppressed, json!({"reason": "no consent"}))
            }
            Outcome::Defer { until, .. } => {
                q = q
                    .col_expr(
                        message::Column::Status,
                        Expr::value(if m.attempts > 1 {
                            Status::Retrying.code()
                        } else {
                            Status::Queued.code()
                        }),
                    )
                    .col_expr(message::Column::NextAttemptAt, Expr::value(*until))
                    .col_expr(
                        message::Column::Attempts,
                        Expr::col(message::Column::Attempts).sub(1),
                    );
                (EventKind::Queued, serde_json::Value::Null)
            }
            Outcome::Release { .. } => {
                q = q
                    .col_expr(
                        message::Column::Status,
                        Expr::value(if m.attempts > 1 {
                            Status::Retrying.code()
                        } else {
                            Status::Queued.code()
                        }),
                    )
                    .col_expr(
                        message::Column::Attempts,
                        Expr::col(message::Column::Attempts).sub(1),
                    );
                (EventKind::Queued, serde_json::Value::Null)
            }
        };
        let res = q.exec(&*tx).await?;
        if res.rows_affected == 1 {
            // A deferral or a release is not an event of its own: the message simply waits.
            if !matches!(outcome, Outcome::Defer { .. } | Outcome::Release { .. }) {
                events.push((m.id, kind, Some(detail)));
            }
            if let Outcome::Dead {
                fallback: Some(next),
                ..
            } = &outcome
            {
                let to = next.channel.code();
                if let Some(new_id) = enqueue(&*tx, vec![(**next).clone()]).await?.first() {
                    events.push((
                        m.id,
                        EventKind::Fallback,
                        Some(json!({"to": to, "message_id": new_id})),
                    ));
                }
            }
            recorded.push((m, outcome));
        }
    }
    insert_events(&*tx, &events, now).await?;
    let today = local_day(tz);
    for (provider_id, n) in usage_by_provider {
        usage::Entity::insert(usage::ActiveModel {
            provider_id: Set(provider_id),
            day: Set(today),
            sent: Set(n),
        })
        .on_conflict(
            OnConflict::columns([usage::Column::ProviderId, usage::Column::Day])
                .value(
                    usage::Column::Sent,
                    Expr::col((usage::Entity, usage::Column::Sent)).add(n),
                )
                .to_owned(),
        )
        .exec(&*tx)
        .await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Marks sent, in one statement, those of `chunk` the claim `holder` still holds; returns their
/// ids. The batch's values travel as one JSON parameter
/// (`WITH v AS MATERIALIZED (SELECT … FROM <json rows>) UPDATE … FROM v`, the same on PostgreSQL
/// and SQLite; materialised, so that SQLite reads the rows first and finds each message by its
/// id, rather than reading every message being sent and scanning the rows for each).
async fn record_sent<C: ConnectionTrait>(
    conn: &C,
    holder: &str,
    chunk: &[(message::Model, Outcome)],
    now: DateTime<Utc>,
) -> AppResult<std::collections::HashSet<i64>> {
    let backend = conn.get_database_backend();
    let rows: Vec<serde_json::Value> = chunk
        .iter()
        .filter_map(|(m, outcome)| match outcome {
            Outcome::Sent {
                provider_id,
                accepted,
                content,
                ..
            } => Some(json!({
                "id": m.id,
                "provider_id": provider_id,
                "provider_message_id": accepted
                    .provider_message_id
                    .as_deref()
                    .map(|id| super::model::clip(id, 200)),
                "content": content,
            })),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(Default::default());
    }
    let mut p = Params::new(backend);
    let v = p.bind_rows(
        &serde_json::Value::Array(rows),
        &[
            ("id", "BIGINT"),
            ("provider_id", "BIGINT"),
            ("provider_message_id", "TEXT"),
            ("content", "TEXT"),
        ],
    );
    let at = p.bind(now);
    let who = p.bind(holder);
    let sql = format!(
        "WITH v AS MATERIALIZED ({v}) \
         UPDATE messages SET status = 'sent', sent_at = {at}, updated_at = {at}, \
           lease_until = NULL, leased_by = NULL, error_class = NULL, last_error = NULL, \
           provider_id = v.provider_id, provider_message_id = v.provider_message_id, \
           content = COALESCE(v.content, messages.content) \
         FROM v WHERE messages.id = v.id AND messages.status = 'sending' \
           AND messages.leased_by = {who} \
         RETURNING messages.id"
    );
    let done = conn.query_all(p.statement(sql)).await?;
    done.iter()
        .map(|r| r.try_get_by_index::<i64>(0).map_err(Into::into))
        .collect()
}

/// Inserts events of one time `at` with one statement (the rows travel as one JSON parameter).
pub async fn insert_events<C: ConnectionTrait>(
    conn: &C,
    events: &[(i64, EventKind, Option<serde_json::Value>)],
    at: DateTime<Utc>,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Numbered, so that events of one time keep their order (a timeline sorts them by id).
    let rows: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(n, (id, kind, detail))| {
            json!({
                "n": n,
                "message_id": id,
                "kind": kind.code(),
                "detail": detail.as_ref().map(|d| d.to_string()),
            })
        })
        .collect();
    let mut p = Params::new(conn.get_database_backend());
    let v = p.bind_rows(
        &serde_json::Value::Array(rows),
        &[
            ("n", "BIGINT"),
            ("message_id", "BIGINT"),
            ("kind", "TEXT"),
            ("detail", "TEXT"),
        ],
    );
    let at = p.bind(at);
    let sql = format!(
        "INSERT INTO message_events (message_id, kind, at, detail) \
         SELECT v.message_id, v.kind, {at}, v.detail FROM ({v}) AS v ORDER BY v.n"
    );
    conn.execute(p.statement(sql)).await?;
    Ok(())
}

/// Gives a worker's unfinished claims back to the queue (on shutdown), without counting the
/// attempt: those held by `worker` itself or by any of its claim tokens (`<worker>#<n>`).
pub async fn release(db: &Db, worker: &str) -> AppResult<u64> {
    let prefix = format!("{worker}#");
    let mine = sea_orm::Condition::any()
        .add(message::Column::LeasedBy.eq(worker))
        .add(
            // A number, not input: nothing to bind.
            Expr::cust(format!("SUBSTR(leased_by, 1, {})", prefix.chars().count())).eq(prefix),
        );
    let res = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(Status::Queued.code()))
        .col_expr(
            message::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            message::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            message::Column::Attempts,
            Expr::col(message::Column::Attempts).sub(1),
        )
        .filter(message::Column::Status.eq(Status::Sending.code()))
        .filter(mine)
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// The day in the platform's time zone: quotas reset at local midnight.
pub fn local_day(tz: chrono_tz::Tz) -> chrono::NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Takes up to `want` of what is left today (local day) of a provider's daily `quota`, counting
/// it as sent at once; returns the day it was taken from and how many were granted (0 when the
/// quota is used up). Workers sharing a provider cannot together take more than the quota:
///
/// - usually one statement, a conditional update that takes all of `want` if it fits
///   (`UPDATE … SET sent = sent + k WHERE … AND sent + k <= quota`, atomic on both databases);
/// - otherwise (no row yet today, or less than `want` left) a short transaction that creates the
///   day's row if missing, locks it (`FOR UPDATE` on PostgreSQL; on SQLite the transaction holds
///   the write lock), and takes what is left.
///
/// What was granted but not sent must be given back with [`give_back`].
pub async fn reserve(
    db: &Db,
    provider_id: i64,
    quota: i64,
    want: i64,
    tz: chrono_tz::Tz,
) -> AppResult<(chrono::NaiveDate, i64)> {
    let day = local_day(tz);
    if want <= 0 {
        return Ok((day, 0));
    }
    let this_row = usage::Column::ProviderId
        .eq(provider_id)
        .and(usage::Column::Day.eq(day));
    let all = usage::Entity::update_many()
        .col_expr(
            usage::Column::Sent,
            Expr::col(usage::Column::Sent).add(want),
        )
        .filter(this_row.clone())
        .filter(Expr::col(usage::Column::Sent).add(want).lte(quota))
        .exec(&db.conn)
        .await?;
    if all.rows_affected == 1 {
        return Ok((day, want));
    }
    let tx = db.begin_write().await?;
    usage::Entity::insert(usage::ActiveModel {
        provider_id: Set(provider_id),
        day: Set(day),
        sent: Set(0),
    })
    .on_conflict(
        OnConflict::columns([usage::Column::ProviderId, usage::Column::Day])
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(&*tx)
    .await?;
    let mut current = usage::Entity::find().filter(this_row.clone());
    if db.backend() == DbBackend::Postgres {
        current = current.lock_exclusive();
    }
    let sent = current.one(&*tx).await?.map(|u| u.sent).unwrap_or(0);
    let granted = want.min(quota - sent).max(0);
    if granted > 0 {
        usage::Entity::update_many()
            .col_expr(
                usage::Column::Sent,
                Expr::col(usage::Column::Sent).add(granted),
            )
            .filter(this_row)
            .exec(&*tx)
            .await?;
    }
    tx.commit().await?;
    Ok((day, granted))
}

/// Gives back `n` of what [`reserve`] granted for `day` and was not sent (the send was not
/// started, or failed).
pub async fn give_back(db: &Db, provider_id: i64, day: chrono::NaiveDate, n: i64) -> AppResult<()> {
    if n <= 0 {
        return Ok(());
    }
    usage::Entity::update_many()
        .col_expr(
            usage::Column::Sent,
            Expr::case(
                Expr::col(usage::Column::Sent).gt(n),
                Expr::col(usage::Column::Sent).sub(n),
            )
            .finally(0i64)
            .into(),
        )
        .filter(usage::Column::ProviderId.eq(provider_id))
        .filter(usage::Column::Day.eq(day))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Messages sent today (local day) by a provider, for its daily quota. For a provider with a
/// quota this includes sends under way (taken by [`reserve`], not yet given back).
pub async fn sent_today(db: &Db, provider_id: i64, tz: chrono_tz::Tz) -> AppResult<i64> {
    Ok(usage::Entity::find_by_id((provider_id, local_day(tz)))
        .one(&db.conn)
        .await?
        .map(|u| u.sent)
        .unwrap_or(0))
}

/// Cancels messages not yet sent (queued or retrying) that match `filter`; returns how many.
pub async fn cancel_where<C: ConnectionTrait>(
    conn: &C,
    filter: sea_orm::Condition,
    reason: &str,
) -> AppResult<Vec<i64>> {
    let now = Utc::now();
    let ids: Vec<i64> = message::Entity::find()
        .filter(filter)
        .filter(message::Column::Status.is_in([Status::Queued.code(), Status::Retrying.code()]))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    for chunk in ids.chunks(500) {
        message::Entity::update_many()
            .col_expr(
                message::Column::Status,
                Expr::value(Status::Cancelled.code()),
            )
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .filter(message::Column::Id.is_in(chunk.to_vec()))
            .filter(message::Column::Status.is_in([Status::Queued.code(), Status::Retrying.code()]))
            .exec(conn)
            .await?;
        let events: Vec<_> = chunk
            .iter()
            .map(|id| {
                event_model(
                    *id,
                    EventKind::Cancelled,
                    Some(json!({"reason": reason})),
                    now,
                )
            })
            .collect();
        event::Entity::insert_many(events).exec(conn).await?;
    }
    Ok(ids)
}

/// Sends the dead messages matching `filter` again, from the first attempt ("retry failures").
/// A message whose fallback on another channel was queued is left dead: the parent was (or is
/// being) reached there.
pub async fn requeue_dead<C: ConnectionTrait>(
    conn: &C,
    filter: sea_orm::Condition,
) -> AppResult<u64> {
    let now = Utc::now();
    let res = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value(Status::Queued.code()))
        .col_expr(message::Column::Attempts, Expr::value(0))
        .col_expr(message::Column::NextAttemptAt, Expr::value(now))
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(filter)
        .filter(message::Column::Status.eq(Status::Dead.code()))
        .filter(Expr::cust(
            "NOT EXISTS (SELECT 1 FROM messages f WHERE f.fallback_of = messages.id)",
        ))
        .filter(message::Column::ContentPurgedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Erases the content and address of messages older than the retention period; statuses,
/// events and counts stay.
pub async fn purge_content(db: &Db, retention_days: u32) -> AppResult<u64> {
    let cutoff = Utc::now() - Duration::days(retention_days.into());
    let res = message::Entity::update_many()
        .col_expr(
            message::Column::Content,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            message::Column::Recipient,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            message::Column::ContentPurgedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(message::Column::CreatedAt.lt(cutoff))
        .filter(message::Column::ContentPurgedAt.is_null())
        .filter(message::Column::Status.is_not_in([
            Status::Queued.code(),
            Status::Retrying.code(),
            Status::Sending.code(),
        ]))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// An unsubscribe, as an event of the latest message the guardian received on the link's
/// channel (the one it most likely came from), so funnels can count it.
pub async fn note_unsubscribe<C: ConnectionTrait>(
    conn: &C,
    guardian_id: i64,
    channel: Channel,
    withdrawn: &[Channel],
) -> AppResult<()> {
    use sea_orm::QueryOrder;
    let latest = message::Entity::find()
        .filter(message::Column::GuardianId.eq(guardian_id))
        .filter(message::Column::Channel.eq(channel.code()))
        .filter(message::Column::Status.is_in([
            Status::Sent.code(),
            Status::Delivered.code(),
            Status::Read.code(),
        ]))
        .order_by_desc(message::Column::Id)
        .one(conn)
        .await?;
    if let Some(m) = latest {
        event::Entity::insert(event_model(
            m.id,
            EventKind::Unsubscribed,
            Some(json!({"channels": withdrawn.iter().map(|c| c.code()).collect::<Vec<_>>()})),
            Utc::now(),
        ))
        .exec(conn)
        .await?;
    }
    Ok(())
}
