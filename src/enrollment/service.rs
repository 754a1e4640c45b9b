//! Recording enrollment snapshots: one per school and day; a correction keeps the earlier
//! values in the history.
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{history, snapshot};
use crate::audit;
use crate::auth::actor::Actor;
use crate::campaigns::kinds::{self, loose_number};
use crate::campaigns::service::{require_planner, PlaceRef};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::optional_text;
use crate::org::entity::school;
use crate::org::service::school_scope;
use crate::web::paging::{page_of, PageParams, Paged};

pub const MAX_STUDENTS: i64 = 200_000;

/// Counts that passed the checks: state-funded ≤ insured ≤ enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub enrolled: i32,
    pub insured: i32,
    pub state_funded: i32,
}

impl Counts {
    /// Parses the three counts, recording problems under their field names.
    pub fn parse(
        enrolled: &Option<String>,
        insured: &Option<String>,
        state_funded: &Option<String>,
        errors: &mut FieldErrors,
    ) -> Option<Counts> {
        let required = |raw: &Option<String>| match raw {
            None => Err(Msg::new("error-required")),
            Some(_) => kinds::count(raw, 0, MAX_STUDENTS),
        };
        let e = errors.take("enrolled", required(enrolled));
        let i = errors.take("insured", required(insured));
        let s = errors.take("state_funded", kinds::count(state_funded, 0, MAX_STUDENTS));
        let (e, i, s) = (e?, i?, s?);
        let mut ok = true;
        if i > e {
            errors.add(
                "insured",
                Msg::new("error-more-than").arg("other", "enrolled"),
            );
            ok = false;
        }
        if s > i {
            errors.add(
                "state_funded",
                Msg::new("error-more-than").arg("other", "insured"),
            );
            ok = false;
        }
        ok.then_some(Counts {
            enrolled: e as i32,
            insured: i as i32,
            state_funded: s as i32,
        })
    }
}

/// Coverage in percent (0 when nobody is enrolled).
pub fn pct(insured: i64, enrolled: i64) -> f64 {
    if enrolled <= 0 {
        0.0
    } else {
        100.0 * insured as f64 / enrolled as f64
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SnapshotView {
    pub id: i64,
    pub school: PlaceRef,
    pub taken_on: NaiveDate,
    pub enrolled: i32,
    pub insured: i32,
    pub state_funded: i32,
    /// insured / enrolled, percent.
    pub coverage: f64,
    pub source: String,
    pub updated_at: DateTime<Utc>,
    /// Earlier values replaced by corrections, newest first.
    pub history: Vec<HistoryView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub enrolled: i32,
    pub insured: i32,
    pub state_funded: i32,
    pub source: String,
    pub recorded_at: DateTime<Utc>,
    pub replaced_at: DateTime<Utc>,
}

/// A snapshot as a form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SnapshotDraft {
    /// The school by code (or give `school_id`).
    pub school_code: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub school_id: Option<String>,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub taken_on: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = i64)]
    pub enrolled: Option<String>,
    /// Insured students, state-funded ones included.
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = i64)]
    pub insured: Option<String>,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub state_funded: Option<String>,
    /// Where the numbers come from (e.g. `VSS report`, `school`); `api` when empty.
    pub source: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct SnapshotFilter {
    /// School code.
    pub school: Option<String>,
    /// Province code.
    pub province: Option<String>,
    /// First day, yyyy-mm-dd, inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
}

/// What `record` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Corrected,
    Unchanged,
}

