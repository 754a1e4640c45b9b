//! Text as search keys store it, shared with the application so a key a migration fills and a
//! key the application writes are the same.
use unicode_normalization::UnicodeNormalization;

/// Vietnamese text without diacritics, lower-cased, spaces collapsed:
/// "Trường THPT  Lê Quý Đôn" → "truong thpt le quy don" ("đ" is a letter of its own, not a
/// "d" with a mark, so it is mapped by hand).
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
