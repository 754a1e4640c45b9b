//! Q&A / consultation sessions at schools: scheduling, the liaison's log of what happened,
//! and who may see and change them (a liaison only at their schools; staff in their province).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{liaison, question, session, task};
use crate::audit;
use crate::auth::actor::{Actor, Role, Scope};
use crate::auth::entity::{user, user_school};
use crate::campaigns::activities::day_range;
use crate::campaigns::entity::campaign;
use crate::campaigns::kinds::{self, loose_list, loose_number};
use crate::campaigns::service::{self as campaigns, PlaceRef, UserRef};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{multiline_text, optional_text, required_text};
use crate::org::entity::{province, school};
use crate::web::paging::{page_of, PageParams, Paged};

crate::campaigns::kinds::vocabulary!(Format {
    AtSchool => "at_school",
    Online => "online",
    ParentMeeting => "parent_meeting",
});

crate::campaigns::kinds::vocabulary!(SessionStatus {
    Scheduled => "scheduled",
    Held => "held",
    Postponed => "postponed",
    Cancelled => "cancelled",
});

pub const MAX_PEOPLE: i64 = 100_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
    pub topic: String,
    pub question: String,
    pub answer: String,
    pub needs_follow_up: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub description: String,
    pub due_on: NaiveDate,
    pub done: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub campaign: PlaceRef,
    pub school: PlaceRef,
    pub province: PlaceRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The day and times in Vietnam time, as forms show them.
    pub date: NaiveDate,
    pub start_time: String,
    pub end_time: String,
    pub format: Format,
    pub expected_audience: i32,
    pub location: Option<String>,
    pub liaisons: Vec<UserRef>,
    pub status: SessionStatus,
    pub status_reason: Option<String>,
    pub attendance_students: i32,
    pub attendance_parents: i32,
    pub attendance_teachers: i32,
    pub registered_on_spot: i32,
    pub materials: String,
    pub notes: String,
    pub questions: Vec<QuestionView>,
    pub tasks: Vec<TaskView>,
    pub logged_at: Option<DateTime<Utc>>,
    pub editable: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A session as a form or the API schedules it; times are Vietnam wall-clock time.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SessionDraft {
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = i64)]
    pub campaign_id: Option<String>,
    /// The school by code (or give `school_id`).
    pub school_code: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub school_id: Option<String>,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub date: String,
    /// HH:MM.
    pub start_time: String,
    /// HH:MM, after the start.
    pub end_time: String,
    /// at_school (default), online or parent_meeting.
    pub format: String,
    /// User ids of the liaisons responsible; the caller when empty.
    #[serde(deserialize_with = "loose_list")]
    pub liaison_ids: Vec<String>,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub expected_audience: Option<String>,
    pub location: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct QuestionInput {
    /// A topic code.
    pub topic: String,
    pub question: String,
    pub answer: String,
    pub needs_follow_up: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TaskInput {
    pub description: String,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub due_on: String,
    pub done: bool,
}

/// What the liaison records after the session. Replaces the previous log.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SessionLog {
    /// held, postponed or cancelled.
    pub status: String,
    /// Why it was postponed or cancelled (required then).
    pub reason: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub attendance_students: Option<String>,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub attendance_parents: Option<String>,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub attendance_teachers: Option<String>,
    pub questions: Vec<QuestionInput>,
    pub materials: String,
    /// Students who registered for HI during the session.
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub registered_on_spot: Option<String>,
    pub tasks: Vec<TaskInput>,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct SessionFilter {
    pub campaign: Option<i64>,
    /// School code.
    pub school: Option<String>,
    /// Province code.
    pub province: Option<String>,
    /// scheduled, held, postponed or cancelled.
    pub status: Option<String>,
    /// First day (yyyy-mm-dd, Vietnam time), inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
    /// Only sessions the caller is a liaison of.
    pub mine: Option<bool>,
}

/// Sessions at schools of the actor's scope.
pub fn session_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(
            session::Column::SchoolId.in_subquery(
                Query::select()
                    .column(school::Column::Id)
                    .from(school::Entity)
                    .and_where(school::Column::ProvinceId.eq(p))
                    .to_owned(),
            ),
        ),
        Scope::Schools(ids) => Condition::all().add(session::Column::SchoolId.is_in(ids)),
    }
}

fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// The sessions as shown. `known` is a campaign the caller has read already (and the actor
/// sees): sessions of it take its name from there instead of reading it again.
pub async fn views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<session::Model>,
    tz: Tz,
    details: bool,
    known: Option<&campaign::Model>,
) -> AppResult<Vec<SessionView>> {
    if rows.is_empty() {
        // Nothing to look up: a page with no sessions runs none of the statements below.
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|s| s.id).collect();
    let mut campaigns = campaigns::visible_names(
        conn,
        actor,
        rows.iter()
            .map(|s| s.campaign_id)
            .filter(|id| known.is_none_or(|c| c.id != *id)),
    )
    .await?;
    if let Some(c) = known {
        campaigns.insert(c.id, c.name.clone());
    }
    // Each school with its province, and each liaison with their name: one statement each.
    let school_ids: BTreeSet<i64> = rows.iter().map(|s| s.school_id).collect();
    let places: BTreeMap<i64, (PlaceRef, PlaceRef)> = school::Entity::find()
        .select_only()
        .column_as(school::Column::Id, "school_id")
        .column_as(school::Column::Code, "school_code")
        .column_as(school::Column::Name, "school_name")
        .column_as(province::Column::Id, "province_id")
        .column_as(province::Column::Code, "province_code")
        .column_as(province::Column::Name, "province_name")
        .join(
            JoinType::InnerJoin,
            school::Entity::belongs_to(province::Entity)
                .from(school::Column::ProvinceId)
                .to(province::Column::Id)
                .into(),
        )
        .filter(school::Column::Id.is_in(school_ids))
        .into_tuple::<(i64, String, String, i64, String, String)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(id, code, name, pid, pcode, pname)| {
            (
                id,
                (
                    PlaceRef { id, code, name },
                    PlaceRef {
                        id: pid,
                        code: pcode,
                        name: pname,
                    },
                ),
            )
        })
        .collect();
    let mut liaisons: BTreeMap<i64, Vec<UserRef>> = BTreeMap::new();
    for (session_id, id, name) in liaison::Entity::find()
        .select_only()
        .column(liaison::Column::SessionId)
        .column(liaison::Column::UserId)
        .column_as(user::Column::DisplayName, "display_name")
        .join(
            JoinType::InnerJoin,
            liaison::Entity::belongs_to(user::Entity)
                .from(liaison::Column::UserId)
                .to(user::Column::Id)
                .into(),
        )
        .filter(liaison::Column::SessionId.is_in(ids.clone()))
        .order_by_asc(liaison::Column::SessionId)
        .order_by_asc(liaison::Column::UserId)
        .into_tuple::<(i64, i64, String)>()
        .all(conn)
        .await?
    {
        liaisons
            .entry(session_id)
            .or_default()
            .push(UserRef { id, name });
    }
    let mut questions: BTreeMap<i64, Vec<QuestionView>> = BTreeMap::new();
    let mut tasks: BTreeMap<i64, Vec<TaskView>> = BTreeMap::new();
    if details {
        for q in question::Entity::find()
            .filter(question::Column::SessionId.is_in(ids.clone()))
            .order_by_asc(question::Column::Position)
            .all(conn)
            .await?
        {
            questions
                .entry(q.session_id)
                .or_default()
                .push(QuestionView {
                    topic: q.topic,
                    question: q.question,
                    answer: q.answer,
                    needs_follow_up: q.needs_follow_up,
                });
        }
        for t in task::Entity::find()
            .filter(task::Column::SessionId.is_in(ids))
            .order_by_asc(task::Column::DueOn)
            .order_by_asc(task::Column::Id)
            .all(conn)
            .await?
        {
            tasks.entry(t.session_id).or_default().push(TaskView {
                id: t.id,
                description: t.description,
                due_on: t.due_on,
                done: t.done,
            });
        }
    }
    let may_edit = matches!(actor.role, Role::Admin | Role::Staff | Role::Liaison);
    Ok(rows
        .into_iter()
        .map(|s| {
            let (school, province) = places.get(&s.school_id).cloned().unwrap_or_else(|| {
                (
                    PlaceRef {
                        id: s.school_id,
                        code: String::new(),
                        name: String::new(),
                    },
                    PlaceRef {
                        id: 0,
                        code: String::new(),
                        name: String::new(),
                    },
                )
            });
            SessionView {
                id: s.id,
                campaign: PlaceRef {
                    id: s.campaign_id,
                    code: String::new(),
                    name: campaigns.get(&s.campaign_id).cloned().unwrap_or_default(),
                },
                school,
                province,
                date: s.starts_at.with_timezone(&tz).date_naive(),
                start_time: local_time(s.starts_at, tz),
                end_time: local_time(s.ends_at, tz),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                format: Format::parse(&s.format).unwrap_or(Format::AtSchool),
                expected_audience: s.expected_audience,
                location: s.location,
                liaisons: liaisons.remove(&s.id).unwrap_or_default(),
                status: SessionStatus::parse(&s.status).unwrap_or(SessionStatus::Scheduled),
                status_reason: s.status_reason,
                attendance_students: s.attendance_students,
                attendance_parents: s.attendance_parents,
                attendance_teachers: s.attendance_teachers,
                registered_on_spot: s.registered_on_spot,
                materials: s.materials,
                notes: s.notes,
                questions: questions.remove(&s.id).unwrap_or_default(),
                tasks: tasks.remove(&s.id).unwrap_or_default(),
                logged_at: s.logged_at,
                editable: may_edit,
                created_at: s.created_at,
                updated_at: s.updated_at,
            }
        })
        .collect())
}