/// Writes one snapshot inside the caller's transaction: new, corrected (the old values go to
/// the history) or unchanged. Audit entries are the caller's.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    school_id: i64,
    day: NaiveDate,
    counts: Counts,
    source: &str,
    now: DateTime<Utc>,
) -> AppResult<(snapshot::Model, Outcome, Option<Counts>)> {
    let existing = snapshot::Entity::find()
        .filter(snapshot::Column::SchoolId.eq(school_id))
        .filter(snapshot::Column::TakenOn.eq(day))
        .one(conn)
        .await?;
    match existing {
        None => {
            let m = snapshot::ActiveModel {
                school_id: Set(school_id),
                taken_on: Set(day),
                enrolled: Set(counts.enrolled),
                insured: Set(counts.insured),
                state_funded: Set(counts.state_funded),
                source: Set(source.to_string()),
                created_at: Set(now),
                updated_at: Set(now),
                updated_by: Set(actor.user_id),
                ..Default::default()
            }
            .insert(conn)
            .await?;
            Ok((m, Outcome::Created, None))
        }
        Some(old) => {
            let before = Counts {
                enrolled: old.enrolled,
                insured: old.insured,
                state_funded: old.state_funded,
            };
            if before == counts && old.source == source {
                return Ok((old, Outcome::Unchanged, None));
            }
            history::ActiveModel {
                snapshot_id: Set(old.id),
                enrolled: Set(old.enrolled),
                insured: Set(old.insured),
                state_funded: Set(old.state_funded),
                source: Set(old.source.clone()),
                recorded_at: Set(old.updated_at),
                replaced_at: Set(now),
                replaced_by: Set(actor.user_id),
                ..Default::default()
            }
            .insert(conn)
            .await?;
            let mut m: snapshot::ActiveModel = old.into();
            m.enrolled = Set(counts.enrolled);
            m.insured = Set(counts.insured);
            m.state_funded = Set(counts.state_funded);
            m.source = Set(source.to_string());
            m.updated_at = Set(now);
            m.updated_by = Set(actor.user_id);
            Ok((m.update(conn).await?, Outcome::Corrected, Some(before)))
        }
    }
}

pub fn source_of(raw: &str, default: &str) -> Result<String, Msg> {
    Ok(optional_text(raw, 32)?.unwrap_or_else(|| default.to_string()))
}

/// Records one snapshot from a form or the API.
pub async fn save(db: &Db, actor: &Actor, d: &SnapshotDraft) -> AppResult<(SnapshotView, Outcome)> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let mut errors = FieldErrors::new();
    let school = find_school(&*tx, actor, d, &mut errors).await?;
    let day = errors.take("taken_on", kinds::day(&d.taken_on));
    let counts = Counts::parse(&d.enrolled, &d.insured, &d.state_funded, &mut errors);
    let source = errors.take("source", source_of(&d.source, "api"));
    if let Some(day) = day {
        if day > Utc::now().date_naive() + chrono::Duration::days(1) {
            errors.add("taken_on", Msg::new("error-date-future"));
        }
    }
    errors.into_result()?;
    let school = school.expect("checked");
    let counts = counts.expect("checked");
    let (m, outcome, before) = record(
        &*tx,
        actor,
        school.id,
        day.expect("checked"),
        counts,
        &source.expect("checked"),
        Utc::now(),
    )
    .await?;
    if outcome != Outcome::Unchanged {
        audit::record(
            &*tx,
            actor,
            if outcome == Outcome::Created { "enrollment.recorded" } else { "enrollment.corrected" },
            "enrollment_snapshot",
            Some(m.id.to_string()),
            json!({"school_id": m.school_id, "taken_on": m.taken_on.to_string(), "before": before, "after": counts, "source": m.source}),
        )
        .await?;
    }
    tx.commit().await?;
    db.figures_changed();
    Ok((get(db, actor, m.id).await?, outcome))
}

async fn find_school<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    d: &SnapshotDraft,
    errors: &mut FieldErrors,
) -> AppResult<Option<school::Model>> {
    let (field, found) = if let Some(raw) = &d.school_id {
        (
            "school_id",
            match raw.trim().parse::<i64>() {
                Ok(id) => school::Entity::find_by_id(id).one(conn).await?,
                Err(_) => None,
            },
        )
    } else if d.school_code.trim().is_empty() {
        errors.add("school_code", Msg::new("error-required"));
        return Ok(None);
    } else {
        (
            "school_code",
            school::Entity::find()
                .filter(school::Column::Code.eq(d.school_code.trim().to_uppercase()))
                .one(conn)
                .await?,
        )
    };
    match found {
        Some(s) if actor.sees_school(s.id, s.province_id) => Ok(Some(s)),
        _ => {
            errors.add(
                field,
                Msg::new("error-unknown-school").arg("code", d.school_code.trim()),
            );
            Ok(None)
        }
    }
}

