//! Turning a wave or a rule occurrence into messages in the outbox, set-based: for each slice
//! of guardian ids, one `INSERT … SELECT` per channel step (siblings fold into one message per
//! guardian by `GROUP BY g.id`), one for the students each message is about and one for the
//! `queued` events, in one transaction that also moves the job's progress mark forward with a
//! compare-and-set. A job interrupted half-way resumes after the last slice it committed; two
//! instances working on the same job cannot both write a slice.
//!
//! The content is not rendered here: the worker renders each message when it sends it, with the
//! step's pinned template version and the children who still need cover at that moment.
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend};

use super::audience::{guardian_conditions, student_conditions, Spec};
use super::steps::{fallback_after, Step};
use crate::auth::actor::Actor;
use crate::campaigns::entity::campaign;
use crate::contacts::fields::{Channel, PURPOSE_HI_REMINDERS};
use crate::db::{Db, Params};
use crate::delivery::outbox::source;
use crate::error::AppResult;
use crate::web::i18n::Lang;

/// The global frequency cap: at most `per_day` parent messages (waves and reminders, fallbacks
/// not counted twice) per guardian per Vietnam calendar day, and `per_week` over the last seven
/// Vietnam days. 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub per_day: u32,
    pub per_week: u32,
}

/// Statuses that count as a message to a guardian (queued, on its way, or sent); suppressed,
/// cancelled and dead ones reached nobody.
pub const LIVE_STATUSES: &str = "('queued', 'sending', 'retrying', 'sent', 'delivered', 'read')";

/// Only schools whose HI collection deadline (their own for the year, else the year's) is one
/// of `dates`.
#[derive(Debug, Clone)]
pub struct DeadlineFilter {
    pub school_year_id: i64,
    pub year_deadline: NaiveDate,
    pub dates: Vec<NaiveDate>,
}

/// What to materialise.
#[derive(Debug, Clone)]
pub struct Job {
    pub source_kind: &'static str,
    pub source_id: i64,
    pub occurrence_id: Option<i64>,
    /// Idempotency keys are `<key_prefix>:g<guardian id>:<channel>`.
    pub key_prefix: String,
    pub campaign: campaign::Model,
    /// Messages stay in this province (a province's staff made the wave or rule).
    pub scope_province_id: Option<i64>,
    pub spec: Spec,
    pub steps: Vec<Step>,
    pub send_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// At most this many messages of this rule per guardian, ever.
    pub per_source_cap: Option<i32>,
    pub deadlines: Option<DeadlineFilter>,
    pub cap: Cap,
    pub tz: Tz,
}

/// Where a job keeps its progress: the row of a wave or of a rule occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Wave(i64),
    Occurrence(i64),
}

impl Progress {
    fn table(self) -> &'static str {
        match self {
            Progress::Wave(_) => "waves",
            Progress::Occurrence(_) => "rule_occurrences",
        }
    }

    fn id(self) -> i64 {
        match self {
            Progress::Wave(id) | Progress::Occurrence(id) => id,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Every slice is done; this many messages were queued by this run.
    Finished(u64),
    /// Another holder took the job over (our lease ran out): we stopped.
    Lost(u64),
}

pub(crate) fn address(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "g.email",
        Channel::Sms | Channel::Zalo => "g.phone",
        Channel::Push => "g.app_ref",
    }
}

/// SQL that is true when guardian `g` may be messaged on `channel`: the channel's address,
/// (for Zalo) a Zalo account, and the latest consent record for the channel is a grant.
pub(crate) fn reachable(channel: Channel, p: &mut Params) -> String {
    let zalo = if channel == Channel::Zalo {
        format!(" AND g.zalo = {}", p.bind(true))
    } else {
        String::new()
    };
    let ch = p.bind(channel.code());
    let purpose = p.bind(PURPOSE_HI_REMINDERS);
    let yes = p.bind(true);
    format!(
        "({addr} IS NOT NULL{zalo} AND (SELECT c.granted FROM consents c WHERE c.guardian_id = g.id \
         AND c.channel = {ch} AND c.purpose = {purpose} ORDER BY c.id DESC LIMIT 1) = {yes})",
        addr = address(channel)
    )
}

