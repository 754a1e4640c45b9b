//! Connecting to SQLite or PostgreSQL, migrating, and write transactions that behave on both.
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::Values;
use sea_orm::sea_query::{Alias, Expr, Func, SimpleExpr};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, PgPool, Postgres};
use sea_orm::{
    ColumnTrait, ConnAcquireErr, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    TransactionTrait,
};
use sea_query_binder::SqlxValues;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::DatabaseUrl;

/// A pooled connection idle longer than this is tested with a round trip before it is used.
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(10);

/// The database handle shared by every part of the application.
///
/// SQLite allows one writer at a time. Write transactions on SQLite take the write lock as
/// their first step (see `begin_write`) and, within the process, pass through a gate one at a
/// time so pool connections do not spin on the lock; PostgreSQL needs neither. Plain single
/// statements go straight to the pool (SQLite's busy timeout covers them), or, in a handle made
/// by `for_request`, to the one connection the request holds.
#[derive(Clone)]
pub struct Db {
    pub conn: Conn,
    write_gate: Option<Arc<Mutex<()>>>,
    /// Counts this process's writes that change dashboard figures (enrollment snapshots,
    /// schools): a cached figure computed under an older count is stale.
    figures: Arc<std::sync::atomic::AtomicU64>,
    /// The pools made for HTTP worker threads from this one (see `for_worker_thread`), so that
    /// closing this pool closes them too.
    thread_pools: Arc<std::sync::Mutex<ThreadPools>>,
    /// API tokens this process resolved lately (see `auth::tokens::resolve`).
    tokens: Arc<crate::auth::tokens::TokenCache>,
    /// Counts this process's writes to users and tokens: a token resolved under an older count
    /// is looked up again.
    accounts: Arc<std::sync::atomic::AtomicU64>,
    /// Long lists this process counted past their cap lately (see `paging::count_long_list`).
    past_cap: Arc<crate::web::paging::PastCap>,
    /// Counts this process's writes to students and schools: a list remembered as going on
    /// past its cap under an older count is counted again.
    lists: Arc<std::sync::atomic::AtomicU64>,
    /// Held by an import while it writes (see `begin_import`).
    imports: Arc<Mutex<()>>,
    /// The topic list this process read lately (see `campaigns::service::topics`).
    topics: Arc<crate::campaigns::service::TopicCache>,
    /// Counts this process's writes to topics: a list read under an older count is read again.
    topics_changed: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Default)]
struct ThreadPools {
    pools: Vec<DatabaseConnection>,
    /// Set by `close_pool`: a thread asking later gets the closed pool, not a new one.
    closed: bool,
}

/// A write transaction; on SQLite it holds the write gate until commit or drop.
pub struct WriteTx {
    pub tx: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        let write_gate =
            (conn.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Self {
            conn: Conn::pooled(conn),
            write_gate,
            figures: Arc::default(),
            thread_pools: Arc::default(),
            tokens: Arc::new(crate::auth::tokens::token_cache()),
            accounts: Arc::default(),
            past_cap: Arc::new(crate::web::paging::past_cap()),
            lists: Arc::default(),
            imports: Arc::default(),
            topics: Arc::new(crate::campaigns::service::topic_cache()),
            topics_changed: Arc::default(),
        }
    }

