//! Search listening: top, rising, zero-result and unmatched search terms.
//!
//! Terms are the processor's normalised terms (lowercase, no diacritics). A term is
//! never shown unless at least `reporting.min_visitors_per_term` (k, default 5)
//! distinct visitors searched it in the period asked: the filter is part of the query
//! (`HAVING visitors >= k`), so a rarer term never leaves ClickHouse.
//!
//! Every list reads `search_term_counts_daily` (migration 0011): searches, zero-result
//! searches and distinct visitors per day, theme and term, with theme `'*'` for all of
//! the site's searches (each once) and `''` for those no theme matched. The sessionizer
//! rewrites it after each run, so the lists are as fresh as the visit figures (a
//! minute by default). Only the newest version of each day is read.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::params::Period;
use crate::table::{round1, Cell, Tabular};

/// Which searches a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// All searches of the site.
    Site,
    /// Searches attributed to this theme (or a sub-theme).
    Theme(&'a str),
    /// Searches no theme matched.
    Unmatched,
}

/// How a list is ordered and filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Most searches first.
    Searches,
    /// Only terms with zero-result searches, most of those first.
    ZeroResults,
}

/// One search term in a period.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize, ToSchema)]
pub struct Term {
    /// The normalised term.
    pub term: String,
    /// Searches for it.
    pub searches: u64,
    /// Of those, searches that found nothing.
    pub zero_result_searches: u64,
    /// Distinct visitors who searched it (never below k).
    pub visitors: u64,
}

impl Tabular for Term {
    const COLUMNS: &'static [&'static str] =
        &["term", "searches", "zero_result_searches", "visitors"];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.term.as_str().into(),
            self.searches.into(),
            self.zero_result_searches.into(),
            self.visitors.into(),
        ]
    }
}

/// A term's figures from a `source` of `term, s, z, v` (searches, zero-result searches,
/// distinct visitors of the day: keys rotate daily, so a period's are the sum) rows.
const TERMS: &str = "SELECT term, sum(s) AS n_searches, sum(z) AS n_zero, sum(v) AS n_visitors";

/// The `day, term, s, z, v` rows of a scope's searches from `from` to `to`, the newest
/// version of each day; bind with [`bind_source`].
const SOURCE: &str = "(SELECT day, term, searches AS s, zero_results AS z, visitors AS v \
     FROM search_term_counts_daily WHERE site = ? AND theme = ? AND day >= toDate(?) AND day <= toDate(?) \
     AND (day, version) IN (SELECT day, max(version) FROM search_term_counts_daily \
     WHERE site = ? AND theme = ? AND day >= toDate(?) AND day <= toDate(?) GROUP BY day))";

/// Binds the parameters of [`SOURCE`].
fn bind_source(
    mut q: clickhouse::query::Query,
    scope: Scope<'_>,
    site: &str,
    from: &str,
    to: &str,
) -> clickhouse::query::Query {
    let theme = match scope {
        Scope::Site => "*",
        Scope::Theme(t) => t,
        Scope::Unmatched => "",
    };
    for _ in 0..2 {
        q = q.bind(site).bind(theme).bind(from).bind(to);
    }
    q
}

/// The site's `limit` most searched terms and its `limit` terms with the most
/// zero-result searches (both at least `k` visitors each, ordered as [`terms`] orders
/// them), from one read: the weekly report shows both.
pub async fn top_and_zero(
    c: &Client,
    site: &str,
    p: Period,
    k: u32,
    limit: u32,
) -> Result<(Vec<Term>, Vec<Term>), ApiError> {
    let (from, to) = p.bounds();
    let q = c.query(&format!(
        "{TERMS} FROM {SOURCE} GROUP BY term HAVING n_visitors >= ?"
    ));
    let all: Vec<Term> = bind_source(q, Scope::Site, site, &from, &to)
        .bind(k)
        .fetch_all()
        .await?;
    let limit = limit as usize;
    let mut zero: Vec<Term> = all
        .iter()
        .filter(|t| t.zero_result_searches > 0)
        .cloned()
        .collect();
    zero.sort_by(|a, b| {
        (b.zero_result_searches, b.searches)
            .cmp(&(a.zero_result_searches, a.searches))
            .then_with(|| a.term.cmp(&b.term))
    });
    zero.truncate(limit);
    let mut top = all;
    top.sort_by(|a, b| {
        b.searches
            .cmp(&a.searches)
            .then_with(|| a.term.cmp(&b.term))
    });
    top.truncate(limit);
    Ok((top, zero))
}

