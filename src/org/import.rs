//! CSV import of schools. A dry run reports every bad row (row, column, reason) and writes
//! nothing; a commit writes every row in one transaction, or nothing when any row is bad.
//!
//! Columns (header row required, any order, English or Vietnamese names, accents optional):
//! `code` (ma_truong), `name` (ten_truong), `level` (cap_hoc), `province_code` (ma_tinh),
//! `commune_code` (ma_xa), `commune_name` (ten_xa), `enrolled_students` (so_hoc_sinh),
//! `address` (dia_chi). A commune code not yet known is created when `commune_name` is given.
//! UTF-8 with or without BOM; comma, semicolon (Excel in many locales) or tab separated.
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use serde_json::json;

use super::entity::{commune, province, school};
use super::service::{search_key, SchoolDraft, SchoolFields};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::db::Db;
use crate::error::{AppResult, FieldErrors, Msg};
use crate::fields::{fold, int_in, optional_text, required_text};
use crate::imports::csv_stream::{self, Column, RowError, RowErrorView};
use crate::imports::{self, Counts};
use crate::web::i18n::{I18n, Lang};
use actix_web::web::Bytes;

pub const KIND: &str = "schools";
const CHUNK: usize = 400;

const COLUMNS: &[Column] = &[
    Column {
        name: "code",
        aliases: &["ma", "ma truong", "school code"],
        required: true,
    },
    Column {
        name: "name",
        aliases: &["ten", "ten truong", "school name"],
        required: true,
    },
    Column {
        name: "level",
        aliases: &["cap hoc", "cap", "loai hinh"],
        required: true,
    },
    Column {
        name: "province_code",
        aliases: &["province", "ma tinh", "tinh"],
        required: true,
    },
    Column {
        name: "commune_code",
        aliases: &["commune", "ma xa", "ma phuong xa"],
        required: false,
    },
    Column {
        name: "commune_name",
        aliases: &["ten xa", "ten phuong xa"],
        required: false,
    },
    Column {
        name: "enrolled_students",
        aliases: &["enrolled", "so hoc sinh", "si so"],
        required: false,
    },
    Column {
        name: "address",
        aliases: &["dia chi"],
        required: false,
    },
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReportView {
    /// `dry_run` (nothing written), `pending` (stored, waiting for confirmation),
    /// `committed` (written) or `rejected` (bad rows, nothing written).
    pub status: String,
    pub import_id: Option<i64>,
    pub rows: usize,
    pub valid_rows: usize,
    pub invalid_rows: usize,
    pub to_create: usize,
    pub to_update: usize,
    pub unchanged: usize,
    /// Communes the file introduces, as "code name".
    pub new_communes: Vec<String>,
    pub errors: Vec<RowErrorView>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub rows: usize,
    pub invalid_rows: usize,
    pub to_create: usize,
    pub to_update: usize,
    pub unchanged: usize,
    pub new_communes: Vec<String>,
    pub errors: Vec<RowError>,
}

impl ImportReport {
    pub fn counts(&self, written: usize) -> Counts {
        Counts {
            total: self.rows,
            valid: self.rows - self.invalid_rows,
            invalid: self.invalid_rows,
            written,
        }
    }

    pub fn view(
        &self,
        i18n: &I18n,
        lang: Lang,
        status: &str,
        import_id: Option<i64>,
    ) -> ImportReportView {
        ImportReportView {
            status: status.to_string(),
            import_id,
            rows: self.rows,
            valid_rows: self.rows - self.invalid_rows,
            invalid_rows: self.invalid_rows,
            to_create: self.to_create,
            to_update: self.to_update,
            unchanged: self.unchanged,
            new_communes: self.new_communes.clone(),
            errors: self.errors.iter().map(|e| e.view(i18n, lang)).collect(),
        }
    }
}

/// A row as read from the file.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    /// Optional values that are empty or whose column is absent are `None`: an update then
    /// keeps what is stored, a new school gets the default.
    draft: SchoolDraft,
    commune_name: Option<String>,
    /// The enrolment was not a number (already reported while reading).
    enrolled_unreadable: bool,
}

