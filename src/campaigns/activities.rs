//! Activities (touchpoints) of a campaign on every channel, their list with filters, and the
//! campaign overview.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{activity, campaign};
use super::kinds::{self, loose_list, loose_number, ActivityStatus, Channel};
use super::service::{self, campaign_scope, require_planner, PlaceRef, UserRef};
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::auth::entity::user;
use crate::db::{self, rows_by_id, Db};
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{fold, multiline_text, required_text};
use crate::org::entity::{province, school};
use crate::web::paging::{page_of, PageParams, Paged};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub id: i64,
    pub campaign_id: i64,
    pub campaign_name: String,
    pub channel: Channel,
    /// The channel's family: sessions, messages, media, posts, app, visual.
    pub channel_group: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub owner: Option<UserRef>,
    pub status: ActivityStatus,
    pub topics: Vec<String>,
    /// The target: a province, a school, or neither (national).
    pub province: Option<PlaceRef>,
    pub school: Option<PlaceRef>,
    pub cost_vnd: i64,
    pub notes: String,
    pub editable: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An activity as a form or the API sends it. Dates and times are Vietnam wall-clock time.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ActivityDraft {
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = i64)]
    pub campaign_id: Option<String>,
    /// One of qa_session, parent_wave, newspaper, radio, tv, loudspeaker, online_news, portal,
    /// social, app_notification, poster, banner, leaflet.
    pub channel: String,
    pub title: String,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub date: String,
    /// HH:MM; 08:00 when empty.
    pub start_time: String,
    /// The last day, when it runs over several days (empty: the same day).
    pub end_date: String,
    /// HH:MM; empty for no end time.
    pub end_time: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub owner_user_id: Option<String>,
    /// planned (default), done or cancelled.
    pub status: String,
    #[serde(deserialize_with = "loose_list")]
    pub topics: Vec<String>,
    /// Target province code; empty with an empty school for a national activity.
    pub province_code: String,
    /// Target school code.
    pub school_code: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub cost_vnd: Option<String>,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct ActivityFilter {
    pub campaign: Option<i64>,
    /// Province code: activities aimed at that province or one of its schools.
    pub province: Option<String>,
    /// A channel code, or a family: sessions, messages, media, posts, app, visual.
    pub channel: Option<String>,
    pub status: Option<String>,
    /// First day (yyyy-mm-dd, Vietnam time), inclusive.
    pub from: Option<String>,
    /// Last day, inclusive.
    pub to: Option<String>,
    /// Text in the title, as written.
    pub q: Option<String>,
}

/// Activities the actor may see: of visible campaigns, aimed at the whole country or at a
/// place inside the actor's scope.
pub fn activity_scope(actor: &Actor) -> Condition {
    let in_campaigns = activity::Column::CampaignId.in_subquery(
        Query::select()
            .column(campaign::Column::Id)
            .from(campaign::Entity)
            .cond_where(campaign_scope(actor))
            .to_owned(),
    );
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(in_campaigns).add(
            Condition::any()
                .add(activity::Column::ProvinceId.is_null())
                .add(activity::Column::ProvinceId.eq(p)),
        ),
        Scope::Schools(ids) => {
            let provinces = Query::select()
                .column(school::Column::ProvinceId)
                .from(school::Entity)
                .and_where(school::Column::Id.is_in(ids.clone()))
                .to_owned();
            Condition::all().add(in_campaigns).add(
                Condition::any()
                    .add(activity::Column::ProvinceId.is_null())
                    .add(
                        Condition::all()
                            .add(activity::Column::SchoolId.is_null())
                            .add(activity::Column::ProvinceId.in_subquery(provinces)),
                    )
                    .add(activity::Column::SchoolId.is_in(ids)),
            )
        }
    }
}

/// A half-open UTC range, either end open.
pub type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Start of `from` and end of `to` (both inclusive days in `tz`) as a UTC half-open range.
pub fn day_range(from: Option<&str>, to: Option<&str>, tz: Tz) -> AppResult<Range> {
    let parse = |raw: Option<&str>, field: &str| -> AppResult<Option<NaiveDate>> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => kinds::day(s)
                .map(Some)
                .map_err(|m| AppError::invalid(field, m)),
        }
    };
    let from = parse(from, "from")?;
    let to = parse(to, "to")?;
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(AppError::invalid("to", Msg::new("error-end-before-start")));
        }
    }
    Ok((
        from.map(|d| kinds::local(d, NaiveTime::MIN, tz)),
        to.map(|d| kinds::local(d + Duration::days(1), NaiveTime::MIN, tz)),
    ))
}

