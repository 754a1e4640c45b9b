//! Dates and numbers as Vietnamese users read them: dd/mm/yyyy in Vietnam time, 1.234.567.
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{AppError, Msg};
use crate::web::i18n::Lang;

pub fn date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%d/%m/%Y").to_string()
}

pub fn datetime(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

/// Groups thousands: "." in Vietnamese, "," in English.
pub fn number(n: i64, lang: Lang) -> String {
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A day typed as yyyy-mm-dd (HTML date inputs) or dd/mm/yyyy (as people write it).
pub fn parse_day(raw: &str, field: &str) -> Result<NaiveDate, AppError> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| AppError::invalid(field, Msg::new("error-date")))
}

/// A moment typed as RFC 3339 (`2026-12-07T01:00:00Z`), or as a local time in `tz`:
/// `yyyy-mm-ddTHH:MM` (HTML datetime inputs), `yyyy-mm-dd HH:MM` or `dd/mm/yyyy HH:MM`.
pub fn parse_moment(raw: &str, tz: Tz) -> Result<DateTime<Utc>, Msg> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%d/%m/%Y %H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(raw, f).ok())
    .and_then(|local| tz.from_local_datetime(&local).earliest())
    .map(|at| at.with_timezone(&Utc))
    .ok_or_else(|| Msg::new("error-datetime"))
}

/// Midnight at the start of `day` in `tz`, as UTC.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnam_dates() {
        let tz = chrono_tz::Asia::Ho_Chi_Minh;
        // 18:30 UTC is already the next day in Vietnam (UTC+7).
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 18, 30, 0).unwrap();
        assert_eq!(date(at, tz), "01/02/2026");
        assert_eq!(datetime(at, tz), "01/02/2026 01:30");
        let day = parse_day("01/02/2026", "d").unwrap();
        assert_eq!(
            start_of_day(day, tz),
            Utc.with_ymd_and_hms(2026, 1, 31, 17, 0, 0).unwrap()
        );
        assert!(parse_day("31/02/2026", "d").is_err());
        let at = parse_moment("2026-12-07T07:00", tz).unwrap();
        assert_eq!(at, Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap());
        assert_eq!(parse_moment("07/12/2026 07:00", tz).unwrap(), at);
        assert_eq!(parse_moment("2026-12-07T00:00:00Z", tz).unwrap(), at);
        assert!(parse_moment("tomorrow", tz).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(number(884520, Lang::Vi), "884.520");
        assert_eq!(number(1234567, Lang::En), "1,234,567");
        assert_eq!(number(-1000, Lang::Vi), "-1.000");
        assert_eq!(number(12, Lang::Vi), "12");
    }
}
