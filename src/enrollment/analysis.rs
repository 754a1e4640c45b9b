//! From the app's records to the estimators: engagement per school over a period, the school
//! panel (monthly coverage with each school's first treatment) in the `analyze did` CSV form,
//! the staggered difference-in-differences on it, and the dose-response regression of uplift
//! on engagement. The estimators themselves live in `crate::analytics` (no database code).
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use super::entity::snapshot;
use super::service::pct;
use crate::analytics::{self, ControlGroup, Panel, StaggeredOptions};
use crate::auth::actor::Actor;
use crate::campaigns::activities::activity_scope;
use crate::campaigns::entity::activity;
use crate::campaigns::kinds::{self, Channel};
use crate::consultations::entity::{question, session};
use crate::consultations::service::session_scope;
use crate::db::Db;
use crate::delivery::entity::{event, message};
use crate::error::{AppError, AppResult, Msg};
use crate::media::entity::{outlet, piece};
use crate::org::entity::{province, school};
use crate::org::level::SchoolLevel;
use crate::org::service::school_scope;

/// What counts as a school's treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Its first consultation session held.
    Session,
    /// The first message delivered to its parents.
    Wave,
    /// The first activity (not cancelled) of a channel aimed at it, its province or the nation.
    Channel(Channel),
}

impl Treatment {
    pub fn parse(raw: &str) -> Result<Treatment, Msg> {
        match raw.trim() {
            "" | "session" => Ok(Treatment::Session),
            "wave" => Ok(Treatment::Wave),
            other => other
                .strip_prefix("channel:")
                .ok_or_else(|| {
                    Msg::new("error-one-of").arg("allowed", "session, wave, channel:<channel>")
                })
                .and_then(Channel::parse)
                .map(Treatment::Channel),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct AnalysisQuery {
    /// `session` (default): first consultation session held; `wave`: first message delivered
    /// to the school's parents; `channel:<code>`: first activity of that channel aimed at the
    /// school, its province or the nation.
    pub treatment: Option<String>,
    /// First month (any day in it, yyyy-mm-dd); 12 months before `to` when empty.
    pub from: Option<String>,
    /// Last month; the current month when empty.
    pub to: Option<String>,
    /// `never` (default) or `notyet`: the control group.
    pub control: Option<String>,
    /// Province code.
    pub province: Option<String>,
}

/// A month as the panel's period: months since December 1999 (January 2000 = 1), so
/// consecutive months are consecutive integers.
pub fn period_of(d: NaiveDate) -> i64 {
    i64::from(d.year() - 2000) * 12 + i64::from(d.month())
}

pub fn month_of(period: i64) -> NaiveDate {
    let y = 2000 + (period - 1).div_euclid(12) as i32;
    let m = (period - 1).rem_euclid(12) as u32 + 1;
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid month")
}

fn month_end(period: i64) -> NaiveDate {
    month_of(period + 1) - Duration::days(1)
}

/// The schools of the analysis: the actor's scope, optionally one province.
async fn schools(db: &Db, actor: &Actor, q: &AnalysisQuery) -> AppResult<Vec<school::Model>> {
    let mut sq = school::Entity::find().filter(school_scope(actor));
    if let Some(code) = q.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::filter_province(&db.conn, code, "province").await?;
        sq = sq.filter(school::Column::ProvinceId.eq(p.id));
    }
    Ok(sq.all(&db.conn).await?)
}

/// The window in months. Empty ends default to the figures on record: the month of the
/// latest snapshot, and twelve months before it (not before the first snapshot).
async fn months(db: &Db, q: &AnalysisQuery, tz: Tz) -> AppResult<(i64, i64)> {
    let today = Utc::now().with_timezone(&tz).date_naive();
    let span: Option<(Option<NaiveDate>, Option<NaiveDate>)> = snapshot::Entity::find()
        .select_only()
        .column_as(snapshot::Column::TakenOn.min(), "first")
        .column_as(snapshot::Column::TakenOn.max(), "last")
        .filter(snapshot::Column::TakenOn.lte(today))
        .into_tuple()
        .one(&db.conn)
        .await?;
    let (first, last) = span.unwrap_or((None, None));
    let parse = |raw: Option<&str>, field: &str| -> AppResult<Option<NaiveDate>> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => kinds::day(s)
                .map(Some)
                .map_err(|m| AppError::invalid(field, m)),
        }
    };
    let to = period_of(parse(q.to.as_deref(), "to")?.or(last).unwrap_or(today));
    let from = match parse(q.from.as_deref(), "from")? {
        Some(d) => period_of(d),
        None => (to - 11).max(first.map(period_of).unwrap_or(to - 11)),
    };
    if to < from {
        return Err(AppError::invalid("to", Msg::new("error-end-before-start")));
    }
    if to - from > 119 {
        return Err(AppError::invalid(
            "from",
            Msg::new("error-range-too-long").arg("max", 3650),
        ));
    }
    Ok((from, to))
}