    /// Tells this process's caches of dashboard figures that they are stale.
    pub fn figures_changed(&self) {
        self.figures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many times figures were changed through this process.
    pub fn figures_version(&self) -> u64 {
        self.figures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// API tokens this process resolved lately.
    pub fn tokens(&self) -> &crate::auth::tokens::TokenCache {
        &self.tokens
    }

    /// Tells this process's resolved API tokens that users or tokens changed: each is looked up
    /// again at its next use.
    pub fn accounts_changed(&self) {
        self.accounts
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many times users or tokens were changed through this process.
    pub fn accounts_version(&self) -> u64 {
        self.accounts.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Long lists this process counted past their cap lately.
    pub fn past_cap(&self) -> &crate::web::paging::PastCap {
        &self.past_cap
    }

    /// A write transaction for an import, one at a time in this process. An import holds its
    /// transaction's connection and reads the stored upload over a second one: two at once on
    /// one HTTP worker thread (a pool of 2 by default) each held one connection and waited for
    /// the other until the pool gave up. The request's own connection goes back before the wait.
    pub async fn begin_import(&self) -> Result<(WriteTx, OwnedMutexGuard<()>), DbErr> {
        self.conn.release().await;
        let one = self.imports.clone().lock_owned().await;
        Ok((self.begin_write().await?, one))
    }

    /// Tells this process's remembered list lengths that students or schools changed: each
    /// list is counted again.
    pub fn lists_changed(&self) {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many times students or schools were changed through this process.
    pub fn lists_version(&self) -> u64 {
        self.lists.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The topic list this process read lately.
    pub fn topic_cache(&self) -> &crate::campaigns::service::TopicCache {
        &self.topics
    }

    /// Tells this process's topic list that topics changed: it is read again at its next use.
    pub fn topics_changed(&self) {
        self.topics_changed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many times topics were changed through this process.
    pub fn topics_version(&self) -> u64 {
        self.topics_changed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.pool.get_database_backend()
    }

    /// A handle whose plain statements all run on one connection, taken from the pool at the
    /// first of them and given back by `release` (or when the last clone is dropped), for one
    /// web request. Through the pool each statement took a connection and gave it back, and
    /// sqlx tests a connection given back with a round trip of its own: a page of a dozen
    /// statements made two dozen round trips. Transactions (`begin_write`) first give the held
    /// connection back, so a request never holds two of the pool's connections because of it.
    /// None on SQLite, where a connection is no round trip away.
    pub fn for_request(&self) -> Option<Db> {
        let DatabaseConnection::SqlxPostgresPoolConnection(_) = &self.conn.pool else {
            return None;
        };
        let mut db = self.clone();
        db.conn.held = Some(Arc::new(Held {
            pool: self.conn.pool.get_postgres_connection_pool().clone(),
            slot: Mutex::new(None),
        }));
        Some(db)
    }

    /// The same database without a connection held for a request: for work that may outlive
    /// the request (a computation in the background).
    pub fn pooled(&self) -> Db {
        let mut db = self.clone();
        db.conn.held = None;
        db
    }

    /// Gives back the connection held for a request, if any; a later statement takes one again.
    pub async fn release(&self) {
        self.conn.release().await;
    }

    /// A handle for one HTTP worker thread: on PostgreSQL its own pool of at most
    /// `max_connections`, connected lazily from that thread, so a connection's socket belongs to
    /// the runtime of the thread that uses it. A connection shared between threads has its
    /// answers pass through the thread that opened it: with one shared pool a campaign page
    /// cost about a third more processor time (server and database together). SQLite keeps the
    /// shared pool (its connections run on threads of their own anyway) and its write gate.
    /// Figure versions stay shared.
    pub fn for_worker_thread(&self, max_connections: u32) -> Db {
        if self.backend() != DbBackend::Postgres {
            return self.clone();
        }
        let Ok(mut registry) = self.thread_pools.lock() else {
            return self.clone();
        };
        if registry.closed {
            return self.clone();
        }
        let shared = self.conn.pool.get_postgres_connection_pool();
        let pool = shared
            .options()
            .clone()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            // Every statement takes a connection from the pool: testing each one first with a
            // round trip of its own made every statement two. A connection idle for a while is
            // still tested (the server may have closed it meanwhile).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_TEST {
                        sea_orm::sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with((*shared.connect_options()).clone());
        let conn = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        registry.pools.push(conn.clone());
        Db {
            conn: Conn::pooled(conn),
            ..self.clone()
        }
    }

    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        // A connection held for the request goes back first: a request waiting for a second
        // connection while holding one could wait for ever once every connection is held so.
        self.conn.release().await;
        let tx = self.conn.pool.begin().await?;
        if gate.is_some() {
            // SQLite's BEGIN is deferred: a transaction that reads first and writes later fails
            // at once (SQLITE_BUSY_SNAPSHOT) if another connection — another process, or a
            // plain statement outside the gate — committed in between. A write as the very
            // first statement takes the write lock up front, like BEGIN IMMEDIATE, and waits
            // for it under the busy timeout. It changes no row.
            tx.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0")
                .await?;
        }
        Ok(WriteTx { tx, _gate: gate })
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.pool.ping().await
    }

    /// Closes the pool and the HTTP worker threads' pools: every later query fails. Used on
    /// shutdown and by tests of outages.
    pub async fn close_pool(&self) {
        let others: Vec<DatabaseConnection> = match self.thread_pools.lock() {
            Ok(mut registry) => {
                registry.closed = true;
                registry.pools.clone()
            }
            Err(_) => Vec::new(),
        };
        for conn in std::iter::once(&self.conn.pool).chain(others.iter()) {
            match conn.get_database_backend() {
                DbBackend::Sqlite => conn.get_sqlite_connection_pool().close().await,
                DbBackend::Postgres => conn.get_postgres_connection_pool().close().await,
                DbBackend::MySql => {}
            }
        }
    }
}

/// What statements run on: the pool (a connection per statement), or one connection held for
/// a web request (see `Db::for_request`).
#[derive(Clone)]
pub struct Conn {
    pool: DatabaseConnection,
    held: Option<Arc<Held>>,
}

/// A connection taken from a PostgreSQL pool at the first statement and kept until released.
struct Held {
    pool: PgPool,
    slot: Mutex<Option<PoolConnection<Postgres>>>,
}

impl Conn {
    fn pooled(pool: DatabaseConnection) -> Self {
        Self { pool, held: None }
    }

    /// The pool behind this handle.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    async fn release(&self) {
        if let Some(held) = &self.held {
            held.slot.lock().await.take();
        }
    }
}

impl Held {
    /// The held connection, taken from the pool if none is held yet.
    async fn conn(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<PoolConnection<Postgres>>>, DbErr> {
        let mut slot = self.slot.lock().await;
        if slot.is_none() {
            *slot = Some(self.pool.acquire().await.map_err(|e| match e {
                sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
                sqlx::Error::PoolClosed => {
                    DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
                }
                e => DbErr::Conn(RuntimeErr::SqlxError(e)),
            })?);
        }
        Ok(slot)
    }
}

/// After a failed statement the connection is kept only when the database itself refused
/// the statement; any other failure (the connection broke, a statement was cut short) gives it
/// back, and the pool tests it before anyone uses it again.
fn settle<T>(
    slot: &mut Option<PoolConnection<Postgres>>,
    result: Result<T, sqlx::Error>,
    as_err: fn(RuntimeErr) -> DbErr,
) -> Result<T, DbErr> {
    result.map_err(|e| {
        if !matches!(e, sqlx::Error::Database(_) | sqlx::Error::RowNotFound) {
            slot.take();
        }
        as_err(RuntimeErr::SqlxError(e))
    })
}

fn sqlx_query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(&stmt.sql, SqlxValues(values))
}

/// Runs a statement on the held connection (bound to `$conn`), or `$pooled` on the pool when
/// none is held; failures go through `settle`.
macro_rules! on_held {
    ($self:ident, $pooled:expr, |$conn:ident| $run:expr, $as_err:expr) => {{
        let Some(held) = &$self.held else {
            return $pooled.await;
        };
        let mut slot = held.conn().await?;
        let Some($conn) = slot.as_mut() else {
            unreachable!("filled by Held::conn")
        };
        let done = $run.await;
        settle(&mut slot, done, $as_err)
    }};
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        on_held!(
            self,
            self.pool.execute(stmt),
            |conn| sqlx_query(&stmt).execute(&mut **conn),
            DbErr::Exec
        )
        .map(ExecResult::from)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        on_held!(
            self,
            self.pool.execute_unprepared(sql),
            |conn| sqlx::Executor::execute(&mut **conn, sql),
            DbErr::Exec
        )
        .map(ExecResult::from)
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let stmt = literal_paging(stmt);
        on_held!(
            self,
            self.pool.query_one(stmt),
            |conn| sqlx_query(&stmt).fetch_optional(&mut **conn),
            DbErr::Query
        )
        .map(|row| row.map(QueryResult::from))
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let stmt = literal_paging(stmt);
        on_held!(
            self,
            self.pool.query_all(stmt),
            |conn| sqlx_query(&stmt).fetch_all(&mut **conn),
            DbErr::Query
        )
        .map(|rows| rows.into_iter().map(QueryResult::from).collect())
    }
}

/// A PostgreSQL statement ending in `LIMIT $n` or `LIMIT $n OFFSET $m` (how sea-query writes
/// `.limit()`, `.offset()` and `.one()`) with those numbers written into its text instead.
///
/// PostgreSQL plans a prepared statement for its parameters' values at every execution unless a
/// plan for any values (a generic plan) is estimated to cost about the same; with the row count
/// a parameter, it guesses a tenth of the table and keeps planning. A list read page by page
/// spent about as long being planned as being read (0.34 → 0.18 ms per statement for a page of
/// the national student list). Each distinct page is then its own statement in the
/// connection's statement cache. The numbers come from the values sea-query bound (integers),
/// never from text, so nothing is spliced in that was not a number.
pub fn literal_paging(mut stmt: Statement) -> Statement {
    if stmt.db_backend != DbBackend::Postgres {
        return stmt;
    }
    let Some(values) = stmt.values.as_mut() else {
        return stmt;
    };
    let n = values.0.len();
    let count = |value: &sea_orm::Value| -> Option<u64> {
        use sea_orm::Value::*;
        match *value {
            BigUnsigned(Some(v)) => Some(v),
            Unsigned(Some(v)) => Some(v.into()),
            BigInt(Some(v)) => u64::try_from(v).ok(),
            Int(Some(v)) => u64::try_from(v).ok(),
            _ => None,
        }
    };
    let both = format!(" LIMIT ${} OFFSET ${n}", n.saturating_sub(1));
    let limit_only = format!(" LIMIT ${n}");
    // The tail to cut off, how many values it bound, and the numbers.
    let (tail, bound, limit, offset) = if n >= 2 && stmt.sql.ends_with(&both) {
        match (count(&values.0[n - 2]), count(&values.0[n - 1])) {
            (Some(limit), Some(offset)) => (both.len(), 2, limit, offset),
            _ => return stmt,
        }
    } else if n >= 1 && stmt.sql.ends_with(&limit_only) {
        match count(&values.0[n - 1]) {
            Some(limit) => (limit_only.len(), 1, limit, 0),
            None => return stmt,
        }
    } else {
        return stmt;
    };
    values.0.truncate(n - bound);
    stmt.sql.truncate(stmt.sql.len() - tail);
    stmt.sql.push_str(&format!(" LIMIT {limit}"));
    if offset > 0 {
        stmt.sql.push_str(&format!(" OFFSET {offset}"));
    }
    stmt
}

/// The rows of `E` whose `column` is one of `ids`, keyed by `key`; no statement at all when
/// there are no ids (labels for a list look up only what the list refers to).
pub async fn rows_by_id<E, C>(
    conn: &C,
    column: E::Column,
    ids: impl IntoIterator<Item = i64>,
    key: impl Fn(&E::Model) -> i64,
) -> Result<std::collections::BTreeMap<i64, E::Model>, DbErr>
where
    E: sea_orm::EntityTrait,
    C: ConnectionTrait,
{
    use sea_orm::QueryFilter;
    let ids: std::collections::BTreeSet<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(E::find()
        .filter(column.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (key(&m), m))
        .collect())
}

/// `column` holds `text` as a substring (no pattern characters): `strpos(column, text) > 0` on
/// PostgreSQL, `instr(column, text) > 0` on SQLite, case-sensitive on both. Callers pass folded
/// text (see `fields::fold`) and fold the column when they store it, so the match ignores case
/// and accents. Not `LIKE '%text%'`: PostgreSQL estimates a bound LIKE pattern (a guess of one
/// row in 200) so far from a given common one (one in ten) that it planned every search anew,
/// a third of a student search's statement; a function it cannot estimate gets the same guess
/// either way, so one plan is kept for every text.
pub fn contains(backend: DbBackend, column: impl ColumnTrait, text: &str) -> SimpleExpr {
    let function = match backend {
        DbBackend::Postgres => "strpos",
        _ => "instr",
    };
    Expr::expr(
        Func::cust(Alias::new(function))
            .arg(Expr::col((column.entity_name(), column)))
            .arg(text.to_string()),
    )
    .gt(0)
}

/// Opens a pool. A SQLite file (and its folder) is created when missing; every SQLite
/// connection gets WAL, a busy timeout and enforced foreign keys.
pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Db, DbErr> {
    let mut raw = url.as_str().to_string();
    if url.is_sqlite() {
        if let Some(path) = sqlite_path(&raw) {
            if let Some(parent) = std::path::Path::new(&path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        DbErr::Custom(format!(
                            "cannot create the folder {} for the database: {e}",
                            parent.display()
                        ))
                    })?;
                }
            }
        }
        if !raw.contains("mode=") {
            raw.push_str(if raw.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let mut opts = ConnectOptions::new(raw);
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let conn = Database::connect(opts).await?;
    Ok(Db::new(conn))
}

/// The file path inside a `sqlite://` URL, or None for in-memory databases.
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}

pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    Migrator::up(&db.conn.pool, None).await
}

/// Values bound to hand-written SQL, with the placeholder syntax of the connection's database
/// (`$1` on PostgreSQL, `?1` on SQLite).
pub struct Params {
    pub backend: sea_orm::DbBackend,
    pub values: Vec<sea_orm::Value>,
}

impl Params {
    pub fn new(backend: sea_orm::DbBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds a value and answers its placeholder.
    pub fn bind(&mut self, v: impl Into<sea_orm::Value>) -> String {
        self.values.push(v.into());
        // Numbered on both databases, so a placeholder may be used twice and values may be
        // bound in any order.
        match self.backend {
            sea_orm::DbBackend::Postgres => format!("${}", self.values.len()),
            _ => format!("?{}", self.values.len()),
        }
    }

    /// `(p1, p2, …)` for a non-empty list.
    pub fn bind_list<T: Into<sea_orm::Value> + Clone>(&mut self, items: &[T]) -> String {
        let list: Vec<String> = items.iter().map(|v| self.bind(v.clone())).collect();
        format!("({})", list.join(", "))
    }

    /// A sub-select of `ids`, for `… IN <this>`, bound as one JSON array: a batch of hundreds of
    /// ids costs one parameter, not hundreds (SQLite finds each numbered parameter's name by a
    /// walk over all of them, so long lists bind in quadratic time).
    pub fn bind_ids(&mut self, ids: &[i64]) -> String {
        let p = self.bind(serde_json::to_string(ids).expect("numbers serialise"));
        match self.backend {
            sea_orm::DbBackend::Postgres => format!(
                "(SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST({p} AS json)))"
            ),
            _ => format!("(SELECT value FROM json_each({p}))"),
        }
    }

    /// A `SELECT` of `rows` (a JSON array of objects), one row each, with the named columns of
    /// the given SQL types (`BIGINT` or `TEXT`), bound as one parameter; for `WITH v AS (<this>)`
    /// or `INSERT … <this>`.
    pub fn bind_rows(&mut self, rows: &serde_json::Value, columns: &[(&str, &str)]) -> String {
        let p = self.bind(rows.to_string());
        match self.backend {
            sea_orm::DbBackend::Postgres => {
                let defs: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
                format!(
                    "SELECT * FROM json_to_recordset(CAST({p} AS json)) AS r({})",
                    defs.join(", ")
                )
            }
            _ => {
                let cols: Vec<String> = columns
                    .iter()
                    .map(|(c, t)| format!("CAST(value ->> '{c}' AS {t}) AS {c}"))
                    .collect();
                format!("SELECT {} FROM json_each({p})", cols.join(", "))
            }
        }
    }

    pub fn statement(self, sql: String) -> sea_orm::Statement {
        debug_assert!(
            self.unnamed(&sql).is_none(),
            "value {:?} is bound but not named in: {sql}",
            self.unnamed(&sql)
        );
        sea_orm::Statement::from_sql_and_values(self.backend, sql, self.values)
    }

    /// The first bound value whose placeholder the text does not name: one SQL text must
    /// always carry the same number of values (PostgreSQL caches a statement per text on each
    /// connection and refuses a different count later).
    fn unnamed(&self, sql: &str) -> Option<usize> {
        let mark = match self.backend {
            sea_orm::DbBackend::Postgres => '$',
            _ => '?',
        };
        let mut named = vec![false; self.values.len() + 1];
        let mut rest = sql;
        while let Some(at) = rest.find(mark) {
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(n) = rest[..digits].parse::<usize>() {
                if let Some(slot) = named.get_mut(n) {
                    *slot = true;
                }
            }
        }
        (1..named.len()).find(|&n| !named[n])
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn a_value_bound_but_not_named_is_found() {
        for backend in [sea_orm::DbBackend::Postgres, sea_orm::DbBackend::Sqlite] {
            let mut p = super::Params::new(backend);
            let a = p.bind(1);
            let _unused = p.bind(2);
            let c = p.bind(3);
            assert_eq!(p.unnamed(&format!("SELECT {a}, {c}")), Some(2));
            assert_eq!(p.unnamed(&format!("SELECT {a}, {c}, {_unused}")), None);
            let mut many = super::Params::new(backend);
            let names: Vec<String> = (0..12).map(|i| many.bind(i)).collect();
            // "$1" inside "$12" names neither the first nor anything else.
            assert_eq!(many.unnamed(&names[1..].join(", ")), Some(1));
        }
    }

    #[test]
    fn paging_numbers_are_written_into_postgres_statements() {
        use sea_orm::sea_query::{Alias, Expr, PostgresQueryBuilder, Query, SqliteQueryBuilder};
        use sea_orm::{DbBackend, Statement};
        let select = |limit: u64, offset: Option<u64>| {
            let mut q = Query::select();
            q.column(Alias::new("id"))
                .from(Alias::new("students"))
                .and_where(Expr::col(Alias::new("school_id")).eq(7))
                .limit(limit);
            if let Some(offset) = offset {
                q.offset(offset);
            }
            q
        };
        let pg = |q: &sea_orm::sea_query::SelectStatement| {
            let (sql, values) = q.build(PostgresQueryBuilder);
            super::literal_paging(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
        };
        let page = pg(&select(50, Some(100)));
        assert!(
            page.sql.ends_with("\"school_id\" = $1 LIMIT 50 OFFSET 100"),
            "{}",
            page.sql
        );
        assert_eq!(page.values.map(|v| v.0.len()), Some(1));
        let first = pg(&select(50, Some(0)));
        assert!(first.sql.ends_with("= $1 LIMIT 50"), "{}", first.sql);
        let one = pg(&select(1, None));
        assert!(one.sql.ends_with("= $1 LIMIT 1"), "{}", one.sql);
        assert_eq!(one.values.map(|v| v.0.len()), Some(1));
        // Ten parameters: "$1" is not the end of "$10", and a statement not ending in its
        // paging is left alone.
        let mut many = Query::select();
        many.column(Alias::new("id")).from(Alias::new("students"));
        for i in 0..9 {
            many.and_where(Expr::col(Alias::new("grade")).ne(i));
        }
        many.limit(20);
        let many = pg(&many);
        assert!(many.sql.ends_with("<> $9 LIMIT 20"), "{}", many.sql);
        let locked = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM outbox LIMIT $1 FOR UPDATE SKIP LOCKED",
            [10u64.into()],
        );
        assert_eq!(super::literal_paging(locked.clone()).sql, locked.sql);
        // SQLite keeps its parameters.
        let (sql, values) = select(50, Some(100)).build(SqliteQueryBuilder);
        let lite = super::literal_paging(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql.clone(),
            values,
        ));
        assert_eq!(lite.sql, sql);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/x.db").as_deref(),
            Some("data/x.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
