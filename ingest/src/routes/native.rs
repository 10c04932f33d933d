//! `POST /v1/events`: one event or an array, as `application/json` or `text/plain`
//! (what `navigator.sendBeacon` sends). 202 `{"accepted": n, "ignored": m}` once the
//! broker has every event; bots, prefetches and Do-Not-Track (where the site respects
//! it) are ignored, not errors.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{deliver, read, rejected, visit_of};
use crate::protocol::native;
use crate::App;

pub(crate) async fn post_events(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let req = match read(&app, request).await {
        Ok(r) => r,
        Err(e) => return rejected(&app, None, e).into_response(),
    };
    let result = async {
        let raws = native::parse(&req.body, app.config.limits.max_events_per_request)?;
        let visit = visit_of(&app, &req);
        deliver(&app, raws, &visit).await
    }
    .await;
    match result {
        Ok(d) => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": d.accepted, "ignored": d.ignored })),
        )
            .into_response(),
        Err(e) => rejected(&app, Some(&req), e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use axum::http::{Request, StatusCode};

    use luister_schema::{Event, EventData};

    use crate::routes::test_support::{app, call, FIREFOX};

    fn post(
        body: impl Into<axum::body::Body>,
        headers: &[(&str, &str)],
    ) -> Request<axum::body::Body> {
        let mut req = Request::post("/v1/events")
            .header("content-type", "text/plain")
            .header("user-agent", FIREFOX);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body.into()).unwrap()
    }

    const PAGEVIEW: &str =
        r#"{"site":"demo","type":"pageview","url":"http://localhost/x?email=a@b.nl"}"#;

    #[tokio::test]
    async fn accepted_pageview_reaches_the_sink_without_ip_or_user_agent() {
        let (app, sink) = app();
        let a = call(&app, post(PAGEVIEW, &[("x-forwarded-for", "203.0.113.9")])).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        assert_eq!(a.text(), r#"{"accepted":1,"ignored":0}"#);
        let sent = sink.sent.lock().unwrap();
        let (key, payload) = &sent[0];
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            !text.contains("203.0.113.9") && !text.contains("Gecko") && !text.contains("email"),
            "{text}"
        );
        let event = Event::from_json(payload).unwrap();
        assert_eq!(&event.visitor.to_string(), key);
        assert_eq!(event.url, "http://localhost/x");
        assert_eq!(event.browser, "Firefox");
    }

    #[tokio::test]
    async fn an_array_is_delivered_whole_or_refused_whole() {
        let (app, sink) = app();
        let batch = r#"[{"site":"demo","type":"pageview","url":"http://localhost/a"},
                        {"site":"demo","type":"search","url":"http://localhost/z","query":"schuldhulp","result_count":3}]"#;
        let a = call(&app, post(batch, &[])).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        assert_eq!(sink.sent.lock().unwrap().len(), 2);
        let bad = r#"[{"site":"demo","type":"pageview","url":"http://localhost/a"},
                      {"site":"demo","type":"pageview","url":"http://elsewhere.example/"}]"#;
        let a = call(&app, post(bad, &[])).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.text().contains("event 1: host"), "{}", a.text());
        assert_eq!(
            sink.sent.lock().unwrap().len(),
            2,
            "nothing of the refused array was sent"
        );
        let search: Event = Event::from_json(&sink.sent.lock().unwrap()[1].1).unwrap();
        assert!(matches!(
            search.data,
            EventData::Search {
                result_count: Some(3),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_requests_events_share_its_visitor_key_and_are_counted_by_type() {
        let (app, sink) = app();
        let batch = r#"[{"site":"demo","type":"pageview","url":"http://localhost/a"},
                        {"site":"demo","type":"pageview","url":"http://localhost/b"},
                        {"site":"demo","type":"search","url":"http://localhost/z","query":"bijstand"},
                        {"site":"demo","type":"pageview","url":"http://localhost/c"}]"#;
        let a = call(&app, post(batch, &[("x-forwarded-for", "203.0.113.9")])).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        let a = call(&app, post(PAGEVIEW, &[("x-forwarded-for", "203.0.113.10")])).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        let sent = sink.sent.lock().unwrap();
        let keys: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys[..4], [keys[0]; 4], "one visitor in the first request");
        assert_ne!(keys[4], keys[0], "another address, another visitor");
        let accepted = |t: &str| app.metrics.accepted.with_label_values(&[t]).get();
        assert_eq!((accepted("pageview"), accepted("search")), (4, 1));
    }

    #[tokio::test]
    async fn bots_and_prefetches_are_answered_but_not_forwarded() {
        let (app, sink) = app();
        let a = call(
            &app,
            Request::post("/v1/events")
                .header("user-agent", "Googlebot/2.1")
                .body(PAGEVIEW.into())
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
        assert_eq!(a.text(), r#"{"accepted":0,"ignored":1}"#);
        let a = call(&app, post(PAGEVIEW, &[("sec-purpose", "prefetch")])).await;
        assert_eq!(a.text(), r#"{"accepted":0,"ignored":1}"#);
        assert!(sink.sent.lock().unwrap().is_empty());
        assert_eq!(app.metrics.ignored.with_label_values(&["bot"]).get(), 1);
        assert_eq!(
            app.metrics.ignored.with_label_values(&["prefetch"]).get(),
            1
        );
    }

    #[tokio::test]
    async fn broker_down_answers_503_with_retry_after_and_counts_it() {
        let (app, sink) = app();
        sink.down.store(true, Ordering::SeqCst);
        let a = call(&app, post(PAGEVIEW, &[])).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.headers["retry-after"], "5");
        assert!(a.text().contains("retry after 5 s"), "{}", a.text());
        assert_eq!(
            app.metrics
                .rejected
                .with_label_values(&["unavailable"])
                .get(),
            1
        );
    }

    #[tokio::test]
    async fn a_visitor_over_the_rate_gets_429_with_retry_after() {
        let (app, _) = app();
        for _ in 0..10 {
            assert_eq!(
                call(&app, post(PAGEVIEW, &[("x-forwarded-for", "198.51.100.4")]))
                    .await
                    .status,
                StatusCode::ACCEPTED
            );
        }
        let a = call(&app, post(PAGEVIEW, &[("x-forwarded-for", "198.51.100.4")])).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text());
        assert!(a.headers.contains_key("retry-after"));
        let other = call(&app, post(PAGEVIEW, &[("x-forwarded-for", "198.51.100.5")])).await;
        assert_eq!(
            other.status,
            StatusCode::ACCEPTED,
            "another visitor is not limited"
        );
    }

    #[tokio::test]
    async fn cors_is_granted_only_to_registered_origins() {
        let (app, _) = app();
        let preflight = |origin: &str| {
            Request::options("/v1/events")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let ok = call(&app, preflight("http://localhost:8000")).await;
        assert_eq!(
            ok.headers["access-control-allow-origin"],
            "http://localhost:8000"
        );
        let other = call(&app, preflight("https://evil.example")).await;
        assert!(!other.headers.contains_key("access-control-allow-origin"));
        // A page's own request may read its answer.
        let post = Request::post("/v1/events")
            .header("content-type", "application/json")
            .header("origin", "http://localhost:8000")
            .body(axum::body::Body::from(PAGEVIEW))
            .unwrap();
        let answer = call(&app, post).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
        assert_eq!(
            answer.headers["access-control-allow-origin"],
            "http://localhost:8000"
        );
        // Matomo's XMLHttpRequest POSTs are sent with credentials: the browser lets the
        // tracker read the answer only when told so, and never with `*`.
        for a in [&ok, &answer] {
            assert_eq!(a.headers["access-control-allow-credentials"], "true");
            assert_ne!(a.headers["access-control-allow-origin"], "*");
        }
    }

    #[tokio::test]
    async fn malformed_requests_get_4xx_with_a_message() {
        let (app, sink) = app();
        let huge = format!(
            r#"{{"site":"demo","type":"pageview","url":"http://localhost/{}"}}"#,
            "a".repeat(5000)
        );
        let six = format!("[{}]", [PAGEVIEW; 6].join(","));
        type Case = (
            axum::body::Body,
            &'static [(&'static str, &'static str)],
            StatusCode,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            ("{oops".into(), &[], StatusCode::BAD_REQUEST, "not a valid event"),
            (vec![0xffu8, 0x00].into(), &[], StatusCode::BAD_REQUEST, "UTF-8"),
            (huge.into(), &[], StatusCode::PAYLOAD_TOO_LARGE, "limit of 4096 bytes"),
            (six.into(), &[], StatusCode::PAYLOAD_TOO_LARGE, "6 events in one request; the limit is 5"),
            (r#"{"site":"elders","type":"pageview","url":"http://localhost/"}"#.into(), &[], StatusCode::NOT_FOUND, "not registered"),
            (r#"{"site":"demo","type":"pageview","url":"https://evil.example/"}"#.into(), &[], StatusCode::FORBIDDEN, "does not belong"),
            (PAGEVIEW.into(), &[("origin", "https://evil.example")], StatusCode::FORBIDDEN, "origin \"evil.example\""),
            (r#"{"site":"demo","type":"pageview","url":"http://localhost/","title":"a\u0000b"}"#.into(), &[], StatusCode::BAD_REQUEST, "control characters"),
            (r#"{"site":"demo","type":"pageview","url":"http://localhost/","screen_width":"wide"}"#.into(), &[], StatusCode::BAD_REQUEST, "invalid type"),
        ];
        for (body, headers, status, msg) in cases {
            let a = call(&app, post(body, headers)).await;
            assert_eq!(a.status, status, "{}", a.text());
            let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert!(
                json["error"].as_str().unwrap().contains(msg),
                "{msg} not in {}",
                a.text()
            );
        }
        assert!(sink.sent.lock().unwrap().is_empty());
    }
}
