//! Students and guardians as the actor may see them; HI status; consent; export and erasure.
//!
//! Who sees what: every role sees the students of the schools in its scope. Contact details
//! (phone, e-mail, app reference) and social-insurance numbers are shown in full to admins and
//! to liaisons (who work with these families); communication staff, who plan and measure but do
//! not call parents, see them masked.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    JoinType, QueryFilter, QueryOrder, QueryResult, QuerySelect, RelationDef, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{consent, guardian, student, student_guardian};
use super::fields::{
    mask_email, mask_phone, Channel, ConsentSource, HiStatus, Relationship, PURPOSE_HI_REMINDERS,
};
use crate::audit;
use crate::auth::actor::{Actor, Role, Scope};
use crate::db::{Db, Params};
use crate::error::{AppError, AppResult, Msg};
use crate::fields::{fold, optional_text};
use crate::org::entity::school;
use crate::web::paging::{count_cap, count_long_list, PageParams, Paged};

/// Whether this actor sees contact details and SI numbers in full.
pub fn sees_contact_details(actor: &Actor) -> bool {
    matches!(actor.role, Role::Admin | Role::Liaison)
}

/// Students in schools the actor may see.
pub fn student_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(
            student::Column::SchoolId.in_subquery(
                Query::select()
                    .column(school::Column::Id)
                    .from(school::Entity)
                    .and_where(school::Column::ProvinceId.eq(p))
                    .to_owned(),
            ),
        ),
        Scope::Schools(ids) => Condition::all().add(student::Column::SchoolId.is_in(ids)),
    }
}

/// Guardians of at least one student the actor may see.
pub fn guardian_scope(actor: &Actor) -> Condition {
    if actor.scope() == Scope::National {
        return Condition::all();
    }
    let visible_students = Query::select()
        .column(student::Column::Id)
        .from(student::Entity)
        .cond_where(student_scope(actor))
        .to_owned();
    Condition::all().add(
        guardian::Column::Id.in_subquery(
            Query::select()
                .column(student_guardian::Column::GuardianId)
                .from(student_guardian::Entity)
                .and_where(student_guardian::Column::StudentId.in_subquery(visible_students))
                .to_owned(),
        ),
    )
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchoolRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudentView {
    pub id: i64,
    pub school: SchoolRef,
    /// Masked (`79******78`) for roles that do not need it.
    pub si_number: Option<String>,
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub grade: Option<String>,
    pub class_name: Option<String>,
    pub hi_status: HiStatus,
    pub card_valid_until: Option<NaiveDate>,
    pub guardians: u64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentState {
    pub channel: Channel,
    pub granted: bool,
    pub source: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuardianView {
    pub id: i64,
    pub full_name: String,
    pub relationship: String,
    /// E.164, masked for roles that do not need it.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub zalo: bool,
    pub app_ref: Option<String>,
    pub language: String,
    pub channel_order: String,
    pub opted_out_at: Option<DateTime<Utc>>,
    pub erased: bool,
    /// The current consent on each channel that has a record.
    pub consents: Vec<ConsentState>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudentDetail {
    #[serde(flatten)]
    pub student: StudentView,
    pub guardian_details: Vec<GuardianView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StudentRef {
    pub id: i64,
    pub full_name: String,
    pub school: SchoolRef,
    pub class_name: Option<String>,
    pub hi_status: HiStatus,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuardianDetail {
    #[serde(flatten)]
    pub guardian: GuardianView,
    pub students: Vec<StudentRef>,
    /// Every consent record, newest first.
    pub consent_history: Vec<ConsentState>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct StudentFilter {
    /// Text in the name or SI number; accents optional.
    pub q: Option<String>,
    /// School code.
    pub school: Option<String>,
    /// Class, e.g. `10A1`.
    pub class: Option<String>,
    /// `insured`, `uninsured` or `state_funded`.
    pub hi_status: Option<String>,
}

fn mask_si(si: &str) -> String {
    let n = si.chars().count();
    si.chars()
        .enumerate()
        .map(|(i, c)| if i < 2 || i + 2 >= n { c } else { '*' })
        .collect()
}

async fn school_refs<C: ConnectionTrait>(
    conn: &C,
    ids: Vec<i64>,
) -> AppResult<HashMap<i64, SchoolRef>> {
    Ok(school::Entity::find()
        .filter(school::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| {
            (
                s.id,
                SchoolRef {
                    id: s.id,
                    code: s.code,
                    name: s.name,
                },
            )
        })
        .collect())
}

async fn student_views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<student::Model>,
) -> AppResult<Vec<StudentView>> {
    let schools = school_refs(conn, rows.iter().map(|s| s.school_id).collect()).await?;
    let full = sees_contact_details(actor);
    rows.into_iter()
        .map(|s| {
            let school = schools.get(&s.school_id).cloned().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("student {} without school", s.id))
            })?;
            Ok(student_view(s, school, full))
        })
        .collect()
}

fn student_view(s: student::Model, school: SchoolRef, full: bool) -> StudentView {
    StudentView {
        school,
        si_number: s
            .si_number
            .as_deref()
            .map(|v| if full { v.to_string() } else { mask_si(v) }),
        hi_status: HiStatus::parse(&s.hi_status).unwrap_or(HiStatus::Uninsured),
        guardians: s.guardian_count.max(0) as u64,
        id: s.id,
        full_name: s.full_name,
        date_of_birth: s.date_of_birth,
        grade: s.grade,
        class_name: s.class_name,
        card_valid_until: s.card_valid_until,
        updated_at: s.updated_at,
    }
}

/// A student as a list shows it: the row and its school's code and name, read by one statement.
struct ListedStudent {
    student: student::Model,
    school_code: String,
    school_name: String,
}

impl FromQueryResult for ListedStudent {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            student: student::Model::from_query_result(res, pre)?,
            school_code: res.try_get(pre, "school_code")?,
            school_name: res.try_get(pre, "school_name")?,
        })
    }
}

