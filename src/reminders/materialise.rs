//! Turning a wave or a rule occurrence into messages in the outbox, set-based: for each slice
//! of guardian ids, one `INSERT … SELECT` of the messages (each guardian on the first channel
//! step they can be reached on; siblings fold into one message per guardian by `GROUP BY
//! g.id`) and one of the students each message is about, in one transaction that also moves
//! the job's progress mark forward with a compare-and-set. No `queued` event row is written
//! for these messages: a message's creation time is when it was queued. A job interrupted half-way resumes after the last slice it committed; two
//! instances working on the same job cannot both write a slice.
//!
//! The content is not rendered here: the worker renders each message when it sends it, with the
//! step's pinned template version and the children who still need cover at that moment.
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend};

use super::audience::{student_conditions, Spec};
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

/// Statuses of messages that reached nobody and never will (they do not count against a
/// cap). Written as `NOT IN` so that PostgreSQL reads a guardian's messages by the
/// (guardian, created) index rather than by status.
pub const SPENT_STATUSES: &str = "('suppressed', 'cancelled', 'dead')";

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

/// The PostgreSQL advisory lock that serialises materialisation slices across instances.
const MATERIALISE_LOCK: i64 = 0x0068_696f_2d6d_6174;

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
/// Which caps a statement must check: the frequency cap over recent messages, and the rule's
/// limit per guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caps {
    recent: bool,
    per_source: bool,
}

impl Caps {
    const ALL: Caps = Caps {
        recent: true,
        per_source: true,
    };
    const NONE: Caps = Caps {
        recent: false,
        per_source: false,
    };
}

/// The start of the frequency cap's window (the last seven Vietnam days, today included).
fn week_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    day_start(now, tz) - Duration::days(6)
}

fn cap_conditions(job: &Job, now: DateTime<Utc>, caps: Caps, p: &mut Params) -> Vec<String> {
    let mut w = Vec::new();
    if !caps.recent {
        return cap_source_condition(job, caps, p);
    }
    let limits: Vec<(u32, DateTime<Utc>)> = [
        (job.cap.per_day, day_start(now, job.tz)),
        (job.cap.per_week, week_start(now, job.tz)),
    ]
    .into_iter()
    .filter(|(limit, _)| *limit > 0)
    .collect();
    // Bound only when a cap is on: a value bound but not named in the text would make one SQL
    // text carry different numbers of parameters, which PostgreSQL refuses once the statement
    // is cached on a connection ("bind message supplies 8 parameters, but … requires 6").
    if !limits.is_empty() {
        let counted = format!(
            "f.guardian_id = g.id AND f.fallback_of IS NULL AND f.status NOT IN {SPENT_STATUSES} \
             AND f.source_kind IN ({}, {})",
            p.bind(source::WAVE),
            p.bind(source::RULE)
        );
        for (limit, since) in limits {
            let since = p.bind(since);
            let limit = p.bind(i64::from(limit));
            w.push(format!(
                "(SELECT COUNT(*) FROM messages f WHERE {counted} AND f.created_at >= {since}) < {limit}"
            ));
        }
    }
    w.extend(cap_source_condition(job, caps, p));
    w
}

/// The rule's "at most K per guardian", when it must be checked.
fn cap_source_condition(job: &Job, caps: Caps, p: &mut Params) -> Vec<String> {
    match job.per_source_cap {
        Some(k) if caps.per_source => {
            let kind = p.bind(job.source_kind);
            let id = p.bind(job.source_id);
            let k = p.bind(i64::from(k));
            vec![format!(
                "(SELECT COUNT(*) FROM messages f WHERE f.guardian_id = g.id AND f.fallback_of IS NULL \
                 AND f.status NOT IN {SPENT_STATUSES} AND f.source_kind = {kind} AND f.source_id = {id}) < {k}"
            )]
        }
        _ => Vec::new(),
    }
}