/// Each school's first treatment period (absent = never treated).
async fn first_treated(
    db: &Db,
    actor: &Actor,
    treatment: Treatment,
    schools: &[school::Model],
    tz: Tz,
) -> AppResult<HashMap<i64, i64>> {
    let mut first: HashMap<i64, i64> = HashMap::new();
    let mut note = |school_id: i64, day: NaiveDate| {
        let p = period_of(day);
        first
            .entry(school_id)
            .and_modify(|x| *x = (*x).min(p))
            .or_insert(p);
    };
    match treatment {
        Treatment::Session => {
            let rows: Vec<(i64, chrono::DateTime<Utc>)> = session::Entity::find()
                .select_only()
                .column(session::Column::SchoolId)
                .column_as(session::Column::StartsAt.min(), "first")
                .filter(session_scope(actor))
                .filter(session::Column::Status.eq("held"))
                .group_by(session::Column::SchoolId)
                .into_tuple()
                .all(&db.conn)
                .await?;
            for (s, at) in rows {
                note(s, at.with_timezone(&tz).date_naive());
            }
        }
        Treatment::Wave => {
            let rows: Vec<(Option<i64>, Option<chrono::DateTime<Utc>>)> = message::Entity::find()
                .select_only()
                .column(message::Column::SchoolId)
                .column_as(message::Column::DeliveredAt.min(), "first")
                .filter(message::Column::DeliveredAt.is_not_null())
                .filter(message::Column::SchoolId.is_not_null())
                .group_by(message::Column::SchoolId)
                .into_tuple()
                .all(&db.conn)
                .await?;
            for (s, at) in rows {
                if let (Some(s), Some(at)) = (s, at) {
                    note(s, at.with_timezone(&tz).date_naive());
                }
            }
        }
        Treatment::Channel(ch) => {
            let acts = activity::Entity::find()
                .filter(activity_scope(actor))
                .filter(activity::Column::Channel.eq(ch.code()))
                .filter(activity::Column::Status.ne("cancelled"))
                .all(&db.conn)
                .await?;
            for a in acts {
                let day = a.starts_at.with_timezone(&tz).date_naive();
                for s in schools {
                    let hit = match (a.school_id, a.province_id) {
                        (Some(id), _) => id == s.id,
                        (None, Some(p)) => p == s.province_id,
                        (None, None) => true,
                    };
                    if hit {
                        note(s.id, day);
                    }
                }
            }
        }
    }
    Ok(first)
}

/// The longest a school's figures are carried forward before it leaves the panel.
const MAX_GAP_DAYS: i64 = 92;

/// One row of the exported panel.
#[derive(Debug, Clone, Serialize)]
pub struct PanelRow {
    pub unit: String,
    pub period: i64,
    /// Coverage in percent at the end of the month (the latest snapshot on or before it).
    pub outcome: f64,
    /// The first treated period, 0 = never (within the window: later treatment counts as never).
    pub first_treated: i64,
    pub province: String,
}

