//! Dashboard figures kept a short while per process. A national dashboard sums the latest
//! snapshot of 45,000 schools and a trend of monthly totals (most of a second of database
//! work), the home page counts the schools by level; the figures change only when snapshots or
//! schools are written. A cached value is used while it is younger than [`FRESH_FOR`] and no
//! such write through this process has happened since (`Db::figures_changed`); other
//! instances' writes show within [`FRESH_FOR`].
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::AppResult;

pub const FRESH_FOR: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 512;

struct Entry<V> {
    version: u64,
    at: Instant,
    value: V,
}

pub struct FigureCache<V> {
    entries: tokio::sync::Mutex<HashMap<String, Entry<V>>>,
}

impl<V> Default for FigureCache<V> {
    fn default() -> Self {
        Self {
            entries: Default::default(),
        }
    }
}

impl<V: Clone> FigureCache<V> {
    /// The value cached under `key` when it is fresh, else `compute`'s (then cached).
    pub async fn get_or<F, Fut>(&self, db: &Db, key: String, compute: F) -> AppResult<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<V>>,
    {
        // One computation at a time per cache: sixty-four first visitors at once would
        // otherwise each hold the country's schools in memory; the others then find it here.
        let mut entries = self.entries.lock().await;
        let version = db.figures_version();
        if let Some(e) = entries.get(&key) {
            if e.version == version && e.at.elapsed() < FRESH_FOR {
                return Ok(e.value.clone());
            }
        }
        let value = compute().await?;
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
                value: value.clone(),
            },
        );
        Ok(value)
    }
}
