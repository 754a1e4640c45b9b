//! CSV import of enrollment snapshots. A dry run reports every bad row (row, column, reason)
//! and writes nothing; a commit writes every row in one transaction, or nothing.
//!
//! Columns (header row required, any order, English or Vietnamese names, accents optional):
//! `school_code` (ma_truong), `taken_on` (ngay), `enrolled` (si_so), `insured` (co_bhyt),
//! `state_funded` (ngan_sach), `source` (nguon). Insured counts include the state-funded.
use std::collections::{HashMap, HashSet};

use actix_web::web::Bytes;
use chrono::{NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::json;

use super::entity::snapshot;
use super::service::{self, Counts, Outcome};
use crate::audit;
use crate::auth::actor::Actor;
use crate::campaigns::kinds;
use crate::campaigns::service::require_planner;
use crate::db::Db;
use crate::error::{AppResult, FieldErrors, Msg};
use crate::imports::csv_stream::{self, Column, RowError, RowErrorView};
use crate::org::entity::school;
use crate::web::i18n::{I18n, Lang};

pub const KIND: &str = "enrollment";

const COLUMNS: &[Column] = &[
    Column {
        name: "school_code",
        aliases: &["school", "ma truong", "ma"],
        required: true,
    },
    Column {
        name: "taken_on",
        aliases: &["date", "ngay", "ngay chot"],
        required: true,
    },
    Column {
        name: "enrolled",
        aliases: &["si so", "so hoc sinh", "enrolled students"],
        required: true,
    },
    Column {
        name: "insured",
        aliases: &["co bhyt", "da co the", "so co bhyt"],
        required: true,
    },
    Column {
        name: "state_funded",
        aliases: &["ngan sach", "ngan sach dong", "state funded"],
        required: false,
    },
    Column {
        name: "source",
        aliases: &["nguon"],
        required: false,
    },
];

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: usize,
    pub invalid_rows: usize,
    pub to_create: usize,
    pub to_correct: usize,
    pub unchanged: usize,
    pub errors: Vec<RowError>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// `dry_run`, `pending`, `committed` or `rejected` (nothing written).
    pub status: String,
    pub import_id: Option<i64>,
    pub rows: usize,
    pub valid_rows: usize,
    pub invalid_rows: usize,
    pub to_create: usize,
    /// Rows that replace an existing snapshot of the same school and day (kept in history).
    pub to_correct: usize,
    pub unchanged: usize,
    pub errors: Vec<RowErrorView>,
}

impl Report {
    pub fn view(
        &self,
        i18n: &I18n,
        lang: Lang,
        status: &str,
        import_id: Option<i64>,
    ) -> ReportView {
        ReportView {
            status: status.into(),
            import_id,
            rows: self.rows,
            valid_rows: self.rows.saturating_sub(self.invalid_rows),
            invalid_rows: self.invalid_rows,
            to_create: self.to_create,
            to_correct: self.to_correct,
            unchanged: self.unchanged,
            errors: self.errors.iter().map(|e| e.view(i18n, lang)).collect(),
        }
    }

    pub fn counts(&self, written: usize) -> crate::imports::Counts {
        crate::imports::Counts {
            total: self.rows,
            valid: self.rows.saturating_sub(self.invalid_rows),
            invalid: self.invalid_rows,
            written,
        }
    }
}

struct Row {
    school_id: i64,
    day: NaiveDate,
    counts: Counts,
    source: String,
}