/// The balanced school panel: schools with a snapshot on or before the first month's end,
/// each month's coverage carried forward from the latest snapshot.
pub async fn panel(db: &Db, actor: &Actor, q: &AnalysisQuery, tz: Tz) -> AppResult<Vec<PanelRow>> {
    Ok(panel_window(db, actor, q, tz).await?.0)
}

/// The panel and the window (first and last period) it was built for.
pub async fn panel_window(
    db: &Db,
    actor: &Actor,
    q: &AnalysisQuery,
    tz: Tz,
) -> AppResult<(Vec<PanelRow>, i64, i64)> {
    let treatment = Treatment::parse(q.treatment.as_deref().unwrap_or(""))
        .map_err(|m| AppError::invalid("treatment", m))?;
    let (from, to) = months(db, q, tz).await?;
    let schools = schools(db, actor, q).await?;
    let firsts = first_treated(db, actor, treatment, &schools, tz).await?;
    let provinces: HashMap<i64, String> = province::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p.code))
        .collect();
    let ids: Vec<i64> = schools.iter().map(|s| s.id).collect();
    let mut series: HashMap<i64, Vec<(NaiveDate, i32, i32)>> = HashMap::new();
    let last_day = month_end(to);
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, NaiveDate, i32, i32)> = snapshot::Entity::find()
            .select_only()
            .column(snapshot::Column::SchoolId)
            .column(snapshot::Column::TakenOn)
            .column(snapshot::Column::Enrolled)
            .column(snapshot::Column::Insured)
            .filter(snapshot::Column::SchoolId.is_in(chunk.to_vec()))
            .filter(snapshot::Column::TakenOn.lte(last_day))
            .into_tuple()
            .all(&db.conn)
            .await?;
        for (s, d, e, i) in rows {
            series.entry(s).or_default().push((d, e, i));
        }
    }
    let mut out = Vec::new();
    for s in &schools {
        let Some(points) = series.get_mut(&s.id) else {
            continue;
        };
        points.sort_by_key(|p| p.0);
        // Schools without figures by the end of the first month would unbalance the panel.
        if points[0].0 > month_end(from) {
            continue;
        }
        let g = firsts.get(&s.id).copied().filter(|g| *g <= to).unwrap_or(0);
        let mut k = 0;
        let mut rows = Vec::with_capacity((to - from + 1) as usize);
        let mut usable = true;
        for period in from..=to {
            let end = month_end(period);
            while k + 1 < points.len() && points[k + 1].0 <= end {
                k += 1;
            }
            let (day, e, i) = points[k];
            // Carrying figures forward is fine for a month or two; a school silent for longer
            // (or with nobody enrolled) would enter the panel as a flat, made-up line.
            if (end - day).num_days() > MAX_GAP_DAYS || e <= 0 {
                usable = false;
                break;
            }
            rows.push(PanelRow {
                unit: s.code.clone(),
                period,
                outcome: pct(i.into(), e.into()),
                first_treated: g,
                province: provinces.get(&s.province_id).cloned().unwrap_or_default(),
            });
        }
        if usable {
            out.extend(rows);
        }
    }
    Ok((out, from, to))
}

