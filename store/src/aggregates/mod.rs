//! The tables derived from `events`, one module each. A module owns its table's
//! columns, the statement that rewrites the table for the (site, day)s that got new
//! events, and how it is read; the sessionizer, the migrations' backfills and the API
//! all go through it.
//!
//! - [`event_counts`]: events per site, theme, day and type (`event_counts_daily`).
//! - [`search_terms`]: site searches per site, theme, day and term
//!   (`search_term_counts_daily`).
//! - [`contact_channels`]: contacts per site, theme, day and the channel that handles
//!   them (`contact_channels_daily`).
//! - [`visits`]: visits per site, day, theme, channel and device (`visits_daily`) and
//!   their totals (`visit_totals_daily`), from the sessions.
//!
//! Each is rewritten whole per (site, day) with a newer `version` (milliseconds since
//! the epoch at the start of the sessionizer run), so a late event, a replay or a
//! crash never counts anything twice; readers take the newest version of each day
//! ([`newest_of_days`]). Raw events are the record: a rewrite that a crash cut short is
//! done again by the next run.

pub mod contact_channels;
pub mod event_counts;
pub mod search_terms;
pub mod visits;

use chrono::NaiveDate;

use crate::StoreError;

/// Which (site, day)s a rewrite covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Those with events inserted at or after `since` (seconds since the epoch), all on
    /// days from `first` to `last`: a sessionizer run.
    Touched {
        /// The first day with such events.
        first: NaiveDate,
        /// The last.
        last: NaiveDate,
        /// The run looks at events inserted since then.
        since: u32,
    },
    /// Every (site, day) on the days from `first` to `last`: a rebuild.
    Days {
        /// The first day.
        first: NaiveDate,
        /// The last.
        last: NaiveDate,
    },
    /// Every (site, day) of `events`: a backfill.
    All,
}

impl Scope {
    /// The SQL condition selecting the scope's rows of a table with `site` and `day`,
    /// which binds the scope's time (see [`Scope::binds_since`]). Days are written as
    /// literals (dates, never request text), so the condition prunes partitions and
    /// key ranges.
    pub fn condition(&self) -> String {
        match self {
            Scope::Touched { first, last, .. } => {
                let days = days_between(*first, *last);
                format!(
                    "{days} AND (site, day) IN (SELECT site, day FROM events \
                     WHERE {days} AND inserted_at >= toDateTime(?))"
                )
            }
            Scope::Days { first, last } => days_between(*first, *last),
            Scope::All => "1 = 1".to_owned(),
        }
    }

    /// The SQL condition on `day` alone that covers the scope's days.
    pub fn days(&self) -> String {
        match self {
            Scope::Touched { first, last, .. } | Scope::Days { first, last } => {
                days_between(*first, *last)
            }
            Scope::All => "1 = 1".to_owned(),
        }
    }

    /// The time the condition binds, if any.
    pub fn binds_since(&self) -> Option<u32> {
        match self {
            Scope::Touched { since, .. } => Some(*since),
            Scope::Days { .. } | Scope::All => None,
        }
    }
}

/// Rewrites every aggregate for `scope` as `version`, in the order that keeps readers
/// consistent: the visit totals last, so whoever sees a version's totals (the visits
/// the API reports) sees every aggregate of that version. The sessions of the scope
/// must be written first. Event counts are rewritten only for the days of `scope` that
/// have settled by `today` (see [`event_counts`]).
pub async fn rewrite_every(
    client: &clickhouse::Client,
    scope: &Scope,
    today: NaiveDate,
    version: u64,
) -> Result<(), StoreError> {
    if let Some(counts) = event_counts::rewrite_settled(scope, today) {
        counts.run(client, version).await?;
    }
    search_terms::rewrite(scope).run(client, version).await?;
    contact_channels::rewrite(scope)
        .run(client, version)
        .await?;
    visits::rewrite(scope).run(client, version).await?;
    visits::rewrite_totals(scope).run(client, version).await
}

/// The SQL condition on `day` for the days from `first` to `last`, as date literals.
pub fn days_between(first: NaiveDate, last: NaiveDate) -> String {
    format!("day >= toDate('{first}') AND day <= toDate('{last}')")
}

/// A rewrite of one table: an `INSERT … SELECT` that binds the version, then the
/// scope's time where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    sql: String,
    since: Option<u32>,
}

impl Rewrite {
    fn new(sql: String, scope: &Scope) -> Self {
        Self {
            sql,
            since: scope.binds_since(),
        }
    }

    /// The statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Runs it, writing `version`.
    pub async fn run(&self, client: &clickhouse::Client, version: u64) -> Result<(), StoreError> {
        let mut q = client.query(&self.sql).bind(version);
        if let Some(since) = self.since {
            q = q.bind(since);
        }
        q.execute().await?;
        Ok(())
    }
}

/// The rows of `table` (which has `site`, `day` and `version`) of one site on the days
/// `days` selects (an SQL condition on `day` of literals), newest version of each day
/// only: the cells a later rewrite left out (a late event merged two visits) are not
/// read. Binds the site twice; the caller continues the WHERE clause with ` AND …`.
pub fn newest_of_days(table: &str, days: &str) -> String {
    newest_rows(table, "?", days)
}

/// [`newest_of_days`] with the site as the SQL expression `site` (`?` for a bound
/// value; the Grafana dashboards use `'${site}'`, and their test checks that every read
/// of an aggregate there is this fragment). `days` may also hold other conditions on
/// the table's key (a theme): a rewrite writes all of a day's rows with one version,
/// and a newer version of a day has every key the older one had, so they may select
/// the version too.
pub fn newest_rows(table: &str, site: &str, days: &str) -> String {
    newest_rows_joined(table, "", site, days)
}

/// [`newest_rows`] with `join` (an `ARRAY JOIN …` with a leading space, or '') after
/// the table: the rows are repeated by the join, the newest-version lookup is not.
pub fn newest_rows_joined(table: &str, join: &str, site: &str, days: &str) -> String {
    format!(
        "{table}{join} WHERE site = {site} AND ({days}) \
         AND (day, version) IN (SELECT day, max(version) FROM {table} \
         WHERE site = {site} AND ({days}) GROUP BY day)"
    )
}

/// Every table the aggregates write, each with one owner module here.
pub const TABLES: &[&str] = &[
    event_counts::TABLE,
    search_terms::TABLE,
    visits::TABLE,
    visits::TOTALS,
    contact_channels::TABLE,
];

/// The themes an event is counted under in the per-theme aggregates: `'*'` (every
/// event of the site, once), then `''` when no theme matched, else each theme with
/// its ancestors.
pub(crate) const EVENT_THEMES: &str = "arrayConcat(['*'], if(empty(themes), [''], themes))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_rewrites_the_days_that_got_events_since_its_time() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let touched = Scope::Touched {
            first: day(28),
            last: day(29),
            since: 7,
        };
        assert_eq!(
            touched.condition(),
            "day >= toDate('2026-11-28') AND day <= toDate('2026-11-29') AND (site, day) IN \
             (SELECT site, day FROM events WHERE day >= toDate('2026-11-28') AND day <= toDate('2026-11-29') \
             AND inserted_at >= toDateTime(?))"
        );
        assert_eq!(touched.binds_since(), Some(7));
        assert_eq!(Scope::All.binds_since(), None);
        assert!(!Scope::All.condition().contains('?'));
    }
}
