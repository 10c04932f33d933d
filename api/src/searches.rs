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
//! per day and term, and the visitors the union of their visitor sets.

use std::collections::HashMap;

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
        Scope::Site => {
            "(SELECT day, term, max(searches) AS s, max(zero_results) AS z, \
             uniqMergeState(visitors) AS v FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' GROUP BY day, term)"
        }
        Scope::Theme(_) | Scope::Unmatched => {
            "(SELECT term, searches AS s, zero_results AS z, visitors AS v FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND term != '' AND theme = ?)"
        }
    };
    let mut q = c
        .query(&format!(
            "SELECT term, sum(s) AS n_searches, sum(z) AS n_zero, uniqMerge(v) AS n_visitors \
             FROM {source} GROUP BY term HAVING n_visitors >= ?{having} ORDER BY {order_by} LIMIT ?"
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
struct Baseline {
    term: String,
    searches: u64,
}

/// Terms searched more in `p` than on average in the `baseline` periods of the same
/// length just before it; largest increase first.
pub async fn rising(
    c: &Client,
    site: &str,
    p: Period,
    scope: Scope<'_>,
    k: u32,
    baseline: u32,
    limit: u32,
) -> Result<Vec<Rising>, ApiError> {
    // Candidates: every term of the period that passes k (bounded).
    let now = terms(c, site, p, scope, Order::Searches, k, 10_000).await?;
    if now.is_empty() {
        return Ok(Vec::new());
    }
    let before = Period {
        from: p.shifted_back(p.days() as u64 * u64::from(baseline)).from,
        to: p.previous().to,
    };
    let (from, to) = before.bounds();
    let names: Vec<&str> = now.iter().map(|t| t.term.as_str()).collect();
    let source = match scope {
        Scope::Site => {
            "(SELECT day, term, max(searches) AS s FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND has(?, term) GROUP BY day, term)"
        }
        Scope::Theme(_) | Scope::Unmatched => {
            "(SELECT term, searches AS s FROM search_terms_daily \
             WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND has(?, term) AND theme = ?)"
        }
    };
    let mut q = c
        .query(&format!(
            "SELECT term, sum(s) AS searches FROM {source} GROUP BY term"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(&names);
    q = match scope {
        Scope::Site => q,
        Scope::Theme(t) => q.bind(t),
        Scope::Unmatched => q.bind(""),
    };
    let base: HashMap<String, u64> = q
        .fetch_all::<Baseline>()
        .await?
        .into_iter()
        .map(|b| (b.term, b.searches))
        .collect();
    Ok(rank_rising(now, &base, baseline, limit))
}

fn rank_rising(
    now: Vec<Term>,
    base: &HashMap<String, u64>,
    periods: u32,
    limit: u32,
) -> Vec<Rising> {
    let mut out: Vec<(f64, Rising)> = now
        .into_iter()
        .filter_map(|t| {
            let total = base.get(&t.term).copied().unwrap_or(0);
            let avg = total as f64 / f64::from(periods.max(1));
            let increase = t.searches as f64 - avg;
            (increase > 0.0).then(|| {
                let change = (total > 0).then(|| round1(increase / avg * 100.0));
                (
                    increase,
                    Rising {
                        term: t.term,
                        searches: t.searches,
                        visitors: t.visitors,
                        baseline_searches: round1(avg),
                        change_pct: change,
                    },
                )
            })
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.term.cmp(&b.1.term)));
    out.into_iter()
        .take(limit as usize)
        .map(|(_, r)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: &str, searches: u64) -> Term {
        Term {
            term: t.into(),
            searches,
            zero_result_searches: 0,
            visitors: 5,
        }
    }

    #[test]
    fn rising_terms_are_ranked_by_their_increase_over_the_baseline_average() {
        let base: HashMap<String, u64> =
            [("energietoeslag".to_string(), 40), ("afval".into(), 80)].into();
        let r = rank_rising(
            vec![
                term("energietoeslag", 30),
                term("afval", 20),
                term("kwijtschelding", 6),
            ],
            &base,
            4,
            10,
        );
        let got: Vec<(&str, f64, Option<f64>)> = r
            .iter()
            .map(|r| (r.term.as_str(), r.baseline_searches, r.change_pct))
            .collect();
        // energietoeslag: 30 against 10 per week (+20); kwijtschelding new (+6);
        // afval: 20 against 20, not rising.
        assert_eq!(
            got,
            [
                ("energietoeslag", 10.0, Some(200.0)),
                ("kwijtschelding", 0.0, None)
            ]
        );
    }
}
