//! Coverage figures kept a short while per process. A national dashboard sums the latest
//! snapshot of 45,000 schools and a trend of monthly totals (most of a second of database
//! work); the figures change only when snapshots or schools are written. A cached view is used
//! while it is younger than [`FRESH_FOR`] and no write through this process has happened since
//! (other instances' writes show within [`FRESH_FOR`]).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono_tz::Tz;

use super::coverage::{coverage, CoverageQuery, CoverageView};
use crate::auth::actor::Actor;
use crate::db::Db;
use crate::error::AppResult;

pub const FRESH_FOR: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 512;

struct Entry {
    version: u64,
    at: Instant,
    view: CoverageView,
}

#[derive(Default)]
pub struct CoverageCache {
    entries: tokio::sync::Mutex<HashMap<String, Entry>>,
}

impl CoverageCache {
    /// [`coverage`] for this actor's scope and query, from the cache when it is fresh.
    pub async fn coverage(
        &self,
        db: &Db,
        actor: &Actor,
        q: &CoverageQuery,
        tz: Tz,
    ) -> AppResult<CoverageView> {
        // Today is part of the key: the default day moves at midnight.
        let today = chrono::Utc::now().with_timezone(&tz).date_naive();
        let key = format!("{:?}|{q:?}|{tz}|{today}", actor.scope());
        // One computation at a time in this process: sixty-four first visitors at once would
        // otherwise each hold the country's schools in memory; the others then find it here.
        let mut entries = self.entries.lock().await;
        let version = db.figures_version();
        if let Some(e) = entries.get(&key) {
            if e.version == version && e.at.elapsed() < FRESH_FOR {
                return Ok(e.view.clone());
            }
        }
        let view = coverage(db, actor, q, tz).await?;
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.version == version && e.at.elapsed() < FRESH_FOR);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                version,
                at: Instant::now(),
                view: view.clone(),
            },
        );
        Ok(view)
    }
}