/// What a caller has read already, so that the views of activities take it from there instead
/// of reading it again: a campaign's page shows only that campaign's activities, most of them
/// often planned by the campaign's owner.
#[derive(Clone, Copy, Default)]
struct Known<'a> {
    /// A campaign the actor sees.
    campaign: Option<&'a campaign::Model>,
    /// A user and their name.
    user: Option<&'a UserRef>,
}

async fn views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    rows: Vec<activity::Model>,
    known: Known<'_>,
) -> AppResult<Vec<ActivityView>> {
    let mut campaigns = rows_by_id::<campaign::Entity, _>(
        conn,
        campaign::Column::Id,
        rows.iter()
            .map(|a| a.campaign_id)
            .filter(|id| known.campaign.is_none_or(|c| c.id != *id)),
        |c| c.id,
    )
    .await?;
    if let Some(c) = known.campaign {
        campaigns.insert(c.id, c.clone());
    }
    let provinces = rows_by_id::<province::Entity, _>(
        conn,
        province::Column::Id,
        rows.iter().filter_map(|a| a.province_id),
        |p| p.id,
    )
    .await?;
    let schools = rows_by_id::<school::Entity, _>(
        conn,
        school::Column::Id,
        rows.iter().filter_map(|a| a.school_id),
        |s| s.id,
    )
    .await?;
    let mut users: BTreeMap<i64, String> = rows_by_id::<user::Entity, _>(
        conn,
        user::Column::Id,
        rows.iter()
            .filter_map(|a| a.owner_user_id)
            .filter(|id| known.user.is_none_or(|u| u.id != *id)),
        |u| u.id,
    )
    .await?
    .into_iter()
    .map(|(id, u)| (id, u.display_name))
    .collect();
    if let Some(u) = known.user {
        users.insert(u.id, u.name.clone());
    }
    let planner = require_planner(actor).is_ok();
    Ok(rows
        .into_iter()
        .map(|a| {
            let channel = Channel::parse(&a.channel).unwrap_or(Channel::Portal);
            let c = campaigns.get(&a.campaign_id);
            let open = c.is_some_and(|c| service::accepts_plans(c).is_ok());
            let editable = planner
                && open
                && match actor.scope() {
                    Scope::National => true,
                    Scope::Province(p) => a.province_id == Some(p),
                    Scope::Schools(_) => false,
                };
            ActivityView {
                id: a.id,
                campaign_id: a.campaign_id,
                campaign_name: c.map(|c| c.name.clone()).unwrap_or_default(),
                channel,
                channel_group: channel.group().to_string(),
                title: a.title,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                owner: a.owner_user_id.and_then(|id| {
                    users.get(&id).map(|n| UserRef {
                        id,
                        name: n.clone(),
                    })
                }),
                status: ActivityStatus::parse(&a.status).unwrap_or(ActivityStatus::Planned),
                topics: kinds::topics_of(&a.topics),
                province: a
                    .province_id
                    .and_then(|id| provinces.get(&id))
                    .map(|p| PlaceRef {
                        id: p.id,
                        code: p.code.clone(),
                        name: p.name.clone(),
                    }),
                school: a
                    .school_id
                    .and_then(|id| schools.get(&id))
                    .map(|s| PlaceRef {
                        id: s.id,
                        code: s.code.clone(),
                        name: s.name.clone(),
                    }),
                cost_vnd: a.cost_vnd,
                notes: a.notes,
                editable,
                created_at: a.created_at,
                updated_at: a.updated_at,
            }
        })
        .collect())
}

/// The filtered query, shared by the list and the calendar.
pub async fn filtered(
    db: &Db,
    actor: &Actor,
    f: &ActivityFilter,
    tz: Tz,
) -> AppResult<sea_orm::Select<activity::Entity>> {
    let mut q = activity::Entity::find().filter(activity_scope(actor));
    if let Some(c) = f.campaign {
        q = q.filter(activity::Column::CampaignId.eq(c));
    }
    if let Some(code) = f.province.as_deref().filter(|s| !s.is_empty()) {
        let p = crate::org::service::filter_province(&db.conn, code, "province").await?;
        q = q.filter(activity::Column::ProvinceId.eq(p.id));
    }
    if let Some(ch) = f.channel.as_deref().filter(|s| !s.is_empty()) {
        if Channel::GROUPS.contains(&ch) {
            let codes: Vec<&str> = Channel::ALL
                .iter()
                .filter(|c| c.group() == ch)
                .map(|c| c.code())
                .collect();
            q = q.filter(activity::Column::Channel.is_in(codes));
        } else {
            let c = Channel::parse(ch).map_err(|m| AppError::invalid("channel", m))?;
            q = q.filter(activity::Column::Channel.eq(c.code()));
        }
    }
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        let s = ActivityStatus::parse(s).map_err(|m| AppError::invalid("status", m))?;
        q = q.filter(activity::Column::Status.eq(s.code()));
    }
    let (from, to) = day_range(f.from.as_deref(), f.to.as_deref(), tz)?;
    if let Some(from) = from {
        q = q.filter(activity::Column::StartsAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(activity::Column::StartsAt.lt(to));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q = q.filter(db::contains(
            db.backend(),
            activity::Column::SearchKey,
            &fold(text),
        ));
    }
    Ok(q)
}

