//! Campaigns and the topics taxonomy, as the actor may see and change them.
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{campaign, campaign_province, campaign_school, topic};
use super::kinds::{self, loose_list, loose_number, CampaignStatus, ScopeKind};
use crate::audit;
use crate::auth::actor::{Actor, Role, Scope};
use crate::auth::entity::user;
use crate::db::{rows_by_id, Db};
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{fold, multiline_text, required_text};
use crate::org::entity::{province, school};
use crate::school_year::entity as school_year;
use crate::web::paging::{PageParams, Paged};

// ---------------------------------------------------------------------------------------------
// Topics

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopicView {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub position: i32,
    pub active: bool,
}

impl From<topic::Model> for TopicView {
    fn from(t: topic::Model) -> Self {
        Self {
            code: t.code,
            name_vi: t.name_vi,
            name_en: t.name_en,
            position: t.position,
            active: t.active,
        }
    }
}

pub async fn list_topics<C: ConnectionTrait>(conn: &C) -> AppResult<Vec<TopicView>> {
    Ok(topic::Entity::find()
        .order_by_asc(topic::Column::Position)
        .order_by_asc(topic::Column::Code)
        .all(conn)
        .await?
        .into_iter()
        .map(TopicView::from)
        .collect())
}

/// How long a topic list read is used without asking the database again. A topic saved through
/// this process is seen at once; through another instance on the same database, within this time.
pub const TOPICS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// The topic list read lately, under the version of topics it was read at
/// (`Db::topics_changed`): pages name the topics of what they show on every request (a
/// campaign's page ran a statement for it each time), and topics change seldom.
pub type TopicCache = crate::recent::Recent<Arc<Vec<TopicView>>>;

/// An empty [`TopicCache`].
pub fn topic_cache() -> TopicCache {
    TopicCache::new(TOPICS_FRESH_FOR, 1)
}

/// Every topic, as `list_topics`, from this process's [`TopicCache`] when fresh. For labels and
/// choices on pages; checks of what is saved read the table itself (`check_topics`).
pub async fn topics(db: &Db) -> AppResult<Arc<Vec<TopicView>>> {
    // The version is read before the list: a save committed meanwhile leaves the list read
    // here unused.
    let version = db.topics_version();
    if let Some(list) = db.topic_cache().get("", version) {
        return Ok(list);
    }
    let at = std::time::Instant::now();
    let list = Arc::new(list_topics(&db.conn).await?);
    db.topic_cache()
        .store(String::new(), version, at, list.clone());
    Ok(list)
}

/// The topic codes of a list, each known and active, or the first unknown one named.
pub async fn check_topics<C: ConnectionTrait>(
    conn: &C,
    codes: &[String],
) -> Result<Vec<String>, Msg> {
    check_topics_keeping(conn, codes, &[]).await
}

