//! Reach: the figures of a site or one theme in a period, the period before and the
//! same period a year earlier, and every theme's reach, as typed answers (the routes
//! serve them, the weekly report shows them).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use luister_schema::SiteId;

use crate::domain::figures::{self, Figures};
use crate::error::ApiError;
use crate::params::{Period, Span};
use crate::table::{change_pct, Cell, Tabular};

/// One figure in the period, the period before and a year before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReachRow {
    /// `pageviews`, `visits`, `visitors`, `searches`, `zero_result_searches` or `contacts`.
    pub metric: String,
    /// In the period.
    pub current: u64,
    /// In the period of the same length just before.
    pub previous: u64,
    /// In the same period 52 weeks earlier (same weekdays).
    pub year_ago: u64,
    /// Change against the previous period in percent; absent when that was 0.
    pub change_vs_previous_pct: Option<f64>,
    /// Change against a year ago in percent; absent when that was 0.
    pub change_vs_year_ago_pct: Option<f64>,
}

impl Tabular for ReachRow {
    const COLUMNS: &'static [&'static str] = &[
        "metric",
        "current",
        "previous",
        "year_ago",
        "change_vs_previous_pct",
        "change_vs_year_ago_pct",
    ];
    fn cells(&self) -> Vec<Cell> {
        vec![
            self.metric.as_str().into(),
            self.current.into(),
            self.previous.into(),
            self.year_ago.into(),
            self.change_vs_previous_pct.into(),
            self.change_vs_year_ago_pct.into(),
        ]
    }
}

/// Reach of a site or theme with its comparisons.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReachAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The period just before, of the same length.
    pub previous: Span,
    /// The same period 52 weeks earlier.
    pub year_ago: Span,
    /// One row per figure.
    pub figures: Vec<ReachRow>,
}

impl ReachAnswer {
    /// The row of one figure.
    pub fn figure(&self, metric: &str) -> Option<&ReachRow> {
        self.figures.iter().find(|r| r.metric == metric)
    }
}

/// The figures of a site or one theme in three periods.
/// `live_from` is the first day counted from the raw events
/// ([`luister_store::aggregates::event_counts::live_from`]).
pub async fn reach_figures(
    c: &Client,
    live_from: NaiveDate,
    site: &SiteId,
    p: Period,
    theme: Option<&str>,
) -> Result<ReachAnswer, ApiError> {
    // The three periods in one read of each table.
    let periods = [p, p.previous(), p.year_ago()];
    let [now, prev, year]: [Figures; 3] = match theme {
        None => figures::site(c, site.as_str(), &periods, live_from).await?,
        Some(t) => figures::themes(c, site.as_str(), &periods, Some(t), live_from)
            .await?
            .into_iter()
            .map(|mut m| m.remove(t).unwrap_or_default())
            .collect(),
    }
    .try_into()
    .map_err(|_| ApiError::Internal)?;
    let rows = now
        .named()
        .iter()
        .zip(prev.named())
        .zip(year.named())
        .map(|(((metric, c), (_, b)), (_, y))| ReachRow {
            metric: (*metric).to_string(),
            current: *c,
            previous: b,
            year_ago: y,
            change_vs_previous_pct: change_pct(*c, b),
            change_vs_year_ago_pct: change_pct(*c, y),
        })
        .collect();
    Ok(ReachAnswer {
        site: site.to_string(),
        theme: theme.map(str::to_string),
        from: p.from.to_string(),
        to: p.to.to_string(),
        previous: p.previous().into(),
        year_ago: p.year_ago().into(),
        figures: rows,
    })
}

/// One theme's reach, with its visitors and page views before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThemeRow {
    /// Theme id (`schulden`, `schulden/beslag`, …).
    pub theme: String,
    /// The figures in the period.
    #[serde(flatten)]
    pub figures: Figures,
    /// Distinct visitors in the period before.
    pub visitors_previous: u64,
    /// Change of visitors against the period before, percent.
    pub visitors_change_pct: Option<f64>,
    /// Distinct visitors 52 weeks earlier.
    pub visitors_year_ago: u64,
    /// Change of visitors against a year ago, percent.
    pub visitors_change_year_ago_pct: Option<f64>,
    /// Page views in the period before.
    pub pageviews_previous: u64,
    /// Change of page views against the period before, percent.
    pub pageviews_change_pct: Option<f64>,
}

impl Tabular for ThemeRow {
    const COLUMNS: &'static [&'static str] = &[
        "theme",
        "pageviews",
        "visits",
        "visitors",
        "searches",
        "zero_result_searches",
        "contacts",
        "visitors_previous",
        "visitors_change_pct",
        "visitors_year_ago",
        "visitors_change_year_ago_pct",
        "pageviews_previous",
        "pageviews_change_pct",
    ];
    fn cells(&self) -> Vec<Cell> {
        let mut c: Vec<Cell> = vec![self.theme.as_str().into()];
        c.extend(self.figures.named().iter().map(|(_, v)| Cell::Int(*v)));
        c.extend([
            self.visitors_previous.into(),
            self.visitors_change_pct.into(),
            self.visitors_year_ago.into(),
            self.visitors_change_year_ago_pct.into(),
            self.pageviews_previous.into(),
            self.pageviews_change_pct.into(),
        ]);
        c
    }
}

/// Every theme's reach in a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThemesAnswer {
    /// Site id.
    pub site: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The period before.
    pub previous: Span,
    /// 52 weeks earlier.
    pub year_ago: Span,
    /// One row per theme with any activity in the period, most visitors first.
    pub themes: Vec<ThemeRow>,
}

/// The reach of every theme of a site.
pub async fn theme_rows(
    c: &Client,
    live_from: NaiveDate,
    site: &SiteId,
    p: Period,
) -> Result<ThemesAnswer, ApiError> {
    let [now, prev, year]: [BTreeMap<String, Figures>; 3] = figures::themes(
        c,
        site.as_str(),
        &[p, p.previous(), p.year_ago()],
        None,
        live_from,
    )
    .await?
    .try_into()
    .map_err(|_| ApiError::Internal)?;
    let mut rows: Vec<ThemeRow> = now
        .into_iter()
        .map(|(theme, f)| {
            let b = prev.get(&theme).copied().unwrap_or_default();
            let y = year.get(&theme).copied().unwrap_or_default();
            ThemeRow {
                visitors_previous: b.visitors,
                visitors_change_pct: change_pct(f.visitors, b.visitors),
                visitors_year_ago: y.visitors,
                visitors_change_year_ago_pct: change_pct(f.visitors, y.visitors),
                pageviews_previous: b.pageviews,
                pageviews_change_pct: change_pct(f.pageviews, b.pageviews),
                theme,
                figures: f,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.figures
            .visitors
            .cmp(&a.figures.visitors)
            .then_with(|| a.theme.cmp(&b.theme))
    });
    Ok(ThemesAnswer {
        site: site.to_string(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        previous: p.previous().into(),
        year_ago: p.year_ago().into(),
        themes: rows,
    })
}