/// The session if the actor may see it, else 404.
pub async fn visible<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<session::Model> {
    session::Entity::find_by_id(id)
        .filter(session_scope(actor))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get_session(db: &Db, actor: &Actor, id: i64, tz: Tz) -> AppResult<SessionView> {
    let s = visible(&db.conn, actor, id).await?;
    Ok(views(&db.conn, actor, vec![s], tz, true, None)
        .await?
        .remove(0))
}

pub async fn filtered(
    db: &Db,
    actor: &Actor,
    f: &SessionFilter,
    tz: Tz,
) -> AppResult<sea_orm::Select<session::Entity>> {
    let mut q = session::Entity::find().filter(session_scope(actor));
    if let Some(c) = f.campaign {
        q = q.filter(session::Column::CampaignId.eq(c));
    }
    if let Some(code) = f.school.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let ids: Vec<i64> = school::Entity::find()
            .filter(school::Column::Code.eq(code.to_uppercase()))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        q = q.filter(session::Column::SchoolId.is_in(ids));
    }
    if let Some(code) = f.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::filter_province(&db.conn, code, "province").await?;
        q = q.filter(
            session::Column::SchoolId.in_subquery(
                Query::select()
                    .column(school::Column::Id)
                    .from(school::Entity)
                    .and_where(school::Column::ProvinceId.eq(p.id))
                    .to_owned(),
            ),
        );
    }
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        let s = SessionStatus::parse(s).map_err(|m| AppError::invalid("status", m))?;
        q = q.filter(session::Column::Status.eq(s.code()));
    }
    let (from, to) = day_range(f.from.as_deref(), f.to.as_deref(), tz)?;
    if let Some(from) = from {
        q = q.filter(session::Column::StartsAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(session::Column::StartsAt.lt(to));
    }
    if f.mine.unwrap_or(false) {
        q = q.filter(
            session::Column::Id.in_subquery(
                Query::select()
                    .column(liaison::Column::SessionId)
                    .from(liaison::Entity)
                    .and_where(liaison::Column::UserId.eq(actor.user_id.unwrap_or(-1)))
                    .to_owned(),
            ),
        );
    }
    Ok(q)
}

/// A page of the sessions the filter picks; `known` as for `views`.
pub async fn list_sessions(
    db: &Db,
    actor: &Actor,
    f: &SessionFilter,
    page: PageParams,
    tz: Tz,
    known: Option<&campaign::Model>,
) -> AppResult<Paged<SessionView>> {
    let q = filtered(db, actor, f, tz).await?;
    let (rows, total) = page_of(
        &db.conn,
        q.order_by_asc(session::Column::StartsAt)
            .order_by_asc(session::Column::Id),
        page,
    )
    .await?;
    Ok(Paged::new(
        views(&db.conn, actor, rows, tz, false, known).await?,
        page,
        total,
    ))
}

pub async fn all_sessions(
    db: &Db,
    actor: &Actor,
    f: &SessionFilter,
    tz: Tz,
) -> AppResult<Vec<SessionView>> {
    let rows = filtered(db, actor, f, tz)
        .await?
        .order_by_asc(session::Column::StartsAt)
        .limit(2000)
        .all(&db.conn)
        .await?;
    views(&db.conn, actor, rows, tz, false, None).await
}