/// The caps a slice must check: none can hold back a guardian of `(lo, hi]` who has no
/// message in the window (or none of this rule), which is every guardian of a first wave.
async fn caps_for_slice<C: ConnectionTrait>(
    conn: &C,
    job: &Job,
    lo: i64,
    hi: i64,
    now: DateTime<Utc>,
) -> AppResult<Caps> {
    let any = |sql: String, p: Params| async move {
        Ok::<bool, crate::error::AppError>(conn.query_one(p.statement(sql)).await?.is_some())
    };
    let recent = if job.cap.per_day > 0 || job.cap.per_week > 0 {
        let mut p = Params::new(conn.get_database_backend());
        let sql = format!(
            "SELECT f.id FROM messages f WHERE f.guardian_id > {} AND f.guardian_id <= {} \
             AND f.created_at >= {} LIMIT 1",
            p.bind(lo),
            p.bind(hi),
            p.bind(week_start(now, job.tz)),
        );
        any(sql, p).await?
    } else {
        false
    };
    let per_source = if job.per_source_cap.is_some() {
        let mut p = Params::new(conn.get_database_backend());
        let sql = format!(
            "SELECT f.id FROM messages f WHERE f.guardian_id > {} AND f.guardian_id <= {} \
             AND f.source_kind = {} AND f.source_id = {} LIMIT 1",
            p.bind(lo),
            p.bind(hi),
            p.bind(job.source_kind),
            p.bind(job.source_id),
        );
        any(sql, p).await?
    } else {
        false
    };
    Ok(Caps { recent, per_source })
}

/// The latest consent record of each guardian per channel, as `id * 2 + granted`: the largest
/// value per channel is the latest record, and it is odd when that record is a grant. One
/// pass over the consents of the slice (or of everyone, for counts) instead of a look-up per
/// guardian and channel.
fn latest_consents(range: Option<(i64, i64)>, p: &mut Params) -> String {
    let purpose = p.bind(PURPOSE_HI_REMINDERS);
    let columns: Vec<String> = Channel::ALL
        .iter()
        .map(|c| {
            format!(
                "MAX(CASE WHEN c.channel = {ch} THEN c.id * 2 + CASE WHEN c.granted THEN 1 ELSE 0 END END) AS k_{code}",
                ch = p.bind(c.code()),
                code = c.code()
            )
        })
        .collect();
    let range = match range {
        Some((lo, hi)) => format!(
            " AND c.guardian_id > {} AND c.guardian_id <= {}",
            p.bind(lo),
            p.bind(hi)
        ),
        None => String::new(),
    };
    format!(
        "(SELECT c.guardian_id AS gid, {} FROM consents c WHERE c.purpose = {purpose}{range} \
         GROUP BY c.guardian_id) lc",
        columns.join(", ")
    )
}

/// SQL true when the latest consent of `g` on `channel` is a grant (see [`latest_consents`]).
fn consented(channel: Channel) -> String {
    format!("lc.k_{} % 2 = 1", channel.code())
}

/// SQL true when `g` may be messaged on `channel`: its address, (for Zalo) a Zalo account,
/// and consent.
fn reachable_here(channel: Channel, p: &mut Params) -> String {
    let zalo = if channel == Channel::Zalo {
        format!(" AND g.zalo = {}", p.bind(true))
    } else {
        String::new()
    };
    format!(
        "({} IS NOT NULL{zalo} AND {})",
        address(channel),
        consented(channel)
    )
}

