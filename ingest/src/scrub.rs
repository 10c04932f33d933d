//! Removing personal data from text before it leaves the collector.
//!
//! [`scrub_text`] replaces, in this order:
//! - e-mail addresses → `[email]`
//! - IBANs (2 letters, 2 check digits, 11–30 letters/digits, written compact or in
//!   groups of four, any case) that pass the ISO 13616 mod-97 check → `[iban]`
//! - full postcodes `1234 AB` / `1234ab` → the 4 digits only (`1234`). A lowercase pair
//!   after a space that is a common Dutch word (`2024 en 2025`) is left alone, and
//!   letter pairs postcodes never use (with F, I, O, Q, U, Y; SA, SD, SS) do not match.
//! - Dutch phone numbers: `+31`/`0031`/`0` followed by 9 digits, with spaces, dots,
//!   dashes or `(0)` between them → `[phone]`
//! - BSNs: 9 digits, optionally grouped with dots, spaces or dashes, that pass the
//!   elfproef → `[bsn]`
//!
//! Postcodes go before phone numbers and BSNs, so digits brought together by removing
//! a postcode's letters are still caught. [`leak`] checks a scrubbed text (used by the
//! fuzz target).
//!
//! Ordinary numbers stay: years, amounts, article numbers, `14 053`, 9-digit numbers
//! that fail the elfproef. [`scrub_url`] applies the same to every path segment and
//! kept query value of a URL.

use std::sync::LazyLock;

use regex::{Captures, Regex};

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    rx(r"(?i)\b[a-z]{2}\d{2}(?:[a-z0-9]{11,30}|(?: [a-z0-9]{4}){2,7}(?: [a-z0-9]{1,3})?)\b")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| rx(r"(?:\+31|\b0031|\b0)(?:[ .\-]?\(0\))?[ .\-]?\d(?:[ .\-]?\d){8}\b"));
static BSN: LazyLock<Regex> = LazyLock::new(|| rx(r"\b\d(?:[ .\-]?\d){8}\b"));
static POSTCODE: LazyLock<Regex> = LazyLock::new(|| rx(r"\b([1-9]\d{3})( ?)([A-Za-z]{2})\b"));

fn rx(pattern: &str) -> Regex {
    // The patterns are constants covered by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("scrubber pattern compiles")
}

/// Lowercase words that can follow a 4-digit number in ordinary Dutch text.
const NOT_POSTCODE_WORDS: &[&str] = &[
    "en", "de", "te", "na", "al", "ze", "we", "je", "er", "ga", "ja", "zo", "me", "wa", "ha",
];

/// Replaces personal data in free text (see the module documentation).
pub fn scrub_text(text: &str) -> String {
    if !may_hold_personal_data(text) {
        return text.to_owned();
    }
    replace_patterns(text)
}

/// Runs every pattern over `text`, in the order of the module documentation.
fn replace_patterns(text: &str) -> String {
    let s = EMAIL.replace_all(text, "[email]");
    let s = IBAN.replace_all(&s, |c: &Captures<'_>| {
        if iban_valid(&c[0]) {
            "[iban]".to_owned()
        } else {
            c[0].to_owned()
        }
    });
    let s = POSTCODE.replace_all(&s, |c: &Captures<'_>| {
        if is_postcode(&c[2], &c[3]) {
            c[1].to_owned()
        } else {
            c[0].to_owned()
        }
    });
    let s = PHONE.replace_all(&s, "[phone]");
    let s = BSN.replace_all(&s, |c: &Captures<'_>| {
        if elfproef(&c[0]) {
            "[bsn]".to_owned()
        } else {
            c[0].to_owned()
        }
    });
    s.into_owned()
}

/// Whether any pattern can match: an e-mail address needs an `@`, every other pattern
/// digits (`\d` is any Unicode decimal digit; `is_numeric` covers more than those).
/// Most page paths and titles have neither, and skip the regular expressions.
fn may_hold_personal_data(text: &str) -> bool {
    text.contains('@') || text.chars().any(char::is_numeric)
}

