//! The closed vocabularies of campaign planning, parsed once at the edge, and the input helpers
//! forms and the API share (numbers that arrive as JSON numbers or as form text, Vietnam-time
//! dates and times, topic lists).
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Msg;
use crate::fields::int_in;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, Msg> {
                let raw = raw.trim();
                if raw.is_empty() {
                    return Err(Msg::new("error-required"));
                }
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == raw)
                    .ok_or_else(|| {
                        Msg::new("error-one-of").arg(
                            "allowed",
                            Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", "),
                        )
                    })
            }

            pub fn codes() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.code()).collect()
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary!(
    /// Where a campaign is in its life.
    CampaignStatus {
        Draft => "draft",
        Active => "active",
        Paused => "paused",
        Completed => "completed",
        Archived => "archived",
    }
);

impl CampaignStatus {
    /// The statuses a campaign may move to from this one.
    pub fn next(self) -> &'static [CampaignStatus] {
        use CampaignStatus::*;
        match self {
            Draft => &[Active, Archived],
            Active => &[Paused, Completed],
            Paused => &[Active, Completed],
            Completed => &[Archived],
            Archived => &[],
        }
    }

    /// Ok when `to` may follow, else the reason in words the user reads.
    pub fn check_transition(self, to: CampaignStatus) -> Result<(), Msg> {
        if self.next().contains(&to) {
            return Ok(());
        }
        let allowed = self.next().iter().map(|s| s.code()).collect::<Vec<_>>();
        Err(Msg::new("error-transition")
            .arg("from", self.code())
            .arg("to", to.code())
            .arg(
                "allowed",
                if allowed.is_empty() {
                    "—".to_string()
                } else {
                    allowed.join(", ")
                },
            ))
    }
}

vocabulary!(
    /// Who a campaign addresses.
    ScopeKind {
        National => "national",
        Provinces => "provinces",
        Schools => "schools",
    }
);

vocabulary!(
    /// The channel of an activity (touchpoint).
    Channel {
        QaSession => "qa_session",
        ParentWave => "parent_wave",
        Newspaper => "newspaper",
        Radio => "radio",
        Tv => "tv",
        Loudspeaker => "loudspeaker",
        OnlineNews => "online_news",
        Portal => "portal",
        Social => "social",
        AppNotification => "app_notification",
        Poster => "poster",
        Banner => "banner",
        Leaflet => "leaflet",
    }
);

impl Channel {
    /// The family the overview groups by: sessions, parent messages, media, portal and social
    /// posts, app notifications, visual materials.
    pub fn group(self) -> &'static str {
        use Channel::*;
        match self {
            QaSession => "sessions",
            ParentWave => "messages",
            Newspaper | Radio | Tv | Loudspeaker | OnlineNews => "media",
            Portal | Social => "posts",
            AppNotification => "app",
            Poster | Banner | Leaflet => "visual",
        }
    }

    pub const GROUPS: [&'static str; 6] =
        ["sessions", "messages", "media", "posts", "app", "visual"];
}

vocabulary!(
    /// Whether an activity happened.
    ActivityStatus {
        Planned => "planned",
        Done => "done",
        Cancelled => "cancelled",
    }
);

/// A whole number that may arrive as a JSON number or as form text; empty is `None`.
pub fn loose_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(de)? {
        None => None,
        Some(Raw::Int(n)) => Some(n.to_string()),
        Some(Raw::Float(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Some((f as i64).to_string()),
        Some(Raw::Float(_)) => return Err(serde::de::Error::custom("not a whole number")),
        Some(Raw::Text(s)) if s.trim().is_empty() => None,
        Some(Raw::Text(s)) => Some(s),
    })
}

/// A number that may have decimals (a percentage), as a JSON number or form text.
pub fn loose_decimal<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(de)? {
        None => None,
        Some(Raw::Num(f)) => Some(f.to_string()),
        Some(Raw::Text(s)) if s.trim().is_empty() => None,
        Some(Raw::Text(s)) => Some(s),
    })
}

