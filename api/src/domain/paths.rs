//! Paths to contact: the roads residents take through the site before they ask for help
//! with a theme, and where those who never ask leave.
//!
//! A visit's path is its steps (the sessionizer keeps them, migration 0021), each made
//! a theme-level group: a page is `page:<its top-level theme>` (`page:none` for a page
//! without one), a site search `search`, a click out `out`, a contact `contact`; the
//! same group twice in a row is one step. Per theme, over the visits that touched it: the
//! paths that ended in a contact (cut at the visit's first contact), with the time from
//! the visit's start to that contact, and the paths of the visits without a contact, with
//! the visit's duration; for both the median number of steps. Beside them the pages the
//! visits without a contact left from. Paths are within one visit of one day (visitor
//! keys rotate daily). A path or page of fewer than k visitors is folded into `other`.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;
use crate::sql::SESSIONS;
use crate::table::{round1, Cell, Tabular};

/// One path and the visits that took it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PathFigures {
    /// The steps in order (`page:schulden`, `search`, `out`, `contact`); empty for
    /// `other`.
    pub steps: Vec<String>,
    /// Visits that took it.
    pub visits: u64,
    /// Their distinct visitors (per day's visitor key, summed over days).
    pub visitors: u64,
    /// `visits` per 100 visits of its kind (with or without a contact).
    pub share_pct: Option<f64>,
    /// Median seconds from the visit's start to its contact (paths to contact) or of
    /// the whole visit (paths without); none for `other`.
    pub median_seconds: Option<f64>,
    /// Median number of steps; none for `other`.
    pub median_steps: Option<f64>,
    /// For `other`: how many paths it holds (0 otherwise).
    pub folded: u64,
}

/// A page the visits without a contact left from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExitFigures {
    /// The path of the visit's last page view ('' for a visit without one, `other` for
    /// the pages below k together).
    pub path: String,
    /// Visits that ended there.
    pub visits: u64,
    /// Their distinct visitors.
    pub visitors: u64,
    /// For `other`: how many pages it holds (0 otherwise).
    pub folded: u64,
}

/// The paths of a theme's visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Paths {
    /// Visits that touched the theme (and have a path).
    pub visits: u64,
    /// Those of them with a contact.
    pub contact_visits: u64,
    /// Paths that ended in a contact, most visits first.
    pub to_contact: Vec<PathFigures>,
    /// Those below k, added up.
    pub to_contact_other: Option<PathFigures>,
    /// Paths of the visits without a contact, most visits first.
    pub without_contact: Vec<PathFigures>,
    /// Those below k, added up.
    pub without_contact_other: Option<PathFigures>,
    /// Where the visits without a contact left, most visits first.
    pub left_from: Vec<ExitFigures>,
    /// Those below k, added up.
    pub left_from_other: Option<ExitFigures>,
}

/// A row of the CSV: a path with whether it reached a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRow<'a> {
    /// `to_contact` or `without_contact`.
    pub ending: &'static str,
    /// The path.
    pub path: &'a PathFigures,
}