pub async fn list_activities(
    db: &Db,
    actor: &Actor,
    f: &ActivityFilter,
    page: PageParams,
    tz: Tz,
) -> AppResult<Paged<ActivityView>> {
    let q = filtered(db, actor, f, tz).await?;
    let (rows, total) = page_of(
        &db.conn,
        q.order_by_asc(activity::Column::StartsAt)
            .order_by_asc(activity::Column::Id),
        page,
    )
    .await?;
    Ok(Paged::new(
        views(&db.conn, actor, rows, Known::default()).await?,
        page,
        total,
    ))
}

/// Every activity matching the filter (the calendar shows a month at most).
pub async fn all_activities(
    db: &Db,
    actor: &Actor,
    f: &ActivityFilter,
    tz: Tz,
) -> AppResult<Vec<ActivityView>> {
    let rows = filtered(db, actor, f, tz)
        .await?
        .order_by_asc(activity::Column::StartsAt)
        .limit(2000)
        .all(&db.conn)
        .await?;
    views(&db.conn, actor, rows, Known::default()).await
}

pub async fn get_activity(db: &Db, actor: &Actor, id: i64) -> AppResult<ActivityView> {
    let a = activity::Entity::find_by_id(id)
        .filter(activity_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(views(&db.conn, actor, vec![a], Known::default())
        .await?
        .remove(0))
}

struct ActivityInput {
    campaign: campaign::Model,
    channel: Channel,
    title: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    owner: Option<i64>,
    status: ActivityStatus,
    topics: Vec<String>,
    province_id: Option<i64>,
    school_id: Option<i64>,
    cost_vnd: i64,
    notes: String,
}

async fn validate<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    d: &ActivityDraft,
    tz: Tz,
    existing: Option<&activity::Model>,
) -> AppResult<ActivityInput> {
    let mut errors = FieldErrors::new();
    let kept = existing
        .map(|a| kinds::topics_of(&a.topics))
        .unwrap_or_default();
    let campaign = service::campaign_ref(
        conn,
        actor,
        d.campaign_id.as_deref(),
        "campaign_id",
        true,
        &mut errors,
    )
    .await?;
    let channel = errors.take("channel", Channel::parse(&d.channel));
    let title = errors.take("title", required_text(&d.title, 200));
    let date = errors.take("date", kinds::day(&d.date));
    let start_time = if d.start_time.trim().is_empty() {
        Some(NaiveTime::from_hms_opt(8, 0, 0).expect("valid"))
    } else {
        errors.take("start_time", kinds::time(&d.start_time))
    };
    let end_date = if d.end_date.trim().is_empty() {
        date
    } else {
        errors.take("end_date", kinds::day(&d.end_date))
    };
    let end_time = if d.end_time.trim().is_empty() {
        None
    } else {
        errors
            .take("end_time", kinds::time(&d.end_time).map(Some))
            .flatten()
    };
    let starts_at = date.zip(start_time).map(|(d, t)| kinds::local(d, t, tz));
    let ends_at = match (end_date, end_time, d.end_date.trim().is_empty()) {
        (Some(ed), Some(et), _) => Some(kinds::local(ed, et, tz)),
        // A last day without a time: the end of that day.
        (Some(ed), None, false) => Some(kinds::local(ed + Duration::days(1), NaiveTime::MIN, tz)),
        _ => None,
    };
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        if e <= s {
            let field = if d.end_time.trim().is_empty() {
                "end_date"
            } else {
                "end_time"
            };
            errors.add(field, Msg::new("error-end-before-start"));
        }
    }
    let owner = errors.take(
        "owner_user_id",
        service::check_owner(
            conn,
            &d.owner_user_id,
            actor,
            existing.map(|a| a.owner_user_id),
        )
        .await,
    );
    let status = if d.status.trim().is_empty() {
        Some(ActivityStatus::Planned)
    } else {
        errors.take("status", ActivityStatus::parse(&d.status))
    };
    let topics = errors.take(
        "topics",
        service::check_topics_keeping(conn, &d.topics, &kept).await,
    );
    let cost = errors.take("cost_vnd", kinds::vnd(&d.cost_vnd));
    let notes = errors
        .take("notes", multiline_text(&d.notes, 5000))
        .map(Option::unwrap_or_default);
    // The target: a school (and so its province), a province, or the whole country.
    let mut province_id = None;
    let mut school_id = None;
    if !d.school_code.trim().is_empty() {
        let code = d.school_code.trim().to_uppercase();
        match school::Entity::find()
            .filter(school::Column::Code.eq(code.as_str()))
            .one(conn)
            .await?
        {
            Some(s) if actor.sees_school(s.id, s.province_id) => {
                school_id = Some(s.id);
                province_id = Some(s.province_id);
            }
            _ => errors.add(
                "school_code",
                Msg::new("error-unknown-school").arg("code", code),
            ),
        }
    } else if !d.province_code.trim().is_empty() {
        match crate::org::service::province_by_code(conn, &d.province_code).await? {
            Some(p) => province_id = Some(p.id),
            None => errors.add(
                "province_code",
                Msg::new("error-unknown-province").arg("code", d.province_code.trim()),
            ),
        }
    }
    errors.into_result()?;
    // Province staff plan in their province only: a national or another province's target is
    // outside their scope.
    if let Scope::Province(p) = actor.scope() {
        if province_id != Some(p) {
            let field = if school_id.is_some() || !d.school_code.trim().is_empty() {
                "school_code"
            } else {
                "province_code"
            };
            return Err(AppError::invalid(field, Msg::new("error-scope-outside")));
        }
    }
    Ok(ActivityInput {
        campaign: campaign.expect("checked"),
        channel: channel.expect("checked"),
        title: title.expect("checked"),
        starts_at: starts_at.expect("checked"),
        ends_at,
        owner: owner.expect("checked"),
        status: status.expect("checked"),
        topics: topics.expect("checked"),
        province_id,
        school_id,
        cost_vnd: cost.expect("checked"),
        notes: notes.expect("checked"),
    })
}