/// A list that may arrive as a JSON array, repeated form fields, or one text with commas,
/// semicolons or line breaks between the items.
pub fn loose_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Int(i64),
        Text(String),
    }
    impl Item {
        fn text(self) -> String {
            match self {
                Item::Int(n) => n.to_string(),
                Item::Text(s) => s,
            }
        }
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Many(Vec<Item>),
        One(Item),
    }
    let items: Vec<String> = match Option::<Raw>::deserialize(de)? {
        None => Vec::new(),
        Some(Raw::Many(v)) => v.into_iter().map(Item::text).collect(),
        Some(Raw::One(s)) => vec![s.text()],
    };
    Ok(items
        .iter()
        .flat_map(|s| s.split([',', ';', '\n']))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// A count: empty is `default`, otherwise a whole number from 0 to `max`.
pub fn count(raw: &Option<String>, default: i64, max: i64) -> Result<i64, Msg> {
    match raw {
        None => Ok(default),
        Some(s) => int_in(s, 0, max),
    }
}

/// A day typed as yyyy-mm-dd (date inputs, the API) or dd/mm/yyyy.
pub fn day(raw: &str) -> Result<NaiveDate, Msg> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Msg::new("error-required"));
    }
    let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| Msg::new("error-date"))?;
    // Planning happens in this century; far years would also overflow date arithmetic.
    if !(2000..=2100).contains(&d.year()) {
        return Err(Msg::new("error-date-range"));
    }
    Ok(d)
}

/// A time of day, `HH:MM` (24 h).
pub fn time(raw: &str) -> Result<NaiveTime, Msg> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Msg::new("error-required"));
    }
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .map_err(|_| Msg::new("error-time"))
}

/// A wall-clock moment in `tz` (Vietnam has no daylight saving, so it is never ambiguous
/// there), as UTC.
pub fn local(day: NaiveDate, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let naive = day.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// Topic codes stored as `|a|b|` (sorted, no repeats), so a substring search for `|a|`
/// (`db::contains`) finds them.
pub fn topics_text(codes: &[String]) -> String {
    let mut v: Vec<&str> = codes.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        String::new()
    } else {
        format!("|{}|", v.join("|"))
    }
}

pub fn topics_of(text: &str) -> Vec<String> {
    text.split('|')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A money amount in whole VND, 0 to 1,000 billion.
pub fn vnd(raw: &Option<String>) -> Result<i64, Msg> {
    count(raw, 0, 1_000_000_000_000)
}

/// A web address people can open: http or https with a host.
pub fn web_url(raw: &str) -> Result<Option<String>, Msg> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.chars().count() > 500 {
        return Err(Msg::new("error-too-long").arg("max", 500));
    }
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            // Stored as normalised (non-ASCII percent-encoded), which can be longer.
            let s = u.to_string();
            if s.len() > 500 {
                Err(Msg::new("error-too-long").arg("max", 500))
            } else {
                Ok(Some(s))
            }
        }
        _ => Err(Msg::new("error-url")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        use CampaignStatus::*;
        assert!(Draft.check_transition(Active).is_ok());
        assert!(Active.check_transition(Paused).is_ok());
        assert!(Paused.check_transition(Active).is_ok());
        assert!(Paused.check_transition(Completed).is_ok());
        assert!(Completed.check_transition(Archived).is_ok());
        let e = Draft.check_transition(Completed).unwrap_err();
        assert_eq!(e.key, "error-transition");
        assert!(e
            .args
            .iter()
            .any(|(k, v)| *k == "allowed" && v == "active, archived"));
        assert!(Archived.check_transition(Active).is_err());
        assert!(Completed.check_transition(Active).is_err());
        assert!(Active.check_transition(Active).is_err());
    }

    #[test]
    fn vietnam_wall_clock() {
        let tz = chrono_tz::Asia::Ho_Chi_Minh;
        let d = day("16/10/2025").unwrap();
        let at = local(d, time("00:30").unwrap(), tz);
        assert_eq!(at.to_rfc3339(), "2025-10-15T17:30:00+00:00");
        assert!(day("2025-02-30").is_err());
        assert!(time("25:00").is_err());
    }

    #[test]
    fn topic_text_round_trip() {
        let t = topics_text(&["premium".into(), "benefits".into(), "premium".into()]);
        assert_eq!(t, "|benefits|premium|");
        assert_eq!(topics_of(&t), vec!["benefits", "premium"]);
        assert_eq!(topics_text(&[]), "");
    }

    #[test]
    fn urls() {
        assert!(web_url("javascript:alert(1)").is_err());
        assert!(web_url("https://baochinhphu.vn/bhyt").unwrap().is_some());
        assert_eq!(web_url(" ").unwrap(), None);
    }
}
