//! Server-side sessions: the cookie holds a random token, the database holds its hash.
//! A session ends on logout, on revocation, after `session_idle_minutes` without a request, or
//! `session_absolute_hours` after login, whichever comes first.
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationDef, Set,
};

use super::entity::{session, user};
use super::secrets::{random_token, token_hash};
use crate::config::Settings;
use crate::db::Db;

/// Writes of `last_seen_at` are skipped when the last one is this recent.
const TOUCH_EVERY_SECS: i64 = 60;

/// Starts a session and returns the token for the cookie.
pub async fn start<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    settings: &Settings,
) -> Result<(String, session::Model), DbErr> {
    let token = random_token();
    let now = Utc::now();
    let model = session::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + Duration::hours(settings.session_absolute_hours.into())),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok((token, model))
}

/// The live session for a cookie token and its (active) user.
pub async fn resolve(
    db: &Db,
    token: &str,
    settings: &Settings,
) -> Result<Option<(session::Model, user::Model)>, DbErr> {
    let now = Utc::now();
    let idle_cutoff = now - Duration::minutes(settings.session_idle_minutes.into());
    // Session and user in one statement: every page request comes through here.
    let user_of: RelationDef = session::Entity::belongs_to(user::Entity)
        .from(session::Column::UserId)
        .to(user::Column::Id)
        .into();
    let found = session::Entity::find()
        .join(JoinType::InnerJoin, user_of)
        .select_also(user::Entity)
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .filter(session::Column::LastSeenAt.gt(idle_cutoff))
        .filter(user::Column::Active.eq(true))
        .one(&db.conn)
        .await?;
    let Some((sess, Some(usr))) = found else {
        return Ok(None);
    };
    if (now - sess.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(sess.id))
            .exec(&db.conn)
            .await?;
    }
    Ok(Some((sess, usr)))
}

pub async fn revoke<C: ConnectionTrait>(conn: &C, session_id: i64) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Ends every session of a user, except `keep` (the one changing the password).
pub async fn revoke_all_for_user<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    keep: Option<i64>,
) -> Result<u64, DbErr> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(id) = keep {
        q = q.filter(session::Column::Id.ne(id));
    }
    Ok(q.exec(conn).await?.rows_affected)
}

/// Removes sessions that can no longer be used (housekeeping).
pub async fn purge_expired(db: &Db) -> Result<u64, DbErr> {
    let now = Utc::now();
    let res = session::Entity::delete_many()
        .filter(
            session::Column::ExpiresAt
                .lt(now)
                .or(session::Column::RevokedAt.lt(now - Duration::days(1))),
        )
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}