/// The panel as the `analyze did --panel FILE --cluster province` CSV.
pub fn panel_csv(rows: &[PanelRow]) -> AppResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AppError::Internal(anyhow::anyhow!("csv: {e}"));
    w.write_record(["unit", "period", "outcome", "first_treated", "province"])
        .map_err(err)?;
    for r in rows {
        w.write_record([
            crate::enrollment::coverage::csv_text(&r.unit),
            r.period.to_string(),
            format!("{:.4}", r.outcome),
            r.first_treated.to_string(),
            r.province.clone(),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventTime {
    /// Months since the first treatment (0 = the month it started).
    pub e: i64,
    pub att: f64,
    pub se: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DidView {
    pub treatment: String,
    pub control: String,
    pub first_month: NaiveDate,
    pub last_month: NaiveDate,
    pub schools: usize,
    pub treated_schools: usize,
    pub clusters: Option<usize>,
    /// The overall average effect on treated schools, percentage points, with a 95% interval.
    pub att: f64,
    pub se: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub event_study: Vec<EventTime>,
    /// The pre-trend test: p-value of "no effect before treatment" (small = a warning sign).
    pub pretest_p: Option<f64>,
    /// The result in the `analyze did` JSON form.
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
    /// Plain-language caveats.
    pub warnings: Vec<String>,
}

/// Callaway & Sant'Anna on the school panel, clustered by province.
pub async fn did(db: &Db, actor: &Actor, q: &AnalysisQuery, tz: Tz) -> AppResult<DidView> {
    let (rows, from, to) = panel_window(db, actor, q, tz).await?;
    let control = match q.control.as_deref().unwrap_or("never") {
        "" | "never" => ControlGroup::NeverTreated,
        "notyet" => ControlGroup::NotYetTreated,
        _ => {
            return Err(AppError::invalid(
                "control",
                Msg::new("error-one-of").arg("allowed", "never, notyet"),
            ))
        }
    };
    let mut units: BTreeMap<String, (i64, String)> = BTreeMap::new();
    let mut outcome: HashMap<(String, i64), f64> = HashMap::new();
    for r in &rows {
        units.insert(r.unit.clone(), (r.first_treated, r.province.clone()));
        outcome.insert((r.unit.clone(), r.period), r.outcome);
    }
    if units.is_empty() {
        return Err(AppError::invalid("from", Msg::new("error-no-panel")));
    }
    let periods: Vec<i64> = (from..=to).collect();
    let unit_ids: Vec<String> = units.keys().cloned().collect();
    let firsts: Vec<i64> = units.values().map(|(g, _)| *g).collect();
    let clusters: Vec<String> = units.values().map(|(_, p)| p.clone()).collect();
    let mut y = Vec::with_capacity(unit_ids.len() * periods.len());
    for u in &unit_ids {
        for p in &periods {
            y.push(*outcome.get(&(u.clone(), *p)).unwrap_or(&0.0));
        }
    }
    // Schools already treated when the window starts cannot be compared and are not counted.
    let treated = firsts.iter().filter(|g| **g > from).count();
    let in_scope = schools(db, actor, q).await?.len();
    // Clustering by province needs at least two of them (a province's own staff see one).
    let n_provinces = clusters.iter().collect::<HashSet<_>>().len();
    let cluster = n_provinces >= 2;
    let panel = Panel::new(
        unit_ids.clone(),
        periods,
        firsts,
        y,
        cluster.then_some(clusters),
    )
    .map_err(|e| AppError::BadRequest(Msg::new("error-analysis").arg("detail", e.to_string())))?;
    let a = analytics::staggered_did(
        &panel,
        &StaggeredOptions {
            control_group: control,
            cluster,
        },
    )
    .map_err(|e| AppError::BadRequest(Msg::new("error-analysis").arg("detail", e.to_string())))?;
    let r = &a.result;
    // With few clusters the normal reference is too narrow: t with G − 1 degrees of freedom.
    let crit = match a.n_clusters {
        Some(g) if cluster && g >= 2 => analytics::t_critical(0.95, (g - 1) as f64),
        _ => 1.96,
    };
    let interval = |att: f64, se: Option<f64>| match se {
        Some(se) => (Some(att - crit * se), Some(att + crit * se)),
        None => (None, None),
    };
    let (lo, hi) = interval(r.simple.att, r.simple.se);
    let mut warnings: Vec<String> = a.warnings.iter().map(|w| w.message.clone()).collect();
    if !cluster {
        warnings.push(
            "All schools are in one province: standard errors treat schools as independent, which understates uncertainty if schools share provincial shocks.".into(),
        );
    }
    if in_scope > unit_ids.len() {
        warnings.push(format!(
            "{} of {} schools are left out: no coverage figures by the end of the first month, none for more than three months in a row, or nobody enrolled (the panel must be balanced).",
            in_scope - unit_ids.len(),
            in_scope
        ));
    }
    if let Some(p) = r.pretest.as_ref().map(|p| p.p) {
        if p < 0.05 {
            warnings.push(format!(
                "Before treatment, treated and control schools already moved differently (pre-trend test p = {p:.3}): the estimate may mix the campaign with other differences."
            ));
        }
    }
    Ok(DidView {
        treatment: q.treatment.clone().unwrap_or_else(|| "session".into()),
        control: if control == ControlGroup::NeverTreated {
            "never".into()
        } else {
            "notyet".into()
        },
        first_month: month_of(from),
        last_month: month_of(to),
        schools: unit_ids.len(),
        treated_schools: treated,
        clusters: a.n_clusters,
        att: r.simple.att,
        se: r.simple.se,
        lo,
        hi,
        event_study: r
            .dynamic
            .event_times
            .iter()
            .map(|e| {
                let (lo, hi) = interval(e.att, e.se);
                EventTime {
                    e: e.e,
                    att: e.att,
                    se: e.se,
                    lo,
                    hi,
                }
            })
            .collect(),
        pretest_p: r.pretest.as_ref().map(|p| p.p),
        result: serde_json::from_str(&a.result_json()).unwrap_or_default(),
        warnings,
    })
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SchoolEngagement {
    pub school_id: i64,
    pub code: String,
    pub name: String,
    pub province: String,
    pub enrolled: i32,
    pub sessions_held: i64,
    pub attendance_students: i64,
    pub attendance_parents: i64,
    pub questions: i64,
    pub messages_sent: i64,
    pub messages_delivered: i64,
    pub messages_opened: i64,
    pub messages_clicked: i64,
    pub guardians_reached: i64,
    /// Media pieces of national outlets or the school's province.
    pub media_pieces: i64,
    /// App notifications aimed at the school, its province or the nation.
    pub app_notifications: i64,
}

/// Engagement per school between two days (inclusive, Vietnam time).
pub async fn engagement(
    db: &Db,
    actor: &Actor,
    q: &AnalysisQuery,
    tz: Tz,
) -> AppResult<Vec<SchoolEngagement>> {
    let (from, to) = months(db, q, tz).await?;
    let start = kinds::local(month_of(from), NaiveTime::MIN, tz);
    let end = kinds::local(month_of(to + 1), NaiveTime::MIN, tz);
    let schools = schools(db, actor, q).await?;
    let provinces: HashMap<i64, String> = province::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|p| (p.id, p.code))
        .collect();
    let mut out: BTreeMap<i64, SchoolEngagement> = schools
        .iter()
        .map(|s| {
            (
                s.id,
                SchoolEngagement {
                    school_id: s.id,
                    code: s.code.clone(),
                    name: s.name.clone(),
                    province: provinces.get(&s.province_id).cloned().unwrap_or_default(),
                    enrolled: s.enrolled_students,
                    ..Default::default()
                },
            )
        })
        .collect();
    // Sessions held, attendance, questions.
    let held: Vec<(i64, i64, i64, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::SchoolId)
        .column_as(session::Column::Id.count(), "n")
        .column_as(Expr::cust("CAST(SUM(attendance_students) AS BIGINT)"), "s")
        .column_as(Expr::cust("CAST(SUM(attendance_parents) AS BIGINT)"), "p")
        .filter(session_scope(actor))
        .filter(session::Column::Status.eq("held"))
        .filter(session::Column::StartsAt.gte(start))
        .filter(session::Column::StartsAt.lt(end))
        .group_by(session::Column::SchoolId)
        .into_tuple()
        .all(&db.conn)
        .await?;
    for (s, n, st, pa) in held {
        if let Some(e) = out.get_mut(&s) {
            e.sessions_held = n;
            e.attendance_students = st;
            e.attendance_parents = pa;
        }
    }
    let qs: Vec<(i64, i64)> = question::Entity::find()
        .select_only()
        .column(session::Column::SchoolId)
        .column_as(question::Column::Id.count(), "n")
        .inner_join_on_session()
        .filter(session_scope(actor))
        .filter(session::Column::Status.eq("held"))
        .filter(session::Column::StartsAt.gte(start))
        .filter(session::Column::StartsAt.lt(end))
        .group_by(session::Column::SchoolId)
        .into_tuple()
        .all(&db.conn)
        .await?;
    for (s, n) in qs {
        if let Some(e) = out.get_mut(&s) {
            e.questions = n;
        }
    }
    // Messages to the school's parents.
    let msgs: Vec<(Option<i64>, i64, i64, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::SchoolId)
        .column_as(message::Column::Id.count(), "sent")
        .column_as(Expr::cust("COUNT(delivered_at)"), "delivered")
        .column_as(Expr::cust("COUNT(DISTINCT guardian_id)"), "guardians")
        .filter(message::Column::SentAt.gte(start))
        .filter(message::Column::SentAt.lt(end))
        .filter(message::Column::SchoolId.is_not_null())
        .group_by(message::Column::SchoolId)
        .into_tuple()
        .all(&db.conn)
        .await?;
    for (s, sent, delivered, guardians) in msgs {
        if let Some(e) = s.and_then(|s| out.get_mut(&s)) {
            e.messages_sent = sent;
            e.messages_delivered = delivered;
            e.guardians_reached = guardians;
        }
    }
    for (kind, opened) in [("opened", true), ("clicked", false)] {
        let rows: Vec<(Option<i64>, i64)> = event::Entity::find()
            .select_only()
            .column(message::Column::SchoolId)
            .column_as(Expr::cust("COUNT(DISTINCT message_events.message_id)"), "n")
            .inner_join_on_message()
            .filter(event::Column::Kind.eq(kind))
            .filter(event::Column::At.gte(start))
            .filter(event::Column::At.lt(end))
            .group_by(message::Column::SchoolId)
            .into_tuple()
            .all(&db.conn)
            .await?;
        for (s, n) in rows {
            if let Some(e) = s.and_then(|s| out.get_mut(&s)) {
                if opened {
                    e.messages_opened = n;
                } else {
                    e.messages_clicked = n;
                }
            }
        }
    }
    // Media pieces by outlet province (national outlets count everywhere).
    let pieces: Vec<(Option<i64>, i64)> = piece::Entity::find()
        .select_only()
        .column(outlet::Column::ProvinceId)
        .column_as(piece::Column::Id.count(), "n")
        .inner_join_on_outlet()
        .filter(piece::Column::PublishedOn.gte(month_of(from)))
        .filter(piece::Column::PublishedOn.lt(month_of(to + 1)))
        .group_by(outlet::Column::ProvinceId)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let national_pieces: i64 = pieces
        .iter()
        .filter(|(p, _)| p.is_none())
        .map(|(_, n)| n)
        .sum();
    let by_province: HashMap<i64, i64> = pieces
        .into_iter()
        .filter_map(|(p, n)| p.map(|p| (p, n)))
        .collect();
    let notes = activity::Entity::find()
        .filter(activity_scope(actor))
        .filter(activity::Column::Channel.eq(Channel::AppNotification.code()))
        .filter(activity::Column::Status.ne("cancelled"))
        .filter(activity::Column::StartsAt.gte(start))
        .filter(activity::Column::StartsAt.lt(end))
        .all(&db.conn)
        .await?;
    for s in &schools {
        if let Some(e) = out.get_mut(&s.id) {
            e.media_pieces =
                national_pieces + by_province.get(&s.province_id).copied().unwrap_or(0);
            e.app_notifications = notes
                .iter()
                .filter(|a| match (a.school_id, a.province_id) {
                    (Some(id), _) => id == s.id,
                    (None, Some(p)) => p == s.province_id,
                    (None, None) => true,
                })
                .count() as i64;
        }
    }
    Ok(out.into_values().collect())
}

trait JoinHelpers: Sized {
    fn inner_join_on_session(self) -> Self;
    fn inner_join_on_message(self) -> Self;
    fn inner_join_on_outlet(self) -> Self;
}

impl<E: EntityTrait> JoinHelpers for sea_orm::Select<E> {
    fn inner_join_on_session(self) -> Self {
        self.join(
            sea_orm::JoinType::InnerJoin,
            question::Entity::belongs_to(session::Entity)
                .from(question::Column::SessionId)
                .to(session::Column::Id)
                .into(),
        )
    }
    fn inner_join_on_message(self) -> Self {
        self.join(
            sea_orm::JoinType::InnerJoin,
            event::Entity::belongs_to(message::Entity)
                .from(event::Column::MessageId)
                .to(message::Column::Id)
                .into(),
        )
    }
    fn inner_join_on_outlet(self) -> Self {
        self.join(
            sea_orm::JoinType::InnerJoin,
            piece::Entity::belongs_to(outlet::Entity)
                .from(piece::Column::OutletId)
                .to(outlet::Column::Id)
                .into(),
        )
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coefficient {
    pub name: String,
    pub estimate: f64,
    /// None where the data leave no variation to estimate it from.
    pub se: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub p: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DoseResponse {
    /// Always "association": schools were not assigned engagement at random.
    pub kind: String,
    pub schools: usize,
    pub clusters: usize,
    /// Cluster-robust (CR1, by province) estimates with t(G−1) intervals.
    pub coefficients: Vec<Coefficient>,
    pub r_squared: Option<f64>,
    /// Points for a binned scatter: engagement per 100 students and mean uplift.
    pub bins: Vec<(f64, f64)>,
    pub warnings: Vec<String>,
}

/// OLS of each school's uplift (coverage at the end of `to` minus at the start of `from`,
/// points) on session attendance per 100 enrolled students and messages delivered per 100,
/// with baseline coverage and school level as controls; CR1 by province.
pub async fn dose_response(
    db: &Db,
    actor: &Actor,
    q: &AnalysisQuery,
    tz: Tz,
) -> AppResult<DoseResponse> {
    let (mut from, to) = months(db, q, tz).await?;
    // Without a chosen start the window begins a month after the first figures, which then
    // serve as the baseline.
    if q.from.as_deref().is_none_or(|s| s.trim().is_empty()) && from < to {
        from += 1;
    }
    let mut q = q.clone();
    q.from = Some(month_of(from).to_string());
    q.to = Some(month_end(to).to_string());
    let q = &q;
    let eng = engagement(db, actor, q, tz).await?;
    let schools: HashMap<i64, school::Model> = schools(db, actor, q)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    // The baseline is coverage at the end of the month before the window, so engagement in
    // the window's first month counts toward the change, not the starting point.
    let mut before = q.clone();
    before.from = Some(month_of(from - 1).to_string());
    before.to = Some(month_end(to).to_string());
    let (rows, _, _) = panel_window(db, actor, &before, tz).await?;
    let mut first: HashMap<String, f64> = HashMap::new();
    let mut last: HashMap<String, f64> = HashMap::new();
    for r in &rows {
        if r.period == from - 1 {
            first.insert(r.unit.clone(), r.outcome);
        }
        if r.period == to {
            last.insert(r.unit.clone(), r.outcome);
        }
    }
    let levels: Vec<&str> = SchoolLevel::ALL.iter().map(|l| l.code()).collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut clusters = Vec::new();
    let mut points = Vec::new();
    let mut present_levels: HashSet<String> = HashSet::new();
    for e in &eng {
        if let Some(s) = schools.get(&e.school_id) {
            present_levels.insert(s.level.clone());
        }
    }
    // Dummies for the levels present, the first one as the reference.
    let mut used: Vec<&str> = levels
        .iter()
        .copied()
        .filter(|l| present_levels.contains(*l))
        .collect();
    if !used.is_empty() {
        used.remove(0);
    }
    for e in &eng {
        let (Some(b), Some(c), Some(s)) = (
            first.get(&e.code),
            last.get(&e.code),
            schools.get(&e.school_id),
        ) else {
            continue;
        };
        if e.enrolled <= 0 {
            continue;
        }
        let per100 = |n: i64| 100.0 * n as f64 / f64::from(e.enrolled);
        let attendance = per100(e.attendance_students + e.attendance_parents);
        let delivered = per100(e.messages_delivered);
        let mut row = vec![1.0, attendance, delivered, *b];
        for l in &used {
            row.push(if s.level == *l { 1.0 } else { 0.0 });
        }
        x.push(row);
        y.push(c - b);
        clusters.push(e.province.clone());
        points.push((attendance, c - b));
    }
    let mut warnings = vec![
        "An association, not a cause: schools that engaged more may differ in other ways."
            .to_string(),
    ];
    let mut n_clusters = clusters.iter().collect::<HashSet<_>>().len();
    if n_clusters < 2 {
        warnings.push(
            "All schools are in one province: standard errors are clustered by school instead."
                .into(),
        );
        clusters = (0..y.len()).map(|i| i.to_string()).collect();
        n_clusters = clusters.len();
    }
    if n_clusters < 20 {
        warnings.push(format!(
            "Only {n_clusters} provinces: cluster-robust intervals are unreliable with fewer than about 20 clusters."
        ));
    }
    let mut names = vec![
        "intercept".to_string(),
        "attendance_per_100".into(),
        "delivered_per_100".into(),
        "baseline_coverage".into(),
    ];
    names.extend(used.iter().map(|l| format!("level_{l}")));
    // A regressor that does not vary (no messages in the period, say) cannot be estimated:
    // leave it out and say so.
    let keep: Vec<usize> = (0..names.len())
        .filter(|&k| k == 0 || x.iter().any(|r| (r[k] - x[0][k]).abs() > 1e-12))
        .collect();
    for (k, name) in names.iter().enumerate() {
        if !keep.contains(&k) {
            warnings.push(format!(
                "`{name}` does not vary across schools in this period and is left out."
            ));
        }
    }
    let x: Vec<Vec<f64>> = x
        .iter()
        .map(|r| keep.iter().map(|&k| r[k]).collect())
        .collect();
    let names: Vec<String> = keep.iter().map(|&k| names[k].clone()).collect();
    let fit = analytics::ols_clustered(&x, &y, &clusters).map_err(|e| {
        AppError::BadRequest(Msg::new("error-analysis").arg("detail", e.to_string()))
    })?;
    let inf = fit
        .clustered
        .as_ref()
        .map(|c| c.inference.clone())
        .unwrap_or_else(|| fit.classical.clone());
    let coefficients = names
        .into_iter()
        .enumerate()
        .map(|(k, name)| Coefficient {
            name,
            estimate: fit.coefficients[k],
            se: finite(inf.std_errors[k]),
            lo: finite(inf.ci_lower[k]),
            hi: finite(inf.ci_upper[k]),
            p: finite(inf.p_values[k]),
        })
        .collect();
    // Ten bins by attendance (equal counts).
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bins = points
        .chunks(points.len().div_ceil(10).max(1))
        .map(|c| {
            let n = c.len() as f64;
            (
                c.iter().map(|p| p.0).sum::<f64>() / n,
                c.iter().map(|p| p.1).sum::<f64>() / n,
            )
        })
        .collect();
    Ok(DoseResponse {
        kind: "association".into(),
        schools: y.len(),
        clusters: n_clusters,
        coefficients,
        r_squared: finite(fit.r_squared),
        bins,
        warnings,
    })
}