/// Like `check_topics`, but an inactive topic the record already has (`kept`) may stay.
pub async fn check_topics_keeping<C: ConnectionTrait>(
    conn: &C,
    codes: &[String],
    kept: &[String],
) -> Result<Vec<String>, Msg> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    if codes.len() > 20 {
        return Err(Msg::new("error-too-many").arg("max", 20));
    }
    let known: HashMap<String, bool> = topic::Entity::find()
        .all(conn)
        .await
        .map_err(|_| Msg::new("error-internal"))?
        .into_iter()
        .map(|t| (t.code, t.active))
        .collect();
    let mut out = Vec::new();
    for c in codes {
        let c = c.trim().to_lowercase();
        match known.get(&c) {
            Some(true) => out.push(c),
            Some(false) if kept.contains(&c) => out.push(c),
            _ => return Err(Msg::new("error-unknown-topic").arg("code", c)),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TopicDraft {
    /// Lower-case letters, digits and `_`; fixed once created.
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub position: Option<String>,
    /// Inactive topics stay on old records but cannot be chosen for new ones.
    pub active: Option<bool>,
}

fn topic_code(raw: &str) -> Result<String, Msg> {
    let code = required_text(raw, 32)?.to_lowercase();
    if code
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(code)
    } else {
        Err(Msg::new("error-code-chars"))
    }
}

pub async fn save_topic(
    db: &Db,
    actor: &Actor,
    existing_code: Option<&str>,
    draft: &TopicDraft,
) -> AppResult<TopicView> {
    actor.require_admin()?;
    let mut errors = FieldErrors::new();
    let code = match existing_code {
        Some(c) => Some(c.to_string()),
        None => errors.take("code", topic_code(&draft.code)),
    };
    let name_vi = errors.take("name_vi", required_text(&draft.name_vi, 200));
    let name_en = errors.take("name_en", required_text(&draft.name_en, 200));
    let position = errors.take("position", kinds::count(&draft.position, 100, 10_000));
    errors.into_result()?;
    let (code, name_vi, name_en, position) = (
        code.expect("checked"),
        name_vi.expect("checked"),
        name_en.expect("checked"),
        position.expect("checked") as i32,
    );
    let tx = db.begin_write().await?;
    let found = topic::Entity::find()
        .filter(topic::Column::Code.eq(&code))
        .one(&*tx)
        .await?;
    let model = match (existing_code, found) {
        (Some(_), None) => return Err(AppError::NotFound),
        (None, Some(_)) => return Err(AppError::invalid("code", Msg::new("error-code-taken"))),
        (Some(_), Some(t)) => {
            let before = json!({"name_vi": t.name_vi, "name_en": t.name_en, "position": t.position, "active": t.active});
            let mut m: topic::ActiveModel = t.into();
            m.name_vi = Set(name_vi);
            m.name_en = Set(name_en);
            m.position = Set(position);
            if let Some(active) = draft.active {
                m.active = Set(active);
            }
            let m = m.update(&*tx).await?;
            let after = json!({"name_vi": m.name_vi, "name_en": m.name_en, "position": m.position, "active": m.active});
            audit::record(
                &*tx,
                actor,
                "topic.updated",
                "topic",
                Some(m.code.clone()),
                audit::changes(&before, &after),
            )
            .await?;
            m
        }
        (None, None) => {
            let m = topic::ActiveModel {
                code: Set(code),
                name_vi: Set(name_vi),
                name_en: Set(name_en),
                position: Set(position),
                active: Set(draft.active.unwrap_or(true)),
                ..Default::default()
            }
            .insert(&*tx)
            .await
            .map_err(AppError::unique_as("code", Msg::new("error-code-taken")))?;
            audit::record(
                &*tx,
                actor,
                "topic.created",
                "topic",
                Some(m.code.clone()),
                json!({"name_vi": m.name_vi, "name_en": m.name_en}),
            )
            .await?;
            m
        }
    };
    tx.commit().await?;
    db.topics_changed();
    Ok(model.into())
}

// ---------------------------------------------------------------------------------------------
// Campaigns

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlaceRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: i64,
    pub name: String,
    /// e.g. `2025-2026`.
    pub school_year: String,
    /// Target HI coverage, percent.
    pub target_coverage: f64,
    pub scope: ScopeKind,
    pub provinces: Vec<PlaceRef>,
    pub schools: Vec<PlaceRef>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub owner: Option<UserRef>,
    pub description: String,
    /// Topic codes.
    pub topics: Vec<String>,
    pub status: CampaignStatus,
    /// The statuses this campaign may move to next.
    pub next_statuses: Vec<CampaignStatus>,
    /// Whether the caller may edit it.
    pub editable: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A campaign as a form or the API sends it. Lists take a JSON array, repeated form fields
/// or one text with commas.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CampaignDraft {
    pub name: String,
    /// A school year code such as `2025-2026`.
    pub school_year: String,
    /// Target coverage in percent, 1–100 (default 100); decimals allowed (`97.5`).
    #[serde(deserialize_with = "kinds::loose_decimal")]
    #[schema(value_type = Option<f64>)]
    pub target_coverage: Option<String>,
    /// `national`, `provinces` or `schools`.
    pub scope: String,
    /// Province codes when the scope is `provinces`.
    #[serde(deserialize_with = "loose_list")]
    pub province_codes: Vec<String>,
    /// School codes when the scope is `schools`.
    #[serde(deserialize_with = "loose_list")]
    pub school_codes: Vec<String>,
    /// yyyy-mm-dd or dd/mm/yyyy.
    pub starts_on: String,
    pub ends_on: String,
    /// A user id; the caller when empty.
    #[serde(deserialize_with = "loose_number")]
    #[schema(value_type = Option<i64>)]
    pub owner_user_id: Option<String>,
    pub description: String,
    /// Key-message topic codes, e.g. `["benefits", "premium"]`.
    #[serde(deserialize_with = "loose_list")]
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct CampaignFilter {
    /// Text in the name; accents optional.
    pub q: Option<String>,
    /// One of draft, active, paused, completed, archived.
    pub status: Option<String>,
    /// A school year code.
    pub school_year: Option<String>,
}

/// Campaigns the actor may see: national ones, and those that include a province or school
/// of the actor's scope.
pub fn campaign_scope(actor: &Actor) -> Condition {
    let national = campaign::Column::ScopeKind.eq(ScopeKind::National.code());
    let by_province = |provinces: Condition| {
        Condition::any().add(national.clone()).add(
            campaign::Column::Id.in_subquery(
                Query::select()
                    .column(campaign_province::Column::CampaignId)
                    .from(campaign_province::Entity)
                    .cond_where(provinces.clone())
                    .to_owned(),
            ),
        )
    };
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => by_province(
            Condition::all().add(campaign_province::Column::ProvinceId.eq(p)),
        )
        .add(
            campaign::Column::Id.in_subquery(
                Query::select()
                    .column(campaign_school::Column::CampaignId)
                    .from(campaign_school::Entity)
                    .inner_join(
                        school::Entity,
                        Expr::col((school::Entity, school::Column::Id))
                            .equals((campaign_school::Entity, campaign_school::Column::SchoolId)),
                    )
                    .and_where(Expr::col((school::Entity, school::Column::ProvinceId)).eq(p))
                    .to_owned(),
            ),
        ),
        Scope::Schools(ids) => by_province(
            Condition::all().add(
                campaign_province::Column::ProvinceId.in_subquery(
                    Query::select()
                        .column(school::Column::ProvinceId)
                        .from(school::Entity)
                        .and_where(school::Column::Id.is_in(ids.clone()))
                        .to_owned(),
                ),
            ),
        )
        .add(
            campaign::Column::Id.in_subquery(
                Query::select()
                    .column(campaign_school::Column::CampaignId)
                    .from(campaign_school::Entity)
                    .and_where(campaign_school::Column::SchoolId.is_in(ids))
                    .to_owned(),
            ),
        ),
    }
}

