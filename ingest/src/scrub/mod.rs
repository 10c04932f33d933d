//! Removing personal data from text before it leaves the collector: one path for
//! every text field of every event kind and protocol.
//!
//! [`scrub_text`] reads a text as its reader would ([`view`]: percent-encoding undone,
//! Unicode compatibility forms, zero-width characters and combining marks, digits of
//! every script, every kind of space and dash), finds personal data in that reading,
//! and replaces it in the original, which is otherwise left exactly as it was:
//! - e-mail addresses → `[email]`
//! - IBANs that pass the ISO 13616 mod-97 check → `[iban]`
//! - phone numbers (Dutch in every common notation, and international with `+`) →
//!   `[phone]`
//! - BSNs (9 digits, grouped any way, passing the elfproef) → `[bsn]`
//! - full postcodes `1234 AB` → their four digits (`1234`)
//!
//! in this order of precedence, wherever they are: glued to letters or underscores
//! (`bsn111222333`, `tel0612345678`, `pc1234AB`, `zaak_111222333_`), spaced with
//! non-breaking or thin spaces, written in full-width or Arabic-Indic digits, or
//! percent-encoded. What each detector takes is in [`patterns`] and [`numbers`].
//! Ordinary numbers stay: years, amounts, dates, article numbers, `14 053`, `0800-1234`,
//! 9-digit numbers that fail the elfproef. [`scrub_url`] applies the same to every path
//! segment, query key and value and the fragment of a URL; [`leak`] tells what
//! personal data a text still holds (the fuzz target and the tests use it).

pub mod numbers;
pub mod patterns;
pub mod view;

use std::ops::Range;

use self::numbers::Kind;
use self::view::View;

pub use self::numbers::elfproef;
pub use self::patterns::iban_valid;

/// What personal data a text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// An e-mail address.
    Email,
    /// An IBAN.
    Iban,
    /// A phone number.
    Phone,
    /// A BSN.
    Bsn,
    /// A full postcode.
    Postcode,
}

impl Found {
    /// A short name, for tests and the fuzz target.
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Email => "email",
            Found::Iban => "iban",
            Found::Phone => "phone",
            Found::Bsn => "bsn",
            Found::Postcode => "postcode",
        }
    }
}

/// A span of the view holding personal data, and what replaces it.
struct Finding {
    span: Range<usize>,
    found: Found,
    /// The replacement: a placeholder, or a postcode's digits.
    with: String,
}

/// Everything personal in `v`, not overlapping, in order.
fn findings(v: &View) -> Vec<Finding> {
    let text = v.text.as_str();
    let mut out: Vec<Finding> = Vec::new();
    let claim = |span: Range<usize>, found: Found, with: String, out: &mut Vec<Finding>| {
        if !out
            .iter()
            .any(|f| f.span.start < span.end && span.start < f.span.end)
        {
            out.push(Finding { span, found, with });
        }
    };
    for span in patterns::emails(text) {
        claim(span, Found::Email, "[email]".into(), &mut out);
    }
    for span in patterns::ibans(text) {
        claim(span, Found::Iban, "[iban]".into(), &mut out);
    }
    for (span, kind) in numbers::find(text) {
        let (found, with) = match kind {
            Kind::Phone => (Found::Phone, "[phone]"),
            Kind::Bsn => (Found::Bsn, "[bsn]"),
        };
        claim(span, found, with.into(), &mut out);
    }
    for (span, digits) in patterns::postcodes(text) {
        claim(span, Found::Postcode, text[digits].to_owned(), &mut out);
    }
    out.sort_by_key(|f| f.span.start);
    out
}

/// How often a text is scrubbed again at most: what one round leaves can read as
/// personal data itself (a postcode's four digits next to five more read as a BSN), so
/// rounds repeat until one finds nothing. Every round removes digits or letters, and
/// texts are at most 1,000 characters; two rounds are the most any test needed.
const MAX_ROUNDS: usize = 32;