/// The guardians (`g`) a job picks — in the audience, with a child it picks, in the campaign's
/// and maker's scope, within the caps (unless `caps` is false), in `(lo, hi]` when a range is
/// given — one row each (siblings folded) with the step their message goes on (the first
/// channel they can be reached on; NULL for none): columns `gid, school_id, step, lang, phone,
/// email, app_ref`.
fn picked(
    job: &Job,
    range: Option<(i64, i64)>,
    now: DateTime<Utc>,
    caps: Caps,
    p: &mut Params,
) -> String {
    let consents = latest_consents(range, p);
    let mut w = Vec::new();
    if let Some((lo, hi)) = range {
        w.push(format!("g.id > {}", p.bind(lo)));
        w.push(format!("g.id <= {}", p.bind(hi)));
    }
    w.push("g.opted_out_at IS NULL".into());
    w.push("g.erased_at IS NULL".into());
    if let Some(l) = job.spec.language {
        w.push(format!("g.language = {}", p.bind(l.code())));
    }
    // The audience's consent filter: a grant on one of its channels (any channel if none).
    let wanted: Vec<Channel> = if job.spec.channels.is_empty() {
        Channel::ALL.to_vec()
    } else {
        job.spec.channels.clone()
    };
    w.push(format!(
        "({})",
        wanted
            .iter()
            .map(|c| consented(*c))
            .collect::<Vec<_>>()
            .join(" OR ")
    ));
    w.extend(student_side(job, p));
    // The caps: for a slice, one pass over its guardians' messages (a range of the
    // (guardian, created) index); for counts over everyone, a look-up per guardian.
    let (joins, grouped) = match range {
        Some((lo, hi)) => cap_joins(job, now, caps, (lo, hi), &mut w, p),
        None => {
            w.extend(cap_conditions(job, now, caps, p));
            (String::new(), String::new())
        }
    };
    let mut step = String::from("CAST(CASE");
    for (i, s) in job.steps.iter().enumerate() {
        step.push_str(&format!(" WHEN {} THEN {i}", reachable_here(s.channel, p)));
    }
    step.push_str(" END AS BIGINT)");
    format!(
        "SELECT g.id AS gid, MIN(st.school_id) AS school_id, {step} AS step, g.language AS lang, \
           g.phone AS phone, g.email AS email, g.app_ref AS app_ref \
         FROM guardians g JOIN {consents} ON lc.gid = g.id{joins} \
         JOIN student_guardians sg ON sg.guardian_id = g.id \
         JOIN students st ON st.id = sg.student_id JOIN schools sc ON sc.id = st.school_id \
         WHERE {} \
         GROUP BY g.id, g.language, g.phone, g.email, g.app_ref, g.zalo, lc.k_email, lc.k_sms, \
           lc.k_zalo, lc.k_push{grouped}",
        w.join(" AND ")
    )
}

/// The caps of a slice as joins on its guardians' message counts: answers the joins and the
/// columns they add to the grouping, and puts the conditions in `w`.
fn cap_joins(
    job: &Job,
    now: DateTime<Utc>,
    caps: Caps,
    (lo, hi): (i64, i64),
    w: &mut Vec<String>,
    p: &mut Params,
) -> (String, String) {
    let (mut joins, mut grouped) = (String::new(), String::new());
    if caps.recent && (job.cap.per_day > 0 || job.cap.per_week > 0) {
        let day = p.bind(day_start(now, job.tz));
        let (lo_, hi_) = (p.bind(lo), p.bind(hi));
        let week = p.bind(week_start(now, job.tz));
        let (wave, rule) = (p.bind(source::WAVE), p.bind(source::RULE));
        joins.push_str(&format!(
            " LEFT JOIN (SELECT f.guardian_id AS gid, COUNT(*) AS week_n, \
               SUM(CASE WHEN f.created_at >= {day} THEN 1 ELSE 0 END) AS day_n \
             FROM messages f WHERE f.guardian_id > {lo_} AND f.guardian_id <= {hi_} \
               AND f.created_at >= {week} AND f.fallback_of IS NULL \
               AND f.status NOT IN {SPENT_STATUSES} AND f.source_kind IN ({wave}, {rule}) \
             GROUP BY f.guardian_id) fc ON fc.gid = g.id"
        ));
        grouped.push_str(", fc.day_n, fc.week_n");
        if job.cap.per_day > 0 {
            w.push(format!(
                "COALESCE(fc.day_n, 0) < {}",
                p.bind(i64::from(job.cap.per_day))
            ));
        }
        if job.cap.per_week > 0 {
            w.push(format!(
                "COALESCE(fc.week_n, 0) < {}",
                p.bind(i64::from(job.cap.per_week))
            ));
        }
    }
    if let (Some(k), true) = (job.per_source_cap, caps.per_source) {
        let (lo_, hi_) = (p.bind(lo), p.bind(hi));
        let (kind, id) = (p.bind(job.source_kind), p.bind(job.source_id));
        joins.push_str(&format!(
            " LEFT JOIN (SELECT f.guardian_id AS gid, COUNT(*) AS n FROM messages f \
             WHERE f.guardian_id > {lo_} AND f.guardian_id <= {hi_} AND f.source_kind = {kind} \
               AND f.source_id = {id} AND f.fallback_of IS NULL AND f.status NOT IN {SPENT_STATUSES} \
             GROUP BY f.guardian_id) fk ON fk.gid = g.id"
        ));
        grouped.push_str(", fk.n");
        w.push(format!("COALESCE(fk.n, 0) < {}", p.bind(i64::from(k))));
    }
    (joins, grouped)
}

