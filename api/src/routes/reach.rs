//! Reach: the figures of a site or theme with comparisons, every theme's reach, and
//! time series.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{filename, App, Params, Site};
use crate::domain::reach::{reach_figures, theme_rows, ReachAnswer, ThemesAnswer};
use crate::domain::series::{self, Point};
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format, Granularity};
use crate::table::respond;

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
    let answer = reach_figures(app.client(), app.live_from(), &site, p, theme.as_deref()).await?;
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
    let answer = theme_rows(app.client(), app.live_from(), &site, p).await?;
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
