//! `event_counts_daily`: events per site, theme, day and type, with the search and
//! contact figures' page views and searches beside the visits.
//!
//! | column | |
//! |---|---|
//! | `site`, `day` | the site and the calendar day (in `processing.timezone`) |
//! | `theme` | `'*'` every event of the site once, `''` the events no theme matched, else each theme with its ancestors |
//! | `type` | `pageview`, `search` or `action` |
//! | `events` | how many |
//! | `version` | the rewrite that wrote the row (newest wins per (site, day)) |
//!
//! Readers ([`Counts`]) take the last three days (from [`live_from`]) from the raw
//! events themselves, current to the second (a day of a large municipality is a few
//! hundred thousand rows, read by the primary key), and every earlier day from here.
//! So the sessionizer rewrites a day here only once it has *settled* ([`settled_until`]:
//! two days old): each run rewrites the settled (site, day)s that got events since the
//! last run (late events, imports); the first run of each day rewrites the two newest
//! settled days whole ([`settling`]); and after a start and once a day the sessionizer
//! rewrites every settled day that got events after its newest rewrite ([`stale`]: a
//! processor stopped for days). Every day a reader takes
//! from here was thus rewritten after its last event at least a day before the reader
//! stops counting it from the raw events, while today's events, the bulk of every run,
//! are never rewritten here.

use chrono::NaiveDate;

use super::{Rewrite, Scope, EVENT_THEMES};

/// The table.
pub const TABLE: &str = "event_counts_daily";

/// The table's definition (migration 0013).
pub const CREATE: &str = "CREATE TABLE IF NOT EXISTS event_counts_daily
(
    site String,
    theme String,
    day Date,
    type String,
    events UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (site, theme, day, type)";

/// The rewrite of the (site, day)s of `scope` from the raw events.
pub fn rewrite(scope: &Scope) -> Rewrite {
    Rewrite::new(
        format!(
            "INSERT INTO {TABLE} (site, theme, day, type, events, version)
SELECT site, theme, day, type, count() AS events, toUInt64(?) AS version
FROM events
ARRAY JOIN {EVENT_THEMES} AS theme
WHERE {}
GROUP BY site, theme, day, type",
            scope.condition()
        ),
        scope,
    )
}

/// The first day readers count from the raw events: the day before yesterday (`today`
/// in the reporting time zone, which is the processing one).
pub fn live_from(today: NaiveDate) -> NaiveDate {
    today - chrono::Days::new(2)
}

/// The newest day the sessionizer keeps here: the day before yesterday.
pub fn settled_until(today: NaiveDate) -> NaiveDate {
    today - chrono::Days::new(2)
}

/// The days the first sessionizer run of `today` rewrites whole: the two newest settled
/// days.
pub fn settling(today: NaiveDate) -> Scope {
    let last = settled_until(today);
    Scope::Days {
        first: last.pred_opt().unwrap_or(last),
        last,
    }
}

/// The settled days (by `today`) that some site got an event on after the newest
/// rewrite of its counts of that day, or that were never rewritten: what a processor
/// that was stopped for days, or an import of old events, left behind. As runs of
/// consecutive days, each a [`Scope::Days`]. The sessionizer rewrites them after a
/// start and once a day; it reads only `site`, `day` and `inserted_at` of the events.
pub async fn stale(
    client: &clickhouse::Client,
    today: NaiveDate,
) -> Result<Vec<Scope>, crate::StoreError> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Stale {
        n: u16,
    }
    let last = settled_until(today);
    let rows: Vec<Stale> = client
        .query(&format!(
            "SELECT DISTINCT toUInt16(day) AS n FROM
(SELECT site, day, max(inserted_at) AS newest FROM events
 WHERE day <= toDate('{last}') GROUP BY site, day) AS raw
ANY LEFT JOIN
(SELECT site, day, max(version) AS version FROM {TABLE}
 WHERE theme = '*' AND day <= toDate('{last}') GROUP BY site, day) AS counted
USING (site, day)
WHERE intDiv(version, 1000) <= toUInt64(toUInt32(newest))
ORDER BY n"
        ))
        .fetch_all()
        .await?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    let days = rows
        .iter()
        .map(|r| epoch + chrono::Days::new(u64::from(r.n)));
    Ok(runs(days))
}

