//! E-mail addresses, IBANs and full postcodes in a view.
//!
//! - E-mail: a local part of letters, digits, marks and `_.%+-`, `@`, and a domain of
//!   dot-separated labels of letters, digits, marks and `-` whose last label starts with
//!   a letter: internationalised domains (`bücher.de`, `例え.テスト`) and punycode
//!   (`xn--…`) included.
//! - IBAN: a country code (two letters), two check digits and the country's length of
//!   letters and digits ([`IBAN_LENGTHS`], 15 to 34 for a country not listed), written
//!   compact or with single spaces, in any case, passing the ISO 13616 mod-97 check.
//!   Letters may touch it (`ibanNL91ABNA0417164300`).
//! - Postcode: four digits (not starting with 0) and two letters, with or without one
//!   space, not inside a longer number or word (`pc1234AB` is one, `1234ABC` is not).
//!   A lowercase pair after a space that is a common Dutch word (`2024 en 2025`) is not
//!   a postcode, nor are pairs postcodes never use (with F, I, O, Q, U or Y; SA, SD, SS).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    rx(
        r"[\p{L}\p{N}\p{M}_.%+\-]+@[\p{L}\p{N}\p{M}\-]+(?:\.[\p{L}\p{N}\p{M}\-]+)*\.\p{L}[\p{L}\p{N}\p{M}\-]+",
    )
});
static POSTCODE: LazyLock<Regex> = LazyLock::new(|| rx(r"([1-9][0-9]{3})( ?)([A-Za-z]{2})"));
static IBAN_START: LazyLock<Regex> = LazyLock::new(|| rx(r"[A-Za-z]{2}[0-9]{2}"));

fn rx(pattern: &str) -> Regex {
    // The patterns are constants covered by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("scrubber pattern compiles")
}

/// The e-mail addresses of `text`.
pub fn emails(text: &str) -> Vec<Range<usize>> {
    EMAIL.find_iter(text).map(|m| m.range()).collect()
}

/// IBAN lengths by country (the SWIFT IBAN registry).
pub const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// The IBANs of `text`.
pub fn ibans(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(m) = IBAN_START.find_at(text, from) {
        let country = text[m.start()..m.start() + 2].to_ascii_uppercase();
        let lengths: Vec<usize> = match IBAN_LENGTHS.iter().find(|(c, _)| *c == country) {
            Some((_, n)) => vec![*n],
            None => (15..=34).rev().collect(),
        };
        // The characters after the check digits, single spaces skipped: (byte end, char).
        let mut compact = text[m.start()..m.end()].to_ascii_uppercase();
        let mut ends = Vec::new();
        let mut i = m.end();
        while i < b.len() && compact.len() < 34 {
            if b[i].is_ascii_alphanumeric() {
                compact.push(char::from(b[i].to_ascii_uppercase()));
                ends.push(i + 1);
                i += 1;
            } else if b[i] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
                i += 1;
            } else {
                break;
            }
        }
        let found = lengths.iter().find_map(|&n| {
            let end = *ends.get(n.checked_sub(5)?)?;
            iban_valid(&compact[..n]).then_some(m.start()..end)
        });
        match found {
            Some(r) => {
                from = r.end;
                out.push(r);
            }
            None => from = m.start() + 1,
        }
    }
    out
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

/// Lowercase words that can follow a 4-digit number in ordinary Dutch text.
const NOT_POSTCODE_WORDS: &[&str] = &[
    "en", "de", "te", "na", "al", "ze", "we", "je", "er", "ga", "ja", "zo", "me", "wa", "ha",
];

/// The full postcodes of `text`: the span of the whole postcode and of its digits.
pub fn postcodes(text: &str) -> Vec<(Range<usize>, Range<usize>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(c) = POSTCODE.captures_at(text, from) {
        let (Some(all), Some(digits), Some(space), Some(letters)) =
            (c.get(0), c.get(1), c.get(2), c.get(3))
        else {
            break;
        };
        let digit_before = all.start() > 0 && b[all.start() - 1].is_ascii_digit();
        let letter_after = b.get(all.end()).is_some_and(u8::is_ascii_alphabetic);
        if !digit_before && !letter_after && is_postcode(space.as_str(), letters.as_str()) {
            out.push((all.range(), digits.range()));
            from = all.end();
        } else {
            from = all.start() + 1;
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn all<'a>(text: &'a str, spans: &[Range<usize>]) -> Vec<&'a str> {
        spans.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn emails_with_international_domains() {
        for (text, email) in [
            (
                "mail jan.jansen+test@gemeente-utrecht.nl graag",
                "jan.jansen+test@gemeente-utrecht.nl",
            ),
            ("J.DE.VRIES@EXAMPLE.COM", "J.DE.VRIES@EXAMPLE.COM"),
            ("jan@bucher.de", "jan@bucher.de"),
            ("jan@例え.テスト", "jan@例え.テスト"),
            ("jan@xn--bcher-kva.xn--p1ai", "jan@xn--bcher-kva.xn--p1ai"),
            ("mailjan_1@x.nl!", "mailjan_1@x.nl"),
        ] {
            assert_eq!(all(text, &emails(text)), [email], "{text}");
        }
        assert!(emails("@gemeente op twitter").is_empty());
        assert!(emails("a@b").is_empty());
    }

    #[test]
    fn ibans_of_any_country_in_any_case_glued_or_grouped() {
        for (text, iban) in [
            ("NL91ABNA0417164300", "NL91ABNA0417164300"),
            (
                "rekening nl91 abna 0417 1643 00 betalen",
                "nl91 abna 0417 1643 00",
            ),
            ("DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
            ("ibanNL91ABNA0417164300", "NL91ABNA0417164300"),
            ("NL91ABNA0417164300bsn", "NL91ABNA0417164300"),
            ("gb82 west 1234 5698 7654 32", "gb82 west 1234 5698 7654 32"),
        ] {
            assert_eq!(all(text, &ibans(text)), [iban], "{text}");
        }
        for text in [
            "NL91ABNA0417164301",
            "NL91",
            "nl91 abna",
            "BE68539007547035",
        ] {
            assert!(ibans(text).is_empty(), "{text}");
        }
        assert_eq!(ibans("BE68539007547034").len(), 1);
    }

    #[test]
    fn postcodes_glued_or_spaced_but_not_inside_numbers_or_words() {
        for (text, code) in [
            ("3511 AB Utrecht", "3511 AB"),
            ("postcode 3511ab", "3511ab"),
            ("pc1234AB", "1234AB"),
            ("wonen in 1012 jv", "1012 jv"),
            ("3511AB111222333", "3511AB"),
        ] {
            let spans: Vec<Range<usize>> = postcodes(text).into_iter().map(|(a, _)| a).collect();
            assert_eq!(all(text, &spans), [code], "{text}");
        }
        for text in [
            "bijstand 2024 en 2025",
            "zorgtoeslag 1234 AF",
            "12345 AB",
            "1234ABC",
            "0123 AB",
        ] {
            assert!(postcodes(text).is_empty(), "{text}");
        }
    }
}
