//! Input types that validate once, at the edge. Each `parse` returns a translatable message
//! on failure so forms, the API and CSV imports report the same reasons.
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::Msg;

/// Trimmed text with Unicode normalised to NFC (so "ờ" typed two ways compares equal),
/// non-empty and at most `max` characters.
pub fn required_text(raw: &str, max: usize) -> Result<String, Msg> {
    let value = clean_text(raw);
    if value.is_empty() {
        return Err(Msg::new("error-required"));
    }
    check_len(value, max)
}

/// Like `required_text`, but empty input is `None`.
pub fn optional_text(raw: &str, max: usize) -> Result<Option<String>, Msg> {
    let value = clean_text(raw);
    if value.is_empty() {
        Ok(None)
    } else {
        check_len(value, max).map(Some)
    }
}

/// Like `optional_text` for text areas: line breaks are kept (as `\n`), other control
/// characters dropped, each line's end trimmed.
pub fn multiline_text(raw: &str, max: usize) -> Result<Option<String>, Msg> {
    let normalised: String = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .nfc()
        .collect();
    let kept: String = normalised
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    let value = kept
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();
    if value.is_empty() {
        Ok(None)
    } else {
        check_len(value, max).map(Some)
    }
}

fn check_len(value: String, max: usize) -> Result<String, Msg> {
    let n = value.chars().count();
    if n > max {
        Err(Msg::new("error-too-long").arg("max", max))
    } else {
        Ok(value)
    }
}

fn clean_text(raw: &str) -> String {
    let trimmed: String = raw.trim().nfc().collect();
    // Control characters never belong in names or codes (tabs and newlines included).
    trimmed.chars().filter(|c| !c.is_control()).collect()
}

/// Vietnamese text without diacritics, lower-cased: "Trường THPT Lê Quý Đôn" → "truong thpt le quy don".
/// Used for search keys, so a search typed without accents still finds the school. Defined
/// beside the migrations, which fill the keys of rows written before a key existed.
pub use migration::fold;

/// The text without diacritics, case and spacing kept: "Đóng BHYT" → "Dong BHYT". For SMS
/// that must fit the GSM 7-bit alphabet.
pub fn strip_diacritics(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// A whole number within bounds.
pub fn int_in(raw: &str, min: i64, max: i64) -> Result<i64, Msg> {
    let value: i64 = raw
        .trim()
        .replace(['.', ',', ' '], "")
        .parse()
        .map_err(|_| Msg::new("error-not-a-number"))?;
    if value < min || value > max {
        return Err(Msg::new("error-out-of-range")
            .arg("min", min)
            .arg("max", max));
    }
    Ok(value)
}

/// A lower-cased, syntactically valid e-mail address.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(Msg::new("error-required"));
        }
        if value.len() > 254 {
            return Err(Msg::new("error-too-long").arg("max", 254));
        }
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && domain.contains('.')
                    && !domain.contains("..")
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                    && local
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            }
            None => false,
        };
        if valid {
            Ok(Self(value))
        } else {
            Err(Msg::new("error-email"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses are personal data: keep them out of debug output that may reach logs.
        f.write_str("Email(***)")
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|m| m.key.to_string())
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// A new password: 10 to 128 characters.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN: usize = 10;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let n = raw.chars().count();
        if n < Self::MIN {
            return Err(Msg::new("error-password-short").arg("min", Self::MIN));
        }
        if n > Self::MAX {
            return Err(Msg::new("error-too-long").arg("max", Self::MAX));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese() {
        assert_eq!(fold("Trường THPT  Lê Quý Đôn"), "truong thpt le quy don");
        assert_eq!(fold("Đắk Lắk"), "dak lak");
        assert_eq!(fold("Thừa Thiên Huế"), "thua thien hue");
        assert_eq!(strip_diacritics("Đóng BHYT  cho Con"), "Dong BHYT  cho Con");
    }

    #[test]
    fn text_rules() {
        assert_eq!(required_text("  Hà Nội ", 10).unwrap(), "Hà Nội");
        assert_eq!(required_text("   ", 10).unwrap_err().key, "error-required");
        assert_eq!(
            required_text("abcdef", 5).unwrap_err().key,
            "error-too-long"
        );
        // Decomposed input is stored composed.
        assert_eq!(required_text("Ha\u{300}", 10).unwrap(), "Hà");
        assert_eq!(optional_text("", 5).unwrap(), None);
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Admin@Example.VN ").unwrap().as_str(),
            "admin@example.vn"
        );
        for bad in ["", "a", "a@b", "a@.vn", "a b@c.vn", "a@b..vn", "@b.vn"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(int_in("1.200", 0, 5000).unwrap(), 1200);
        assert_eq!(int_in("x", 0, 5).unwrap_err().key, "error-not-a-number");
        assert_eq!(int_in("9", 0, 5).unwrap_err().key, "error-out-of-range");
    }
}