/// Reads the file into rows; structural problems become row errors.
async fn read(content: &[u8]) -> (Vec<Row>, Vec<RowError>) {
    let (records, mut errors) =
        csv_stream::read_all(COLUMNS, Bytes::copy_from_slice(content)).await;
    let rows = records
        .into_iter()
        .map(|r| {
            let mut enrolled_unreadable = false;
            let enrolled = match r.get("enrolled_students") {
                None => None,
                Some(raw) => match int_in(raw, 0, super::service::MAX_ENROLLED) {
                    Ok(n) => Some(n),
                    Err(msg) => {
                        errors.push(RowError::new(r.line, "enrolled_students", msg));
                        enrolled_unreadable = true;
                        None
                    }
                },
            };
            let text = |col: &str| r.get(col).map(str::to_string);
            Row {
                line: r.line,
                draft: SchoolDraft {
                    code: text("code").unwrap_or_default(),
                    name: text("name").unwrap_or_default(),
                    level: text("level").unwrap_or_default(),
                    province_code: text("province_code").unwrap_or_default(),
                    commune_code: text("commune_code"),
                    enrolled_students: enrolled,
                    address: text("address"),
                },
                commune_name: text("commune_name"),
                enrolled_unreadable,
            }
        })
        .collect();
    (rows, errors)
}

struct NewSchool {
    fields: SchoolFields,
    province_id: i64,
    commune: Option<CommuneTarget>,
}

struct SchoolUpdate {
    id: i64,
    before: school::Model,
    new: NewSchool,
}

#[derive(Clone)]
enum CommuneTarget {
    Existing(i64),
    New(String),
}

struct Plan {
    report: ImportReport,
    creates: Vec<NewSchool>,
    updates: Vec<SchoolUpdate>,
    /// code → (name, province id)
    new_communes: Vec<(String, String, i64)>,
}

async fn load_by_codes<C, E, M>(
    conn: &C,
    codes: &[String],
    column: impl ColumnTrait + Copy,
    _entity: E,
) -> AppResult<Vec<M>>
where
    C: ConnectionTrait,
    E: EntityTrait<Model = M>,
    M: sea_orm::FromQueryResult + Send + Sync,
{
    let mut out = Vec::new();
    for chunk in codes.chunks(CHUNK) {
        out.extend(
            E::find()
                .filter(column.is_in(chunk.to_vec()))
                .all(conn)
                .await?,
        );
    }
    Ok(out)
}

