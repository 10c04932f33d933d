//! Phone numbers and BSNs: runs of digits, however they are grouped or glued.
//!
//! A *run* is a stretch of digit groups separated by at most three of `' '`, `.`, `-`,
//! `/`, `(` and `)` (so `06 - 12345678`, `(06) 12345678`, `1234.56.782`), that starts
//! after any character but a digit: letters and underscores may touch it
//! (`tel0612345678`, `zaak_111222333_`). Within a run, the groups that form
//! - a Dutch phone number: ten digits starting with one `0` (`06 12 34 56 78`,
//!   `020-1234567`), or `+31`/`0031` and nine more, with an optional `(0)` after the
//!   country code (`+31 (0)20 1234567`; `31 6 12345678` and `31612345678` too, as a
//!   `+` in a query string reads as a space);
//! - an international one: `+` and 8 to 15 digits;
//! - a BSN: nine digits passing the elfproef;
//!
//! are reported, whole groups only (a longer number is not a phone number or BSN
//! because nine of its digits would be). Phone numbers are looked for first.

use std::ops::Range;

/// What a span of digits is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A phone number.
    Phone,
    /// A BSN.
    Bsn,
}

/// One group of consecutive ASCII digits in the view.
#[derive(Debug, Clone)]
struct Group {
    span: Range<usize>,
    digits: String,
    /// Written as `(0)` (the trunk zero after a country code).
    trunk_zero: bool,
    /// A `+` precedes it in the gap before it.
    plus: bool,
}

const SEPARATORS: &[u8] = b" .-/()";
const MAX_GAP: usize = 3;
/// The most digits of anything looked for (an international phone number).
const MAX_DIGITS: usize = 15;

