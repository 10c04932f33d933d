//! End-to-end tests: a known set of events travels through the real broker, processor
//! and ClickHouse, and every endpoint answers its exact figures; tenants only ever see
//! their own sites; the weekly report renders in headless Chromium.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

mod actions;
mod dashboards;
mod helpers;
mod pages;
mod privacy;
mod reading;
mod sources;

use std::time::Duration;

use chrono::{Datelike, Days, Utc};
use serde_json::{json, Value};

use luister_api::auth::{Principal, Tokens};
use luister_api::config::ApiConfig;

use luister_testkit::{wait_for, Scratch};

use helpers::{known_events, load, Pipeline, Weeks, ADMIN, DEMO, ZWOLLE};

/// Loads the known events and waits until the aggregates and the sessions hold them.
async fn loaded(scratch: &Scratch) -> (Pipeline, Weeks) {
    let p = Pipeline::start(scratch).await;
    let w = Weeks::now();
    load(&scratch.topic, &known_events(w)).await;
    let ready = wait_for(Duration::from_secs(60), || async {
        let demo = p
            .json(ADMIN, &format!("/v1/sites/demo/reach?{}", w.period()))
            .await;
        let zwolle = p
            .json(ADMIN, &format!("/v1/sites/zwolle/reach?{}", w.period()))
            .await;
        let period = |v: &Value, m: &str, period: &str| {
            v["figures"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["metric"] == m))
                .map(|r| r[period].clone())
        };
        let fig = |v: &Value, m: &str| period(v, m, "current");
        // The sessionizer may see the weeks in different runs: wait for all three.
        (fig(&demo, "visits") == Some(json!(7))
            && fig(&demo, "contacts") == Some(json!(3))
            && fig(&demo, "searches") == Some(json!(21))
            && period(&demo, "visitors", "previous") == Some(json!(2))
            && period(&demo, "visitors", "year_ago") == Some(json!(1))
            && fig(&zwolle, "visits") == Some(json!(5)))
        .then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "the known events did not reach the API within 60 s"
    );
    (p, w)
}

/// The search lists read `search_term_counts_daily`, which the sessionizer rewrites per
/// day with a new version: only the newest version of a day counts, merged or not, and
/// a term's visitors survive ClickHouse's merges (they are a count per day; the
/// SummingMergeTree before it kept one insert's visitor state of a term once merged).
#[tokio::test]
async fn only_the_newest_version_of_a_day_counts_and_visitors_survive_merges() {
    let scratch = Scratch::new("api_versions");
    let p = Pipeline::start(&scratch).await;
    let w = Weeks::now();
    let db = &scratch.database;
    // An older version of the day (3 searches) and the newest (7 by 6 visitors, one
    // without results, in two inserts of one term each), for the site and a theme.
    for (version, theme, n, zero, visitors) in [
        (1, "*", 3, 0, 3),
        (1, "parkeren", 3, 0, 3),
        (2, "*", 7, 1, 6),
        (2, "parkeren", 7, 1, 6),
    ] {
        luister_testkit::clickhouse(&format!(
            "INSERT INTO {db}.search_term_counts_daily \
             (site, theme, day, term, searches, zero_results, visitors, version) \
             VALUES ('demo', '{theme}', '{}', 'parkeervergunning', {n}, {zero}, {visitors}, {version})",
            w.monday
        ))
        .await
        .unwrap();
    }
    let q = w.period();
    for merged in [false, true] {
        if merged {
            luister_testkit::clickhouse(&format!(
                "OPTIMIZE TABLE {db}.search_term_counts_daily FINAL"
            ))
            .await
            .unwrap();
            let rows = format!("SELECT count() FROM {db}.search_term_counts_daily");
            assert_eq!(
                luister_testkit::clickhouse(&rows).await.unwrap().trim(),
                "2"
            );
        }
        for path in ["searches/top", "searches/top?theme=parkeren"] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let top = p
                .json(DEMO, &format!("/v1/sites/demo/{path}{sep}{q}"))
                .await;
            assert_eq!(
                terms(&top),
                [(s("parkeervergunning"), 7, 1, 6)],
                "{path}, merged: {merged}"
            );
        }
    }
    p.stop().await;
    scratch.cleanup().await;
}

