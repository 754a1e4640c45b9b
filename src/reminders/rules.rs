//! Reminder rules: "every Monday at 8:00 until the deadline" (cron, in Vietnam time) or "7, 3
//! and 1 days before each school's HI collection deadline, at 19:00". A rule belongs to a
//! campaign and stops with it; it reminds only the parents its audience picks (uninsured
//! children by default), at most `max_per_guardian` times, within the global frequency cap.
//! An optional thank-you template is sent when a child it reminded about gets insured.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audience::{self, Spec};
use super::entity::{occurrence, rule, school_deadline};
use super::materialise::{DeadlineFilter, Job};
use super::schedule::{self, Schedule};
use super::steps::{self, Step, StepDraft};
use super::waves::{estimate, open_campaign, own_audience, Estimate};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::campaigns::entity::campaign;
use crate::campaigns::service::require_planner;
use crate::config::Settings;
use crate::db::Db;
use crate::delivery::compose::Composer;
use crate::delivery::outbox::source;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::required_text;
use crate::school_year;

pub const CRON: &str = "cron";
pub const DEADLINE: &str = "deadline";

/// A rule as a form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RuleDraft {
    pub name: String,
    pub campaign_id: Option<i64>,
    pub audience_id: Option<i64>,
    /// The channels in fallback order.
    pub steps: Vec<StepDraft>,
    /// `cron` or `deadline`.
    pub schedule_kind: String,
    /// For `cron`: `minute hour day month weekday` in Vietnam time (0 or 7 = Sunday), e.g.
    /// `0 8 * * 1` for Mondays at 08:00.
    pub cron: String,
    /// For `deadline`: days relative to each school's HI collection deadline, negative before
    /// it, e.g. `-7,-3,-1`.
    pub offsets: String,
    /// For `deadline`: the time of day, `HH:MM` in Vietnam time.
    pub at_time: String,
    /// At most this many reminders of this rule per parent (empty: no limit).
    pub max_per_guardian: Option<i32>,
    /// A template sent once to a parent when a child this rule reminded them about is insured.
    pub thank_you_template_id: Option<i64>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    pub id: i64,
    pub name: String,
    pub campaign_id: i64,
    pub campaign: String,
    pub audience_id: i64,
    pub audience: String,
    pub steps: Vec<Step>,
    pub schedule_kind: String,
    pub cron: Option<String>,
    pub offsets: Option<String>,
    pub at_time: Option<String>,
    pub max_per_guardian: Option<i32>,
    pub thank_you: Option<Step>,
    pub active: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    /// The next five fire times.
    pub upcoming: Vec<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OccurrenceView {
    pub id: i64,
    pub due_at: DateTime<Utc>,
    /// running, done, skipped, failed.
    pub status: String,
    pub queued: i64,
    /// Earlier fire times passed over while no scheduler ran (only this latest one ran).
    pub missed: Option<u64>,
    /// Skipped because the campaign was not active.
    pub campaign_not_active: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleDetail {
    pub rule: RuleView,
    pub occurrences: Vec<OccurrenceView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// The fire time this answers for (the next one; now when there is none).
    pub at: DateTime<Utc>,
    pub estimate: Estimate,
}

fn rule_scope(actor: &Actor) -> AppResult<Condition> {
    require_planner(actor)?;
    Ok(match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(rule::Column::ScopeProvinceId.eq(p)),
        Scope::Schools(_) => return Err(AppError::Forbidden),
    })
}

