//! The organisation map as the actor may see it: provinces, communes, schools.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    JoinType, PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, RelationDef, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::entity::{commune, province, school};
use super::level::SchoolLevel;
use crate::audit;
use crate::auth::actor::{Actor, Scope};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{fold, int_in, optional_text, required_text};
use crate::web::paging::{count_cap, count_long_list, PageParams, Paged};

pub const MAX_ENROLLED: i64 = 200_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvinceView {
    pub id: i64,
    /// Two-digit code from Decision 19/2025/QĐ-TTg.
    pub code: String,
    pub name: String,
    /// `province` or `city` (centrally governed).
    pub kind: String,
}

impl From<province::Model> for ProvinceView {
    fn from(p: province::Model) -> Self {
        Self {
            id: p.id,
            code: p.code,
            name: p.name,
            kind: p.kind,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvinceSummary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub communes: i64,
    pub schools: i64,
    pub enrolled_students: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommuneView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub province_id: i64,
    /// Schools in this commune that the caller can see.
    pub schools: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommuneRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchoolView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub level: SchoolLevel,
    pub province: ProvinceView,
    pub commune: Option<CommuneRef>,
    pub enrolled_students: i32,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct SchoolFilter {
    /// Text in the code or name; accents optional ("le quy don" finds "Lê Quý Đôn").
    pub q: Option<String>,
    /// Province code, e.g. `79`.
    pub province: Option<String>,
    /// Commune code.
    pub commune: Option<String>,
    /// One of the school levels, e.g. `upper_secondary`.
    pub level: Option<String>,
}

/// A school as raw input from a form, the API or a CSV row.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SchoolDraft {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    /// A level code (`upper_secondary`) or its Vietnamese name (`THPT`).
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub province_code: String,
    /// Code of an existing commune in that province; empty for none.
    #[serde(default)]
    pub commune_code: Option<String>,
    #[serde(default)]
    pub enrolled_students: Option<i64>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A school that passed the checks that need no database.
#[derive(Debug, Clone)]
pub struct SchoolFields {
    pub code: String,
    pub name: String,
    pub level: SchoolLevel,
    pub enrolled_students: i32,
    pub address: Option<String>,
}

/// A school code: letters, digits, `-`, `_` or `.`, at most 32 characters, stored upper-case.
pub fn parse_school_code(raw: &str) -> Result<String, Msg> {
    let code = required_text(raw, 32)?.to_uppercase();
    if code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(code)
    } else {
        Err(Msg::new("error-code-chars"))
    }
}

impl SchoolDraft {
    /// The checks of one school that need no database, recorded under their field names.
    pub fn fields(&self, errors: &mut FieldErrors) -> Option<SchoolFields> {
        let code = errors.take("code", parse_school_code(&self.code));
        let name = errors.take("name", required_text(&self.name, 255));
        let level = errors.take("level", SchoolLevel::parse(&self.level));
        let enrolled = errors.take(
            "enrolled_students",
            int_in(
                &self.enrolled_students.unwrap_or(0).to_string(),
                0,
                MAX_ENROLLED,
            ),
        );
        let address = errors.take(
            "address",
            optional_text(self.address.as_deref().unwrap_or(""), 255),
        );
        Some(SchoolFields {
            code: code?,
            name: name?,
            level: level?,
            enrolled_students: enrolled? as i32,
            address: address?,
        })
    }
}

pub fn school_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(school::Column::ProvinceId.eq(p)),
        Scope::Schools(ids) => Condition::all().add(school::Column::Id.is_in(ids)),
    }
}

fn province_scope(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => Condition::all().add(province::Column::Id.eq(p)),
        Scope::Schools(ids) => Condition::all().add(
            province::Column::Id.in_subquery(
                Query::select()
                    .column(school::Column::ProvinceId)
                    .from(school::Entity)
                    .and_where(school::Column::Id.is_in(ids))
                    .to_owned(),
            ),
        ),
    }
}

/// Every province (reference data, the same for everyone), by code.
pub async fn all_provinces(db: &Db) -> AppResult<Vec<ProvinceView>> {
    provinces_where(db, Condition::all()).await
}