async fn views<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<snapshot::Model>,
    with_history: bool,
) -> AppResult<Vec<SnapshotView>> {
    let schools: std::collections::HashMap<i64, school::Model> = school::Entity::find()
        .filter(school::Column::Id.is_in(rows.iter().map(|r| r.school_id).collect::<Vec<_>>()))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut hist: std::collections::HashMap<i64, Vec<HistoryView>> =
        std::collections::HashMap::new();
    if with_history {
        for h in history::Entity::find()
            .filter(
                history::Column::SnapshotId.is_in(rows.iter().map(|r| r.id).collect::<Vec<_>>()),
            )
            .order_by_desc(history::Column::ReplacedAt)
            .order_by_desc(history::Column::Id)
            .all(conn)
            .await?
        {
            hist.entry(h.snapshot_id).or_default().push(HistoryView {
                enrolled: h.enrolled,
                insured: h.insured,
                state_funded: h.state_funded,
                source: h.source,
                recorded_at: h.recorded_at,
                replaced_at: h.replaced_at,
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = schools.get(&r.school_id);
            SnapshotView {
                id: r.id,
                school: PlaceRef {
                    id: r.school_id,
                    code: s.map(|s| s.code.clone()).unwrap_or_default(),
                    name: s.map(|s| s.name.clone()).unwrap_or_default(),
                },
                taken_on: r.taken_on,
                enrolled: r.enrolled,
                insured: r.insured,
                state_funded: r.state_funded,
                coverage: pct(r.insured.into(), r.enrolled.into()),
                source: r.source,
                updated_at: r.updated_at,
                history: hist.remove(&r.id).unwrap_or_default(),
            }
        })
        .collect())
}

fn in_scope(actor: &Actor) -> sea_orm::Condition {
    sea_orm::Condition::all().add(
        snapshot::Column::SchoolId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(school::Column::Id)
                .from(school::Entity)
                .cond_where(school_scope(actor))
                .to_owned(),
        ),
    )
}

pub async fn get(db: &Db, actor: &Actor, id: i64) -> AppResult<SnapshotView> {
    let m = snapshot::Entity::find_by_id(id)
        .filter(in_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(views(&db.conn, vec![m], true).await?.remove(0))
}

pub async fn list(
    db: &Db,
    actor: &Actor,
    f: &SnapshotFilter,
    page: PageParams,
) -> AppResult<Paged<SnapshotView>> {
    let mut q = snapshot::Entity::find().filter(in_scope(actor));
    if let Some(code) = f.school.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let ids: Vec<i64> = school::Entity::find()
            .filter(school::Column::Code.eq(code.to_uppercase()))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        q = q.filter(snapshot::Column::SchoolId.is_in(ids));
    }
    if let Some(code) = f.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::filter_province(&db.conn, code, "province").await?;
        q = q.filter(
            snapshot::Column::SchoolId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(school::Column::Id)
                    .from(school::Entity)
                    .and_where(school::Column::ProvinceId.eq(p.id))
                    .to_owned(),
            ),
        );
    }
    for (raw, field, lower) in [(&f.from, "from", true), (&f.to, "to", false)] {
        if let Some(s) = raw.as_deref().filter(|s| !s.trim().is_empty()) {
            let d = kinds::day(s).map_err(|m| AppError::invalid(field, m))?;
            q = q.filter(if lower {
                snapshot::Column::TakenOn.gte(d)
            } else {
                snapshot::Column::TakenOn.lte(d)
            });
        }
    }
    let (rows, total) = page_of(
        &db.conn,
        q.order_by_desc(snapshot::Column::TakenOn)
            .order_by_asc(snapshot::Column::SchoolId),
        page,
    )
    .await?;
    Ok(Paged::new(views(&db.conn, rows, false).await?, page, total))
}
