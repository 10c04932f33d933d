//! Campaigns and referrers: which campaign, source or referring site brought visits,
//! which themes those visits reached and how many reached a contact.
//!
//! A visit belongs to the UTM values of its first page and to the host of its first
//! event's referrer (the sessionizer keeps them, migration 0018; never the referrer's
//! path or query). Per value of the chosen dimension: visits, visitors (per day's
//! visitor key, summed over days, as everywhere), visits with a contact, the
//! top-level themes the visits touched, and the visits of the previous period. A value
//! of fewer than k visitors is folded into `other`, a theme of fewer than k visitors
//! within a value into that value's `other` theme; the visits without a value (no UTM,
//! no referrer) stand apart as `without`, so that listed + `other` + `without` are all
//! the visits of the period.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::fold::below_k;
use crate::error::ApiError;
use crate::params::Period;
use crate::sql::{SESSIONS, SESSIONS_PER_THEME};
use crate::table::{round1, Cell, Tabular};

/// What the visits are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// `utm_campaign`.
    Campaign,
    /// `utm_source`.
    Source,
    /// `utm_medium`.
    Medium,
    /// `utm_content`.
    Content,
    /// `utm_term`.
    Term,
    /// The referrer's host.
    Referrer,
}

impl By {
    const ALL: [By; 6] = [
        By::Campaign,
        By::Source,
        By::Medium,
        By::Content,
        By::Term,
        By::Referrer,
    ];

    /// Parses `campaign` (the default), `source`, `medium`, `content`, `term` or
    /// `referrer`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        let v = value.unwrap_or("campaign");
        Self::ALL
            .into_iter()
            .find(|b| b.name() == v)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "by={:?} is not one of campaign, source, medium, content, term, referrer",
                    crate::params::shown(v)
                ))
            })
    }

    /// Its name in answers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Source => "source",
            Self::Medium => "medium",
            Self::Content => "content",
            Self::Term => "term",
            Self::Referrer => "referrer",
        }
    }

    /// The sessions' column (a fixed name, never the caller's text).
    fn column(self) -> &'static str {
        match self {
            Self::Campaign => "utm_campaign",
            Self::Source => "utm_source",
            Self::Medium => "utm_medium",
            Self::Content => "utm_content",
            Self::Term => "utm_term",
            Self::Referrer => "referrer_host",
        }
    }
}

/// The visits of one theme within a value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThemeVisits {
    /// Top-level theme id; `other` for the themes below k together.
    pub theme: String,
    /// Visits that touched it.
    pub visits: u64,
    /// Their distinct visitors.
    pub visitors: u64,
}

/// One campaign value's (or source's, or referrer host's) figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceFigures {
    /// The value; `other` for the values below k together, '' for `without`.
    pub value: String,
    /// Visits.
    pub visits: u64,
    /// Distinct visitors (per day's visitor key, summed over days).
    pub visitors: u64,
    /// Visits with a contact.
    pub contact_visits: u64,
    /// `contact_visits` per 100 `visits`.
    pub contact_share_pct: Option<f64>,
    /// The top-level themes these visits touched, most visits first.
    pub themes: Vec<ThemeVisits>,
    /// Visits in the period before (as long, just before).
    pub previous_visits: u64,
    /// For `other`: how many values were folded into it (0 otherwise).
    pub values_folded: u64,
}

impl Tabular for SourceFigures {
    const COLUMNS: &'static [&'static str] = &[
        "value",
        "visits",
        "visitors",
        "contact_visits",
        "contact_share_pct",
        "themes",
        "previous_visits",
        "values_folded",
    ];
    fn cells(&self) -> Vec<Cell> {
        let themes: Vec<String> = self
            .themes
            .iter()
            .map(|t| format!("{}: {}", t.theme, t.visits))
            .collect();
        vec![
            self.value.as_str().into(),
            self.visits.into(),
            self.visitors.into(),
            self.contact_visits.into(),
            self.contact_share_pct.into(),
            themes.join(", ").into(),
            self.previous_visits.into(),
            self.values_folded.into(),
        ]
    }
}