async fn provinces_where(db: &Db, cond: Condition) -> AppResult<Vec<ProvinceView>> {
    Ok(province::Entity::find()
        .filter(cond)
        .order_by_asc(province::Column::Code)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(ProvinceView::from)
        .collect())
}

/// The provinces the actor may see, without figures (for a filter's choices).
pub async fn provinces_in_scope(db: &Db, actor: &Actor) -> AppResult<Vec<ProvinceView>> {
    provinces_where(db, province_scope(actor)).await
}

pub async fn province_by_code<C: ConnectionTrait>(
    conn: &C,
    code: &str,
) -> AppResult<Option<province::Model>> {
    Ok(province::Entity::find()
        .filter(province::Column::Code.eq(code.trim()))
        .one(conn)
        .await?)
}

/// The code of a province staff member's own province (None for everyone else), to
/// pre-fill forms.
pub async fn own_province_code(db: &Db, actor: &Actor) -> AppResult<Option<String>> {
    Ok(match actor.province_id {
        Some(p) => province::Entity::find_by_id(p)
            .one(&db.conn)
            .await?
            .map(|p| p.code),
        None => None,
    })
}

/// The province a filter names by code, or a 422 on `field` naming the unknown code.
pub async fn filter_province<C: ConnectionTrait>(
    conn: &C,
    code: &str,
    field: &str,
) -> AppResult<province::Model> {
    province_by_code(conn, code).await?.ok_or_else(|| {
        AppError::invalid(field, Msg::new("error-unknown-province").arg("code", code))
    })
}

/// Provinces in the actor's scope with counts of what the actor can see in them.
pub async fn list_provinces(db: &Db, actor: &Actor) -> AppResult<Vec<ProvinceSummary>> {
    let provinces = province::Entity::find()
        .filter(province_scope(actor))
        .order_by_asc(province::Column::Code)
        .all(&db.conn)
        .await?;
    let school_counts: HashMap<i64, (i64, i64)> = school::Entity::find()
        .select_only()
        .column(school::Column::ProvinceId)
        .column_as(Expr::col(school::Column::Id).count(), "n")
        .column_as(
            Expr::col(school::Column::EnrolledStudents).sum(),
            "enrolled",
        )
        .filter(school_scope(actor))
        .group_by(school::Column::ProvinceId)
        .into_tuple::<(i64, i64, Option<i64>)>()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|(p, n, e)| (p, (n, e.unwrap_or(0))))
        .collect();
    let commune_counts: HashMap<i64, i64> = commune::Entity::find()
        .select_only()
        .column(commune::Column::ProvinceId)
        .column_as(Expr::col(commune::Column::Id).count(), "n")
        .group_by(commune::Column::ProvinceId)
        .into_tuple::<(i64, i64)>()
        .all(&db.conn)
        .await?
        .into_iter()
        .collect();
    Ok(provinces
        .into_iter()
        .map(|p| {
            let (schools, enrolled) = school_counts.get(&p.id).copied().unwrap_or((0, 0));
            ProvinceSummary {
                communes: commune_counts.get(&p.id).copied().unwrap_or(0),
                schools,
                enrolled_students: enrolled,
                id: p.id,
                code: p.code,
                name: p.name,
                kind: p.kind,
            }
        })
        .collect())
}

/// One province in scope (404 outside it).
pub async fn get_province(db: &Db, actor: &Actor, code: &str) -> AppResult<ProvinceSummary> {
    list_provinces(db, actor)
        .await?
        .into_iter()
        .find(|p| p.code == code.trim())
        .ok_or(AppError::NotFound)
}

