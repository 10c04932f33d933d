//! `GET|POST /matomo.php` and `/piwik.php`: the Matomo Tracking API.
//!
//! A single request is answered as Matomo does: a 1×1 transparent GIF (200), or 204
//! when the tracker sent `send_image=0`. A bulk request (`{"requests": […]}`) is
//! answered `{"status":"success","tracked":n,"invalid":m,"invalid_indices":[…]}`; here
//! `errors` also says what was wrong with each invalid request. "Invalid" is only what
//! can never be stored: when any request of the bulk cannot be stored *now* (the broker
//! or today's visitor salt is unavailable, the visitor's rate is exceeded), the whole
//! bulk is answered 503 or 429 with `Retry-After` and nothing of it is sent, so the
//! tracker or log importer sends it again.
//!
//! A request the tracker sends again because it believes the first one failed (same
//! parameters, same browser, within `limits.repeat_window_s`) is answered as a success
//! and not stored twice: see [`crate::repeats`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{count_ignored, deliver, read, rejected, rejected_for, send, visit_of, Incoming};
use crate::collect::{Ignored, RawEvent};
use crate::error::IngestError;
use crate::protocol::matomo::{self, Request as MatomoRequest};
use crate::App;

/// The 43-byte transparent 1×1 GIF Matomo answers with.
pub const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub(crate) async fn get_track(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    match read(&app, request).await {
        Ok(req) => {
            let params = req.query.clone();
            single(&app, &req, &params).await
        }
        Err(e) => rejected(&app, None, e).into_response(),
    }
}

