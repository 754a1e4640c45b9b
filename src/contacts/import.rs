//! CSV import of students with their guardians, and of HI-status updates.
//!
//! One row per student and guardian (a student with two guardians takes two rows; siblings
//! share a guardian through the same phone number). A dry run checks every row and lists every
//! problem (row, column, reason) without writing; a commit writes all rows in one transaction,
//! or — when chosen — only the valid ones. Re-importing the same file changes nothing: students
//! are matched by school + social-insurance number, or school + name + date of birth; guardians
//! by phone, or e-mail. Optional values left out (column absent or cell empty) keep what is
//! stored. The file streams through (see `imports::csv_stream`): 100,000 rows never sit in
//! memory whole; only the keys already seen do, to catch rows that contradict each other.
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use super::entity::{consent, guardian, student, student_guardian};
use super::fields::{
    channel_order_text, parse_channel_order, parse_date, parse_si_number, parse_yes_no, Channel,
    ConsentSource, HiStatus, MobilePhone, Relationship, DEFAULT_CHANNEL_ORDER,
    PURPOSE_HI_REMINDERS,
};
use crate::audit;
use crate::auth::actor::Actor;
use crate::error::{AppError, AppResult, Msg};
use crate::fields::{fold, optional_text, required_text, Email};
use crate::imports::csv_stream::{self, Column, Parsed, Record, RowError, RowErrorView};
use crate::imports::Counts;
use crate::org::entity::school;
use crate::web::i18n::{I18n, Lang};

pub const KIND_STUDENTS: &str = "students";
pub const KIND_HI_STATUS: &str = "hi_status";

const STUDENT_COLUMNS: &[Column] = &[
    Column {
        name: "school_code",
        aliases: &["ma truong", "truong"],
        required: true,
    },
    Column {
        name: "si_number",
        aliases: &["ma so bhxh", "so bhxh", "ma bhxh", "bhxh", "so the bhyt"],
        required: false,
    },
    Column {
        name: "full_name",
        aliases: &[
            "ho ten",
            "ho va ten",
            "ten hoc sinh",
            "hoc sinh",
            "ho ten hoc sinh",
        ],
        required: true,
    },
    Column {
        name: "date_of_birth",
        aliases: &["ngay sinh", "dob"],
        required: true,
    },
    Column {
        name: "grade",
        aliases: &["khoi"],
        required: false,
    },
    Column {
        name: "class_name",
        aliases: &["lop", "class"],
        required: false,
    },
    Column {
        name: "hi_status",
        aliases: &["trang thai bhyt", "bhyt", "tinh trang bhyt"],
        required: false,
    },
    Column {
        name: "card_valid_until",
        aliases: &["han the", "the co gia tri den", "han su dung"],
        required: false,
    },
    Column {
        name: "guardian_name",
        aliases: &[
            "ten phu huynh",
            "phu huynh",
            "ho ten phu huynh",
            "nguoi giam ho",
        ],
        required: false,
    },
    Column {
        name: "guardian_relationship",
        aliases: &["quan he"],
        required: false,
    },
    Column {
        name: "guardian_phone",
        aliases: &["sdt phu huynh", "so dien thoai", "dien thoai", "sdt"],
        required: false,
    },
    Column {
        name: "guardian_email",
        aliases: &["email phu huynh", "email"],
        required: false,
    },
    Column {
        name: "guardian_zalo",
        aliases: &["zalo"],
        required: false,
    },
    Column {
        name: "guardian_app_ref",
        aliases: &["vssid", "ma vssid", "app ref"],
        required: false,
    },
    Column {
        name: "guardian_language",
        aliases: &["ngon ngu"],
        required: false,
    },
    Column {
        name: "channel_order",
        aliases: &["kenh uu tien"],
        required: false,
    },
    Column {
        name: "consent_sms",
        aliases: &["dong y sms"],
        required: false,
    },
    Column {
        name: "consent_zalo",
        aliases: &["dong y zalo"],
        required: false,
    },
    Column {
        name: "consent_email",
        aliases: &["dong y email"],
        required: false,
    },
    Column {
        name: "consent_push",
        aliases: &["dong y app", "dong y push"],
        required: false,
    },
    Column {
        name: "consent_evidence",
        aliases: &["so phieu", "minh chung"],
        required: false,
    },
];

const STATUS_COLUMNS: &[Column] = &[
    Column {
        name: "school_code",
        aliases: &["ma truong", "truong"],
        required: true,
    },
    Column {
        name: "si_number",
        aliases: &["ma so bhxh", "so bhxh", "ma bhxh", "bhxh", "so the bhyt"],
        required: false,
    },
    Column {
        name: "full_name",
        aliases: &[
            "ho ten",
            "ho va ten",
            "ten hoc sinh",
            "hoc sinh",
            "ho ten hoc sinh",
        ],
        required: false,
    },
    Column {
        name: "date_of_birth",
        aliases: &["ngay sinh", "dob"],
        required: false,
    },
    Column {
        name: "hi_status",
        aliases: &["trang thai bhyt", "bhyt", "tinh trang bhyt"],
        required: true,
    },
    Column {
        name: "card_valid_until",
        aliases: &["han the", "the co gia tri den", "han su dung"],
        required: false,
    },
];

/// Which import: students with guardians (creates and updates), or HI status only (updates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Students,
    HiStatus,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Students => KIND_STUDENTS,
            Kind::HiStatus => KIND_HI_STATUS,
        }
    }

    pub fn parse(raw: &str) -> Option<Kind> {
        match raw {
            KIND_STUDENTS => Some(Kind::Students),
            KIND_HI_STATUS => Some(Kind::HiStatus),
            _ => None,
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            Kind::Students => STUDENT_COLUMNS,
            Kind::HiStatus => STATUS_COLUMNS,
        }
    }
}