/// The communes of a province in scope, with the number of visible schools in each.
pub async fn list_communes(
    db: &Db,
    actor: &Actor,
    province_code: &str,
) -> AppResult<Vec<CommuneView>> {
    let p = get_province(db, actor, province_code).await?;
    let counts: HashMap<i64, i64> = school::Entity::find()
        .select_only()
        .column(school::Column::CommuneId)
        .column_as(Expr::col(school::Column::Id).count(), "n")
        .filter(school_scope(actor))
        .filter(school::Column::ProvinceId.eq(p.id))
        .filter(school::Column::CommuneId.is_not_null())
        .group_by(school::Column::CommuneId)
        .into_tuple::<(i64, i64)>()
        .all(&db.conn)
        .await?
        .into_iter()
        .collect();
    let mut q = commune::Entity::find().filter(commune::Column::ProvinceId.eq(p.id));
    // Liaisons see only the communes of their schools.
    if let Scope::Schools(_) = actor.scope() {
        q = q.filter(commune::Column::Id.is_in(counts.keys().copied().collect::<Vec<_>>()));
    }
    Ok(q.order_by_asc(commune::Column::Name)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|c| CommuneView {
            schools: counts.get(&c.id).copied().unwrap_or(0),
            id: c.id,
            code: c.code,
            name: c.name,
            province_id: c.province_id,
        })
        .collect())
}

async fn views(db: &Db, rows: Vec<school::Model>) -> AppResult<Vec<SchoolView>> {
    let provinces: HashMap<i64, ProvinceView> = all_provinces(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let commune_ids: Vec<i64> = rows.iter().filter_map(|s| s.commune_id).collect();
    let communes: HashMap<i64, CommuneRef> = if commune_ids.is_empty() {
        HashMap::new()
    } else {
        commune::Entity::find()
            .filter(commune::Column::Id.is_in(commune_ids))
            .all(&db.conn)
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    CommuneRef {
                        id: c.id,
                        code: c.code,
                        name: c.name,
                    },
                )
            })
            .collect()
    };
    rows.into_iter()
        .map(|s| {
            let province = provinces.get(&s.province_id).cloned().ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("school {} has no province", s.id))
            })?;
            let commune = s.commune_id.and_then(|c| communes.get(&c).cloned());
            Ok(view_of(s, province, commune))
        })
        .collect()
}

fn view_of(s: school::Model, province: ProvinceView, commune: Option<CommuneRef>) -> SchoolView {
    SchoolView {
        level: SchoolLevel::parse(&s.level).unwrap_or(SchoolLevel::Primary),
        commune,
        province,
        id: s.id,
        code: s.code,
        name: s.name,
        enrolled_students: s.enrolled_students,
        address: s.address,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

/// A school as a list shows it, with its province and commune, read by one statement.
struct ListedSchool(SchoolView);

impl FromQueryResult for ListedSchool {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let s = school::Model::from_query_result(res, pre)?;
        let province = ProvinceView {
            id: s.province_id,
            code: res.try_get(pre, "province_code")?,
            name: res.try_get(pre, "province_name")?,
            kind: res.try_get(pre, "province_kind")?,
        };
        let commune = match s.commune_id {
            Some(id) => Some(CommuneRef {
                id,
                code: res.try_get(pre, "commune_code")?,
                name: res.try_get(pre, "commune_name")?,
            }),
            None => None,
        };
        Ok(Self(view_of(s, province, commune)))
    }
}

pub async fn list_schools(
    db: &Db,
    actor: &Actor,
    filter: &SchoolFilter,
    paging: PageParams,
) -> AppResult<Paged<SchoolView>> {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut q = school::Entity::find().filter(school_scope(actor));
    let text = nonempty(&filter.q);
    let searching = text.is_some();
    if let Some(text) = text {
        q = q.filter(crate::db::contains(
            db.backend(),
            school::Column::SearchKey,
            &fold(&text),
        ));
    }
    if let Some(code) = nonempty(&filter.province) {
        match province_by_code(&db.conn, &code).await? {
            Some(p) => q = q.filter(school::Column::ProvinceId.eq(p.id)),
            None => {
                return Err(AppError::invalid(
                    "province",
                    Msg::new("error-unknown-province").arg("code", code),
                ))
            }
        }
    }
    if let Some(code) = nonempty(&filter.commune) {
        let c = commune::Entity::find()
            .filter(commune::Column::Code.eq(code.clone()))
            .one(&db.conn)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "commune",
                    Msg::new("error-unknown-commune").arg("code", code),
                )
            })?;
        q = q.filter(school::Column::CommuneId.eq(c.id));
    }
    if let Some(level) = nonempty(&filter.level) {
        let level = SchoolLevel::parse(&level).map_err(|m| AppError::invalid("level", m))?;
        q = q.filter(school::Column::Level.eq(level.code()));
    }
    let in_province: RelationDef = school::Entity::belongs_to(province::Entity)
        .from(school::Column::ProvinceId)
        .to(province::Column::Id)
        .into();
    let in_commune: RelationDef = school::Entity::belongs_to(commune::Entity)
        .from(school::Column::CommuneId)
        .to(commune::Column::Id)
        .into();
    let rows = q
        .clone()
        .join(JoinType::InnerJoin, in_province)
        .join(JoinType::LeftJoin, in_commune)
        .column_as(province::Column::Code, "province_code")
        .column_as(province::Column::Name, "province_name")
        .column_as(province::Column::Kind, "province_kind")
        .column_as(commune::Column::Code, "commune_code")
        .column_as(commune::Column::Name, "commune_name")
        .order_by_asc(school::Column::ProvinceId)
        .order_by_asc(school::Column::Name)
        .order_by_asc(school::Column::Id)
        .offset(paging.offset())
        .limit(paging.per_page)
        .into_model::<ListedSchool>()
        .all(&db.conn)
        .await?;
    let total = count_long_list(db, q, count_cap(searching), paging, rows.len() as u64).await?;
    Ok(Paged::counted(
        rows.into_iter().map(|r| r.0).collect(),
        paging,
        total,
    ))
}