struct SessionInput {
    campaign: campaign::Model,
    school: school::Model,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    format: Format,
    liaisons: Vec<i64>,
    expected: i32,
    location: Option<String>,
}

async fn validate<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    d: &SessionDraft,
    tz: Tz,
) -> AppResult<SessionInput> {
    let mut errors = FieldErrors::new();
    let campaign = campaigns::campaign_ref(
        conn,
        actor,
        d.campaign_id.as_deref(),
        "campaign_id",
        true,
        &mut errors,
    )
    .await?;
    // The school must be inside the actor's scope: a province's staff cannot schedule at a
    // school of another province, a liaison only at their own schools.
    let found = if let Some(raw) = &d.school_id {
        match raw.trim().parse::<i64>() {
            Ok(id) => school::Entity::find_by_id(id).one(conn).await?,
            Err(_) => None,
        }
    } else if !d.school_code.trim().is_empty() {
        school::Entity::find()
            .filter(school::Column::Code.eq(d.school_code.trim().to_uppercase()))
            .one(conn)
            .await?
    } else {
        None
    };
    let school_field = if d.school_id.is_some() {
        "school_id"
    } else {
        "school_code"
    };
    let school = match found {
        Some(s) if actor.sees_school(s.id, s.province_id) => Some(s),
        Some(_) => {
            errors.add(school_field, Msg::new("error-scope-outside"));
            None
        }
        None if d.school_id.is_none() && d.school_code.trim().is_empty() => {
            errors.add(school_field, Msg::new("error-required"));
            None
        }
        None => {
            errors.add(
                school_field,
                Msg::new("error-unknown-school").arg("code", d.school_code.trim()),
            );
            None
        }
    };
    let date = errors.take("date", kinds::day(&d.date));
    let start = errors.take("start_time", kinds::time(&d.start_time));
    let end = errors.take("end_time", kinds::time(&d.end_time));
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            errors.add("end_time", Msg::new("error-end-before-start"));
        }
    }
    let format = if d.format.trim().is_empty() {
        Some(Format::AtSchool)
    } else {
        errors.take("format", Format::parse(&d.format))
    };
    let expected = errors.take(
        "expected_audience",
        kinds::count(&d.expected_audience, 0, MAX_PEOPLE),
    );
    let location = errors.take("location", optional_text(&d.location, 255));
    let mut liaisons = Vec::new();
    for raw in &d.liaison_ids {
        match raw.trim().parse::<i64>() {
            Ok(id) => liaisons.push(id),
            Err(_) => {
                errors.add("liaison_ids", Msg::new("error-not-a-number"));
                break;
            }
        }
    }
    if liaisons.is_empty() {
        if let Some(me) = actor.user_id {
            liaisons.push(me);
        }
    }
    liaisons.sort_unstable();
    liaisons.dedup();
    if let Some(s) = &school {
        // Each liaison is an active account that covers this school.
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(liaisons.clone()))
            .all(conn)
            .await?;
        let assigned: BTreeSet<i64> = user_school::Entity::find()
            .filter(user_school::Column::SchoolId.eq(s.id))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.user_id)
            .collect();
        let covers = |u: &user::Model| match u.role.as_str() {
            "admin" => true,
            "staff" => u.province_id.is_none_or(|p| p == s.province_id),
            _ => assigned.contains(&u.id),
        };
        if users.len() != liaisons.len() || !users.iter().all(|u| u.active && covers(u)) {
            errors.add("liaison_ids", Msg::new("error-liaison-not-at-school"));
        }
    }
    if let (Some(c), Some(sch)) = (&campaign, &school) {
        if !campaigns::covers_school(conn, c, sch).await? {
            errors.add(school_field, Msg::new("error-school-outside-campaign"));
        }
    }
    errors.into_result()?;
    let date = date.expect("checked");
    Ok(SessionInput {
        campaign: campaign.expect("checked"),
        school: school.expect("checked"),
        starts_at: kinds::local(date, start.expect("checked"), tz),
        ends_at: kinds::local(date, end.expect("checked"), tz),
        format: format.expect("checked"),
        liaisons,
        expected: expected.expect("checked") as i32,
        location: location.expect("checked"),
    })
}