fn audit_view(a: &activity::Model) -> serde_json::Value {
    json!({
        "campaign_id": a.campaign_id, "channel": a.channel, "title": a.title,
        "starts_at": a.starts_at.to_rfc3339(), "ends_at": a.ends_at.map(|e| e.to_rfc3339()),
        "status": a.status, "topics": a.topics, "province_id": a.province_id,
        "school_id": a.school_id, "cost_vnd": a.cost_vnd, "owner_user_id": a.owner_user_id,
    })
}

pub async fn create_activity(
    db: &Db,
    actor: &Actor,
    d: &ActivityDraft,
    tz: Tz,
) -> AppResult<ActivityView> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let i = validate(&*tx, actor, d, tz, None).await?;
    service::accepts_plans(&i.campaign)?;
    let now = Utc::now();
    let m = activity::ActiveModel {
        campaign_id: Set(i.campaign.id),
        channel: Set(i.channel.code().into()),
        search_key: Set(fold(&i.title)),
        title: Set(i.title),
        starts_at: Set(i.starts_at),
        ends_at: Set(i.ends_at),
        owner_user_id: Set(i.owner),
        status: Set(i.status.code().into()),
        topics: Set(kinds::topics_text(&i.topics)),
        province_id: Set(i.province_id),
        school_id: Set(i.school_id),
        cost_vnd: Set(i.cost_vnd),
        notes: Set(i.notes),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        actor,
        "activity.created",
        "activity",
        Some(m.id.to_string()),
        audit_view(&m),
    )
    .await?;
    tx.commit().await?;
    get_activity(db, actor, m.id).await
}

pub async fn update_activity(
    db: &Db,
    actor: &Actor,
    id: i64,
    d: &ActivityDraft,
    tz: Tz,
) -> AppResult<ActivityView> {
    let tx = db.begin_write().await?;
    let existing = activity::Entity::find_by_id(id)
        .filter(activity_scope(actor))
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    require_planner(actor)?;
    if let Scope::Province(p) = actor.scope() {
        if existing.province_id != Some(p) {
            return Err(AppError::Forbidden);
        }
    }
    let current = campaign::Entity::find_by_id(existing.campaign_id)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    service::accepts_plans(&current)?;
    let i = validate(&*tx, actor, d, tz, Some(&existing)).await?;
    service::accepts_plans(&i.campaign)?;
    let before = audit_view(&existing);
    let mut m: activity::ActiveModel = existing.into();
    m.campaign_id = Set(i.campaign.id);
    m.channel = Set(i.channel.code().into());
    m.search_key = Set(fold(&i.title));
    m.title = Set(i.title);
    m.starts_at = Set(i.starts_at);
    m.ends_at = Set(i.ends_at);
    m.owner_user_id = Set(i.owner);
    m.status = Set(i.status.code().into());
    m.topics = Set(kinds::topics_text(&i.topics));
    m.province_id = Set(i.province_id);
    m.school_id = Set(i.school_id);
    m.cost_vnd = Set(i.cost_vnd);
    m.notes = Set(i.notes);
    m.updated_at = Set(Utc::now());
    let m = m.update(&*tx).await?;
    audit::record(
        &*tx,
        actor,
        "activity.updated",
        "activity",
        Some(id.to_string()),
        audit::changes(&before, &audit_view(&m)),
    )
    .await?;
    tx.commit().await?;
    get_activity(db, actor, id).await
}