/// What kind of personal data is still in `text`, if any: an e-mail address, an IBAN
/// passing mod-97 or a BSN passing the elfproef.
pub fn leak(text: &str) -> Option<&'static str> {
    if EMAIL.is_match(text) {
        return Some("email");
    }
    if IBAN.find_iter(text).any(|m| iban_valid(m.as_str())) {
        return Some("iban");
    }
    if BSN.find_iter(text).any(|m| elfproef(m.as_str())) {
        return Some("bsn");
    }
    None
}

fn is_postcode(space: &str, letters: &str) -> bool {
    let upper = letters.to_ascii_uppercase();
    if upper.bytes().any(|b| b"FIOQUY".contains(&b)) || matches!(upper.as_str(), "SA" | "SD" | "SS")
    {
        return false;
    }
    let lower_word = letters.bytes().all(|b| b.is_ascii_lowercase()) && !space.is_empty();
    !(lower_word && NOT_POSTCODE_WORDS.contains(&letters))
}

/// The Dutch BSN check: 9 digits d1..d9 with 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11),
/// and not all zeros.
pub fn elfproef(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 9 || digits.iter().all(|d| *d == 0) {
        return false;
    }
    let sum: i64 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let weight = if i == 8 { -1 } else { 9 - i as i64 };
            weight * i64::from(*d)
        })
        .sum();
    sum % 11 == 0
}

/// The ISO 13616 IBAN check: move the first 4 characters to the end, letters to
/// numbers (A = 10 … Z = 35), and the number mod 97 must be 1.
pub fn iban_valid(candidate: &str) -> bool {
    let compact: Vec<u8> = candidate
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Scrubs every path segment and query value of a URL in place.
pub fn scrub_url(url: &mut url::Url) {
    // A segment without `%` decodes to itself and is encoded back to itself, so when
    // no segment can hold personal data either, rewriting the path changes nothing.
    let path_may_change = url
        .path_segments()
        .is_some_and(|mut segs| segs.any(|s| s.contains('%') || may_hold_personal_data(s)));
    if path_may_change {
        scrub_path(url);
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), scrub_text(&v)))
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
}

