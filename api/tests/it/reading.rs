//! How pages were read and which content blocks were seen, through the real pipeline:
//! page views, Plausible-style engagement events (one of them reported in two parts)
//! and Matomo-style content impressions and clicks go through Kafka, the processor and
//! ClickHouse, and the reading endpoints answer their exact figures — while reach
//! still counts only the page views.

use std::time::Duration;

use chrono::{Datelike, Days, Utc};
use serde_json::{json, Value};

use luister_schema::{Event, EventData};
use luister_testkit::{wait_for, Scratch};

use super::helpers::{at_noon, load, Pipeline, ADMIN, DEMO};

const DEBT_PAGE: &str = "/schulden/schuldhulpverlening";

fn at(visitor: u64, after_s: i64, path: &str, data: EventData) -> Event {
    at_noon(1, visitor, after_s, path, data)
}

fn pageview(v: u64, path: &str) -> Event {
    at(v, 0, path, EventData::Pageview { title: None })
}

fn engaged(v: u64, after_s: i64, path: &str, ms: u32, depth: Option<u8>) -> Event {
    at(
        v,
        after_s,
        path,
        EventData::Engagement {
            engaged_ms: ms,
            scroll_depth: depth,
        },
    )
}

fn content(v: u64, path: &str, name: &str, piece: &str, click: bool) -> Event {
    at(
        v,
        5,
        path,
        EventData::Content {
            name: name.into(),
            piece: Some(piece.into()),
            target: None,
            interaction: click.then(|| "click".to_owned()),
        },
    )
}

