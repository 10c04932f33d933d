//! Visits: channel and device mix, early contact, pipeline freshness, and the weekly
//! report.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use luister_schema::SiteId;

use super::{filename, App, Params, Site};
use crate::auth::Principal;
use crate::domain::visits::{self, Contact, Freshness, Share};
use crate::error::{AccessErrors, ApiError, ErrorBody};
use crate::params::{self, Dimension, Format, IsoWeek};
use crate::table::respond;

// --- channels and devices -------------------------------------------------------

/// `from`, `to`, `by`, optional `theme`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MixQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `channel` (default) or `device`.
    by: Option<String>,
    /// Only visits that touched this theme.
    theme: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Visits by channel or device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MixAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// `channel` or `device`.
    pub by: String,
    /// A cell fewer distinct visitors produced is not shown.
    pub min_visitors: u32,
    /// How many cells were left out for that reason.
    pub suppressed_rows: u32,
    /// Most visits first; shares are of all visits, hidden cells included.
    pub rows: Vec<Share>,
}

/// Channel or device mix: visits, visitors and contacts by the channel a visit arrived
/// by or by device class, for the site or the visits that touched a theme. A cell fewer
/// than k distinct visitors produced is left out.
#[utoipa::path(get, path = "/v1/sites/{site}/mix", tag = "channels",
    params(("site" = String, Path, description = "Site id"), MixQuery),
    responses(
        (status = 200, description = "The mix", content((MixAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn mix(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<MixQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let by = Dimension::parse(q.by.as_deref())?;
    let theme = params::theme(q.theme.as_deref())?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let (rows, suppressed) =
        visits::mix(app.client(), site.as_str(), p, theme.as_deref(), by, k).await?;
    let answer = MixAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        by: by.column().to_string(),
        min_visitors: k,
        suppressed_rows: suppressed,
        rows,
    };
    respond(
        format,
        &answer,
        &answer.rows,
        &filename(&site, by.column(), p),
    )
}

// --- early contact --------------------------------------------------------------

/// `from`, `to`, `theme`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// The theme, e.g. `schulden`.
    theme: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Early contact for a theme.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactAnswer {
    /// Site id.
    pub site: String,
    /// The theme.
    pub theme: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The whole period.
    pub total: Contact,
    /// Every ISO week of the period (the first and last may be partial).
    pub weeks: Vec<Contact>,
}

/// Early contact: visits that touched a theme, how many of them reached a contact
/// (conversion) and how long after first touching the theme (median and 90th
/// percentile), for the period and per ISO week.
#[utoipa::path(get, path = "/v1/sites/{site}/early-contact", tag = "early contact",
    params(("site" = String, Path, description = "Site id"), ContactQuery),
    responses(
        (status = 200, description = "Total and weekly trend; the CSV has the total first, then the weeks", content((ContactAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn early_contact(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ContactQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    params::check_theme(&q.theme)?;
    let format = Format::parse(q.format.as_deref())?;
    let mut rows = visits::early_contact(app.client(), site.as_str(), p, &q.theme).await?;
    let answer = ContactAnswer {
        site: site.to_string(),
        theme: q.theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        total: rows.remove(0),
        weeks: rows,
    };
    let mut table = vec![answer.total.clone()];
    table.extend(answer.weeks.iter().cloned());
    respond(
        format,
        &answer,
        &table,
        &filename(&site, "early-contact", p),
    )
}

// --- freshness -----------------------------------------------------------------

/// `format` only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Pipeline freshness of one site: when its newest stored event happened.
#[utoipa::path(get, path = "/v1/sites/{site}/freshness", tag = "pipeline",
    params(("site" = String, Path, description = "Site id")),
    responses(
        (status = 200, description = "The newest event", body = Freshness),
        AccessErrors,
    ))]
pub(super) async fn site_freshness(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(_): Params<NoQuery>,
) -> Result<Json<Freshness>, ApiError> {
    Ok(Json(visits::freshness(app.client(), site.as_str()).await?))
}

/// No query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// The freshness of every site the caller may read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FreshnessAnswer {
    /// One row per site, by site id.
    pub sites: Vec<Freshness>,
}

/// Pipeline freshness of every site the token may read.
#[utoipa::path(get, path = "/v1/freshness", tag = "pipeline",
    params(FormatQuery),
    responses(
        (status = 200, description = "One row per site", content((FreshnessAnswer = "application/json"), (String = "text/csv"))),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub(super) async fn freshness(
    State(app): State<Arc<App>>,
    who: Principal,
    Params(q): Params<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = Format::parse(q.format.as_deref())?;
    let mut sites: Vec<&SiteId> = app.sites.iter().filter(|s| who.may_read(s)).collect();
    sites.sort();
    let mut rows = Vec::new();
    for s in sites {
        rows.push(visits::freshness(app.client(), s.as_str()).await?);
    }
    let answer = FreshnessAnswer { sites: rows };
    respond(format, &answer, &answer.sites, "freshness")
}

// --- weekly report --------------------------------------------------------------

/// `week`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// ISO week, `YYYY-Www` (e.g. `2026-W48`).
    week: String,
}

/// The printable weekly report of a site: themes and their change, trend, top and
/// zero-result searches, channel mix and early contact, as HTML with inline SVG charts.
/// A browser asks for the token (HTTP Basic, token as password).
#[utoipa::path(get, path = "/v1/sites/{site}/report", tag = "report",
    params(("site" = String, Path, description = "Site id"), ReportQuery),
    responses(
        (status = 200, description = "The report", content_type = "text/html", body = String),
        AccessErrors,
    ))]
pub(super) async fn report(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ReportQuery>,
) -> Result<Html<String>, ApiError> {
    let week = IsoWeek::parse(Some(&q.week))?;
    Ok(Html(crate::report::render(&app, &site, week).await?))
}
