//! Reach figures of a site or its themes over a period, read from the aggregates.
//!
//! | figure | site as a whole | one theme |
//! |---|---|---|
//! | page views, searches | `event_counts_daily` (theme `'*'`), the last three days from `events` | `event_counts_daily`, the last three days from `events` |
//! | distinct visitors | `visit_totals_daily` (sum of days) | `visit_totals_daily` (sum of days) |
//! | zero-result searches | `visit_totals_daily` (search results per visit) | `search_term_counts_daily` |
//! | visits, contacts | `visit_totals_daily` | `visit_totals_daily` (visits touching the theme) |
//!
//! A *contact* is a visit that reached a contact goal (the processor's `[[goals]]`);
//! for a theme, one that reached it at or after touching the theme. Visitors are
//! counted per day's visitor key (it rotates daily), so "distinct visitors" over a
//! period is the sum of distinct visitors per day and visitor: see docs/privacy.md.
//! Sessions are recomputed every `sessions.interval_s`, so visits, visitors, contacts
//! and zero-result figures of the last minute may still grow; page views and searches
//! of the last three days (today included) are counted from the raw events and are current to the
//! second ([`luister_store::aggregates::event_counts`]).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use luister_store::aggregates::event_counts::{Counts, Themes};

use crate::error::ApiError;
use crate::params::Period;

/// The reach figures of one site or theme in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    /// Page views.
    pub pageviews: u64,
    /// Visits (sessions).
    pub visits: u64,
    /// Distinct visitors (per daily visitor key).
    pub visitors: u64,
    /// Site searches.
    pub searches: u64,
    /// Site searches that found nothing.
    pub zero_result_searches: u64,
    /// Visits that reached a contact.
    pub contacts: u64,
}

impl Figures {
    /// The figures by name, in a fixed order (the rows of the reach table).
    pub fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("pageviews", self.pageviews),
            ("visits", self.visits),
            ("visitors", self.visitors),
            ("searches", self.searches),
            ("zero_result_searches", self.zero_result_searches),
            ("contacts", self.contacts),
        ]
    }
}

/// The newest rows of a site and period in one of the daily aggregates the
/// sessionizer rewrites per (site, day) with a version: `visits_daily` (migration
/// 0008: visits per day and theme, by channel, by device and in total (`'*'`)), its
/// totals `visit_totals_daily` and `contact_channels_daily` (migration 0009). Bind with
/// [`bind_newest`]; the caller continues the WHERE clause with ` AND …`. Distinct
/// visitors of a period are the sum of its days': visitor keys rotate daily.
pub(crate) fn newest(table: &str) -> String {
    format!(
        "{table} WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) \
         AND (day, version) IN (SELECT day, max(version) FROM {table} \
         WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) GROUP BY day)"
    )
}

/// Binds site, from and to of [`newest`].
pub(crate) fn bind_newest(
    q: clickhouse::query::Query,
    site: &str,
    from: &str,
    to: &str,
) -> clickhouse::query::Query {
    q.bind(site)
        .bind(from)
        .bind(to)
        .bind(site)
        .bind(from)
        .bind(to)
}

/// The `sessions` rows of a site and period, newest version only, without deleted
/// ones. `deleted` is filtered outside FINAL so that it applies after the merge.
pub(crate) const SESSIONS: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) WHERE deleted = 0";

/// SQL that reads the rows of several periods in one query: `join` repeats each row
/// once per period (`ARRAY JOIN … AS period`, 0-based), `ranges` selects the days of any
/// of them (for the primary key), `within` keeps the rows whose day is in their
/// period. Periods may overlap (a long period and the same one a year before). The
/// days are validated dates, written as literals.
pub(crate) struct Periods {
    pub(crate) join: String,
    pub(crate) ranges: String,
    pub(crate) within: String,
}

impl Periods {
    pub(crate) fn new(periods: &[Period]) -> Self {
        let days = |f: fn(&Period) -> chrono::NaiveDate| {
            let list: Vec<String> = periods
                .iter()
                .map(|p| format!("toDate('{}')", f(p).format("%Y-%m-%d")))
                .collect();
            format!("[{}]", list.join(", "))
        };
        let index: Vec<String> = (0..periods.len()).map(|i| i.to_string()).collect();
        let ranges: Vec<String> = periods
            .iter()
            .map(|p| {
                format!(
                    "(day >= toDate('{}') AND day <= toDate('{}'))",
                    p.from.format("%Y-%m-%d"),
                    p.to.format("%Y-%m-%d")
                )
            })
            .collect();
        Self {
            join: format!("ARRAY JOIN [{}] AS period", index.join(", ")),
            ranges: format!("({})", ranges.join(" OR ")),
            within: format!(
                "day >= {}[period + 1] AND day <= {}[period + 1]",
                days(|p| p.from),
                days(|p| p.to)
            ),
        }
    }

    /// The newest rows of `table` (see [`newest`]) of a site (bind the site twice) in
    /// any of the periods, each once per period it falls in; the caller continues the
    /// WHERE clause with ` AND …`.
    pub(crate) fn newest(&self, table: &str) -> String {
        format!(
            "{table} {join} WHERE site = ? AND {ranges} AND {within} \
             AND (day, version) IN (SELECT day, max(version) FROM {table} \
             WHERE site = ? AND {ranges} GROUP BY day)",
            join = self.join,
            ranges = self.ranges,
            within = self.within
        )
    }
}