/// The values of a dimension: those of at least k visitors, the rest folded, and the
/// visits without a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceList {
    /// The values, most visits first (ties by value).
    pub values: Vec<SourceFigures>,
    /// The values of fewer than k visitors, added up; absent when there are none.
    pub other: Option<SourceFigures>,
    /// The visits without a value (no UTM parameter or no referrer); absent when none.
    pub without: Option<SourceFigures>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Visits {
    value: String,
    visits: u64,
    visitors: u64,
    contact_visits: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Themes {
    value: String,
    theme: String,
    visits: u64,
    visitors: u64,
}

/// The visits of `site` in `p` (optionally only those that touched `theme`) grouped by
/// `by`, at most `limit` values listed, values and themes of fewer than `k` visitors
/// folded.
pub async fn sources(
    c: &Client,
    site: &str,
    p: Period,
    theme: Option<&str>,
    by: By,
    k: u32,
    limit: u32,
) -> Result<SourceList, ApiError> {
    let of_theme = if theme.is_some() {
        " AND has(themes, ?)"
    } else {
        ""
    };
    let column = by.column();
    let visits = |p: Period| {
        let (from, to) = p.bounds();
        let mut q = c
            .query(&format!(
                "SELECT {column} AS value, count() AS visits, uniqExact(day, visitor) AS visitors, \
                 countIf(contacts > 0) AS contact_visits FROM {SESSIONS}{of_theme} GROUP BY value"
            ))
            .bind(site)
            .bind(from)
            .bind(to);
        if let Some(t) = theme {
            q = q.bind(t);
        }
        q.fetch_all::<Visits>()
    };
    let now = visits(p).await?;
    let before = visits(p.previous()).await?;
    let (from, to) = p.bounds();
    let mut q = c
        .query(&format!(
            "SELECT {column} AS value, theme, count() AS visits, \
             uniqExact(day, visitor) AS visitors FROM {SESSIONS_PER_THEME} \
             AND position(theme, '/') = 0{of_theme} GROUP BY value, theme"
        ))
        .bind(site)
        .bind(from)
        .bind(to);
    if let Some(t) = theme {
        q = q.bind(t);
    }
    let themes: Vec<Themes> = q.fetch_all().await?;
    Ok(fold(now, before, themes, k, limit))
}

/// The figures put together, the values ordered by visits and folded below `k`.
fn fold(
    now: Vec<Visits>,
    before: Vec<Visits>,
    themes: Vec<Themes>,
    k: u32,
    limit: u32,
) -> SourceList {
    let mut by_value: BTreeMap<String, SourceFigures> = BTreeMap::new();
    for v in now {
        by_value.insert(
            v.value.clone(),
            SourceFigures {
                value: v.value,
                visits: v.visits,
                visitors: v.visitors,
                contact_visits: v.contact_visits,
                ..SourceFigures::default()
            },
        );
    }
    for v in before {
        // A value of the previous period only is not listed: the list is of this one.
        if let Some(f) = by_value.get_mut(&v.value) {
            f.previous_visits = v.visits;
        }
    }
    let mut theme_rows: BTreeMap<String, Vec<ThemeVisits>> = BTreeMap::new();
    for t in themes {
        theme_rows.entry(t.value).or_default().push(ThemeVisits {
            theme: t.theme,
            visits: t.visits,
            visitors: t.visitors,
        });
    }
    for (value, mut rows) in theme_rows {
        let Some(f) = by_value.get_mut(&value) else {
            continue;
        };
        rows.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.theme.cmp(&b.theme)));
        let other = ThemeVisits {
            theme: "other".into(),
            ..ThemeVisits::default()
        };
        let (mut listed, other) = below_k(
            rows,
            k,
            u32::MAX,
            |t| t.visitors,
            |o, t| {
                o.visits += t.visits;
                o.visitors += t.visitors;
            },
            other,
        );
        listed.extend(other);
        f.themes = listed;
    }
    let without = by_value.remove("").map(with_share);
    let mut rows: Vec<SourceFigures> = by_value.into_values().collect();
    rows.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.value.cmp(&b.value)));
    let other = SourceFigures {
        value: "other".into(),
        ..SourceFigures::default()
    };
    let (values, other) = below_k(
        rows,
        k,
        limit,
        |f| f.visitors,
        |o, f| {
            o.visits += f.visits;
            o.visitors += f.visitors;
            o.contact_visits += f.contact_visits;
            o.previous_visits += f.previous_visits;
            o.values_folded += 1;
            // A folded value's themes are not shown: they would name what k hides.
        },
        other,
    );
    SourceList {
        values: values.into_iter().map(with_share).collect(),
        other: other.map(with_share),
        without,
    }
}

fn with_share(mut f: SourceFigures) -> SourceFigures {
    f.contact_share_pct =
        (f.visits > 0).then(|| round1(100.0 * f.contact_visits as f64 / f.visits as f64));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visits(value: &str, visits: u64, visitors: u64, contact: u64) -> Visits {
        Visits {
            value: value.into(),
            visits,
            visitors,
            contact_visits: contact,
        }
    }

    fn theme(value: &str, theme: &str, visits: u64, visitors: u64) -> Themes {
        Themes {
            value: value.into(),
            theme: theme.into(),
            visits,
            visitors,
        }
    }

    #[test]
    fn values_below_k_fold_into_other_and_visits_without_a_value_stand_apart() {
        let now = vec![
            visits("najaar", 12, 10, 3),
            visits("brief", 20, 8, 0),
            visits("klein", 3, 3, 1),
            visits("", 50, 40, 5),
        ];
        let before = vec![visits("najaar", 4, 4, 0), visits("oud", 9, 9, 0)];
        let themes = vec![
            theme("najaar", "schulden", 9, 7),
            theme("najaar", "inkomen", 2, 2),
            theme("najaar", "afval", 1, 1),
            theme("klein", "schulden", 3, 3),
        ];
        let l = fold(now, before, themes, 5, 10);
        let values: Vec<&str> = l.values.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(values, ["brief", "najaar"]);
        let najaar = &l.values[1];
        assert_eq!(
            (najaar.previous_visits, najaar.contact_share_pct),
            (4, Some(25.0))
        );
        assert_eq!(
            najaar.themes,
            [
                ThemeVisits {
                    theme: "schulden".into(),
                    visits: 9,
                    visitors: 7
                },
                ThemeVisits {
                    theme: "other".into(),
                    visits: 3,
                    visitors: 3
                },
            ]
        );
        let other = l.other.expect("klein is below k");
        assert_eq!((other.visits, other.values_folded), (3, 1));
        assert!(
            other.themes.is_empty(),
            "a folded value's themes are not shown"
        );
        assert_eq!(l.without.map(|w| w.visits), Some(50));
        // Every visit of the period is in one of the three.
        assert_eq!(
            l.values.iter().map(|v| v.visits).sum::<u64>() + other.visits + 50,
            85
        );
    }

    #[test]
    fn a_dimension_other_than_the_six_is_refused() {
        assert_eq!(By::parse(None).unwrap(), By::Campaign);
        assert_eq!(
            By::parse(Some("referrer")).unwrap().column(),
            "referrer_host"
        );
        let e = By::parse(Some("utm_source")).unwrap_err();
        assert!(e.to_string().contains("not one of campaign, source"), "{e}");
    }
}