/// The local midnight starting the day of `at` in `tz`.
pub fn day_start(at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let day = at.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(at)
}

/// Conditions on students (`st`, `sc`) shared by the message and the link inserts: the
/// audience's, the campaign's scope, the maker's province, the deadline filter.
fn student_side(job: &Job, p: &mut Params) -> Vec<String> {
    let mut w = student_conditions(&Actor::cli(), &job.spec, p);
    match job.campaign.scope_kind.as_str() {
        "provinces" => {
            let c = p.bind(job.campaign.id);
            w.push(format!(
                "sc.province_id IN (SELECT cp.province_id FROM campaign_provinces cp WHERE cp.campaign_id = {c})"
            ));
        }
        "schools" => {
            let c = p.bind(job.campaign.id);
            w.push(format!(
                "st.school_id IN (SELECT cs.school_id FROM campaign_schools cs WHERE cs.campaign_id = {c})"
            ));
        }
        _ => {}
    }
    if let Some(province) = job.scope_province_id {
        w.push(format!("sc.province_id = {}", p.bind(province)));
    }
    if let Some(d) = &job.deadlines {
        let year = p.bind(d.school_year_id);
        let default = p.bind(d.year_deadline);
        let dates = if d.dates.is_empty() {
            "(NULL)".to_string()
        } else {
            p.bind_list(&d.dates)
        };
        w.push(format!(
            "COALESCE((SELECT d.deadline FROM school_deadlines d WHERE d.school_id = st.school_id \
             AND d.school_year_id = {year}), {default}) IN {dates}"
        ));
    }
    w
}

/// Conditions on the guardian `g` from the frequency caps.
fn cap_conditions(job: &Job, now: DateTime<Utc>, p: &mut Params) -> Vec<String> {
    let mut w = Vec::new();
    let counted = format!(
        "f.guardian_id = g.id AND f.fallback_of IS NULL AND f.status IN {LIVE_STATUSES} \
         AND f.source_kind IN ({}, {})",
        p.bind(source::WAVE),
        p.bind(source::RULE)
    );
    let today = day_start(now, job.tz);
    for (limit, since) in [
        (job.cap.per_day, today),
        (job.cap.per_week, today - Duration::days(6)),
    ] {
        if limit > 0 {
            let since = p.bind(since);
            let limit = p.bind(i64::from(limit));
            w.push(format!(
                "(SELECT COUNT(*) FROM messages f WHERE {counted} AND f.created_at >= {since}) < {limit}"
            ));
        }
    }
    if let Some(k) = job.per_source_cap {
        let kind = p.bind(job.source_kind);
        let id = p.bind(job.source_id);
        let k = p.bind(i64::from(k));
        w.push(format!(
            "(SELECT COUNT(*) FROM messages f WHERE f.guardian_id = g.id AND f.fallback_of IS NULL \
             AND f.status IN {LIVE_STATUSES} AND f.source_kind = {kind} AND f.source_id = {id}) < {k}"
        ));
    }
    w
}

const FROM: &str = "FROM guardians g JOIN student_guardians sg ON sg.guardian_id = g.id \
     JOIN students st ON st.id = sg.student_id JOIN schools sc ON sc.id = st.school_id";

/// The conditions picking guardians (`g`, with their students `st`) whose message goes on
/// `steps[i]`: in the audience, reachable there and on none of the earlier steps, within the
/// caps (unless `caps` is false), and in `(lo, hi]` when a range is given.
fn step_where(
    job: &Job,
    i: usize,
    range: Option<(i64, i64)>,
    now: DateTime<Utc>,
    caps: bool,
    p: &mut Params,
) -> String {
    let mut w = Vec::new();
    if let Some((lo, hi)) = range {
        w.push(format!("g.id > {}", p.bind(lo)));
        w.push(format!("g.id <= {}", p.bind(hi)));
    }
    w.extend(guardian_conditions(&job.spec, p));
    w.extend(student_side(job, p));
    w.push(reachable(job.steps[i].channel, p));
    for earlier in &job.steps[..i] {
        w.push(format!("NOT {}", reachable(earlier.channel, p)));
    }
    if caps {
        w.extend(cap_conditions(job, now, p));
    }
    w.join(" AND ")
}

