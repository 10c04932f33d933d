//! Which Kafka positions of the events topic ClickHouse holds, as far as this
//! processor knows, and how a batch is checked against that before it is written.
//!
//! Two offsets per partition:
//! - **stored**: every message up to it that this processor handled is in ClickHouse
//!   (it wrote them, or found them there). A message at or below it is a replay and is
//!   dropped without asking ClickHouse.
//! - **bound**: no message above it is in ClickHouse. Every writer raises it in
//!   `kafka_offsets` *before* it inserts rows past it ([`Positions::bounds_to_raise`]),
//!   so it holds even after an insert whose outcome nobody saw (ClickHouse or the
//!   processor died during it). The bound read from ClickHouse when the positions were
//!   loaded covers what anyone wrote before; the bounds this processor raised since
//!   cover only its own, successful, inserts.
//!
//! A message above stored and at or below the loaded bound may or may not be in
//! ClickHouse: an interrupted insert can leave any subset of its rows behind (a part
//! per month, a block per million rows, each committed on its own). Those are looked
//! up by their exact position ([`Probe`]), so whatever landed is never written again
//! and whatever did not is. Above the loaded bound only this processor wrote, and it
//! knows what: nothing is looked up there, so a steady stream is never looked up; after
//! a start, a rebalance or a failed write, the first batches of each partition are.
//!
//! Both are forgotten ([`Positions::forget`]) whenever the outcome of a write is
//! unknown or a rebalance may have let another processor write meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::batch::Batch;

/// The positions of one batch to look up in ClickHouse: the sites and days of its
/// rows (the `events` table is ordered by them, so the lookup reads only their
/// ranges) and, per partition, the lowest and highest offset in question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The sites of the rows looked up.
    pub sites: Vec<String>,
    /// Their days (days since 1970-01-01).
    pub days: Vec<u16>,
    /// (partition, lowest offset, highest offset).
    pub ranges: Vec<(i32, i64, i64)>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Positions {
    loaded: bool,
    /// The bounds as read from ClickHouse.
    loaded_bound: HashMap<i32, i64>,
    /// Those, raised by this processor since.
    bound: HashMap<i32, i64>,
    stored: HashMap<i32, i64>,
}

impl Positions {
    /// Forgets everything; the next write starts from ClickHouse's bounds again.
    pub fn forget(&mut self) {
        self.loaded = false;
        self.loaded_bound.clear();
        self.bound.clear();
        self.stored.clear();
    }

    /// Whether the bounds were read since the last [`Positions::forget`].
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Takes the bounds read from ClickHouse; nothing counts as stored yet.
    pub fn load(&mut self, bounds: HashMap<i32, i64>) {
        self.loaded_bound = bounds.clone();
        self.bound = bounds;
        self.stored.clear();
        self.loaded = true;
    }

    /// Drops the rows at or below their partition's stored offset: replays of what
    /// this processor wrote or found. Returns how many were dropped.
    pub fn drop_stored(&self, batch: &mut Batch) -> usize {
        let before = batch.len();
        batch.retain(|r| self.stored.get(&r.partition).is_none_or(|s| r.offset > *s));
        before - batch.len()
    }

    /// The rows of `batch` that may already be in ClickHouse (above stored, at or
    /// below the loaded bound), or `None` when there are none.
    pub fn probe(&self, batch: &Batch) -> Option<Probe> {
        let mut ranges: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        let mut sites = BTreeSet::new();
        let mut days = BTreeSet::new();
        for r in batch.rows() {
            let above_stored = self.stored.get(&r.partition).is_none_or(|s| r.offset > *s);
            let within_bound = self
                .loaded_bound
                .get(&r.partition)
                .is_some_and(|b| r.offset <= *b);
            if above_stored && within_bound {
                let range = ranges.entry(r.partition).or_insert((r.offset, r.offset));
                range.0 = range.0.min(r.offset);
                range.1 = range.1.max(r.offset);
                sites.insert(r.site);
                days.insert(r.day);
            }
        }
        if ranges.is_empty() {
            return None;
        }
        Some(Probe {
            sites: sites
                .into_iter()
                .filter_map(|i| batch.sites().get(i as usize).cloned())
                .collect(),
            days: days.into_iter().collect(),
            ranges: ranges
                .into_iter()
                .map(|(p, (lo, hi))| (p, lo, hi))
                .collect(),
        })
    }

