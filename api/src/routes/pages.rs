//! Pages: top, entry and exit pages of a site, optionally of one theme, and the pages
//! not found, the transitions of a page or a search, and the paths to contact.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{filename, App, Params, Site};
use crate::domain::not_found::{self, NotFoundPage};
use crate::domain::pages::{self, List, PageFigures};
use crate::domain::paths::{self, ExitFigures, PathFigures, PathRow};
use crate::domain::transitions::{self, Step, TransitionCell, TransitionRow};
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format};
use crate::table::respond;

/// `from`, `to`, optional `list`, `theme`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PagesQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// `top` (default: most page views first), `entry` (pages visits started on) or
    /// `exit` (pages visits ended on).
    list: Option<String>,
    /// Only pages attributed to this theme.
    theme: Option<String>,
    /// Pages listed, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv` (the `other` row last).
    format: Option<String>,
}

/// A site's pages in a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PagesAnswer {
    /// Site id.
    pub site: String,
    /// `top`, `entry` or `exit`.
    pub list: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Pages seen by fewer distinct visitors than this are folded into `other`.
    pub min_visitors: u32,
    /// The pages, in the list's order.
    pub pages: Vec<PageFigures>,
    /// The pages below `min_visitors`, added up (absent when none).
    pub other: Option<PageFigures>,
}