/// `INSERT … SELECT` of the messages on `steps[i]` for guardians in `(lo, hi]`.
fn insert_step(
    job: &Job,
    i: usize,
    lo: i64,
    hi: i64,
    now: DateTime<Utc>,
    backend: DbBackend,
) -> sea_orm::Statement {
    let mut p = Params::new(backend);
    let step = &job.steps[i];
    let prefix = p.bind(format!("{}:g", job.key_prefix));
    let suffix = p.bind(format!(":{}", step.channel.code()));
    let kind = p.bind(job.source_kind);
    let sid = p.bind(job.source_id);
    let occ = p.bind(job.occurrence_id);
    let camp = p.bind(job.campaign.id);
    let channel = p.bind(step.channel.code());
    let (vi_id, vi_version, vi_lang) = step.for_language(Lang::Vi);
    let plan = |lang: Lang| {
        let plan = fallback_after(&job.steps, i, lang);
        (!plan.is_empty()).then(|| serde_json::to_string(&plan).unwrap_or_default())
    };
    let (template, version, language, fallback) = if step.has_english() {
        let (en_id, en_version, en_lang) = step.for_language(Lang::En);
        let en = p.bind(Lang::En.code());
        let pick = |p: &mut Params, a: sea_orm::Value, b: sea_orm::Value| {
            let a = p.bind(a);
            let b = p.bind(b);
            format!("CASE WHEN g.language = {en} THEN {a} ELSE {b} END")
        };
        (
            pick(&mut p, en_id.into(), vi_id.into()),
            pick(&mut p, en_version.into(), vi_version.into()),
            pick(&mut p, en_lang.code().into(), vi_lang.code().into()),
            pick(&mut p, plan(Lang::En).into(), plan(Lang::Vi).into()),
        )
    } else {
        (
            p.bind(vi_id),
            p.bind(vi_version),
            p.bind(vi_lang.code()),
            p.bind(plan(Lang::Vi)),
        )
    };
    let max = p.bind(job.max_attempts);
    let send_at = p.bind(job.send_at);
    let at = p.bind(now);
    let queued = p.bind(crate::delivery::model::Status::Queued.code());
    let where_ = step_where(job, i, Some((lo, hi)), now, true, &mut p);
    let sql = format!(
        "INSERT INTO messages (idempotency_key, source_kind, source_id, occurrence_id, campaign_id, \
           school_id, guardian_id, channel, template_id, template_version, language, recipient, \
           fallback_plan, status, attempts, max_attempts, next_attempt_at, created_at, updated_at) \
         SELECT {prefix} || CAST(g.id AS TEXT) || {suffix}, {kind}, {sid}, {occ}, {camp}, \
           MIN(st.school_id), g.id, {channel}, {template}, {version}, {language}, {addr}, \
           {fallback}, {queued}, 0, {max}, {send_at}, {at}, {at} \
         {FROM} WHERE {where_} GROUP BY g.id \
         ON CONFLICT (idempotency_key) DO NOTHING",
        addr = address(step.channel),
    );
    p.statement(sql)
}

/// Who a job would message now, per channel step.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StepPlan {
    pub channel: Channel,
    /// Guardians who would get this step's message.
    pub guardians: i64,
    /// Guardians who would, but the frequency cap (or the rule's limit) holds them back.
    pub held_by_cap: i64,
    /// The first few of them (by id).
    #[serde(skip)]
    pub sample: Vec<i64>,
}

async fn count(db: &Db, job: &Job, i: usize, now: DateTime<Utc>, caps: bool) -> AppResult<i64> {
    let mut p = Params::new(db.backend());
    let w = step_where(job, i, None, now, caps, &mut p);
    let row = db
        .conn
        .query_one(p.statement(format!(
            "SELECT COUNT(*) AS n FROM (SELECT g.id {FROM} WHERE {w} GROUP BY g.id) x"
        )))
        .await?;
    Ok(match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    })
}

