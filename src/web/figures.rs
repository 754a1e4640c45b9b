//! Dashboard figures kept a short while per process. A national dashboard sums the latest
//! snapshot of 45,000 schools and a trend of monthly totals (most of a second of database
//! work), the home page counts the schools by level; the figures change only when snapshots or
//! schools are written. A cached value is used while it is younger than [`FRESH_FOR`] and no
//! such write through this process has happened since (`Db::figures_changed`); other
//! instances' writes show within [`FRESH_FOR`].
//!
//! A value asked for after [`REFRESH_AFTER`] is still answered at once, and computed again in
//! the background: while a dashboard is in use nobody waits for its figures but the very first
//! visitor (and the first after a change through this process).
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::error::AppResult;
use crate::recent::{Found, Recent};

pub const FRESH_FOR: Duration = Duration::from_secs(30);
pub const REFRESH_AFTER: Duration = Duration::from_secs(20);
const MAX_ENTRIES: usize = 512;

pub struct FigureCache<V> {
    entries: Arc<Recent<V>>,
    /// One computation at a time per cache: sixty-four first visitors at once would otherwise
    /// each hold the country's schools in memory; the others then find the value computed.
    computing: Arc<tokio::sync::Mutex<()>>,
}

impl<V: Clone> Default for FigureCache<V> {
    fn default() -> Self {
        Self {
            entries: Arc::new(Recent::new(FRESH_FOR, MAX_ENTRIES)),
            computing: Default::default(),
        }
    }
}

impl<V: Clone + Send + 'static> FigureCache<V> {
    /// The value cached under `key` when it is fresh, else `compute`'s (then cached).
    pub async fn get_or<F, Fut>(&self, db: &Db, key: String, compute: F) -> AppResult<V>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = AppResult<V>> + Send + 'static,
    {
        let version = db.figures_version();
        match self.entries.lookup(&key, version, REFRESH_AFTER) {
            Found::Fresh(v) => return Ok(v),
            Found::Refresh(v) => {
                self.refresh(db.pooled(), key, version, compute);
                return Ok(v);
            }
            Found::Missing => {}
        }
        // Figures are computed on the pool's connections (the computation may outlive this
        // request): a request that held one while waiting for its turn, or for the
        // computation, could leave none for it.
        db.release().await;
        let _turn = self.computing.lock().await;
        // Computed by another visitor while this one waited for its turn?
        if let Some(v) = self.entries.get(&key, version) {
            return Ok(v);
        }
        let at = Instant::now();
        let value = compute().await?;
        self.entries.store(key, version, at, value.clone());
        Ok(value)
    }

    fn refresh<F, Fut>(&self, db: Db, key: String, version: u64, compute: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = AppResult<V>> + Send + 'static,
    {
        let (entries, computing) = (self.entries.clone(), self.computing.clone());
        tokio::spawn(async move {
            let _turn = computing.lock().await;
            let at = Instant::now();
            match compute().await {
                // A change through this process meanwhile: the value computed may predate it.
                Ok(value) if db.figures_version() == version => {
                    entries.store(key, version, at, value)
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard figures could not be refreshed");
                    entries.refresh_failed(&key);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_refreshed_once_when_old_and_missing_when_stale_or_changed() {
        let entries: Recent<u32> = Recent::new(FRESH_FOR, MAX_ENTRIES);
        let now = Instant::now();
        entries.store("k".into(), 1, now, 7);
        assert!(matches!(
            entries.lookup("k", 1, REFRESH_AFTER),
            Found::Fresh(7)
        ));
        // Old enough to refresh: the first asker starts it, the next ones just read.
        assert!(matches!(
            entries.lookup("k", 1, Duration::ZERO),
            Found::Refresh(7)
        ));
        assert!(matches!(
            entries.lookup("k", 1, Duration::ZERO),
            Found::Fresh(7)
        ));
        // A change through this process, or an age past FRESH_FOR: computed before answering.
        assert!(matches!(
            entries.lookup("k", 2, REFRESH_AFTER),
            Found::Missing
        ));
        if let Some(old) = now.checked_sub(FRESH_FOR) {
            entries.store("k".into(), 1, old, 8);
            assert!(matches!(
                entries.lookup("k", 1, REFRESH_AFTER),
                Found::Missing
            ));
        }
        assert!(matches!(
            entries.lookup("other", 1, REFRESH_AFTER),
            Found::Missing
        ));
    }
}