/// Checks every row against the database and the actor's scope, and plans the writes.
async fn plan<C: ConnectionTrait>(conn: &C, actor: &Actor, content: &[u8]) -> AppResult<Plan> {
    let (rows, mut errors) = read(content).await;
    let provinces: HashMap<String, i64> = province::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.code, p.id))
        .collect();
    let school_codes: Vec<String> = rows
        .iter()
        .map(|r| r.draft.code.trim().to_uppercase())
        .collect();
    let existing: HashMap<String, school::Model> =
        load_by_codes(conn, &school_codes, school::Column::Code, school::Entity)
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect();
    let commune_codes: Vec<String> = rows
        .iter()
        .filter_map(|r| r.draft.commune_code.clone())
        .collect();
    let communes: HashMap<String, commune::Model> =
        load_by_codes(conn, &commune_codes, commune::Column::Code, commune::Entity)
            .await?
            .into_iter()
            .map(|c| (c.code.clone(), c))
            .collect();

    let mut report = ImportReport {
        rows: rows.len(),
        ..Default::default()
    };
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut new_communes: Vec<(String, String, i64)> = Vec::new();
    let mut new_commune_rows: HashMap<String, (String, i64, u64)> = HashMap::new();
    let mut seen_codes: HashMap<String, u64> = HashMap::new();
    let mut bad_lines: HashSet<u64> = errors.iter().map(|e| e.row).filter(|r| *r > 1).collect();

    for row in rows {
        let line = row.line;
        let mut field_errors = FieldErrors::new();
        let fields = row.draft.fields(&mut field_errors);
        let mut row_errors: Vec<RowError> = field_errors
            .0
            .into_iter()
            // An unparsable number was already reported while reading.
            .filter(|e| !(e.field == "enrolled_students" && row.enrolled_unreadable))
            .map(|e| RowError {
                row: line,
                column: e.field,
                msg: e.msg,
            })
            .collect();

        let province_id = match provinces.get(&row.draft.province_code) {
            None => {
                let msg = if row.draft.province_code.is_empty() {
                    Msg::new("error-required")
                } else {
                    Msg::new("error-unknown-province").arg("code", &row.draft.province_code)
                };
                row_errors.push(RowError {
                    row: line,
                    column: "province_code".into(),
                    msg,
                });
                None
            }
            Some(pid) => match actor.scope() {
                Scope::Province(mine) if mine != *pid => {
                    row_errors.push(RowError {
                        row: line,
                        column: "province_code".into(),
                        msg: Msg::new("error-outside-scope"),
                    });
                    None
                }
                _ => Some(*pid),
            },
        };

        let mut commune_target = None;
        if let (Some(pid), Some(code)) = (province_id, row.draft.commune_code.clone()) {
            match communes.get(&code) {
                Some(c) if c.province_id == pid => {
                    commune_target = Some(CommuneTarget::Existing(c.id))
                }
                Some(_) => row_errors.push(RowError {
                    row: line,
                    column: "commune_code".into(),
                    msg: Msg::new("error-commune-other-province"),
                }),
                None => match (&row.commune_name, new_commune_rows.get(&code)) {
                    (_, Some((_, other_pid, first_line))) if *other_pid != pid => {
                        row_errors.push(RowError {
                            row: line,
                            column: "commune_code".into(),
                            msg: Msg::new("import-commune-conflict").arg("row", first_line),
                        })
                    }
                    (_, Some(_)) => commune_target = Some(CommuneTarget::New(code)),
                    (Some(name), None) => {
                        match (required_text(name, 150), optional_text(&code, 16)) {
                            (Ok(name), Ok(Some(code))) => {
                                new_commune_rows.insert(code.clone(), (name, pid, line));
                                commune_target = Some(CommuneTarget::New(code));
                            }
                            (Err(msg), _) => row_errors.push(RowError {
                                row: line,
                                column: "commune_name".into(),
                                msg,
                            }),
                            (_, Err(msg)) => row_errors.push(RowError {
                                row: line,
                                column: "commune_code".into(),
                                msg,
                            }),
                            (_, Ok(None)) => {}
                        }
                    }
                    (None, None) => row_errors.push(RowError {
                        row: line,
                        column: "commune_code".into(),
                        msg: Msg::new("import-unknown-commune").arg("code", &code),
                    }),
                },
            }
        }

        if let Some(f) = &fields {
            if let Some(first) = seen_codes.get(&f.code) {
                row_errors.push(RowError {
                    row: line,
                    column: "code".into(),
                    msg: Msg::new("import-duplicate").arg("row", first),
                });
            } else {
                seen_codes.insert(f.code.clone(), line);
            }
            if let Some(old) = existing.get(&f.code) {
                if !actor.sees_school(old.id, old.province_id) {
                    row_errors.push(RowError {
                        row: line,
                        column: "code".into(),
                        msg: Msg::new("import-code-not-yours"),
                    });
                }
            }
        }

        if !row_errors.is_empty() || bad_lines.contains(&line) {
            bad_lines.insert(line);
            errors.extend(row_errors);
            continue;
        }
        let (Some(fields), Some(province_id)) = (fields, province_id) else {
            continue;
        };
        let mut new = NewSchool {
            fields,
            province_id,
            commune: commune_target,
        };
        match existing.get(&new.fields.code) {
            Some(old) => {
                // What the file leaves out, the school keeps.
                if row.draft.enrolled_students.is_none() {
                    new.fields.enrolled_students = old.enrolled_students;
                }
                if row.draft.address.is_none() {
                    new.fields.address = old.address.clone();
                }
                if row.draft.commune_code.is_none() && old.province_id == province_id {
                    new.commune = old.commune_id.map(CommuneTarget::Existing);
                }
                let same = old.name == new.fields.name
                    && old.level == new.fields.level.code()
                    && old.province_id == province_id
                    && old.enrolled_students == new.fields.enrolled_students
                    && old.address == new.fields.address
                    && match &new.commune {
                        Some(CommuneTarget::Existing(id)) => old.commune_id == Some(*id),
                        Some(CommuneTarget::New(_)) => false,
                        None => old.commune_id.is_none(),
                    };
                if same {
                    report.unchanged += 1;
                } else {
                    updates.push(SchoolUpdate {
                        id: old.id,
                        before: old.clone(),
                        new,
                    });
                }
            }
            None => creates.push(new),
        }
    }

    for (code, (name, pid, _)) in new_commune_rows {
        report.new_communes.push(format!("{code} {name}"));
        new_communes.push((code, name, pid));
    }
    report.new_communes.sort();
    new_communes.sort();
    errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.column.cmp(&b.column)));
    report.invalid_rows = bad_lines.len();
    report.errors = errors;
    report.to_create = creates.len();
    report.to_update = updates.len();
    Ok(Plan {
        report,
        creates,
        updates,
        new_communes,
    })
}

