//! A web request's statements on one connection (`Db::for_request`).
use std::time::Duration;

use hi_outreach::db::{self, Db};
use hi_outreach::web::figures::FigureCache;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::fresh_database;

async fn backend_pid(db: &Db) -> Result<i64, sea_orm::DbErr> {
    let row = db
        .conn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT CAST(pg_backend_pid() AS BIGINT) AS pid",
        ))
        .await?
        .expect("a row");
    row.try_get("", "pid")
}

/// A fresh database with one connection in all (whatever a request holds, nobody else can
/// have), and a request's handle on it; None on SQLite, where nothing is held (a connection is
/// no round trip away).
async fn one_connection_and_a_request() -> Option<(Db, Db)> {
    let (url, _dir, _name) = fresh_database().await;
    let shared = db::connect(&url, 1).await.unwrap();
    db::migrate(&shared).await.unwrap();
    match shared.for_request() {
        Some(request) => Some((shared, request)),
        None => {
            assert_eq!(shared.backend(), DbBackend::Sqlite);
            None
        }
    }
}

#[tokio::test]
async fn a_request_holds_one_connection_and_gives_it_back_before_a_write() {
    let Some((shared, request)) = one_connection_and_a_request().await else {
        return;
    };
    let first = backend_pid(&request).await.unwrap();
    assert_eq!(
        backend_pid(&request).await.unwrap(),
        first,
        "the same connection"
    );
    // A statement the database refuses leaves the connection held and usable.
    let refused = request
        .conn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 / 0 AS n",
        ))
        .await;
    assert!(refused.is_err());
    assert_eq!(backend_pid(&request).await.unwrap(), first);
    // Held: a statement through the pool has no connection to run on.
    let waited = tokio::time::timeout(Duration::from_millis(300), backend_pid(&shared)).await;
    assert!(waited.is_err(), "the pool's one connection is held");
    // A write transaction gives the held connection back first; otherwise it would wait for a
    // second connection that cannot come.
    let tx = tokio::time::timeout(Duration::from_secs(5), request.begin_write())
        .await
        .expect("no wait for a second connection")
        .unwrap();
    tx.tx
        .execute_unprepared("UPDATE seaql_migrations SET version = version WHERE false")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A later statement takes a connection again; release gives it back to the pool.
    backend_pid(&request).await.unwrap();
    request.release().await;
    let pooled = tokio::time::timeout(Duration::from_secs(5), backend_pid(&shared))
        .await
        .expect("released to the pool");
    assert!(pooled.is_ok());
    // A handle that may outlive the request holds nothing.
    let background = request.pooled();
    backend_pid(&request).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), backend_pid(&background)).await;
    assert!(
        waited.is_err(),
        "the request holds the one connection again"
    );
    drop(request);
    // Dropping the last clone gives the connection back too.
    let pooled = tokio::time::timeout(Duration::from_secs(5), backend_pid(&background))
        .await
        .expect("given back on drop");
    assert!(pooled.is_ok());
}

#[tokio::test]
async fn dashboard_figures_are_computed_while_a_request_holds_the_only_connection() {
    let Some((_shared, request)) = one_connection_and_a_request().await else {
        return;
    };
    // The request has read something (its session, say): it holds the one connection.
    backend_pid(&request).await.unwrap();
    // Figures are computed on the pool, as the pages do; the cache gives the request's
    // connection back before it waits for them.
    let cache: FigureCache<i64> = FigureCache::default();
    let pooled = request.pooled();
    let computed = tokio::time::timeout(
        Duration::from_secs(5),
        cache.get_or(&request, "figures".into(), move || {
            let db = pooled.clone();
            async move { Ok(backend_pid(&db).await?) }
        }),
    )
    .await
    .expect("no wait for a connection the request holds");
    assert!(computed.is_ok());
    // The request reads on afterwards, on a connection taken again.
    backend_pid(&request).await.unwrap();
}

#[tokio::test]
async fn a_page_of_a_list_is_planned_once_on_postgres() {
    use hi_outreach::org::entity::province;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    let Some((_shared, request)) = one_connection_and_a_request().await else {
        return;
    };
    let page = || {
        province::Entity::find()
            .order_by_asc(province::Column::Name)
            .order_by_asc(province::Column::Id)
            .offset(5)
            .limit(7)
    };
    let expected: Vec<i64> = {
        let mut all = province::Entity::find().all(&request.conn).await.unwrap();
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        all.iter().skip(5).take(7).map(|p| p.id).collect()
    };
    assert_eq!(expected.len(), 7, "the reference provinces are loaded");
    for _ in 0..8 {
        let ids: Vec<i64> = page()
            .all(&request.conn)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, expected);
    }
    // The same held connection: its prepared statements and how each was planned.
    let row = request
        .conn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT CAST(generic_plans AS BIGINT) AS generic, CAST(custom_plans AS BIGINT) AS custom \
             FROM pg_prepared_statements WHERE statement LIKE '%FROM \"provinces\" ORDER BY%LIMIT 7 OFFSET 5'",
        ))
        .await
        .unwrap()
        .expect("the page's statement was prepared with its numbers in its text");
    let generic: i64 = row.try_get("", "generic").unwrap();
    let custom: i64 = row.try_get("", "custom").unwrap();
    assert_eq!((generic, custom), (8, 0), "planned once for all executions");
}