/// Replaces personal data in free text (see the module documentation).
pub fn scrub_text(text: &str) -> String {
    if !may_hold_personal_data(text) {
        return text.to_owned();
    }
    let mut current = text.to_owned();
    for _ in 0..MAX_ROUNDS {
        match replaced(&current) {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// One round of [`scrub_text`]: `None` when it finds nothing.
fn replaced(text: &str) -> Option<String> {
    let v = View::of(text);
    let found = findings(&v);
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in found {
        let original = v.origin(f.span);
        if original.start < at {
            continue;
        }
        out.push_str(&text[at..original.start]);
        out.push_str(&f.with);
        at = original.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Whether any detector can match: every one needs a digit or an at sign, which
/// percent-encoding, compatibility forms or other scripts may hide (so `%`, and any
/// numeric or non-ASCII character, send a text to the full reading). Most page paths
/// and titles have none of these and skip it.
fn may_hold_personal_data(text: &str) -> bool {
    text.bytes()
        .any(|b| b.is_ascii_digit() || b == b'@' || b == b'%' || !b.is_ascii())
}

/// The first kind of personal data still in `text`, if any.
pub fn leak(text: &str) -> Option<Found> {
    if !may_hold_personal_data(text) {
        return None;
    }
    findings(&View::of(text)).first().map(|f| f.found)
}

/// Scrubs every path segment, query key and value and the fragment of a URL in place.
pub fn scrub_url(url: &mut url::Url) {
    // A segment without `%` decodes to itself and is encoded back to itself, so when
    // no segment can hold personal data either, rewriting the path changes nothing.
    let path_may_change = url
        .path_segments()
        .is_some_and(|mut segs| segs.any(may_hold_personal_data));
    if path_may_change {
        scrub_path(url);
    }
    if url.query().is_some_and(may_hold_personal_data) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (scrub_text(&k), scrub_text(&v)))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if let Some(fragment) = url.fragment().filter(|f| may_hold_personal_data(f)) {
        let decoded = percent_decode(fragment);
        let scrubbed = scrub_text(&decoded);
        if scrubbed != decoded {
            url.set_fragment(Some(&scrubbed));
        }
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
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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
    fn every_notation_of_personal_data_is_replaced_in_the_original() {
        for (input, expected) in [
            // Glued to letters or underscores.
            ("bsn111222333", "bsn[bsn]"),
            ("tel0612345678", "tel[phone]"),
            ("pc1234AB", "pc1234"),
            ("ibanNL91ABNA0417164300", "iban[iban]"),
            ("zaak_111222333_", "zaak_[bsn]_"),
            // Phone formats.
            ("(06) 12345678", "[phone]"),
            ("06 - 12345678", "[phone]"),
            ("bel +31(0)6-12345678 aub", "bel [phone] aub"),
            // Unicode spaces, full-width forms, other scripts, zero-width characters.
            ("bsn 111\u{a0}222\u{a0}333", "bsn [bsn]"),
            ("111\u{2009}222\u{2009}333", "[bsn]"),
            ("jan＠example．nl graag", "[email] graag"),
            ("１１１２２２３３３", "[bsn]"),
            ("bsn ٦٢٨١٩٤٨٢١ kwijtschelding", "bsn [bsn] kwijtschelding"),
            ("111\u{200b}222333", "[bsn]"),
            ("jan@bücher.de", "[email]"),
            ("jan@例え.テスト", "[email]"),
            // Percent-encoded, once or twice.
            (
                "bsn%20628194821%20kwijtschelding",
                "bsn%20[bsn]%20kwijtschelding",
            ),
            ("jan%40example.nl", "[email]"),
            ("jan%2540example.nl", "[email]"),
            (
                "contact:bsn 628194821 kwijtschelding",
                "contact:bsn [bsn] kwijtschelding",
            ),
        ] {
            assert_eq!(scrub_text(input), expected, "input: {input:?}");
        }
    }

    #[test]
    fn text_around_what_is_replaced_stays_as_it_was_sent() {
        for keep in [
            "café ½ prijs, 12 m²",
            "Ⅻ ³ ²",
            "pagina ٣ van ١٠",
            "Hulp bij geldzorgen – één loket",
            "50% korting op 1 januari",
        ] {
            assert_eq!(scrub_text(keep), keep);
        }
        assert_eq!(
            scrub_text("café ½ prijs, bel 06-12345678 – één loket"),
            "café ½ prijs, bel [phone] – één loket"
        );
    }

    #[test]
    fn nothing_leaks_after_scrubbing() {
        for input in [
            "1234 AB 56782 x",
            "mail a@b.nl of NL91ABNA0417164300, bsn 111222333",
            "3511AB111222333",
            "%31%31%31%32%32%32%33%33%33",
            "bsn: 1 1 1 2 2 2 3 3 3",
        ] {
            let out = scrub_text(input);
            assert_eq!(leak(&out), None, "{input} -> {out}");
        }
        assert_eq!(scrub_text("1234 AB 56782 x"), "[bsn] x");
        // An IBAN that fails mod-97 is not taken for one, but its account number
        // still reads as a phone number.
        assert_eq!(scrub_text("NL91ABNA0417164301"), "NL91ABNA[phone]");
        assert_eq!(leak("bsn 111222333"), Some(Found::Bsn));
        assert_eq!(leak("3511AB111222333"), Some(Found::Postcode));
        assert_eq!(scrub_text("3511AB111222333"), "3511[bsn]");
    }

    #[test]
    fn texts_that_skip_the_full_reading_hold_nothing_it_would_find() {
        for text in [
            "werk-en-inkomen",
            "Hulp bij geldzorgen en schulden",
            "schuldhulpverlenig",
            "",
        ] {
            assert!(!may_hold_personal_data(text), "{text}");
            assert!(findings(&View::of(text)).is_empty());
        }
        for text in ["café", "pagina ٣", "jan＠example", "50%", "a@b", "1"] {
            assert!(may_hold_personal_data(text), "{text}");
        }
    }

    #[test]
    fn mod97_checks() {
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
