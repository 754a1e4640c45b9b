//! The vocabulary of delivery: message states, event kinds, how a failure is classed, backoff,
//! and quiet hours.
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::contacts::fields::Channel;

/// Where a message is in its life.
///
/// queued → sending → sent → delivered → read; or sending → retrying → sending …;
/// dead (attempts exhausted or a permanent error); suppressed (no consent, opted out);
/// cancelled (withdrawn before sending, e.g. the child got insured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Retrying,
    Dead,
    Suppressed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Sending,
        Status::Sent,
        Status::Delivered,
        Status::Read,
        Status::Retrying,
        Status::Dead,
        Status::Suppressed,
        Status::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Retrying => "retrying",
            Status::Dead => "dead",
            Status::Suppressed => "suppressed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == raw)
    }
}

/// What happened to a message (its own table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Queued,
    Sent,
    Delivered,
    Read,
    Opened,
    Clicked,
    Bounced,
    Unsubscribed,
    Failed,
    Retry,
    Dead,
    Suppressed,
    Cancelled,
    Fallback,
}

impl EventKind {
    pub fn code(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Sent => "sent",
            EventKind::Delivered => "delivered",
            EventKind::Read => "read",
            EventKind::Opened => "opened",
            EventKind::Clicked => "clicked",
            EventKind::Bounced => "bounced",
            EventKind::Unsubscribed => "unsubscribed",
            EventKind::Failed => "failed",
            EventKind::Retry => "retry",
            EventKind::Dead => "dead",
            EventKind::Suppressed => "suppressed",
            EventKind::Cancelled => "cancelled",
            EventKind::Fallback => "fallback",
        }
    }
}

/// Why a send failed, in classes that decide what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No answer in time.
    Timeout,
    /// Connection refused, reset or dropped.
    Network,
    /// HTTP 5xx, or a provider's "unknown error, try later".
    Server,
    /// HTTP 429 or a provider's rate limit.
    RateLimited,
    /// The provider's daily quota is used up (ZNS -144): its messages wait for the next day.
    QuotaExhausted,
    /// SMTP 4xx: try again later.
    SmtpTransient,
    /// SMTP 5xx: the server refused this message for good.
    SmtpPermanent,
    /// The address is not valid for this channel.
    InvalidRecipient,
    /// The person cannot be reached on this channel (no Zalo account, blocked ZNS, no app):
    /// another channel may work.
    NotOnChannel,
    /// Credentials, account, template or balance at the provider: an operator must act;
    /// retried with backoff meanwhile.
    ProviderConfig,
    /// The provider refused the content (template data, length).
    Content,
}

impl ErrorClass {
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Network => "network",
            ErrorClass::Server => "server",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::QuotaExhausted => "quota_exhausted",
            ErrorClass::SmtpTransient => "smtp_transient",
            ErrorClass::SmtpPermanent => "smtp_permanent",
            ErrorClass::InvalidRecipient => "invalid_recipient",
            ErrorClass::NotOnChannel => "not_on_channel",
            ErrorClass::ProviderConfig => "provider_config",
            ErrorClass::Content => "content",
        }
    }

    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Timeout
                | ErrorClass::Network
                | ErrorClass::Server
                | ErrorClass::RateLimited
                | ErrorClass::QuotaExhausted
                | ErrorClass::SmtpTransient
                | ErrorClass::ProviderConfig
        )
    }

    /// Whether the next channel in the fallback plan should be tried.
    pub fn falls_back(self) -> bool {
        matches!(self, ErrorClass::NotOnChannel)
    }
}

/// A failed send: its class and a description without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: ErrorClass,
    pub detail: String,
}