/// Consecutive days, in order, as [`Scope::Days`].
fn runs(days: impl IntoIterator<Item = NaiveDate>) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    for day in days {
        match out.last_mut() {
            Some(Scope::Days { last, .. }) if last.succ_opt() == Some(day) => *last = day,
            _ => out.push(Scope::Days {
                first: day,
                last: day,
            }),
        }
    }
    out
}

/// The rewrite of a sessionizer run's (site, day)s that are settled (on or before
/// `settled_until(today)`), or `None` when the run touched none.
pub fn rewrite_settled(scope: &Scope, today: NaiveDate) -> Option<Rewrite> {
    let last_settled = settled_until(today);
    match *scope {
        Scope::Touched { first, last, since } if first <= last_settled => {
            Some(rewrite(&Scope::Touched {
                first,
                last: last.min(last_settled),
                since,
            }))
        }
        Scope::Touched { .. } => None,
        _ => Some(rewrite(scope)),
    }
}

/// Which themes a [`Counts`] read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Themes<'a> {
    /// Only `'*'`: the site as a whole.
    Site,
    /// Every theme (not `'*'`, not `''`).
    Each,
    /// One theme.
    Only(&'a str),
}

/// The current counts of one site: a subquery with the columns `theme`, `day`, `type`
/// and `events`, from the aggregate before `live_from` and from the raw events since.
#[derive(Debug, Clone, Copy)]
pub struct Counts<'a> {
    /// The days to read: an SQL condition on `day` of date literals.
    pub days: &'a str,
    /// The first and the last day `days` can hold: a read that ends before `live_from`
    /// does not touch the raw events at all, one that starts on it not the aggregate.
    pub span: (NaiveDate, NaiveDate),
    /// See [`live_from`].
    pub live_from: NaiveDate,
    /// Which themes.
    pub themes: Themes<'a>,
}

impl<'a> Counts<'a> {
    /// The counts of `days` (from `first` to `last`) when the last is before today:
    /// every day of them from the aggregate.
    pub fn settled(days: &'a str, first: NaiveDate, last: NaiveDate, themes: Themes<'a>) -> Self {
        Self {
            days,
            span: (first, last),
            live_from: last.succ_opt().unwrap_or(last),
            themes,
        }
    }

    /// The subquery, in parentheses; bind it with [`Counts::bind`]. The newest version
    /// of each day is found among the rows of the themes asked for only (a rewrite
    /// writes every theme of a (site, day) as one version), which keeps that lookup to
    /// the table's key range of those themes.
    pub fn sql(&self) -> String {
        let live = format!("day >= toDate('{}')", self.live_from);
        let settled = format!("day < toDate('{}')", self.live_from);
        let days = format!("({}) AND {settled}", self.days);
        let (stored_theme, raw) = match self.themes {
            Themes::Site => (
                "theme = '*'",
                format!(
                    "SELECT '*' AS theme, day, type, count() AS events FROM events \
                     WHERE site = ? AND ({}) AND {live} GROUP BY day, type",
                    self.days
                ),
            ),
            Themes::Each => (
                "theme NOT IN ('*', '')",
                format!(
                    "SELECT theme, day, type, count() AS events FROM events ARRAY JOIN themes AS theme \
                     WHERE site = ? AND ({}) AND {live} GROUP BY theme, day, type",
                    self.days
                ),
            ),
            Themes::Only(_) => (
                "theme = ?",
                format!(
                    "SELECT theme, day, type, count() AS events FROM events ARRAY JOIN themes AS theme \
                     WHERE site = ? AND ({}) AND {live} AND theme = ? GROUP BY theme, day, type",
                    self.days
                ),
            ),
        };
        let stored = format!(
            "SELECT theme, day, type, events FROM {}",
            super::newest_rows(TABLE, "?", &format!("{stored_theme} AND {days}"))
        );
        match (self.reads_stored(), self.reads_raw()) {
            (true, true) => format!("({stored} UNION ALL {raw})"),
            (false, true) => format!("({raw})"),
            _ => format!("({stored})"),
        }
    }

    fn reads_stored(&self) -> bool {
        self.span.0 < self.live_from
    }

    fn reads_raw(&self) -> bool {
        self.span.1 >= self.live_from
    }

