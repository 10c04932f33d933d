//! A batch of rows on its way to ClickHouse, held compactly.
//!
//! Each row is encoded for the `INSERT` (ClickHouse's RowBinary) as soon as it is made,
//! and the batch keeps of it only what the write path still needs: its Kafka position
//! (the watermarks, a rebalance), where its bytes are, its time and the metric labels it
//! counts under. That is the encoded size plus a few dozen bytes a row instead of the
//! whole [`EventRow`] (about a kilobyte more), so a batch of the same memory holds more
//! rows, and ClickHouse gets fewer, larger inserts to write and merge. A row is decoded
//! again only when ClickHouse refuses the batch and it goes to the dead-letter topic.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use crate::row::{DecodeError, EventRow};

/// What the metrics count a row under (`ProcessorMetrics::count_rows`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// The site, or `other` for a site not listed in `metrics.sites`.
    pub site: String,
    /// The top-level themes, or `none`.
    pub themes: Vec<String>,
    /// Event type.
    pub kind: String,
    /// A site search without results.
    pub zero_result: bool,
    /// A contact action.
    pub contact: bool,
}

/// A row's [`Labels`], borrowed from the row: the one place that says what a row is
/// counted under, for both matching a known label set and building a new one.
struct LabelsOf<'a> {
    site: &'a str,
    row: &'a EventRow,
    zero_result: bool,
    contact: bool,
}

impl<'a> LabelsOf<'a> {
    fn new(row: &'a EventRow, sites: &[String]) -> Self {
        Self {
            site: if sites.contains(&row.site) {
                row.site.as_str()
            } else {
                "other"
            },
            row,
            zero_result: row.kind == "search" && row.search_results == 0,
            contact: row.action_name.starts_with("contact:"),
        }
    }

    /// The top-level themes, or `none`.
    fn themes(&self) -> impl Iterator<Item = &'a str> {
        let themes = &self.row.themes;
        let none = !themes.iter().any(|t| !t.contains('/'));
        themes
            .iter()
            .map(String::as_str)
            .filter(|t| !t.contains('/'))
            .chain(none.then_some("none"))
    }

    fn hash(&self) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        (
            self.site,
            self.row.kind.as_str(),
            self.zero_result,
            self.contact,
        )
            .hash(&mut h);
        self.themes().for_each(|t| t.hash(&mut h));
        h.finish()
    }

    fn matches(&self, l: &Labels) -> bool {
        l.site == self.site
            && l.kind == self.row.kind
            && (l.zero_result, l.contact) == (self.zero_result, self.contact)
            && l.themes.iter().map(String::as_str).eq(self.themes())
    }

    fn to_labels(&self) -> Labels {
        Labels {
            site: self.site.to_owned(),
            themes: self.themes().map(str::to_owned).collect(),
            kind: self.row.kind.clone(),
            zero_result: self.zero_result,
            contact: self.contact,
        }
    }
}

/// One row of a [`Batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef {
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
    /// Event time, seconds.
    pub ts: u32,
    /// Calendar day (days since 1970-01-01), for finding the row in ClickHouse.
    pub day: u16,
    /// Index of its site in [`Batch::sites`].
    pub site: u32,
    /// Index of its [`Labels`] in the batch.
    pub labels: u32,
    start: u32,
    len: u32,
}

/// Builds a [`Batch`] row by row.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    body: Vec<u8>,
    rows: Vec<RowRef>,
    labels: Vec<Labels>,
    sites: Vec<String>,
    /// Indexes into `labels` by a hash of the row's label values, so that a row whose
    /// labels are known already is matched without building them.
    index: HashMap<u64, Vec<u32>>,
}

impl BatchBuilder {
    /// Room for about `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            // About 400 bytes a municipal page view; a guess only sizes the first allocation.
            body: Vec::with_capacity(rows * 400),
            rows: Vec::with_capacity(rows),
            ..Self::default()
        }
    }

    /// Encodes `row` and keeps its reference; `sites` are the sites the metrics name.
    pub fn push(&mut self, row: &EventRow, sites: &[String]) {
        let start = self.body.len();
        row.write_row_binary(&mut self.body);
        let labels = self.labels_of(row, sites);
        // A batch holds few sites; the previous row's is the likeliest.
        let previous = self.rows.last().map(|r| r.site as usize);
        let site = match previous
            .filter(|&i| self.sites[i] == row.site)
            .or_else(|| self.sites.iter().position(|s| *s == row.site))
        {
            Some(i) => i,
            None => {
                self.sites.push(row.site.clone());
                self.sites.len() - 1
            }
        };
        self.rows.push(RowRef {
            partition: row.kafka_partition as i32,
            offset: row.kafka_offset as i64,
            ts: row.ts,
            day: row.day,
            site: site as u32,
            labels,
            start: start as u32,
            len: (self.body.len() - start) as u32,
        });
    }

    /// The index of `row`'s [`Labels`], added when new; only a new label set allocates.
    fn labels_of(&mut self, row: &EventRow, sites: &[String]) -> u32 {
        let of = LabelsOf::new(row, sites);
        let key = of.hash();
        let known = self.index.get(&key).and_then(|candidates| {
            candidates
                .iter()
                .copied()
                .find(|&i| of.matches(&self.labels[i as usize]))
        });
        if let Some(i) = known {
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(of.to_labels());
        self.index.entry(key).or_default().push(i);
        i
    }

    /// The batch.
    pub fn finish(self) -> Batch {
        Batch {
            body: self.body.into(),
            rows: self.rows,
            labels: self.labels,
            sites: self.sites,
            compact: true,
        }
    }
}

