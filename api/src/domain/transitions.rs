//! Transitions: what visits did just before and just after one step — a page, or a
//! site search for a term ("after a search").
//!
//! A visit's path is its steps in order (the sessionizer keeps them, migration 0021): a
//! page (its path), a site search (its term), a click out (the host) or a contact (its
//! action or confirmation page), the same step twice in a row once. For every time the
//! step occurs in a visit of the period, the step before it (or the visit's entry, with
//! its channel) and the step after it (or the visit's end, `leave`) are counted. Paths
//! are within one visit of one day: visitor keys rotate daily, so nothing links days.
//! A cell (kind and value) of fewer than k visitors is folded into `other`, so that the
//! cells and `other` add up to the occurrences.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;
use crate::sql::SESSION_STEPS;
use crate::table::{round1, Cell, Tabular};

/// The step whose transitions are asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A page, by its path.
    Page(String),
    /// A site search, by its (normalised) term.
    Search(String),
}

impl Step {
    /// The step of `path=` or `search=`: exactly one of them, a path starting with `/`,
    /// a term of at most 200 characters, neither with control characters.
    pub fn parse(path: Option<&str>, search: Option<&str>) -> Result<Self, ApiError> {
        let bad = |what: &str| ApiError::BadRequest(what.to_owned());
        let step = match (path, search) {
            (Some(p), None) => {
                if !p.starts_with('/') {
                    return Err(bad(
                        "path must start with / (a page path such as /schulden)",
                    ));
                }
                Step::Page(p.to_owned())
            }
            (None, Some(t)) => Step::Search(t.trim().to_lowercase()),
            (Some(_), Some(_)) => return Err(bad("give path or search, not both")),
            (None, None) => {
                return Err(bad(
                    "give path (a page: /schulden) or search (a search term: bijstand)",
                ))
            }
        };
        let value = step.value();
        if value.is_empty() || value.chars().count() > 500 || value.chars().any(char::is_control) {
            return Err(bad(
                "the step must be 1 to 500 characters without control characters",
            ));
        }
        Ok(step)
    }

    /// `page` or `search`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Page(_) => "page",
            Self::Search(_) => "search",
        }
    }

    /// The path or term.
    pub fn value(&self) -> &str {
        match self {
            Self::Page(v) | Self::Search(v) => v,
        }
    }
}

/// One step before or after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransitionCell {
    /// `entry` (the visit started here; value: its channel), `page`, `search`, `out`
    /// (a click out; value: the host), `contact`, `leave` (the visit ended here), or
    /// `other` for the cells below k together.
    pub kind: String,
    /// The channel, path, term, host or contact; '' for `leave` and `other`.
    pub value: String,
    /// Occurrences of the step with this before (or after) it.
    pub count: u64,
    /// Their distinct visitors (per day's visitor key, summed over days).
    pub visitors: u64,
    /// `count` per 100 occurrences of the step.
    pub share_pct: Option<f64>,
    /// For `other`: how many cells it holds (0 otherwise).
    pub folded: u64,
}

/// The transitions of a step in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transitions {
    /// How often the step occurs in the period's visits.
    pub occurrences: u64,
    /// Visits in which it occurs.
    pub visits: u64,
    /// Their distinct visitors.
    pub visitors: u64,
    /// What came just before, most frequent first.
    pub before: Vec<TransitionCell>,
    /// The cells before it of fewer than k visitors, added up (absent when none).
    pub before_other: Option<TransitionCell>,
    /// What came just after, most frequent first.
    pub after: Vec<TransitionCell>,
    /// The cells after it of fewer than k visitors, added up (absent when none).
    pub after_other: Option<TransitionCell>,
}

/// A row of the CSV: a cell with its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRow<'a> {
    /// `before` or `after`.
    pub direction: &'static str,
    /// The cell.
    pub cell: &'a TransitionCell,
}