fn scrub_path(url: &mut url::Url) {
    let decoded: Vec<String> = url
        .path_segments()
        .map(|segs| {
            segs.map(|s| {
                let d = percent_decode(s);
                scrub_text(&d)
            })
            .collect()
        })
        .unwrap_or_default();
    if !decoded.is_empty() {
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.clear().extend(decoded.iter());
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_replaced() {
        let cases = [
            // e-mail
            (
                "mail jan.jansen+test@gemeente-utrecht.nl graag",
                "mail [email] graag",
            ),
            ("J.DE.VRIES@EXAMPLE.COM", "[email]"),
            // BSN (111222333 and 123456782 pass the elfproef)
            ("bsn 111222333", "bsn [bsn]"),
            ("mijn bsn is 1234.56.782", "mijn bsn is [bsn]"),
            ("123 456 782 aanvraag", "[bsn] aanvraag"),
            // IBAN, any case, with or without spaces
            ("NL91ABNA0417164300", "[iban]"),
            (
                "rekening nl91 abna 0417 1643 00 betalen",
                "rekening [iban] betalen",
            ),
            ("DE89 3704 0044 0532 0130 00", "[iban]"),
            // phone numbers
            ("bel 06-12345678", "bel [phone]"),
            ("06 12 34 56 78", "[phone]"),
            ("+31 6 12345678", "[phone]"),
            ("+31 (0)20 123 4567", "[phone]"),
            ("0031201234567", "[phone]"),
            ("020-1234567 of 030 123 45 67", "[phone] of [phone]"),
            // postcodes keep the digits
            ("3511 AB Utrecht", "3511 Utrecht"),
            ("postcode 3511ab", "postcode 3511"),
            ("wonen in 1012 jv", "wonen in 1012"),
        ];
        for (input, expected) in cases {
            assert_eq!(scrub_text(input), expected, "input: {input}");
        }
    }

    #[test]
    fn ordinary_numbers_and_words_stay() {
        for keep in [
            "bijstand 2024 en 2025",
            "kwijtschelding 2026",
            "energietoeslag € 1300",
            "bel 14 053",
            "artikel 123456789",
            "NL91ABNA0417164301",
            "factuur 20241115",
            "zorgtoeslag 1234 AF",
            "paspoort aanvragen",
            "0800-1234",
            "pagina 3 van 10",
            "2024 jaaroverzicht",
        ] {
            assert_eq!(scrub_text(keep), keep);
        }
    }

    #[test]
    fn nothing_leaks_after_scrubbing() {
        for input in [
            "1234 AB 56782 x",
            "mail a@b.nl of NL91ABNA0417164300, bsn 111222333",
            "3511AB111222333",
        ] {
            let out = scrub_text(input);
            assert_eq!(leak(&out), None, "{input} -> {out}");
        }
        assert_eq!(leak("bsn 111222333"), Some("bsn"));
    }

    #[test]
    fn skipping_texts_without_digits_or_at_signs_changes_nothing() {
        for text in [
            "werk-en-inkomen",
            "Hulp bij geldzorgen en schulden",
            "schuldhulpverlenig",
            "café ½ prijs",
            "Ⅻ ³ ²",
            "pagina ٣ van ١٠",
            "١١١٢٢٢٣٣٣",
            "jan＠example．nl",
            "jan@example.nl",
            "bsn 111222333",
            "",
        ] {
            assert_eq!(scrub_text(text), replace_patterns(text), "{text}");
            if !may_hold_personal_data(text) {
                assert_eq!(replace_patterns(text), text);
            }
        }
        assert!(!may_hold_personal_data(
            "Kwijtschelding gemeentelijke belastingen"
        ));
        assert!(may_hold_personal_data("pagina ٣"));
    }

    #[test]
    fn elfproef_and_mod97_checks() {
        assert!(elfproef("111222333"));
        assert!(elfproef("123456782"));
        assert!(!elfproef("123456789"));
        assert!(!elfproef("000000000"));
        assert!(!elfproef("12345678"));
        assert!(iban_valid("NL91ABNA0417164300"));
        assert!(iban_valid("gb82 west 1234 5698 7654 32"));
        assert!(!iban_valid("NL91ABNA0417164301"));
        assert!(!iban_valid("NL91"));
    }

    #[test]
    fn skipping_a_path_without_digits_at_signs_or_escapes_changes_nothing() {
        for raw in [
            "https://www.gemeente.nl/werk-en-inkomen/bijstand",
            "https://www.gemeente.nl/werk-en-inkomen/bijstand/",
            "https://www.gemeente.nl/",
            "https://www.gemeente.nl/a//b/./c",
            "https://www.gemeente.nl/caf\u{e9}/stra\u{df}e",
            "https://www.gemeente.nl/a+b/c~d/e!f$g'h(i)j*k,l;m=n:o",
            "https://www.gemeente.nl/a b/c\"d/e<f>g`h{i}j|k^l",
            "https://www.gemeente.nl/zoeken/jan%40example.nl",
            "https://www.gemeente.nl/%7Euser/%2Fx",
            "https://www.gemeente.nl/aanvraag/111222333?x=1",
            "https://www.gemeente.nl/pagina/\u{663}",
        ] {
            let mut fast = url::Url::parse(raw).unwrap();
            scrub_url(&mut fast);
            let mut always = url::Url::parse(raw).unwrap();
            scrub_path(&mut always);
            scrub_url(&mut always);
            assert_eq!(fast.as_str(), always.as_str(), "{raw}");
        }
    }

    #[test]
    fn urls_are_scrubbed_in_path_and_query() {
        let mut u = url::Url::parse("https://www.gemeente.nl/zoeken/jan%40example.nl?q=bsn+111222333&utm_source=06-12345678").unwrap();
        scrub_url(&mut u);
        assert_eq!(
            u.as_str(),
            "https://www.gemeente.nl/zoeken/[email]?q=bsn+%5Bbsn%5D&utm_source=%5Bphone%5D"
        );
        let mut plain =
            url::Url::parse("https://www.gemeente.nl/werk-en-inkomen/bijstand").unwrap();
        scrub_url(&mut plain);
        assert_eq!(
            plain.as_str(),
            "https://www.gemeente.nl/werk-en-inkomen/bijstand"
        );
    }
}
