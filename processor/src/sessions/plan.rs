//! A sessionizer run split into passes of bounded size.

use serde::Deserialize;

/// How many events of one site and day were inserted since a run's `since`.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct NewEvents {
    /// Site.
    pub site: String,
    /// Day (days since the epoch).
    pub day: u16,
    /// New events.
    pub events: u64,
}

/// One pass of a run: the (site, day) pairs it covers, and which share of their
/// visitors (`cityHash64(visitor) % share.1 = share.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Sites and days (days since the epoch).
    pub days: Vec<(String, u16)>,
    /// (bucket, buckets) of the visitor hash.
    pub share: (u64, u64),
}

/// The most (site, day) pairs in one pass, which keeps its SQL short.
const MAX_PAIRS_PER_PASS: usize = 200;

/// Plans a run's passes so that each reads only the (site, day) ranges it covers (the
/// events are ordered by site and day) and sees at most about `per_pass` new events: a
/// pair with more is split by visitor hash over as many passes as it needs, smaller
/// pairs share passes. Every visitor-day with new events is in exactly one pass.
pub fn plan(mut new: Vec<NewEvents>, per_pass: u64) -> Vec<Pass> {
    let per_pass = per_pass.max(1);
    new.sort_by(|a, b| (&a.site, a.day).cmp(&(&b.site, b.day)));
    let mut passes = Vec::new();
    let mut shared = Pass {
        days: Vec::new(),
        share: (0, 1),
    };
    let mut shared_events = 0;
    for n in new.into_iter().filter(|n| n.events > 0) {
        if n.events > per_pass {
            let k = n.events.div_ceil(per_pass);
            passes.extend((0..k).map(|i| Pass {
                days: vec![(n.site.clone(), n.day)],
                share: (i, k),
            }));
            continue;
        }
        if shared_events + n.events > per_pass || shared.days.len() == MAX_PAIRS_PER_PASS {
            passes.push(std::mem::replace(
                &mut shared,
                Pass {
                    days: Vec::new(),
                    share: (0, 1),
                },
            ));
            shared_events = 0;
        }
        shared_events += n.events;
        shared.days.push((n.site, n.day));
    }
    if !shared.days.is_empty() {
        passes.push(shared);
    }
    passes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_planned_in_passes_over_the_days_they_read() {
        let n = |site: &str, day, events| NewEvents {
            site: site.into(),
            day,
            events,
        };
        let passes = plan(
            vec![
                n("b", 2, 40),
                n("a", 1, 250),
                n("b", 1, 70),
                n("c", 1, 0),
                n("b", 3, 30),
            ],
            100,
        );
        let pass = |days: &[(&str, u16)], share| Pass {
            days: days.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect(),
            share,
        };
        assert_eq!(
            passes,
            vec![
                // More new events than a pass takes: split by visitor over three passes.
                pass(&[("a", 1)], (0, 3)),
                pass(&[("a", 1)], (1, 3)),
                pass(&[("a", 1)], (2, 3)),
                // Smaller pairs share a pass while they fit.
                pass(&[("b", 1)], (0, 1)),
                pass(&[("b", 2), ("b", 3)], (0, 1)),
            ]
        );
        let many = (0..450).map(|d| n("a", d, 1)).collect();
        let sizes: Vec<usize> = plan(many, 100_000).iter().map(|p| p.days.len()).collect();
        assert_eq!(sizes, vec![MAX_PAIRS_PER_PASS, MAX_PAIRS_PER_PASS, 50]);
        assert!(plan(Vec::new(), 100).is_empty());
    }
}