pub async fn list_students(
    db: &Db,
    actor: &Actor,
    filter: &StudentFilter,
    paging: PageParams,
) -> AppResult<Paged<StudentView>> {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut q = student::Entity::find().filter(student_scope(actor));
    let text = nonempty(&filter.q);
    let searching = text.is_some();
    if let Some(text) = text {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let mut any = Condition::any().add(crate::db::contains(
            db.backend(),
            student::Column::SearchKey,
            &fold(&text),
        ));
        if digits.len() >= 4 && sees_contact_details(actor) {
            any = any.add(crate::db::contains(
                db.backend(),
                student::Column::SiNumber,
                &digits,
            ));
        }
        q = q.filter(any);
    }
    if let Some(code) = nonempty(&filter.school) {
        let s = school::Entity::find()
            .filter(school::Column::Code.eq(code.to_uppercase()))
            .one(&db.conn)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "school",
                    Msg::new("error-unknown-school").arg("code", &code),
                )
            })?;
        q = q.filter(student::Column::SchoolId.eq(s.id));
    }
    if let Some(class) = nonempty(&filter.class) {
        q = q.filter(student::Column::ClassName.eq(class));
    }
    if let Some(status) = nonempty(&filter.hi_status) {
        let status = HiStatus::parse(&status).map_err(|m| AppError::invalid("hi_status", m))?;
        q = q.filter(student::Column::HiStatus.eq(status.code()));
    }
    let in_school: RelationDef = student::Entity::belongs_to(school::Entity)
        .from(student::Column::SchoolId)
        .to(school::Column::Id)
        .into();
    let rows = q
        .clone()
        .join(JoinType::InnerJoin, in_school)
        .column_as(school::Column::Code, "school_code")
        .column_as(school::Column::Name, "school_name")
        // The order of the index on (school, name, birth date, id): a page is read straight
        // from it, where sorting by class first sorted a whole school for every page.
        .order_by_asc(student::Column::SchoolId)
        .order_by_asc(student::Column::SearchKey)
        .order_by_asc(student::Column::DateOfBirth)
        .order_by_asc(student::Column::Id)
        .offset(paging.offset())
        .limit(paging.per_page)
        .into_model::<ListedStudent>()
        .all(&db.conn)
        .await?;
    let total = count_long_list(db, q, count_cap(searching), paging, rows.len() as u64).await?;
    let full = sees_contact_details(actor);
    let items = rows
        .into_iter()
        .map(|r| {
            let school = SchoolRef {
                id: r.student.school_id,
                code: r.school_code,
                name: r.school_name,
            };
            student_view(r.student, school, full)
        })
        .collect();
    Ok(Paged::counted(items, paging, total))
}