/// Checks the file and reports; writes nothing.
pub async fn dry_run(db: &Db, actor: &Actor, content: &[u8]) -> AppResult<ImportReport> {
    actor.require_map_editor()?;
    Ok(plan(&db.conn, actor, content).await?.report)
}

/// Writes the whole file in one transaction, or nothing (returns the report with errors).
/// `pending` is the stored upload being confirmed, if any.
pub async fn commit(
    db: &Db,
    actor: &Actor,
    filename: &str,
    content: Vec<u8>,
    pending: Option<i64>,
) -> AppResult<(ImportReport, Option<i64>)> {
    actor.require_map_editor()?;
    let tx = db.begin_write().await?;
    let pending = match pending {
        Some(id) => Some(imports::claim_pending(&*tx, actor, KIND, id).await?),
        None => None,
    };
    let plan = plan(&*tx, actor, &content).await?;
    if !plan.report.errors.is_empty() {
        return Ok((plan.report, None));
    }
    let now = Utc::now();

    let mut commune_ids: HashMap<String, i64> = HashMap::new();
    let mut entries = Vec::new();
    for (code, name, pid) in &plan.new_communes {
        let c = commune::ActiveModel {
            province_id: Set(*pid),
            code: Set(code.clone()),
            name: Set(name.clone()),
            search_key: Set(fold(name)),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        commune_ids.insert(code.clone(), c.id);
        entries.push(audit::Entry {
            action: "commune.created",
            entity_type: "commune",
            entity_id: Some(c.id.to_string()),
            summary: json!({"code": c.code, "name": c.name, "province_id": c.province_id, "via": filename}),
        });
    }
    let commune_id = |t: &Option<CommuneTarget>| match t {
        Some(CommuneTarget::Existing(id)) => Some(*id),
        Some(CommuneTarget::New(code)) => commune_ids.get(code).copied(),
        None => None,
    };

    for chunk in plan.creates.chunks(CHUNK) {
        let models: Vec<school::ActiveModel> = chunk
            .iter()
            .map(|s| school::ActiveModel {
                search_key: Set(search_key(&s.fields.code, &s.fields.name)),
                code: Set(s.fields.code.clone()),
                name: Set(s.fields.name.clone()),
                level: Set(s.fields.level.code().to_string()),
                province_id: Set(s.province_id),
                commune_id: Set(commune_id(&s.commune)),
                enrolled_students: Set(s.fields.enrolled_students),
                address: Set(s.fields.address.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        school::Entity::insert_many(models).exec(&*tx).await?;
        let codes: Vec<String> = chunk.iter().map(|s| s.fields.code.clone()).collect();
        for created in school::Entity::find()
            .filter(school::Column::Code.is_in(codes))
            .all(&*tx)
            .await?
        {
            entries.push(audit::Entry {
                action: "school.created",
                entity_type: "school",
                entity_id: Some(created.id.to_string()),
                summary: json!({
                    "code": created.code, "name": created.name, "level": created.level,
                    "province_id": created.province_id, "commune_id": created.commune_id,
                    "enrolled_students": created.enrolled_students, "address": created.address,
                    "via": filename,
                }),
            });
        }
    }

    for u in &plan.updates {
        let before = json!({
            "name": u.before.name, "level": u.before.level, "province_id": u.before.province_id,
            "commune_id": u.before.commune_id, "enrolled_students": u.before.enrolled_students,
            "address": u.before.address,
        });
        let mut model: school::ActiveModel = u.before.clone().into();
        let f = &u.new.fields;
        model.search_key = Set(search_key(&f.code, &f.name));
        model.name = Set(f.name.clone());
        model.level = Set(f.level.code().to_string());
        model.province_id = Set(u.new.province_id);
        model.commune_id = Set(commune_id(&u.new.commune));
        model.enrolled_students = Set(f.enrolled_students);
        model.address = Set(f.address.clone());
        model.updated_at = Set(now);
        let after = model.update(&*tx).await?;
        let after_view = json!({
            "name": after.name, "level": after.level, "province_id": after.province_id,
            "commune_id": after.commune_id, "enrolled_students": after.enrolled_students,
            "address": after.address,
        });
        entries.push(audit::Entry {
            action: "school.updated",
            entity_type: "school",
            entity_id: Some(u.id.to_string()),
            summary: audit::changes(&before, &after_view),
        });
    }

    audit::record_many(&*tx, actor, entries).await?;

    let written = plan.creates.len() + plan.updates.len();
    let record = imports::record_committed(
        &*tx,
        actor,
        pending,
        KIND,
        filename,
        content,
        plan.report.counts(written),
    )
    .await?;
    audit::record(
        &*tx,
        actor,
        "import.committed",
        "import",
        Some(record.id.to_string()),
        json!({
            "kind": KIND,
            "filename": filename,
            "rows": plan.report.rows,
            "created": plan.creates.len(),
            "updated": plan.updates.len(),
            "unchanged": plan.report.unchanged,
            "new_communes": plan.new_communes.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    db.figures_changed();
    db.lists_changed();
    Ok((plan.report, Some(record.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_bom_semicolons_and_vietnamese_headers() {
        let csv = "\u{feff}Mã trường;Tên trường;Cấp học;Mã tỉnh;Sĩ số\r\nA1;Trường THPT Lê Lợi;THPT;01;1.200\r\n";
        let (rows, errors) = read(csv.as_bytes()).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].draft.name, "Trường THPT Lê Lợi");
        assert_eq!(rows[0].draft.enrolled_students, Some(1200));
    }

    #[tokio::test]
    async fn reports_missing_columns_and_bad_bytes() {
        let (_, errors) = read(b"code,name\nX,Y\n").await;
        let cols: Vec<_> = errors.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(cols, ["level", "province_code"]);
        assert!(errors.iter().all(|e| e.row == 1));

        let mut bytes = b"code,name,level,province_code\nA,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b",primary,01\n");
        let (rows, errors) = read(&bytes).await;
        assert!(rows.is_empty());
        assert_eq!(errors[0].row, 2);
        assert_eq!(errors[0].column, "name");
        assert_eq!(errors[0].msg.key, "import-not-utf8");
    }
}