/// Counts of one channel family in a campaign.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ChannelCounts {
    pub group: String,
    pub planned: u64,
    pub done: u64,
    pub cancelled: u64,
    pub cost_vnd: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub campaign: service::CampaignView,
    /// Activities per channel family (consultation sessions are counted apart).
    pub channels: Vec<ChannelCounts>,
    pub activities_total: u64,
    pub activities_done: u64,
    pub cost_vnd: i64,
    /// Activities still planned in the next 14 days.
    pub due_soon: Vec<ActivityView>,
}

pub async fn overview(
    db: &Db,
    actor: &Actor,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Overview> {
    let campaign = service::visible(&db.conn, actor, campaign_id).await?;
    Ok(overview_and_first(db, actor, &campaign, now, 0).await?.0)
}

/// The overview and the campaign's first `listed` activities in start order — the first page
/// of `list_activities` for this campaign — from the one read of its activities the overview
/// makes anyway, their labels looked up once for both. The campaign is one the caller read
/// with `service::visible`.
pub async fn overview_and_first(
    db: &Db,
    actor: &Actor,
    model: &campaign::Model,
    now: DateTime<Utc>,
    listed: usize,
) -> AppResult<(Overview, Vec<ActivityView>, u64)> {
    let campaign = service::view_of(&db.conn, actor, model.clone()).await?;
    let rows = activity::Entity::find()
        .filter(activity_scope(actor))
        .filter(activity::Column::CampaignId.eq(model.id))
        .order_by_asc(activity::Column::StartsAt)
        .order_by_asc(activity::Column::Id)
        .all(&db.conn)
        .await?;
    let mut by_group: BTreeMap<&str, ChannelCounts> = Channel::GROUPS
        .iter()
        .map(|g| {
            (
                *g,
                ChannelCounts {
                    group: g.to_string(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let (mut total, mut done, mut cost) = (0, 0, 0);
    for a in &rows {
        let g = Channel::parse(&a.channel)
            .map(Channel::group)
            .unwrap_or("posts");
        let e = by_group.get_mut(g).expect("every group");
        match ActivityStatus::parse(&a.status) {
            Ok(ActivityStatus::Done) => {
                e.done += 1;
                done += 1;
            }
            Ok(ActivityStatus::Cancelled) => e.cancelled += 1,
            _ => e.planned += 1,
        }
        if a.status != ActivityStatus::Cancelled.code() {
            e.cost_vnd += a.cost_vnd;
            cost += a.cost_vnd;
        }
        total += 1;
    }
    let is_soon = |a: &activity::Model| {
        a.status == ActivityStatus::Planned.code()
            && a.starts_at >= now
            && a.starts_at < now + Duration::days(14)
    };
    let soon: BTreeSet<i64> = rows.iter().filter(|a| is_soon(a)).map(|a| a.id).collect();
    // The first `listed` rows, then the later ones due soon, in start order: the list is the
    // head of the views, the due ones are picked from all of them.
    let wanted: Vec<activity::Model> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, a)| *i < listed || soon.contains(&a.id))
        .map(|(_, a)| a)
        .collect();
    let known = Known {
        campaign: Some(model),
        user: campaign.owner.as_ref(),
    };
    let shown = views(&db.conn, actor, wanted, known).await?;
    let first = shown.iter().take(listed).cloned().collect();
    let due_soon = shown.into_iter().filter(|v| soon.contains(&v.id)).collect();
    let channels = Channel::GROUPS
        .iter()
        .map(|g| by_group.remove(g).expect("every group"))
        .collect();
    Ok((
        Overview {
            campaign,
            channels,
            activities_total: total,
            activities_done: done,
            cost_vnd: cost,
            due_soon,
        },
        first,
        total,
    ))
}