/// Who plans: admins and staff. Liaisons read campaigns and log sessions.
pub fn require_planner(actor: &Actor) -> AppResult<()> {
    match actor.role {
        Role::Admin | Role::Staff => Ok(()),
        Role::Liaison => Err(AppError::Forbidden),
    }
}

struct Scoped {
    kind: ScopeKind,
    provinces: Vec<province::Model>,
    schools: Vec<school::Model>,
}

impl Scoped {
    /// Whether every place of this campaign lies inside the actor's province (or the actor is
    /// national).
    fn within(&self, actor: &Actor) -> bool {
        match actor.scope() {
            Scope::National => true,
            Scope::Province(p) => match self.kind {
                ScopeKind::National => false,
                ScopeKind::Provinces => self.provinces.iter().all(|x| x.id == p),
                ScopeKind::Schools => self.schools.iter().all(|s| s.province_id == p),
            },
            Scope::Schools(_) => false,
        }
    }
}

async fn scope_of<C: ConnectionTrait>(conn: &C, c: &campaign::Model) -> AppResult<Scoped> {
    Ok(scopes_of(conn, std::slice::from_ref(c))
        .await?
        .remove(&c.id)
        .expect("a scope for every campaign asked about"))
}

/// The scopes of several campaigns, in four statements whatever their number (fewer when no
/// campaign names provinces or schools).
async fn scopes_of<C: ConnectionTrait>(
    conn: &C,
    campaigns: &[campaign::Model],
) -> AppResult<HashMap<i64, Scoped>> {
    let mut out: HashMap<i64, Scoped> = campaigns
        .iter()
        .map(|c| {
            let kind = ScopeKind::parse(&c.scope_kind).unwrap_or(ScopeKind::National);
            (
                c.id,
                Scoped {
                    kind,
                    provinces: Vec::new(),
                    schools: Vec::new(),
                },
            )
        })
        .collect();
    // National campaigns name no places: only the others are looked up.
    let named = |kind: ScopeKind| -> BTreeSet<i64> {
        campaigns
            .iter()
            .filter(|c| c.scope_kind == kind.code())
            .map(|c| c.id)
            .collect()
    };
    let (by_province, by_school) = (named(ScopeKind::Provinces), named(ScopeKind::Schools));
    let province_links = if by_province.is_empty() {
        Vec::new()
    } else {
        campaign_province::Entity::find()
            .filter(campaign_province::Column::CampaignId.is_in(by_province))
            .all(conn)
            .await?
    };
    let school_links = if by_school.is_empty() {
        Vec::new()
    } else {
        campaign_school::Entity::find()
            .filter(campaign_school::Column::CampaignId.is_in(by_school))
            .all(conn)
            .await?
    };
    let provinces = rows_by_id::<province::Entity, _>(
        conn,
        province::Column::Id,
        province_links.iter().map(|l| l.province_id),
        |p| p.id,
    )
    .await?;
    let schools = rows_by_id::<school::Entity, _>(
        conn,
        school::Column::Id,
        school_links.iter().map(|l| l.school_id),
        |s| s.id,
    )
    .await?;
    for l in province_links {
        if let (Some(scoped), Some(p)) =
            (out.get_mut(&l.campaign_id), provinces.get(&l.province_id))
        {
            scoped.provinces.push(p.clone());
        }
    }
    for l in school_links {
        if let (Some(scoped), Some(s)) = (out.get_mut(&l.campaign_id), schools.get(&l.school_id)) {
            scoped.schools.push(s.clone());
        }
    }
    for scoped in out.values_mut() {
        scoped.provinces.sort_by(|a, b| a.code.cmp(&b.code));
        scoped.schools.sort_by(|a, b| a.code.cmp(&b.code));
    }
    Ok(out)
}