async fn plan<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    content: &[u8],
) -> AppResult<(Report, Vec<Row>)> {
    let (records, mut errors) =
        csv_stream::read_all(COLUMNS, Bytes::copy_from_slice(content)).await;
    let mut report = Report {
        rows: records.len(),
        ..Default::default()
    };
    let codes: HashSet<String> = records
        .iter()
        .filter_map(|r| r.get("school_code").map(str::to_uppercase))
        .collect();
    let mut schools: HashMap<String, school::Model> = HashMap::new();
    let codes: Vec<String> = codes.into_iter().collect();
    for chunk in codes.chunks(500) {
        for s in school::Entity::find()
            .filter(school::Column::Code.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            schools.insert(s.code.clone(), s);
        }
    }
    let mut bad: HashSet<u64> = errors.iter().map(|e| e.row).collect();
    let mut seen: HashMap<(i64, NaiveDate), u64> = HashMap::new();
    let mut rows = Vec::new();
    for r in &records {
        let mut fe = FieldErrors::new();
        let school = match r.get("school_code").map(str::to_uppercase) {
            None => {
                fe.add("school_code", Msg::new("error-required"));
                None
            }
            Some(code) => match schools.get(&code) {
                Some(s) if actor.sees_school(s.id, s.province_id) => Some(s),
                _ => {
                    fe.add(
                        "school_code",
                        Msg::new("error-unknown-school").arg("code", code),
                    );
                    None
                }
            },
        };
        let day = fe.take("taken_on", kinds::day(r.get("taken_on").unwrap_or("")));
        if day.is_some_and(|d| d > Utc::now().date_naive() + chrono::Duration::days(1)) {
            fe.add("taken_on", Msg::new("error-date-future"));
        }
        let text = |c: &str| r.get(c).map(str::to_string);
        let counts = Counts::parse(
            &text("enrolled"),
            &text("insured"),
            &text("state_funded"),
            &mut fe,
        );
        let source = fe.take(
            "source",
            service::source_of(r.get("source").unwrap_or(""), "import"),
        );
        if let (Some(s), Some(d)) = (school, day) {
            if let Some(first) = seen.insert((s.id, d), r.line) {
                fe.add(
                    "taken_on",
                    Msg::new("error-duplicate-row").arg("row", first),
                );
            }
        }
        if fe.is_empty() {
            rows.push(Row {
                school_id: school.expect("checked").id,
                day: day.expect("checked"),
                counts: counts.expect("checked"),
                source: source.expect("checked"),
            });
        } else {
            bad.insert(r.line);
            for e in fe.0 {
                errors.push(RowError::new(r.line, e.field, e.msg));
            }
        }
    }
    // What a commit would do to the rows already stored.
    let mut stored: HashMap<(i64, NaiveDate), snapshot::Model> = HashMap::new();
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.school_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in ids.chunks(500) {
        for s in snapshot::Entity::find()
            .filter(snapshot::Column::SchoolId.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            stored.insert((s.school_id, s.taken_on), s);
        }
    }
    for r in &rows {
        match stored.get(&(r.school_id, r.day)) {
            None => report.to_create += 1,
            Some(s)
                if s.enrolled == r.counts.enrolled
                    && s.insured == r.counts.insured
                    && s.state_funded == r.counts.state_funded
                    && s.source == r.source =>
            {
                report.unchanged += 1
            }
            Some(_) => report.to_correct += 1,
        }
    }
    errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.column.cmp(&b.column)));
    report.invalid_rows = bad.len();
    report.errors = errors;
    Ok((report, rows))
}

pub async fn dry_run(db: &Db, actor: &Actor, content: &[u8]) -> AppResult<Report> {
    require_planner(actor)?;
    Ok(plan(&db.conn, actor, content).await?.0)
}

/// Writes every row in one transaction, or nothing (the report then carries the errors).
pub async fn commit(
    db: &Db,
    actor: &Actor,
    filename: &str,
    content: Vec<u8>,
    pending: Option<i64>,
) -> AppResult<(Report, Option<i64>)> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let pending = match pending {
        Some(id) => Some(crate::imports::claim_pending(&*tx, actor, KIND, id).await?),
        None => None,
    };
    let (report, rows) = plan(&*tx, actor, &content).await?;
    if !report.errors.is_empty() {
        return Ok((report, None));
    }
    let now = Utc::now();
    let mut entries = Vec::new();
    for r in &rows {
        let (m, outcome, before) =
            service::record(&*tx, actor, r.school_id, r.day, r.counts, &r.source, now).await?;
        if outcome != Outcome::Unchanged {
            entries.push(audit::Entry {
                action: if outcome == Outcome::Created { "enrollment.recorded" } else { "enrollment.corrected" },
                entity_type: "enrollment_snapshot",
                entity_id: Some(m.id.to_string()),
                summary: json!({"school_id": m.school_id, "taken_on": m.taken_on.to_string(), "before": before, "after": r.counts, "via": filename}),
            });
        }
    }
    let written = entries.len();
    audit::record_many(&*tx, actor, entries).await?;
    let stored = crate::imports::record_committed(
        &*tx,
        actor,
        pending,
        KIND,
        filename,
        content,
        report.counts(written),
    )
    .await?;
    tx.commit().await?;
    db.figures_changed();
    Ok((report, Some(stored.id)))
}
