//! Text as the matcher sees it: lowercase, without diacritics, split into words.

use unicode_normalization::UnicodeNormalization;

/// Lowercases and removes diacritics (`Financiële` → `financiele`, `één` → `een`).
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Splits folded text into words: every run of letters and digits. URL paths split on
/// `/`, `-`, `_` and `.` this way too (`/werk-en-inkomen/bijzondere-bijstand`).
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_splitting() {
        assert_eq!(fold("Financiële Hulp ÉÉN"), "financiele hulp een");
        let f = fold("/Werk-en-Inkomen/bijzondere_bijstand.html?x=1");
        assert_eq!(
            words(&f).collect::<Vec<_>>(),
            vec![
                "werk",
                "en",
                "inkomen",
                "bijzondere",
                "bijstand",
                "html",
                "x",
                "1"
            ]
        );
    }
}
