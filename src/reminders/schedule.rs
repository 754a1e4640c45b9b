//! When reminder rules fire, in Vietnam time: by cron (the familiar 5-field form), or a number
//! of days before or after each school's HI collection deadline at a time of day.
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::Msg;

/// A rule's schedule once parsed.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron(Box<cron::Schedule>),
    /// `offsets` days relative to each deadline (negative: before), at `at_minute` after
    /// local midnight; `deadlines` are the distinct deadlines of the schools in the rule's year.
    Deadline {
        offsets: Vec<i32>,
        at_minute: u32,
        deadlines: Vec<NaiveDate>,
    },
}

/// The `cron` crate counts days of the week from 1 = Sunday, wants a seconds field, and fires
/// only when both the day of the month and the weekday match. People write `min hour day month
/// weekday` with 0 or 7 = Sunday, and in the usual cron either day field matching fires. So the
/// weekday field is expanded here into the names of its days (which mean the same to both), `0`
/// seconds go in front, and a schedule restricting both day fields is refused rather than run
/// with a meaning its author did not intend.
pub fn parse_cron(raw: &str) -> Result<cron::Schedule, Msg> {
    let fields: Vec<&str> = raw.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(Msg::new("error-cron-fields"));
    }
    let weekday = weekday_names(fields[4]).ok_or_else(|| Msg::new("error-cron"))?;
    if fields[2] != "*" && fields[2] != "?" && weekday != "*" {
        return Err(Msg::new("error-cron-day-and-weekday"));
    }
    let expr = format!(
        "0 {} {} {} {} {}",
        fields[0], fields[1], fields[2], fields[3], weekday
    );
    cron::Schedule::from_str(&expr).map_err(|_| Msg::new("error-cron"))
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// One weekday as a number 0–7 (0 and 7 are Sunday) or a name, as 0–7.
fn day_number(raw: &str) -> Option<usize> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n <= 7 => Some(n),
        Ok(_) => None,
        Err(_) => {
            let lower = raw.trim().to_ascii_lowercase();
            DAYS.iter().position(|d| d.to_ascii_lowercase() == lower)
        }
    }
}

