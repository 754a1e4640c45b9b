//! Login throttling that slows attackers without locking real users out.
//!
//! Failed logins are counted per (account, address) pair, per address and per account, over a
//! sliding window (`login_window_minutes`), in the database so every instance sees them:
//! - a pair that failed `login_failures_per_account_ip` times waits 30 s, then 60 s, 120 s … (at
//!   most the window) between further tries; a success clears it;
//! - an address that failed `login_failures_per_ip` times, across any accounts, waits for the
//!   window to pass (password spraying);
//! - an account that failed `login_failures_per_account` times from all addresses together
//!   (a distributed guess) is closed to new addresses.
//!
//! The address and account limits never apply to an address that logged into that account
//! successfully in the last 30 days: a guesser is slowed on every axis, while the owner,
//! logging in from an address they have used before (a school's shared NAT included), is not
//! locked out by someone else's failures.
//!
//! An attempt is written (as a failure) *before* the password is checked, and the limits count
//! only earlier attempts, so a burst of parallel guesses is counted in full rather than slipping
//! through while the slow hash runs.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entity::login_attempt as attempt;
use super::secrets::keyed_hash;
use crate::config::Settings;
use crate::db::Db;

const BASE_DELAY_SECS: i64 = 30;
const KNOWN_ADDRESS_DAYS: i64 = 30;

/// Keyed hashes of the account name and the client address: the table holds no e-mail or IP.
#[derive(Debug, Clone)]
pub struct AttemptKeys {
    pub account: String,
    pub ip: String,
}

impl AttemptKeys {
    pub fn new(secret: &[u8], email: &str, ip: &str) -> Self {
        Self {
            account: keyed_hash(secret, &["login-account", &email.trim().to_lowercase()]),
            ip: keyed_hash(secret, &["login-ip", ip]),
        }
    }
}

/// An attempt under way: recorded as a failure until `succeeded` says otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    id: i64,
}

/// Records the attempt, then checks the limits against the attempts before it. `Err(seconds)`
/// means: refused, wait this long (the refused attempt is not counted as a failure).
pub async fn begin(
    db: &Db,
    keys: &AttemptKeys,
    settings: &Settings,
) -> Result<Result<Attempt, u64>, DbErr> {
    let row = attempt::ActiveModel {
        account_key: Set(keys.account.clone()),
        ip_key: Set(keys.ip.clone()),
        at: Set(Utc::now()),
        succeeded: Set(false),
        ..Default::default()
    }
    .insert(&db.conn)
    .await?;
    match check(db, keys, settings, row.id).await? {
        Ok(()) => Ok(Ok(Attempt { id: row.id })),
        Err(wait) => {
            attempt::Entity::delete_by_id(row.id).exec(&db.conn).await?;
            Ok(Err(wait))
        }
    }
}

/// Marks the attempt successful: it clears the pair's count and makes the address known.
pub async fn succeeded(db: &Db, attempt: Attempt) -> Result<(), DbErr> {
    attempt::Entity::update_many()
        .col_expr(attempt::Column::Succeeded, Expr::value(true))
        .filter(attempt::Column::Id.eq(attempt.id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Forgets an attempt that was neither a success nor a wrong password (e.g. invalid input).
pub async fn forget(db: &Db, attempt: Attempt) -> Result<(), DbErr> {
    attempt::Entity::delete_by_id(attempt.id)
        .exec(&db.conn)
        .await?;
    Ok(())
}

async fn check(
    db: &Db,
    keys: &AttemptKeys,
    settings: &Settings,
    before: i64,
) -> Result<Result<(), u64>, DbErr> {
    let now = Utc::now();
    let window = Duration::minutes(settings.login_window_minutes.into());
    let since = now - window;
    let earlier = attempt::Column::Id.lt(before);

    // The pair: failures since its last success.
    let last_success = attempt::Entity::find()
        .filter(earlier.clone())
        .filter(attempt::Column::AccountKey.eq(&keys.account))
        .filter(attempt::Column::IpKey.eq(&keys.ip))
        .filter(attempt::Column::Succeeded.eq(true))
        .order_by_desc(attempt::Column::At)
        .one(&db.conn)
        .await?;
    let pair_since = match &last_success {
        Some(s) if s.at > since => s.at,
        _ => since,
    };
    let pair_failures: Vec<DateTime<Utc>> = attempt::Entity::find()
        .select_only()
        .column(attempt::Column::At)
        .filter(earlier.clone())
        .filter(attempt::Column::AccountKey.eq(&keys.account))
        .filter(attempt::Column::IpKey.eq(&keys.ip))
        .filter(attempt::Column::Succeeded.eq(false))
        .filter(attempt::Column::At.gt(pair_since))
        .order_by_desc(attempt::Column::At)
        .into_tuple()
        .all(&db.conn)
        .await?;
    let limit = i64::from(settings.login_failures_per_account_ip);
    let n = pair_failures.len() as i64;
    if n >= limit {
        let doublings = (n - limit).min(20) as u32;
        let delay =
            Duration::seconds(BASE_DELAY_SECS.saturating_mul(1i64 << doublings)).min(window);
        let wait = pair_failures[0] + delay - now;
        if wait.num_seconds() > 0 {
            return Ok(Err(wait.num_seconds() as u64));
        }
    }

    // An address the owner has used is exempt from the wider limits.
    let known = matches!(&last_success, Some(s) if s.at > now - Duration::days(KNOWN_ADDRESS_DAYS));
    if known {
        return Ok(Ok(()));
    }

    // The address, across accounts.
    let ip_failures = attempt::Entity::find()
        .filter(earlier.clone())
        .filter(attempt::Column::IpKey.eq(&keys.ip))
        .filter(attempt::Column::Succeeded.eq(false))
        .filter(attempt::Column::At.gt(since))
        .count(&db.conn)
        .await?;
    if ip_failures >= u64::from(settings.login_failures_per_ip) {
        return Ok(Err(oldest_wait(
            db,
            attempt::Column::IpKey,
            &keys.ip,
            since,
            window,
            now,
        )
        .await?));
    }

    // The account, across addresses.
    let account_failures = attempt::Entity::find()
        .filter(earlier)
        .filter(attempt::Column::AccountKey.eq(&keys.account))
        .filter(attempt::Column::Succeeded.eq(false))
        .filter(attempt::Column::At.gt(since))
        .count(&db.conn)
        .await?;
    if account_failures >= u64::from(settings.login_failures_per_account) {
        return Ok(Err(oldest_wait(
            db,
            attempt::Column::AccountKey,
            &keys.account,
            since,
            window,
            now,
        )
        .await?));
    }
    Ok(Ok(()))
}

/// Seconds until the oldest failure in the window leaves it.
async fn oldest_wait(
    db: &Db,
    column: attempt::Column,
    key: &str,
    since: DateTime<Utc>,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let oldest: Option<DateTime<Utc>> = attempt::Entity::find()
        .select_only()
        .column(attempt::Column::At)
        .filter(column.eq(key))
        .filter(attempt::Column::Succeeded.eq(false))
        .filter(attempt::Column::At.gt(since))
        .order_by_asc(attempt::Column::At)
        .into_tuple()
        .one(&db.conn)
        .await?;
    let wait = oldest.map(|t| t + window - now).unwrap_or(window);
    Ok(wait.num_seconds().max(1) as u64)
}

/// Forgets attempts older than the known-address horizon (housekeeping).
pub async fn purge_old(db: &Db) -> Result<u64, DbErr> {
    let res = attempt::Entity::delete_many()
        .filter(attempt::Column::At.lt(Utc::now() - Duration::days(KNOWN_ADDRESS_DAYS)))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}