pub async fn visible<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<rule::Model> {
    rule::Entity::find_by_id(id)
        .filter(rule_scope(actor)?)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

/// The deadlines a year's schools have: the year's own and every school's own.
pub async fn deadlines_of_year<C: ConnectionTrait>(
    conn: &C,
    year: &school_year::entity::Model,
) -> AppResult<Vec<chrono::NaiveDate>> {
    let mut out: Vec<chrono::NaiveDate> = school_deadline::Entity::find()
        .select_only()
        .column(school_deadline::Column::Deadline)
        .distinct()
        .filter(school_deadline::Column::SchoolYearId.eq(year.id))
        .into_tuple()
        .all(conn)
        .await?;
    out.push(year.deadline);
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A rule's schedule, with the deadlines of its campaign's school year.
pub async fn schedule_of<C: ConnectionTrait>(
    conn: &C,
    r: &rule::Model,
    campaign: &campaign::Model,
) -> AppResult<Option<Schedule>> {
    Ok(match r.schedule_kind.as_str() {
        CRON => r
            .cron
            .as_deref()
            .and_then(|c| schedule::parse_cron(c).ok())
            .map(|s| Schedule::Cron(Box::new(s))),
        DEADLINE => {
            let Some(year) = school_year::entity::Entity::find_by_id(campaign.school_year_id)
                .one(conn)
                .await?
            else {
                return Ok(None);
            };
            let offsets = r
                .offsets
                .as_deref()
                .and_then(|o| schedule::parse_offsets(o).ok());
            match (offsets, r.at_minute) {
                (Some(offsets), Some(m)) => Some(Schedule::Deadline {
                    offsets,
                    at_minute: m.max(0) as u32,
                    deadlines: deadlines_of_year(conn, &year).await?,
                }),
                _ => None,
            }
        }
        _ => None,
    })
}

struct Checked {
    name: String,
    campaign: campaign::Model,
    audience: audience::entity::Model,
    steps: Vec<Step>,
    kind: &'static str,
    cron: Option<String>,
    offsets: Option<String>,
    at_minute: Option<i32>,
    max_per_guardian: Option<i32>,
    thank_you: Option<Step>,
}

async fn check<C: ConnectionTrait>(conn: &C, actor: &Actor, d: &RuleDraft) -> AppResult<Checked> {
    require_planner(actor)?;
    let mut errors = FieldErrors::new();
    let name = errors.take("name", required_text(&d.name, 200));
    let campaign = open_campaign(conn, actor, d.campaign_id, &mut errors).await?;
    let audience = own_audience(conn, actor, d.audience_id, &mut errors).await?;
    let steps = steps::validate(conn, &d.steps, &mut errors).await?;
    let (mut kind, mut cron, mut offsets, mut at_minute) = (CRON, None, None, None);
    match d.schedule_kind.trim() {
        CRON => {
            if errors.take("cron", schedule::parse_cron(&d.cron)).is_some() {
                cron = Some(d.cron.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        DEADLINE => {
            kind = DEADLINE;
            if let Some(o) = errors.take("offsets", schedule::parse_offsets(&d.offsets)) {
                offsets = Some(
                    o.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            at_minute = errors
                .take("at_time", schedule::parse_time_of_day(&d.at_time))
                .map(|m| m as i32);
        }
        _ => errors.add(
            "schedule_kind",
            Msg::new("error-one-of").arg("allowed", "cron, deadline"),
        ),
    }
    let max_per_guardian = match d.max_per_guardian {
        Some(k) if !(1..=100).contains(&k) => {
            errors.add(
                "max_per_guardian",
                Msg::new("error-range").arg("min", 1).arg("max", 100),
            );
            None
        }
        k => k,
    };
    let thank_you = match d.thank_you_template_id {
        Some(id) => {
            let mut local = FieldErrors::new();
            let s = steps::validate(
                conn,
                &[StepDraft {
                    template_id: Some(id),
                    template_en_id: None,
                }],
                &mut local,
            )
            .await?;
            if local.is_empty() {
                s.into_iter().next()
            } else {
                errors.add("thank_you_template_id", Msg::new("error-unknown-template"));
                None
            }
        }
        None => None,
    };
    errors.into_result()?;
    match (name, campaign, audience) {
        (Some(name), Some(campaign), Some(audience)) => Ok(Checked {
            name,
            campaign,
            audience,
            steps,
            kind,
            cron,
            offsets,
            at_minute,
            max_per_guardian,
            thank_you,
        }),
        _ => Err(AppError::Internal(anyhow::anyhow!(
            "checked rule incomplete"
        ))),
    }
}

async fn view<C: ConnectionTrait>(
    conn: &C,
    r: rule::Model,
    tz: chrono_tz::Tz,
) -> AppResult<RuleView> {
    let campaign = campaign::Entity::find_by_id(r.campaign_id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let audience = audience::entity::Entity::find_by_id(r.audience_id)
        .one(conn)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    let upcoming = match schedule_of(conn, &r, &campaign).await? {
        Some(s) => s.upcoming(Utc::now(), tz, 5),
        None => Vec::new(),
    };
    Ok(RuleView {
        id: r.id,
        name: r.name,
        campaign_id: r.campaign_id,
        campaign: campaign.name,
        audience_id: r.audience_id,
        audience,
        steps: steps::from_json(&r.steps),
        schedule_kind: r.schedule_kind,
        cron: r.cron,
        offsets: r.offsets,
        at_time: r
            .at_minute
            .map(|m| schedule::time_of_day_text(m.max(0) as u32)),
        max_per_guardian: r.max_per_guardian,
        thank_you: r
            .thank_you
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok()),
        active: r.active,
        next_run_at: r.next_run_at,
        last_run_at: r.last_run_at,
        upcoming,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Creates or changes a rule. Its next fire time is computed from now (an edit never fires
/// the occurrences it skipped over).
pub async fn save(
    db: &Db,
    actor: &Actor,
    settings: &Settings,
    id: Option<i64>,
    d: &RuleDraft,
) -> AppResult<RuleView> {
    let c = check(&db.conn, actor, d).await?;
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let existing = match id {
        Some(id) => Some(visible(&*tx, actor, id).await?),
        None => None,
    };
    let scope_province_id = match actor.scope() {
        Scope::Province(p) => Some(p),
        _ => None,
    };
    let mut m = match existing {
        Some(e) => e.into(),
        None => rule::ActiveModel {
            scope_province_id: Set(scope_province_id),
            created_by: Set(actor.user_id),
            created_at: Set(now),
            ..Default::default()
        },
    };
    m.name = Set(c.name.clone());
    m.campaign_id = Set(c.campaign.id);
    m.audience_id = Set(c.audience.id);
    m.steps = Set(steps::to_json(&c.steps));
    m.schedule_kind = Set(c.kind.to_string());
    m.cron = Set(c.cron.clone());
    m.offsets = Set(c.offsets.clone());
    m.at_minute = Set(c.at_minute);
    m.max_per_guardian = Set(c.max_per_guardian);
    m.thank_you = Set(c
        .thank_you
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_default()));
    m.active = Set(d.active);
    m.updated_at = Set(now);
    let saved = if id.is_some() {
        m.update(&*tx).await?
    } else {
        m.insert(&*tx).await?
    };
    let next = if saved.active {
        schedule_of(&*tx, &saved, &c.campaign)
            .await?
            .and_then(|s| s.next_after(now, settings.timezone))
    } else {
        None
    };
    rule::Entity::update_many()
        .col_expr(rule::Column::NextRunAt, Expr::value(next))
        .filter(rule::Column::Id.eq(saved.id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        if id.is_some() {
            "rule.updated"
        } else {
            "rule.created"
        },
        "reminder_rule",
        Some(saved.id.to_string()),
        json!({
            "name": c.name, "campaign_id": c.campaign.id, "audience_id": c.audience.id,
            "steps": c.steps, "schedule_kind": c.kind, "cron": c.cron, "offsets": c.offsets,
            "at_minute": c.at_minute, "max_per_guardian": c.max_per_guardian,
            "thank_you": c.thank_you, "active": d.active,
        }),
    )
    .await?;
    tx.commit().await?;
    let r = visible(&db.conn, actor, saved.id).await?;
    view(&db.conn, r, settings.timezone).await
}

/// Turns a rule on (from the next fire time after now) or off.
pub async fn set_active(
    db: &Db,
    actor: &Actor,
    settings: &Settings,
    id: i64,
    active: bool,
) -> AppResult<RuleView> {
    let r = visible(&db.conn, actor, id).await?;
    let campaign = campaign::Entity::find_by_id(r.campaign_id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    if active {
        crate::campaigns::service::accepts_plans(&campaign)?;
    }
    let now = Utc::now();
    let next = if active {
        schedule_of(&db.conn, &r, &campaign)
            .await?
            .and_then(|s| s.next_after(now, settings.timezone))
    } else {
        None
    };
    let tx = db.begin_write().await?;
    rule::Entity::update_many()
        .col_expr(rule::Column::Active, Expr::value(active))
        .col_expr(rule::Column::NextRunAt, Expr::value(next))
        .col_expr(rule::Column::UpdatedAt, Expr::value(now))
        .filter(rule::Column::Id.eq(id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        if active {
            "rule.activated"
        } else {
            "rule.paused"
        },
        "reminder_rule",
        Some(id.to_string()),
        json!({"next_run_at": next}),
    )
    .await?;
    tx.commit().await?;
    let r = visible(&db.conn, actor, id).await?;
    view(&db.conn, r, settings.timezone).await
}

pub async fn list(db: &Db, actor: &Actor, settings: &Settings) -> AppResult<Vec<RuleView>> {
    let mut out = Vec::new();
    for r in rule::Entity::find()
        .filter(rule_scope(actor)?)
        .order_by_desc(rule::Column::Id)
        .all(&db.conn)
        .await?
    {
        out.push(view(&db.conn, r, settings.timezone).await?);
    }
    Ok(out)
}

pub async fn get(db: &Db, actor: &Actor, settings: &Settings, id: i64) -> AppResult<RuleDetail> {
    let r = visible(&db.conn, actor, id).await?;
    let occurrences = occurrence::Entity::find()
        .filter(occurrence::Column::RuleId.eq(id))
        .order_by_desc(occurrence::Column::DueAt)
        .limit(50)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|o| OccurrenceView {
            id: o.id,
            due_at: o.due_at,
            status: o.status,
            queued: o.queued,
            missed: o
                .note
                .as_deref()
                .and_then(|n| n.strip_prefix(super::scheduler::NOTE_MISSED))
                .and_then(|n| n.parse().ok()),
            campaign_not_active: o.note.as_deref() == Some(super::scheduler::NOTE_NOT_ACTIVE),
            started_at: o.started_at,
            finished_at: o.finished_at,
        })
        .collect();
    Ok(RuleDetail {
        rule: view(&db.conn, r, settings.timezone).await?,
        occurrences,
    })
}

/// The materialisation job of one occurrence of a rule, due at `due_at`.
///
/// A deadline rule's occurrence serves the deadlines `dates` when given (the occurrence that
/// runs after downtime serves those of the fire times it stands for), else those of `due_at`.
pub async fn job_for<C: ConnectionTrait>(
    conn: &C,
    r: &rule::Model,
    campaign: campaign::Model,
    settings: &Settings,
    due_at: DateTime<Utc>,
    occurrence_id: Option<i64>,
    dates: Option<Vec<chrono::NaiveDate>>,
) -> AppResult<Job> {
    let audience = audience::entity::Entity::find_by_id(r.audience_id)
        .one(conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("rule {} has no audience", r.id))?;
    let deadlines = if r.schedule_kind == DEADLINE {
        let year = school_year::entity::Entity::find_by_id(campaign.school_year_id)
            .one(conn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("campaign {} has no school year", campaign.id))?;
        let offsets = r
            .offsets
            .as_deref()
            .and_then(|o| schedule::parse_offsets(o).ok())
            .unwrap_or_default();
        Some(DeadlineFilter {
            school_year_id: year.id,
            year_deadline: year.deadline,
            dates: dates.unwrap_or_else(|| {
                schedule::deadlines_for(
                    due_at,
                    &offsets,
                    r.at_minute.unwrap_or(0).max(0) as u32,
                    settings.timezone,
                )
            }),
        })
    } else {
        None
    };
    Ok(Job {
        source_kind: source::RULE,
        source_id: r.id,
        occurrence_id,
        key_prefix: format!("rule:{}:{}", r.id, due_at.timestamp()),
        campaign,
        scope_province_id: r.scope_province_id,
        spec: Spec::of(&audience),
        steps: steps::from_json(&r.steps),
        send_at: due_at,
        max_attempts: settings.max_attempts as i32,
        per_source_cap: r.max_per_guardian,
        deadlines,
        cap: settings.cap(),
        tz: settings.timezone,
    })
}

/// Who would get the rule's next reminder if it fired now, and what they would read.
pub async fn dry_run(
    db: &Db,
    actor: &Actor,
    composer: &Composer<'_>,
    settings: &Settings,
    id: i64,
) -> AppResult<DryRun> {
    let r = visible(&db.conn, actor, id).await?;
    let campaign = campaign::Entity::find_by_id(r.campaign_id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = Utc::now();
    let at = match schedule_of(&db.conn, &r, &campaign).await? {
        Some(s) if r.schedule_kind == DEADLINE => {
            s.next_after(now, settings.timezone).unwrap_or(now)
        }
        _ => now,
    };
    let job = job_for(&db.conn, &r, campaign, settings, at, None, None).await?;
    Ok(DryRun {
        at,
        estimate: estimate(db, actor, composer, settings, &job).await?,
    })
}

/// Sets (or clears, with None) a school's own HI collection deadline for a school year.
pub async fn set_school_deadline(
    db: &Db,
    actor: &Actor,
    school_id: i64,
    year_code: &str,
    deadline: Option<chrono::NaiveDate>,
) -> AppResult<()> {
    require_planner(actor)?;
    let school = crate::org::entity::school::Entity::find_by_id(school_id)
        .one(&db.conn)
        .await?
        .filter(|s| actor.sees_school(s.id, s.province_id))
        .ok_or(AppError::NotFound)?;
    let year = school_year::entity::Entity::find()
        .filter(school_year::entity::Column::Code.eq(year_code.trim()))
        .one(&db.conn)
        .await?
        .ok_or_else(|| AppError::invalid("school_year", Msg::new("error-unknown-school-year")))?;
    if let Some(d) = deadline {
        if d < year.starts_on || d > year.ends_on {
            return Err(AppError::invalid(
                "deadline",
                Msg::new("error-deadline-outside-year"),
            ));
        }
    }
    let tx = db.begin_write().await?;
    school_deadline::Entity::delete_many()
        .filter(school_deadline::Column::SchoolId.eq(school.id))
        .filter(school_deadline::Column::SchoolYearId.eq(year.id))
        .exec(&*tx)
        .await?;
    if let Some(d) = deadline {
        school_deadline::ActiveModel {
            school_id: Set(school.id),
            school_year_id: Set(year.id),
            deadline: Set(d),
            updated_at: Set(Utc::now()),
        }
        .insert(&*tx)
        .await?;
    }
    audit::record(
        &*tx,
        actor,
        "school.deadline_set",
        "school",
        Some(school.id.to_string()),
        json!({"school_year": year.code, "deadline": deadline}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A rule's deadline-relative fire times change when schools' deadlines do: every active
/// deadline rule of the year gets its next fire time again.
pub async fn reschedule_deadline_rules(db: &Db, settings: &Settings) -> AppResult<()> {
    let now = Utc::now();
    for r in rule::Entity::find()
        .filter(rule::Column::Active.eq(true))
        .filter(rule::Column::ScheduleKind.eq(DEADLINE))
        .all(&db.conn)
        .await?
    {
        let Some(campaign) = campaign::Entity::find_by_id(r.campaign_id)
            .one(&db.conn)
            .await?
        else {
            continue;
        };
        let next = schedule_of(&db.conn, &r, &campaign)
            .await?
            .and_then(|s| s.next_after(now, settings.timezone));
        // Only moves a fire time that has not come yet (a due one is the scheduler's).
        rule::Entity::update_many()
            .col_expr(rule::Column::NextRunAt, Expr::value(next))
            .filter(rule::Column::Id.eq(r.id))
            .filter(
                Condition::any()
                    .add(rule::Column::NextRunAt.is_null())
                    .add(rule::Column::NextRunAt.gt(now)),
            )
            .exec(&db.conn)
            .await?;
    }
    Ok(())
}

/// The next five fire times of a schedule typed in a form, before it is saved.
#[allow(clippy::too_many_arguments)]
pub async fn preview_schedule(
    db: &Db,
    actor: &Actor,
    settings: &Settings,
    kind: &str,
    cron: &str,
    offsets: &str,
    at_time: &str,
    campaign_id: Option<i64>,
) -> AppResult<Vec<DateTime<Utc>>> {
    require_planner(actor)?;
    let mut errors = FieldErrors::new();
    let schedule = match kind.trim() {
        CRON => errors
            .take("cron", schedule::parse_cron(cron))
            .map(|s| Schedule::Cron(Box::new(s))),
        DEADLINE => {
            let offsets = errors.take("offsets", schedule::parse_offsets(offsets));
            let at = errors.take("at_time", schedule::parse_time_of_day(at_time));
            let year = match campaign_id {
                Some(id) => {
                    let c = crate::campaigns::service::visible(&db.conn, actor, id).await?;
                    school_year::entity::Entity::find_by_id(c.school_year_id)
                        .one(&db.conn)
                        .await?
                }
                None => {
                    let today = Utc::now().with_timezone(&settings.timezone).date_naive();
                    school_year::current(&db.conn, today).await?
                }
            };
            match (offsets, at, year) {
                (Some(offsets), Some(at_minute), Some(year)) => Some(Schedule::Deadline {
                    offsets,
                    at_minute,
                    deadlines: deadlines_of_year(&db.conn, &year).await?,
                }),
                _ => None,
            }
        }
        _ => {
            errors.add(
                "schedule_kind",
                Msg::new("error-one-of").arg("allowed", "cron, deadline"),
            );
            None
        }
    };
    errors.into_result()?;
    Ok(schedule
        .map(|s| s.upcoming(Utc::now(), settings.timezone, 5))
        .unwrap_or_default())
}

/// A school's HI collection deadline in one school year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchoolDeadline {
    pub school_year: String,
    /// The year's deadline, for schools without their own.
    pub year_deadline: chrono::NaiveDate,
    /// The school's own, when set.
    pub own: Option<chrono::NaiveDate>,
}

/// A school's deadlines in every school year, newest year first.
pub async fn deadlines_of_school<C: ConnectionTrait>(
    conn: &C,
    school_id: i64,
) -> AppResult<Vec<SchoolDeadline>> {
    let own: std::collections::HashMap<i64, chrono::NaiveDate> = school_deadline::Entity::find()
        .filter(school_deadline::Column::SchoolId.eq(school_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|d| (d.school_year_id, d.deadline))
        .collect();
    Ok(school_year::entity::Entity::find()
        .order_by_desc(school_year::entity::Column::StartsOn)
        .all(conn)
        .await?
        .into_iter()
        .map(|y| SchoolDeadline {
            own: own.get(&y.id).copied(),
            school_year: y.code,
            year_deadline: y.deadline,
        })
        .collect())
}