/// The terms of a period, at least `k` visitors each.
pub async fn terms(
    c: &Client,
    site: &str,
    p: Period,
    scope: Scope<'_>,
    order: Order,
    k: u32,
    limit: u32,
) -> Result<Vec<Term>, ApiError> {
    let (from, to) = p.bounds();
    let (having, order_by) = match order {
        Order::Searches => ("", "n_searches DESC, term"),
        Order::ZeroResults => (" AND n_zero > 0", "n_zero DESC, n_searches DESC, term"),
    };
    let q = c.query(&format!(
        "{TERMS} FROM {SOURCE} GROUP BY term HAVING n_visitors >= ?{having} ORDER BY {order_by} LIMIT ?"
    ));
    let q = bind_source(q, scope, site, &from, &to);
    Ok(q.bind(k).bind(limit).fetch_all().await?)
}

/// A term searched more now than in the periods before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rising {
    /// The normalised term.
    pub term: String,
    /// Searches in the period.
    pub searches: u64,
    /// Distinct visitors in the period (never below k).
    pub visitors: u64,
    /// Average searches per period over the baseline periods before it.
    pub baseline_searches: f64,
    /// Change against the baseline in percent; absent when the term is new.
    pub change_pct: Option<f64>,
}

impl Tabular for Rising {
    const COLUMNS: &'static [&'static str] = &[
        "term",
        "searches",
        "visitors",
        "baseline_searches",
        "change_pct",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.term.as_str().into(),
            self.searches.into(),
            self.visitors.into(),
            self.baseline_searches.into(),
            self.change_pct.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct RisingRow {
    term: String,
    now: u64,
    before: u64,
    visitors: u64,
}

/// Terms searched more in `p` than on average in the `baseline` periods of the same
/// length just before it; largest increase first. One query over the period and its
/// baseline: the k-threshold applies to the visitors of the period itself.
pub async fn rising(
    c: &Client,
    site: &str,
    p: Period,
    scope: Scope<'_>,
    k: u32,
    baseline: u32,
    limit: u32,
) -> Result<Vec<Rising>, ApiError> {
    let start = p.shifted_back(p.days() as u64 * u64::from(baseline)).from;
    let (from, to) = (start.to_string(), p.to.to_string());
    let now_from = p.from.to_string();
    let q = c
        .query(&format!(
            "SELECT term, sumIf(s, day >= toDate(?)) AS n_now, sumIf(s, day < toDate(?)) AS n_before, \
             sumIf(v, day >= toDate(?)) AS n_visitors FROM {SOURCE} GROUP BY term \
             HAVING n_visitors >= ? AND n_now * ? > n_before \
             ORDER BY n_now * ? - n_before DESC, term LIMIT ?"
        ))
        .bind(&now_from)
        .bind(&now_from)
        .bind(&now_from);
    let q = bind_source(q, scope, site, &from, &to);
    let rows: Vec<RisingRow> = q
        .bind(k)
        .bind(baseline)
        .bind(baseline)
        .bind(limit)
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|r| r.rising(baseline)).collect())
}

impl RisingRow {
    fn rising(self, periods: u32) -> Rising {
        let avg = self.before as f64 / f64::from(periods.max(1));
        Rising {
            change_pct: (self.before > 0).then(|| round1((self.now as f64 - avg) / avg * 100.0)),
            baseline_searches: round1(avg),
            term: self.term,
            searches: self.now,
            visitors: self.visitors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_term_is_compared_with_its_average_per_baseline_period() {
        let row = |term: &str, now, before| RisingRow {
            term: term.into(),
            now,
            before,
            visitors: 5,
        };
        let r = row("energietoeslag", 30, 40).rising(4);
        assert_eq!(
            (r.searches, r.baseline_searches, r.change_pct),
            (30, 10.0, Some(200.0))
        );
        let r = row("kwijtschelding", 6, 0).rising(4);
        assert_eq!(
            (r.baseline_searches, r.change_pct),
            (0.0, None),
            "a new term"
        );
        let r = row("afval", 7, 3).rising(3);
        assert_eq!((r.baseline_searches, r.change_pct), (1.0, Some(600.0)));
    }
}
