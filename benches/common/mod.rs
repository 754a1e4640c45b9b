//! What the benchmark programs share: a fresh database per run (a SQLite file in a temporary
//! folder, or a new PostgreSQL database at `BENCH_DATABASE_URL`, dropped after) and reading
//! `--name value` arguments.
#![allow(dead_code)]
use hi_outreach::config::DatabaseUrl;
use sea_orm::{ConnectionTrait, Database, Statement};

pub enum Backend {
    /// Kept until the run ends: the database file lives in it.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin: String,
        name: String,
    },
}

pub async fn fresh_db(postgres: bool) -> (DatabaseUrl, Backend) {
    if postgres {
        let admin = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("hio_bench_{}", uuid::Uuid::new_v4().simple());
        let conn = Database::connect(admin.as_str()).await.unwrap();
        conn.execute(Statement::from_string(
            conn.get_database_backend(),
            format!("CREATE DATABASE \"{name}\""),
        ))
        .await
        .unwrap();
        conn.close().await.unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        (
            DatabaseUrl::parse(url.as_str()).unwrap(),
            Backend::Postgres { admin, name },
        )
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}/bench.db", dir.path().display())).unwrap();
        (url, Backend::Sqlite { _dir: dir })
    }
}

pub async fn drop_db(backend: Backend) {
    if let Backend::Postgres { admin, name } = backend {
        let conn = Database::connect(admin.as_str()).await.unwrap();
        conn.execute(Statement::from_string(
            conn.get_database_backend(),
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ))
        .await
        .unwrap();
    }
}

pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Processor time the whole machine has been busy so far (all processors, all processes: the
/// program, its sinks and the database server), in seconds, from the first line of `/proc/stat`
/// (Linux counts in 1/100 s); None elsewhere. Run the benchmarks on an otherwise idle machine.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .map(|t| t.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal …: all but idle and iowait are busy.
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy / 100.0)
}