#[tokio::test]
async fn engagement_per_page_and_theme_and_content_blocks_have_their_exact_figures() {
    let scratch = Scratch::new("api_reading");
    let p = Pipeline::start(&scratch).await;
    let banner = "Banner energietoeslag";
    let events = vec![
        pageview(1, DEBT_PAGE),
        engaged(1, 10, DEBT_PAGE, 2000, Some(40)),
        engaged(1, 20, DEBT_PAGE, 3000, Some(80)),
        pageview(2, DEBT_PAGE),
        engaged(2, 30, DEBT_PAGE, 10_000, Some(100)),
        pageview(3, DEBT_PAGE),
        engaged(3, 30, DEBT_PAGE, 1000, None),
        pageview(4, DEBT_PAGE),
        pageview(5, "/afval"),
        engaged(5, 40, "/afval", 30_000, Some(20)),
        content(1, DEBT_PAGE, banner, "/img/energie.png", false),
        content(2, DEBT_PAGE, banner, "/img/energie.png", false),
        content(2, DEBT_PAGE, banner, "/img/energie.png", true),
        content(5, "/afval", "Teaser schuldhulp", "Hulp nodig?", false),
    ];
    load(&scratch.topic, &events).await;
    let day = (Utc::now().date_naive() - Days::new(1)).to_string();
    let q = format!("from={day}&to={day}");
    let content = wait_for(Duration::from_secs(60), || async {
        let v = p.json(ADMIN, &format!("/v1/sites/demo/content?{q}")).await;
        let pages = p
            .json(ADMIN, &format!("/v1/sites/demo/engagement/pages?{q}"))
            .await;
        let n = |v: &Value, k: &str| v[k].as_array().map_or(0, Vec::len);
        (n(&v, "content") == 2 && n(&pages, "rows") == 2).then_some(v)
    })
    .await
    .expect("the events did not reach the API within 60 s");
    assert_eq!(
        content["content"],
        json!([
            {"content": banner, "piece": "/img/energie.png", "path": DEBT_PAGE,
             "impressions": 2, "interactions": 1, "interaction_rate_pct": 50.0},
            {"content": "Teaser schuldhulp", "piece": "Hulp nodig?", "path": "/afval",
             "impressions": 1, "interactions": 0, "interaction_rate_pct": 0.0},
        ])
    );
    let debt = json!({"pageviews": 4, "engagements": 3, "median_engaged_s": 5.0,
                      "avg_scroll_depth_pct": 90.0, "read_to_75_pct": 100.0});
    let afval = json!({"pageviews": 1, "engagements": 1, "median_engaged_s": 30.0,
                       "avg_scroll_depth_pct": 20.0, "read_to_75_pct": 0.0});
    let with_key = |key: &str, figures: &Value| {
        let mut v = figures.clone();
        v["key"] = json!(key);
        v
    };
    let pages = p
        .json(DEMO, &format!("/v1/sites/demo/engagement/pages?{q}"))
        .await;
    assert_eq!(
        pages["rows"],
        json!([with_key(DEBT_PAGE, &debt), with_key("/afval", &afval)])
    );
    let of_theme = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/engagement/pages?{q}&theme=afval"),
        )
        .await;
    assert_eq!(of_theme["rows"], json!([with_key("/afval", &afval)]));
    let themes = p
        .json(DEMO, &format!("/v1/sites/demo/engagement/themes?{q}"))
        .await;
    let theme = |id: &str| {
        themes["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["key"] == id).cloned())
    };
    assert_eq!(theme("schulden"), Some(with_key("schulden", &debt)));
    assert_eq!(theme("afval"), Some(with_key("afval", &afval)));

    let csv = p
        .csv(
            DEMO,
            &format!("/v1/sites/demo/engagement/pages?{q}&format=csv"),
        )
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "key;pageviews;engagements;median_engaged_s;avg_scroll_depth_pct;read_to_75_pct",
            "/schulden/schuldhulpverlening;4;3;5;90;100",
        ]
    );

    // Reach counts the five page views, not the engagements and content events.
    let reach = p.json(DEMO, &format!("/v1/sites/demo/reach?{q}")).await;
    let pageviews = reach["figures"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["metric"] == "pageviews"))
        .map(|r| r["current"].clone());
    assert_eq!(pageviews, Some(json!(5)));

    let wrong = p
        .get(
            DEMO,
            &format!("/v1/sites/demo/engagement/themes?{q}&theme=afval"),
        )
        .await;
    assert_eq!(wrong.status(), 400);

    // The weekly report of that week shows the same figures, in Dutch.
    let week = (Utc::now().date_naive() - Days::new(1)).iso_week();
    let html = p
        .get(
            DEMO,
            &format!(
                "/v1/sites/demo/report?week={}-W{:02}",
                week.year(),
                week.week()
            ),
        )
        .await
        .text()
        .await
        .unwrap();
    let reading = html
        .split("<section id=\"reading\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("a reading section");
    for cell in [
        "<td>/schulden/schuldhulpverlening</td><td class=\"n\">4</td><td class=\"n\">3</td><td class=\"n\">5 s</td><td class=\"n\">90,0%</td><td class=\"n\">100,0%</td>",
        "<td>Banner energietoeslag</td><td>/img/energie.png</td><td>/schulden/schuldhulpverlening</td><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">50,0%</td>",
    ] {
        assert!(reading.contains(cell), "{cell} in {reading}");
    }
    p.stop().await;
    scratch.cleanup().await;
}

/// A snippet with a wrong page host: the tracker gets its 403, and whoever installs it
/// finds why in the API, scrubbed, one record a minute however often it was sent.
#[tokio::test]
async fn a_refused_snippet_request_shows_in_the_sites_refusals() {
    let scratch = Scratch::new("api_refusals");
    let p = Pipeline::start(&scratch).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(p.ingest.url(
                "/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fstaging.example%2Fschulden%3Fmail%3Djan%40example.nl",
            ))
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let today = Utc::now().date_naive();
    let q = format!("from={}&to={}", today - Days::new(1), today + Days::new(1));
    let got = wait_for(Duration::from_secs(60), || async {
        let v = p.json(DEMO, &format!("/v1/sites/demo/refusals?{q}")).await;
        (v["refusals"].as_array().map_or(0, Vec::len) > 0).then_some(v)
    })
    .await
    .expect("the refusal did not reach the API within 60 s");
    let rows = got["refusals"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one record a minute: {rows:?}");
    assert_eq!(rows[0]["reason"], "foreign_host");
    assert_eq!(rows[0]["count"], 1);
    let message = rows[0]["message"].as_str().unwrap();
    assert!(message.contains("staging.example"), "{message}");
    assert!(!message.contains("jan@example.nl"), "{message}");
    let zwolle = p
        .json(ADMIN, &format!("/v1/sites/zwolle/refusals?{q}"))
        .await;
    assert_eq!(zwolle["refusals"], json!([]));
    p.stop().await;
    scratch.cleanup().await;
}