/// The weekday field as the names of the days it selects (`*` when it selects every day), read
/// as the usual cron reads it: lists, ranges (`1-5`, `5-7`) and steps (`*/2`, `1-7/2`).
fn weekday_names(field: &str) -> Option<String> {
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.trim().parse::<usize>().ok().filter(|s| *s > 0)?),
            None => (item, 1),
        };
        let (first, last) = match range.trim() {
            "*" | "?" => (0, 6),
            r => match r.split_once('-') {
                Some((a, b)) => (day_number(a)?, day_number(b)?),
                None => {
                    let d = day_number(r)?;
                    (d, if item.contains('/') { 7 } else { d })
                }
            },
        };
        if first > last {
            return None;
        }
        for d in (first..=last).step_by(step) {
            days[d % 7] = true;
        }
    }
    if days.iter().all(|d| *d) {
        return Some("*".into());
    }
    Some(
        DAYS.iter()
            .zip(days)
            .filter(|(_, on)| *on)
            .map(|(d, _)| *d)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Offsets typed as `-7,-3,-1` or `7 3 1 trước` … kept simple: whole numbers between −365 and
/// 365, separated by commas or spaces, each once.
pub fn parse_offsets(raw: &str) -> Result<Vec<i32>, Msg> {
    let mut out = Vec::new();
    for part in raw
        .split([',', ';', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let n: i32 = part.parse().map_err(|_| Msg::new("error-offsets"))?;
        if !(-365..=365).contains(&n) {
            return Err(Msg::new("error-offsets"));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err(Msg::new("error-offsets"));
    }
    out.sort_unstable();
    Ok(out)
}

/// `HH:MM` as minutes after midnight.
pub fn parse_time_of_day(raw: &str) -> Result<u32, Msg> {
    let (h, m) = raw
        .trim()
        .split_once(':')
        .ok_or_else(|| Msg::new("error-time"))?;
    let h: u32 = h.trim().parse().map_err(|_| Msg::new("error-time"))?;
    let m: u32 = m.trim().parse().map_err(|_| Msg::new("error-time"))?;
    if h > 23 || m > 59 {
        return Err(Msg::new("error-time"));
    }
    Ok(h * 60 + m)
}

pub fn time_of_day_text(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn local(day: NaiveDate, minute: u32, tz: Tz) -> Option<DateTime<Utc>> {
    let t = day.and_hms_opt(minute / 60, minute % 60, 0)?;
    tz.from_local_datetime(&t)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

impl Schedule {
    /// Every deadline-relative fire time (few: deadlines × offsets), sorted.
    fn deadline_times(
        offsets: &[i32],
        at_minute: u32,
        deadlines: &[NaiveDate],
        tz: Tz,
    ) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = deadlines
            .iter()
            .flat_map(|d| {
                offsets
                    .iter()
                    .filter_map(move |o| d.checked_add_signed(Duration::days(i64::from(*o))))
            })
            .filter_map(|day| local(day, at_minute, tz))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(s) => s
                .after(&after.with_timezone(&tz))
                .next()
                .map(|d| d.with_timezone(&Utc)),
            Schedule::Deadline {
                offsets,
                at_minute,
                deadlines,
            } => Self::deadline_times(offsets, *at_minute, deadlines, tz)
                .into_iter()
                .find(|t| *t > after),
        }
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, tz) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// For a deadline schedule, the deadlines served by its fire times in `[from, until]` that
    /// are on or after `today` (a reminder before a deadline that has passed is pointless).
    /// None for a cron schedule.
    pub fn deadlines_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        today: NaiveDate,
        tz: Tz,
    ) -> Option<Vec<NaiveDate>> {
        let Schedule::Deadline {
            offsets,
            at_minute,
            deadlines,
        } = self
        else {
            return None;
        };
        let mut out: Vec<NaiveDate> = Self::deadline_times(offsets, *at_minute, deadlines, tz)
            .into_iter()
            .filter(|t| *t >= from && *t <= until)
            .flat_map(|t| deadlines_for(t, offsets, *at_minute, tz))
            .filter(|d| *d >= today)
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// The latest fire time in `[from, until]`, and how many fire times lie in that window
    /// (all but the latest were missed).
    pub fn latest_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(DateTime<Utc>, u64)> {
        match self {
            Schedule::Cron(s) => {
                // Walk forward from just before `from`; a very long outage of a frequent rule
                // is cut short (only the latest occurrence runs anyway).
                let mut latest = None;
                let mut count = 0u64;
                let start = (from - Duration::seconds(1)).with_timezone(&tz);
                for t in s.after(&start).take(100_000) {
                    let t = t.with_timezone(&Utc);
                    if t > until {
                        break;
                    }
                    latest = Some(t);
                    count += 1;
                }
                if count == 100_000 {
                    // Still not past `until`: take the last fire time before it directly.
                    let mut probe = until - Duration::days(1);
                    while let Some(t) = self.next_after(probe, tz) {
                        if t > until {
                            break;
                        }
                        latest = Some(t);
                        probe = t;
                    }
                }
                latest.map(|t| (t, count))
            }
            Schedule::Deadline {
                offsets,
                at_minute,
                deadlines,
            } => {
                let times: Vec<DateTime<Utc>> =
                    Self::deadline_times(offsets, *at_minute, deadlines, tz)
                        .into_iter()
                        .filter(|t| *t >= from && *t <= until)
                        .collect();
                times.last().map(|t| (*t, times.len() as u64))
            }
        }
    }
}

/// For a deadline-relative fire time, the deadlines it serves: `at` minus each offset, when
/// `at` is the rule's time of day (otherwise none).
pub fn deadlines_for(at: DateTime<Utc>, offsets: &[i32], at_minute: u32, tz: Tz) -> Vec<NaiveDate> {
    let day = at.with_timezone(&tz).date_naive();
    if local(day, at_minute, tz) != Some(at) {
        return Vec::new();
    }
    offsets
        .iter()
        .filter_map(|o| day.checked_sub_signed(Duration::days(i64::from(*o))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Ho_Chi_Minh as VN;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn cron_in_vietnam_time_across_midnight_utc() {
        // 07:00 in Vietnam is 00:00 UTC; every day.
        let s = Schedule::Cron(Box::new(parse_cron("0 7 * * *").unwrap()));
        let next = s.next_after(utc(2026, 12, 2, 23, 59), VN).unwrap();
        assert_eq!(next, utc(2026, 12, 3, 0, 0));
        // Just after it, the next is the following day.
        assert_eq!(s.next_after(next, VN).unwrap(), utc(2026, 12, 4, 0, 0));
        // 06:30 in Vietnam is the previous day in UTC.
        let s = Schedule::Cron(Box::new(parse_cron("30 6 * * *").unwrap()));
        assert_eq!(
            s.next_after(utc(2026, 12, 2, 12, 0), VN).unwrap(),
            utc(2026, 12, 2, 23, 30)
        );
    }

    #[test]
    fn weekdays_count_from_sunday_zero_as_people_write_them() {
        // Mondays at 08:00: 2026-12-07 is a Monday.
        let s = Schedule::Cron(Box::new(parse_cron("0 8 * * 1").unwrap()));
        let times = s.upcoming(utc(2026, 12, 2, 0, 0), VN, 2);
        assert_eq!(times, vec![utc(2026, 12, 7, 1, 0), utc(2026, 12, 14, 1, 0)]);
        // Sunday as 0 and as 7; weekdays 1-5; 5-7 is Friday to Sunday.
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * Sun"] {
            let s = Schedule::Cron(Box::new(parse_cron(sunday).unwrap()));
            assert_eq!(
                s.next_after(utc(2026, 12, 2, 0, 0), VN).unwrap(),
                utc(2026, 12, 6, 2, 0),
                "{sunday}"
            );
        }
        let s = Schedule::Cron(Box::new(parse_cron("0 9 * * 1-5").unwrap()));
        let days: Vec<u32> = s
            .upcoming(utc(2026, 12, 4, 12, 0), VN, 3)
            .iter()
            .map(|t| chrono::Datelike::day(&t.with_timezone(&VN)))
            .collect();
        assert_eq!(days, vec![7, 8, 9], "Friday evening → Mon, Tue, Wed");
        let s = Schedule::Cron(Box::new(parse_cron("0 9 * * 5-7").unwrap()));
        let days: Vec<u32> = s
            .upcoming(utc(2026, 12, 2, 0, 0), VN, 4)
            .iter()
            .map(|t| chrono::Datelike::day(&t.with_timezone(&VN)))
            .collect();
        assert_eq!(days, vec![4, 5, 6, 11]);
    }

    #[test]
    fn weekday_fields_read_as_the_usual_cron_reads_them() {
        assert_eq!(weekday_names("7-7").unwrap(), "Sun");
        assert_eq!(weekday_names("1-7/2").unwrap(), "Sun,Mon,Wed,Fri");
        assert_eq!(weekday_names("*/2").unwrap(), "Sun,Tue,Thu,Sat");
        assert_eq!(weekday_names("5-7").unwrap(), "Sun,Fri,Sat");
        assert_eq!(weekday_names("mon,WED").unwrap(), "Mon,Wed");
        assert_eq!(weekday_names("0-6").unwrap(), "*");
        assert!(weekday_names("5-1").is_none());
        assert!(weekday_names("1/0").is_none());
    }

    #[test]
    fn bad_cron_is_refused() {
        assert!(
            parse_cron("0 8 1 * 1").is_err(),
            "a day of the month and a weekday together are ambiguous"
        );
        assert!(parse_cron("0 7 * *").is_err());
        assert!(parse_cron("0 7 * * * *").is_err());
        assert!(parse_cron("61 7 * * *").is_err());
        assert!(parse_cron("0 7 * * 8").is_err());
        assert!(parse_cron("0 7 * * nonsense").is_err());
    }

    #[test]
    fn deadline_relative_times() {
        let deadlines = vec![
            NaiveDate::from_ymd_opt(2026, 12, 20).unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        ];
        let offsets = parse_offsets("-7, -3 -1").unwrap();
        let s = Schedule::Deadline {
            offsets: offsets.clone(),
            at_minute: parse_time_of_day("19:00").unwrap(),
            deadlines,
        };
        // 19:00 in Vietnam is 12:00 UTC.
        let times = s.upcoming(utc(2026, 12, 1, 0, 0), VN, 6);
        assert_eq!(
            times,
            vec![
                utc(2026, 12, 13, 12, 0),
                utc(2026, 12, 17, 12, 0),
                utc(2026, 12, 19, 12, 0),
                utc(2026, 12, 24, 12, 0),
                utc(2026, 12, 28, 12, 0),
                utc(2026, 12, 30, 12, 0),
            ]
        );
        // 17 Dec is 7 days before the 24th, 3 before the 20th, 1 before the 18th.
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(
            deadlines_for(utc(2026, 12, 17, 12, 0), &offsets, 19 * 60, VN),
            vec![day(24), day(20), day(18)]
        );
        assert!(deadlines_for(utc(2026, 12, 17, 11, 0), &offsets, 19 * 60, VN).is_empty());
        // Downtime over two fire times: the latest runs, one was missed.
        assert_eq!(
            s.latest_between(utc(2026, 12, 13, 12, 0), utc(2026, 12, 18, 0, 0), VN),
            Some((utc(2026, 12, 17, 12, 0), 2))
        );
        assert!(parse_offsets("").is_err());
        assert!(parse_offsets("-400").is_err());
        assert!(parse_time_of_day("24:00").is_err());
    }

    #[test]
    fn missed_cron_times_collapse_to_the_latest() {
        let s = Schedule::Cron(Box::new(parse_cron("0 8 * * *").unwrap()));
        // Down from 3 Dec 00:30 UTC to 6 Dec 03:00 UTC: fire times 4, 5, 6 Dec at 01:00 UTC.
        let (latest, n) = s
            .latest_between(utc(2026, 12, 4, 1, 0), utc(2026, 12, 6, 3, 0), VN)
            .unwrap();
        assert_eq!(latest, utc(2026, 12, 6, 1, 0));
        assert_eq!(n, 3);
    }
}
