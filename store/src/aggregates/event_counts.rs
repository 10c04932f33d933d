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
//! The sessionizer rewrites it from the raw events, like the other aggregates, so it is
//! exact but up to a run (`sessions.interval_s`) behind. Readers that need the last
//! seconds ([`Counts`]) take the days from `live_from` on from the raw events
//! themselves: today and yesterday, whose events are few enough to count at once
//! (a day of a large municipality is a few hundred thousand rows, read by the primary
//! key), while every earlier day comes from here.

use chrono::NaiveDate;

use super::{newest_of_days, Rewrite, Scope, EVENT_THEMES};

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

/// The first day readers count from the raw events: yesterday (`today` in the
/// processing time zone), so that a day only moves to the aggregate after the
/// sessionizer had all of the next day to rewrite it.
pub fn live_from(today: NaiveDate) -> NaiveDate {
    today.pred_opt().unwrap_or(today)
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
    /// See [`live_from`].
    pub live_from: NaiveDate,
    /// Which themes.
    pub themes: Themes<'a>,
}

impl Counts<'_> {
    /// The subquery, in parentheses; bind it with [`Counts::bind`].
    pub fn sql(&self) -> String {
        let live = format!("day >= toDate('{}')", self.live_from);
        let settled = format!("day < toDate('{}')", self.live_from);
        let days = format!("({}) AND {settled}", self.days);
        let (stored_theme, raw) = match self.themes {
            Themes::Site => (
                " AND theme = '*'",
                format!(
                    "SELECT '*' AS theme, day, type, count() AS events FROM events \
                     WHERE site = ? AND ({}) AND {live} GROUP BY day, type",
                    self.days
                ),
            ),
            Themes::Each => (
                " AND theme NOT IN ('*', '')",
                format!(
                    "SELECT theme, day, type, count() AS events FROM events ARRAY JOIN themes AS theme \
                     WHERE site = ? AND ({}) AND {live} GROUP BY theme, day, type",
                    self.days
                ),
            ),
            Themes::Only(_) => (
                " AND theme = ?",
                format!(
                    "SELECT theme, day, type, count() AS events FROM events ARRAY JOIN themes AS theme \
                     WHERE site = ? AND ({}) AND {live} AND theme = ? GROUP BY theme, day, type",
                    self.days
                ),
            ),
        };
        format!(
            "(SELECT theme, day, type, events FROM {}{stored_theme} UNION ALL {raw})",
            newest_of_days(TABLE, &days)
        )
    }

    /// Binds the site (and the theme) where [`Counts::sql`] has them.
    pub fn bind(&self, q: clickhouse::query::Query, site: &str) -> clickhouse::query::Query {
        let q = q.bind(site).bind(site);
        match self.themes {
            Themes::Only(t) => q.bind(t).bind(site).bind(t),
            _ => q.bind(site),
        }
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
    fn counts_read_settled_days_from_the_aggregate_and_the_last_two_from_the_events() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(live_from(day(2)), day(1));
        let days = "day >= toDate('2026-11-20') AND day <= toDate('2026-12-02')";
        for (themes, binds) in [
            (Themes::Site, 3),
            (Themes::Each, 3),
            (Themes::Only("schulden"), 5),
        ] {
            let sql = Counts {
                days,
                live_from: day(1),
                themes,
            }
            .sql();
            assert_eq!(sql.matches('?').count(), binds, "{sql}");
            assert!(sql.contains("day < toDate('2026-12-01')"), "{sql}");
            assert!(sql.contains("AND day >= toDate('2026-12-01')"), "{sql}");
            assert!(
                sql.starts_with(
                    "(SELECT theme, day, type, events FROM event_counts_daily WHERE site = ?"
                ),
                "{sql}"
            );
        }
    }
}