/// Counts what materialising `job` now would queue, per step, with the first `sample`
/// guardians of each.
pub async fn plan(
    db: &Db,
    job: &Job,
    now: DateTime<Utc>,
    sample: usize,
) -> AppResult<Vec<StepPlan>> {
    let mut out = Vec::new();
    for i in 0..job.steps.len() {
        let guardians = count(db, job, i, now, true).await?;
        let all = count(db, job, i, now, false).await?;
        let mut ids = Vec::new();
        if sample > 0 && guardians > 0 {
            let mut p = Params::new(db.backend());
            let w = step_where(job, i, None, now, true, &mut p);
            let limit = p.bind(sample as i64);
            for r in db
                .conn
                .query_all(p.statement(format!(
                    "SELECT g.id AS gid {FROM} WHERE {w} GROUP BY g.id ORDER BY g.id LIMIT {limit}"
                )))
                .await?
            {
                ids.push(r.try_get("", "gid")?);
            }
        }
        out.push(StepPlan {
            channel: job.steps[i].channel,
            guardians,
            held_by_cap: (all - guardians).max(0),
            sample: ids,
        });
    }
    Ok(out)
}

/// The students each of `guardian_ids` would be written to about (the audience's, in the
/// campaign's scope).
pub async fn students_of(
    db: &Db,
    job: &Job,
    guardian_ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, Vec<i64>>> {
    let mut out: std::collections::HashMap<i64, Vec<i64>> = Default::default();
    if guardian_ids.is_empty() {
        return Ok(out);
    }
    let mut p = Params::new(db.backend());
    let mut w = vec![format!("sg.guardian_id IN {}", p.bind_list(guardian_ids))];
    w.extend(student_side(job, &mut p));
    for r in db
        .conn
        .query_all(p.statement(format!(
            "SELECT sg.guardian_id AS gid, st.id AS sid FROM student_guardians sg \
             JOIN students st ON st.id = sg.student_id JOIN schools sc ON sc.id = st.school_id \
             WHERE {} ORDER BY st.id",
            w.join(" AND ")
        )))
        .await?
    {
        out.entry(r.try_get("", "gid")?)
            .or_default()
            .push(r.try_get("", "sid")?);
    }
    Ok(out)
}

/// Conditions picking the messages a slice inserted (`m`).
fn inserted_here(job: &Job, lo: i64, hi: i64, now: DateTime<Utc>, p: &mut Params) -> String {
    let mut w = vec![
        format!("m.guardian_id > {}", p.bind(lo)),
        format!("m.guardian_id <= {}", p.bind(hi)),
        format!("m.created_at = {}", p.bind(now)),
        format!("m.source_kind = {}", p.bind(job.source_kind)),
        format!("m.source_id = {}", p.bind(job.source_id)),
    ];
    if let Some(o) = job.occurrence_id {
        w.push(format!("m.occurrence_id = {}", p.bind(o)));
    }
    w.join(" AND ")
}

/// Materialises guardians `(lo, hi]` in one transaction, if the job's progress mark is still at
/// `lo` and held by `holder`; answers the messages queued, or None when the job was taken over.
#[allow(clippy::too_many_arguments)]
async fn slice(
    db: &Db,
    job: &Job,
    progress: Progress,
    holder: &str,
    lo: i64,
    hi: i64,
    lease: Duration,
) -> AppResult<Option<u64>> {
    let backend = db.backend();
    // Whole microseconds: PostgreSQL keeps no more, and the slice's rows are found by it.
    let now = Utc::now().trunc_subsecs(6);
    let tx = db.begin_write().await?;
    let mut p = Params::new(backend);
    let sql = format!(
        "UPDATE {table} SET done_through = {hi}, lease_until = {until} \
         WHERE id = {id} AND leased_by = {holder} AND COALESCE(done_through, {none}) = {lo}",
        table = progress.table(),
        hi = p.bind(hi),
        until = p.bind(now + lease),
        id = p.bind(progress.id()),
        holder = p.bind(holder),
        none = p.bind(i64::MIN),
        lo = p.bind(lo),
    );
    if tx.execute(p.statement(sql)).await?.rows_affected() != 1 {
        return Ok(None);
    }
    let mut queued = 0;
    for i in 0..job.steps.len() {
        queued += tx
            .execute(insert_step(job, i, lo, hi, now, backend))
            .await?
            .rows_affected();
    }
    if queued > 0 {
        let mut p = Params::new(backend);
        let mut w = vec![inserted_here(job, lo, hi, now, &mut p)];
        w.extend(student_side(job, &mut p));
        let sql = format!(
            "INSERT INTO message_students (message_id, student_id) SELECT m.id, st.id \
             FROM messages m JOIN student_guardians sg ON sg.guardian_id = m.guardian_id \
             JOIN students st ON st.id = sg.student_id JOIN schools sc ON sc.id = st.school_id \
             WHERE {}",
            w.join(" AND ")
        );
        tx.execute(p.statement(sql)).await?;
        let mut p = Params::new(backend);
        let kind = p.bind(crate::delivery::model::EventKind::Queued.code());
        let at = p.bind(now);
        let w = inserted_here(job, lo, hi, now, &mut p);
        let sql = format!(
            "INSERT INTO message_events (message_id, kind, at) SELECT m.id, {kind}, {at} \
             FROM messages m WHERE {w}"
        );
        tx.execute(p.statement(sql)).await?;
        let mut p = Params::new(backend);
        let sql = format!(
            "UPDATE {table} SET queued = queued + {n} WHERE id = {id}",
            table = progress.table(),
            n = p.bind(queued as i64),
            id = p.bind(progress.id()),
        );
        tx.execute(p.statement(sql)).await?;
    }
    tx.commit().await?;
    Ok(Some(queued))
}

/// The smallest and largest guardian id (None when there are no guardians).
async fn guardian_range(db: &Db) -> AppResult<Option<(i64, i64)>> {
    let row = db
        .conn
        .query_one(sea_orm::Statement::from_string(
            db.backend(),
            "SELECT MIN(id) AS lo, MAX(id) AS hi FROM guardians",
        ))
        .await?;
    Ok(match row {
        Some(r) => match (
            r.try_get::<Option<i64>>("", "lo")?,
            r.try_get::<Option<i64>>("", "hi")?,
        ) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        },
        None => None,
    })
}

