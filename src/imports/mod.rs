//! Recorded imports: every uploaded file with who, when, and what it did. An upload first sits
//! as `pending` (its dry-run report shown), and is written only when its owner confirms.
pub mod csv_stream;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TryIntoModel,
};
use serde::Serialize;
use serde_json::json;

use crate::audit;
use crate::auth::actor::Actor;
use crate::db::Db;
use crate::error::{AppError, AppResult, Msg};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "imports")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: String,
        pub user_id: i64,
        pub filename: String,
        pub status: String,
        pub content: Option<Vec<u8>>,
        pub rows_total: i32,
        pub rows_valid: i32,
        pub rows_invalid: i32,
        pub rows_written: i32,
        pub created_at: DateTimeUtc,
        pub committed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub const PENDING: &str = "pending";
const COMMITTING: &str = "committing";
pub const COMMITTED: &str = "committed";
/// A checked upload waits this long for its confirmation.
const STALE_AFTER_HOURS: i64 = 24;

/// Counts of one import, as recorded.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub total: usize,
    pub valid: usize,
    pub invalid: usize,
    pub written: usize,
}

fn clamp(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Keeps an uploaded file until its owner confirms it.
pub async fn store_pending(
    db: &Db,
    actor: &Actor,
    kind: &str,
    filename: &str,
    content: Vec<u8>,
    counts: Counts,
) -> AppResult<entity::Model> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    let tx = db.begin_write().await?;
    let stored = entity::ActiveModel {
        kind: Set(kind.to_string()),
        user_id: Set(user_id),
        filename: Set(filename.chars().take(255).collect()),
        status: Set(PENDING.to_string()),
        content: Set(Some(content)),
        rows_total: Set(clamp(counts.total)),
        rows_valid: Set(clamp(counts.valid)),
        rows_invalid: Set(clamp(counts.invalid)),
        rows_written: Set(0),
        created_at: Set(Utc::now()),
        committed_at: Set(None),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        actor,
        "import.checked",
        "import",
        Some(stored.id.to_string()),
        json!({"kind": kind, "filename": stored.filename, "rows": counts.total}),
    )
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// A pending import of this kind uploaded by this actor (admins may confirm anyone's).
pub async fn load_pending<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    kind: &str,
    id: i64,
) -> AppResult<entity::Model> {
    let found = entity::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|m| m.kind == kind && (actor.is_admin() || Some(m.user_id) == actor.user_id))
        .ok_or(AppError::NotFound)?;
    if found.status != PENDING {
        return Err(AppError::Conflict(Msg::new("error-import-done")));
    }
    Ok(found)
}

/// Takes a pending import for confirmation, inside the transaction that will write it: of two
/// confirmations racing (a double click), exactly one gets it and the other gets 409. On
/// PostgreSQL the loser waits on the row lock, then finds the status changed.
pub async fn claim_pending<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    kind: &str,
    id: i64,
) -> AppResult<entity::Model> {
    let found = load_pending(conn, actor, kind, id).await?;
    let claimed = entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(COMMITTING))
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::Status.eq(PENDING))
        .exec(conn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(AppError::Conflict(Msg::new("error-import-done")));
    }
    Ok(found)
}

/// Forgets uploads that were checked but never confirmed (housekeeping).
pub async fn purge_stale(db: &Db) -> Result<u64, sea_orm::DbErr> {
    let res = entity::Entity::delete_many()
        .filter(entity::Column::Status.eq(PENDING))
        .filter(
            entity::Column::CreatedAt.lt(Utc::now() - chrono::Duration::hours(STALE_AFTER_HOURS)),
        )
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// Records a committed import (inside the transaction that wrote its rows).
pub async fn record_committed<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    existing: Option<entity::Model>,
    kind: &str,
    filename: &str,
    content: Vec<u8>,
    counts: Counts,
) -> AppResult<entity::Model> {
    let now = Utc::now();
    let mut model: entity::ActiveModel = match existing {
        Some(m) => m.into(),
        None => entity::ActiveModel {
            kind: Set(kind.to_string()),
            user_id: Set(actor.user_id.ok_or(AppError::Forbidden)?),
            filename: Set(filename.chars().take(255).collect()),
            created_at: Set(now),
            ..Default::default()
        },
    };
    model.status = Set(COMMITTED.to_string());
    model.content = Set(Some(content));
    model.rows_total = Set(clamp(counts.total));
    model.rows_valid = Set(clamp(counts.valid));
    model.rows_invalid = Set(clamp(counts.invalid));
    model.rows_written = Set(clamp(counts.written));
    model.committed_at = Set(Some(now));
    Ok(model.save(conn).await?.try_into_model()?)
}
