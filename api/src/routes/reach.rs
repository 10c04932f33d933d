//! Reach: the figures of a site or theme with comparisons, every theme's reach, and
//! time series.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use luister_schema::SiteId;

use super::{filename, App, Params, Site, Span};
use crate::error::{AccessErrors, ApiError};
use crate::figures::{self, Figures};
use crate::params::{self, Format, Granularity, Period};
use crate::series::{self, Point};
use crate::table::{change_pct, respond, Cell, Tabular};

// --- reach ---------------------------------------------------------------------

/// `from`, `to`, optional `theme` and `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReachQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Only this theme (and its sub-themes), e.g. `schulden`.
    theme: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

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
pub async fn reach_figures(
    app: &App,
    site: &SiteId,
    p: Period,
    theme: Option<&str>,
) -> Result<ReachAnswer, ApiError> {
    // The three periods in one read of each table.
    let periods = [p, p.previous(), p.year_ago()];
    let [now, prev, year]: [Figures; 3] = match theme {
        None => figures::site(app.client(), site.as_str(), &periods, app.live_from()).await?,
        Some(t) => figures::themes(
            app.client(),
            site.as_str(),
            &periods,
            Some(t),
            app.live_from(),
        )
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

/// Reach: page views, visits, distinct visitors, searches, zero-result searches and
/// contacts of a site (or one theme), beside the previous period and the same period
/// 52 weeks earlier, with the change in percent.
#[utoipa::path(get, path = "/v1/sites/{site}/reach", tag = "reach",
    params(("site" = String, Path, description = "Site id"), ReachQuery),
    responses(
        (status = 200, description = "The figures", content((ReachAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn reach(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ReachQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let theme = params::theme(q.theme.as_deref())?;
    let format = Format::parse(q.format.as_deref())?;
    let answer = reach_figures(&app, &site, p, theme.as_deref()).await?;
    respond(
        format,
        &answer,
        &answer.figures,
        &filename(&site, "reach", p),
    )
}

// --- themes --------------------------------------------------------------------

/// `from`, `to` and `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
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
pub async fn theme_rows(app: &App, site: &SiteId, p: Period) -> Result<ThemesAnswer, ApiError> {
    let c = app.client();
    let [now, prev, year]: [BTreeMap<String, Figures>; 3] = figures::themes(
        c,
        site.as_str(),
        &[p, p.previous(), p.year_ago()],
        None,
        app.live_from(),
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

/// Reach per theme: every theme (at every level) with activity in the period, with
/// its visitors and page views against the period before and a year before.
#[utoipa::path(get, path = "/v1/sites/{site}/themes", tag = "reach",
    params(("site" = String, Path, description = "Site id"), PeriodQuery),
    responses(
        (status = 200, description = "One row per theme", content((ThemesAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn themes(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<PeriodQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let format = Format::parse(q.format.as_deref())?;
    let answer = theme_rows(&app, &site, p).await?;
    respond(
        format,
        &answer,
        &answer.themes,
        &filename(&site, "themes", p),
    )
}

// --- time series ---------------------------------------------------------------

/// `from`, `to`, `granularity`, optional `theme`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `hour`, `day` (default) or `week` (ISO weeks).
    granularity: Option<String>,
    /// Only this theme.
    theme: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// A time series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// `hour`, `day` or `week`.
    pub granularity: String,
    /// The time zone of the buckets.
    pub timezone: String,
    /// Every bucket of the period, in order.
    pub points: Vec<Point>,
}

/// Time series of page views, searches, visitors and visits per hour, day or ISO week
/// (days and hours in the reporting time zone, Europe/Amsterdam by default).
#[utoipa::path(get, path = "/v1/sites/{site}/timeseries", tag = "reach",
    params(("site" = String, Path, description = "Site id"), SeriesQuery),
    responses(
        (status = 200, description = "The series", content((SeriesAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn timeseries(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<SeriesQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let g = Granularity::parse(q.granularity.as_deref())?;
    if g == Granularity::Hour && p.days() > i64::from(app.limits.max_hourly_days) {
        return Err(ApiError::BadRequest(format!(
            "an hourly series covers at most {} days; this period has {}",
            app.limits.max_hourly_days,
            p.days()
        )));
    }
    let theme = params::theme(q.theme.as_deref())?;
    let format = Format::parse(q.format.as_deref())?;
    let points =
        series::series(app.client(), app.tz, site.as_str(), p, theme.as_deref(), g).await?;
    let answer = SeriesAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        granularity: q.granularity.unwrap_or_else(|| "day".into()),
        timezone: app.tz.name().to_string(),
        points,
    };
    respond(
        format,
        &answer,
        &answer.points,
        &filename(&site, "timeseries", p),
    )
}
