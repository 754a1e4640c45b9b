//! Connecting to SQLite or PostgreSQL, migrating, and write transactions that behave on both.
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{LikeExpr, SimpleExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::DatabaseUrl;

/// The database handle shared by every part of the application.
///
/// SQLite allows one writer at a time. Write transactions on SQLite take the write lock as
/// their first step (see `begin_write`) and, within the process, pass through a gate one at a
/// time so pool connections do not spin on the lock; PostgreSQL needs neither. Plain single
/// statements go straight to the pool (SQLite's busy timeout covers them).
/// A pooled connection idle longer than this is tested with a round trip before it is used.
const IDLE_BEFORE_TEST: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Db {
    pub conn: DatabaseConnection,
    write_gate: Option<Arc<Mutex<()>>>,
    /// Counts this process's writes that change dashboard figures (enrollment snapshots,
    /// schools): a cached figure computed under an older count is stale.
    figures: Arc<std::sync::atomic::AtomicU64>,
    /// The pools made for HTTP worker threads from this one (see `for_worker_thread`), so that
    /// closing this pool closes them too.
    thread_pools: Arc<std::sync::Mutex<ThreadPools>>,
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
            conn,
            write_gate,
            figures: Arc::default(),
            thread_pools: Arc::default(),
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

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
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
        let shared = self.conn.get_postgres_connection_pool();
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
            conn,
            write_gate: self.write_gate.clone(),
            figures: self.figures.clone(),
            thread_pools: self.thread_pools.clone(),
        }
    }

    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let tx = self.conn.begin().await?;
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
        self.conn.ping().await
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
        for conn in std::iter::once(&self.conn).chain(others.iter()) {
            match conn.get_database_backend() {
                DbBackend::Sqlite => conn.get_sqlite_connection_pool().close().await,
                DbBackend::Postgres => conn.get_postgres_connection_pool().close().await,
                DbBackend::MySql => {}
            }
        }
    }
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

/// `column LIKE '%text%'` with `%`, `_` and `\\` in the text matched literally, the same on
/// SQLite and PostgreSQL. Callers pass folded text (see `fields::fold`) and fold the column
/// when they store it, so the match ignores case and accents on both databases.
pub fn contains(column: impl ColumnTrait, text: &str) -> SimpleExpr {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    column.like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
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
    Migrator::up(&db.conn, None).await
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