    /// The bounds to record before `batch` is inserted: for each partition whose rows
    /// go past its bound, its highest offset plus `margin` (so that the next batches
    /// of a steady stream fit under it and need no record of their own).
    pub fn bounds_to_raise(&self, batch: &Batch, margin: i64) -> Vec<(i32, i64)> {
        let mut highest: BTreeMap<i32, i64> = BTreeMap::new();
        for r in batch.rows() {
            let h = highest.entry(r.partition).or_insert(r.offset);
            *h = (*h).max(r.offset);
        }
        highest
            .into_iter()
            .filter(|(p, h)| self.bound.get(p).is_none_or(|b| h > b))
            .map(|(p, h)| (p, h.saturating_add(margin.max(0))))
            .collect()
    }

    /// Records bounds that ClickHouse acknowledged.
    pub fn raised(&mut self, bounds: &[(i32, i64)]) {
        for (p, b) in bounds {
            let current = self.bound.entry(*p).or_insert(*b);
            *current = (*current).max(*b);
        }
    }

    /// Every message of `partition` up to `offset` that this processor handled is in
    /// ClickHouse now.
    pub fn stored_through(&mut self, partition: i32, offset: i64) {
        let s = self.stored.entry(partition).or_insert(offset);
        *s = (*s).max(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::EventRow;

    fn row(site: &str, day: u16, partition: u32, offset: u64) -> EventRow {
        EventRow {
            site: site.into(),
            day,
            kind: "pageview".into(),
            kafka_partition: partition,
            kafka_offset: offset,
            ..EventRow::default()
        }
    }

    fn batch(rows: &[EventRow]) -> Batch {
        Batch::from_rows(rows, &[])
    }

    fn offsets(b: &Batch) -> Vec<(i32, i64)> {
        b.rows().iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn nothing_is_looked_up_above_the_bound_and_replays_are_dropped_below_stored() {
        let mut p = Positions::default();
        p.load(HashMap::from([(0, 10), (1, 3)]));
        let mut b = batch(&[
            row("a", 1, 0, 8),
            row("b", 2, 0, 12),
            row("a", 3, 1, 4),
            row("c", 4, 2, 0),
        ]);
        // Partition 0 up to 10 may be there; 1 above 3 and 2 (no bound) cannot be.
        assert_eq!(
            p.probe(&b),
            Some(Probe {
                sites: vec!["a".into()],
                days: vec![1],
                ranges: vec![(0, 8, 8)],
            })
        );
        assert_eq!(
            p.bounds_to_raise(&b, 100),
            vec![(0, 112), (1, 104), (2, 100)]
        );
        p.stored_through(0, 12);
        assert_eq!(p.drop_stored(&mut b), 2);
        assert_eq!(offsets(&b), vec![(1, 4), (2, 0)]);
        assert_eq!(p.probe(&b), None);
    }

    #[test]
    fn after_forgetting_everything_up_to_the_bound_is_looked_up_again() {
        let mut p = Positions::default();
        p.load(HashMap::from([(0, 20)]));
        p.stored_through(0, 15);
        let b = batch(&[row("a", 1, 0, 14), row("a", 2, 0, 16), row("b", 1, 0, 21)]);
        assert_eq!(p.probe(&b).map(|x| x.ranges), Some(vec![(0, 16, 16)]));
        p.forget();
        assert!(!p.is_loaded());
        p.load(HashMap::from([(0, 20)]));
        let probe = p.probe(&b).unwrap();
        assert_eq!(probe.ranges, vec![(0, 14, 16)]);
        assert_eq!(probe.sites, vec!["a".to_owned()]);
        assert_eq!(probe.days, vec![1, 2]);
    }

    #[test]
    fn a_bound_never_moves_back_and_only_the_loaded_one_is_looked_up_under() {
        let mut p = Positions::default();
        p.load(HashMap::from([(0, 20)]));
        p.raised(&[(0, 50)]);
        p.raised(&[(0, 40)]);
        p.stored_through(0, 10);
        let b = batch(&[row("a", 1, 0, 15), row("a", 1, 0, 45)]);
        assert!(p.bounds_to_raise(&b, 10).is_empty(), "45 is under 50");
        // Up to 20 someone else may have written; above it only this processor did.
        assert_eq!(p.probe(&b).map(|x| x.ranges), Some(vec![(0, 15, 15)]));
    }
}
