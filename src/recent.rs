//! Values kept a short while per process, each under the version of the data it was read from:
//! a value is used while younger than its map's freshness and read under the current version.
//! A write through this process bumps the version, so what was read before it is not used.
//! Serves the dashboard figures (`web::figures`) and resolved API tokens (`auth::tokens`).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry<V> {
    version: u64,
    at: Instant,
    value: V,
    refreshing: bool,
}

pub struct Recent<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
    fresh_for: Duration,
    at_most: usize,
}

pub enum Found<V> {
    Fresh(V),
    /// Fresh, and old enough to be read again (the first asker is told; the others read on).
    Refresh(V),
    Missing,
}

impl<V: Clone> Recent<V> {
    /// Values used for `fresh_for`; at most `at_most` of them (past it, the stale are dropped,
    /// then all).
    pub fn new(fresh_for: Duration, at_most: usize) -> Self {
        Self {
            entries: Default::default(),
            fresh_for,
            at_most,
        }
    }

    /// The value under `key` if fresh and read under `version`; `Refresh` once it is
    /// `refresh_after` old (never when `refresh_after` is the freshness itself).
    pub fn lookup(&self, key: &str, version: u64, refresh_after: Duration) -> Found<V> {
        let mut map = self.entries.lock().expect("cache lock");
        match map.get_mut(key) {
            Some(e) if e.version == version && e.at.elapsed() < self.fresh_for => {
                if e.at.elapsed() >= refresh_after && !e.refreshing {
                    e.refreshing = true;
                    Found::Refresh(e.value.clone())
                } else {
                    Found::Fresh(e.value.clone())
                }
            }
            _ => Found::Missing,
        }
    }

    /// The value under `key` if fresh and read under `version`.
    pub fn get(&self, key: &str, version: u64) -> Option<V> {
        match self.lookup(key, version, self.fresh_for) {
            Found::Fresh(v) | Found::Refresh(v) => Some(v),
            Found::Missing => None,
        }
    }

    /// Keeps `value`, read under `version` from `at` on.
    pub fn store(&self, key: String, version: u64, at: Instant, value: V) {
        let mut map = self.entries.lock().expect("cache lock");
        if map.len() >= self.at_most {
            map.retain(|_, e| e.version == version && e.at.elapsed() < self.fresh_for);
            if map.len() >= self.at_most {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                version,
                at,
                value,
                refreshing: false,
            },
        );
    }

    /// A refresh of `key` failed: the next asker past the age tries again.
    pub fn refresh_failed(&self, key: &str) {
        if let Some(e) = self.entries.lock().expect("cache lock").get_mut(key) {
            e.refreshing = false;
        }
    }
}
