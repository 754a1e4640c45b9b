//! Values of the contacts slice that parse once at the edge: phone numbers, social-insurance
//! numbers, HI status, channels, relationships, consent sources.
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::Msg;
use crate::fields::fold;

/// A Vietnamese mobile number in E.164 form (`+84912345678`). Accepts `0912 345 678`,
/// `+84 912 345 678`, `84912345678` and `912345678` (Excel drops the leading zero);
/// landlines, short numbers and foreign numbers are refused.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MobilePhone(String);

impl MobilePhone {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Msg::new("error-required"));
        }
        if trimmed
            .chars()
            .any(|c| !(c.is_ascii_digit() || " +-.()".contains(c)))
        {
            return Err(Msg::new("error-phone"));
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::VN), trimmed)
            .map_err(|_| Msg::new("error-phone"))?;
        let is_vn = number.code().value() == 84;
        let mobile = matches!(
            number.number_type(&phonenumber::metadata::DATABASE),
            phonenumber::Type::Mobile
        );
        if !is_vn || !phonenumber::is_valid(&number) || !mobile {
            return Err(Msg::new("error-phone"));
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MobilePhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MobilePhone(***)")
    }
}

impl TryFrom<String> for MobilePhone {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        Self::parse(&v).map_err(|m| m.key.to_string())
    }
}

impl From<MobilePhone> for String {
    fn from(v: MobilePhone) -> String {
        v.0
    }
}

/// A social-insurance number (mã số BHXH): exactly 10 digits. A 9-digit value is taken to be
/// one whose leading zero a spreadsheet dropped; scientific notation (7.91E+09) is refused,
/// because the digits it lost cannot be recovered.
pub fn parse_si_number(raw: &str) -> Result<String, Msg> {
    let v: String = raw.trim().chars().filter(|c| *c != ' ').collect();
    if v.contains(['e', 'E']) {
        return Err(Msg::new("error-si-number-excel"));
    }
    if !v.chars().all(|c| c.is_ascii_digit()) {
        return Err(Msg::new("error-si-number"));
    }
    match v.len() {
        10 => Ok(v),
        9 => Ok(format!("0{v}")),
        _ => Err(Msg::new("error-si-number")),
    }
}

/// A date written dd/mm/yyyy (also d/m/yyyy, as spreadsheets shorten it) or yyyy-mm-dd.
pub fn parse_date(raw: &str) -> Result<NaiveDate, Msg> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d"))
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d-%m-%Y"))
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d.%m.%Y"))
        .map_err(|_| Msg::new("error-date"))
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal [$($alias:literal),*]),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The value whose code this is exactly, as the database stores it.
            pub fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The code, or a usual Vietnamese or English way of writing it (accents optional).
            pub fn parse(raw: &str) -> Result<Self, Msg> {
                // Stored values are codes: no folding for each row of a list.
                if let Some(value) = Self::from_code(raw) {
                    return Ok(value);
                }
                let key = fold(raw).replace(['-', '_'], " ");
                $(
                    if key == fold($code).replace('_', " ") $(|| key == $alias)* {
                        return Ok($name::$variant);
                    }
                )+
                Err(Msg::new("error-one-of").arg("allowed", [$($code),+].join(", ")))
            }
        }
    };
}

text_enum!(
    /// A student's health-insurance status. Reminders go to `uninsured` only.
    HiStatus {
        Insured = "insured" ["da co the", "co the", "co bhyt", "da tham gia"],
        Uninsured = "uninsured" ["chua co the", "chua tham gia", "chua co bhyt"],
        StateFunded = "state_funded" ["ngan sach", "nsnn", "ngan sach nha nuoc", "mien phi", "exempt", "state funded"],
    }
);

text_enum!(
    /// A channel a guardian can be reached on.
    Channel {
        Email = "email" ["e mail", "thu dien tu"],
        Sms = "sms" ["tin nhan"],
        Zalo = "zalo" ["zns", "zalo zns"],
        Push = "push" ["app", "vssid", "app push"],
    }
);

text_enum!(
    /// How a guardian is related to the student.
    Relationship {
        Mother = "mother" ["me", "ma"],
        Father = "father" ["bo", "cha"],
        Grandparent = "grandparent" ["ong", "ba noi", "ba ngoai", "ong noi", "ong ngoai"],
        Guardian = "guardian" ["giam ho", "nguoi giam ho"],
        Other = "other" ["khac"],
    }
);

text_enum!(
    /// Where a consent record came from.
    ConsentSource {
        SchoolForm = "school_form" ["phieu", "phieu dong y", "form"],
        Import = "import" [],
        Online = "online" ["truc tuyen"],
        Unsubscribe = "unsubscribe" [],
        Staff = "staff" [],
    }
);

/// The one purpose consent is asked for so far.
pub const PURPOSE_HI_REMINDERS: &str = "hi_reminders";