    /// Binds the site (and the theme) where [`Counts::sql`] has them.
    pub fn bind(&self, q: clickhouse::query::Query, site: &str) -> clickhouse::query::Query {
        let mut q = q;
        let theme = match self.themes {
            Themes::Only(t) => Some(t),
            _ => None,
        };
        let site_and_theme = |q: clickhouse::query::Query| match theme {
            Some(t) => q.bind(site).bind(t),
            None => q.bind(site),
        };
        if self.reads_stored() || !self.reads_raw() {
            q = site_and_theme(q);
            q = site_and_theme(q);
        }
        if self.reads_raw() {
            q = site_and_theme(q);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewrite_counts_every_event_under_the_site_its_themes_or_none() {
        let sql = rewrite(&Scope::All).sql().to_owned();
        assert!(sql.starts_with(
            "INSERT INTO event_counts_daily (site, theme, day, type, events, version)"
        ));
        assert!(
            sql.contains("ARRAY JOIN arrayConcat(['*'], if(empty(themes), [''], themes)) AS theme")
        );
        assert_eq!(sql.matches('?').count(), 1, "the version: {sql}");
    }

    #[test]
    fn counts_read_settled_days_from_the_aggregate_and_the_last_three_from_the_events() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(live_from(day(3)), day(1));
        let days = "day >= toDate('2026-11-20') AND day <= toDate('2026-12-03')";
        let old = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        for (themes, binds) in [
            (Themes::Site, 3),
            (Themes::Each, 3),
            (Themes::Only("schulden"), 6),
        ] {
            let counts = |span| Counts {
                days,
                span,
                live_from: day(1),
                themes,
            };
            let sql = counts((old, day(3))).sql();
            assert_eq!(sql.matches('?').count(), binds, "{sql}");
            assert!(sql.contains("day < toDate('2026-12-01')"), "{sql}");
            assert!(sql.contains("AND day >= toDate('2026-12-01')"), "{sql}");
            assert!(
                sql.starts_with(
                    "(SELECT theme, day, type, events FROM event_counts_daily WHERE site = ?"
                ),
                "{sql}"
            );
            // A period that ends before the live days reads only the aggregate, one
            // that starts on them only the raw events.
            let settled = counts((old, day(1).pred_opt().unwrap())).sql();
            assert!(!settled.contains("FROM events"), "{settled}");
            assert_eq!(settled.matches('?').count(), binds / 3 * 2, "{settled}");
            let live = counts((day(1), day(3))).sql();
            assert!(!live.contains("event_counts_daily"), "{live}");
            assert_eq!(live.matches('?').count(), binds / 3, "{live}");
        }
    }

    #[test]
    fn the_sessionizer_keeps_only_settled_days_here_and_readers_a_day_after_that() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let today = day(10);
        assert_eq!(settled_until(today), day(8));
        assert_eq!(
            settling(today),
            Scope::Days {
                first: day(7),
                last: day(8)
            }
        );
        // The newest settled day is still read from the raw events today, and from
        // here tomorrow, after tomorrow's first run rewrote it once more.
        assert!(live_from(today) <= settled_until(today));
        assert!(live_from(today + chrono::Days::new(1)) > settled_until(today));

        let touched = |first, last| Scope::Touched {
            first,
            last,
            since: 0,
        };
        // Only today's and yesterday's events: nothing to rewrite here.
        assert!(rewrite_settled(&touched(day(9), day(10)), today).is_none());
        // A late event of a settled day: only the settled days are rewritten.
        let late = rewrite_settled(&touched(day(3), day(10)), today).unwrap();
        assert!(
            late.sql().contains("toDate('2026-12-08')"),
            "{}",
            late.sql()
        );
        assert!(
            !late.sql().contains("toDate('2026-12-10')"),
            "{}",
            late.sql()
        );
        // A rebuild asks for every day it names.
        assert!(rewrite_settled(&Scope::All, today).is_some());
    }

    #[test]
    fn stale_days_are_rewritten_as_runs_of_consecutive_days() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let span = |first, last| Scope::Days {
            first: day(first),
            last: day(last),
        };
        assert_eq!(runs([]), vec![]);
        assert_eq!(
            runs([day(1), day(2), day(3), day(5), day(8), day(9)]),
            vec![span(1, 3), span(5, 5), span(8, 9)]
        );
    }
}