/// Top, entry or exit pages: page views, visits, visitors, entries, exits and the
/// share of visits that reached a contact after the page, with the page's title and
/// its page views in the previous period and a year earlier. Pages of fewer than k
/// visitors are folded into `other`.
#[utoipa::path(get, path = "/v1/sites/{site}/pages", tag = "pages",
    params(("site" = String, Path, description = "Site id"), PagesQuery),
    responses(
        (status = 200, description = "The pages", content((PagesAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn pages(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<PagesQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let list = List::parse(q.list.as_deref())?;
    let theme = params::theme(q.theme.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let found = pages::pages(
        app.client(),
        site.as_str(),
        p,
        theme.as_deref(),
        list,
        k,
        limit,
    )
    .await?;
    let answer = PagesAnswer {
        site: site.to_string(),
        list: list.name().into(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        pages: found.pages,
        other: found.other,
    };
    let rows: Vec<PageFigures> = answer
        .pages
        .iter()
        .chain(answer.other.iter())
        .cloned()
        .collect();
    respond(
        format,
        &answer,
        &rows,
        &filename(&site, &format!("pages-{}", list.name()), p),
    )
}

/// `from`, `to`, optional `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotFoundQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Paths listed, 1 to `limits.max_rows` (default 50).
    limit: Option<String>,
    /// `json` (default) or `csv` (the `other` row last).
    format: Option<String>,
}

/// A site's pages not found in a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotFoundAnswer {
    /// Site id.
    pub site: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Paths and referrers of fewer distinct visitors than this are folded into `other`.
    pub min_visitors: u32,
    /// The missing pages, most views first.
    pub pages: Vec<NotFoundPage>,
    /// The paths below `min_visitors`, added up (absent when none).
    pub other: Option<NotFoundPage>,
}

/// Pages not found (404): the paths residents reached that the site marked as not
/// found, with views, visitors and where they came from (referrer host; for a link on
/// the site itself the page it is on). Paths and referrers of fewer than k visitors are
/// folded into `other`.
#[utoipa::path(get, path = "/v1/sites/{site}/not-found", tag = "pages",
    params(("site" = String, Path, description = "Site id"), NotFoundQuery),
    responses(
        (status = 200, description = "The pages not found", content((NotFoundAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn not_found(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<NotFoundQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let limit = params::limit(q.limit.as_deref(), 50, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let found = not_found::not_found(app.client(), site.as_str(), p, k, limit).await?;
    let answer = NotFoundAnswer {
        site: site.to_string(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        pages: found.pages,
        other: found.other,
    };
    let rows: Vec<NotFoundPage> = answer
        .pages
        .iter()
        .chain(answer.other.iter())
        .cloned()
        .collect();
    respond(format, &answer, &rows, &filename(&site, "not-found", p))
}

/// `from`, `to`, `path` or `search`, optional `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransitionsQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// The page (a path such as `/schulden/schuldhulpverlening`); or give `search`.
    path: Option<String>,
    /// The search term (as the search answers list it); or give `path`.
    search: Option<String>,
    /// Cells listed on each side, 1 to `limits.max_rows` (default 20).
    limit: Option<String>,
    /// `json` (default) or `csv` (a row per cell, with its direction).
    format: Option<String>,
}

/// The transitions of a page or a search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransitionsAnswer {
    /// Site id.
    pub site: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// `page` or `search`.
    pub kind: String,
    /// The path or term.
    pub value: String,
    /// Cells of fewer distinct visitors than this are folded into `other`.
    pub min_visitors: u32,
    /// Paths are within one visit: visitor keys rotate daily.
    pub within: String,
    /// How often the step occurs in the period's visits.
    pub occurrences: u64,
    /// Visits in which it occurs.
    pub visits: u64,
    /// Their distinct visitors.
    pub visitors: u64,
    /// What came just before (the visit's entry, with its channel, counts).
    pub before: Vec<TransitionCell>,
    /// The cells before it below `min_visitors`, added up.
    pub before_other: Option<TransitionCell>,
    /// What came just after (the visit's end, `leave`, counts).
    pub after: Vec<TransitionCell>,
    /// The cells after it below `min_visitors`, added up.
    pub after_other: Option<TransitionCell>,
}

/// Transitions (as Matomo's): for a page or a search term, where visits came from just
/// before it (the previous page, a search, the visit's entry with its channel) and what
/// they did just after (the next page, a search, a click out, a contact, leaving), with
/// shares of the step's occurrences. "After a search" is `search=<term>`. Within one
/// visit only; cells of fewer than k visitors are folded into `other`.
#[utoipa::path(get, path = "/v1/sites/{site}/transitions", tag = "pages",
    params(("site" = String, Path, description = "Site id"), TransitionsQuery),
    responses(
        (status = 200, description = "The transitions", content((TransitionsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn transitions(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<TransitionsQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let step = Step::parse(q.path.as_deref(), q.search.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), 20, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let t = transitions::transitions(app.client(), site.as_str(), p, &step, k, limit).await?;
    let answer = TransitionsAnswer {
        site: site.to_string(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        kind: step.kind().into(),
        value: step.value().into(),
        min_visitors: k,
        within: "visit".into(),
        occurrences: t.occurrences,
        visits: t.visits,
        visitors: t.visitors,
        before: t.before,
        before_other: t.before_other,
        after: t.after,
        after_other: t.after_other,
    };
    let mut rows: Vec<TransitionRow<'_>> = Vec::new();
    for (direction, cells, other) in [
        ("before", &answer.before, &answer.before_other),
        ("after", &answer.after, &answer.after_other),
    ] {
        rows.extend(
            cells
                .iter()
                .chain(other.iter())
                .map(|cell| TransitionRow { direction, cell }),
        );
    }
    respond(format, &answer, &rows, &filename(&site, "transitions", p))
}

/// `from`, `to`, `theme`, optional `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathsQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// The theme whose visits' paths are asked (`schulden`).
    theme: String,
    /// Paths (and exit pages) listed of each kind, 1 to `limits.max_rows` (default 20).
    limit: Option<String>,
    /// `json` (default) or `csv` (a row per path, with its ending).
    format: Option<String>,
}

/// The paths of a theme's visits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathsAnswer {
    /// Site id.
    pub site: String,
    /// The theme.
    pub theme: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Paths and pages of fewer distinct visitors than this are folded into `other`.
    pub min_visitors: u32,
    /// Paths are within one visit: visitor keys rotate daily.
    pub within: String,
    /// Visits that touched the theme.
    pub visits: u64,
    /// Those with a contact.
    pub contact_visits: u64,
    /// Paths that ended in a contact (cut at the first contact).
    pub to_contact: Vec<PathFigures>,
    /// Those below `min_visitors`, added up.
    pub to_contact_other: Option<PathFigures>,
    /// Paths of the visits without a contact.
    pub without_contact: Vec<PathFigures>,
    /// Those below `min_visitors`, added up.
    pub without_contact_other: Option<PathFigures>,
    /// Where the visits without a contact left.
    pub left_from: Vec<ExitFigures>,
    /// Those below `min_visitors`, added up.
    pub left_from_other: Option<ExitFigures>,
}

/// Paths to contact: for the visits that touched a theme, the most frequent paths
/// (theme-level page groups, searches, clicks out, contacts) that ended in a contact,
/// with the median time to it and number of steps; the paths of the visits without a
/// contact; and the pages those visits left from. Within one visit only; paths and
/// pages of fewer than k visitors are folded into `other`.
#[utoipa::path(get, path = "/v1/sites/{site}/paths", tag = "pages",
    params(("site" = String, Path, description = "Site id"), PathsQuery),
    responses(
        (status = 200, description = "The paths", content((PathsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn paths(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<PathsQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    params::check_theme(&q.theme)?;
    let limit = params::limit(q.limit.as_deref(), 20, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let k = app.min_visitors_per_term;
    let found = paths::paths(app.client(), site.as_str(), p, &q.theme, k, limit).await?;
    let answer = PathsAnswer {
        site: site.to_string(),
        theme: q.theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        within: "visit".into(),
        visits: found.visits,
        contact_visits: found.contact_visits,
        to_contact: found.to_contact,
        to_contact_other: found.to_contact_other,
        without_contact: found.without_contact,
        without_contact_other: found.without_contact_other,
        left_from: found.left_from,
        left_from_other: found.left_from_other,
    };
    let mut rows: Vec<PathRow<'_>> = Vec::new();
    for (ending, listed, other) in [
        ("to_contact", &answer.to_contact, &answer.to_contact_other),
        (
            "without_contact",
            &answer.without_contact,
            &answer.without_contact_other,
        ),
    ] {
        rows.extend(
            listed
                .iter()
                .chain(other.iter())
                .map(|path| PathRow { ending, path }),
        );
    }
    respond(
        format,
        &answer,
        &rows,
        &filename(&site, &format!("paths-{}", answer.theme), p),
    )
}