/// Page views of the last three days are counted from the raw events, so they show
/// within seconds; earlier days come from the aggregate the sessionizer rewrites, and
/// no day is counted twice where both hold it.
#[tokio::test]
async fn the_last_three_days_page_views_show_at_once_and_older_days_once_rewritten() {
    let scratch = Scratch::new("api_live");
    // The sessionizer runs once at the start, then not for an hour.
    let p = Pipeline::start_with(&scratch, |c| c.sessions.interval_s = 3600).await;
    let first_run = wait_for(Duration::from_secs(30), || async {
        let text = p.processor.metrics().await;
        text.contains(r#"luister_processor_sessionizer_runs_total{outcome="ok"} 1"#)
            .then_some(())
    })
    .await;
    assert!(
        first_run.is_some(),
        "the sessionizer's first run did not end"
    );
    let tz = chrono_tz::Europe::Amsterdam;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = |back: u64| today - Days::new(back);
    let noon = |d: chrono::NaiveDate| {
        d.and_hms_opt(12, 0, 0)
            .unwrap()
            .and_local_timezone(tz)
            .unwrap()
            .timestamp_millis()
    };
    let mut events = Vec::new();
    for (back, n) in [(0, 3), (1, 2), (2, 1), (5, 4)] {
        for i in 0..n {
            events.push(helpers::pageview_at(
                "demo",
                1000 + back * 10 + i,
                noon(day(back)),
                "/afval",
            ));
        }
    }
    load(&scratch.topic, &events).await;
    let pageviews = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        let p = &p;
        async move {
            let v = p
                .json(ADMIN, &format!("/v1/sites/demo/reach?from={from}&to={to}"))
                .await;
            v["figures"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["metric"] == "pageviews")
                .unwrap()["current"]
                .as_u64()
                .unwrap()
        }
    };
    let live = wait_for(Duration::from_secs(30), || async {
        (pageviews(day(0), day(0)).await == 3).then_some(())
    })
    .await;
    assert!(
        live.is_some(),
        "today's page views did not show within 30 s"
    );
    assert_eq!(
        pageviews(day(1), day(1)).await,
        2,
        "yesterday, from the raw events"
    );
    assert_eq!(
        pageviews(day(5), day(5)).await,
        0,
        "an older day waits for the sessionizer's rewrite"
    );
    let store = luister_store::Store::connect(&luister_store::ClickHouseConfig {
        url: luister_testkit::clickhouse_url(),
        database: scratch.database.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    luister_store::aggregates::rewrite_every(
        store.client(),
        &luister_store::aggregates::Scope::Days {
            first: day(5),
            last: day(0),
        },
        today,
        Utc::now().timestamp_millis() as u64,
    )
    .await
    .unwrap();
    assert_eq!(pageviews(day(5), day(5)).await, 4, "rewritten");
    assert_eq!(pageviews(day(0), day(0)).await, 3, "not counted twice");
    assert_eq!(pageviews(day(2), day(2)).await, 1, "not counted twice");
    assert_eq!(pageviews(day(5), day(0)).await, 10);
    p.stop().await;
    scratch.cleanup().await;
}

fn figure(metric: &str, cur: u64, prev: u64, year: u64, d_prev: Value, d_year: Value) -> Value {
    json!({"metric": metric, "current": cur, "previous": prev, "year_ago": year,
           "change_vs_previous_pct": d_prev, "change_vs_year_ago_pct": d_year})
}

fn s(t: &str) -> String {
    t.to_string()
}

/// `(term, searches, zero_result_searches, visitors)` of a terms answer.
fn terms(v: &Value) -> Vec<(String, u64, u64, u64)> {
    v["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                s(t["term"].as_str().unwrap()),
                t["searches"].as_u64().unwrap(),
                t["zero_result_searches"].as_u64().unwrap(),
                t["visitors"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_endpoint_answers_the_exact_figures_of_a_known_data_set() {
    let scratch = Scratch::new("api_figures");
    let (p, w) = loaded(&scratch).await;
    let q = w.period();
    let tuesday = w.monday + Days::new(1);

    // Reach with the previous week and 52 weeks before.
    let r = p.json(DEMO, &format!("/v1/sites/demo/reach?{q}")).await;
    assert_eq!(
        r["previous"]["from"],
        json!((w.monday - Days::new(7)).to_string())
    );
    assert_eq!(
        r["year_ago"]["from"],
        json!((w.monday - Days::new(364)).to_string())
    );
    assert_eq!(
        r["figures"],
        json!([
            figure("pageviews", 7, 2, 1, json!(250.0), json!(600.0)),
            figure("visits", 7, 2, 1, json!(250.0), json!(600.0)),
            figure("visitors", 7, 2, 1, json!(250.0), json!(600.0)),
            figure("searches", 21, 2, 0, json!(950.0), Value::Null),
            figure("zero_result_searches", 10, 0, 0, Value::Null, Value::Null),
            figure("contacts", 3, 0, 0, Value::Null, Value::Null),
        ])
    );
    let r = p
        .json(DEMO, &format!("/v1/sites/demo/reach?{q}&theme=schulden"))
        .await;
    assert_eq!(r["theme"], json!("schulden"));
    assert_eq!(
        r["figures"],
        json!([
            figure("pageviews", 6, 2, 1, json!(200.0), json!(500.0)),
            figure("visits", 6, 2, 1, json!(200.0), json!(500.0)),
            figure("visitors", 6, 2, 1, json!(200.0), json!(500.0)),
            figure("searches", 6, 2, 0, json!(200.0), Value::Null),
            figure("zero_result_searches", 0, 0, 0, Value::Null, Value::Null),
            figure("contacts", 3, 0, 0, Value::Null, Value::Null),
        ])
    );

    // Periods may overlap: a year up to this week holds the year-ago week, and so does
    // its own year-ago period (which ends on that week's Sunday).
    let year = format!("from={}&to={}", w.monday - Days::new(364), w.sunday());
    let r = p.json(DEMO, &format!("/v1/sites/demo/reach?{year}")).await;
    assert_eq!(
        (
            &r["figures"][0]["current"],
            &r["figures"][0]["previous"],
            &r["figures"][0]["year_ago"]
        ),
        (&json!(10), &json!(0), &json!(1)),
        "page views of this week, the one before and the year-ago week: {}",
        r["figures"][0]
    );

    // Every theme, most visitors first.
    let t = p.json(DEMO, &format!("/v1/sites/demo/themes?{q}")).await;
    let rows: Vec<(String, u64, u64, u64, u64, u64)> = t["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (
                s(r["theme"].as_str().unwrap()),
                n("visitors"),
                n("pageviews"),
                n("searches"),
                n("visits"),
                n("contacts"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (s("schulden"), 6, 6, 6, 6, 3),
            (s("schulden/schuldhulpverlening"), 6, 6, 6, 6, 3),
            (s("armoede"), 5, 0, 5, 5, 3),
            (s("armoede/kwijtschelding"), 5, 0, 5, 5, 3),
            (s("afval"), 1, 1, 0, 1, 0),
        ]
    );
    assert_eq!(t["themes"][0]["visitors_previous"], json!(2));
    assert_eq!(t["themes"][0]["visitors_change_pct"], json!(200.0));
    assert_eq!(t["themes"][2]["zero_result_searches"], json!(5));

    // Time series by day, ISO week and hour.
    let d = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/timeseries?{q}&granularity=day"),
        )
        .await;
    let points = d["points"].as_array().unwrap();
    assert_eq!(points.len(), 7);
    assert_eq!(
        points[1],
        json!({"bucket": tuesday.to_string(), "pageviews": 6, "searches": 21, "visitors": 6, "visits": 6})
    );
    assert_eq!(
        points[2],
        json!({"bucket": (tuesday + Days::new(1)).to_string(), "pageviews": 1, "searches": 0, "visitors": 1, "visits": 1})
    );
    assert_eq!(points[0]["pageviews"], json!(0));
    let prev_week = w.monday - Days::new(7);
    let wk = p
        .json(
            DEMO,
            &format!(
                "/v1/sites/demo/timeseries?from={prev_week}&to={}&granularity=week",
                w.sunday()
            ),
        )
        .await;
    let prev_iso = prev_week.iso_week();
    assert_eq!(
        wk["points"],
        json!([
            {"bucket": format!("{}-W{:02}", prev_iso.year(), prev_iso.week()), "pageviews": 2, "searches": 2, "visitors": 2, "visits": 2},
            {"bucket": w.iso(), "pageviews": 7, "searches": 21, "visitors": 7, "visits": 7},
        ])
    );
    let h = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/timeseries?from={tuesday}&to={tuesday}&granularity=hour&theme=schulden"),
        )
        .await;
    let noon = tuesday
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let busy: Vec<&Value> = h["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pageviews"] != json!(0) || p["searches"] != json!(0))
        .collect();
    assert_eq!(
        busy,
        [&json!({"bucket": noon, "pageviews": 6, "searches": 6, "visitors": 6, "visits": 6})]
    );
    assert_eq!(h["timezone"], json!("Europe/Amsterdam"));

    // Search listening: "xyzzy" was searched five times by one visitor and never shows.
    let top = p
        .json(DEMO, &format!("/v1/sites/demo/searches/top?{q}"))
        .await;
    assert_eq!(top["min_visitors"], json!(5));
    assert_eq!(
        terms(&top),
        [
            (s("schuldhulp"), 6, 0, 6),
            (s("kwijtschelding"), 5, 5, 5),
            (s("zwembad"), 5, 0, 5),
        ]
    );
    let top = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/searches/top?{q}&theme=schulden&limit=1"),
        )
        .await;
    assert_eq!(terms(&top), [(s("schuldhulp"), 6, 0, 6)]);
    let zero = p
        .json(DEMO, &format!("/v1/sites/demo/searches/zero-results?{q}"))
        .await;
    assert_eq!(terms(&zero), [(s("kwijtschelding"), 5, 5, 5)]);
    let unmatched = p
        .json(DEMO, &format!("/v1/sites/demo/searches/unmatched?{q}"))
        .await;
    assert_eq!(terms(&unmatched), [(s("zwembad"), 5, 0, 5)]);
    let rising = p
        .json(DEMO, &format!("/v1/sites/demo/searches/rising?{q}"))
        .await;
    assert_eq!(rising["baseline_periods"], json!(4));
    assert_eq!(
        rising["baseline"]["from"],
        json!((w.monday - Days::new(28)).to_string())
    );
    assert_eq!(
        rising["terms"],
        json!([
            {"term": "schuldhulp", "searches": 6, "visitors": 6, "baseline_searches": 0.5, "change_pct": 1100.0},
            {"term": "kwijtschelding", "searches": 5, "visitors": 5, "baseline_searches": 0.0, "change_pct": null},
            {"term": "zwembad", "searches": 5, "visitors": 5, "baseline_searches": 0.0, "change_pct": null},
        ])
    );

    // Channels and devices: a cell of fewer than k (5) visitors is left out.
    let mix = p.json(DEMO, &format!("/v1/sites/demo/mix?{q}")).await;
    assert_eq!(
        mix["rows"],
        json!([{"value": "direct", "visits": 5, "visitors": 5, "contacts": 1, "share_pct": 71.4}])
    );
    assert_eq!(
        (&mix["min_visitors"], &mix["suppressed_rows"]),
        (&json!(5), &json!(1)),
        "search (2 visitors) is hidden"
    );
    let mix = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/mix?{q}&by=device&theme=schulden"),
        )
        .await;
    assert_eq!(
        mix["rows"],
        json!([]),
        "mobile 4 and desktop 2 are both below k"
    );
    assert_eq!(mix["suppressed_rows"], json!(2));

    // Early contact: three of six debt-help visits phoned, 300 s after the page view.
    let ec = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/early-contact?{q}&theme=schulden"),
        )
        .await;
    let total = json!({"week": "total", "sessions": 6, "contacted": 3, "conversion_pct": 50.0,
                       "median_time_to_contact_s": 300, "p90_time_to_contact_s": 300});
    assert_eq!(ec["total"], total);
    let mut week = total.clone();
    week["week"] = json!(w.iso());
    assert_eq!(ec["weeks"], json!([week]));
    let ec = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/early-contact?{q}&theme=afval"),
        )
        .await;
    assert_eq!(
        ec["total"],
        json!({"week": "total", "sessions": 1, "contacted": 0, "conversion_pct": 0.0,
               "median_time_to_contact_s": null, "p90_time_to_contact_s": null})
    );

    // CSV for Dutch Excel.
    let r = p
        .get(DEMO, &format!("/v1/sites/demo/reach?{q}&format=csv"))
        .await;
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        format!(
            "attachment; filename=\"demo-reach-{}-{}.csv\"",
            w.monday,
            w.sunday()
        )
    );
    assert_eq!(
        r.text().await.unwrap(),
        "\u{feff}metric;current;previous;year_ago;change_vs_previous_pct;change_vs_year_ago_pct\r\n\
         pageviews;7;2;1;250;600\r\nvisits;7;2;1;250;600\r\nvisitors;7;2;1;250;600\r\n\
         searches;21;2;0;950;\r\nzero_result_searches;10;0;0;;\r\ncontacts;3;0;0;;\r\n"
    );
    let r = p
        .get(DEMO, &format!("/v1/sites/demo/mix?{q}&format=csv"))
        .await;
    assert_eq!(
        r.text().await.unwrap(),
        "\u{feff}value;visits;visitors;contacts;share_pct\r\ndirect;5;5;1;71,4\r\n"
    );
    let r = p
        .get(
            DEMO,
            &format!("/v1/sites/demo/early-contact?{q}&theme=schulden&format=csv"),
        )
        .await;
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}week;sessions;contacted;conversion_pct;median_time_to_contact_s;p90_time_to_contact_s\r\ntotal;6;3;50;300;300\r\n"),
        "{csv}"
    );

    // Freshness: the newest stored event, then one sent through the collector now.
    let f = p.json(DEMO, "/v1/sites/demo/freshness").await;
    let wednesday_noon = (tuesday + Days::new(1))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(f["newest_event"], json!(wednesday_noon.to_rfc3339()));
    let sent = reqwest::Client::new()
        .post(p.ingest.url("/v1/events"))
        .header("content-type", "application/json")
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/schulden"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let fresh = wait_for(Duration::from_secs(30), || async {
        let f = p.json(DEMO, "/v1/sites/demo/freshness").await;
        (f["newest_event_age_s"].as_u64()? < 120).then_some(f)
    })
    .await;
    assert!(
        fresh.is_some(),
        "the collector's event did not show in the freshness"
    );
    let today = Utc::now().date_naive();
    let r = p
        .json(
            DEMO,
            &format!(
                "/v1/sites/demo/reach?from={}&to={}",
                today - Days::new(1),
                today + Days::new(1)
            ),
        )
        .await;
    assert_eq!(
        r["figures"][0],
        figure("pageviews", 1, 0, 0, Value::Null, Value::Null)
    );

    p.stop().await;
    scratch.cleanup().await;
}

