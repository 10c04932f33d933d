//! The text the detectors read: what the reader of a field would see, whatever its
//! encoding, with a map back to the original.
//!
//! [`View::of`] undoes, in this order: percent-encoding (up to three layers, so
//! `%2540` is an `@`), Unicode compatibility forms (NFKD per character: full-width
//! `１２３` and `＠`, ligatures, superscripts, circled digits), format characters
//! (zero-width spaces and joiners, soft hyphens, bidirectional marks: dropped), and
//! combining marks (dropped, so `bücher` reads `bucher`); decimal digits of every
//! script become ASCII digits, every kind of space becomes `' '` and every dash `'-'`.
//! Each character of the view remembers the bytes of the original it came from, so a
//! detected span is replaced in the original ([`View::origin`]) and the text around it
//! stays exactly as it was sent.

use std::ops::Range;

use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::char::decompose_compatible;

/// How many layers of percent-encoding are undone.
const PERCENT_LAYERS: usize = 3;

/// The normalised text and, per character, the original bytes it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The text the detectors read.
    pub text: String,
    /// Per character of `text` (by position in `starts`), its original byte range.
    origins: Vec<Range<usize>>,
    /// Byte offset in `text` of each character.
    starts: Vec<usize>,
}

impl View {
    /// The view of `original` (see the module documentation).
    pub fn of(original: &str) -> Self {
        let mut chars: Vec<(char, Range<usize>)> = original
            .char_indices()
            .map(|(i, c)| (c, i..i + c.len_utf8()))
            .collect();
        for _ in 0..PERCENT_LAYERS {
            match percent_decoded(&chars) {
                Some(decoded) => chars = decoded,
                None => break,
            }
        }
        let mut text = String::with_capacity(original.len());
        let mut origins = Vec::with_capacity(chars.len());
        let mut starts = Vec::with_capacity(chars.len());
        for (c, origin) in chars {
            let mut push = |c: char| {
                if let Some(c) = reading(c) {
                    starts.push(text.len());
                    text.push(c);
                    origins.push(origin.clone());
                }
            };
            if c.is_ascii() {
                push(c);
            } else {
                decompose_compatible(c, &mut push);
            }
        }
        Self {
            text,
            origins,
            starts,
        }
    }

    /// The original bytes of the view's bytes `span` (which start and end on
    /// characters of the view).
    pub fn origin(&self, span: Range<usize>) -> Range<usize> {
        let first = self.starts.partition_point(|s| *s < span.start);
        let last = self.starts.partition_point(|s| *s < span.end);
        match (
            self.origins.get(first),
            last.checked_sub(1).and_then(|l| self.origins.get(l)),
        ) {
            (Some(a), Some(b)) if first < last => a.start..b.end,
            _ => 0..0,
        }
    }
}

/// How one character of a decomposition reads: `None` for what a reader does not see.
fn reading(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(c);
    }
    match get_general_category(c) {
        G::Format | G::NonspacingMark | G::EnclosingMark => None,
        G::DecimalNumber => Some(ascii_digit(c)),
        G::SpaceSeparator | G::LineSeparator | G::ParagraphSeparator => Some(' '),
        G::DashPunctuation => Some('-'),
        _ if c.is_whitespace() => Some(' '),
        _ => Some(c),
    }
}

/// The ASCII digit of a decimal digit of any script. Unicode encodes every script's
/// decimal digits as contiguous runs from 0 to 9, so a digit's value is its distance
/// from the start of its run (runs that follow each other directly, such as the
/// mathematical digits, are whole runs of ten).
fn ascii_digit(c: char) -> char {
    let mut before = 0u32;
    let mut code = c as u32;
    while code > 0 {
        code -= 1;
        match char::from_u32(code) {
            Some(p) if get_general_category(p) == G::DecimalNumber => before += 1,
            _ => break,
        }
    }
    char::from_digit(before % 10, 10).unwrap_or('0')
}

/// One layer of percent-decoding: each run of `%HH` triples that is UTF-8 becomes its
/// characters, each remembering the triples it came from. `None` when nothing changed.
fn percent_decoded(chars: &[(char, Range<usize>)]) -> Option<Vec<(char, Range<usize>)>> {
    if !chars.iter().any(|(c, _)| *c == '%') {
        return None;
    }
    let hex = |i: usize| -> Option<u8> {
        let (h, _) = chars.get(i)?;
        let (l, _) = chars.get(i + 1)?;
        let (h, l) = (h.to_digit(16)?, l.to_digit(16)?);
        u8::try_from(h * 16 + l).ok()
    };
    let mut out = Vec::with_capacity(chars.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        // The bytes of consecutive triples, and where each byte came from.
        let mut bytes = Vec::new();
        let mut from = Vec::new();
        let mut j = i;
        while chars.get(j).is_some_and(|(c, _)| *c == '%') {
            let Some(b) = hex(j + 1) else { break };
            bytes.push(b);
            from.push(chars[j].1.start..chars[j + 2].1.end);
            j += 3;
        }
        if bytes.is_empty() {
            out.push(chars[i].clone());
            i += 1;
            continue;
        }
        // Decode what is valid UTF-8; a byte that is not stays as its triple.
        let mut k = 0;
        while k < bytes.len() {
            let len = utf8_len(bytes[k]);
            match bytes
                .get(k..k + len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.chars().next())
            {
                Some(c) => {
                    out.push((c, from[k].start..from[k + len - 1].end));
                    changed = true;
                    k += len;
                }
                None => {
                    let t = i + 3 * k;
                    out.extend(chars[t..t + 3].iter().cloned());
                    k += 1;
                }
            }
        }
        i = j;
    }
    changed.then_some(out)
}

/// The length of the UTF-8 sequence a byte starts (1 for a byte that starts none).
fn utf8_len(b: u8) -> usize {
    match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_reads_as_what_a_reader_sees() {
        for (original, reads) in [
            ("bsn%20111222333", "bsn 111222333"),
            ("jan%2540example.nl", "jan@example.nl"),
            ("jan%252540example.nl", "jan@example.nl"),
            ("jan＠example．nl", "jan@example.nl"),
            ("１１１２２２３３３", "111222333"),
            ("٦٢٨١٩٤٨٢١", "628194821"),
            ("१२३", "123"),
            ("𝟙𝟚𝟛", "123"),
            ("111\u{a0}222\u{202f}333", "111 222 333"),
            ("111\u{200b}222\u{ad}333", "111222333"),
            ("06\u{2013}12345678", "06-12345678"),
            ("bücher", "bucher"),
            ("café", "cafe"),
            ("50% korting", "50% korting"),
            ("%E2%82%AC 10", "€ 10"),
            ("%FF%41", "%FFA"),
            ("", ""),
        ] {
            assert_eq!(View::of(original).text, reads, "{original:?}");
        }
    }

    #[test]
    fn a_span_of_the_view_maps_back_to_the_original_bytes() {
        let original = "bel %2B31 ６ 12345678 nu";
        let v = View::of(original);
        assert_eq!(v.text, "bel +31 6 12345678 nu");
        let start = v.text.find('+').unwrap();
        let end = v.text.find(" nu").unwrap();
        let o = v.origin(start..end);
        assert_eq!(&original[o], "%2B31 ６ 12345678");
        let a = View::of("٦٢٨");
        assert_eq!(&"٦٢٨"[a.origin(1..2)], "٢");
    }
}