impl Failure {
    pub fn new(class: ErrorClass, detail: impl Into<String>) -> Self {
        Self {
            class,
            detail: clip(&detail.into(), 480),
        }
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// What a provider said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    pub provider_message_id: Option<String>,
}

/// Exponential backoff with full jitter: a random wait in [0, min(cap, base · 2^(attempt-1))].
/// Full jitter spreads retries of a burst that failed together, so they do not all come back
/// at once.
pub fn backoff(attempt: i32, base: Duration, cap: Duration) -> Duration {
    let exp = attempt.clamp(1, 30) - 1;
    let ceiling = base
        .num_milliseconds()
        .saturating_mul(1i64 << exp)
        .min(cap.num_milliseconds())
        .max(1);
    Duration::milliseconds(rand::thread_rng().gen_range(0..=ceiling))
}

/// A daily window in local time, possibly across midnight (21:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// `HH:MM-HH:MM`; empty means none.
    pub fn parse(raw: &str) -> Result<Option<QuietHours>, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw == "none" {
            return Ok(None);
        }
        let (a, b) = raw
            .split_once('-')
            .ok_or_else(|| format!("expected HH:MM-HH:MM, got {raw:?}"))?;
        let t = |s: &str| {
            NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| format!("not a time: {s:?}"))
        };
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err("the window is empty".into());
        }
        Ok(Some(QuietHours { start, end }))
    }

    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start < self.end {
            local >= self.start && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// The end of the quiet window containing `now`, or None if `now` is outside it.
    pub fn ends_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        let time = local.time().with_nanosecond(0).unwrap_or(local.time());
        if !self.contains(time) {
            return None;
        }
        let mut day = local.date_naive();
        if self.start > self.end && time >= self.start {
            day = day.succ_opt()?;
        }
        tz.from_local_datetime(&day.and_time(self.end))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    }
}

/// Quiet hours for each channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietPolicy {
    pub email: Option<QuietHours>,
    pub sms: Option<QuietHours>,
    pub zalo: Option<QuietHours>,
    pub push: Option<QuietHours>,
}

impl QuietPolicy {
    pub fn for_channel(&self, channel: Channel) -> Option<QuietHours> {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Zalo => self.zalo,
            Channel::Push => self.push,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_the_capped_exponential() {
        let base = Duration::seconds(10);
        let cap = Duration::seconds(600);
        for attempt in 1..12 {
            let ceiling = (10_000i64 << (attempt - 1)).min(600_000);
            for _ in 0..50 {
                let d = backoff(attempt, base, cap).num_milliseconds();
                assert!((0..=ceiling).contains(&d), "attempt {attempt}: {d}");
            }
        }
        // Jitter really spreads: not every draw is the same.
        let draws: std::collections::HashSet<i64> = (0..20)
            .map(|_| backoff(5, base, cap).num_milliseconds())
            .collect();
        assert!(draws.len() > 10);
    }

    #[test]
    fn quiet_hours_across_midnight_in_vietnam_time() {
        let tz = chrono_tz::Asia::Ho_Chi_Minh;
        let q = QuietHours::parse("21:00-07:00").unwrap().unwrap();
        // 14:30 UTC = 21:30 in Vietnam: quiet until 07:00 the next morning (00:00 UTC).
        let now = Utc.with_ymd_and_hms(2025, 10, 14, 14, 30, 0).unwrap();
        assert_eq!(
            q.ends_after(now, tz),
            Some(Utc.with_ymd_and_hms(2025, 10, 15, 0, 0, 0).unwrap())
        );
        // 22:00 UTC = 05:00 in Vietnam: still quiet, until 07:00 the same morning.
        let now = Utc.with_ymd_and_hms(2025, 10, 14, 22, 0, 0).unwrap();
        assert_eq!(
            q.ends_after(now, tz),
            Some(Utc.with_ymd_and_hms(2025, 10, 15, 0, 0, 0).unwrap())
        );
        // 03:00 UTC = 10:00: not quiet.
        assert_eq!(
            q.ends_after(Utc.with_ymd_and_hms(2025, 10, 14, 3, 0, 0).unwrap(), tz),
            None
        );
        // The edges: 07:00 sharp is allowed, 21:00 sharp is quiet.
        assert!(!q.contains(NaiveTime::from_hms_opt(7, 0, 0).unwrap()));
        assert!(q.contains(NaiveTime::from_hms_opt(21, 0, 0).unwrap()));
        let day = QuietHours::parse("12:00-13:30").unwrap().unwrap();
        assert!(day.contains(NaiveTime::from_hms_opt(12, 45, 0).unwrap()));
        assert!(!day.contains(NaiveTime::from_hms_opt(13, 30, 0).unwrap()));
        assert_eq!(QuietHours::parse("").unwrap(), None);
        assert!(QuietHours::parse("9-5").is_err());
    }

    #[test]
    fn classes() {
        assert!(ErrorClass::SmtpTransient.retryable());
        assert!(!ErrorClass::SmtpPermanent.retryable());
        assert!(ErrorClass::RateLimited.retryable());
        assert!(!ErrorClass::NotOnChannel.retryable() && ErrorClass::NotOnChannel.falls_back());
        assert!(!ErrorClass::InvalidRecipient.falls_back());
    }
}