/// Rows encoded for one `INSERT … FORMAT RowBinary`, in order, with their references.
#[derive(Debug, Clone)]
pub struct Batch {
    body: Bytes,
    rows: Vec<RowRef>,
    labels: Vec<Labels>,
    /// The sites of its rows, each once ([`RowRef::site`]).
    sites: Vec<String>,
    /// `rows` cover `body` exactly, in order (no row dropped since it was encoded).
    compact: bool,
}

impl Batch {
    /// A batch of `rows`, in order.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a EventRow>, sites: &[String]) -> Self {
        let mut b = BatchBuilder::default();
        for r in rows {
            b.push(r, sites);
        }
        b.finish()
    }

    /// Its rows, in order.
    pub fn rows(&self) -> &[RowRef] {
        &self.rows
    }

    /// The label sets its rows refer to.
    pub fn labels(&self) -> &[Labels] {
        &self.labels
    }

    /// The sites its rows refer to ([`RowRef::site`]).
    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Keeps the rows for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&RowRef) -> bool) {
        let before = self.rows.len();
        self.rows.retain(|r| keep(r));
        if self.rows.len() != before {
            self.compact = false;
        }
    }

    /// Keeps the first row of each Kafka position: a rebalance while a batch was read
    /// makes the consumer deliver messages again, into the same batch.
    pub fn keep_first_of_each_offset(&mut self) {
        let mut seen = std::collections::HashSet::with_capacity(self.rows.len());
        self.retain(|r| seen.insert((r.partition, r.offset)));
    }

    /// The body of the `INSERT`: the encoded rows still in the batch, in order.
    pub fn body(&mut self) -> Bytes {
        if !self.compact {
            let mut body = Vec::with_capacity(self.rows.iter().map(|r| r.len as usize).sum());
            for r in &mut self.rows {
                let start = body.len();
                body.extend_from_slice(&self.body[r.start as usize..(r.start + r.len) as usize]);
                r.start = start as u32;
            }
            self.body = body.into();
            self.compact = true;
        }
        self.body.clone()
    }

    /// Its rows decoded again (for the dead-letter topic).
    pub fn decode(&self) -> Result<Vec<EventRow>, DecodeError> {
        self.rows
            .iter()
            .map(|r| {
                let mut bytes = &self.body[r.start as usize..(r.start + r.len) as usize];
                let row = EventRow::read_row_binary(&mut bytes)?;
                if bytes.is_empty() {
                    Ok(row)
                } else {
                    Err(DecodeError::Trailing(bytes.len()))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(partition: u32, offset: u64, kind: &str, themes: &[&str]) -> EventRow {
        EventRow {
            site: "demo".into(),
            day: 20_000,
            ts: 1_764_000_000 + offset as u32,
            kind: kind.into(),
            visitor: format!("v{offset}"),
            url: format!("https://www.gemeente.nl/schulden?p={offset}"),
            path: "/schulden".into(),
            client_ts: 1_764_000_001,
            referrer: "https://www.google.nl/".into(),
            title: "Hulp bij geldzorgen — één loket".into(),
            device: "mobile".into(),
            browser: "Firefox".into(),
            screen_width: 390,
            language: "nl".into(),
            search_query: String::new(),
            search_results: -1,
            search_category: String::new(),
            action_name: if kind == "action" {
                "contact:phone".into()
            } else {
                String::new()
            },
            action_target: String::new(),
            themes: themes.iter().map(|t| (*t).to_owned()).collect(),
            channel: "search".into(),
            search_term: String::new(),
            kafka_topic: "events".into(),
            kafka_partition: partition,
            kafka_offset: offset,
            ..EventRow::default()
        }
    }

    #[test]
    fn rows_decode_to_what_was_encoded_after_rows_are_dropped() {
        let rows = [
            row(0, 1, "pageview", &["schulden/beslag", "schulden"]),
            row(1, 1, "action", &[]),
            row(0, 2, "pageview", &["schulden"]),
            row(0, 1, "pageview", &["schulden/beslag", "schulden"]),
        ];
        let mut b = Batch::from_rows(&rows, &["demo".to_owned()]);
        assert_eq!(b.decode().unwrap(), rows);
        let whole = b.body();
        b.keep_first_of_each_offset();
        b.retain(|r| r.partition == 0);
        assert_eq!(b.decode().unwrap(), [rows[0].clone(), rows[2].clone()]);
        let body = b.body();
        assert!(body.len() < whole.len());
        assert_eq!(b.decode().unwrap(), [rows[0].clone(), rows[2].clone()]);
        // The body is exactly those two rows, as the encoder writes them.
        let mut expected = Vec::new();
        rows[0].write_row_binary(&mut expected);
        rows[2].write_row_binary(&mut expected);
        assert_eq!(&body[..], &expected[..]);
    }

    #[test]
    fn rows_with_the_same_labels_share_them() {
        let rows = [
            row(0, 1, "pageview", &["schulden/beslag", "schulden"]),
            row(0, 2, "pageview", &["schulden"]),
            row(0, 3, "action", &[]),
        ];
        let b = Batch::from_rows(&rows, &[]);
        assert_eq!(b.labels().len(), 2);
        let l = &b.labels()[b.rows()[0].labels as usize];
        assert_eq!(
            (l.site.as_str(), l.themes.clone(), l.contact),
            ("other", vec!["schulden".to_owned()], false)
        );
        assert_eq!(b.rows()[1].labels, b.rows()[0].labels);
        let l = &b.labels()[b.rows()[2].labels as usize];
        assert_eq!(
            (l.themes.clone(), l.contact),
            (vec!["none".to_owned()], true)
        );
    }
}