/// Adds links just made (student, guardian) to their students' guardian counts, in the
/// transaction that made them. An increment, not a recount: two imports linking guardians to
/// one student at once (PostgreSQL, read committed) each add their own, where a recount in
/// each would not see the other's uncommitted link. The same link twice fails on the key.
pub async fn count_new_links<C: ConnectionTrait>(conn: &C, links: &[(i64, i64)]) -> AppResult<()> {
    let mut per_student: BTreeMap<i64, i32> = BTreeMap::new();
    for (student, _) in links {
        *per_student.entry(*student).or_default() += 1;
    }
    let mut by_added: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (student, added) in per_student {
        by_added.entry(added).or_default().push(student);
    }
    for (added, students) in by_added {
        for chunk in students.chunks(500) {
            student::Entity::update_many()
                .col_expr(
                    student::Column::GuardianCount,
                    Expr::col(student::Column::GuardianCount).add(added),
                )
                .filter(student::Column::Id.is_in(chunk.iter().copied()))
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}

async fn visible_student<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<student::Model> {
    student::Entity::find_by_id(id)
        .filter(student_scope(actor))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get_student(db: &Db, actor: &Actor, id: i64) -> AppResult<StudentDetail> {
    let row = visible_student(&db.conn, actor, id).await?;
    let guardian_ids: Vec<i64> = student_guardian::Entity::find()
        .select_only()
        .column(student_guardian::Column::GuardianId)
        .filter(student_guardian::Column::StudentId.eq(id))
        .into_tuple()
        .all(&db.conn)
        .await?;
    let guardians = guardian::Entity::find()
        .filter(guardian::Column::Id.is_in(guardian_ids))
        .order_by_asc(guardian::Column::Id)
        .all(&db.conn)
        .await?;
    let guardian_details = guardian_views(&db.conn, actor, guardians).await?;
    let student = student_views(&db.conn, actor, vec![row]).await?.remove(0);
    Ok(StudentDetail {
        student,
        guardian_details,
    })
}

fn consent_state(c: consent::Model) -> ConsentState {
    ConsentState {
        channel: Channel::parse(&c.channel).unwrap_or(Channel::Sms),
        granted: c.granted,
        source: c.source,
        recorded_at: c.recorded_at,
        recorded_by: c.recorded_by_label,
        evidence: c.evidence,
    }
}

/// The latest consent record per (guardian, channel) for the reminders purpose.
pub async fn current_consents<C: ConnectionTrait>(
    conn: &C,
    guardian_ids: &[i64],
) -> AppResult<HashMap<(i64, Channel), consent::Model>> {
    let mut out = HashMap::new();
    for chunk in guardian_ids.chunks(500) {
        let latest = Query::select()
            .expr(Expr::col(consent::Column::Id).max())
            .from(consent::Entity)
            .and_where(consent::Column::GuardianId.is_in(chunk.to_vec()))
            .and_where(consent::Column::Purpose.eq(PURPOSE_HI_REMINDERS))
            .group_by_columns([consent::Column::GuardianId, consent::Column::Channel])
            .to_owned();
        for c in consent::Entity::find()
            .filter(consent::Column::Id.in_subquery(latest))
            .all(conn)
            .await?
        {
            if let Ok(channel) = Channel::parse(&c.channel) {
                out.insert((c.guardian_id, channel), c);
            }
        }
    }
    Ok(out)
}

async fn guardian_views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<guardian::Model>,
) -> AppResult<Vec<GuardianView>> {
    let ids: Vec<i64> = rows.iter().map(|g| g.id).collect();
    let mut consents = current_consents(conn, &ids).await?;
    let full = sees_contact_details(actor);
    Ok(rows
        .into_iter()
        .map(|g| {
            let mut states: Vec<ConsentState> = Channel::ALL
                .iter()
                .filter_map(|ch| consents.remove(&(g.id, *ch)))
                .map(consent_state)
                .collect();
            states.sort_by_key(|s| Channel::ALL.iter().position(|c| *c == s.channel));
            GuardianView {
                phone: g
                    .phone
                    .as_deref()
                    .map(|p| if full { p.to_string() } else { mask_phone(p) }),
                email: g
                    .email
                    .as_deref()
                    .map(|e| if full { e.to_string() } else { mask_email(e) }),
                app_ref: g
                    .app_ref
                    .as_deref()
                    .map(|r| if full { r.to_string() } else { "***".into() }),
                erased: g.erased_at.is_some(),
                consents: states,
                id: g.id,
                full_name: g.full_name,
                relationship: g.relationship,
                zalo: g.zalo,
                language: g.language,
                channel_order: g.channel_order,
                opted_out_at: g.opted_out_at,
            }
        })
        .collect())
}

async fn visible_guardian<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<guardian::Model> {
    guardian::Entity::find_by_id(id)
        .filter(guardian_scope(actor))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get_guardian(db: &Db, actor: &Actor, id: i64) -> AppResult<GuardianDetail> {
    let g = visible_guardian(&db.conn, actor, id).await?;
    let student_ids: Vec<i64> = student_guardian::Entity::find()
        .select_only()
        .column(student_guardian::Column::StudentId)
        .filter(student_guardian::Column::GuardianId.eq(id))
        .into_tuple()
        .all(&db.conn)
        .await?;
    let students = student::Entity::find()
        .filter(student::Column::Id.is_in(student_ids))
        .filter(student_scope(actor))
        .order_by_asc(student::Column::DateOfBirth)
        .all(&db.conn)
        .await?;
    let schools = school_refs(&db.conn, students.iter().map(|s| s.school_id).collect()).await?;
    let students = students
        .into_iter()
        .filter_map(|s| {
            Some(StudentRef {
                school: schools.get(&s.school_id)?.clone(),
                hi_status: HiStatus::parse(&s.hi_status).unwrap_or(HiStatus::Uninsured),
                id: s.id,
                full_name: s.full_name,
                class_name: s.class_name,
            })
        })
        .collect();
    let consent_history = consent::Entity::find()
        .filter(consent::Column::GuardianId.eq(id))
        .order_by_desc(consent::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(consent_state)
        .collect();
    let guardian = guardian_views(&db.conn, actor, vec![g]).await?.remove(0);
    Ok(GuardianDetail {
        guardian,
        students,
        consent_history,
    })
}

/// A change of HI status (a card issued, a student found state-funded). Every role may record
/// it for students in its scope: liaisons register students at school sessions.
pub async fn set_hi_status(
    db: &Db,
    actor: &Actor,
    id: i64,
    status: HiStatus,
    valid_until: Option<NaiveDate>,
) -> AppResult<StudentView> {
    let tx = db.begin_write().await?;
    let row = visible_student(&*tx, actor, id).await?;
    let before = json!({"hi_status": row.hi_status, "card_valid_until": row.card_valid_until});
    let mut m: student::ActiveModel = row.into();
    m.hi_status = Set(status.code().to_string());
    m.card_valid_until = Set(valid_until);
    m.updated_at = Set(Utc::now());
    let row = m.update(&*tx).await?;
    if row.hi_status != HiStatus::Uninsured.code() {
        crate::reminders::goal::cancel_for_covered(&*tx, &[row.id]).await?;
    }
    let after = json!({"hi_status": row.hi_status, "card_valid_until": row.card_valid_until});
    audit::record(
        &*tx,
        actor,
        "student.hi_status",
        "student",
        Some(id.to_string()),
        audit::changes(&before, &after),
    )
    .await?;
    tx.commit().await?;
    db.lists_changed();
    Ok(student_views(&db.conn, actor, vec![row]).await?.remove(0))
}

/// A consent decision to record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ConsentInput {
    /// `email`, `sms`, `zalo` or `push`.
    #[serde(default)]
    pub channel: String,
    pub granted: bool,
    /// `school_form`, `online` or `staff` (imports and unsubscribe links record their own).
    #[serde(default)]
    pub source: String,
    /// What proves it, e.g. the number of the signed school form.
    #[serde(default)]
    pub evidence: Option<String>,
}

/// Appends a consent record (history is never rewritten). A guardian who has opted out of
/// everything must opt in again per channel; recording a grant clears the global opt-out.
pub async fn record_consent(
    db: &Db,
    actor: &Actor,
    guardian_id: i64,
    input: &ConsentInput,
) -> AppResult<GuardianDetail> {
    let mut errors = crate::error::FieldErrors::new();
    let channel = errors.take("channel", Channel::parse(&input.channel));
    let source = errors.take("source", ConsentSource::parse(&input.source));
    if matches!(
        source,
        Some(ConsentSource::Import | ConsentSource::Unsubscribe)
    ) {
        errors.add(
            "source",
            Msg::new("error-one-of").arg("allowed", "school_form, online, staff"),
        );
    }
    let evidence = errors.take(
        "evidence",
        optional_text(input.evidence.as_deref().unwrap_or(""), 255),
    );
    errors.into_result()?;
    let (channel, source, evidence) = (
        channel.expect("checked"),
        source.expect("checked"),
        evidence.expect("checked"),
    );
    let tx = db.begin_write().await?;
    let g = visible_guardian(&*tx, actor, guardian_id).await?;
    if g.erased_at.is_some() {
        return Err(AppError::Conflict(Msg::new("error-guardian-erased")));
    }
    append_consent(
        &*tx,
        guardian_id,
        channel,
        input.granted,
        source,
        evidence.clone(),
        actor.user_id,
        &actor.label,
    )
    .await?;
    if input.granted && g.opted_out_at.is_some() {
        guardian::Entity::update_many()
            .col_expr(
                guardian::Column::OptedOutAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(guardian::Column::Id.eq(guardian_id))
            .exec(&*tx)
            .await?;
    }
    let action = if input.granted {
        "consent.granted"
    } else {
        "consent.withdrawn"
    };
    audit::record(
        &*tx,
        actor,
        action,
        "guardian",
        Some(guardian_id.to_string()),
        json!({"channel": channel.code(), "source": source.code(), "evidence": evidence}),
    )
    .await?;
    tx.commit().await?;
    get_guardian(db, actor, guardian_id).await
}

#[allow(clippy::too_many_arguments)]
pub async fn append_consent<C: ConnectionTrait>(
    conn: &C,
    guardian_id: i64,
    channel: Channel,
    granted: bool,
    source: ConsentSource,
    evidence: Option<String>,
    user_id: Option<i64>,
    label: &str,
) -> AppResult<()> {
    consent::ActiveModel {
        guardian_id: Set(guardian_id),
        channel: Set(channel.code().to_string()),
        purpose: Set(PURPOSE_HI_REMINDERS.to_string()),
        granted: Set(granted),
        source: Set(source.code().to_string()),
        evidence: Set(evidence),
        recorded_at: Set(Utc::now()),
        recorded_by: Set(user_id),
        recorded_by_label: Set(label.chars().take(254).collect()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Guardians among `ids` who may be messaged on `channel` now: consent granted on that
/// channel (latest record), not opted out, not erased, and with the address the channel needs.
pub async fn reachable<C: ConnectionTrait>(
    conn: &C,
    channel: Channel,
    ids: &[i64],
) -> AppResult<Vec<i64>> {
    let mut out: Vec<i64> = reachable_guardians(conn, channel, ids)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The rows of the guardians [`reachable`] answers, read by one statement (the worker's check
/// before each batch, and its source of the addresses as they are now).
pub async fn reachable_guardians<C: ConnectionTrait>(
    conn: &C,
    channel: Channel,
    ids: &[i64],
) -> AppResult<Vec<guardian::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Params::new(conn.get_database_backend());
    let ids = p.bind_ids(ids);
    let ch = p.bind(channel.code());
    let purpose = p.bind(PURPOSE_HI_REMINDERS);
    let address = match channel {
        Channel::Email => "g.email IS NOT NULL",
        Channel::Sms => "g.phone IS NOT NULL",
        Channel::Zalo => "g.phone IS NOT NULL AND g.zalo",
        Channel::Push => "g.app_ref IS NOT NULL",
    };
    let sql = format!(
        "SELECT g.* FROM guardians g \
         WHERE g.id IN {ids} AND g.opted_out_at IS NULL AND g.erased_at IS NULL AND {address} \
           AND COALESCE((SELECT c.granted FROM consents c \
                WHERE c.guardian_id = g.id AND c.channel = {ch} AND c.purpose = {purpose} \
                ORDER BY c.id DESC LIMIT 1), FALSE)"
    );
    Ok(guardian::Entity::find()
        .from_raw_sql(p.statement(sql))
        .all(conn)
        .await?)
}

/// Everything stored about a guardian, for a data-subject access request (admins only).
pub async fn export_guardian(db: &Db, actor: &Actor, id: i64) -> AppResult<serde_json::Value> {
    actor.require_admin()?;
    let g = guardian::Entity::find_by_id(id)
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let detail = get_guardian(db, actor, id).await?;
    let tx = db.begin_write().await?;
    audit::record(
        &*tx,
        actor,
        "guardian.exported",
        "guardian",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({
        "exported_at": Utc::now(),
        "guardian": {
            "id": g.id,
            "full_name": g.full_name,
            "relationship": g.relationship,
            "phone": g.phone,
            "email": g.email,
            "zalo": g.zalo,
            "app_ref": g.app_ref,
            "language": g.language,
            "channel_order": g.channel_order,
            "opted_out_at": g.opted_out_at,
            "erased_at": g.erased_at,
            "created_at": g.created_at,
            "updated_at": g.updated_at,
        },
        "students": detail.students,
        "consent_history": detail.consent_history,
    }))
}

/// Erases a guardian's personal data (admins only): name, phone, e-mail and app reference are
/// removed, the guardian can never be messaged again; the row, its links to students and its
/// consent records stay, so counts and the proof of past consent survive without the person.
pub async fn erase_guardian(db: &Db, actor: &Actor, id: i64) -> AppResult<()> {
    actor.require_admin()?;
    let tx = db.begin_write().await?;
    let g = guardian::Entity::find_by_id(id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if g.erased_at.is_some() {
        return Ok(());
    }
    let now = Utc::now();
    let mut m: guardian::ActiveModel = g.into();
    m.full_name = Set(ERASED_NAME.to_string());
    m.search_key = Set(String::new());
    m.phone = Set(None);
    m.email = Set(None);
    m.zalo = Set(false);
    m.app_ref = Set(None);
    m.opted_out_at = Set(Some(now));
    m.erased_at = Set(Some(now));
    m.updated_at = Set(now);
    m.update(&*tx).await?;
    consent::Entity::update_many()
        .col_expr(
            consent::Column::Evidence,
            Expr::value(Option::<String>::None),
        )
        .filter(consent::Column::GuardianId.eq(id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        "guardian.erased",
        "guardian",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub const ERASED_NAME: &str = "—";

/// Relationship codes for forms.
pub fn relationships() -> Vec<&'static str> {
    Relationship::ALL.iter().map(|r| r.code()).collect()
}
