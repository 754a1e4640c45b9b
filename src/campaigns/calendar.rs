//! The calendar: activities and consultation sessions between two days (Vietnam time), as a
//! flat list for the API and as a month or week grid for the page.
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::activities::{self, ActivityFilter};
use crate::auth::actor::Actor;
use crate::consultations::service::{self as sessions, SessionFilter};
use crate::db::Db;
use crate::error::{AppError, AppResult, Msg};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarItem {
    /// `activity` or `session`.
    pub kind: String,
    pub id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The day in Vietnam time.
    pub date: NaiveDate,
    /// HH:MM in Vietnam time.
    pub time: String,
    /// The activity's channel, or `qa_session` for a session.
    pub channel: String,
    pub status: String,
    pub campaign_id: i64,
    /// The page of the item.
    pub href: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
pub struct CalendarQuery {
    /// First day, yyyy-mm-dd (Vietnam time), inclusive.
    pub from: Option<String>,
    /// Last day, inclusive; at most 62 days after `from`.
    pub to: Option<String>,
    pub campaign: Option<i64>,
    /// Province code.
    pub province: Option<String>,
    /// A channel code or family; `sessions` or `qa_session` includes consultation sessions.
    pub channel: Option<String>,
    /// An activity status (planned, done, cancelled) or a session status.
    pub status: Option<String>,
}

/// Everything in the range, in time order.
pub async fn items(
    db: &Db,
    actor: &Actor,
    q: &CalendarQuery,
    tz: Tz,
) -> AppResult<Vec<CalendarItem>> {
    let required = |raw: Option<&str>, field: &str| -> AppResult<String> {
        raw.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| AppError::invalid(field, Msg::new("error-required")))
    };
    let from = required(q.from.as_deref(), "from")?;
    let to = required(q.to.as_deref(), "to")?;
    let (from, to) = (from.as_str(), to.as_str());
    let (f, t) = (
        super::kinds::day(from).map_err(|m| AppError::invalid("from", m))?,
        super::kinds::day(to).map_err(|m| AppError::invalid("to", m))?,
    );
    if t < f {
        return Err(AppError::invalid("to", Msg::new("error-end-before-start")));
    }
    if (t - f).num_days() > 62 {
        return Err(AppError::invalid(
            "to",
            Msg::new("error-range-too-long").arg("max", 62),
        ));
    }
    let channel = q.channel.clone().filter(|s| !s.is_empty());
    let with_sessions = channel
        .as_deref()
        .is_none_or(|c| c == "sessions" || c == "qa_session");
    let session_status = q
        .status
        .as_deref()
        .filter(|s| sessions::SessionStatus::parse(s).is_ok());
    let activity_status = q
        .status
        .as_deref()
        .filter(|s| super::kinds::ActivityStatus::parse(s).is_ok());
    if q.status.as_deref().is_some_and(|s| !s.is_empty())
        && session_status.is_none()
        && activity_status.is_none()
    {
        return Err(AppError::invalid(
            "status",
            Msg::new("error-one-of").arg(
                "allowed",
                "planned, done, cancelled, scheduled, held, postponed",
            ),
        ));
    }
    let mut out = Vec::new();
    // A session status filters sessions only, and an activity status activities only
    // ("cancelled" is both).
    if session_status.is_none() || activity_status.is_some() {
        let af = ActivityFilter {
            campaign: q.campaign,
            province: q.province.clone(),
            channel: channel.clone(),
            status: activity_status.map(str::to_string),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            q: None,
        };
        for a in activities::all_activities(db, actor, &af, tz).await? {
            let local = a.starts_at.with_timezone(&tz);
            out.push(CalendarItem {
                kind: "activity".into(),
                id: a.id,
                title: a.title,
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                date: local.date_naive(),
                time: local.format("%H:%M").to_string(),
                channel: a.channel.code().into(),
                status: a.status.code().into(),
                campaign_id: a.campaign_id,
                href: format!("/activities/{}", a.id),
            });
        }
    }
    if with_sessions && (activity_status.is_none() || session_status.is_some()) {
        let sf = SessionFilter {
            campaign: q.campaign,
            province: q.province.clone(),
            status: session_status.map(str::to_string),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            ..Default::default()
        };
        for s in sessions::all_sessions(db, actor, &sf, tz).await? {
            out.push(CalendarItem {
                kind: "session".into(),
                id: s.id,
                title: s.school.name.clone(),
                starts_at: s.starts_at,
                ends_at: Some(s.ends_at),
                date: s.date,
                time: s.start_time.clone(),
                channel: "qa_session".into(),
                status: s.status.code().into(),
                campaign_id: s.campaign.id,
                href: format!("/sessions/{}", s.id),
            });
        }
    }
    out.sort_by_key(|i| (i.starts_at, i.kind.clone(), i.id));
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    pub day: u32,
    pub in_month: bool,
    pub today: bool,
    pub items: Vec<CalendarItem>,
}

/// The days shown for a month (whole weeks, Monday first) or for the week around `anchor`.
pub fn grid(anchor: NaiveDate, week: bool, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    if week {
        let start = anchor - Duration::days(anchor.weekday().num_days_from_monday() as i64);
        return (start, start + Duration::days(6));
    }
    let first = anchor.with_day(1).expect("day 1");
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("valid month");
    let last = next - Duration::days(1);
    let start = first - Duration::days(first.weekday().num_days_from_monday() as i64);
    let end = last + Duration::days(6 - last.weekday().num_days_from_monday() as i64);
    let _ = today;
    (start, end)
}

/// Days from `start` to `end` with their items, in weeks of seven.
pub fn weeks(
    start: NaiveDate,
    end: NaiveDate,
    month: Option<u32>,
    today: NaiveDate,
    items: Vec<CalendarItem>,
) -> Vec<Vec<Day>> {
    let mut days = Vec::new();
    let mut d = start;
    while d <= end {
        days.push(Day {
            date: d,
            day: d.day(),
            in_month: month.is_none_or(|m| d.month() == m),
            today: d == today,
            items: Vec::new(),
        });
        d += Duration::days(1);
    }
    for i in items {
        let idx = (i.date - start).num_days();
        if idx >= 0 && (idx as usize) < days.len() {
            days[idx as usize].items.push(i);
        }
    }
    days.chunks(7).map(|w| w.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_grid_is_whole_weeks() {
        let d = NaiveDate::from_ymd_opt(2025, 10, 15).unwrap();
        let (s, e) = grid(d, false, d);
        assert_eq!(s, NaiveDate::from_ymd_opt(2025, 9, 29).unwrap());
        assert_eq!(e, NaiveDate::from_ymd_opt(2025, 11, 2).unwrap());
        assert_eq!((e - s).num_days() % 7, 6);
        let (ws, we) = grid(d, true, d);
        assert_eq!(ws, NaiveDate::from_ymd_opt(2025, 10, 13).unwrap());
        assert_eq!(we, NaiveDate::from_ymd_opt(2025, 10, 19).unwrap());
    }
}