/// Every endpoint with a site in its path, with the parameters it needs.
fn site_endpoints(site: &str, w: Weeks) -> Vec<String> {
    let q = w.period();
    [
        format!("reach?{q}"),
        format!("reach?{q}&theme=afval"),
        format!("themes?{q}"),
        format!("timeseries?{q}"),
        format!("searches/top?{q}"),
        format!("searches/zero-results?{q}"),
        format!("searches/unmatched?{q}"),
        format!("searches/rising?{q}"),
        format!("mix?{q}"),
        format!("early-contact?{q}&theme=afval"),
        "freshness".to_string(),
        format!("report?week={}", w.iso()),
    ]
    .into_iter()
    .map(|e| format!("/v1/sites/{site}/{e}"))
    .collect()
}

#[tokio::test]
async fn one_tenant_cannot_read_another_tenants_data_through_any_endpoint() {
    let scratch = Scratch::new("api_tenants");
    let (p, w) = loaded(&scratch).await;

    for (token, own, other) in [(DEMO, "demo", "zwolle"), (ZWOLLE, "zwolle", "demo")] {
        for path in site_endpoints(other, w) {
            let r = p.get(token, &path).await;
            assert_eq!(r.status(), 403, "{own}'s token on {path}");
            let body = r.text().await.unwrap();
            assert!(body.contains("may not read site"), "{path}: {body}");
            assert!(!body.contains("geheimterm") && !body.contains("schuldhulp"));
        }
        for path in site_endpoints(own, w) {
            let r = p.get(token, &path).await;
            assert_eq!(r.status(), 200, "{own}'s token on {path}");
            let body = r.text().await.unwrap();
            // The other tenant's search term never appears in this tenant's answers.
            let foreign = if own == "demo" {
                "geheimterm"
            } else {
                "schuldhulp"
            };
            assert!(!body.contains(foreign), "{path} shows {foreign}: {body}");
        }
        // Listing endpoints show only the tenant's own sites.
        let f = p.json(token, "/v1/freshness").await;
        let sites: Vec<&str> = f["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["site"].as_str().unwrap())
            .collect();
        assert_eq!(sites, [own]);
    }
    // zwolle sees its own term; the administrator reads both sites.
    let top = p
        .json(
            ZWOLLE,
            &format!("/v1/sites/zwolle/searches/top?{}", w.period()),
        )
        .await;
    assert_eq!(top["terms"][0]["term"], json!("geheimterm"));
    let f = p.json(ADMIN, "/v1/freshness").await;
    assert_eq!(f["sites"].as_array().unwrap().len(), 2);

    // No token, a wrong one, or a header without a scheme: 401 with a challenge.
    let client = reqwest::Client::new();
    for path in site_endpoints("demo", w) {
        let r = client.get(p.api.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("Basic"), "{challenge}");
        let r = p.get("demo-tenant-token2", &path).await;
        assert_eq!(r.status(), 401, "{path} with a wrong token");
        let r = client
            .get(p.api.url(&path))
            .header("authorization", DEMO)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} without a scheme");
    }
    // HTTP Basic with the token as password, as a browser sends it.
    let r = client
        .get(p.api.url(&format!("/v1/sites/demo/reach?{}", w.period())))
        .basic_auth("anyone", Some(DEMO))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An unknown site is 404 for everyone with a valid token.
    let r = p
        .get(DEMO, &format!("/v1/sites/elders/reach?{}", w.period()))
        .await;
    assert_eq!(r.status(), 404);

    // Requests are counted by route template, never by the raw path.
    let metrics = p.api.metrics().await;
    assert!(
        metrics.contains(
            r#"luister_http_requests_total{route="/v1/sites/{site}/reach",status="403"}"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("/v1/sites/demo/"),
        "a raw path became a label"
    );

    p.stop().await;
    scratch.cleanup().await;
}

#[tokio::test]
async fn injection_attempts_are_refused_or_bound_and_never_change_the_answer() {
    let scratch = Scratch::new("api_injection");
    let (p, w) = loaded(&scratch).await;
    let q = w.period();
    let attempts = [
        format!("/v1/sites/demo/reach?{q}&theme=schulden%27%20OR%20%271%27%3D%271"),
        format!("/v1/sites/demo/searches/top?{q}&theme=x%27)%20UNION%20SELECT%20name%20FROM%20system.tables--"),
        format!("/v1/sites/demo/mix?{q}&by=visitor"),
        format!("/v1/sites/demo/mix?{q}&by=channel%2C(SELECT%20count()%20FROM%20events)"),
        format!("/v1/sites/demo/timeseries?{q}&granularity=toStartOfInterval"),
        format!("/v1/sites/demo/searches/top?{q}&limit=1%20UNION%20ALL%20SELECT%201"),
        format!("/v1/sites/demo/reach?from={}%27--&to={}", w.monday, w.sunday()),
        format!("/v1/sites/demo/report?week={}%27%3B%20DROP%20TABLE%20events--", w.iso()),
        format!("/v1/sites/demo/reach?{q}&site=zwolle"),
    ];
    for path in attempts {
        let r = p.get(DEMO, &path).await;
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().len() > 10, "{path}: {body}");
    }
    // A site path that is not a site id is a 404, even when it looks like SQL.
    let r = p
        .get(
            ADMIN,
            &format!("/v1/sites/demo%27%20OR%201%3D1--/reach?{q}"),
        )
        .await;
    assert_eq!(r.status(), 404);
    // A well-formed theme that happens to contain SQL words is just a theme with no data.
    let r = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/reach?{q}&theme=select-from-events"),
        )
        .await;
    assert_eq!(r["figures"][0]["current"], json!(0));
    // And the data is still all there.
    let r = p.json(DEMO, &format!("/v1/sites/demo/reach?{q}")).await;
    assert_eq!(r["figures"][0]["current"], json!(7));
    p.stop().await;
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_weekly_report_renders_its_sections_and_charts_in_headless_chromium() {
    let scratch = Scratch::new("api_report");
    let (p, w) = loaded(&scratch).await;

    let action = reqwest::Client::new()
        .post(p.api.url("/v1/sites/demo/actions"))
        .bearer_auth(DEMO)
        .json(&json!({"themes": ["schulden"], "channels": ["letter"],
                      "start": w.monday.to_string(), "end": w.sunday().to_string(),
                      "description": "Brief over schuldhulp", "cost_eur": 900, "owner": "Team Schulden"}))
        .send()
        .await
        .unwrap();
    assert_eq!(action.status(), 201);
    let html = p
        .get(DEMO, &format!("/v1/sites/demo/report?week={}", w.iso()))
        .await;
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert!(html.contains("schuldhulp") && html.contains("kwijtschelding"));
    assert!(!html.contains("xyzzy"), "a term below k reached the report");
    assert!(html.contains("Brief over schuldhulp") && html.contains("€ 900"));
    assert!(
        html.contains("too little data"),
        "the action is too recent to estimate"
    );

    // The report is self-contained (no script, no external resources), so Chromium
    // renders the page exactly as served from a file.
    let page = std::env::temp_dir()
        .join(luister_testkit::unique("report"))
        .with_extension("html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let dom = luister_testkit::chromium(&["--dump-dom"], &url).await;
    let dom = String::from_utf8(dom).unwrap();
    for section in [
        "reach",
        "themes",
        "trend",
        "searches",
        "channels",
        "early-contact",
        "channel-shift",
        "pages",
        "reading",
        "actions",
    ] {
        assert!(
            dom.contains(&format!("<section id=\"{section}\">")),
            "section {section} missing: {dom}"
        );
    }
    assert!(dom.matches("<svg").count() >= 6, "charts missing: {dom}");
    assert!(dom.contains(&format!(
        "Weekrapport demo — week {}",
        w.monday.iso_week().week()
    )));

    // The charts are drawn: the screenshot holds many pixels of the bar colour (#1f5fbf).
    let shot = std::env::temp_dir()
        .join(luister_testkit::unique("report"))
        .with_extension("png");
    luister_testkit::chromium(
        &[
            "--window-size=1200,3000",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
    )
    .await;
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let _ = std::fs::remove_file(&shot);
    let _ = std::fs::remove_file(&page);
    let channels = info.color_type.samples();
    let blue = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| {
            px[0].abs_diff(0x1f) < 8 && px[1].abs_diff(0x5f) < 8 && px[2].abs_diff(0xbf) < 8
        })
        .count();
    assert!(
        blue > 5_000,
        "only {blue} pixels in the chart colour: the charts did not render"
    );

    p.stop().await;
    scratch.cleanup().await;
}

/// Renders the local stack's configurations into a fresh `LUISTER_HOME`, optionally
/// with `LUISTER_ADMIN_TOKEN`, and loads the API's.
fn local_stack_api_config(home: &std::path::Path, admin: Option<&str>) -> ApiConfig {
    let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/lib.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "source '{lib}' && mkdir -p \"$CONF_DIR\" && write_service_configs"
        ))
        .env("LUISTER_HOME", home)
        .env_remove("LUISTER_ADMIN_TOKEN");
    if let Some(t) = admin {
        cmd.env("LUISTER_ADMIN_TOKEN", t);
    }
    assert!(cmd.status().unwrap().success());
    let config: ApiConfig =
        luister_service::config::load(Some(&home.join("config/api.toml"))).unwrap();
    luister_service::config::ServiceConfig::validate(&config).unwrap();
    config
}

