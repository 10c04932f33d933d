//! Operational endpoints and HTTP request metrics, the same in every service.
//!
//! - `GET /healthz`: the process is alive (always 200 while it serves).
//! - `GET /readyz`: the service can do its work (its [`ReadyCheck`] passes), else 503
//!   with the reason.
//! - `GET /metrics`: Prometheus text exposition of the service's registry.
//!
//! [`HttpMetrics`] counts requests by route template (never the raw path, so label
//! values stay bounded) and status, and observes their duration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// A readiness probe: `Ok` when the service can do its work, else why not.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// `luister_http_requests_total{route, status}`.
pub const HTTP_REQUESTS_TOTAL: &str = "luister_http_requests_total";
/// `luister_http_request_duration_seconds{route}`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "luister_http_request_duration_seconds";

#[derive(Clone)]
struct OpsState {
    registry: Registry,
    ready: ReadyCheck,
}

/// The `/healthz`, `/readyz` and `/metrics` routes.
pub fn router(registry: Registry, ready: ReadyCheck) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState { registry, ready })
}

async fn readyz(State(state): State<OpsState>) -> Response {
    match (state.ready)().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut buf) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Request counters and latency histogram, registered in a service's registry.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                HTTP_REQUESTS_TOTAL,
                "HTTP requests by route template and status.",
            ),
            &["route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                HTTP_REQUEST_DURATION_SECONDS,
                "HTTP request duration by route template.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }

    /// Wraps a router so every request is counted.
    pub fn layer(&self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self.clone(), track))
    }
}

async fn track(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    let resp = next.run(req).await;
    m.duration
        .with_label_values(&[route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), resp.status().as_str()])
        .inc();
    resp
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn app(ready: Result<(), String>) -> (Router, Registry) {
        let registry = Registry::new();
        let m = HttpMetrics::new(&registry).unwrap();
        let check: ReadyCheck = Arc::new(move || {
            let r = ready.clone();
            Box::pin(async move { r })
        });
        let app = m.layer(router(registry.clone(), check));
        (app, registry)
    }

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .clone()
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
    async fn readyz_reports_the_reason_it_is_not_ready() {
        let (app, _) = app(Err("broker unreachable".into()));
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("broker unreachable"), "{body}");
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_raw_path() {
        let (app, _) = app(Ok(()));
        assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
        assert_eq!(
            get(&app, "/no/such/path/123").await.0,
            StatusCode::NOT_FOUND
        );
        let (_, text) = get(&app, "/metrics").await;
        assert!(
            text.contains(r#"luister_http_requests_total{route="/readyz",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"luister_http_requests_total{route="unmatched",status="404"} 1"#),
            "{text}"
        );
        assert!(!text.contains("/no/such/path"), "{text}");
    }
}