/// Runs a job from its progress mark `done_through` (None: from the start) to the end, in
/// slices of `width` guardian ids, while `holder` holds it.
pub async fn run(
    db: &Db,
    job: &Job,
    progress: Progress,
    holder: &str,
    done_through: Option<i64>,
    width: i64,
    lease: Duration,
) -> AppResult<Run> {
    let mut total = 0;
    let Some((first, last)) = guardian_range(db).await? else {
        return Ok(Run::Finished(0));
    };
    let mut mark = done_through;
    let mut lo = done_through.unwrap_or(first - 1).max(first - 1);
    if job.steps.is_empty() {
        return Ok(Run::Finished(0));
    }
    while lo < last {
        let hi = lo.saturating_add(width.max(1)).min(last);
        // The first slice's compare-and-set expects the mark as stored (NULL at the start).
        let expect = mark.unwrap_or(i64::MIN);
        match slice_from(db, job, progress, holder, expect, lo, hi, lease).await? {
            Some(n) => total += n,
            None => return Ok(Run::Lost(total)),
        }
        mark = Some(hi);
        lo = hi;
    }
    Ok(Run::Finished(total))
}

/// [`slice`] where the stored mark (`expect`) may differ from the slice's lower bound (the
/// first slice of a job starts below the smallest guardian id, with no mark stored).
#[allow(clippy::too_many_arguments)]
async fn slice_from(
    db: &Db,
    job: &Job,
    progress: Progress,
    holder: &str,
    expect: i64,
    lo: i64,
    hi: i64,
    lease: Duration,
) -> AppResult<Option<u64>> {
    if expect == lo {
        return slice(db, job, progress, holder, lo, hi, lease).await;
    }
    // Move the mark to `lo` first (nothing lies between it and `lo`).
    let mut p = Params::new(db.backend());
    let sql = format!(
        "UPDATE {table} SET done_through = {lo} WHERE id = {id} AND leased_by = {holder} \
         AND COALESCE(done_through, {none}) = {expect}",
        table = progress.table(),
        lo = p.bind(lo),
        id = p.bind(progress.id()),
        holder = p.bind(holder),
        none = p.bind(i64::MIN),
        expect = p.bind(expect),
    );
    if db.conn.execute(p.statement(sql)).await?.rows_affected() != 1 {
        return Ok(None);
    }
    slice(db, job, progress, holder, lo, hi, lease).await
}