/// `CASE` choosing, by the picked row's step (and language), one of the steps' values.
fn per_step<V: Into<sea_orm::Value>>(
    job: &Job,
    p: &mut Params,
    value: impl Fn(&Step, usize, Lang) -> V,
) -> String {
    let mut out = String::from("CASE");
    for (i, s) in job.steps.iter().enumerate() {
        if s.has_english() {
            let en = p.bind(Lang::En.code());
            let v = p.bind(value(s, i, Lang::En));
            out.push_str(&format!(" WHEN x.step = {i} AND x.lang = {en} THEN {v}"));
        }
        let v = p.bind(value(s, i, Lang::Vi));
        out.push_str(&format!(" WHEN x.step = {i} THEN {v}"));
    }
    out.push_str(" END");
    out
}

/// `INSERT … SELECT` of the messages of the guardians in `(lo, hi]`, each on its step.
fn insert_slice(
    job: &Job,
    lo: i64,
    hi: i64,
    now: DateTime<Utc>,
    caps: Caps,
    backend: DbBackend,
) -> sea_orm::Statement {
    let mut p = Params::new(backend);
    let prefix = p.bind(format!("{}:g", job.key_prefix));
    let suffix = per_step(job, &mut p, |s, _, _| format!(":{}", s.channel.code()));
    let kind = p.bind(job.source_kind);
    let sid = p.bind(job.source_id);
    let occ = p.bind(job.occurrence_id);
    let camp = p.bind(job.campaign.id);
    let channel = per_step(job, &mut p, |s, _, _| s.channel.code());
    let template = per_step(job, &mut p, |s, _, l| s.for_language(l).0);
    let version = per_step(job, &mut p, |s, _, l| s.for_language(l).1);
    let language = per_step(job, &mut p, |s, _, l| s.for_language(l).2.code());
    let fallback = per_step(job, &mut p, |_, i, l| {
        let plan = fallback_after(&job.steps, i, l);
        (!plan.is_empty()).then(|| serde_json::to_string(&plan).unwrap_or_default())
    });
    let mut recipient = String::from("CASE");
    for (i, s) in job.steps.iter().enumerate() {
        let column = address(s.channel).replace("g.", "x.");
        recipient.push_str(&format!(" WHEN x.step = {i} THEN {column}"));
    }
    recipient.push_str(" END");
    let max = p.bind(job.max_attempts);
    let send_at = p.bind(job.send_at);
    let at = p.bind(now);
    let queued = p.bind(crate::delivery::model::Status::Queued.code());
    let source = picked(job, Some((lo, hi)), now, caps, &mut p);
    let sql = format!(
        "INSERT INTO messages (idempotency_key, source_kind, source_id, occurrence_id, campaign_id, \
           school_id, guardian_id, channel, template_id, template_version, language, recipient, \
           fallback_plan, status, attempts, max_attempts, next_attempt_at, created_at, updated_at) \
         SELECT {prefix} || CAST(x.gid AS TEXT) || {suffix}, {kind}, {sid}, {occ}, {camp}, \
           x.school_id, x.gid, {channel}, {template}, {version}, {language}, {recipient}, \
           {fallback}, {queued}, 0, {max}, {send_at}, {at}, {at} \
         FROM ({source}) x WHERE x.step IS NOT NULL \
         ON CONFLICT (idempotency_key) DO NOTHING"
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

/// Guardians per step, with or without the caps.
async fn counts(db: &Db, job: &Job, now: DateTime<Utc>, caps: Caps) -> AppResult<Vec<i64>> {
    let mut p = Params::new(db.backend());
    let source = picked(job, None, now, caps, &mut p);
    let mut out = vec![0; job.steps.len()];
    for r in db
        .conn
        .query_all(p.statement(format!(
            "SELECT x.step AS step, COUNT(*) AS n FROM ({source}) x \
             WHERE x.step IS NOT NULL GROUP BY x.step"
        )))
        .await?
    {
        let step: i64 = r.try_get("", "step")?;
        if let Some(slot) = out.get_mut(step as usize) {
            *slot = r.try_get("", "n")?;
        }
    }
    Ok(out)
}

/// Counts what materialising `job` now would queue, per step, with the first `sample`
/// guardians of each.
pub async fn plan(
    db: &Db,
    job: &Job,
    now: DateTime<Utc>,
    sample: usize,
) -> AppResult<Vec<StepPlan>> {
    let capped = counts(db, job, now, Caps::ALL).await?;
    let all = counts(db, job, now, Caps::NONE).await?;
    let mut samples: Vec<Vec<i64>> = vec![Vec::new(); job.steps.len()];
    if sample > 0 && capped.iter().any(|n| *n > 0) {
        let mut p = Params::new(db.backend());
        let source = picked(job, None, now, Caps::ALL, &mut p);
        let limit = p.bind(sample as i64);
        for r in db
            .conn
            .query_all(p.statement(format!(
                "SELECT y.gid AS gid, y.step AS step FROM (SELECT x.gid AS gid, x.step AS step, \
                   ROW_NUMBER() OVER (PARTITION BY x.step ORDER BY x.gid) AS rn \
                   FROM ({source}) x WHERE x.step IS NOT NULL) y \
                 WHERE y.rn <= {limit} ORDER BY y.step, y.gid"
            )))
            .await?
        {
            let step: i64 = r.try_get("", "step")?;
            if let Some(list) = samples.get_mut(step as usize) {
                list.push(r.try_get("", "gid")?);
            }
        }
    }
    Ok(job
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepPlan {
            channel: s.channel,
            guardians: capped[i],
            held_by_cap: (all[i] - capped[i]).max(0),
            sample: std::mem::take(&mut samples[i]),
        })
        .collect())
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
    if backend == DbBackend::Postgres {
        // One slice at a time across every instance (SQLite has one writer anyway): the
        // frequency cap counts a guardian's messages, and two slices of different jobs writing
        // for the same guardians at once would not see each other's.
        tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MATERIALISE_LOCK})"))
            .await?;
        // A slice reads a narrow range of ids through indexes at every step. The planner, seeing
        // a message table that this very run is filling (its statistics say empty), would
        // otherwise scan that table for every guardian; and compiling the plan (JIT) costs more
        // than running it.
        tx.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await?;
        tx.execute_unprepared("SET LOCAL jit = off").await?;
    }
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
    let caps = caps_for_slice(&*tx, job, lo, hi, now).await?;
    let queued = tx
        .execute(insert_slice(job, lo, hi, now, caps, backend))
        .await?
        .rows_affected();
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
