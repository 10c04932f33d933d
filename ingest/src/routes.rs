//! The collector's HTTP routes. `POST /v1/events` takes one JSON event (as
//! `application/json` or `text/plain`, which `navigator.sendBeacon` sends) and answers
//! 202 only after the broker acknowledged it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::error::IngestError;
use crate::sink::SinkError;
use crate::App;

/// The routes of the collector (without the operational ones).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/events", post(post_event))
        .with_state(app)
}

async fn post_event(State(app): State<Arc<App>>, request: Request) -> Response {
    match accept_event(&app, request).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "accepted": 1 }))).into_response(),
        Err(e) => {
            app.metrics.rejected.with_label_values(&[e.reason()]).inc();
            e.into_response()
        }
    }
}

async fn accept_event(app: &App, request: Request) -> Result<(), IngestError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let limit = app.config.http.max_body_bytes;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| IngestError::TooLarge { limit })?;
    let parsed = crate::collect::parse(&body, &app.sites)?;

    let now_ms = now_ms();
    let ip = client_ip(&parts.headers, &app.config.http.client_ip_header, peer);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let visitor = app.salter.visitor_key(&parsed.site, ip, user_agent, now_ms);
    let event = parsed.into_event(visitor, now_ms);
    let type_name = event.data.type_name();
    app.sink
        .send(&visitor.to_string(), event.to_json())
        .await
        .map_err(|SinkError::Unavailable(reason)| IngestError::Unavailable {
            reason,
            retry_after_s: app.config.producer.retry_after_s,
        })?;
    app.metrics.accepted.with_label_values(&[type_name]).inc();
    Ok(())
}

/// The client address: the last entry of the configured proxy header, else the peer.
fn client_ip(headers: &HeaderMap, header_name: &str, peer: Option<IpAddr>) -> IpAddr {
    let from_header = (!header_name.is_empty())
        .then(|| headers.get(header_name))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    from_header
        .or(peer)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use luister_schema::{Event, EventData, SiteId};

    use super::*;
    use crate::config::{IngestConfig, SiteConfig};
    use crate::sink::memory::MemorySink;

    fn app() -> (Arc<App>, Arc<MemorySink>) {
        let mut config = IngestConfig {
            sites: vec![SiteConfig {
                id: SiteId::parse("demo").unwrap(),
                hostnames: vec!["localhost".into()],
                search_param: "q".into(),
            }],
            ..IngestConfig::default()
        };
        config.http.max_body_bytes = 2048;
        config.http.client_ip_header = "x-forwarded-for".into();
        let sink = Arc::new(MemorySink::default());
        let metrics = crate::metrics::IngestMetrics::new(&prometheus::Registry::new()).unwrap();
        (App::new(config, sink.clone(), metrics), sink)
    }

    async fn post(
        app: &Arc<App>,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let mut req = Request::post("/v1/events").header("content-type", "text/plain");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = router(app.clone())
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, retry, String::from_utf8(body.to_vec()).unwrap())
    }

    const PAGEVIEW: &str =
        r#"{"site":"demo","type":"pageview","url":"http://localhost/x?email=a@b.nl"}"#;

    #[tokio::test]
    async fn accepted_pageview_reaches_the_sink_without_ip_or_user_agent() {
        let (app, sink) = app();
        let (status, _, body) = post(
            &app,
            PAGEVIEW,
            &[
                ("user-agent", "Mozilla/5.0 Firefox/120"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let (key, payload) = &sent[0];
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            !text.contains("203.0.113.9") && !text.contains("Firefox") && !text.contains("email"),
            "{text}"
        );
        let event = Event::from_json(payload).unwrap();
        assert_eq!(&event.visitor.to_string(), key);
        assert_eq!(
            event.data,
            EventData::Pageview {
                url: "http://localhost/x".into()
            }
        );
    }

    #[tokio::test]
    async fn the_last_forwarded_address_identifies_the_visitor() {
        let (app, sink) = app();
        post(
            &app,
            PAGEVIEW,
            &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")],
        )
        .await;
        post(&app, PAGEVIEW, &[("x-forwarded-for", "203.0.113.9")]).await;
        post(&app, PAGEVIEW, &[("x-forwarded-for", "203.0.113.10")]).await;
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent[0].0, sent[1].0);
        assert_ne!(sent[1].0, sent[2].0);
    }

    #[tokio::test]
    async fn broker_down_answers_503_with_retry_after_and_counts_it() {
        let (app, sink) = app();
        sink.down.store(true, Ordering::SeqCst);
        let (status, retry, body) = post(&app, PAGEVIEW, &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("5"));
        assert!(body.contains("retry after 5 s"), "{body}");
        assert_eq!(
            app.metrics
                .rejected
                .with_label_values(&["unavailable"])
                .get(),
            1
        );
        assert!(sink.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn bad_requests_get_4xx_with_a_message() {
        let (app, sink) = app();
        let huge = format!(
            r#"{{"site":"demo","type":"pageview","url":"http://localhost/{}"}}"#,
            "a".repeat(4000)
        );
        let cases: Vec<(Body, StatusCode, &str)> = vec![
            (
                Body::from("{oops"),
                StatusCode::BAD_REQUEST,
                "not a valid event",
            ),
            (
                Body::from(vec![0xffu8, 0x00]),
                StatusCode::BAD_REQUEST,
                "UTF-8",
            ),
            (
                Body::from(huge),
                StatusCode::PAYLOAD_TOO_LARGE,
                "limit of 2048 bytes",
            ),
            (
                Body::from(r#"{"site":"elders","type":"pageview","url":"http://localhost/"}"#),
                StatusCode::NOT_FOUND,
                "not registered",
            ),
            (
                Body::from(r#"{"site":"demo","type":"pageview","url":"https://evil.example/"}"#),
                StatusCode::FORBIDDEN,
                "does not belong",
            ),
        ];
        for (body, status, msg) in cases {
            let (got, _, text) = post(&app, body, &[]).await;
            assert_eq!(got, status, "{text}");
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(json["error"].as_str().unwrap().contains(msg), "{text}");
        }
        assert!(sink.sent.lock().unwrap().is_empty());
    }
}
