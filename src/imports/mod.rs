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

pub mod chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "import_chunks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub import_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i32,
        pub data: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Size of the pieces a large upload is stored in.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Starts a pending import whose file will be stored in pieces (`append_chunk`).
pub async fn create_chunked(
    db: &Db,
    actor: &Actor,
    kind: &str,
    filename: &str,
) -> AppResult<entity::Model> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    Ok(entity::ActiveModel {
        kind: Set(kind.to_string()),
        user_id: Set(user_id),
        filename: Set(filename.chars().take(255).collect()),
        status: Set(PENDING.to_string()),
        content: Set(None),
        rows_total: Set(0),
        rows_valid: Set(0),
        rows_invalid: Set(0),
        rows_written: Set(0),
        created_at: Set(Utc::now()),
        committed_at: Set(None),
        ..Default::default()
    }
    .insert(&db.conn)
    .await?)
}

pub async fn append_chunk(db: &Db, import_id: i64, seq: i32, data: Vec<u8>) -> AppResult<()> {
    chunk::ActiveModel {
        import_id: Set(import_id),
        seq: Set(seq),
        data: Set(data),
    }
    .insert(&db.conn)
    .await?;
    Ok(())
}

/// Records what the check of a stored upload found, and audits the upload.
pub async fn finish_check(
    db: &Db,
    actor: &Actor,
    import: &entity::Model,
    counts: Counts,
) -> AppResult<()> {
    let tx = db.begin_write().await?;
    entity::Entity::update_many()
        .col_expr(entity::Column::RowsTotal, Expr::value(clamp(counts.total)))
        .col_expr(entity::Column::RowsValid, Expr::value(clamp(counts.valid)))
        .col_expr(
            entity::Column::RowsInvalid,
            Expr::value(clamp(counts.invalid)),
        )
        .filter(entity::Column::Id.eq(import.id))
        .exec(&*tx)
        .await?;
    audit::record(
        &*tx,
        actor,
        "import.checked",
        "import",
        Some(import.id.to_string()),
        json!({"kind": import.kind, "filename": import.filename, "rows": counts.total, "invalid": counts.invalid}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Streams a stored upload's pieces, in order, into `tx` (the parser's input). Reads one piece
/// at a time, so memory stays at one piece whatever the file's size.
pub async fn feed_chunks(
    db: Db,
    import_id: i64,
    tx: tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
) -> AppResult<()> {
    let mut seq = 0;
    loop {
        let Some(piece) = chunk::Entity::find_by_id((import_id, seq))
            .one(&db.conn)
            .await?
        else {
            return Ok(());
        };
        if tx
            .send(actix_web::web::Bytes::from(piece.data))
            .await
            .is_err()
        {
            return Ok(());
        }
        seq += 1;
    }
}

/// Marks a chunked import committed and drops its pieces: the rows now live in their tables,
/// and a copy of personal data should not linger in an upload.
pub async fn finish_commit<C: ConnectionTrait>(
    conn: &C,
    import_id: i64,
    counts: Counts,
) -> AppResult<()> {
    entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(COMMITTED))
        .col_expr(entity::Column::RowsTotal, Expr::value(clamp(counts.total)))
        .col_expr(entity::Column::RowsValid, Expr::value(clamp(counts.valid)))
        .col_expr(
            entity::Column::RowsInvalid,
            Expr::value(clamp(counts.invalid)),
        )
        .col_expr(
            entity::Column::RowsWritten,
            Expr::value(clamp(counts.written)),
        )
        .col_expr(entity::Column::CommittedAt, Expr::value(Some(Utc::now())))
        .filter(entity::Column::Id.eq(import_id))
        .exec(conn)
        .await?;
    chunk::Entity::delete_many()
        .filter(chunk::Column::ImportId.eq(import_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Pushes an incoming byte stream (a request body, an uploaded file) into the parser, and —
/// when `store` names a pending import — keeps it in pieces as it passes. More than `limit`
/// bytes is refused with 413. If the parser stops early (an error further on), feeding stops
/// quietly: that error is the one to report.
pub async fn pump<S, E>(
    mut source: S,
    limit: usize,
    store: Option<(Db, i64)>,
    tx: tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
) -> AppResult<()>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
{
    use futures_util::StreamExt;
    let mut total = 0usize;
    let mut seq = 0i32;
    let mut piece: Vec<u8> = Vec::new();
    while let Some(chunk) = source.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest(Msg::new("error-upload-unreadable")))?;
        total += chunk.len();
        if total > limit {
            return Err(AppError::PayloadTooLarge);
        }
        if let Some((db, id)) = &store {
            piece.extend_from_slice(&chunk);
            if piece.len() >= CHUNK_BYTES {
                append_chunk(db, *id, seq, std::mem::take(&mut piece)).await?;
                seq += 1;
            }
        }
        if tx.send(chunk).await.is_err() {
            return Ok(());
        }
    }
    if let Some((db, id)) = &store {
        if !piece.is_empty() {
            append_chunk(db, *id, seq, piece).await?;
        }
    }
    if total == 0 {
        return Err(AppError::invalid("file", Msg::new("error-empty-file")));
    }
    Ok(())
}

/// Forgets a pending upload whose check failed midway (its pieces go with it).
pub async fn discard(db: &Db, import_id: i64) -> AppResult<()> {
    entity::Entity::delete_by_id(import_id)
        .exec(&db.conn)
        .await?;
    Ok(())
}