/// The runs of `text` (see the module documentation), each its groups.
fn runs(text: &str) -> Vec<Vec<Group>> {
    let b = text.as_bytes();
    let mut runs: Vec<Vec<Group>> = Vec::new();
    let mut current: Vec<Group> = Vec::new();
    let mut i = 0;
    // Where the gap since the last group began, if the current run is still open.
    let mut gap_start = 0usize;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let gap = &b[gap_start.min(start)..start];
            let continues = !current.is_empty()
                && gap.len() <= MAX_GAP
                && gap.iter().all(|c| SEPARATORS.contains(c));
            if !current.is_empty() && !continues {
                runs.push(std::mem::take(&mut current));
            }
            let before = &b[..start];
            let plus = before.last() == Some(&b'+')
                || (before.len() >= 2 && before.ends_with(b"+ "))
                || (before.len() >= 2 && before.ends_with(b"+("));
            current.push(Group {
                span: start..i,
                digits: text[start..i].to_owned(),
                trunk_zero: &text[start..i] == "0"
                    && before.last() == Some(&b'(')
                    && b.get(i) == Some(&b')'),
                plus,
            });
            gap_start = i;
        } else {
            if !current.is_empty()
                && (!SEPARATORS.contains(&b[i]) || i - gap_start >= MAX_GAP)
                && b[i] != b'+'
            {
                runs.push(std::mem::take(&mut current));
            }
            i += 1;
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// What the groups `g[i..=j]` form, if anything.
fn kind_of(g: &[Group]) -> Option<Kind> {
    let first = g.first()?;
    // The trunk zero counts only right after a country code.
    let digits: String = g
        .iter()
        .enumerate()
        .filter(|(k, x)| !(x.trunk_zero && *k > 0))
        .map(|(_, x)| x.digits.as_str())
        .collect();
    let n = digits.len();
    if first.trunk_zero {
        return None;
    }
    let national = n == 10 && digits.starts_with('0') && !digits.starts_with("00");
    // `31` without its `+` too: a `+` in a query string reads as a space.
    let country = (n == 11 && digits.starts_with("31") && !digits[2..].starts_with('0'))
        || (n == 13 && digits.starts_with("0031"));
    let international = first.plus && (8..=15).contains(&n);
    if national || country || international {
        return Some(Kind::Phone);
    }
    (n == 9 && g.iter().all(|x| !x.trunk_zero) && elfproef(&digits)).then_some(Kind::Bsn)
}

/// The phone numbers and BSNs of `text` (a view), as byte spans, not overlapping.
pub fn find(text: &str) -> Vec<(Range<usize>, Kind)> {
    let mut out = Vec::new();
    for run in runs(text) {
        let mut taken = vec![false; run.len()];
        for wanted in [Kind::Phone, Kind::Bsn] {
            let mut i = 0;
            while i < run.len() {
                // The longest free sequence of groups from i that is a `wanted`; no
                // number looked for has more than 15 digits, which bounds the search.
                let mut found = None;
                let mut digits = 0;
                for j in i..run.len() {
                    digits += run[j].digits.len();
                    if digits > MAX_DIGITS || taken[j] {
                        break;
                    }
                    if kind_of(&run[i..=j]) == Some(wanted) {
                        found = Some(j);
                    }
                }
                match found {
                    Some(j) => {
                        let mut start = if run[i].plus && wanted == Kind::Phone {
                            plus_start(text, run[i].span.start)
                        } else {
                            run[i].span.start
                        };
                        // `(06) 12345678`: the parenthesis goes with the number.
                        if text[..start].ends_with('(') {
                            start -= 1;
                        }
                        let end = if run[j].trunk_zero {
                            run[j].span.end + 1
                        } else {
                            run[j].span.end
                        };
                        out.push((start..end, wanted));
                        taken[i..=j].iter_mut().for_each(|t| *t = true);
                        i = j + 1;
                    }
                    None => i += 1,
                }
            }
        }
    }
    out.sort_by_key(|(s, _)| s.start);
    out
}

/// Where the `+` before the digits at `digits_start` is (the span of a phone number
/// includes it).
fn plus_start(text: &str, digits_start: usize) -> usize {
    text[..digits_start].rfind('+').unwrap_or(digits_start)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&str, Kind)> {
        find(text).into_iter().map(|(r, k)| (&text[r], k)).collect()
    }

    #[test]
    fn phone_numbers_in_every_notation() {
        for (text, phone) in [
            ("bel 06-12345678", "06-12345678"),
            ("06 12 34 56 78", "06 12 34 56 78"),
            ("(06) 12345678 graag", "(06) 12345678"),
            ("06 - 12345678", "06 - 12345678"),
            ("tel0612345678", "0612345678"),
            ("+31 6 12345678", "+31 6 12345678"),
            ("q= 31 (0)6 12345678", "31 (0)6 12345678"),
            ("tel: 31612345678", "31612345678"),
            ("+31 (0)20 123 4567", "+31 (0)20 123 4567"),
            ("+31(0)201234567", "+31(0)201234567"),
            ("0031 20 123 4567", "0031 20 123 4567"),
            ("020.123.45.67", "020.123.45.67"),
            ("+32 2 123 45 67", "+32 2 123 45 67"),
            ("nr_0612345678_x", "0612345678"),
        ] {
            assert_eq!(found(text), [(phone, Kind::Phone)], "{text}");
        }
    }

    #[test]
    fn bsns_in_every_notation() {
        for (text, bsn) in [
            ("bsn 111222333", "111222333"),
            ("bsn111222333", "111222333"),
            ("zaak_111222333_", "111222333"),
            ("1234.56.782", "1234.56.782"),
            ("123 456 782 aanvraag", "123 456 782"),
            ("123-456-782", "123-456-782"),
            ("2024 111222333", "111222333"),
            ("111222333 2025", "111222333"),
        ] {
            assert_eq!(found(text), [(bsn, Kind::Bsn)], "{text}");
        }
    }

    #[test]
    fn ordinary_numbers_are_neither() {
        for text in [
            "bijstand 2024 en 2025",
            "bel 14 053",
            "0800-1234",
            "artikel 123456789",
            "1111222333",
            "factuur 20241115",
            "12-03-1961",
            "€ 1.300,-",
            "pagina 3 van 10",
            "zaak 2024-001234",
            "3 + 4",
            "(0)",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn a_phone_number_and_a_bsn_side_by_side_are_both_found() {
        assert_eq!(
            found("06-12345678 111222333"),
            [("06-12345678", Kind::Phone), ("111222333", Kind::Bsn)]
        );
        assert_eq!(
            found("020-1234567 of 030 123 45 67"),
            [("020-1234567", Kind::Phone), ("030 123 45 67", Kind::Phone)]
        );
    }

    #[test]
    fn elfproef_checks() {
        assert!(elfproef("111222333"));
        assert!(elfproef("123456782"));
        assert!(!elfproef("123456789"));
        assert!(!elfproef("000000000"));
        assert!(!elfproef("12345678"));
    }
}
