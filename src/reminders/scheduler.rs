//! The scheduler: each tick it materialises due waves, fires due reminder rules and closes
//! waves whose messages all have an outcome. Any number of schedulers may run against one
//! database:
//!
//! - a rule's occurrence is taken by a compare-and-set on the rule's `next_run_at` (only one
//!   scheduler moves it from the value it read) and by the occurrence's unique
//!   (rule, due time) key;
//! - waves and occurrences are materialised under a lease; a scheduler that dies leaves a lease
//!   that runs out, and another one resumes after the last slice committed.
//!
//! After downtime only the latest missed occurrence of a rule runs (its note says how many were
//! missed): parents get one reminder, not a burst.
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::watch;

use sea_orm::Condition;
use serde_json::json;

use super::entity::{occurrence, rule};
use super::materialise::{self, Progress, Run};
use super::rules::{job_for, schedule_of};
use super::waves;
use crate::audit;
use crate::auth::actor::Actor;
use crate::campaigns::entity::campaign;
use crate::campaigns::kinds::CampaignStatus;
use crate::config::Settings;
use crate::db::{Db, Params};
use crate::delivery::entity::message;
use crate::delivery::outbox::{self, source};
use crate::error::AppResult;

/// Who the audit log names for what the scheduler changes by itself.
pub fn system_actor() -> Actor {
    Actor {
        label: "scheduler".into(),
        display_name: "scheduler".into(),
        ..Actor::cli()
    }
}

pub struct Scheduler {
    pub id: String,
    db: Db,
    settings: Arc<Settings>,
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tick {
    pub waves: u32,
    /// Occurrences this scheduler ran (fresh or resumed).
    pub occurrences: u32,
    /// Messages those queued.
    pub queued: u64,
    pub rules_stopped: u32,
    pub waves_closed: u64,
}

/// An occurrence's note: `missed:<n>` earlier fire times were passed over while no scheduler
/// ran; the campaign was not active.
pub const NOTE_MISSED: &str = "missed:";
pub const NOTE_NOT_ACTIVE: &str = "campaign-not-active";

pub mod occurrence_status {
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const SKIPPED: &str = "skipped";
}

impl Scheduler {
    pub fn new(db: Db, settings: Arc<Settings>) -> Arc<Self> {
        Arc::new(Self {
            id: format!("scheduler-{}", uuid::Uuid::new_v4().simple()),
            db,
            settings,
        })
    }

