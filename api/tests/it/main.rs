//! End-to-end tests: page views POSTed to the collector travel through the real broker
//! and processor into the real ClickHouse and come back as counts from the API.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

mod helpers;

use std::time::Duration;

use chrono::{Days, Utc};
use luister_api::routes::Reach;
use luister_testkit::{wait_for, Scratch};

use helpers::Pipeline;

/// A period around today wide enough for any time zone's "today".
fn around_today() -> (String, String) {
    let today = Utc::now().date_naive();
    (
        (today - Days::new(1)).to_string(),
        (today + Days::new(1)).to_string(),
    )
}

async fn reach(p: &Pipeline, site: &str) -> reqwest::Response {
    let (from, to) = around_today();
    reqwest::get(
        p.api
            .url(&format!("/v1/sites/{site}/reach?from={from}&to={to}")),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn pageviews_posted_to_the_collector_are_counted_by_the_api() {
    let scratch = Scratch::new("e2e_reach");
    let p = Pipeline::start(&scratch).await;

    let before: Reach = reach(&p, "demo").await.json().await.unwrap();
    assert_eq!(before.pageviews, 0);

    let client = reqwest::Client::new();
    for path in ["/", "/werk-en-inkomen/bijstand", "/schulden"] {
        let r = client
            .post(p.ingest.url("/v1/events"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"site":"demo","type":"pageview","url":"http://localhost{path}"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let seen = wait_for(Duration::from_secs(30), || async {
        let r: Reach = reach(&p, "demo").await.json().await.ok()?;
        (r.pageviews == 3).then_some(r)
    })
    .await;
    let r = seen.expect("the three page views did not reach the API within 30 s");
    let (from, to) = around_today();
    assert_eq!(
        (r.site.as_str(), r.from.as_str(), r.to.as_str()),
        ("demo", from.as_str(), to.as_str())
    );

    // A rejected event is not counted.
    let bad = client
        .post(p.ingest.url("/v1/events"))
        .body(r#"{"site":"demo","type":"pageview","url":"http://elsewhere.example/"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Reach = reach(&p, "demo").await.json().await.unwrap();
    assert_eq!(after.pageviews, 3);

    p.stop().await;
    scratch.cleanup().await;
}

#[tokio::test]
async fn unknown_site_and_bad_period_are_refused_with_a_message() {
    let scratch = Scratch::new("e2e_errors");
    let p = Pipeline::start(&scratch).await;
    let r = reach(&p, "nowhere").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("nowhere"));
    let r = reqwest::get(
        p.api
            .url("/v1/sites/demo/reach?from=2026-13-01&to=2026-12-31"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("from=\\\"2026-13-01\\\" is not a date"));
    p.stop().await;
    scratch.cleanup().await;
}
