//! Accounts: create, edit, deactivate, assign scope, change password, and turn a user row into
//! the `Actor` every service call receives.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actor::{Actor, AuthVia, Role, Scope};
use super::entity::{user, user_school};
use super::password;
use crate::audit;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors, Msg};
use crate::fields::{fold, required_text, Email, NewPassword};
use crate::org::entity::{province, school};
use crate::web::i18n::Lang;
use crate::web::paging::{page_of, PageParams, Paged};

/// A user as raw input, from a form or JSON; `validate` turns it into `UserInput`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct UserDraft {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    /// `admin`, `staff` or `liaison`.
    #[serde(default)]
    pub role: String,
    /// For staff: the province code (e.g. `01`); empty or absent means national.
    #[serde(default)]
    pub province_code: Option<String>,
    /// For liaisons: the codes of the schools they work with.
    #[serde(default)]
    pub school_codes: Vec<String>,
    /// `vi` (default) or `en`.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A user that passed validation.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub province_id: Option<i64>,
    pub school_ids: Vec<i64>,
    pub language: Lang,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProvinceRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchoolRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub province: Option<ProvinceRef>,
    pub schools: Vec<SchoolRef>,
    pub active: bool,
    /// `vi` or `en`.
    pub language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct UserFilter {
    /// Text in the name or e-mail.
    pub q: Option<String>,
    /// `admin`, `staff` or `liaison`.
    pub role: Option<String>,
    /// `true` for active accounts only, `false` for deactivated ones.
    pub active: Option<bool>,
}

pub async fn validate<C: ConnectionTrait>(
    conn: &C,
    draft: &UserDraft,
) -> Result<UserInput, AppError> {
    let mut errors = FieldErrors::new();
    let email = errors.take("email", Email::parse(&draft.email));
    let display_name = errors.take("display_name", required_text(&draft.display_name, 120));
    let role = errors.take("role", Role::parse(&draft.role));
    let language = match draft
        .language
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Some(Lang::Vi),
        Some(raw) => errors.take(
            "language",
            Lang::parse(raw).ok_or_else(|| Msg::new("error-one-of").arg("allowed", "vi, en")),
        ),
    };

    let province_code = draft
        .province_code
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let codes: Vec<String> = draft
        .school_codes
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();

    let mut province_id = None;
    if let Some(code) = province_code {
        if role == Some(Role::Staff) {
            match province::Entity::find()
                .filter(province::Column::Code.eq(code))
                .one(conn)
                .await?
            {
                Some(p) => province_id = Some(p.id),
                None => errors.add(
                    "province_code",
                    Msg::new("error-unknown-province").arg("code", code),
                ),
            }
        } else if role.is_some() {
            errors.add("province_code", Msg::new("error-province-only-staff"));
        }
    }

    let mut school_ids = Vec::new();
    if !codes.is_empty() {
        if role == Some(Role::Liaison) {
            let found: HashMap<String, i64> = school::Entity::find()
                .select_only()
                .column(school::Column::Code)
                .column(school::Column::Id)
                .filter(school::Column::Code.is_in(codes.clone()))
                .into_tuple::<(String, i64)>()
                .all(conn)
                .await?
                .into_iter()
                .collect();
            let missing: Vec<&str> = codes
                .iter()
                .filter(|c| !found.contains_key(*c))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                school_ids = codes.iter().filter_map(|c| found.get(c).copied()).collect();
                school_ids.sort_unstable();
                school_ids.dedup();
            } else {
                errors.add(
                    "school_codes",
                    Msg::new("error-unknown-schools").arg("codes", missing.join(", ")),
                );
            }
        } else if role.is_some() {
            errors.add("school_codes", Msg::new("error-schools-only-liaison"));
        }
    }

    errors.into_result()?;
    Ok(UserInput {
        email: email.expect("checked"),
        display_name: display_name.expect("checked"),
        role: role.expect("checked"),
        province_id,
        school_ids,
        language: language.expect("checked"),
        active: draft.active,
    })
}

fn search_key(input: &UserInput) -> String {
    fold(&format!("{} {}", input.email, input.display_name))
}

async fn email_taken<C: ConnectionTrait>(
    conn: &C,
    email: &Email,
    except: Option<i64>,
) -> AppResult<bool> {
    let mut q = user::Entity::find().filter(user::Column::Email.eq(email.as_str()));
    if let Some(id) = except {
        q = q.filter(user::Column::Id.ne(id));
    }
    Ok(q.count(conn).await? > 0)
}