/// Views of campaigns, in their order: scopes, school years and owners are looked up for all
/// of them at once.
async fn views<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    campaigns: Vec<campaign::Model>,
) -> AppResult<Vec<CampaignView>> {
    let mut scopes = scopes_of(conn, &campaigns).await?;
    let years = rows_by_id::<school_year::Entity, _>(
        conn,
        school_year::Column::Id,
        campaigns.iter().map(|c| c.school_year_id),
        |y| y.id,
    )
    .await?;
    let owners = rows_by_id::<user::Entity, _>(
        conn,
        user::Column::Id,
        campaigns.iter().filter_map(|c| c.owner_user_id),
        |u| u.id,
    )
    .await?;
    let mut out = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        let scoped = scopes
            .remove(&c.id)
            .expect("a scope for every campaign listed");
        let year = years
            .get(&c.school_year_id)
            .map(|y| y.code.clone())
            .unwrap_or_default();
        let owner = c
            .owner_user_id
            .and_then(|id| owners.get(&id))
            .map(|u| UserRef {
                id: u.id,
                name: u.display_name.clone(),
            });
        out.push(view(actor, c, scoped, year, owner));
    }
    Ok(out)
}

fn view(
    actor: &Actor,
    c: campaign::Model,
    scoped: Scoped,
    school_year: String,
    owner: Option<UserRef>,
) -> CampaignView {
    let status = CampaignStatus::parse(&c.status).unwrap_or(CampaignStatus::Draft);
    let editable = require_planner(actor).is_ok() && scoped.within(actor);
    CampaignView {
        id: c.id,
        name: c.name,
        school_year,
        target_coverage: f64::from(c.target_coverage_bp) / 100.0,
        scope: scoped.kind,
        provinces: scoped
            .provinces
            .into_iter()
            .map(|p| PlaceRef {
                id: p.id,
                code: p.code,
                name: p.name,
            })
            .collect(),
        schools: scoped
            .schools
            .into_iter()
            .map(|s| PlaceRef {
                id: s.id,
                code: s.code,
                name: s.name,
            })
            .collect(),
        starts_on: c.starts_on,
        ends_on: c.ends_on,
        owner,
        description: c.description,
        topics: kinds::topics_of(&c.topics),
        status,
        next_statuses: status.next().to_vec(),
        editable: editable && status != CampaignStatus::Archived,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// The campaign if the actor may see it, else 404.
pub async fn visible<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<campaign::Model> {
    campaign::Entity::find_by_id(id)
        .filter(campaign_scope(actor))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get_campaign(db: &Db, actor: &Actor, id: i64) -> AppResult<CampaignView> {
    view_of(&db.conn, actor, visible(&db.conn, actor, id).await?).await
}

/// A campaign read already (and visible to the actor) as shown.
pub async fn view_of<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    c: campaign::Model,
) -> AppResult<CampaignView> {
    Ok(views(conn, actor, vec![c]).await?.remove(0))
}

pub async fn list_campaigns(
    db: &Db,
    actor: &Actor,
    filter: &CampaignFilter,
    page: PageParams,
) -> AppResult<Paged<CampaignView>> {
    let mut q = campaign::Entity::find().filter(campaign_scope(actor));
    if let Some(s) = filter.status.as_deref().filter(|s| !s.is_empty()) {
        let s = CampaignStatus::parse(s).map_err(|m| AppError::invalid("status", m))?;
        q = q.filter(campaign::Column::Status.eq(s.code()));
    }
    if let Some(y) = filter.school_year.as_deref().filter(|s| !s.is_empty()) {
        let year = school_year::Entity::find()
            .filter(school_year::Column::Code.eq(y.trim()))
            .one(&db.conn)
            .await?
            .ok_or_else(|| {
                AppError::invalid("school_year", Msg::new("error-unknown-school-year"))
            })?;
        q = q.filter(campaign::Column::SchoolYearId.eq(year.id));
    }
    // Campaigns number in the tens: the name search runs on the folded names here.
    let needle = filter.q.as_deref().map(fold).filter(|s| !s.is_empty());
    let rows: Vec<campaign::Model> = q
        .order_by_desc(campaign::Column::StartsOn)
        .order_by_desc(campaign::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .filter(|c| {
            needle
                .as_ref()
                .is_none_or(|n| fold(&c.name).contains(n.as_str()))
        })
        .collect();
    let total = rows.len() as u64;
    let shown: Vec<campaign::Model> = rows
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.per_page as usize)
        .collect();
    Ok(Paged::new(
        views(&db.conn, actor, shown).await?,
        page,
        total,
    ))
}

/// A campaign that passed every check.
struct CampaignInput {
    name: String,
    school_year_id: i64,
    target_bp: i32,
    scope: Scoped,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    owner: Option<i64>,
    description: String,
    topics: Vec<String>,
}

fn target_bp(raw: &Option<String>) -> Result<i32, Msg> {
    let Some(raw) = raw else { return Ok(10_000) };
    let v: f64 = raw
        .trim()
        .trim_end_matches('%')
        .replace(',', ".")
        .parse()
        .map_err(|_| Msg::new("error-not-a-number"))?;
    if !(1.0..=100.0).contains(&v) {
        return Err(Msg::new("error-out-of-range").arg("min", 1).arg("max", 100));
    }
    Ok((v * 100.0).round() as i32)
}

/// A user id that names an active staff member or admin (owners plan campaigns).
pub async fn check_owner<C: ConnectionTrait>(
    conn: &C,
    raw: &Option<String>,
    actor: &Actor,
    current: Option<Option<i64>>,
) -> Result<Option<i64>, Msg> {
    let id = match raw {
        // Not given: an edit keeps the owner, a new record is the caller's.
        None => return Ok(current.unwrap_or(actor.user_id)),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| Msg::new("error-not-a-number"))?,
    };
    match user::Entity::find_by_id(id).one(conn).await {
        // Owners plan: an active staff member or admin, of the caller's province when the
        // caller is province staff.
        Ok(Some(u))
            if u.active
                && (u.role == "admin"
                    || (u.role == "staff"
                        && actor.province_id.is_none_or(|p| u.province_id == Some(p)))) =>
        {
            Ok(Some(u.id))
        }
        _ => Err(Msg::new("error-unknown-user")),
    }
}

async fn validate<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    d: &CampaignDraft,
    existing: Option<&campaign::Model>,
) -> AppResult<CampaignInput> {
    let mut errors = FieldErrors::new();
    let kept = existing
        .map(|c| kinds::topics_of(&c.topics))
        .unwrap_or_default();
    let name = errors.take("name", required_text(&d.name, 200));
    let year = if d.school_year.trim().is_empty() {
        errors.add("school_year", Msg::new("error-required"));
        None
    } else {
        let y = school_year::Entity::find()
            .filter(school_year::Column::Code.eq(d.school_year.trim()))
            .one(conn)
            .await?;
        if y.is_none() {
            errors.add("school_year", Msg::new("error-unknown-school-year"));
        }
        y
    };
    let target = errors.take("target_coverage", target_bp(&d.target_coverage));
    let kind = if d.scope.trim().is_empty() {
        Some(ScopeKind::National)
    } else {
        errors.take("scope", ScopeKind::parse(&d.scope))
    };
    let starts = errors.take("starts_on", kinds::day(&d.starts_on));
    let ends = errors.take("ends_on", kinds::day(&d.ends_on));
    if let (Some(s), Some(e)) = (starts, ends) {
        if e < s {
            errors.add("ends_on", Msg::new("error-end-before-start"));
        }
    }
    let owner = errors.take(
        "owner_user_id",
        check_owner(
            conn,
            &d.owner_user_id,
            actor,
            existing.map(|c| c.owner_user_id),
        )
        .await,
    );
    let description = errors
        .take("description", multiline_text(&d.description, 5000))
        .map(Option::unwrap_or_default);
    let topics = errors.take("topics", check_topics_keeping(conn, &d.topics, &kept).await);
    let mut provinces = Vec::new();
    let mut schools = Vec::new();
    match kind {
        Some(ScopeKind::Provinces) => {
            if d.province_codes.is_empty() {
                errors.add("province_codes", Msg::new("error-required"));
            }
            let codes: BTreeSet<&str> = d.province_codes.iter().map(|s| s.trim()).collect();
            for code in codes {
                match province::Entity::find()
                    .filter(province::Column::Code.eq(code))
                    .one(conn)
                    .await?
                {
                    Some(p) => provinces.push(p),
                    None => {
                        errors.add(
                            "province_codes",
                            Msg::new("error-unknown-province").arg("code", code),
                        );
                        break;
                    }
                }
            }
        }
        Some(ScopeKind::Schools) => {
            if d.school_codes.is_empty() {
                errors.add("school_codes", Msg::new("error-required"));
            }
            let codes: BTreeSet<String> = d
                .school_codes
                .iter()
                .map(|s| s.trim().to_uppercase())
                .collect();
            for code in codes {
                match school::Entity::find()
                    .filter(school::Column::Code.eq(code.as_str()))
                    .one(conn)
                    .await?
                {
                    Some(s) if actor.sees_school(s.id, s.province_id) => schools.push(s),
                    _ => {
                        errors.add(
                            "school_codes",
                            Msg::new("error-unknown-school").arg("code", code),
                        );
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    errors.into_result()?;
    let scope = Scoped {
        kind: kind.expect("checked"),
        provinces,
        schools,
    };
    if !scope.within(actor) {
        // A province's staff plan for their province only.
        return Err(AppError::invalid("scope", Msg::new("error-scope-outside")));
    }
    Ok(CampaignInput {
        name: name.expect("checked"),
        school_year_id: year.expect("checked").id,
        target_bp: target.expect("checked"),
        scope,
        starts_on: starts.expect("checked"),
        ends_on: ends.expect("checked"),
        owner: owner.expect("checked"),
        description: description.expect("checked"),
        topics: topics.expect("checked"),
    })
}

async fn write_scope<C: ConnectionTrait>(conn: &C, id: i64, scope: &Scoped) -> AppResult<()> {
    campaign_province::Entity::delete_many()
        .filter(campaign_province::Column::CampaignId.eq(id))
        .exec(conn)
        .await?;
    campaign_school::Entity::delete_many()
        .filter(campaign_school::Column::CampaignId.eq(id))
        .exec(conn)
        .await?;
    if scope.kind == ScopeKind::Provinces && !scope.provinces.is_empty() {
        campaign_province::Entity::insert_many(scope.provinces.iter().map(|p| {
            campaign_province::ActiveModel {
                campaign_id: Set(id),
                province_id: Set(p.id),
            }
        }))
        .exec(conn)
        .await?;
    }
    if scope.kind == ScopeKind::Schools && !scope.schools.is_empty() {
        campaign_school::Entity::insert_many(scope.schools.iter().map(|s| {
            campaign_school::ActiveModel {
                campaign_id: Set(id),
                school_id: Set(s.id),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

fn audit_view(c: &campaign::Model, scope: &Scoped) -> serde_json::Value {
    json!({
        "name": c.name, "status": c.status, "scope": c.scope_kind,
        "provinces": scope.provinces.iter().map(|p| p.code.clone()).collect::<Vec<_>>(),
        "schools": scope.schools.iter().map(|s| s.code.clone()).collect::<Vec<_>>(),
        "starts_on": c.starts_on.to_string(), "ends_on": c.ends_on.to_string(),
        "target_coverage_bp": c.target_coverage_bp, "topics": c.topics, "owner_user_id": c.owner_user_id,
        "school_year_id": c.school_year_id, "description": c.description,
    })
}

pub async fn create_campaign(db: &Db, actor: &Actor, d: &CampaignDraft) -> AppResult<CampaignView> {
    require_planner(actor)?;
    let tx = db.begin_write().await?;
    let input = validate(&*tx, actor, d, None).await?;
    let now = Utc::now();
    let model = campaign::ActiveModel {
        name: Set(input.name),
        school_year_id: Set(input.school_year_id),
        target_coverage_bp: Set(input.target_bp),
        scope_kind: Set(input.scope.kind.code().to_string()),
        starts_on: Set(input.starts_on),
        ends_on: Set(input.ends_on),
        owner_user_id: Set(input.owner),
        description: Set(input.description),
        topics: Set(kinds::topics_text(&input.topics)),
        status: Set(CampaignStatus::Draft.code().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    write_scope(&*tx, model.id, &input.scope).await?;
    audit::record(
        &*tx,
        actor,
        "campaign.created",
        "campaign",
        Some(model.id.to_string()),
        audit_view(&model, &input.scope),
    )
    .await?;
    tx.commit().await?;
    get_campaign(db, actor, model.id).await
}

/// The campaign for a change: visible, the actor a planner whose scope covers it, and not
/// archived.
async fn for_change<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: i64,
) -> AppResult<(campaign::Model, Scoped)> {
    let c = visible(conn, actor, id).await?;
    require_planner(actor)?;
    let scope = scope_of(conn, &c).await?;
    if !scope.within(actor) {
        return Err(AppError::Forbidden);
    }
    if c.status == CampaignStatus::Archived.code() {
        return Err(AppError::Conflict(Msg::new("error-campaign-archived")));
    }
    Ok((c, scope))
}

pub async fn update_campaign(
    db: &Db,
    actor: &Actor,
    id: i64,
    d: &CampaignDraft,
) -> AppResult<CampaignView> {
    let tx = db.begin_write().await?;
    let (existing, old_scope) = for_change(&*tx, actor, id).await?;
    let input = validate(&*tx, actor, d, Some(&existing)).await?;
    let before = audit_view(&existing, &old_scope);
    let mut m: campaign::ActiveModel = existing.into();
    m.name = Set(input.name);
    m.school_year_id = Set(input.school_year_id);
    m.target_coverage_bp = Set(input.target_bp);
    m.scope_kind = Set(input.scope.kind.code().to_string());
    m.starts_on = Set(input.starts_on);
    m.ends_on = Set(input.ends_on);
    m.owner_user_id = Set(input.owner);
    m.description = Set(input.description);
    m.topics = Set(kinds::topics_text(&input.topics));
    m.updated_at = Set(Utc::now());
    let m = m.update(&*tx).await?;
    write_scope(&*tx, id, &input.scope).await?;
    audit::record(
        &*tx,
        actor,
        "campaign.updated",
        "campaign",
        Some(id.to_string()),
        audit::changes(&before, &audit_view(&m, &input.scope)),
    )
    .await?;
    tx.commit().await?;
    get_campaign(db, actor, id).await
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    /// The new status: draft → active → paused ⇄ active → completed → archived (a draft may
    /// also be archived).
    #[serde(default)]
    pub status: String,
}

pub async fn change_status(db: &Db, actor: &Actor, id: i64, raw: &str) -> AppResult<CampaignView> {
    let to = CampaignStatus::parse(raw).map_err(|m| AppError::invalid("status", m))?;
    let tx = db.begin_write().await?;
    let c = visible(&*tx, actor, id).await?;
    require_planner(actor)?;
    if !scope_of(&*tx, &c).await?.within(actor) {
        return Err(AppError::Forbidden);
    }
    let from = CampaignStatus::parse(&c.status).unwrap_or(CampaignStatus::Draft);
    from.check_transition(to).map_err(AppError::Conflict)?;
    // Compare-and-set: a concurrent change of status makes this one fail, not overwrite it.
    let done = campaign::Entity::update_many()
        .col_expr(campaign::Column::Status, Expr::value(to.code()))
        .col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(campaign::Column::Id.eq(id))
        .filter(campaign::Column::Status.eq(from.code()))
        .exec(&*tx)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(Msg::new("error-changed-meanwhile")));
    }
    audit::record(
        &*tx,
        actor,
        "campaign.status",
        "campaign",
        Some(id.to_string()),
        json!({"from": from.code(), "to": to.code()}),
    )
    .await?;
    tx.commit().await?;
    get_campaign(db, actor, id).await
}

/// Campaigns the actor may add activities or sessions to (not archived or completed).
pub async fn open_campaigns(db: &Db, actor: &Actor) -> AppResult<Vec<(i64, String)>> {
    Ok(campaign::Entity::find()
        .filter(campaign_scope(actor))
        .filter(campaign::Column::Status.is_in([
            CampaignStatus::Draft.code(),
            CampaignStatus::Active.code(),
            CampaignStatus::Paused.code(),
        ]))
        .order_by_desc(campaign::Column::StartsOn)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// The campaign a form or document refers to by id, if the actor sees it; the problem is
/// recorded under `field` otherwise.
pub async fn campaign_ref<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    raw: Option<&str>,
    field: &str,
    required: bool,
    errors: &mut FieldErrors,
) -> AppResult<Option<campaign::Model>> {
    match raw.map(|s| s.trim().parse::<i64>()) {
        Some(Ok(id)) => match visible(conn, actor, id).await {
            Ok(c) => Ok(Some(c)),
            Err(AppError::NotFound) => {
                errors.add(field, Msg::new("error-unknown-campaign"));
                Ok(None)
            }
            Err(e) => Err(e),
        },
        Some(Err(_)) => {
            errors.add(field, Msg::new("error-not-a-number"));
            Ok(None)
        }
        None => {
            if required {
                errors.add(field, Msg::new("error-required"));
            }
            Ok(None)
        }
    }
}

/// Whether a school lies inside a campaign's scope.
pub async fn covers_school<C: ConnectionTrait>(
    conn: &C,
    c: &campaign::Model,
    s: &school::Model,
) -> AppResult<bool> {
    let scope = scope_of(conn, c).await?;
    Ok(match scope.kind {
        ScopeKind::National => true,
        ScopeKind::Provinces => scope.provinces.iter().any(|p| p.id == s.province_id),
        ScopeKind::Schools => scope.schools.iter().any(|x| x.id == s.id),
    })
}

/// Names of the given campaigns the actor may see (others stay unnamed).
pub async fn visible_names<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashMap<i64, String>> {
    let ids: BTreeSet<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(campaign::Entity::find()
        .filter(campaign::Column::Id.is_in(ids))
        .filter(campaign_scope(actor))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// Id and name of every campaign the actor sees, newest first (for filter lists).
pub async fn options(db: &Db, actor: &Actor) -> AppResult<Vec<PlaceRef>> {
    Ok(campaign::Entity::find()
        .filter(campaign_scope(actor))
        .order_by_desc(campaign::Column::StartsOn)
        .order_by_desc(campaign::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|c| PlaceRef {
            id: c.id,
            code: String::new(),
            name: c.name,
        })
        .collect())
}

/// Whether activities and sessions may still be added to or changed in this campaign.
pub fn accepts_plans(c: &campaign::Model) -> AppResult<()> {
    if c.status == CampaignStatus::Archived.code() || c.status == CampaignStatus::Completed.code() {
        Err(AppError::Conflict(Msg::new("error-campaign-closed")))
    } else {
        Ok(())
    }
}

pub async fn school_years(db: &Db) -> AppResult<Vec<String>> {
    Ok(school_year::Entity::find()
        .order_by_desc(school_year::Column::StartsOn)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|y| y.code)
        .collect())
}
