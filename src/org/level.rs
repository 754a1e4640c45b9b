//! School levels of the Vietnamese education system.
use serde::{Deserialize, Serialize};

use crate::error::Msg;
use crate::fields::fold;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchoolLevel {
    /// Mầm non
    Preschool,
    /// Tiểu học
    Primary,
    /// Trung học cơ sở (THCS)
    LowerSecondary,
    /// Trung học phổ thông (THPT)
    UpperSecondary,
    /// Giáo dục thường xuyên (GDTX)
    ContinuingEducation,
    /// Giáo dục nghề nghiệp, trung cấp
    Vocational,
    /// Cao đẳng
    College,
    /// Đại học
    University,
}

impl SchoolLevel {
    pub const ALL: [SchoolLevel; 8] = [
        SchoolLevel::Preschool,
        SchoolLevel::Primary,
        SchoolLevel::LowerSecondary,
        SchoolLevel::UpperSecondary,
        SchoolLevel::ContinuingEducation,
        SchoolLevel::Vocational,
        SchoolLevel::College,
        SchoolLevel::University,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SchoolLevel::Preschool => "preschool",
            SchoolLevel::Primary => "primary",
            SchoolLevel::LowerSecondary => "lower_secondary",
            SchoolLevel::UpperSecondary => "upper_secondary",
            SchoolLevel::ContinuingEducation => "continuing_education",
            SchoolLevel::Vocational => "vocational",
            SchoolLevel::College => "college",
            SchoolLevel::University => "university",
        }
    }

    /// Accepts the code (`upper_secondary`) or the usual Vietnamese name or abbreviation
    /// (`THPT`, `Trung học phổ thông`), with or without accents, as school lists write them.
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        // Stored values are codes: no folding for each row of a list.
        if let Some(level) = SchoolLevel::ALL.iter().find(|l| l.code() == raw) {
            return Ok(*level);
        }
        let key = fold(raw).replace(['-', '_'], " ");
        let level = match key.as_str() {
            "preschool" | "mam non" | "mn" | "nha tre" | "mau giao" => SchoolLevel::Preschool,
            "primary" | "tieu hoc" | "th" => SchoolLevel::Primary,
            "lower secondary" | "trung hoc co so" | "thcs" => SchoolLevel::LowerSecondary,
            "upper secondary" | "trung hoc pho thong" | "thpt" => SchoolLevel::UpperSecondary,
            "continuing education" | "giao duc thuong xuyen" | "gdtx" | "gdnn gdtx" => {
                SchoolLevel::ContinuingEducation
            }
            "vocational" | "trung cap" | "giao duc nghe nghiep" | "tc" => SchoolLevel::Vocational,
            "college" | "cao dang" | "cd" => SchoolLevel::College,
            "university" | "dai hoc" | "dh" | "hoc vien" => SchoolLevel::University,
            _ => {
                return Err(Msg::new("error-one-of")
                    .arg("allowed", SchoolLevel::ALL.map(|l| l.code()).join(", ")))
            }
        };
        Ok(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_vietnamese_names() {
        assert_eq!(
            SchoolLevel::parse("upper_secondary").unwrap(),
            SchoolLevel::UpperSecondary
        );
        assert_eq!(
            SchoolLevel::parse("THPT").unwrap(),
            SchoolLevel::UpperSecondary
        );
        assert_eq!(
            SchoolLevel::parse("Trung học cơ sở").unwrap(),
            SchoolLevel::LowerSecondary
        );
        assert_eq!(
            SchoolLevel::parse("Mầm non").unwrap(),
            SchoolLevel::Preschool
        );
        assert_eq!(
            SchoolLevel::parse("dai hoc").unwrap(),
            SchoolLevel::University
        );
        let err = SchoolLevel::parse("kindergarten-ish").unwrap_err();
        assert_eq!(err.key, "error-one-of");
        for l in SchoolLevel::ALL {
            assert_eq!(SchoolLevel::parse(l.code()).unwrap(), l);
        }
    }
}
