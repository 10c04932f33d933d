//! The API's endpoints and their OpenAPI description, generated from the same code:
//! every route is registered through [`utoipa_axum`], so a route cannot exist without
//! its entry in `/openapi.json`.
//!
//! Every endpoint needs a token (see [`crate::auth`]); every period is checked and
//! capped ([`crate::params`]); every value reaches ClickHouse as a bound parameter.
//!
//! - [`reach`]: reach with comparisons, themes, time series.
//! - [`searches`]: search listening.
//! - [`visits`]: channel mix, early contact, freshness, the weekly report.
//! - [`actions`]: the actions register and effect estimates.
//! - [`reading`]: engagement (time in view, scroll depth), content blocks, refusals.
//! - [`pages`]: top, entry and exit pages, pages not found, transitions, paths.
//! - [`sources`]: campaigns and referrers, clicks out.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use luister_schema::SiteId;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::params::Period;

mod actions;
mod pages;
mod reach;
mod reading;
mod searches;
mod sources;
mod visits;

pub use crate::app::App;
pub use crate::domain::reach::{ReachAnswer, ReachRow, ThemeRow, ThemesAnswer};
pub use crate::params::Span;
pub use reach::SeriesAnswer;
pub use searches::{RisingAnswer, TermsAnswer};
pub use visits::{ContactAnswer, FreshnessAnswer, MixAnswer};

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
    security(("token" = []), ("basic" = [])),
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

/// Every endpoint with its OpenAPI entry.
fn endpoints() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(reach::reach))
        .routes(routes!(reach::themes))
        .routes(routes!(reach::timeseries))
        .routes(routes!(searches::top_searches))
        .routes(routes!(searches::zero_result_searches))
        .routes(routes!(searches::unmatched_searches))
        .routes(routes!(searches::rising_searches))
        .routes(routes!(visits::mix))
        .routes(routes!(visits::early_contact))
        .routes(routes!(visits::site_freshness))
        .routes(routes!(visits::freshness))
        .routes(routes!(visits::report))
        .routes(routes!(reading::engagement_pages))
        .routes(routes!(reading::engagement_themes))
        .routes(routes!(reading::content))
        .routes(routes!(reading::refusals))
        .routes(routes!(pages::pages))
        .routes(routes!(pages::not_found))
        .routes(routes!(pages::transitions))
        .routes(routes!(pages::paths))
        .routes(routes!(sources::campaigns))
        .routes(routes!(sources::clicks_out))
        .routes(routes!(actions::create_action, actions::list_actions))
        .routes(routes!(
            actions::get_action,
            actions::update_action,
            actions::delete_action
        ))
        .routes(routes!(actions::action_effect))
        .routes(routes!(actions::channel_shift))
}

/// The OpenAPI document as `/openapi.json` serves it (also `luister-api openapi`).
pub fn openapi_json() -> String {
    let (_, doc) = endpoints().split_for_parts();
    doc.to_pretty_json().unwrap_or_default()
}

/// The routes of the API (without the operational ones) and `/openapi.json`.
pub fn router(app: Arc<App>) -> Router {
    let doc = openapi_json();
    endpoints()
        .with_state(app)
        .split_for_parts()
        .0
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
}

async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "{} is not a path of this API; /openapi.json lists them all",
            truncated(uri.path())
        ),
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; /openapi.json lists the methods of every path",
            truncated(uri.path())
        ),
    )
}

/// A path as far as an error message repeats it.
fn truncated(path: &str) -> String {
    match path.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &path[..i]),
        None => path.to_owned(),
    }
}

fn filename(site: &SiteId, what: &str, p: Period) -> String {
    format!("{site}-{what}-{}-{}", p.from, p.to)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use luister_store::Store;
    use tower::ServiceExt;

    use super::*;
    use crate::auth::{token_hash, Tokens};
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
            writer: Store::unconnected(&luister_store::ClickHouseConfig::default())
                .client()
                .clone(),
            tokens: Tokens::from_config(&config),
            limits: config.limits.clone(),
            tz: chrono_tz::Europe::Amsterdam,
            min_visitors_per_term: 5,
            early_contact_themes: vec![],
            contact_costs: crate::domain::savings::default_costs(),
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

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const PATHS: [&str; 26] = [
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
        "/v1/sites/demo/engagement/pages",
        "/v1/sites/demo/engagement/themes",
        "/v1/sites/demo/content",
        "/v1/sites/demo/refusals",
        "/v1/sites/demo/pages",
        "/v1/sites/demo/not-found",
        "/v1/sites/demo/transitions",
        "/v1/sites/demo/paths",
        "/v1/sites/demo/campaigns",
        "/v1/sites/demo/clicks-out",
        "/v1/sites/demo/actions",
        "/v1/sites/demo/channel-shift",
        "/v1/actions/0123456789abcdef0123456789abcdef",
        "/v1/actions/0123456789abcdef0123456789abcdef/effect",
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
            .map(|p| p.replace("/demo/", "/{site}/").replace(ID, "{id}"))
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
            ("/v1/sites/demo/campaigns?from=2026-01-01&to=2026-01-02&by=utm_campaign%27", "not one of campaign, source, medium"),
            ("/v1/sites/demo/clicks-out?from=2026-01-01&to=2026-01-02&kind=links", "not one of all, outlink, download"),
            ("/v1/sites/demo/transitions?from=2026-01-01&to=2026-01-02", "give path"),
            ("/v1/sites/demo/paths?from=2026-01-01&to=2026-01-02", "missing field `theme`"),
            ("/v1/sites/demo/paths?from=2026-01-01&to=2026-01-02&theme=a%27b", "not a theme id"),
            ("/v1/sites/demo/transitions?from=2026-01-01&to=2026-01-02&path=schulden", "must start with /"),
            ("/v1/sites/demo/clicks-out?from=2026-01-01&to=2026-01-02&theme=a%20b", "not a theme id"),
        ];
        for (path, msg) in cases {
            let (status, body) = get_as(Some("admin"), path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(body.contains(msg), "{path}: {body}");
        }
    }
}
