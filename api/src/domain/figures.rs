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
use crate::sql::Periods;

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
