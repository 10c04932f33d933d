//! How pages were read, which content blocks were seen and used, and why a site's
//! tracking requests were refused.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{filename, App, Params, Site};
use crate::domain::engagement::{self, By, ContentFigures, Reading};
use crate::domain::refusals::RefusalLine;
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format};
use crate::table::respond;

/// `from`, `to`, optional `theme`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadingQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Only pages attributed to this theme (pages only).
    theme: Option<String>,
    /// Rows, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// How pages or themes were read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadingAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Pages (key: path) or themes (key: theme id) with at least one engagement, most
    /// viewed first.
    pub rows: Vec<Reading>,
}

async fn reading(
    app: &App,
    site: luister_schema::SiteId,
    q: ReadingQuery,
    themes: bool,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let theme = params::theme(q.theme.as_deref())?;
    if themes && theme.is_some() {
        return Err(ApiError::BadRequest(
            "theme= selects pages of a theme; /engagement/themes already lists every theme".into(),
        ));
    }
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let by = if themes {
        By::Theme
    } else {
        By::Page(theme.as_deref())
    };
    let rows = engagement::reading(app.client(), site.as_str(), p, by, limit).await?;
    let answer = ReadingAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        rows,
    };
    let what = if themes {
        "engagement-themes"
    } else {
        "engagement-pages"
    };
    respond(format, &answer, &answer.rows, &filename(&site, what, p))
}

/// Engagement per page: page views, engagements reported, median seconds in view,
/// average scroll depth and the share read to 75 % (Plausible's engagement events).
#[utoipa::path(get, path = "/v1/sites/{site}/engagement/pages", tag = "reading",
    params(("site" = String, Path, description = "Site id"), ReadingQuery),
    responses(
        (status = 200, description = "The pages", content((ReadingAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn engagement_pages(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ReadingQuery>,
) -> Result<Response, ApiError> {
    reading(&app, site, q, false).await
}

/// Engagement per theme: the same figures over each theme's pages.
#[utoipa::path(get, path = "/v1/sites/{site}/engagement/themes", tag = "reading",
    params(("site" = String, Path, description = "Site id"), ReadingQuery),
    responses(
        (status = 200, description = "The themes", content((ReadingAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn engagement_themes(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ReadingQuery>,
) -> Result<Response, ApiError> {
    reading(&app, site, q, true).await
}

/// `from`, `to`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RefusalsQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Rows, 1 to `limits.max_rows` (default 100).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Why the site's events were refused.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefusalsAnswer {
    /// Site id.
    pub site: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The refusal records, newest first: at most one per reason and minute, with the
    /// number of refusals each stands for.
    pub refusals: Vec<RefusalLine>,
}

/// Refused tracking requests of the site: when, why (as the tracker was told,
/// scrubbed) and how many, newest first, for whoever installs or changes a snippet.
#[utoipa::path(get, path = "/v1/sites/{site}/refusals", tag = "reading",
    params(("site" = String, Path, description = "Site id"), RefusalsQuery),
    responses(
        (status = 200, description = "The refusals", content((RefusalsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn refusals(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<RefusalsQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let limit = params::limit(q.limit.as_deref(), 100, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let refusals =
        crate::domain::refusals::recent(app.client(), site.as_str(), p, app.tz, limit).await?;
    let answer = RefusalsAnswer {
        site: site.to_string(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        refusals,
    };
    respond(
        format,
        &answer,
        &answer.refusals,
        &filename(&site, "refusals", p),
    )
}

/// `from`, `to`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Rows, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Content blocks seen and used.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContentAnswer {
    /// Site id.
    pub site: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Each block (name and piece) on each page, most shown first.
    pub content: Vec<ContentFigures>,
}

/// Content blocks (banners, teasers: Matomo content tracking) per page: impressions,
/// interactions and interactions per 100 impressions.
#[utoipa::path(get, path = "/v1/sites/{site}/content", tag = "reading",
    params(("site" = String, Path, description = "Site id"), ContentQuery),
    responses(
        (status = 200, description = "The content blocks", content((ContentAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn content(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ContentQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let content = engagement::content(app.client(), site.as_str(), p, limit).await?;
    let answer = ContentAnswer {
        site: site.to_string(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        content,
    };
    respond(
        format,
        &answer,
        &answer.content,
        &filename(&site, "content", p),
    )
}