async fn write_liaisons<C: ConnectionTrait>(conn: &C, id: i64, users: &[i64]) -> AppResult<()> {
    liaison::Entity::delete_many()
        .filter(liaison::Column::SessionId.eq(id))
        .exec(conn)
        .await?;
    if !users.is_empty() {
        liaison::Entity::insert_many(users.iter().map(|u| liaison::ActiveModel {
            session_id: Set(id),
            user_id: Set(*u),
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

fn audit_view(s: &session::Model, liaisons: &[i64]) -> serde_json::Value {
    json!({
        "campaign_id": s.campaign_id, "school_id": s.school_id,
        "starts_at": s.starts_at.to_rfc3339(), "ends_at": s.ends_at.to_rfc3339(),
        "format": s.format, "expected_audience": s.expected_audience, "location": s.location,
        "liaisons": liaisons, "status": s.status,
    })
}

pub async fn create_session(
    db: &Db,
    actor: &Actor,
    d: &SessionDraft,
    tz: Tz,
) -> AppResult<SessionView> {
    let tx = db.begin_write().await?;
    let i = validate(&*tx, actor, d, tz).await?;
    campaigns::accepts_plans(&i.campaign)?;
    let now = Utc::now();
    let m = session::ActiveModel {
        campaign_id: Set(i.campaign.id),
        school_id: Set(i.school.id),
        starts_at: Set(i.starts_at),
        ends_at: Set(i.ends_at),
        format: Set(i.format.code().into()),
        expected_audience: Set(i.expected),
        location: Set(i.location),
        status: Set(SessionStatus::Scheduled.code().into()),
        status_reason: Set(None),
        attendance_students: Set(0),
        attendance_parents: Set(0),
        attendance_teachers: Set(0),
        registered_on_spot: Set(0),
        materials: Set(String::new()),
        notes: Set(String::new()),
        logged_at: Set(None),
        logged_by: Set(None),
        created_by: Set(actor.user_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    write_liaisons(&*tx, m.id, &i.liaisons).await?;
    audit::record(
        &*tx,
        actor,
        "session.created",
        "session",
        Some(m.id.to_string()),
        audit_view(&m, &i.liaisons),
    )
    .await?;
    tx.commit().await?;
    get_session(db, actor, m.id, tz).await
}

pub async fn update_session(
    db: &Db,
    actor: &Actor,
    id: i64,
    d: &SessionDraft,
    tz: Tz,
) -> AppResult<SessionView> {
    let tx = db.begin_write().await?;
    let existing = visible(&*tx, actor, id).await?;
    let old_liaisons: Vec<i64> = liaison::Entity::find()
        .filter(liaison::Column::SessionId.eq(id))
        .all(&*tx)
        .await?
        .into_iter()
        .map(|l| l.user_id)
        .collect();
    let mut d = d.clone();
    if d.liaison_ids.is_empty() {
        d.liaison_ids = old_liaisons.iter().map(i64::to_string).collect();
    }
    let current = campaign::Entity::find_by_id(existing.campaign_id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    campaigns::accepts_plans(&current)?;
    let i = validate(&*tx, actor, &d, tz).await?;
    campaigns::accepts_plans(&i.campaign)?;
    // A postponed or cancelled session given a new time is scheduled again.
    let rescheduled = i.starts_at != existing.starts_at
        && matches!(existing.status.as_str(), "postponed" | "cancelled");
    let before = audit_view(&existing, &old_liaisons);
    let mut m: session::ActiveModel = existing.into();
    m.campaign_id = Set(i.campaign.id);
    m.school_id = Set(i.school.id);
    m.starts_at = Set(i.starts_at);
    m.ends_at = Set(i.ends_at);
    m.format = Set(i.format.code().into());
    m.expected_audience = Set(i.expected);
    m.location = Set(i.location);
    m.updated_at = Set(Utc::now());
    if rescheduled {
        m.status = Set(SessionStatus::Scheduled.code().into());
        m.status_reason = Set(None);
    }
    let m = m.update(&*tx).await?;
    write_liaisons(&*tx, id, &i.liaisons).await?;
    audit::record(
        &*tx,
        actor,
        "session.updated",
        "session",
        Some(id.to_string()),
        audit::changes(&before, &audit_view(&m, &i.liaisons)),
    )
    .await?;
    tx.commit().await?;
    get_session(db, actor, id, tz).await
}

struct LogInput {
    status: SessionStatus,
    reason: Option<String>,
    students: i32,
    parents: i32,
    teachers: i32,
    registered: i32,
    materials: String,
    notes: String,
    questions: Vec<QuestionInput>,
    tasks: Vec<(String, NaiveDate, bool)>,
}

async fn validate_log<C: ConnectionTrait>(
    conn: &C,
    s: &session::Model,
    l: &SessionLog,
    now: DateTime<Utc>,
) -> AppResult<LogInput> {
    let mut errors = FieldErrors::new();
    let status = errors.take("status", SessionStatus::parse(&l.status));
    if status == Some(SessionStatus::Scheduled) {
        errors.add(
            "status",
            Msg::new("error-one-of").arg("allowed", "held, postponed, cancelled"),
        );
    }
    if status == Some(SessionStatus::Held) && s.starts_at > now {
        errors.add("status", Msg::new("error-session-not-started"));
    }
    let reason = errors.take("reason", optional_text(&l.reason, 500));
    if matches!(
        status,
        Some(SessionStatus::Postponed | SessionStatus::Cancelled)
    ) && reason.as_ref().is_some_and(Option::is_none)
    {
        errors.add("reason", Msg::new("error-required"));
    }
    let students = errors.take(
        "attendance_students",
        kinds::count(&l.attendance_students, 0, MAX_PEOPLE),
    );
    let parents = errors.take(
        "attendance_parents",
        kinds::count(&l.attendance_parents, 0, MAX_PEOPLE),
    );
    let teachers = errors.take(
        "attendance_teachers",
        kinds::count(&l.attendance_teachers, 0, MAX_PEOPLE),
    );
    let registered = errors.take(
        "registered_on_spot",
        kinds::count(&l.registered_on_spot, 0, MAX_PEOPLE),
    );
    let materials = errors
        .take("materials", multiline_text(&l.materials, 2000))
        .map(Option::unwrap_or_default);
    let notes = errors
        .take("notes", multiline_text(&l.notes, 5000))
        .map(Option::unwrap_or_default);
    // Topics known (and whether active); inactive ones may stay on a corrected log.
    let known: std::collections::HashMap<String, bool> =
        crate::campaigns::entity::topic::Entity::find()
            .all(conn)
            .await?
            .into_iter()
            .map(|t| (t.code, t.active))
            .collect();
    let kept: Vec<String> = question::Entity::find()
        .filter(question::Column::SessionId.eq(s.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|q| q.topic)
        .collect();
    let mut questions = Vec::new();
    if l.questions.len() > 200 {
        errors.add("questions", Msg::new("error-too-many").arg("max", 200));
    }
    for (n, q) in l.questions.iter().enumerate() {
        let code = q.topic.trim().to_lowercase();
        let topic = match known.get(&code) {
            Some(active) if *active || kept.contains(&code) => Some(vec![code]),
            _ if code.is_empty() => None,
            _ => {
                errors.add(
                    format!("questions[{n}].topic"),
                    Msg::new("error-unknown-topic").arg("code", &code),
                );
                None
            }
        };
        if q.topic.trim().is_empty() {
            errors.add(format!("questions[{n}].topic"), Msg::new("error-required"));
        }
        let text = errors.take(
            &format!("questions[{n}].question"),
            multiline_text(&q.question, 2000)
                .and_then(|v| v.ok_or_else(|| Msg::new("error-required"))),
        );
        let answer = errors.take(
            &format!("questions[{n}].answer"),
            multiline_text(&q.answer, 4000),
        );
        if let (Some(t), Some(text), Some(answer)) = (topic, text, answer) {
            questions.push(QuestionInput {
                topic: t.into_iter().next().unwrap_or_default(),
                question: text,
                answer: answer.unwrap_or_default(),
                needs_follow_up: q.needs_follow_up,
            });
        }
    }
    if l.tasks.len() > 50 {
        errors.add("tasks", Msg::new("error-too-many").arg("max", 50));
    }
    let mut tasks = Vec::new();
    for (n, t) in l.tasks.iter().enumerate() {
        let d = errors.take(
            &format!("tasks[{n}].description"),
            required_text(&t.description, 500),
        );
        let due = errors.take(&format!("tasks[{n}].due_on"), kinds::day(&t.due_on));
        if let (Some(d), Some(due)) = (d, due) {
            tasks.push((d, due, t.done));
        }
    }
    errors.into_result()?;
    Ok(LogInput {
        status: status.expect("checked"),
        reason: reason.expect("checked"),
        students: students.expect("checked") as i32,
        parents: parents.expect("checked") as i32,
        teachers: teachers.expect("checked") as i32,
        registered: registered.expect("checked") as i32,
        materials: materials.expect("checked"),
        notes: notes.expect("checked"),
        questions,
        tasks,
    })
}

/// Records (or corrects) what happened at a session: all of it or nothing.
pub async fn log_session(
    db: &Db,
    actor: &Actor,
    id: i64,
    l: &SessionLog,
    tz: Tz,
) -> AppResult<SessionView> {
    let tx = db.begin_write().await?;
    let existing = visible(&*tx, actor, id).await?;
    let now = Utc::now();
    let i = validate_log(&*tx, &existing, l, now).await?;
    let before = json!({"status": existing.status, "attendance": [existing.attendance_students, existing.attendance_parents, existing.attendance_teachers], "registered_on_spot": existing.registered_on_spot});
    let mut m: session::ActiveModel = existing.into();
    m.status = Set(i.status.code().into());
    m.status_reason = Set(i.reason);
    m.attendance_students = Set(i.students);
    m.attendance_parents = Set(i.parents);
    m.attendance_teachers = Set(i.teachers);
    m.registered_on_spot = Set(i.registered);
    m.materials = Set(i.materials);
    m.notes = Set(i.notes);
    m.logged_at = Set(Some(now));
    m.logged_by = Set(actor.user_id);
    m.updated_at = Set(now);
    let m = m.update(&*tx).await?;
    question::Entity::delete_many()
        .filter(question::Column::SessionId.eq(id))
        .exec(&*tx)
        .await?;
    if !i.questions.is_empty() {
        question::Entity::insert_many(i.questions.iter().enumerate().map(|(n, q)| {
            question::ActiveModel {
                session_id: Set(id),
                position: Set(n as i32),
                topic: Set(q.topic.clone()),
                question: Set(q.question.clone()),
                answer: Set(q.answer.clone()),
                needs_follow_up: Set(q.needs_follow_up),
                ..Default::default()
            }
        }))
        .exec(&*tx)
        .await?;
    }
    task::Entity::delete_many()
        .filter(task::Column::SessionId.eq(id))
        .exec(&*tx)
        .await?;
    if !i.tasks.is_empty() {
        task::Entity::insert_many(i.tasks.iter().map(|(d, due, done)| task::ActiveModel {
            session_id: Set(id),
            description: Set(d.clone()),
            due_on: Set(*due),
            done: Set(*done),
            ..Default::default()
        }))
        .exec(&*tx)
        .await?;
    }
    let after = json!({"status": m.status, "attendance": [m.attendance_students, m.attendance_parents, m.attendance_teachers], "registered_on_spot": m.registered_on_spot, "questions": i.questions.len(), "tasks": i.tasks.len()});
    audit::record(
        &*tx,
        actor,
        "session.logged",
        "session",
        Some(id.to_string()),
        audit::changes(&before, &after),
    )
    .await?;
    tx.commit().await?;
    get_session(db, actor, id, tz).await
}

/// Sessions per status for a campaign, within the actor's scope.
pub async fn counts_for_campaign(
    db: &Db,
    actor: &Actor,
    campaign_id: i64,
) -> AppResult<BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, u64> = SessionStatus::codes()
        .into_iter()
        .map(|c| (c.to_string(), 0))
        .collect();
    let rows: Vec<(String, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::Status)
        .column_as(session::Column::Id.count(), "n")
        .filter(session_scope(actor))
        .filter(session::Column::CampaignId.eq(campaign_id))
        .group_by(session::Column::Status)
        .into_tuple()
        .all(&db.conn)
        .await?;
    for (status, n) in rows {
        *out.entry(status).or_default() += n as u64;
    }
    Ok(out)
}

/// Schools the actor may schedule at (for the form's list), at most 500.
pub async fn schools_for_form(db: &Db, actor: &Actor) -> AppResult<Vec<PlaceRef>> {
    Ok(school::Entity::find()
        .filter(crate::org::service::school_scope(actor))
        .order_by_asc(school::Column::Code)
        .limit(500)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|s| PlaceRef {
            id: s.id,
            code: s.code,
            name: s.name,
        })
        .collect())
}

/// Local midnight helper for forms: today's date in `tz`.
pub fn today(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Default times shown on a new session form.
pub fn default_times() -> (NaiveTime, NaiveTime) {
    (
        NaiveTime::from_hms_opt(8, 0, 0).expect("valid"),
        NaiveTime::from_hms_opt(9, 30, 0).expect("valid"),
    )
}
