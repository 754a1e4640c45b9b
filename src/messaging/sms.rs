//! SMS length: which encoding a text needs and how many segments it costs.
//!
//! GSM 03.38's 7-bit alphabet carries 160 characters in one message, 153 per part when the
//! message is split (the rest of each part holds the concatenation header); characters of its
//! extension table (`^ { } \ [ ~ ] | €`) take two places. Any other character — every
//! Vietnamese letter with a diacritic — forces UCS-2: 70 UTF-16 units in one message, 67 per
//! part. Brandname gateways charge per part, so an unaccented variant is offered too.
use serde::{Deserialize, Serialize};

use crate::fields::strip_diacritics;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmsLength {
    pub encoding: Encoding,
    /// Places used: GSM-7 septets (extension characters count 2) or UTF-16 units.
    pub units: usize,
    pub segments: usize,
    /// Places left in the last segment.
    pub remaining: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmsInfo {
    #[serde(flatten)]
    pub length: SmsLength,
    /// The same text without diacritics, and what it costs.
    pub unaccented: String,
    pub unaccented_length: SmsLength,
}

/// GSM-7 places a text takes, or None if it needs UCS-2.
fn gsm_septets(text: &str) -> Option<usize> {
    let mut n = 0;
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            n += 1;
        } else if GSM_EXTENSION.contains(c) {
            n += 2;
        } else {
            return None;
        }
    }
    Some(n)
}

fn segments(units: usize, single: usize, part: usize) -> (usize, usize) {
    if units <= single {
        (1, single - units)
    } else {
        let n = units.div_ceil(part);
        (n, n * part - units)
    }
}

pub fn length(text: &str) -> SmsLength {
    match gsm_septets(text) {
        Some(units) => {
            let (segments, remaining) = segments(units, 160, 153);
            SmsLength {
                encoding: Encoding::Gsm7,
                units,
                segments,
                remaining,
            }
        }
        None => {
            let units = text.encode_utf16().count();
            let (segments, remaining) = segments(units, 70, 67);
            SmsLength {
                encoding: Encoding::Ucs2,
                units,
                segments,
                remaining,
            }
        }
    }
}

pub fn info(text: &str) -> SmsInfo {
    let unaccented = strip_diacritics(text);
    SmsInfo {
        length: length(text),
        unaccented_length: length(&unaccented),
        unaccented,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_lengths() {
        let plain = "a".repeat(160);
        assert_eq!(
            length(&plain),
            SmsLength {
                encoding: Encoding::Gsm7,
                units: 160,
                segments: 1,
                remaining: 0
            }
        );
        assert_eq!(length(&"a".repeat(161)).segments, 2);
        assert_eq!(length(&"a".repeat(306)).segments, 2);
        assert_eq!(length(&"a".repeat(307)).segments, 3);
        // Extension characters take two places.
        assert_eq!(length("€[]").units, 6);
        assert_eq!(length(&"€".repeat(80)).segments, 1);
        assert_eq!(length(&"€".repeat(81)).segments, 2);

        let vi = "Kính gửi phụ huynh em Nguyễn Văn An";
        let l = length(vi);
        assert_eq!(l.encoding, Encoding::Ucs2);
        assert_eq!(l.units, vi.chars().count());
        assert_eq!(length(&"ư".repeat(70)).segments, 1);
        assert_eq!(length(&"ư".repeat(71)).segments, 2);
        assert_eq!(length(&"ư".repeat(134)).segments, 2);
        assert_eq!(length(&"ư".repeat(135)).segments, 3);
    }

    #[test]
    fn unaccented_variant_is_cheaper() {
        let text = "Kính gửi phụ huynh: hạn đóng BHYT học sinh là 31/12. Mức đóng 884.520 đồng/năm, Nhà nước hỗ trợ 30%. Đóng qua VssID hoặc tại trường.";
        let i = info(text);
        assert_eq!(i.length.encoding, Encoding::Ucs2);
        assert_eq!(i.length.segments, 2);
        assert_eq!(i.unaccented_length.encoding, Encoding::Gsm7);
        assert_eq!(i.unaccented_length.segments, 1);
        assert!(i
            .unaccented
            .starts_with("Kinh gui phu huynh: han dong BHYT hoc sinh"));
        assert!(i.unaccented.contains("Nha nuoc ho tro 30%"));
    }
}