async fn set_schools<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    school_ids: &[i64],
) -> AppResult<()> {
    user_school::Entity::delete_many()
        .filter(user_school::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    if !school_ids.is_empty() {
        user_school::Entity::insert_many(school_ids.iter().map(|sid| user_school::ActiveModel {
            user_id: Set(user_id),
            school_id: Set(*sid),
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// The audit summary of a user: what changed is visible, the password hash never.
fn audit_view(input: &UserInput) -> serde_json::Value {
    json!({
        "email": input.email.as_str(),
        "display_name": input.display_name,
        "role": input.role.as_str(),
        "province_id": input.province_id,
        "school_ids": input.school_ids,
        "language": input.language.code(),
        "active": input.active,
    })
}

fn model_audit_view(m: &user::Model, school_ids: &[i64]) -> serde_json::Value {
    json!({
        "email": m.email,
        "display_name": m.display_name,
        "role": m.role,
        "province_id": m.province_id,
        "school_ids": school_ids,
        "language": m.language,
        "active": m.active,
    })
}

pub async fn create(
    db: &Db,
    actor: &Actor,
    input: UserInput,
    password: NewPassword,
) -> AppResult<UserView> {
    actor.require_admin()?;
    let hash = password::hash(password.expose().to_string()).await?;
    let tx = db.begin_write().await?;
    if email_taken(&*tx, &input.email, None).await? {
        return Err(AppError::invalid("email", Msg::new("error-email-taken")));
    }
    let now = Utc::now();
    let model = user::ActiveModel {
        email: Set(input.email.as_str().to_string()),
        display_name: Set(input.display_name.clone()),
        search_key: Set(search_key(&input)),
        password_hash: Set(hash),
        role: Set(input.role.as_str().to_string()),
        province_id: Set(input.province_id),
        active: Set(input.active),
        language: Set(input.language.code().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*tx)
    .await
    .map_err(AppError::unique_as("email", Msg::new("error-email-taken")))?;
    set_schools(&*tx, model.id, &input.school_ids).await?;
    audit::record(
        &*tx,
        actor,
        "user.created",
        "user",
        Some(model.id.to_string()),
        audit_view(&input),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    get(db, actor, model.id).await
}

pub async fn update(db: &Db, actor: &Actor, id: i64, input: UserInput) -> AppResult<UserView> {
    actor.require_admin()?;
    let tx = db.begin_write().await?;
    let Some(existing) = user::Entity::find_by_id(id).one(&*tx).await? else {
        return Err(AppError::NotFound);
    };
    if actor.user_id == Some(id) {
        let mut errors = FieldErrors::new();
        if input.role.as_str() != existing.role {
            errors.add("role", Msg::new("error-own-role"));
        }
        if !input.active {
            errors.add("active", Msg::new("error-own-deactivate"));
        }
        errors.into_result()?;
    }
    if email_taken(&*tx, &input.email, Some(id)).await? {
        return Err(AppError::invalid("email", Msg::new("error-email-taken")));
    }
    let before = model_audit_view(&existing, &school_ids_of(&*tx, id).await?);
    let mut model: user::ActiveModel = existing.into();
    model.email = Set(input.email.as_str().to_string());
    model.display_name = Set(input.display_name.clone());
    model.search_key = Set(search_key(&input));
    model.role = Set(input.role.as_str().to_string());
    model.province_id = Set(input.province_id);
    model.active = Set(input.active);
    model.language = Set(input.language.code().to_string());
    model.updated_at = Set(Utc::now());
    model
        .update(&*tx)
        .await
        .map_err(AppError::unique_as("email", Msg::new("error-email-taken")))?;
    set_schools(&*tx, id, &input.school_ids).await?;
    if !input.active {
        super::session::revoke_all_for_user(&*tx, id, None).await?;
    }
    let changes = audit::changes(&before, &audit_view(&input));
    let action = if before["active"] == json!(true) && !input.active {
        "user.deactivated"
    } else if before["active"] == json!(false) && input.active {
        "user.reactivated"
    } else {
        "user.updated"
    };
    audit::record(&*tx, actor, action, "user", Some(id.to_string()), changes).await?;
    tx.commit().await?;
    db.accounts_changed();
    get(db, actor, id).await
}

/// Sets a new password chosen by an admin (for someone who forgot theirs); ends their sessions.
pub async fn reset_password(
    db: &Db,
    actor: &Actor,
    id: i64,
    password: NewPassword,
) -> AppResult<()> {
    actor.require_admin()?;
    let hash = password::hash(password.expose().to_string()).await?;
    let tx = db.begin_write().await?;
    let res = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(id))
        .exec(&*tx)
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::NotFound);
    }
    super::session::revoke_all_for_user(&*tx, id, None).await?;
    audit::record(
        &*tx,
        actor,
        "user.password_reset",
        "user",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    Ok(())
}

/// The signed-in user changes their own password; their other sessions end.
pub async fn change_own_password(
    db: &Db,
    actor: &Actor,
    current: &str,
    new: &str,
) -> AppResult<()> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    let mut errors = FieldErrors::new();
    let new = errors.take("new_password", NewPassword::parse(new));
    let Some(existing) = user::Entity::find_by_id(user_id).one(&db.conn).await? else {
        return Err(AppError::NotFound);
    };
    if !password::verify(current.to_string(), Some(existing.password_hash.clone())).await {
        errors.add("current_password", Msg::new("error-wrong-password"));
    }
    errors.into_result()?;
    let new = new.expect("checked");
    if new.expose() == current {
        return Err(AppError::invalid(
            "new_password",
            Msg::new("error-password-same"),
        ));
    }
    let hash = password::hash(new.expose().to_string()).await?;
    let tx = db.begin_write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user_id))
        .exec(&*tx)
        .await?;
    let keep = match &actor.via {
        AuthVia::Session { session_id, .. } => Some(*session_id),
        _ => None,
    };
    let ended = super::session::revoke_all_for_user(&*tx, user_id, keep).await?;
    audit::record(
        &*tx,
        actor,
        "user.password_changed",
        "user",
        Some(user_id.to_string()),
        json!({"other_sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A user's live sessions (admins only).
pub async fn live_sessions(db: &Db, actor: &Actor, user_id: i64) -> AppResult<Vec<SessionView>> {
    use super::entity::session;
    actor.require_admin()?;
    let now = Utc::now();
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::LastSeenAt)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Ends every session of a user (admins only), e.g. for a lost phone.
pub async fn end_sessions(db: &Db, actor: &Actor, user_id: i64) -> AppResult<u64> {
    actor.require_admin()?;
    let tx = db.begin_write().await?;
    if user::Entity::find_by_id(user_id).one(&*tx).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let ended = super::session::revoke_all_for_user(&*tx, user_id, None).await?;
    audit::record(
        &*tx,
        actor,
        "user.sessions_ended",
        "user",
        Some(user_id.to_string()),
        json!({"sessions": ended}),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    Ok(ended)
}

pub async fn set_language(db: &Db, actor: &Actor, lang: Lang) -> AppResult<()> {
    let Some(user_id) = actor.user_id else {
        return Ok(());
    };
    let tx = db.begin_write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::Language, Expr::value(lang.code()))
        .col_expr(user::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user_id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        "user.language_changed",
        "user",
        Some(user_id.to_string()),
        json!({"language": {"from": actor.lang.code(), "to": lang.code()}}),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    Ok(())
}

pub async fn school_ids_of<C: ConnectionTrait>(conn: &C, user_id: i64) -> AppResult<Vec<i64>> {
    Ok(user_school::Entity::find()
        .select_only()
        .column(user_school::Column::SchoolId)
        .filter(user_school::Column::UserId.eq(user_id))
        .order_by_asc(user_school::Column::SchoolId)
        .into_tuple()
        .all(conn)
        .await?)
}

/// The actor for a signed-in user.
pub async fn actor_for(
    db: &Db,
    u: &user::Model,
    via: AuthVia,
    request_id: Option<String>,
) -> AppResult<Actor> {
    let role =
        Role::parse(&u.role).map_err(|_| anyhow::anyhow!("user {} has an unknown role", u.id))?;
    let school_ids = if role == Role::Liaison {
        school_ids_of(&db.conn, u.id).await?
    } else {
        Vec::new()
    };
    Ok(Actor {
        user_id: Some(u.id),
        label: u.email.clone(),
        display_name: u.display_name.clone(),
        role,
        province_id: if role == Role::Staff {
            u.province_id
        } else {
            None
        },
        school_ids,
        lang: Lang::parse(&u.language).unwrap_or_default(),
        via,
        request_id,
    })
}

/// Users the actor may see: admins and national staff all, province staff those working in
/// their province, liaisons only themselves.
fn visible(actor: &Actor) -> Condition {
    match actor.scope() {
        Scope::National => Condition::all(),
        Scope::Province(p) => {
            let in_province_schools = Query::select()
                .column(user_school::Column::UserId)
                .from(user_school::Entity)
                .inner_join(
                    school::Entity,
                    Expr::col((school::Entity, school::Column::Id))
                        .equals((user_school::Entity, user_school::Column::SchoolId)),
                )
                .and_where(Expr::col((school::Entity, school::Column::ProvinceId)).eq(p))
                .to_owned();
            Condition::any()
                .add(user::Column::ProvinceId.eq(p))
                .add(user::Column::Id.in_subquery(in_province_schools))
                .add(user::Column::Id.eq(actor.user_id.unwrap_or(-1)))
        }
        Scope::Schools(_) => Condition::all().add(user::Column::Id.eq(actor.user_id.unwrap_or(-1))),
    }
}

pub async fn list(
    db: &Db,
    actor: &Actor,
    filter: &UserFilter,
    paging: PageParams,
) -> AppResult<Paged<UserView>> {
    if actor.role == Role::Liaison {
        return Err(AppError::Forbidden);
    }
    let mut q = user::Entity::find().filter(visible(actor));
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q = q.filter(crate::db::contains(
            db.backend(),
            user::Column::SearchKey,
            &fold(text),
        ));
    }
    if let Some(role) = filter
        .role
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let role = Role::parse(role).map_err(|m| AppError::invalid("role", m))?;
        q = q.filter(user::Column::Role.eq(role.as_str()));
    }
    if let Some(active) = filter.active {
        q = q.filter(user::Column::Active.eq(active));
    }
    let (rows, total) = page_of(&db.conn, q.order_by_asc(user::Column::Email), paging).await?;
    let views = views(db, rows).await?;
    Ok(Paged::new(views, paging, total))
}

pub async fn get(db: &Db, actor: &Actor, id: i64) -> AppResult<UserView> {
    let found = user::Entity::find_by_id(id)
        .filter(visible(actor))
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(views(db, vec![found]).await?.remove(0))
}

/// Looks up a user by e-mail for the command line.
pub async fn find_by_email(db: &Db, email: &Email) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(&db.conn)
        .await?)
}

async fn views(db: &Db, rows: Vec<user::Model>) -> AppResult<Vec<UserView>> {
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let province_ids: Vec<i64> = rows.iter().filter_map(|u| u.province_id).collect();
    let provinces: HashMap<i64, ProvinceRef> = province::Entity::find()
        .filter(province::Column::Id.is_in(province_ids))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|p| {
            (
                p.id,
                ProvinceRef {
                    id: p.id,
                    code: p.code,
                    name: p.name,
                },
            )
        })
        .collect();
    let links: Vec<(i64, i64, String, String)> = user_school::Entity::find()
        .select_only()
        .column(user_school::Column::UserId)
        .column(user_school::Column::SchoolId)
        .column_as(Expr::col((school::Entity, school::Column::Code)), "code")
        .column_as(Expr::col((school::Entity, school::Column::Name)), "name")
        .join(
            JoinType::InnerJoin,
            user_school::Entity::belongs_to(school::Entity)
                .from(user_school::Column::SchoolId)
                .to(school::Column::Id)
                .into(),
        )
        .filter(user_school::Column::UserId.is_in(ids))
        .order_by_asc(Expr::col((school::Entity, school::Column::Code)))
        .into_tuple()
        .all(&db.conn)
        .await?;
    let mut schools: HashMap<i64, Vec<SchoolRef>> = HashMap::new();
    for (uid, sid, code, name) in links {
        schools.entry(uid).or_default().push(SchoolRef {
            id: sid,
            code,
            name,
        });
    }
    Ok(rows
        .into_iter()
        .map(|u| UserView {
            id: u.id,
            role: Role::parse(&u.role).unwrap_or(Role::Liaison),
            province: u.province_id.and_then(|p| provinces.get(&p).cloned()),
            schools: schools.remove(&u.id).unwrap_or_default(),
            email: u.email,
            display_name: u.display_name,
            active: u.active,
            language: u.language,
            created_at: u.created_at,
            updated_at: u.updated_at,
        })
        .collect())
}