/// One school; 404 when it does not exist or lies outside the actor's scope.
pub async fn get_school(db: &Db, actor: &Actor, id: i64) -> AppResult<SchoolView> {
    let row = school::Entity::find_by_id(id)
        .filter(school_scope(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(views(db, vec![row]).await?.remove(0))
}

pub fn search_key(code: &str, name: &str) -> String {
    fold(&format!("{code} {name}"))
}

fn audit_view(m: &school::Model) -> serde_json::Value {
    json!({
        "code": m.code,
        "name": m.name,
        "level": m.level,
        "province_id": m.province_id,
        "commune_id": m.commune_id,
        "enrolled_students": m.enrolled_students,
        "address": m.address,
    })
}

/// Validates a draft against the database and the actor's scope: the province must exist
/// and be the actor's, the commune must belong to it.
async fn resolve<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    draft: &SchoolDraft,
) -> AppResult<(SchoolFields, i64, Option<i64>)> {
    let mut errors = FieldErrors::new();
    let fields = draft.fields(&mut errors);
    let province = province_by_code(conn, &draft.province_code).await?;
    let province_id = match (&province, actor.scope()) {
        (None, _) => {
            errors.add(
                "province_code",
                Msg::new("error-unknown-province").arg("code", draft.province_code.trim()),
            );
            None
        }
        (Some(p), Scope::Province(mine)) if p.id != mine => {
            errors.add("province_code", Msg::new("error-outside-scope"));
            None
        }
        (Some(p), _) => Some(p.id),
    };
    let mut commune_id = None;
    if let (Some(pid), Some(code)) = (
        province_id,
        draft
            .commune_code
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    ) {
        match commune::Entity::find()
            .filter(commune::Column::Code.eq(code))
            .one(conn)
            .await?
        {
            Some(c) if c.province_id == pid => commune_id = Some(c.id),
            Some(_) => errors.add("commune_code", Msg::new("error-commune-other-province")),
            None => errors.add(
                "commune_code",
                Msg::new("error-unknown-commune").arg("code", code),
            ),
        }
    }
    errors.into_result()?;
    Ok((
        fields.expect("checked"),
        province_id.expect("checked"),
        commune_id,
    ))
}

pub async fn create_school(db: &Db, actor: &Actor, draft: &SchoolDraft) -> AppResult<SchoolView> {
    actor.require_map_editor()?;
    let tx = db.begin_write().await?;
    let (f, province_id, commune_id) = resolve(&*tx, actor, draft).await?;
    if school::Entity::find()
        .filter(school::Column::Code.eq(&f.code))
        .count(&*tx)
        .await?
        > 0
    {
        return Err(AppError::invalid("code", Msg::new("error-code-taken")));
    }
    let now = Utc::now();
    let model = school::ActiveModel {
        search_key: Set(search_key(&f.code, &f.name)),
        code: Set(f.code),
        name: Set(f.name),
        level: Set(f.level.code().to_string()),
        province_id: Set(province_id),
        commune_id: Set(commune_id),
        enrolled_students: Set(f.enrolled_students),
        address: Set(f.address),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await
    .map_err(AppError::unique_as("code", Msg::new("error-code-taken")))?;
    audit::record(
        &*tx,
        actor,
        "school.created",
        "school",
        Some(model.id.to_string()),
        audit_view(&model),
    )
    .await?;
    tx.commit().await?;
    db.figures_changed();
    db.lists_changed();
    get_school(db, actor, model.id).await
}

pub async fn update_school(
    db: &Db,
    actor: &Actor,
    id: i64,
    draft: &SchoolDraft,
) -> AppResult<SchoolView> {
    let tx = db.begin_write().await?;
    let existing = school::Entity::find_by_id(id)
        .filter(school_scope(actor))
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    actor.require_map_editor()?;
    let (f, province_id, commune_id) = resolve(&*tx, actor, draft).await?;
    if school::Entity::find()
        .filter(school::Column::Code.eq(&f.code))
        .filter(school::Column::Id.ne(id))
        .count(&*tx)
        .await?
        > 0
    {
        return Err(AppError::invalid("code", Msg::new("error-code-taken")));
    }
    let before = audit_view(&existing);
    let mut model: school::ActiveModel = existing.into();
    model.search_key = Set(search_key(&f.code, &f.name));
    model.code = Set(f.code);
    model.name = Set(f.name);
    model.level = Set(f.level.code().to_string());
    model.province_id = Set(province_id);
    model.commune_id = Set(commune_id);
    model.enrolled_students = Set(f.enrolled_students);
    model.address = Set(f.address);
    model.updated_at = Set(Utc::now());
    let model = model
        .update(&*tx)
        .await
        .map_err(AppError::unique_as("code", Msg::new("error-code-taken")))?;
    let changes = audit::changes(&before, &audit_view(&model));
    audit::record(
        &*tx,
        actor,
        "school.updated",
        "school",
        Some(id.to_string()),
        changes,
    )
    .await?;
    tx.commit().await?;
    db.figures_changed();
    db.lists_changed();
    get_school(db, actor, id).await
}

/// Totals for the home page, within the actor's scope.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub provinces: u64,
    pub schools: u64,
    pub enrolled_students: i64,
    pub by_level: Vec<(String, i64)>,
}

pub async fn overview(db: &Db, actor: &Actor) -> AppResult<Overview> {
    let provinces = province::Entity::find()
        .filter(province_scope(actor))
        .count(&db.conn)
        .await?;
    let by_level: Vec<(String, i64, Option<i64>)> = school::Entity::find()
        .select_only()
        .column(school::Column::Level)
        .column_as(Expr::col(school::Column::Id).count(), "n")
        .column_as(
            Expr::col(school::Column::EnrolledStudents).sum(),
            "enrolled",
        )
        .filter(school_scope(actor))
        .group_by(school::Column::Level)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let schools = by_level.iter().map(|(_, n, _)| *n as u64).sum();
    let enrolled_students = by_level.iter().map(|(_, _, e)| e.unwrap_or(0)).sum();
    let mut levels: Vec<(String, i64)> = by_level.into_iter().map(|(l, n, _)| (l, n)).collect();
    levels.sort_by_key(|(l, _)| {
        SchoolLevel::ALL
            .iter()
            .position(|x| x.code() == l)
            .unwrap_or(99)
    });
    Ok(Overview {
        provinces,
        schools,
        enrolled_students,
        by_level: levels,
    })
}