/// A yes/no cell as schools write it: `có`, `x`, `1`, `yes`, `không`, `0`, `no`; empty is None.
pub fn parse_yes_no(raw: &str) -> Result<Option<bool>, Msg> {
    match fold(raw).as_str() {
        "" => Ok(None),
        "co" | "x" | "1" | "yes" | "y" | "true" | "dong y" => Ok(Some(true)),
        "khong" | "0" | "no" | "n" | "false" | "tu choi" => Ok(Some(false)),
        _ => Err(Msg::new("error-yes-no")),
    }
}

/// The order in which a guardian prefers to be reached, e.g. `zalo,sms,email`. Every channel
/// at most once.
pub fn parse_channel_order(raw: &str) -> Result<Vec<Channel>, Msg> {
    let mut out = Vec::new();
    for part in raw
        .split([',', ';', ' ', '>'])
        .filter(|p| !p.trim().is_empty())
    {
        let c = Channel::parse(part)?;
        if out.contains(&c) {
            return Err(Msg::new("error-channel-repeated").arg("channel", c.code()));
        }
        out.push(c);
    }
    Ok(out)
}

pub fn channel_order_text(order: &[Channel]) -> String {
    order.iter().map(|c| c.code()).collect::<Vec<_>>().join(",")
}

/// The default order: Zalo first (cheapest, read most), then SMS, e-mail, app push.
pub const DEFAULT_CHANNEL_ORDER: &str = "zalo,sms,email,push";

/// Personal data shown to roles that do not need it in full: `+84 91* *** *78`, `ng***@gmail.com`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "***".into();
    }
    let keep_head = 5;
    let keep_tail = 2;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= chars.len() - keep_tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let head: String = local.chars().take(2).collect();
            format!("{head}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        for ok in [
            "0912345678",
            "0912 345 678",
            "+84912345678",
            "+84 912 345 678",
            "84912345678",
            "912345678",
            "0351234567",
            "(091) 234-5678",
        ] {
            assert_eq!(
                MobilePhone::parse(ok)
                    .map(|p| p.as_str().to_string())
                    .ok()
                    .as_deref()
                    .map(|s| &s[..3]),
                Some("+84"),
                "{ok}"
            );
        }
        assert_eq!(
            MobilePhone::parse("0912 345 678").unwrap().as_str(),
            "+84912345678"
        );
        for bad in [
            "",
            "091234",
            "0243 825 1234",
            "+1 415 555 2671",
            "abc",
            "0912345678x",
            "0112345678",
            "09123456789012",
        ] {
            assert!(MobilePhone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn si_numbers() {
        assert_eq!(parse_si_number("7912345678").unwrap(), "7912345678");
        assert_eq!(parse_si_number("112345678").unwrap(), "0112345678");
        assert_eq!(
            parse_si_number("7.91E+09").unwrap_err().key,
            "error-si-number-excel"
        );
        assert!(parse_si_number("12345").is_err());
        assert!(parse_si_number("79123456AB").is_err());
    }

    #[test]
    fn statuses_and_channels() {
        assert_eq!(HiStatus::parse("Chưa có thẻ").unwrap(), HiStatus::Uninsured);
        assert_eq!(
            HiStatus::parse("state_funded").unwrap(),
            HiStatus::StateFunded
        );
        assert_eq!(HiStatus::parse("Ngân sách").unwrap(), HiStatus::StateFunded);
        assert!(HiStatus::parse("maybe").is_err());
        for status in HiStatus::ALL {
            assert_eq!(HiStatus::from_code(status.code()), Some(*status));
            assert_eq!(HiStatus::parse(status.code()).unwrap(), *status);
        }
        // Not the code exactly: still read by folding.
        assert_eq!(
            HiStatus::parse(" State-Funded ").unwrap(),
            HiStatus::StateFunded
        );
        assert_eq!(HiStatus::from_code("Insured"), None);
        assert_eq!(Relationship::parse("Mẹ").unwrap(), Relationship::Mother);
        assert_eq!(
            parse_channel_order("zalo, sms").unwrap(),
            vec![Channel::Zalo, Channel::Sms]
        );
        assert!(parse_channel_order("sms,sms").is_err());
        assert_eq!(parse_yes_no("Có").unwrap(), Some(true));
        assert_eq!(parse_yes_no(" ").unwrap(), None);
        assert!(parse_yes_no("perhaps").is_err());
    }

    #[test]
    fn dates_as_schools_write_them() {
        assert_eq!(
            parse_date("05/09/2010").unwrap(),
            NaiveDate::from_ymd_opt(2010, 9, 5).unwrap()
        );
        assert_eq!(
            parse_date("5/9/2010").unwrap(),
            NaiveDate::from_ymd_opt(2010, 9, 5).unwrap()
        );
        assert_eq!(
            parse_date("2010-09-05").unwrap(),
            NaiveDate::from_ymd_opt(2010, 9, 5).unwrap()
        );
        assert!(parse_date("31/02/2010").is_err());
    }

    #[test]
    fn masking() {
        assert_eq!(mask_phone("+84912345678"), "+8491*****78");
        assert_eq!(mask_email("nguyen.van.a@gmail.com"), "ng***@gmail.com");
    }
}