impl Tabular for PathRow<'_> {
    const COLUMNS: &'static [&'static str] = &[
        "ending",
        "steps",
        "visits",
        "visitors",
        "share_pct",
        "median_seconds",
        "median_steps",
        "folded",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.ending.into(),
            self.path.steps.join(" > ").into(),
            self.path.visits.into(),
            self.path.visitors.into(),
            self.path.share_pct.into(),
            self.path.median_seconds.into(),
            self.path.median_steps.into(),
            self.path.folded.into(),
        ]
    }
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Taken {
    steps: Vec<String>,
    reached: u8,
    visits: u64,
    visitors: u64,
    median_seconds: f64,
    median_steps: f64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Left {
    path: String,
    visits: u64,
    visitors: u64,
}

/// The paths of the visits of `site` in `p` that touched `theme`, paths and pages of
/// fewer than `k` visitors folded, at most `limit` of each listed.
pub async fn paths(
    c: &Client,
    site: &str,
    p: Period,
    theme: &str,
    k: u32,
    limit: u32,
) -> Result<Paths, ApiError> {
    let (from, to) = p.bounds();
    // groups: each step as its theme-level group; cut: up to the first contact; the
    // same group twice in a row is compared with the list shifted by one.
    let taken: Vec<Taken> = c
        .query(&format!(
            "SELECT steps, reached, count() AS visits, uniqExact(day, visitor) AS visitors, \
             toFloat64(quantileExact(0.5)(seconds)) AS median_seconds, \
             toFloat64(quantileExact(0.5)(length(steps))) AS median_steps FROM \
             (SELECT day, visitor, \
              arrayMap((k, t) -> if(k = 'page', concat('page:', if(t = '', 'none', t)), k), \
                       step_kinds, step_themes) AS groups, \
              indexOf(groups, 'contact') AS first_contact, \
              if(first_contact > 0, arraySlice(groups, 1, first_contact), groups) AS cut, \
              arrayFilter((x, before) -> x != before, cut, \
                          arrayPushFront(arrayPopBack(cut), '')) AS steps, \
              toUInt8(first_contact > 0) AS reached, \
              if(first_contact > 0 AND first_contact_ts >= toUInt32(start_ts), \
                 first_contact_ts - toUInt32(start_ts), duration_s) AS seconds \
              FROM {SESSIONS} AND has(themes, ?) AND notEmpty(step_kinds)) \
             GROUP BY steps, reached"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(theme)
        .fetch_all()
        .await?;
    let left: Vec<Left> = c
        .query(&format!(
            "SELECT exit_path AS path, count() AS visits, uniqExact(day, visitor) AS visitors \
             FROM {SESSIONS} AND has(themes, ?) AND notEmpty(step_kinds) AND contacts = 0 \
             GROUP BY path"
        ))
        .bind(site)
        .bind(&from)
        .bind(&to)
        .bind(theme)
        .fetch_all()
        .await?;
    Ok(fold(taken, left, k, limit))
}

fn fold(taken: Vec<Taken>, left: Vec<Left>, k: u32, limit: u32) -> Paths {
    let (mut reached, mut not): (Vec<Taken>, Vec<Taken>) =
        taken.into_iter().partition(|t| t.reached == 1);
    let contact_visits: u64 = reached.iter().map(|t| t.visits).sum();
    let without: u64 = not.iter().map(|t| t.visits).sum();
    let side = |rows: &mut Vec<Taken>, total: u64| {
        rows.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.steps.cmp(&b.steps)));
        let share = |n: u64| (total > 0).then(|| round1(100.0 * n as f64 / total as f64));
        let figures = rows.drain(..).map(|t| PathFigures {
            share_pct: share(t.visits),
            steps: t.steps,
            visits: t.visits,
            visitors: t.visitors,
            median_seconds: Some(t.median_seconds),
            median_steps: Some(t.median_steps),
            folded: 0,
        });
        let (listed, other) = below_k(
            figures,
            k,
            limit,
            |f| f.visitors,
            |o, f| {
                o.visits += f.visits;
                o.visitors += f.visitors;
                o.folded += 1;
            },
            PathFigures::default(),
        );
        let other = other.map(|mut o| {
            o.share_pct = share(o.visits);
            o
        });
        (listed, other)
    };
    let (to_contact, to_contact_other) = side(&mut reached, contact_visits);
    let (without_contact, without_contact_other) = side(&mut not, without);
    let mut left = left;
    left.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.path.cmp(&b.path)));
    let (left_from, left_from_other) = below_k(
        left.into_iter().map(|l| ExitFigures {
            path: l.path,
            visits: l.visits,
            visitors: l.visitors,
            folded: 0,
        }),
        k,
        limit,
        |e| e.visitors,
        |o, e| {
            o.visits += e.visits;
            o.visitors += e.visitors;
            o.folded += 1;
        },
        ExitFigures {
            path: "other".into(),
            ..ExitFigures::default()
        },
    );
    Paths {
        visits: contact_visits + without,
        contact_visits,
        to_contact,
        to_contact_other,
        without_contact,
        without_contact_other,
        left_from,
        left_from_other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(steps: &[&str], reached: u8, visits: u64, visitors: u64) -> Taken {
        Taken {
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
            reached,
            visits,
            visitors,
            median_seconds: 60.0,
            median_steps: steps.len() as f64,
        }
    }

    #[test]
    fn paths_split_by_their_ending_and_fold_below_k() {
        let l = fold(
            vec![
                taken(&["page:schulden", "contact"], 1, 6, 6),
                taken(&["search", "page:schulden", "contact"], 1, 2, 2),
                taken(&["page:schulden"], 0, 8, 7),
            ],
            vec![
                Left {
                    path: "/schulden".into(),
                    visits: 7,
                    visitors: 6,
                },
                Left {
                    path: "/afval".into(),
                    visits: 1,
                    visitors: 1,
                },
            ],
            5,
            10,
        );
        assert_eq!((l.visits, l.contact_visits), (16, 8));
        assert_eq!(l.to_contact.len(), 1);
        assert_eq!(l.to_contact[0].share_pct, Some(75.0));
        let other = l.to_contact_other.expect("the search path is below k");
        assert_eq!(
            (other.visits, other.folded, other.share_pct),
            (2, 1, Some(25.0))
        );
        assert!(other.median_seconds.is_none() && other.steps.is_empty());
        assert_eq!(l.without_contact[0].share_pct, Some(100.0));
        assert_eq!(l.left_from[0].path, "/schulden");
        assert_eq!(l.left_from_other.map(|o| o.visits), Some(1));
    }
}
