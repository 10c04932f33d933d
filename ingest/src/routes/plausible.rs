//! `POST /api/event`: Plausible's events API, answered 202 `ok` like Plausible.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{deliver, read, rejected, visit_of};
use crate::protocol::plausible;
use crate::App;

pub(crate) async fn post_event(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let req = match read(&app, request).await {
        Ok(r) => r,
        Err(e) => return rejected(&app, None, e).into_response(),
    };
    let result = async {
        let raw = plausible::parse(&req.body)?;
        let visit = visit_of(&app, &req);
        deliver(&app, vec![raw], &visit).await
    }
    .await;
    match result {
        Ok(_) => (StatusCode::ACCEPTED, "ok").into_response(),
        Err(e) => rejected(&app, Some(&req), e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Request, StatusCode};

    use luister_schema::{Event, EventData};

    use crate::routes::test_support::{app, browser_post, call, FIREFOX};

    #[tokio::test]
    async fn plausible_pageview_is_answered_202_and_produced() {
        let (app, sink) = app();
        let req = Request::post("/api/event")
            .header("content-type", "text/plain")
            .header("user-agent", FIREFOX)
            .body(r#"{"n":"pageview","u":"http://localhost/schulden","d":"localhost","r":"https://duckduckgo.com/?q=x","w":390}"#.into())
            .unwrap();
        let a = call(&app, req).await;
        assert_eq!((a.status, a.text().as_str()), (StatusCode::ACCEPTED, "ok"));
        let e = Event::from_json(&sink.sent.lock().unwrap()[0].1).unwrap();
        assert_eq!(e.url, "http://localhost/schulden");
        assert_eq!(e.referrer.as_deref(), Some("https://duckduckgo.com/"));
        assert_eq!(e.data, EventData::Pageview { title: None });
    }

    #[tokio::test]
    async fn unknown_domain_is_refused_with_its_name() {
        let (app, _) = app();
        let req = browser_post(
            "/api/event",
            r#"{"n":"pageview","u":"http://localhost/","d":"nergens.nl"}"#,
        );
        let a = call(&app, req).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert!(
            a.text().contains("plausible domain nergens.nl"),
            "{}",
            a.text()
        );
    }

    #[tokio::test]
    async fn refusals_are_recorded_for_the_site_once_a_minute_with_what_was_wrong() {
        let (app, sink) = app();
        // A page of the site whose URL host the site does not have: the page's site
        // is known from the domain it names.
        let wrong = || {
            browser_post(
                "/api/event",
                r#"{"n":"pageview","u":"http://elders.example/?mail=jan@example.nl","d":"localhost"}"#,
            )
        };
        for _ in 0..3 {
            assert_eq!(call(&app, wrong()).await.status, StatusCode::FORBIDDEN);
        }
        let records: Vec<luister_schema::Refusal> = sink
            .refusals
            .lock()
            .unwrap()
            .iter()
            .map(|(_, json)| serde_json::from_slice(json).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(
            (r.site.as_str(), r.reason.as_str(), r.count),
            ("demo", "foreign_host", 1)
        );
        assert!(r.message.contains("elders.example"), "{}", r.message);
        assert!(sink.sent.lock().unwrap().is_empty());
    }
}