    fn lease(&self) -> Duration {
        Duration::seconds(i64::from(self.settings.worker_lease_secs.max(60)))
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = StdDuration::from_secs(self.settings.scheduler_tick_secs.max(1).into());
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.tick(Utc::now()).await {
                Ok(t) if t != Tick::default() => tracing::info!(?t, "scheduler tick"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One round at time `now`.
    pub async fn tick(&self, now: DateTime<Utc>) -> AppResult<Tick> {
        let mut t = Tick::default();
        while t.waves < 20 && waves::run_due(&self.db, &self.settings, &self.id, now).await? {
            t.waves += 1;
        }
        self.resume_occurrences(now, &mut t).await?;
        let due = rule::Entity::find()
            .filter(rule::Column::Active.eq(true))
            .filter(rule::Column::NextRunAt.lte(now))
            .order_by_asc(rule::Column::NextRunAt)
            .all(&self.db.conn)
            .await?;
        for r in due {
            self.fire(r, now, &mut t).await?;
        }
        t.waves_closed = waves::close_finished(&self.db, now).await?;
        Ok(t)
    }

    /// Fires one due rule: moves its next fire time past `now` (compare-and-set), then runs
    /// the latest fire time it passed, once.
    async fn fire(&self, r: rule::Model, now: DateTime<Utc>, t: &mut Tick) -> AppResult<()> {
        let Some(was) = r.next_run_at else {
            return Ok(());
        };
        let tz = self.settings.timezone;
        let Some(campaign) = campaign::Entity::find_by_id(r.campaign_id)
            .one(&self.db.conn)
            .await?
        else {
            return Ok(());
        };
        let today = now.with_timezone(&tz).date_naive();
        let ended = campaign.status == CampaignStatus::Completed.code()
            || campaign.status == CampaignStatus::Archived.code()
            || campaign.ends_on < today;
        if ended {
            // The rule stops, and its reminders still waiting (quiet hours, retries) go too.
            let tx = self.db.begin_write().await?;
            let res = rule::Entity::update_many()
                .col_expr(rule::Column::Active, Expr::value(false))
                .col_expr(
                    rule::Column::NextRunAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(rule::Column::UpdatedAt, Expr::value(now))
                .filter(rule::Column::Id.eq(r.id))
                .filter(rule::Column::NextRunAt.eq(was))
                .exec(&*tx)
                .await?;
            if res.rows_affected == 1 {
                let cancelled = outbox::cancel_where(
                    &*tx,
                    Condition::all()
                        .add(message::Column::SourceKind.eq(source::RULE))
                        .add(message::Column::SourceId.eq(r.id)),
                    "campaign ended",
                )
                .await?;
                audit::record(
                    &*tx,
                    &system_actor(),
                    "rule.stopped",
                    "reminder_rule",
                    Some(r.id.to_string()),
                    json!({"reason": "campaign ended", "campaign_id": campaign.id, "messages_cancelled": cancelled.len()}),
                )
                .await?;
                t.rules_stopped += 1;
                tracing::info!(rule = r.id, "reminder rule stopped: its campaign has ended");
            }
            tx.commit().await?;
            return Ok(());
        }
        let schedule = schedule_of(&self.db.conn, &r, &campaign).await?;
        let (due, seen) = match &schedule {
            Some(s) => s
                .latest_between(was, now, tz)
                .map_or((None, 0), |(d, n)| (Some(d), n)),
            None => (None, 0),
        };
        let next = schedule.as_ref().and_then(|s| s.next_after(now, tz));
        let paused = campaign.status != CampaignStatus::Active.code();
        // Notes are codes the pages translate.
        let note = if paused {
            Some(NOTE_NOT_ACTIVE.to_string())
        } else if seen > 1 {
            Some(format!("{NOTE_MISSED}{}", seen - 1))
        } else {
            None
        };
        // A deadline rule's missed fire times served other schools than the latest one: the
        // occurrence that runs serves every deadline they served that has not passed.
        let dates = schedule
            .as_ref()
            .and_then(|s| s.deadlines_between(was, now, now.with_timezone(&tz).date_naive(), tz));
        // Moving the next fire time (compare-and-set) and opening the occurrence are one
        // transaction: a crash between them cannot lose the occurrence.
        let tx = self.db.begin_write().await?;
        let moved = rule::Entity::update_many()
            .col_expr(rule::Column::NextRunAt, Expr::value(next))
            .col_expr(rule::Column::LastRunAt, Expr::value(due.or(r.last_run_at)))
            .filter(rule::Column::Id.eq(r.id))
            .filter(rule::Column::Active.eq(true))
            .filter(rule::Column::NextRunAt.eq(was))
            .exec(&*tx)
            .await?;
        if moved.rows_affected != 1 {
            // Another scheduler took this occurrence.
            return Ok(());
        }
        let Some(due) = due else {
            tx.commit().await?;
            return Ok(());
        };
        let occ = self
            .open_occurrence(&*tx, r.id, due, now, paused, note, dates.as_deref())
            .await?;
        tx.commit().await?;
        let Some(occ) = occ else {
            return Ok(());
        };
        if paused {
            return Ok(());
        }
        let job = job_for(
            &self.db.conn,
            &r,
            campaign,
            &self.settings,
            due,
            Some(occ),
            dates,
        )
        .await?;
        self.materialise(&job, occ, None, t).await
    }

    /// Inserts the occurrence, held by this scheduler (or skipped); None when it exists.
    #[allow(clippy::too_many_arguments)]
    async fn open_occurrence<C: ConnectionTrait>(
        &self,
        conn: &C,
        rule_id: i64,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
        skipped: bool,
        note: Option<String>,
        dates: Option<&[chrono::NaiveDate]>,
    ) -> AppResult<Option<i64>> {
        let mut p = Params::new(conn.get_database_backend());
        let sql = format!(
            "INSERT INTO rule_occurrences (rule_id, due_at, status, queued, leased_by, lease_until, \
               note, deadlines, started_at, finished_at) \
             VALUES ({rule}, {due}, {status}, 0, {holder}, {until}, {note}, {dates}, {now}, {fin}) \
             ON CONFLICT (rule_id, due_at) DO NOTHING",
            dates = p.bind(dates.map(|d| {
                d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
            })),
            rule = p.bind(rule_id),
            due = p.bind(due),
            status = p.bind(if skipped {
                occurrence_status::SKIPPED
            } else {
                occurrence_status::RUNNING
            }),
            holder = p.bind((!skipped).then(|| self.id.clone())),
            until = p.bind((!skipped).then(|| now + self.lease())),
            note = p.bind(note),
            now = p.bind(now),
            fin = p.bind(skipped.then_some(now)),
        );
        if conn.execute(p.statement(sql)).await?.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(occurrence::Entity::find()
            .filter(occurrence::Column::RuleId.eq(rule_id))
            .filter(occurrence::Column::DueAt.eq(due))
            .one(conn)
            .await?
            .map(|o| o.id))
    }

    async fn materialise(
        &self,
        job: &materialise::Job,
        occ: i64,
        done_through: Option<i64>,
        t: &mut Tick,
    ) -> AppResult<()> {
        let run = materialise::run(
            &self.db,
            job,
            Progress::Occurrence(occ),
            &self.id,
            done_through,
            i64::from(self.settings.materialise_batch),
            self.lease(),
        )
        .await?;
        t.occurrences += 1;
        match run {
            Run::Finished(n) => {
                t.queued += n;
                occurrence::Entity::update_many()
                    .col_expr(
                        occurrence::Column::Status,
                        Expr::value(occurrence_status::DONE),
                    )
                    .col_expr(
                        occurrence::Column::LeasedBy,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        occurrence::Column::LeaseUntil,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .col_expr(
                        occurrence::Column::FinishedAt,
                        Expr::value(Some(Utc::now())),
                    )
                    .filter(occurrence::Column::Id.eq(occ))
                    .filter(occurrence::Column::LeasedBy.eq(self.id.clone()))
                    .exec(&self.db.conn)
                    .await?;
            }
            Run::Lost(n) => {
                t.queued += n;
                tracing::info!(
                    occurrence = occ,
                    "occurrence taken over by another scheduler"
                );
            }
        }
        Ok(())
    }

    /// Occurrences whose scheduler died half-way: taken over (compare-and-set on the lease)
    /// and resumed after their last committed slice.
    async fn resume_occurrences(&self, now: DateTime<Utc>, t: &mut Tick) -> AppResult<()> {
        let stuck = occurrence::Entity::find()
            .filter(occurrence::Column::Status.eq(occurrence_status::RUNNING))
            .filter(occurrence::Column::LeaseUntil.lt(now))
            .all(&self.db.conn)
            .await?;
        for o in stuck {
            let taken = occurrence::Entity::update_many()
                .col_expr(
                    occurrence::Column::LeasedBy,
                    Expr::value(Some(self.id.clone())),
                )
                .col_expr(
                    occurrence::Column::LeaseUntil,
                    Expr::value(Some(now + self.lease())),
                )
                .filter(occurrence::Column::Id.eq(o.id))
                .filter(occurrence::Column::Status.eq(occurrence_status::RUNNING))
                .filter(match &o.lease_until {
                    Some(l) => occurrence::Column::LeaseUntil.eq(*l),
                    None => occurrence::Column::LeaseUntil.is_null(),
                })
                .exec(&self.db.conn)
                .await?;
            if taken.rows_affected != 1 {
                continue;
            }
            let Some(r) = rule::Entity::find_by_id(o.rule_id)
                .one(&self.db.conn)
                .await?
            else {
                continue;
            };
            let Some(campaign) = campaign::Entity::find_by_id(r.campaign_id)
                .one(&self.db.conn)
                .await?
            else {
                continue;
            };
            if !r.active || campaign.status != CampaignStatus::Active.code() {
                // Turned off, or its campaign paused or ended, since: the rest is not written.
                occurrence::Entity::update_many()
                    .col_expr(
                        occurrence::Column::Status,
                        Expr::value(occurrence_status::SKIPPED),
                    )
                    .col_expr(
                        occurrence::Column::LeasedBy,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(occurrence::Column::FinishedAt, Expr::value(Some(now)))
                    .filter(occurrence::Column::Id.eq(o.id))
                    .exec(&self.db.conn)
                    .await?;
                continue;
            }
            let dates = o.deadlines.as_deref().map(|d| {
                d.split(',')
                    .filter_map(|x| x.trim().parse::<chrono::NaiveDate>().ok())
                    .collect::<Vec<_>>()
            });
            let job = job_for(
                &self.db.conn,
                &r,
                campaign,
                &self.settings,
                o.due_at,
                Some(o.id),
                dates,
            )
            .await?;
            self.materialise(&job, o.id, o.done_through, t).await?;
        }
        Ok(())
    }
}
