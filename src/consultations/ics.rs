//! iCalendar (RFC 5545): one session as a download, a user's feed of the sessions they are
//! responsible for, and a campaign's feed of its sessions and activities. Feed URLs carry a
//! secret token (stored hashed, revocable); times are written in UTC, so every calendar shows
//! them at the right Vietnam hour.
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use super::entity::feed;
use super::service::{self, SessionFilter, SessionStatus, SessionView};
use crate::audit;
use crate::auth::actor::{Actor, AuthVia};
use crate::auth::secrets::{random_token, token_hash};
use crate::campaigns::activities::{self, ActivityFilter, ActivityView};
use crate::campaigns::kinds::ActivityStatus;
use crate::campaigns::service as campaigns;
use crate::db::Db;
use crate::error::{AppError, AppResult};

fn session_event(s: &SessionView, host: &str, tz: Tz) -> Event {
    let local = s.starts_at.with_timezone(&tz);
    let mut e = Event::new();
    e.uid(&format!("session-{}@{host}", s.id))
        .summary(&format!("Tư vấn BHYT HSSV – {}", s.school.name))
        .starts(s.starts_at)
        .ends(s.ends_at)
        .timestamp(s.updated_at)
        .description(&format!(
            "{} · {} {}–{} (giờ Việt Nam)\n{}",
            s.campaign.name,
            local.format("%d/%m/%Y"),
            s.start_time,
            s.end_time,
            s.liaisons
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .status(match s.status {
            SessionStatus::Cancelled => EventStatus::Cancelled,
            SessionStatus::Postponed => EventStatus::Tentative,
            _ => EventStatus::Confirmed,
        });
    if let Some(loc) = &s.location {
        e.location(&format!("{loc}, {}", s.school.name));
    } else {
        e.location(&s.school.name);
    }
    e.done()
}

fn activity_event(a: &ActivityView, host: &str) -> Event {
    let mut e = Event::new();
    let ends: DateTime<Utc> = a
        .ends_at
        .unwrap_or(a.starts_at + chrono::Duration::hours(1));
    e.uid(&format!("activity-{}@{host}", a.id))
        .summary(&a.title)
        .starts(a.starts_at)
        .ends(ends)
        .timestamp(a.updated_at)
        .description(&format!("{} · {}", a.campaign_name, a.channel.code()))
        .status(match a.status {
            ActivityStatus::Cancelled => EventStatus::Cancelled,
            _ => EventStatus::Confirmed,
        });
    e.done()
}

fn calendar(name: &str, events: Vec<Event>) -> String {
    let mut cal = Calendar::new();
    cal.name(name);
    cal.append_property(("X-WR-TIMEZONE", "Asia/Ho_Chi_Minh"));
    for e in events {
        cal.push(e);
    }
    cal.done().to_string()
}

pub async fn session_ics(db: &Db, actor: &Actor, id: i64, host: &str, tz: Tz) -> AppResult<String> {
    let s = service::get_session(db, actor, id, tz).await?;
    Ok(calendar(
        &format!("Tư vấn BHYT – {}", s.school.name),
        vec![session_event(&s, host, tz)],
    ))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedView {
    pub id: i64,
    /// The campaign of a campaign feed; none for the caller's own sessions.
    pub campaign_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<feed::Model> for FeedView {
    fn from(f: feed::Model) -> Self {
        Self {
            id: f.id,
            campaign_id: f.campaign_id,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
            revoked: f.revoked_at.is_some(),
        }
    }
}

/// A new feed for the caller (of a campaign they see, for staff; or of their own sessions).
/// Returns the view and the secret URL path, shown once.
pub async fn create_feed(
    db: &Db,
    actor: &Actor,
    campaign_id: Option<i64>,
) -> AppResult<(FeedView, String)> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    if let Some(c) = campaign_id {
        campaigns::visible(&db.conn, actor, c).await?;
        campaigns::require_planner(actor)?;
    }
    let token = random_token();
    let tx = db.begin_write().await?;
    let m = feed::ActiveModel {
        user_id: Set(user_id),
        campaign_id: Set(campaign_id),
        token_hash: Set(token_hash(&token)),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(&*tx)
    .await?;
    audit::record(
        &*tx,
        actor,
        "calendar_feed.created",
        "calendar_feed",
        Some(m.id.to_string()),
        json!({"campaign_id": campaign_id}),
    )
    .await?;
    tx.commit().await?;
    Ok((m.into(), format!("/calendar/feed/{token}.ics")))
}

pub async fn list_feeds(db: &Db, actor: &Actor) -> AppResult<Vec<FeedView>> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    Ok(feed::Entity::find()
        .filter(feed::Column::UserId.eq(user_id))
        .order_by_desc(feed::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(FeedView::from)
        .collect())
}

pub async fn revoke_feed(db: &Db, actor: &Actor, id: i64) -> AppResult<FeedView> {
    let user_id = actor.user_id.ok_or(AppError::Forbidden)?;
    let tx = db.begin_write().await?;
    let f = feed::Entity::find_by_id(id)
        .filter(feed::Column::UserId.eq(user_id))
        .one(&*tx)
        .await?
        .ok_or(AppError::NotFound)?;
    if f.revoked_at.is_some() {
        return Ok(f.into());
    }
    let mut m: feed::ActiveModel = f.into();
    m.revoked_at = Set(Some(Utc::now()));
    let m = m.update(&*tx).await?;
    audit::record(
        &*tx,
        actor,
        "calendar_feed.revoked",
        "calendar_feed",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(m.into())
}

/// The feed behind a secret token, rendered as the owner sees it today (a revoked token, or
/// one of a deactivated account, is 404).
pub async fn render_feed(db: &Db, token: &str, host: &str, tz: Tz) -> AppResult<String> {
    let f = feed::Entity::find()
        .filter(feed::Column::TokenHash.eq(token_hash(token)))
        .filter(feed::Column::RevokedAt.is_null())
        .one(&db.conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let owner = crate::auth::entity::user::Entity::find_by_id(f.user_id)
        .one(&db.conn)
        .await?
        .filter(|u| u.active)
        .ok_or(AppError::NotFound)?;
    let actor = crate::auth::users::actor_for(db, &owner, AuthVia::Cli, None).await?;
    let mut used: feed::ActiveModel = f.clone().into();
    used.last_used_at = Set(Some(Utc::now()));
    used.update(&db.conn).await?;
    match f.campaign_id {
        None => {
            let filter = SessionFilter {
                mine: Some(true),
                ..Default::default()
            };
            let sessions = service::all_sessions(db, &actor, &filter, tz).await?;
            Ok(calendar(
                &format!("Lịch tư vấn BHYT – {}", actor.display_name),
                sessions
                    .iter()
                    .map(|s| session_event(s, host, tz))
                    .collect(),
            ))
        }
        Some(c) => {
            let camp = campaigns::get_campaign(db, &actor, c).await?;
            let sessions = service::all_sessions(
                db,
                &actor,
                &SessionFilter {
                    campaign: Some(c),
                    ..Default::default()
                },
                tz,
            )
            .await?;
            let acts = activities::all_activities(
                db,
                &actor,
                &ActivityFilter {
                    campaign: Some(c),
                    ..Default::default()
                },
                tz,
            )
            .await?;
            let mut events: Vec<Event> = sessions
                .iter()
                .map(|s| session_event(s, host, tz))
                .collect();
            events.extend(acts.iter().map(|a| activity_event(a, host)));
            Ok(calendar(&camp.name, events))
        }
    }
}