impl Tabular for TransitionRow<'_> {
    const COLUMNS: &'static [&'static str] = &[
        "direction",
        "kind",
        "value",
        "count",
        "visitors",
        "share_pct",
        "folded",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.direction.into(),
            self.cell.kind.as_str().into(),
            self.cell.value.as_str().into(),
            self.cell.count.into(),
            self.cell.visitors.into(),
            self.cell.share_pct.into(),
            self.cell.folded.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Neighbour {
    kind: String,
    value: String,
    count: u64,
    visitors: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Totals {
    occurrences: u64,
    visits: u64,
    visitors: u64,
}

/// The transitions of `step` in the visits of `site` in `p`, cells of fewer than `k`
/// visitors folded, at most `limit` cells on each side.
pub async fn transitions(
    c: &Client,
    site: &str,
    p: Period,
    step: &Step,
    k: u32,
    limit: u32,
) -> Result<Transitions, ApiError> {
    let (from, to) = p.bounds();
    let of_step = " AND step_kinds[i] = ? AND step_values[i] = ?";
    let query = |select: &str, group: &str| {
        c.query(&format!(
            "SELECT {select} FROM {SESSION_STEPS}{of_step}{group}"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(step.kind())
        .bind(step.value())
    };
    let totals: Vec<Totals> = query(
        "count() AS occurrences, uniqExact(day, visitor, session_id) AS visits, \
         uniqExact(day, visitor) AS visitors",
        "",
    )
    .fetch_all()
    .await?;
    let neighbours = |kind: &str, value: &str| {
        query(
            &format!(
                "{kind} AS kind, {value} AS value, count() AS count, \
                 uniqExact(day, visitor) AS visitors"
            ),
            " GROUP BY kind, value",
        )
        .fetch_all::<Neighbour>()
    };
    let before = neighbours(
        "if(i = 1, 'entry', step_kinds[i - 1])",
        "if(i = 1, channel, step_values[i - 1])",
    )
    .await?;
    let after = neighbours(
        "if(i = length(step_kinds), 'leave', step_kinds[i + 1])",
        "if(i = length(step_kinds), '', step_values[i + 1])",
    )
    .await?;
    let t = totals.into_iter().next().unwrap_or(Totals {
        occurrences: 0,
        visits: 0,
        visitors: 0,
    });
    let (before, before_other) = fold(before, t.occurrences, k, limit);
    let (after, after_other) = fold(after, t.occurrences, k, limit);
    Ok(Transitions {
        occurrences: t.occurrences,
        visits: t.visits,
        visitors: t.visitors,
        before,
        before_other,
        after,
        after_other,
    })
}

fn fold(
    rows: Vec<Neighbour>,
    occurrences: u64,
    k: u32,
    limit: u32,
) -> (Vec<TransitionCell>, Option<TransitionCell>) {
    let mut cells: Vec<TransitionCell> = rows
        .into_iter()
        .map(|r| TransitionCell {
            kind: r.kind,
            value: r.value,
            count: r.count,
            visitors: r.visitors,
            ..TransitionCell::default()
        })
        .collect();
    cells.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)))
    });
    let other = TransitionCell {
        kind: "other".into(),
        ..TransitionCell::default()
    };
    let (cells, other) = below_k(
        cells,
        k,
        limit,
        |c| c.visitors,
        |o, c| {
            o.count += c.count;
            o.visitors += c.visitors;
            o.folded += 1;
        },
        other,
    );
    let share = |mut c: TransitionCell| {
        c.share_pct =
            (occurrences > 0).then(|| round1(100.0 * c.count as f64 / occurrences as f64));
        c
    };
    (cells.into_iter().map(share).collect(), other.map(share))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(kind: &str, value: &str, count: u64, visitors: u64) -> Neighbour {
        Neighbour {
            kind: kind.into(),
            value: value.into(),
            count,
            visitors,
        }
    }

    #[test]
    fn cells_below_k_fold_and_shares_are_of_every_occurrence() {
        let (cells, other) = fold(
            vec![
                n("entry", "search", 6, 6),
                n("page", "/", 8, 5),
                n("search", "bijstand", 2, 2),
            ],
            16,
            5,
            10,
        );
        assert_eq!(cells[0].value, "/");
        assert_eq!(cells[0].share_pct, Some(50.0));
        assert_eq!(cells[1].kind, "entry");
        let other = other.expect("the search is below k");
        assert_eq!(
            (other.count, other.folded, other.share_pct),
            (2, 1, Some(12.5))
        );
    }

    #[test]
    fn a_step_is_one_page_or_one_search_term() {
        assert_eq!(
            Step::parse(Some("/schulden"), None).unwrap(),
            Step::Page("/schulden".into())
        );
        assert_eq!(
            Step::parse(None, Some(" Bijstand ")).unwrap().value(),
            "bijstand"
        );
        for (path, search, msg) in [
            (Some("schulden"), None, "must start with /"),
            (Some("/a"), Some("b"), "not both"),
            (None, None, "give path"),
            (None, Some("a\u{7}"), "control characters"),
        ] {
            let e = Step::parse(path, search).unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
    }
}