/// All-or-nothing (default), or write the valid rows and skip the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommitMode {
    #[default]
    AllOrNothing,
    ValidOnly,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: usize,
    pub invalid_rows: usize,
    pub students_created: usize,
    pub students_updated: usize,
    pub students_unchanged: usize,
    pub guardians_created: usize,
    pub guardians_updated: usize,
    pub links_created: usize,
    pub consents_recorded: usize,
    /// The first problems found (at most `KEPT_ERRORS`), and how many there were in all.
    pub errors: Vec<RowError>,
    pub errors_total: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// `dry_run`, `pending` (stored, awaiting confirmation), `committed` or `rejected`.
    pub status: String,
    pub import_id: Option<i64>,
    pub rows: usize,
    pub valid_rows: usize,
    pub invalid_rows: usize,
    pub students_created: usize,
    pub students_updated: usize,
    pub students_unchanged: usize,
    pub guardians_created: usize,
    pub guardians_updated: usize,
    pub links_created: usize,
    pub consents_recorded: usize,
    /// The first 1,000 problems, in row order.
    pub errors: Vec<RowErrorView>,
    pub errors_total: usize,
}

/// At most this many problems are shown, and this many kept while reading (the count covers
/// all of them): a file that is wrong throughout should not fill memory with complaints.
const MAX_REPORTED: usize = 1000;
const KEPT_ERRORS: usize = 10_000;

