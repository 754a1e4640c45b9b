//! Logging in: throttle check, password check, session start, audit entry.
use serde_json::json;

use super::entity::user;
use super::throttle::{self, AttemptKeys};
use super::{password, session};
use crate::audit;
use crate::db::Db;
use crate::error::AppResult;
use crate::fields::Email;
use crate::web::state::AppState;

pub enum LoginOutcome {
    /// The session token for the cookie.
    Success {
        token: String,
        user: Box<user::Model>,
    },
    /// Wrong e-mail or password, or a deactivated account (not told apart).
    Failed,
    /// Too many failures: try again after this many seconds.
    Throttled { retry_after_secs: u64 },
}

pub async fn login(
    state: &AppState,
    email_raw: &str,
    pass: &str,
    client_ip: &str,
    request_id: Option<String>,
) -> AppResult<LoginOutcome> {
    let db: &Db = &state.db;
    let keys = AttemptKeys::new(state.secret(), email_raw, client_ip);
    let attempt = match throttle::begin(db, &keys, &state.settings).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            audit::record_as(
                &db.conn,
                None,
                "-",
                request_id,
                "login.throttled",
                "session",
                None,
                json!({"retry_after_secs": wait}),
            )
            .await?;
            return Ok(LoginOutcome::Throttled {
                retry_after_secs: wait,
            });
        }
    };
    let account = match Email::parse(email_raw) {
        Ok(email) => super::users::find_by_email(db, &email).await?,
        Err(_) => None,
    };
    let verified = password::verify(
        pass.to_string(),
        account.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    match account {
        Some(u) if verified && u.active => {
            throttle::succeeded(db, attempt).await?;
            let tx = db.begin_write().await?;
            let (token, sess) = session::start(&*tx, u.id, &state.settings).await?;
            audit::record_as(
                &*tx,
                Some(u.id),
                &u.email,
                request_id,
                "login.success",
                "session",
                Some(sess.id.to_string()),
                json!({}),
            )
            .await?;
            tx.commit().await?;
            Ok(LoginOutcome::Success {
                token,
                user: Box::new(u),
            })
        }
        account => {
            let (uid, label, reason) = match &account {
                Some(u) if !u.active => (Some(u.id), u.email.as_str(), "inactive"),
                Some(u) => (Some(u.id), u.email.as_str(), "wrong_password"),
                None => (None, "-", "unknown_account"),
            };
            audit::record_as(
                &db.conn,
                uid,
                label,
                request_id,
                "login.failure",
                "session",
                None,
                json!({"reason": reason}),
            )
            .await?;
            Ok(LoginOutcome::Failed)
        }
    }
}
