//! The API's routes. `GET /v1/sites/{site}/reach?from=YYYY-MM-DD&to=YYYY-MM-DD`
//! answers the reach of a site over a period (page views, for now).

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use luister_schema::SiteId;
use luister_store::Store;

use crate::error::ApiError;
use crate::period::Period;

/// What every handler shares.
pub struct App {
    /// The sites this API answers for.
    pub sites: HashSet<SiteId>,
    /// ClickHouse.
    pub store: Store,
    /// Longest period one request may cover.
    pub max_period_days: u32,
}

impl App {
    fn site(&self, raw: &str) -> Result<SiteId, ApiError> {
        SiteId::parse(raw)
            .ok()
            .filter(|s| self.sites.contains(s))
            .ok_or_else(|| ApiError::UnknownSite(raw.chars().take(64).collect()))
    }
}

/// The routes of the API (without the operational ones).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/sites/{site}/reach", get(reach))
        .with_state(app)
}

/// The query string of a period-shaped request.
#[derive(Debug, Deserialize)]
pub struct PeriodParams {
    from: Option<String>,
    to: Option<String>,
}

/// The reach answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reach {
    /// Site id.
    pub site: String,
    /// First day (inclusive).
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Page views in the period.
    pub pageviews: u64,
}

async fn reach(
    State(app): State<Arc<App>>,
    Path(site): Path<String>,
    Query(params): Query<PeriodParams>,
) -> Result<Json<Reach>, ApiError> {
    let site = app.site(&site)?;
    let period = Period::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        app.max_period_days,
    )?;
    let pageviews: u64 = app
        .store
        .client()
        .query(
            "SELECT sum(events) FROM site_daily \
             WHERE site = ? AND type = 'pageview' AND day >= toDate(?) AND day <= toDate(?)",
        )
        .bind(site.as_str())
        .bind(period.from.to_string())
        .bind(period.to.to_string())
        .fetch_one()
        .await
        .map_err(luister_store::StoreError::from)?;
    Ok(Json(Reach {
        site: site.to_string(),
        from: period.from.to_string(),
        to: period.to.to_string(),
        pageviews,
    }))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn app() -> Arc<App> {
        Arc::new(App {
            sites: [SiteId::parse("demo").unwrap()].into_iter().collect(),
            store: Store::unconnected(&luister_store::ClickHouseConfig::default()),
            max_period_days: 400,
        })
    }

    async fn get(path: &str) -> (StatusCode, String) {
        let resp = router(app())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn unknown_site_is_404_with_its_name() {
        let (status, body) = get("/v1/sites/elders/reach?from=2026-11-01&to=2026-11-02").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("site \\\"elders\\\" is not known"), "{body}");
    }

    #[tokio::test]
    async fn bad_dates_are_400_before_any_query() {
        for (q, msg) in [
            ("from=2026-11-01", "to=YYYY-MM-DD is missing"),
            ("from=2026-11-02&to=2026-11-01", "is before"),
            (
                "from=2026-11-01%27%20OR%201%3D1&to=2026-11-02",
                "not a date",
            ),
        ] {
            let (status, body) = get(&format!("/v1/sites/demo/reach?{q}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
            assert!(body.contains(msg), "{q} -> {body}");
        }
    }
}