impl Report {
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
    ) -> ReportView {
        let mut errors = self.errors.clone();
        errors.sort_by(|a, b| a.row.cmp(&b.row).then_with(|| a.column.cmp(&b.column)));
        ReportView {
            status: status.to_string(),
            import_id,
            rows: self.rows,
            valid_rows: self.rows - self.invalid_rows,
            invalid_rows: self.invalid_rows,
            students_created: self.students_created,
            students_updated: self.students_updated,
            students_unchanged: self.students_unchanged,
            guardians_created: self.guardians_created,
            guardians_updated: self.guardians_updated,
            links_created: self.links_created,
            consents_recorded: self.consents_recorded,
            errors_total: self.errors_total,
            errors: errors
                .iter()
                .take(MAX_REPORTED)
                .map(|e| e.view(i18n, lang))
                .collect(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors_total > 0
    }
}

/// A guardian as one row describes them.
#[derive(Debug, Clone)]
struct GuardianRow {
    name: String,
    name_key: String,
    relationship: Option<Relationship>,
    phone: Option<MobilePhone>,
    email: Option<Email>,
    zalo: Option<bool>,
    app_ref: Option<String>,
    language: Option<Lang>,
    channel_order: Option<Vec<Channel>>,
    consents: Vec<(Channel, bool)>,
    evidence: Option<String>,
}

impl GuardianRow {
    fn key(&self) -> GuardianKey {
        match (&self.phone, &self.email) {
            (Some(p), _) => GuardianKey::Phone(p.as_str().to_string()),
            (None, Some(e)) => GuardianKey::Email(e.as_str().to_string()),
            (None, None) => unreachable!("a guardian row has a phone or an e-mail"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GuardianKey {
    Phone(String),
    Email(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum StudentKey {
    Si(i64, String),
    NameDob(i64, String, NaiveDate),
}

/// A row that passed the checks that need no database.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    school_code: String,
    si: Option<String>,
    name: Option<String>,
    name_key: Option<String>,
    dob: Option<NaiveDate>,
    grade: Option<String>,
    class_name: Option<String>,
    status: Option<HiStatus>,
    valid_until: Option<NaiveDate>,
    guardian: Option<GuardianRow>,
}

impl Row {
    /// What a later row about the same student must agree with.
    fn fingerprint(&self) -> u64 {
        digest(&(
            &self.name_key,
            self.dob,
            &self.grade,
            &self.class_name,
            self.status,
            self.valid_until,
        ))
    }
}

fn parse_row(kind: Kind, r: &Record, errors: &mut Vec<RowError>) -> Option<Row> {
    let line = r.line;
    let before = errors.len();
    let mut take = |col: &str, res: Result<Option<String>, Msg>| match res {
        Ok(v) => v,
        Err(msg) => {
            errors.push(RowError::new(line, col, msg));
            None
        }
    };
    let school_code = take(
        "school_code",
        r.get("school_code")
            .map(|s| Some(s.to_uppercase()))
            .ok_or(Msg::new("error-required")),
    )
    .unwrap_or_default();
    let si = take(
        "si_number",
        r.get("si_number").map(parse_si_number).transpose(),
    );
    let name = take(
        "full_name",
        r.get("full_name")
            .map(|v| required_text(v, 150))
            .transpose(),
    );
    let mut dob = None;
    if let Some(raw) = r.get("date_of_birth") {
        match parse_date(raw) {
            Ok(d) if d <= Utc::now().date_naive() && d.year() >= 1950 => dob = Some(d),
            Ok(_) => errors.push(RowError::new(
                line,
                "date_of_birth",
                Msg::new("error-date-range"),
            )),
            Err(msg) => errors.push(RowError::new(line, "date_of_birth", msg)),
        }
    }
    match kind {
        Kind::Students => {
            if name.is_none() && r.get("full_name").is_none() {
                errors.push(RowError::new(line, "full_name", Msg::new("error-required")));
            }
            if dob.is_none() && r.get("date_of_birth").is_none() {
                errors.push(RowError::new(
                    line,
                    "date_of_birth",
                    Msg::new("error-required"),
                ));
            }
        }
        Kind::HiStatus => {
            if si.is_none()
                && r.get("si_number").is_none()
                && (r.get("full_name").is_none() || r.get("date_of_birth").is_none())
            {
                errors.push(RowError::new(
                    line,
                    "si_number",
                    Msg::new("import-identify-student"),
                ));
            }
        }
    }
    let mut take = |col: &str, res: Result<Option<String>, Msg>| match res {
        Ok(v) => v,
        Err(msg) => {
            errors.push(RowError::new(line, col, msg));
            None
        }
    };
    let grade = take("grade", optional_text(r.get("grade").unwrap_or(""), 16));
    let class_name = take(
        "class_name",
        optional_text(r.get("class_name").unwrap_or(""), 32),
    );
    let mut status = None;
    match r.get("hi_status").map(HiStatus::parse) {
        Some(Ok(s)) => status = Some(s),
        Some(Err(msg)) => errors.push(RowError::new(line, "hi_status", msg)),
        None if kind == Kind::HiStatus => {
            errors.push(RowError::new(line, "hi_status", Msg::new("error-required")))
        }
        None => {}
    }
    let mut valid_until = None;
    if let Some(raw) = r.get("card_valid_until") {
        match parse_date(raw) {
            Ok(d) => valid_until = Some(d),
            Err(msg) => errors.push(RowError::new(line, "card_valid_until", msg)),
        }
    }
    let guardian = if kind == Kind::Students {
        parse_guardian(r, errors)
    } else {
        None
    };
    if errors.len() > before {
        return None;
    }
    Some(Row {
        line,
        school_code,
        si,
        name_key: name.as_deref().map(fold),
        name,
        dob,
        grade,
        class_name,
        status,
        valid_until,
        guardian,
    })
}

fn parse_guardian(r: &Record, errors: &mut Vec<RowError>) -> Option<GuardianRow> {
    let line = r.line;
    let before = errors.len();
    let mut err = |col: &str, msg: Msg| errors.push(RowError::new(line, col, msg));
    let name = match r.get("guardian_name").map(|v| required_text(v, 150)) {
        Some(Ok(n)) => Some(n),
        Some(Err(m)) => {
            err("guardian_name", m);
            None
        }
        None => None,
    };
    let phone = match r.get("guardian_phone").map(MobilePhone::parse) {
        Some(Ok(p)) => Some(p),
        Some(Err(m)) => {
            err("guardian_phone", m);
            None
        }
        None => None,
    };
    let email = match r.get("guardian_email").map(Email::parse) {
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => {
            err("guardian_email", m);
            None
        }
        None => None,
    };
    let mut consents = Vec::new();
    for (col, channel) in [
        ("consent_sms", Channel::Sms),
        ("consent_zalo", Channel::Zalo),
        ("consent_email", Channel::Email),
        ("consent_push", Channel::Push),
    ] {
        match r.get(col).map(parse_yes_no) {
            Some(Ok(Some(v))) => consents.push((channel, v)),
            Some(Ok(None)) | None => {}
            Some(Err(m)) => err(col, m),
        }
    }
    let anything = name.is_some()
        || r.get("guardian_phone").is_some()
        || r.get("guardian_email").is_some()
        || !consents.is_empty()
        || r.get("guardian_app_ref").is_some();
    if !anything {
        return None;
    }
    if r.get("guardian_name").is_none() {
        err("guardian_name", Msg::new("error-required"));
    }
    if r.get("guardian_phone").is_none() && r.get("guardian_email").is_none() {
        err("guardian_phone", Msg::new("import-guardian-contact"));
    }
    let relationship = match r.get("guardian_relationship").map(Relationship::parse) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            err("guardian_relationship", m);
            None
        }
        None => None,
    };
    let zalo = match r.get("guardian_zalo").map(parse_yes_no) {
        Some(Ok(v)) => v,
        Some(Err(m)) => {
            err("guardian_zalo", m);
            None
        }
        None => None,
    };
    let app_ref = match optional_text(r.get("guardian_app_ref").unwrap_or(""), 64) {
        Ok(v) => v,
        Err(m) => {
            err("guardian_app_ref", m);
            None
        }
    };
    let language = match r.get("guardian_language") {
        Some(raw) => match Lang::parse(raw) {
            Some(l) => Some(l),
            None => {
                err(
                    "guardian_language",
                    Msg::new("error-one-of").arg("allowed", "vi, en"),
                );
                None
            }
        },
        None => None,
    };
    let channel_order = match r.get("channel_order").map(parse_channel_order) {
        Some(Ok(v)) => Some(v),
        Some(Err(m)) => {
            err("channel_order", m);
            None
        }
        None => None,
    };
    let evidence = match optional_text(r.get("consent_evidence").unwrap_or(""), 255) {
        Ok(v) => v,
        Err(m) => {
            err("consent_evidence", m);
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    let name = name?;
    Some(GuardianRow {
        name_key: fold(&name),
        name,
        relationship,
        phone,
        email,
        zalo,
        app_ref,
        language,
        channel_order,
        consents,
        evidence,
    })
}

/// A 64-bit digest standing in for a key: the importer remembers every student and guardian
/// it has seen in the file, and a digest costs 8 bytes where the key (names, numbers) costs
/// dozens. With 100,000 keys the chance of two colliding is about 3 in 10 billion.
fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Whether a pass only checks or also writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Check,
    Write(CommitMode),
}

/// State kept across the batches of one pass over a file.
struct Processor<'a> {
    actor: &'a Actor,
    kind: Kind,
    pass: Pass,
    evidence: String,
    report: Report,
    schools: HashMap<String, Option<(i64, i64)>>,
    /// Students seen earlier in the file: first row and what it said.
    students_seen: HashMap<u64, (u64, u64)>,
    /// Guardians seen earlier in the file: first row and the name it gave.
    guardians_seen: HashMap<u64, (u64, u64)>,
    /// Ids of students and guardians written in this pass (write passes only).
    student_ids: HashMap<u64, i64>,
    guardian_ids: HashMap<u64, i64>,
    /// Consent decided in this pass, so a later row for the same guardian compares with it.
    consent_now: HashMap<(i64, Channel), bool>,
    /// The same, in a check pass, keyed before guardians have ids.
    consent_check: HashMap<(u64, Channel), bool>,
    pairs_seen: HashSet<(u64, u64)>,
    invalid_lines: HashSet<u64>,
    audit: Vec<audit::Entry>,
}

impl<'a> Processor<'a> {
    fn new(actor: &'a Actor, kind: Kind, pass: Pass, evidence: String) -> Self {
        Self {
            actor,
            kind,
            pass,
            evidence,
            report: Report::default(),
            schools: HashMap::new(),
            students_seen: HashMap::new(),
            guardians_seen: HashMap::new(),
            student_ids: HashMap::new(),
            guardian_ids: HashMap::new(),
            consent_now: HashMap::new(),
            consent_check: HashMap::new(),
            pairs_seen: HashSet::new(),
            invalid_lines: HashSet::new(),
            audit: Vec::new(),
        }
    }

    /// Records a row's problems; returns whether the row was new to the invalid set.
    fn reject(&mut self, line: u64, errors: Vec<RowError>) -> bool {
        for e in errors {
            self.report.errors_total += 1;
            if self.report.errors.len() < KEPT_ERRORS {
                self.report.errors.push(e);
            }
        }
        line > 1 && self.invalid_lines.insert(line)
    }

    async fn resolve_schools<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        rows: &[Row],
    ) -> AppResult<()> {
        let unknown: Vec<String> = rows
            .iter()
            .map(|r| r.school_code.clone())
            .filter(|c| !self.schools.contains_key(c))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let found = school::Entity::find()
            .filter(school::Column::Code.is_in(unknown.clone()))
            .all(conn)
            .await?;
        for s in found {
            let visible = self.actor.sees_school(s.id, s.province_id);
            self.schools
                .insert(s.code.clone(), visible.then_some((s.id, s.province_id)));
        }
        for code in unknown {
            self.schools.entry(code).or_insert(None);
        }
        Ok(())
    }

    /// Stored students matching the rows' keys.
    /// Stored students matching the rows' keys. Queried with IN lists the indexes serve
    /// (school + number, school + folded name), then narrowed to the exact keys here.
    async fn existing_students<C: ConnectionTrait>(
        &self,
        conn: &C,
        keyed: &[(usize, StudentKey)],
        rows: &[Row],
    ) -> AppResult<HashMap<StudentKey, student::Model>> {
        let mut wanted: HashSet<StudentKey> = HashSet::new();
        let (mut si_schools, mut sis) = (HashSet::new(), HashSet::new());
        let (mut name_schools, mut names) = (HashSet::new(), HashSet::new());
        for (i, key) in keyed {
            match key {
                StudentKey::Si(school_id, si) => {
                    si_schools.insert(*school_id);
                    sis.insert(si.clone());
                    wanted.insert(key.clone());
                    // A student first imported without a number is found by name and birth date.
                    if let (Some(name_key), Some(dob)) = (&rows[*i].name_key, rows[*i].dob) {
                        name_schools.insert(*school_id);
                        names.insert(name_key.clone());
                        wanted.insert(StudentKey::NameDob(*school_id, name_key.clone(), dob));
                    }
                }
                StudentKey::NameDob(school_id, name_key, _) => {
                    name_schools.insert(*school_id);
                    names.insert(name_key.clone());
                    wanted.insert(key.clone());
                }
            }
        }
        let mut out = HashMap::new();
        if !sis.is_empty() {
            for s in student::Entity::find()
                .filter(student::Column::SchoolId.is_in(si_schools))
                .filter(student::Column::SiNumber.is_in(sis))
                .all(conn)
                .await?
            {
                if let Some(si) = &s.si_number {
                    let key = StudentKey::Si(s.school_id, si.clone());
                    if wanted.contains(&key) {
                        out.insert(key, s);
                    }
                }
            }
        }
        if !names.is_empty() {
            for s in student::Entity::find()
                .filter(student::Column::SchoolId.is_in(name_schools))
                .filter(student::Column::SearchKey.is_in(names))
                .all(conn)
                .await?
            {
                let key = StudentKey::NameDob(s.school_id, s.search_key.clone(), s.date_of_birth);
                if wanted.contains(&key) {
                    out.entry(key).or_insert(s);
                }
            }
        }
        Ok(out)
    }

    async fn existing_guardians<C: ConnectionTrait>(
        &self,
        conn: &C,
        keys: &[GuardianKey],
    ) -> AppResult<HashMap<GuardianKey, guardian::Model>> {
        let phones: Vec<String> = keys
            .iter()
            .filter_map(|k| match k {
                GuardianKey::Phone(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let emails: Vec<String> = keys
            .iter()
            .filter_map(|k| match k {
                GuardianKey::Email(e) => Some(e.clone()),
                _ => None,
            })
            .collect();
        let mut out = HashMap::new();
        if !phones.is_empty() {
            for g in guardian::Entity::find()
                .filter(guardian::Column::Phone.is_in(phones))
                .all(conn)
                .await?
            {
                if let Some(p) = g.phone.clone() {
                    out.insert(GuardianKey::Phone(p), g);
                }
            }
        }
        if !emails.is_empty() {
            for g in guardian::Entity::find()
                .filter(guardian::Column::Email.is_in(emails))
                .filter(guardian::Column::Phone.is_null())
                .all(conn)
                .await?
            {
                if let Some(e) = g.email.clone() {
                    out.insert(GuardianKey::Email(e), g);
                }
            }
        }
        Ok(out)
    }

    /// Checks (and in a write pass, writes) one batch of records.
    async fn batch<C: ConnectionTrait>(&mut self, conn: &C, records: Vec<Record>) -> AppResult<()> {
        self.report.rows += records.len();
        let mut rows = Vec::with_capacity(records.len());
        for r in &records {
            let mut errors = Vec::new();
            match parse_row(self.kind, r, &mut errors) {
                Some(row) => rows.push(row),
                None => {
                    self.reject(r.line, errors);
                }
            }
        }
        self.resolve_schools(conn, &rows).await?;

        // Keys, and the checks that need the school.
        let mut keyed: Vec<(usize, StudentKey)> = Vec::new();
        let mut ok_rows: Vec<usize> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let Some(Some((school_id, _))) = self.schools.get(&row.school_code).copied() else {
                let msg = match self.schools.get(&row.school_code) {
                    Some(None) if self.school_exists_elsewhere(conn, &row.school_code).await? => {
                        Msg::new("error-outside-scope")
                    }
                    _ => Msg::new("error-unknown-school").arg("code", &row.school_code),
                };
                self.reject(row.line, vec![RowError::new(row.line, "school_code", msg)]);
                continue;
            };
            let key = match (&row.si, &row.name_key, row.dob) {
                (Some(si), _, _) => StudentKey::Si(school_id, si.clone()),
                (None, Some(n), Some(d)) => StudentKey::NameDob(school_id, n.clone(), d),
                _ => {
                    self.reject(
                        row.line,
                        vec![RowError::new(
                            row.line,
                            "si_number",
                            Msg::new("import-identify-student"),
                        )],
                    );
                    continue;
                }
            };
            keyed.push((i, key));
            ok_rows.push(i);
        }
        let existing = self.existing_students(conn, &keyed, &rows).await?;
        let guardian_keys: Vec<GuardianKey> = keyed
            .iter()
            .filter_map(|(i, _)| rows[*i].guardian.as_ref().map(GuardianRow::key))
            .collect();
        let existing_guardians = self.existing_guardians(conn, &guardian_keys).await?;

        let mut accepted: Vec<(usize, StudentKey, Option<student::Model>)> = Vec::new();
        for (i, key) in keyed {
            let row = &rows[i];
            let mut errors = Vec::new();
            // The stored student: by key, or (numbered rows) by name and birth date.
            let stored =
                existing
                    .get(&key)
                    .cloned()
                    .or_else(|| match (&key, &row.name_key, row.dob) {
                        (StudentKey::Si(school_id, _), Some(n), Some(d)) => existing
                            .get(&StudentKey::NameDob(*school_id, n.clone(), d))
                            .filter(|s| s.si_number.is_none())
                            .cloned(),
                        _ => None,
                    });
            if self.kind == Kind::HiStatus
                && stored.is_none()
                && !self.students_seen.contains_key(&digest(&key))
            {
                errors.push(RowError::new(
                    row.line,
                    "si_number",
                    Msg::new("import-no-such-student"),
                ));
            }
            if let Some((first, fp)) = self.students_seen.get(&digest(&key)) {
                if *fp != row.fingerprint() {
                    errors.push(RowError::new(
                        row.line,
                        "full_name",
                        Msg::new("import-student-conflict").arg("row", first),
                    ));
                }
            }
            if let Some(g) = &row.guardian {
                if let Some((first, name_key)) = self.guardians_seen.get(&digest(&g.key())) {
                    if *name_key != digest(&g.name_key) {
                        errors.push(RowError::new(
                            row.line,
                            "guardian_name",
                            Msg::new("import-guardian-conflict").arg("row", first),
                        ));
                    }
                }
            }
            if !errors.is_empty() {
                self.reject(row.line, errors);
                continue;
            }
            // Count what a write would do (once per student and guardian); remember the keys
            // at once, so a later row of this same batch is compared with this one.
            if !self.students_seen.contains_key(&digest(&key)) {
                match &stored {
                    None => self.report.students_created += 1,
                    Some(s) if student_changes(s, row).is_some() => {
                        self.report.students_updated += 1
                    }
                    Some(_) => self.report.students_unchanged += 1,
                }
                self.students_seen
                    .insert(digest(&key), (row.line, row.fingerprint()));
            }
            if let Some(g) = &row.guardian {
                let gk = g.key();
                if !self.guardians_seen.contains_key(&digest(&gk)) {
                    match existing_guardians.get(&gk) {
                        None => self.report.guardians_created += 1,
                        Some(old) if guardian_changes(old, g).is_some() => {
                            self.report.guardians_updated += 1
                        }
                        Some(_) => {}
                    }
                    self.guardians_seen
                        .insert(digest(&gk), (row.line, digest(&g.name_key)));
                }
            }
            accepted.push((i, key, stored));
        }

        if let Pass::Write(mode) = self.pass {
            if mode == CommitMode::AllOrNothing && self.report.has_errors() {
                return Ok(());
            }
            self.write(conn, &rows, &accepted, &existing_guardians)
                .await?;
        } else {
            self.count_links_and_consents(conn, &rows, &accepted, &existing_guardians)
                .await?;
        }
        Ok(())
    }

    async fn school_exists_elsewhere<C: ConnectionTrait>(
        &self,
        conn: &C,
        code: &str,
    ) -> AppResult<bool> {
        Ok(school::Entity::find()
            .filter(school::Column::Code.eq(code))
            .one(conn)
            .await?
            .is_some())
    }

    /// In a check pass, how many links and consent records a write would add.
    async fn count_links_and_consents<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        rows: &[Row],
        accepted: &[(usize, StudentKey, Option<student::Model>)],
        existing_guardians: &HashMap<GuardianKey, guardian::Model>,
    ) -> AppResult<()> {
        let stored_pairs: Vec<(i64, i64)> = accepted
            .iter()
            .filter_map(|(i, _, s)| {
                let g = existing_guardians.get(&rows[*i].guardian.as_ref()?.key())?;
                Some((s.as_ref()?.id, g.id))
            })
            .collect();
        let linked = existing_links(conn, &stored_pairs).await?;
        let guardian_ids: Vec<i64> = existing_guardians.values().map(|g| g.id).collect();
        let current = super::service::current_consents(conn, &guardian_ids).await?;
        for (i, key, stored) in accepted {
            let Some(g) = &rows[*i].guardian else {
                continue;
            };
            let gk = g.key();
            if self.pairs_seen.insert((digest(key), digest(&gk))) {
                let known = match (stored, existing_guardians.get(&gk)) {
                    (Some(s), Some(eg)) => linked.contains(&(s.id, eg.id)),
                    _ => false,
                };
                if !known {
                    self.report.links_created += 1;
                }
            }
            for (channel, granted) in &g.consents {
                let stored = existing_guardians
                    .get(&gk)
                    .and_then(|x| current.get(&(x.id, *channel)));
                if stored.is_some_and(|c| import_may_not_grant(c, *granted)) {
                    continue;
                }
                let before = self
                    .consent_check
                    .get(&(digest(&gk), *channel))
                    .copied()
                    .or(stored.map(|c| c.granted));
                if before != Some(*granted) {
                    self.report.consents_recorded += 1;
                    self.consent_check.insert((digest(&gk), *channel), *granted);
                }
            }
        }
        Ok(())
    }

    async fn write<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        rows: &[Row],
        accepted: &[(usize, StudentKey, Option<student::Model>)],
        existing_guardians: &HashMap<GuardianKey, guardian::Model>,
    ) -> AppResult<()> {
        let now = Utc::now();
        // Students: create the new ones together, update the changed ones.
        let mut to_create: Vec<(StudentKey, &Row)> = Vec::new();
        let mut covered: Vec<i64> = Vec::new();
        for (i, key, stored) in accepted {
            let row = &rows[*i];
            if self.student_ids.contains_key(&digest(key)) {
                continue;
            }
            match stored {
                Some(s) => {
                    if let Some((model, before, after)) = student_changes(s, row) {
                        let now_covered = s.hi_status == HiStatus::Uninsured.code()
                            && model.hi_status.as_ref() != HiStatus::Uninsured.code();
                        student::Entity::update(model).exec(conn).await?;
                        if now_covered {
                            covered.push(s.id);
                        }
                        self.audit.push(audit::Entry {
                            action: "student.updated",
                            entity_type: "student",
                            entity_id: Some(s.id.to_string()),
                            summary: audit::changes(&before, &after),
                        });
                    }
                    self.student_ids.insert(digest(key), s.id);
                }
                None => {
                    if !to_create.iter().any(|(k, _)| k == key) {
                        to_create.push((key.clone(), row));
                    }
                }
            }
        }
        // Children now insured: messages about them still waiting are not sent.
        crate::reminders::goal::cancel_for_covered(conn, &covered).await?;
        if !to_create.is_empty() {
            let models: Vec<student::ActiveModel> = to_create
                .iter()
                .map(|(key, row)| student::ActiveModel {
                    school_id: Set(match key {
                        StudentKey::Si(s, _) | StudentKey::NameDob(s, _, _) => *s,
                    }),
                    si_number: Set(row.si.clone()),
                    full_name: Set(row.name.clone().unwrap_or_default()),
                    search_key: Set(row.name_key.clone().unwrap_or_default()),
                    date_of_birth: Set(row.dob.unwrap_or_default()),
                    grade: Set(row.grade.clone()),
                    class_name: Set(row.class_name.clone()),
                    hi_status: Set(row.status.unwrap_or(HiStatus::Uninsured).code().to_string()),
                    card_valid_until: Set(row.valid_until),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .collect();
            student::Entity::insert_many(models).exec(conn).await?;
            let keys: Vec<(usize, StudentKey)> = to_create
                .iter()
                .map(|(k, row)| {
                    (
                        rows.iter().position(|r| r.line == row.line).unwrap_or(0),
                        k.clone(),
                    )
                })
                .collect();
            let created = self.existing_students(conn, &keys, rows).await?;
            for (key, _) in &to_create {
                let s = created.get(key).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("created student not found"))
                })?;
                self.student_ids.insert(digest(key), s.id);
                self.audit.push(audit::Entry {
                    action: "student.created",
                    entity_type: "student",
                    entity_id: Some(s.id.to_string()),
                    summary: json!({"school_id": s.school_id, "hi_status": s.hi_status, "via": "import"}),
                });
            }
        }

        // Guardians.
        let mut g_create: Vec<&GuardianRow> = Vec::new();
        for (i, _, _) in accepted {
            let Some(g) = &rows[*i].guardian else {
                continue;
            };
            let gk = g.key();
            if self.guardian_ids.contains_key(&digest(&gk)) {
                continue;
            }
            match existing_guardians.get(&gk) {
                Some(old) => {
                    if let Some((model, before, after)) = guardian_changes(old, g) {
                        guardian::Entity::update(model).exec(conn).await?;
                        self.audit.push(audit::Entry {
                            action: "guardian.updated",
                            entity_type: "guardian",
                            entity_id: Some(old.id.to_string()),
                            summary: audit::changes(&before, &after),
                        });
                    }
                    self.guardian_ids.insert(digest(&gk), old.id);
                }
                None => {
                    if !g_create.iter().any(|x| x.key() == gk) {
                        g_create.push(g);
                    }
                }
            }
        }
        if !g_create.is_empty() {
            let models: Vec<guardian::ActiveModel> = g_create
                .iter()
                .map(|g| guardian::ActiveModel {
                    full_name: Set(g.name.clone()),
                    search_key: Set(g.name_key.clone()),
                    relationship: Set(g
                        .relationship
                        .unwrap_or(Relationship::Guardian)
                        .code()
                        .to_string()),
                    phone: Set(g.phone.as_ref().map(|p| p.as_str().to_string())),
                    email: Set(g.email.as_ref().map(|e| e.as_str().to_string())),
                    zalo: Set(g.zalo.unwrap_or(false)),
                    app_ref: Set(g.app_ref.clone()),
                    language: Set(g.language.unwrap_or_default().code().to_string()),
                    channel_order: Set(g
                        .channel_order
                        .as_deref()
                        .map(channel_order_text)
                        .unwrap_or_else(|| DEFAULT_CHANNEL_ORDER.to_string())),
                    opted_out_at: Set(None),
                    erased_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .collect();
            guardian::Entity::insert_many(models).exec(conn).await?;
            let keys: Vec<GuardianKey> = g_create.iter().map(|g| g.key()).collect();
            let created = self.existing_guardians(conn, &keys).await?;
            for key in keys {
                let g = created.get(&key).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("created guardian not found"))
                })?;
                self.guardian_ids.insert(digest(&key), g.id);
                self.audit.push(audit::Entry {
                    action: "guardian.created",
                    entity_type: "guardian",
                    entity_id: Some(g.id.to_string()),
                    summary: json!({"via": "import"}),
                });
            }
        }

        // Links between students and guardians.
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        for (i, key, _) in accepted {
            let Some(g) = &rows[*i].guardian else {
                continue;
            };
            let (Some(sid), Some(gid)) = (
                self.student_ids.get(&digest(key)),
                self.guardian_ids.get(&digest(&g.key())),
            ) else {
                continue;
            };
            if !pairs.contains(&(*sid, *gid)) {
                pairs.push((*sid, *gid));
            }
        }
        let linked = existing_links(conn, &pairs).await?;
        let made: Vec<(i64, i64)> = pairs.into_iter().filter(|p| !linked.contains(p)).collect();
        self.report.links_created += made.len();
        if !made.is_empty() {
            let new_links = made.iter().map(|(s, g)| student_guardian::ActiveModel {
                student_id: Set(*s),
                guardian_id: Set(*g),
            });
            student_guardian::Entity::insert_many(new_links)
                .exec(conn)
                .await?;
            super::service::count_new_links(conn, &made).await?;
        }

        // Consent: a record only where the decision differs from the current one.
        let gids: Vec<i64> = accepted
            .iter()
            .filter_map(|(i, _, _)| {
                rows[*i]
                    .guardian
                    .as_ref()
                    .and_then(|g| self.guardian_ids.get(&digest(&g.key())).copied())
            })
            .collect();
        let current = super::service::current_consents(conn, &gids).await?;
        let mut records = Vec::new();
        for (i, _, _) in accepted {
            let Some(g) = &rows[*i].guardian else {
                continue;
            };
            let Some(gid) = self.guardian_ids.get(&digest(&g.key())).copied() else {
                continue;
            };
            for (channel, granted) in &g.consents {
                if current
                    .get(&(gid, *channel))
                    .is_some_and(|c| import_may_not_grant(c, *granted))
                {
                    continue;
                }
                let before = self
                    .consent_now
                    .get(&(gid, *channel))
                    .copied()
                    .or_else(|| current.get(&(gid, *channel)).map(|c| c.granted));
                if before == Some(*granted) {
                    continue;
                }
                self.consent_now.insert((gid, *channel), *granted);
                let evidence = match &g.evidence {
                    Some(e) => format!("{}; {e}", self.evidence),
                    None => self.evidence.clone(),
                };
                records.push(consent::ActiveModel {
                    guardian_id: Set(gid),
                    channel: Set(channel.code().to_string()),
                    purpose: Set(PURPOSE_HI_REMINDERS.to_string()),
                    granted: Set(*granted),
                    source: Set(ConsentSource::Import.code().to_string()),
                    evidence: Set(Some(evidence.chars().take(255).collect())),
                    recorded_at: Set(now),
                    recorded_by: Set(self.actor.user_id),
                    recorded_by_label: Set(self.actor.label.chars().take(254).collect()),
                    ..Default::default()
                });
                self.audit.push(audit::Entry {
                    action: if *granted {
                        "consent.granted"
                    } else {
                        "consent.withdrawn"
                    },
                    entity_type: "guardian",
                    entity_id: Some(gid.to_string()),
                    summary: json!({"channel": channel.code(), "source": "import"}),
                });
            }
        }
        self.report.consents_recorded += records.len();
        for chunk in records.chunks(500) {
            consent::Entity::insert_many(chunk.to_vec())
                .exec(conn)
                .await?;
        }
        let entries = std::mem::take(&mut self.audit);
        audit::record_many(conn, self.actor, entries).await?;
        Ok(())
    }
}

/// A file may withdraw consent, but may not grant again what the guardian withdrew some other
/// way (a form, the unsubscribe link, staff): re-importing an old school list must not undo a
/// parent's "no".
fn import_may_not_grant(current: &consent::Model, granted: bool) -> bool {
    granted && !current.granted && current.source != ConsentSource::Import.code()
}

async fn existing_links<C: ConnectionTrait>(
    conn: &C,
    pairs: &[(i64, i64)],
) -> AppResult<HashSet<(i64, i64)>> {
    if pairs.is_empty() {
        return Ok(HashSet::new());
    }
    let students: Vec<i64> = pairs.iter().map(|p| p.0).collect();
    let guardians: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    Ok(student_guardian::Entity::find()
        .filter(student_guardian::Column::StudentId.is_in(students))
        .filter(student_guardian::Column::GuardianId.is_in(guardians))
        .all(conn)
        .await?
        .into_iter()
        .map(|l| (l.student_id, l.guardian_id))
        .collect())
}

type Change<M> = Option<(M, serde_json::Value, serde_json::Value)>;

/// The update a row asks of a stored student, if any: values left out keep what is stored.
fn student_changes(s: &student::Model, row: &Row) -> Change<student::ActiveModel> {
    let name = row.name.clone().unwrap_or_else(|| s.full_name.clone());
    let dob = row.dob.unwrap_or(s.date_of_birth);
    let si = row.si.clone().or_else(|| s.si_number.clone());
    let grade = row.grade.clone().or_else(|| s.grade.clone());
    let class_name = row.class_name.clone().or_else(|| s.class_name.clone());
    let status = row
        .status
        .map(|x| x.code().to_string())
        .unwrap_or_else(|| s.hi_status.clone());
    let valid_until = row.valid_until.or(s.card_valid_until);
    if name == s.full_name
        && dob == s.date_of_birth
        && si == s.si_number
        && grade == s.grade
        && class_name == s.class_name
        && status == s.hi_status
        && valid_until == s.card_valid_until
    {
        return None;
    }
    let before = json!({"si_number": s.si_number.is_some(), "date_of_birth": s.date_of_birth, "grade": s.grade,
        "class_name": s.class_name, "hi_status": s.hi_status, "card_valid_until": s.card_valid_until,
        "name_changed": false});
    let after = json!({"si_number": si.is_some(), "date_of_birth": dob, "grade": grade, "class_name": class_name,
        "hi_status": status, "card_valid_until": valid_until, "name_changed": name != s.full_name});
    let mut m: student::ActiveModel = s.clone().into();
    m.search_key = Set(fold(&name));
    m.full_name = Set(name);
    m.date_of_birth = Set(dob);
    m.si_number = Set(si);
    m.grade = Set(grade);
    m.class_name = Set(class_name);
    m.hi_status = Set(status);
    m.card_valid_until = Set(valid_until);
    m.updated_at = Set(Utc::now());
    Some((m, before, after))
}

/// The update a row asks of a stored guardian, if any. An erased guardian is never filled in
/// again from a file.
fn guardian_changes(g: &guardian::Model, row: &GuardianRow) -> Change<guardian::ActiveModel> {
    if g.erased_at.is_some() {
        return None;
    }
    let relationship = row
        .relationship
        .map(|r| r.code().to_string())
        .unwrap_or_else(|| g.relationship.clone());
    let email = row
        .email
        .as_ref()
        .map(|e| e.as_str().to_string())
        .or_else(|| g.email.clone());
    let phone = row
        .phone
        .as_ref()
        .map(|p| p.as_str().to_string())
        .or_else(|| g.phone.clone());
    let zalo = row.zalo.unwrap_or(g.zalo);
    let app_ref = row.app_ref.clone().or_else(|| g.app_ref.clone());
    let language = row
        .language
        .map(|l| l.code().to_string())
        .unwrap_or_else(|| g.language.clone());
    let order = row
        .channel_order
        .as_deref()
        .map(channel_order_text)
        .unwrap_or_else(|| g.channel_order.clone());
    if row.name == g.full_name
        && relationship == g.relationship
        && email == g.email
        && phone == g.phone
        && zalo == g.zalo
        && app_ref == g.app_ref
        && language == g.language
        && order == g.channel_order
    {
        return None;
    }
    // The audit summary says which fields changed, not their personal values.
    let before = json!({"relationship": g.relationship, "zalo": g.zalo, "language": g.language, "channel_order": g.channel_order});
    let after = json!({"relationship": relationship, "zalo": zalo, "language": language, "channel_order": order,
        "contact_changed": email != g.email || phone != g.phone || app_ref != g.app_ref, "name_changed": row.name != g.full_name});
    let mut m: guardian::ActiveModel = g.clone().into();
    m.full_name = Set(row.name.clone());
    m.search_key = Set(row.name_key.clone());
    m.relationship = Set(relationship);
    m.email = Set(email);
    m.phone = Set(phone);
    m.zalo = Set(zalo);
    m.app_ref = Set(app_ref);
    m.language = Set(language);
    m.channel_order = Set(order);
    m.updated_at = Set(Utc::now());
    Some((m, before, after))
}

/// Runs one pass over a file: `feed` pushes its bytes into the sender it is given (and drops
/// it at the end). Feeding and processing run side by side in this task, so the source may be a
/// request body, which cannot move to another thread.
async fn run_pass<C, F, Fut>(
    conn: &C,
    actor: &Actor,
    kind: Kind,
    pass: Pass,
    evidence: String,
    feed: F,
) -> AppResult<Report>
where
    C: ConnectionTrait,
    F: FnOnce(mpsc::Sender<actix_web::web::Bytes>) -> Fut,
    Fut: std::future::Future<Output = AppResult<()>>,
{
    let (tx, rx) = csv_stream::start(kind.columns());
    let mut p = Processor::new(actor, kind, pass, evidence);
    let consume = async {
        // Owned here, so it is dropped when processing stops — early on an error too — which
        // stops the parser and then the feeder instead of leaving them blocked on full channels.
        let mut rx = rx;
        while let Some(parsed) = rx.recv().await {
            match parsed {
                Parsed::Problems(errors) => {
                    for e in errors {
                        // A row the parser could not read still counts as a row of the file.
                        let line = e.row;
                        if p.reject(line, vec![e]) {
                            p.report.rows += 1;
                        }
                    }
                }
                Parsed::Records(records) => p.batch(conn, records).await?,
            }
        }
        AppResult::Ok(())
    };
    let (fed, consumed) = futures_util::join!(feed(tx), consume);
    // A processing error explains more than the feeder's "receiver gone".
    consumed?;
    fed?;
    p.report.invalid_rows = p.invalid_lines.len();
    Ok(p.report)
}

/// Checks a file without writing anything.
pub async fn check<F, Fut>(
    db: &crate::db::Db,
    actor: &Actor,
    kind: Kind,
    feed: F,
) -> AppResult<Report>
where
    F: FnOnce(mpsc::Sender<actix_web::web::Bytes>) -> Fut,
    Fut: std::future::Future<Output = AppResult<()>>,
{
    require_importer(actor, kind)?;
    run_pass(&db.conn, actor, kind, Pass::Check, String::new(), feed).await
}

/// Writes a stored upload in one transaction: every row, or (all-or-nothing) nothing when any
/// row is bad — then the report says why and nothing is written.
pub async fn commit(
    db: &crate::db::Db,
    actor: &Actor,
    kind: Kind,
    import_id: i64,
    mode: CommitMode,
) -> AppResult<(Report, bool)> {
    require_importer(actor, kind)?;
    let (tx, _one_import) = db.begin_import().await?;
    crate::imports::claim_pending(&*tx, actor, kind.code(), import_id).await?;
    // All-or-nothing: check first, so a bad row late in the file costs no writes.
    if mode == CommitMode::AllOrNothing {
        let feeder_db = db.clone();
        let report = run_pass(&*tx, actor, kind, Pass::Check, String::new(), move |s| {
            crate::imports::feed_chunks(feeder_db, import_id, s)
        })
        .await?;
        if report.has_errors() {
            return Ok((report, false));
        }
    }
    let feeder_db = db.clone();
    let report = run_pass(
        &*tx,
        actor,
        kind,
        Pass::Write(mode),
        format!("import #{import_id}"),
        move |s| crate::imports::feed_chunks(feeder_db, import_id, s),
    )
    .await?;
    let written = report.students_created + report.students_updated;
    crate::imports::finish_commit(&*tx, import_id, report.counts(written)).await?;
    audit::record(
        &*tx,
        actor,
        "import.committed",
        "import",
        Some(import_id.to_string()),
        json!({
            "kind": kind.code(),
            "mode": match mode { CommitMode::AllOrNothing => "all_or_nothing", CommitMode::ValidOnly => "valid_only" },
            "rows": report.rows,
            "invalid_rows": report.invalid_rows,
            "students_created": report.students_created,
            "students_updated": report.students_updated,
            "guardians_created": report.guardians_created,
            "guardians_updated": report.guardians_updated,
            "links_created": report.links_created,
            "consents_recorded": report.consents_recorded,
        }),
    )
    .await?;
    tx.commit().await?;
    db.lists_changed();
    Ok((report, true))
}

/// Who may import: admins and staff (students in their scope); liaisons may send HI-status
/// updates for their schools.
pub fn require_importer(actor: &Actor, kind: Kind) -> AppResult<()> {
    match kind {
        Kind::Students => actor.require_map_editor(),
        Kind::HiStatus => Ok(()),
    }
}
