//! Where visits came from and where they went: campaigns and referrers, clicks out.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{filename, App, Params, Site};
use crate::domain::campaigns::{self, By, SourceFigures};
use crate::domain::clicks::{self, ClickFigures, Kind};
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format};
use crate::table::respond;

/// `from`, `to`, optional `by`, `theme`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignsQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `campaign` (default, `utm_campaign`), `source`, `medium`, `content`, `term`
    /// (the other UTM parameters) or `referrer` (the referrer's host).
    by: Option<String>,
    /// Only visits that touched this theme.
    theme: Option<String>,
    /// Values listed, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv` (`other` and `without` last).
    format: Option<String>,
}

/// Visits grouped by a campaign value or referrer host.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignsAnswer {
    /// Site id.
    pub site: String,
    /// `campaign`, `source`, `medium`, `content`, `term` or `referrer`.
    pub by: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Values (and themes within a value) of fewer distinct visitors than this are
    /// folded into `other`.
    pub min_visitors: u32,
    /// The values, most visits first.
    pub values: Vec<SourceFigures>,
    /// The values below `min_visitors`, added up (absent when none).
    pub other: Option<SourceFigures>,
    /// The visits without a value (absent when none).
    pub without: Option<SourceFigures>,
}

/// Campaigns, sources and referrers: per `utm_campaign` (or source, medium, content,
/// term, or referrer host) of the visits' first page, the visits, visitors, visits with
/// a contact, the themes they reached and the visits of the previous period. Values
/// and themes of fewer than k visitors are folded into `other`; visits without a value
/// are `without`.
#[utoipa::path(get, path = "/v1/sites/{site}/campaigns", tag = "sources",
    params(("site" = String, Path, description = "Site id"), CampaignsQuery),
    responses(
        (status = 200, description = "The visits per value", content((CampaignsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn campaigns(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<CampaignsQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let by = By::parse(q.by.as_deref())?;
    let theme = params::theme(q.theme.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let found = campaigns::sources(
        app.client(),
        site.as_str(),
        p,
        theme.as_deref(),
        by,
        k,
        limit,
    )
    .await?;
    let answer = CampaignsAnswer {
        site: site.to_string(),
        by: by.name().into(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        values: found.values,
        other: found.other,
        without: found.without,
    };
    let rows: Vec<SourceFigures> = answer
        .values
        .iter()
        .chain(answer.other.iter())
        .chain(answer.without.iter())
        .cloned()
        .collect();
    respond(
        format,
        &answer,
        &rows,
        &filename(&site, &format!("campaigns-{}", by.name()), p),
    )
}

/// `from`, `to`, optional `kind`, `theme`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClicksOutQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `all` (default), `outlink` or `download`.
    kind: Option<String>,
    /// Only clicks on pages attributed to this theme.
    theme: Option<String>,
    /// Hosts and files listed, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv` (the `other` row last).
    format: Option<String>,
}

/// Clicks out of a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClicksOutAnswer {
    /// Site id.
    pub site: String,
    /// `all`, `outlink` or `download`.
    pub kind: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Hosts and files of fewer distinct visitors than this are folded into `other`.
    pub min_visitors: u32,
    /// Most clicks first.
    pub clicks: Vec<ClickFigures>,
    /// The hosts and files below `min_visitors`, added up (absent when none).
    pub other: Option<ClickFigures>,
}

/// Clicks out: outbound links per host and downloads per file, with clicks, visitors
/// and the clicks of the previous period; hosts and files of fewer than k visitors are
/// folded into `other`.
#[utoipa::path(get, path = "/v1/sites/{site}/clicks-out", tag = "sources",
    params(("site" = String, Path, description = "Site id"), ClicksOutQuery),
    responses(
        (status = 200, description = "The clicks out", content((ClicksOutAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn clicks_out(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ClicksOutQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let kind = Kind::parse(q.kind.as_deref())?;
    let theme = params::theme(q.theme.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let found = clicks::clicks(
        app.client(),
        site.as_str(),
        p,
        theme.as_deref(),
        kind,
        k,
        limit,
    )
    .await?;
    let answer = ClicksOutAnswer {
        site: site.to_string(),
        kind: kind.name().into(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        clicks: found.clicks,
        other: found.other,
    };
    let rows: Vec<ClickFigures> = answer
        .clicks
        .iter()
        .chain(answer.other.iter())
        .cloned()
        .collect();
    respond(
        format,
        &answer,
        &rows,
        &filename(&site, &format!("clicks-out-{}", kind.name()), p),
    )
}
