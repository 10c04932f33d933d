//! Search listening: top, zero-result, unmatched and rising search terms.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use luister_schema::SiteId;

use super::{filename, App, Params, Site, Span};
use crate::domain::searches::{self, Order, Rising, Scope, Term};
use crate::error::{AccessErrors, ApiError};
use crate::params::{self, Format, Period};
use crate::table::respond;

// --- search listening ----------------------------------------------------------

/// `from`, `to`, optional `theme`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TermsQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Only searches attributed to this theme.
    theme: Option<String>,
    /// Rows, 1 to `limits.max_rows` (default 20).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// `from`, `to`, `limit`, `format` (unmatched terms have no theme).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnmatchedQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Rows, 1 to `limits.max_rows` (default 20).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// A list of search terms.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TermsAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Terms fewer distinct visitors searched are never shown.
    pub min_visitors: u32,
    /// The terms.
    pub terms: Vec<Term>,
}

async fn term_list(
    app: &App,
    site: SiteId,
    q: TermsQuery,
    unmatched: bool,
    order: Order,
    what: &str,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let theme = params::theme(q.theme.as_deref())?;
    let limit = params::limit(q.limit.as_deref(), 20, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    let scope = match (&theme, unmatched) {
        (_, true) => Scope::Unmatched,
        (Some(t), false) => Scope::Theme(t),
        (None, false) => Scope::Site,
    };
    let k = app.min_visitors_per_term;
    let terms = searches::terms(app.client(), site.as_str(), p, scope, order, k, limit).await?;
    let answer = TermsAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        min_visitors: k,
        terms,
    };
    respond(format, &answer, &answer.terms, &filename(&site, what, p))
}

/// Top search terms: most searched first, each searched by at least k distinct
/// visitors (`reporting.min_visitors_per_term`, default 5).
#[utoipa::path(get, path = "/v1/sites/{site}/searches/top", tag = "search listening",
    params(("site" = String, Path, description = "Site id"), TermsQuery),
    responses(
        (status = 200, description = "The terms", content((TermsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn top_searches(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<TermsQuery>,
) -> Result<Response, ApiError> {
    term_list(&app, site, q, false, Order::Searches, "top-searches").await
}

/// Zero-result search terms: terms whose searches found nothing, most such searches
/// first (k-threshold as for top terms).
#[utoipa::path(get, path = "/v1/sites/{site}/searches/zero-results", tag = "search listening",
    params(("site" = String, Path, description = "Site id"), TermsQuery),
    responses(
        (status = 200, description = "The terms", content((TermsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn zero_result_searches(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<TermsQuery>,
) -> Result<Response, ApiError> {
    term_list(
        &app,
        site,
        q,
        false,
        Order::ZeroResults,
        "zero-result-searches",
    )
    .await
}

/// Unmatched search terms: searches no theme matched, for keeping the taxonomy up to
/// date (k-threshold as for top terms).
#[utoipa::path(get, path = "/v1/sites/{site}/searches/unmatched", tag = "search listening",
    params(("site" = String, Path, description = "Site id"), UnmatchedQuery),
    responses(
        (status = 200, description = "The terms", content((TermsAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn unmatched_searches(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<UnmatchedQuery>,
) -> Result<Response, ApiError> {
    let q = TermsQuery {
        from: q.from,
        to: q.to,
        theme: None,
        limit: q.limit,
        format: q.format,
    };
    term_list(&app, site, q, true, Order::Searches, "unmatched-searches").await
}

/// `from`, `to`, optional `theme`, `baseline`, `limit`, `format`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RisingQuery {
    /// First day, `YYYY-MM-DD`.
    from: String,
    /// Last day (inclusive), `YYYY-MM-DD`.
    to: String,
    /// Only searches attributed to this theme.
    theme: Option<String>,
    /// Number of periods of the same length before `from` to compare with, 1 to 12
    /// (default 4: for a week, the four weeks before).
    baseline: Option<String>,
    /// Rows, 1 to `limits.max_rows` (default 20).
    limit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Rising search terms.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RisingAnswer {
    /// Site id.
    pub site: String,
    /// The theme asked, if any.
    pub theme: Option<String>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The days the baseline covers.
    pub baseline: Span,
    /// Number of baseline periods averaged.
    pub baseline_periods: u32,
    /// Terms fewer distinct visitors searched in the period are never shown.
    pub min_visitors: u32,
    /// Largest increase first.
    pub terms: Vec<Rising>,
}

/// Rising search terms: searched more in the period than on average in the periods of
/// the same length before it; largest increase first; k-threshold as for top terms.
#[utoipa::path(get, path = "/v1/sites/{site}/searches/rising", tag = "search listening",
    params(("site" = String, Path, description = "Site id"), RisingQuery),
    responses(
        (status = 200, description = "The terms", content((RisingAnswer = "application/json"), (String = "text/csv"))),
        AccessErrors,
    ))]
pub(super) async fn rising_searches(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<RisingQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let theme = params::theme(q.theme.as_deref())?;
    let periods = params::limit(q.baseline.as_deref(), 4, 12)
        .map_err(|_| ApiError::BadRequest("baseline must be a whole number from 1 to 12".into()))?;
    let limit = params::limit(q.limit.as_deref(), 20, app.limits.max_rows)?;
    let format = Format::parse(q.format.as_deref())?;
    if p.days() * i64::from(periods + 1) > i64::from(app.limits.max_period_days) {
        return Err(ApiError::BadRequest(format!(
            "the period and its {periods} baseline periods cover more than {} days",
            app.limits.max_period_days
        )));
    }
    let scope = theme.as_deref().map_or(Scope::Site, Scope::Theme);
    let k = app.min_visitors_per_term;
    let terms = searches::rising(app.client(), site.as_str(), p, scope, k, periods, limit).await?;
    let answer = RisingAnswer {
        site: site.to_string(),
        theme: theme.clone(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        baseline: Period {
            from: p.shifted_back(p.days() as u64 * u64::from(periods)).from,
            to: p.previous().to,
        }
        .into(),
        baseline_periods: periods,
        min_visitors: k,
        terms,
    };
    respond(
        format,
        &answer,
        &answer.terms,
        &filename(&site, "rising-searches", p),
    )
}
