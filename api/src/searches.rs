//! Search listening: top, rising, zero-result and unmatched search terms.
//!
//! Terms are the processor's normalised terms (lowercase, no diacritics). A term is
//! never shown unless at least `reporting.min_visitors_per_term` (k, default 5)
//! distinct visitors searched it in the period asked: the filter is part of the query
//! (`HAVING visitors >= k`), so a rarer term never leaves ClickHouse.
//!
//! `search_terms_daily` holds one row per day, term and theme (with ancestors), so a
//! search attributed to two themes is in two rows. Per theme that is exact. For the
//! whole site, all theme rows of one day and term describe the same searches (the
//! same term gets the same themes), so the site-wide count takes the largest of them
//! per day and term, and the visitors the union of their visitor sets. A theme's rows
//! are summed first (`sumMap` keyed by the theme's hash): each insert adds its own row
//! until ClickHouse merges them, and the largest of those would be one insert's share.

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
/// visitor state) rows.
const TERMS: &str =
    "SELECT term, sum(s) AS n_searches, sum(z) AS n_zero, uniqMerge(v) AS n_visitors";

/// The site's searches per day and term (binds site, from, to): see the module doc.
const SITE_TERMS: &str = "(SELECT day, term, \
     arrayReduce('max', sumMap([cityHash64(theme)], [searches]).2) AS s, \
     arrayReduce('max', sumMap([cityHash64(theme)], [zero_results]).2) AS z, \
     uniqMergeState(visitors) AS v FROM search_terms_daily \
     WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' GROUP BY day, term)";

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
    let all: Vec<Term> = c
        .query(&format!(
            "{TERMS} FROM {SITE_TERMS} GROUP BY term HAVING n_visitors >= ?"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
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
    let source = match scope {
        Scope::Site => SITE_TERMS,
        Scope::Theme(_) | Scope::Unmatched => {
            "(SELECT term, searches AS s, zero_results AS z, visitors AS v FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' AND theme = ?)"
        }
    };
    let mut q = c
        .query(&format!(
            "{TERMS} FROM {source} GROUP BY term HAVING n_visitors >= ?{having} ORDER BY {order_by} LIMIT ?"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to);
    q = match scope {
        Scope::Site => q,
        Scope::Theme(t) => q.bind(t),
        Scope::Unmatched => q.bind(""),
    };
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
    let source = match scope {
        Scope::Site => {
            "(SELECT day, term, arrayReduce('max', sumMap([cityHash64(theme)], [searches]).2) AS s, \
             uniqMergeState(visitors) AS v FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' GROUP BY day, term)"
        }
        Scope::Theme(_) | Scope::Unmatched => {
            "(SELECT day, term, searches AS s, visitors AS v FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' AND theme = ?)"
        }
    };
    let q = c
        .query(&format!(
            "SELECT term, sumIf(s, day >= toDate(?)) AS n_now, sumIf(s, day < toDate(?)) AS n_before, \
             uniqMergeIf(v, day >= toDate(?)) AS n_visitors FROM {source} GROUP BY term \
             HAVING n_visitors >= ? AND n_now * ? > n_before \
             ORDER BY n_now * ? - n_before DESC, term LIMIT ?"
        ))
        .bind(&now_from)
        .bind(&now_from)
        .bind(&now_from)
        .bind(site)
        .bind(&from)
        .bind(&to);
    let q = match scope {
        Scope::Site => q,
        Scope::Theme(t) => q.bind(t),
        Scope::Unmatched => q.bind(""),
    };
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
