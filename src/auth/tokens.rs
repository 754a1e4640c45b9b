//! API tokens: named, shown once, stored as a hash, revocable, with a last-used time.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationDef, Set,
};
use serde::Serialize;
use serde_json::json;

use super::actor::Actor;
use super::entity::{api_token, user};
use super::secrets::{random_token, token_hash};
use crate::audit;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::fields::required_text;

pub const PREFIX: &str = "hio_";
const TOUCH_EVERY_SECS: i64 = 60;

/// How long a resolved token is used without asking the database again. A token revoked, or a
/// user changed, through this process is looked up again at once; through another instance on
/// the same database, within this time.
pub const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(2);
/// Resolved tokens kept at most.
const TRUSTED_AT_MOST: usize = 10_000;

/// API tokens resolved lately, by the hash of their secret, with their owners, under the
/// version of accounts they were read at (`Db::accounts_changed`). Every API request resolves
/// its token: asking the database each time was about a sixth of a list request's cost.
pub type TokenCache = crate::recent::Recent<(api_token::Model, user::Model)>;

/// An empty [`TokenCache`].
pub fn token_cache() -> TokenCache {
    TokenCache::new(TRUSTED_FOR, TRUSTED_AT_MOST)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_token::Model> for TokenView {
    fn from(m: api_token::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            prefix: m.prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// Creates a token for `owner`; the returned secret is shown once and never stored.
/// Users create their own tokens; admins may create one for anybody.
pub async fn create(
    db: &Db,
    actor: &Actor,
    owner: i64,
    name: &str,
) -> AppResult<(String, TokenView)> {
    if actor.user_id != Some(owner) {
        actor.require_admin()?;
    }
    let name = required_text(name, 100).map_err(|m| AppError::invalid("name", m))?;
    let tx = db.begin_write().await?;
    let owner_row = user::Entity::find_by_id(owner)
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if !owner_row.active {
        return Err(AppError::bad_request("error-user-inactive"));
    }
    let secret = format!("{PREFIX}{}", random_token());
    let model = api_token::ActiveModel {
        user_id: Set(owner),
        name: Set(name.clone()),
        token_hash: Set(token_hash(&secret)),
        prefix: Set(secret.chars().take(PREFIX.len() + 6).collect()),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        actor,
        "token.created",
        "api_token",
        Some(model.id.to_string()),
        json!({"name": name, "user_id": owner, "prefix": model.prefix}),
    )
    .await?;
    tx.commit().await?;
    Ok((secret, model.into()))
}

pub async fn list_for_user(db: &Db, actor: &Actor, owner: i64) -> AppResult<Vec<TokenView>> {
    if actor.user_id != Some(owner) {
        actor.require_admin()?;
    }
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(owner))
        .order_by_desc(api_token::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(TokenView::from)
        .collect())
}

/// Revokes a token: its owner or an admin may. Another user's token answers 404.
pub async fn revoke(db: &Db, actor: &Actor, token_id: i64) -> AppResult<TokenView> {
    let tx = db.begin_write().await?;
    let found = api_token::Entity::find_by_id(token_id)
        .one(&*tx)
        .await?
        .filter(|t| actor.is_admin() || actor.user_id == Some(t.user_id))
        .ok_or(AppError::NotFound)?;
    if found.revoked_at.is_some() {
        return Ok(found.into());
    }
    let mut model: api_token::ActiveModel = found.into();
    model.revoked_at = Set(Some(Utc::now()));
    let model = model.update(&*tx).await?;
    audit::record(
        &*tx,
        actor,
        "token.revoked",
        "api_token",
        Some(token_id.to_string()),
        json!({"name": model.name, "user_id": model.user_id}),
    )
    .await?;
    tx.commit().await?;
    db.accounts_changed();
    Ok(model.into())
}

/// The live token and its active owner for a bearer secret; see [`TRUSTED_FOR`].
pub async fn resolve(db: &Db, secret: &str) -> AppResult<Option<(api_token::Model, user::Model)>> {
    if !secret.starts_with(PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let hash = token_hash(secret);
    // Read before the look-up: a change committed meanwhile leaves what it read unused.
    let (version, read_at) = (db.accounts_version(), std::time::Instant::now());
    if let Some(hit) = db.tokens().get(&hash, version) {
        return Ok(Some(hit));
    }
    // Token and owner in one statement: every API request comes through here.
    let owner_of: RelationDef = api_token::Entity::belongs_to(user::Entity)
        .from(api_token::Column::UserId)
        .to(user::Column::Id)
        .into();
    let Some((token, Some(owner))) = api_token::Entity::find()
        .join(JoinType::InnerJoin, owner_of)
        .select_also(user::Entity)
        .filter(api_token::Column::TokenHash.eq(hash.clone()))
        .filter(api_token::Column::RevokedAt.is_null())
        .filter(user::Column::Active.eq(true))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    let stale = token
        .last_used_at
        .map(|t| now - t >= Duration::seconds(TOUCH_EVERY_SECS))
        .unwrap_or(true);
    if stale {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(token.id))
            .exec(&db.conn)
            .await?;
    }
    db.tokens()
        .store(hash, version, read_at, (token.clone(), owner.clone()));
    Ok(Some((token, owner)))
}