#[test]
fn the_local_stack_takes_its_admin_token_from_the_environment_or_generates_one() {
    let home = std::env::temp_dir().join(luister_testkit::unique("luister-home"));
    let config = local_stack_api_config(&home, Some("my-admin-token"));
    let tokens = Tokens::from_config(&config);
    assert_eq!(
        tokens.authenticate(Some("Bearer my-admin-token")),
        Ok(Principal::Admin)
    );
    assert!(!std::fs::read_to_string(home.join("config/api.toml"))
        .unwrap()
        .contains("my-admin-token"));

    // Without the variable: a token is generated once, kept owner-readable, and reused.
    let config = local_stack_api_config(&home, None);
    let file = home.join("admin-token");
    let generated = std::fs::read_to_string(&file).unwrap();
    assert!(generated.trim().starts_with("lst_") && generated.trim().len() == 68);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o077, 0);
    let tokens = Tokens::from_config(&config);
    assert_eq!(
        tokens.authenticate(Some(&format!("Bearer {}", generated.trim()))),
        Ok(Principal::Admin)
    );
    local_stack_api_config(&home, None);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), generated);
    let _ = std::fs::remove_dir_all(&home);
}

/// The API as it runs in production: a read-only ClickHouse user (`reader` of the local
/// ClickHouse, readonly = 2) with `clickhouse.migrate = false`.
#[tokio::test]
async fn the_api_reads_through_a_read_only_user_once_the_processor_has_migrated() {
    use luister_store::{ClickHouseConfig, Store, StoreError};

    let scratch = Scratch::new("api_readonly");
    let reader = ClickHouseConfig {
        url: luister_testkit::clickhouse_url(),
        database: scratch.database.clone(),
        user: "reader".into(),
        migrate: false,
        ..ClickHouseConfig::default()
    };
    // Nothing migrated yet: a clear, retryable error (the API waits for it).
    let e = Store::connect(&reader).await.err().unwrap();
    assert!(matches!(e, StoreError::NotMigrated(_)), "{e}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("luister-processor"), "{e}");
    // The read-only user cannot migrate, even when asked to.
    let writer_refused = Store::connect(&ClickHouseConfig {
        migrate: true,
        ..reader.clone()
    })
    .await;
    assert!(writer_refused.is_err());

    // A service that migrates (the processor's configuration) does it.
    Store::connect(&ClickHouseConfig {
        url: luister_testkit::clickhouse_url(),
        database: scratch.database.clone(),
        ..ClickHouseConfig::default()
    })
    .await
    .unwrap();
    let api = ApiConfig {
        clickhouse: reader,
        // Actions are written through their own user.
        actions: luister_api::config::ActionsConfig {
            user: "default".into(),
            password: String::new(),
        },
        auth: luister_api::config::AuthConfig {
            admin_token_sha256: vec![luister_api::auth::token_hash(ADMIN)],
        },
        sites: vec![luister_api::config::SiteConfig {
            id: luister_schema::SiteId::parse("demo").unwrap(),
        }],
        ..Default::default()
    };
    let api = luister_testkit::Running::start(move |l, s| luister_api::serve(api, l, s)).await;
    api.wait_ready(Duration::from_secs(30)).await;
    let w = Weeks::now();
    let r = reqwest::Client::new()
        .get(api.url(&format!("/v1/sites/demo/reach?{}", w.period())))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["figures"][0]["current"], json!(0));
    let r = reqwest::Client::new()
        .post(api.url("/v1/sites/demo/actions"))
        .bearer_auth(ADMIN)
        .json(&json!({"themes": ["schulden"], "channels": ["website"], "start": "2026-11-02",
                      "end": "2026-11-08", "description": "Nieuwe pagina schuldhulp", "owner": "Web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    api.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_reports_search_lists_are_the_search_endpoints_lists() {
    use luister_api::domain::searches::{self, Order, Scope};
    use luister_api::params::Period;
    let scratch = Scratch::new("api_terms");
    let (_p, w) = loaded(&scratch).await;
    let c = clickhouse::Client::default()
        .with_url(luister_testkit::clickhouse_url())
        .with_database(&scratch.database)
        .with_validation(false);
    let week = Period {
        from: w.monday,
        to: w.sunday(),
    };
    for k in [1, 2, 3] {
        for limit in [1, 2, 3, 10] {
            let (top, zero) = searches::top_and_zero(&c, "demo", week, k, limit)
                .await
                .unwrap();
            let by = |order| searches::terms(&c, "demo", week, Scope::Site, order, k, limit);
            assert_eq!(
                top,
                by(Order::Searches).await.unwrap(),
                "k {k}, limit {limit}"
            );
            assert_eq!(
                zero,
                by(Order::ZeroResults).await.unwrap(),
                "k {k}, limit {limit}"
            );
            if k == 1 && limit == 10 {
                assert!(
                    top.len() > 2 && !zero.is_empty(),
                    "too few terms to compare"
                );
            }
        }
    }
}
