//! The API's endpoints and their OpenAPI description, generated from the same code:
//! every route is registered through [`utoipa_axum`], so a route cannot exist without
//! its entry in `/openapi.json`.
//!
//! Every endpoint needs a token (see [`crate::auth`]); every period is checked and
//! capped ([`crate::params`]); every value reaches ClickHouse as a bound parameter.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use luister_schema::SiteId;
use luister_store::Store;

use crate::auth::{HasTokens, Principal, Tokens};
use crate::error::{ApiError, ErrorBody};
use crate::figures::{self, Figures};
use crate::params::{self, Dimension, Format, Granularity, IsoWeek, Period};
use crate::searches::{self, Order, Rising, Scope, Term};
use crate::series::{self, Point};
use crate::table::{change_pct, respond, Cell, Tabular};
use crate::visits::{self, Contact, Freshness, Share};

/// What every handler shares.
pub struct App {
    /// The sites this API answers for.
    pub sites: HashSet<SiteId>,
    /// ClickHouse.
    pub store: Store,
    /// The configured tokens.
    pub tokens: Tokens,
    /// Limits on what may be asked.
    pub limits: crate::config::LimitsConfig,
    /// Time zone of days, hours and weeks.
    pub tz: Tz,
    /// The k of search listening.
    pub min_visitors_per_term: u32,
    /// Themes of the report's early-contact section.
    pub early_contact_themes: Vec<String>,
}

impl HasTokens for App {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
}

impl App {
    /// The site named in a path, if it exists (404) and the caller may read it (403).
    pub fn site(&self, who: &Principal, raw: &str) -> Result<SiteId, ApiError> {
        let site = SiteId::parse(raw)
            .ok()
            .filter(|s| self.sites.contains(s))
            .ok_or_else(|| ApiError::UnknownSite(params::shown(raw)))?;
        if !who.may_read(&site) {
            if let Principal::Tenant { id, .. } = who {
                tracing::info!(tenant = %id, site = %site, "refused: another tenant's site");
            }
            return Err(ApiError::Forbidden(site.to_string()));
        }
        Ok(site)
    }

    fn period(&self, from: &str, to: &str) -> Result<Period, ApiError> {
        Period::parse(Some(from), Some(to), self.limits.max_period_days)
    }

    fn client(&self) -> &clickhouse::Client {
        self.store.client()
    }
}

/// A query string parsed into `T`, with a 400 naming what is wrong (an unknown or
/// missing parameter) instead of axum's plain-text rejection.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::BadRequest(
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_string(),
            )),
        }
    }
}

/// The site named in the path, once the caller's token is known (401), the site
/// exists (404) and the caller may read it (403), in that order, before anything else
/// of the request is looked at.
pub struct Site(pub SiteId);

impl FromRequestParts<Arc<App>> for Site {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let who = Principal::from_request_parts(parts, app).await?;
        let Path(raw) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        app.site(&who, &raw).map(Site)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Luister API",
        description = "Reach, search listening, channels and early contact of municipal websites, \
                       per site and theme. Every endpoint needs a token: `Authorization: Bearer <token>` \
                       (or HTTP Basic with the token as password). Table-shaped answers also come as CSV \
                       with `format=csv` (UTF-8 with BOM, `;` separators, decimal comma)."
    ),
    modifiers(&SecurityAddon),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// The routes of the API (without the operational ones) and their OpenAPI document.
pub fn router(app: Arc<App>) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(reach))
        .routes(routes!(themes))
        .routes(routes!(timeseries))
        .routes(routes!(top_searches))
        .routes(routes!(zero_result_searches))
        .routes(routes!(unmatched_searches))
        .routes(routes!(rising_searches))
        .routes(routes!(mix))
        .routes(routes!(early_contact))
        .routes(routes!(site_freshness))
        .routes(routes!(freshness))
        .routes(routes!(report))
        .with_state(app)
        .split_for_parts();
    let doc = doc.to_pretty_json().unwrap_or_default();
    router.route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([(CONTENT_TYPE, "application/json")], doc) }
        }),
    )
}