/// The first and the last day of any of `periods`.
fn span(periods: &[Period]) -> (NaiveDate, NaiveDate) {
    let first = periods.iter().map(|p| p.from).min();
    let last = periods.iter().map(|p| p.to).max();
    match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => (NaiveDate::MIN, NaiveDate::MAX),
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct PeriodCounts {
    period: u8,
    pageviews: u64,
    searches: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct VisitCounts {
    period: u8,
    visits: u64,
    visitors: u64,
    zero_results: u64,
    contacts: u64,
}

/// The figures of the whole site in each of `periods` (one read for all of them);
/// page views and searches from `live_from` on are counted from the raw events.
pub async fn site(
    c: &Client,
    site: &str,
    periods: &[Period],
    live_from: NaiveDate,
) -> Result<Vec<Figures>, ApiError> {
    let sql = Periods::new(periods);
    let events = Counts {
        days: &sql.ranges,
        span: span(periods),
        live_from,
        themes: Themes::Site,
    };
    let counts = events
        .bind(
            c.query(&format!(
                "SELECT period, sumIf(events, type = 'pageview') AS pageviews, sumIf(events, type = 'search') AS searches \
                 FROM {} {join} WHERE {within} GROUP BY period",
                events.sql(),
                join = sql.join,
                within = sql.within
            )),
            site,
        )
        .fetch_all::<PeriodCounts>();
    let visits = c
        .query(&format!(
            "SELECT period, sum(visits) AS visits, sum(visitors) AS visitors, \
             sum(zero_results) AS zero_results, sum(contacts) AS contacts \
             FROM {} AND theme = '' GROUP BY period",
            sql.newest("visit_totals_daily")
        ))
        .bind(site)
        .bind(site)
        .fetch_all::<VisitCounts>();
    let (counts, visits) = tokio::try_join!(counts, visits)?;
    let mut out = vec![Figures::default(); periods.len()];
    for r in counts {
        if let Some(f) = out.get_mut(usize::from(r.period)) {
            f.pageviews = r.pageviews;
            f.searches = r.searches;
        }
    }
    for r in visits {
        if let Some(f) = out.get_mut(usize::from(r.period)) {
            f.visits = r.visits;
            f.visitors = r.visitors;
            f.zero_result_searches = r.zero_results;
            f.contacts = r.contacts;
        }
    }
    Ok(out)
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ThemeCounts {
    period: u8,
    theme: String,
    pageviews: u64,
    searches: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ThemeZero {
    period: u8,
    theme: String,
    zero_results: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct ThemeVisits {
    period: u8,
    theme: String,
    visits: u64,
    visitors: u64,
    contacts: u64,
}

/// The figures per theme (every level), or of one theme when `only` is given, in each
/// of `periods` (one read of each table for all of them); page views and searches
/// from `live_from` on are counted from the raw events.
pub async fn themes(
    c: &Client,
    site: &str,
    periods: &[Period],
    only: Option<&str>,
    live_from: NaiveDate,
) -> Result<Vec<BTreeMap<String, Figures>>, ApiError> {
    let sql = Periods::new(periods);
    let filter = if only.is_some() { " AND theme = ?" } else { "" };
    let events = Counts {
        days: &sql.ranges,
        span: span(periods),
        live_from,
        themes: only.map_or(Themes::Each, Themes::Only),
    };
    let counts = events
        .bind(
            c.query(&format!(
                "SELECT period, theme, sumIf(events, type = 'pageview') AS pageviews, sumIf(events, type = 'search') AS searches \
                 FROM {} {join} WHERE {within} GROUP BY period, theme",
                events.sql(),
                join = sql.join,
                within = sql.within
            )),
            site,
        )
        .fetch_all::<ThemeCounts>();

    let mut q = c
        .query(&format!(
            "SELECT period, theme, sum(zero_results) AS zero_results FROM {} \
             AND theme NOT IN ('', '*'){filter} GROUP BY period, theme",
            sql.newest("search_term_counts_daily")
        ))
        .bind(site)
        .bind(site);
    if let Some(t) = only {
        q = q.bind(t);
    }
    let zero = q.fetch_all::<ThemeZero>();

    let mut q = c
        .query(&format!(
            "SELECT period, theme, sum(visits) AS visits, sum(visitors) AS visitors, sum(contacts) AS contacts \
             FROM {} AND theme != ''{filter} GROUP BY period, theme",
            sql.newest("visit_totals_daily")
        ))
        .bind(site)
        .bind(site);
    if let Some(t) = only {
        q = q.bind(t);
    }
    let visits = q.fetch_all::<ThemeVisits>();
    let (counts, zero, visits) = tokio::try_join!(counts, zero, visits)?;

    let mut out: Vec<BTreeMap<String, Figures>> = vec![BTreeMap::new(); periods.len()];
    for r in counts {
        if let Some(m) = out.get_mut(usize::from(r.period)) {
            let f = m.entry(r.theme).or_default();
            f.pageviews = r.pageviews;
            f.searches = r.searches;
        }
    }
    for r in zero {
        if let Some(m) = out.get_mut(usize::from(r.period)) {
            m.entry(r.theme).or_default().zero_result_searches = r.zero_results;
        }
    }
    for r in visits {
        if let Some(m) = out.get_mut(usize::from(r.period)) {
            let f = m.entry(r.theme).or_default();
            f.visits = r.visits;
            f.visitors = r.visitors;
            f.contacts = r.contacts;
        }
    }
    if let Some(t) = only {
        for m in &mut out {
            m.entry(t.to_string()).or_default();
        }
    }
    Ok(out)
}

/// Sessions with one row per theme they touched: `theme`, `first_ts` (first touch) and
/// `contact_ts` (first contact at or after it, 0 for none). Binds site, from, to; the
/// caller continues the WHERE clause with ` AND …`.
pub(crate) const SESSIONS_PER_THEME: &str = "(SELECT * FROM sessions FINAL \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?)) \
     ARRAY JOIN themes AS theme, theme_first_ts AS first_ts, theme_contact_ts AS contact_ts \
     WHERE deleted = 0";