pub(crate) async fn post_track(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let req = match read(&app, request).await {
        Ok(r) => r,
        Err(e) => return rejected(&app, None, e).into_response(),
    };
    if matomo::is_bulk(&req.body) {
        return bulk(&app, &req).await;
    }
    let body = match std::str::from_utf8(&req.body) {
        Ok(b) => b.trim().to_owned(),
        Err(e) => {
            return rejected(
                &app,
                Some(&req),
                IngestError::BadRequest(format!("body is not valid UTF-8: {e}")),
            )
            .into_response()
        }
    };
    // Matomo reads parameters from the query string and the form body together.
    let params = [req.query.as_str(), body.as_str()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("&");
    single(&app, &req, &params).await
}

async fn single(app: &App, req: &Incoming, params: &str) -> Response {
    let accept_language = req
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let visit = visit_of(app, req);
    let repeat = app.repeats.fingerprint(visit.ip, visit.user_agent, params);
    let result = async {
        if repeat.is_some_and(|fp| app.repeats.seen(fp, Instant::now())) {
            count_ignored(app, Ignored::Repeat);
            return Ok(());
        }
        match matomo::parse(params, accept_language)? {
            MatomoRequest::Ping => Ok(()),
            MatomoRequest::Unstored(kind) => {
                count_ignored(app, Ignored::NotStored(kind));
                Ok(())
            }
            MatomoRequest::Event(raw) => {
                deliver(app, vec![*raw], &visit).await?;
                if let Some(fp) = repeat {
                    app.repeats.remember(fp, Instant::now());
                }
                Ok(())
            }
        }
    }
    .await;
    match result {
        Ok(()) if matomo::wants_image(params) => {
            ([(header::CONTENT_TYPE, "image/gif")], GIF).into_response()
        }
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => rejected(app, Some(req), e).into_response(),
    }
}

async fn bulk(app: &App, req: &Incoming) -> Response {
    let requests = match matomo::parse_bulk(&req.body, app.config.limits.max_events_per_request) {
        Ok(r) => r,
        Err(e) => return rejected(app, Some(req), e).into_response(),
    };
    let accept_language = req
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let visit = visit_of(app, req);
    let mut events = Vec::new();
    let mut invalid: Vec<(usize, String)> = Vec::new();
    let mut keys = app.collector.request_keys(&visit);
    let now = Instant::now();
    let mut taken = Vec::new();
    let mut repeats = 0usize;
    for (i, params) in requests.iter().enumerate() {
        let repeat = app.repeats.fingerprint(visit.ip, visit.user_agent, params);
        if let Some(fp) = repeat {
            if app.repeats.seen(fp, now) || taken.contains(&fp) {
                count_ignored(app, Ignored::Repeat);
                repeats += 1;
                continue;
            }
            taken.push(fp);
        }
        let raw: Result<Option<RawEvent>, IngestError> =
            match matomo::parse(params, accept_language) {
                Ok(MatomoRequest::Event(raw)) => Ok(Some(*raw)),
                Ok(MatomoRequest::Ping) => Ok(None),
                Ok(MatomoRequest::Unstored(kind)) => {
                    count_ignored(app, Ignored::NotStored(kind));
                    Ok(None)
                }
                Err(e) => Err(e),
            };
        match raw.and_then(|r| {
            r.map(|r| app.collector.finish(r, &visit, &mut keys))
                .transpose()
        }) {
            Ok(Some(Ok(event))) => events.push(event),
            Ok(Some(Err(why))) => count_ignored(app, why),
            Ok(None) => {}
            // A request that cannot be stored *now* fails the whole bulk request before
            // anything is sent, so the tracker sends it again; only requests that can
            // never be stored are listed as invalid in a success answer.
            Err(e) if e.is_temporary() => return rejected(app, Some(req), e).into_response(),
            Err(e) => {
                let site = crate::refusals::site_hint(&app.collector, params, b"", None);
                let e = rejected_for(app, site, e);
                invalid.push((i, e.to_string()));
            }
        }
    }
    if let Err(e) = send(app, &events).await {
        return rejected(app, Some(req), e).into_response();
    }
    for fp in taken {
        app.repeats.remember(fp, Instant::now());
    }
    Json(json!({
        "status": "success",
        // A repeat of a request taken before was tracked then.
        "tracked": events.len() + repeats,
        "repeats": repeats,
        "invalid": invalid.len(),
        "invalid_indices": invalid.iter().map(|(i, _)| i).collect::<Vec<_>>(),
        "errors": invalid.iter().map(|(i, e)| json!({"index": i, "error": e})).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode};

    use luister_schema::{Event, EventData};

    use super::GIF;
    use crate::routes::test_support::{app, browser_get, browser_post, call, FIREFOX};

    #[tokio::test]
    async fn get_is_answered_with_the_gif_or_204() {
        let (app, sink) = app();
        let q = "idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fbijstand&action_name=Bijstand&_id=0123456789abcdef";
        // Also under a folder, where hosting parties install Matomo.
        for path in ["/matomo.php", "/piwik.php", "/stats/matomo.php"] {
            let a = call(&app, browser_get(format!("{path}?{q}"))).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            assert_eq!(a.headers["content-type"], "image/gif");
            assert_eq!(a.body, GIF);
        }
        let a = call(&app, browser_get(format!("/matomo.php?{q}&send_image=0"))).await;
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent.len(), 4);
        let e = Event::from_json(&sent[0].1).unwrap();
        assert_eq!(
            e.data,
            EventData::Pageview {
                title: Some("Bijstand".into())
            }
        );
        assert!(
            !String::from_utf8_lossy(&sent[0].1).contains("0123456789abcdef"),
            "Matomo visitor ids are dropped"
        );
    }

    #[tokio::test]
    async fn post_form_body_and_bulk() {
        let (app, sink) = app();
        let form = Request::post("/matomo.php")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", FIREFOX)
            .body("idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fz&search=kwijtschelding&search_count=0&send_image=0".into())
            .unwrap();
        assert_eq!(call(&app, form).await.status, StatusCode::NO_CONTENT);
        let bulk = r#"{"requests":["?idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fa","?idsite=9&rec=1&url=http%3A%2F%2Flocalhost%2Fb","?idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fc&e_c=contact&e_a=form"]}"#;
        let a = call(&app, browser_post("/matomo.php", bulk)).await;
        assert_eq!(a.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(json["tracked"], 2);
        assert_eq!(json["invalid"], 1);
        assert_eq!(json["invalid_indices"][0], 1);
        assert!(
            json["errors"][0]["error"]
                .as_str()
                .unwrap()
                .contains("matomo idsite 9"),
            "{json}"
        );
        assert_eq!(sink.sent.lock().unwrap().len(), 3);
    }

    /// Before today's shared visitor salt is loaded (just after a start, or while the
    /// broker is down) no request can be stored: a bulk request must not be answered
    /// success, also not when some of its requests are invalid for good.
    #[tokio::test]
    async fn a_bulk_request_that_cannot_be_stored_now_is_answered_503_and_nothing_is_sent() {
        let (app, sink) = crate::routes::test_support::app_with(|c| c.privacy.shared_salt = true);
        let bulk = r#"{"requests":["?idsite=9&rec=1&url=http%3A%2F%2Flocalhost%2Fa","?idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fb","?idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2Fc"]}"#;
        let a = call(&app, browser_post("/matomo.php", bulk)).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
        assert_eq!(a.headers["retry-after"], "5");
        assert!(a.text().contains("retry"), "{}", a.text());
        assert!(sink.sent.lock().unwrap().is_empty());
        // Once the salt is there, the same request is tracked, the invalid one listed.
        app.collector
            .salter()
            .install(crate::salt::day_of(crate::now_ms()), [7; 32]);
        let a = call(&app, browser_post("/matomo.php", bulk)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(
            (json["tracked"].as_u64(), json["invalid"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(sink.sent.lock().unwrap().len(), 2);
    }

    /// Matomo's XMLHttpRequest POST, then the tracker's GET image fallback with the same
    /// parameters (what it does when it takes the POST for failed): stored once. Another
    /// request, or a repeat of one that was answered 503, is stored.
    #[tokio::test]
    async fn a_trackers_repeat_of_a_request_already_taken_is_stored_once() {
        let (app, sink) = app();
        let q = "idsite=1&rec=1&r=482913&h=10&m=2&s=7&pv_id=Ab3dE9&url=http%3A%2F%2Flocalhost%2Fbijstand&action_name=Bijstand";
        let post = |body: String| {
            Request::post("/matomo.php")
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=UTF-8",
                )
                .header("user-agent", FIREFOX)
                .header("origin", "http://localhost")
                .body(body.into())
                .unwrap()
        };
        let get = |q: &str| browser_get(format!("/matomo.php?{q}"));
        let a = call(&app, post(q.to_owned())).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let again = call(&app, get(q)).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body, GIF, "answered as a success");
        let beacon = call(&app, post(format!("{q}&send_image=0"))).await;
        assert_eq!(beacon.status, StatusCode::NO_CONTENT);
        assert_eq!(sink.sent.lock().unwrap().len(), 1, "stored once");
        let next = q.replace("r=482913", "r=100234");
        assert_eq!(call(&app, get(&next)).await.status, StatusCode::OK);
        assert_eq!(
            sink.sent.lock().unwrap().len(),
            2,
            "a new request is stored"
        );
        // A bulk request holding a request already taken stores only the new ones, and
        // the same bulk sent again stores nothing.
        let third = q.replace("r=482913", "r=777001");
        let bulk = format!(r#"{{"requests":["?{q}","?{third}"]}}"#);
        for stored in [3, 3] {
            let a = call(&app, post(bulk.clone())).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(json["tracked"], 2, "{json}");
            assert_eq!(sink.sent.lock().unwrap().len(), stored);
        }
        let metric = app.metrics.ignored.with_label_values(&["repeat"]).get();
        assert_eq!(metric, 5);
    }

    /// A request answered 503 was not stored, so the tracker's repeat of it is.
    #[tokio::test]
    async fn the_repeat_of_a_request_that_was_refused_for_now_is_stored() {
        let (app, sink) = crate::routes::test_support::app_with(|c| c.privacy.shared_salt = true);
        let q = "/matomo.php?idsite=1&rec=1&r=555111&url=http%3A%2F%2Flocalhost%2Fa";
        let get = || browser_get(q);
        assert_eq!(
            call(&app, get()).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        app.collector
            .salter()
            .install(crate::salt::day_of(crate::now_ms()), [7; 32]);
        assert_eq!(call(&app, get()).await.status, StatusCode::OK);
        assert_eq!(call(&app, get()).await.status, StatusCode::OK);
        assert_eq!(sink.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn garbage_matomo_parameters_get_400_with_a_message() {
        let (app, sink) = app();
        for (q, msg) in [
            ("", "rec=1 is missing"),
            ("idsite=1&rec=1", "url is missing"),
            (
                "idsite=1&rec=1&url=javascript%3Aalert(1)",
                "must start with http",
            ),
            (
                "idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2F&res=%FF%FF",
                "res",
            ),
            (
                "idsite=1&rec=1&url=http%3A%2F%2Flocalhost%2F&search_count=-1&search=x",
                "search_count",
            ),
        ] {
            let a = call(&app, browser_get(format!("/matomo.php?{q}"))).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}: {}", a.text());
            assert!(a.text().contains(msg), "{q}: {}", a.text());
        }
        assert!(sink.sent.lock().unwrap().is_empty());
    }
}