/// A period by its days.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Span {
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
}

impl From<Period> for Span {
    fn from(p: Period) -> Self {
        let (from, to) = p.bounds();
        Self { from, to }
    }
}

fn filename(site: &SiteId, what: &str, p: Period) -> String {
    format!("{site}-{what}-{}-{}", p.from, p.to)
}

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
    let get = |period: Period| async move {
        match theme {
            None => figures::site(app.client(), site.as_str(), period).await,
            Some(t) => Ok(
                figures::themes(app.client(), site.as_str(), period, Some(t))
                    .await?
                    .remove(t)
                    .unwrap_or_default(),
            ),
        }
    };
    let (now, prev, year) = (
        get(p).await?,
        get(p.previous()).await?,
        get(p.year_ago()).await?,
    );
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn reach(
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
    let now = figures::themes(c, site.as_str(), p, None).await?;
    let prev = figures::themes(c, site.as_str(), p.previous(), None).await?;
    let year = figures::themes(c, site.as_str(), p.year_ago(), None).await?;
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn themes(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn timeseries(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn top_searches(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn zero_result_searches(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn unmatched_searches(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn rising_searches(
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
    /// Most visits first.
    pub rows: Vec<Share>,
}

/// Channel or device mix: visits, visitors and contacts by the channel a visit arrived
/// by or by device class, for the site or the visits that touched a theme.
#[utoipa::path(get, path = "/v1/sites/{site}/mix", tag = "channels",
    params(("site" = String, Path, description = "Site id"), MixQuery),
    responses(
        (status = 200, description = "The mix", content((MixAnswer = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn mix(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<MixQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    let by = Dimension::parse(q.by.as_deref())?;
    let theme = params::theme(q.theme.as_deref())?;
    let format = Format::parse(q.format.as_deref())?;
    let rows = visits::mix(app.client(), site.as_str(), p, theme.as_deref(), by).await?;
    let answer = MixAnswer {
        site: site.to_string(),
        theme,
        from: p.from.to_string(),
        to: p.to.to_string(),
        by: by.column().to_string(),
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn early_contact(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ContactQuery>,
) -> Result<Response, ApiError> {
    let p = app.period(&q.from, &q.to)?;
    params::check_theme(&q.theme).map_err(ApiError::BadRequest)?;
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
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn site_freshness(
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
    ),
    security(("token" = []), ("basic" = [])))]
async fn freshness(
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
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another tenant's site", body = ErrorBody),
        (status = 404, description = "Unknown site", body = ErrorBody),
    ),
    security(("token" = []), ("basic" = [])))]
async fn report(
    State(app): State<Arc<App>>,
    Site(site): Site,
    Params(q): Params<ReportQuery>,
) -> Result<Html<String>, ApiError> {
    let week = IsoWeek::parse(Some(&q.week))?;
    Ok(Html(crate::report::render(&app, &site, week).await?))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::auth::token_hash;
    use crate::config::{ApiConfig, AuthConfig, SiteConfig, TenantConfig};

    fn site(s: &str) -> SiteId {
        SiteId::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn app() -> Arc<App> {
        let config = ApiConfig {
            auth: AuthConfig {
                admin_token_sha256: vec![token_hash("admin")],
            },
            sites: vec![
                SiteConfig { id: site("demo") },
                SiteConfig { id: site("zwolle") },
            ],
            tenants: vec![TenantConfig {
                id: "zwolle".into(),
                token_sha256: vec![token_hash("zwolle")],
                sites: vec![site("zwolle")],
            }],
            ..Default::default()
        };
        Arc::new(App {
            sites: config.sites.iter().map(|s| s.id.clone()).collect(),
            store: Store::unconnected(&luister_store::ClickHouseConfig::default()),
            tokens: Tokens::from_config(&config),
            limits: config.limits.clone(),
            tz: chrono_tz::Europe::Amsterdam,
            min_visitors_per_term: 5,
            early_contact_themes: vec![],
        })
    }

    async fn get_as(token: Option<&str>, path: &str) -> (StatusCode, String) {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = router(app())
            .oneshot(req.body(Body::empty()).unwrap_or_default())
            .await
            .unwrap_or_else(|e| match e {});
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    const PATHS: [&str; 12] = [
        "/v1/sites/demo/reach",
        "/v1/sites/demo/themes",
        "/v1/sites/demo/timeseries",
        "/v1/sites/demo/searches/top",
        "/v1/sites/demo/searches/zero-results",
        "/v1/sites/demo/searches/unmatched",
        "/v1/sites/demo/searches/rising",
        "/v1/sites/demo/mix",
        "/v1/sites/demo/early-contact",
        "/v1/sites/demo/freshness",
        "/v1/freshness",
        "/v1/sites/demo/report",
    ];

    #[tokio::test]
    async fn every_route_is_in_the_openapi_document_and_needs_a_token() {
        let (status, doc) = get_as(None, "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
        let documented: HashSet<String> = doc["paths"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let routed: HashSet<String> = PATHS
            .iter()
            .map(|p| p.replace("/demo/", "/{site}/"))
            .collect();
        assert_eq!(documented, routed);
        for path in PATHS {
            let (status, body) = get_as(None, path).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
            let (status, _) = get_as(Some("wrong"), path).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            if path.contains("/demo/") {
                // A tenant's token on a site that is not the tenant's.
                let (status, body) = get_as(Some("zwolle"), path).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
                let (status, body) =
                    get_as(Some("admin"), &path.replace("/demo/", "/elders/")).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            }
        }
    }

    #[tokio::test]
    async fn bad_parameters_are_400_with_a_message_before_any_query() {
        let cases = [
            ("/v1/sites/demo/reach?from=2026-11-01", "missing field `to`"),
            ("/v1/sites/demo/reach?from=2026-11-02&to=2026-11-01", "is before"),
            ("/v1/sites/demo/reach?form=2026-11-01&from=2026-11-01&to=2026-11-02", "unknown field `form`"),
            ("/v1/sites/demo/reach?from=2026-11-01%27%20OR%201%3D1&to=2026-11-02", "not a date"),
            ("/v1/sites/demo/reach?from=2026-11-01&to=2026-11-02&theme=x%27)%20OR%201%3D1--", "not a theme id"),
            ("/v1/sites/demo/reach?from=2026-11-01&to=2026-11-02&format=xlsx", "not one of json, csv"),
            ("/v1/sites/demo/timeseries?from=2026-01-01&to=2026-03-01&granularity=hour", "at most 31 days"),
            ("/v1/sites/demo/timeseries?from=2026-01-01&to=2026-01-02&granularity=minute", "not one of hour, day, week"),
            ("/v1/sites/demo/mix?from=2026-01-01&to=2026-01-02&by=visitor", "not one of channel, device"),
            ("/v1/sites/demo/mix?from=2026-01-01&to=2026-01-02&by=channel%20FROM%20system.users--", "not one of channel, device"),
            ("/v1/sites/demo/searches/top?from=2026-01-01&to=2026-01-02&limit=100000", "from 1 to 200"),
            ("/v1/sites/demo/searches/unmatched?from=2026-01-01&to=2026-01-02&theme=schulden", "unknown field `theme`"),
            ("/v1/sites/demo/searches/rising?from=2026-01-01&to=2026-03-31&baseline=12", "baseline periods cover more than 400 days"),
            ("/v1/sites/demo/early-contact?from=2026-01-01&to=2026-01-02", "missing field `theme`"),
            ("/v1/sites/demo/report?week=2026-W54", "not an ISO week"),
            ("/v1/sites/demo/report?week=2026-W48%27%3B", "not an ISO week"),
            ("/v1/sites/demo/freshness?format=csv", "unknown field `format`"),
        ];
        for (path, msg) in cases {
            let (status, body) = get_as(Some("admin"), path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body.contains(msg), "{path}: {body}");
        }
    }
}
