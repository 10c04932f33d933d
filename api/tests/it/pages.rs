//! Top, entry and exit pages through the real pipeline: scripted visits whose pages,
//! entries, exits and contacts are known go through Kafka, the processor and its
//! sessionizer into ClickHouse, and `/v1/sites/{site}/pages` answers their exact
//! figures, with the pages below k folded into `other` so that the totals add up.

use std::time::Duration;

use chrono::{Datelike, Days, Utc};
use serde_json::{json, Value};

use luister_schema::{Event, EventData};
use luister_testkit::{wait_for, Scratch};

use super::helpers::{at_noon, load, matomo_query, Pipeline, DEMO};

const DEBT_PAGE: &str = "/schulden/schuldhulpverlening";

fn on(days_ago: u64, visitor: u64, after_s: i64, path: &str, data: EventData) -> Event {
    at_noon(days_ago, visitor, after_s, path, data)
}

fn view(visitor: u64, after_s: i64, path: &str, title: Option<&str>) -> Event {
    on(
        1,
        visitor,
        after_s,
        path,
        EventData::Pageview {
            title: title.map(str::to_owned),
        },
    )
}

fn contact(visitor: u64, after_s: i64, path: &str) -> Event {
    on(
        1,
        visitor,
        after_s,
        path,
        EventData::Action {
            name: "contact:phone".into(),
            target: None,
            label: None,
        },
    )
}

fn page(pages: &Value, path: &str) -> Value {
    pages["pages"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["path"] == path).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn top_entry_and_exit_pages_have_their_exact_figures_and_fold_below_k() {
    let scratch = Scratch::new("api_pages");
    let p = Pipeline::start(&scratch).await;
    let mut events = Vec::new();
    // Six visits start on the home page and go on to the debt-help page; three of them
    // call after reading it; one goes on to the waste page and leaves there.
    for v in 1..=6 {
        events.push(view(v, 0, "/", Some("Home")));
        events.push(view(v, 30, DEBT_PAGE, Some("Schuldhulp")));
    }
    for v in 1..=3 {
        events.push(contact(v, 60, DEBT_PAGE));
    }
    events.push(view(6, 90, "/afval", Some("Afval")));
    // Two visits of the waste page alone, one of a page nobody else saw: below k = 5.
    events.push(view(7, 0, "/afval", Some("Afval")));
    events.push(view(8, 0, "/afval", Some("Afval")));
    events.push(view(9, 0, "/geheim", None));
    // The day before and a year (52 weeks) before.
    events.push(on(2, 20, 0, "/", EventData::Pageview { title: None }));
    events.push(on(
        365,
        21,
        0,
        DEBT_PAGE,
        EventData::Pageview { title: None },
    ));
    load(&scratch.topic, &events).await;

    let day = (Utc::now().date_naive() - Days::new(1)).to_string();
    let q = format!("from={day}&to={day}");
    let top = wait_for(Duration::from_secs(60), || async {
        let v = p.json(DEMO, &format!("/v1/sites/demo/pages?{q}")).await;
        (page(&v, "/")["visits"] == 6 && page(&v, DEBT_PAGE)["exits"] == 5).then_some(v)
    })
    .await
    .expect("the visits' pages did not reach the API within 60 s");
    assert_eq!(top["list"], "top");
    assert_eq!(top["min_visitors"], 5);
    assert_eq!(
        top["pages"],
        json!([
            {"path": "/", "title": "Home", "pageviews": 6, "visits": 6, "visitors": 6,
             "entries": 6, "exits": 0, "contact_visits": 3, "contact_share_pct": 50.0,
             "previous_pageviews": 1, "year_earlier_pageviews": 0, "pages_folded": 0},
            {"path": DEBT_PAGE, "title": "Schuldhulp", "pageviews": 6, "visits": 6, "visitors": 6,
             "entries": 0, "exits": 5, "contact_visits": 3, "contact_share_pct": 50.0,
             "previous_pageviews": 0, "year_earlier_pageviews": 1, "pages_folded": 0},
        ])
    );
    // /afval (3 visitors) and /geheim (1) are folded, their figures added up.
    assert_eq!(
        top["other"],
        json!({"path": "other", "title": "", "pageviews": 4, "visits": 4, "visitors": 4,
               "entries": 3, "exits": 4, "contact_visits": 0, "contact_share_pct": 0.0,
               "previous_pageviews": 0, "year_earlier_pageviews": 0, "pages_folded": 2})
    );

    let entry = p
        .json(DEMO, &format!("/v1/sites/demo/pages?{q}&list=entry"))
        .await;
    let paths: Vec<&str> = entry["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert_eq!(paths, ["/"], "the debt page started no visit");
    assert_eq!(entry["other"]["entries"], 3);
    let exit = p
        .json(DEMO, &format!("/v1/sites/demo/pages?{q}&list=exit"))
        .await;
    assert_eq!(exit["pages"][0]["path"], DEBT_PAGE);
    assert_eq!(exit["pages"].as_array().map(Vec::len), Some(1));
    assert_eq!(exit["other"]["exits"], 4);

    // One theme: only the pages attributed to it.
    let debt = p
        .json(DEMO, &format!("/v1/sites/demo/pages?{q}&theme=schulden"))
        .await;
    let paths: Vec<&str> = debt["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert_eq!(paths, [DEBT_PAGE]);
    assert!(debt["other"].is_null(), "{debt}");

    // CSV: the listed pages, then `other`.
    let csv = p
        .csv(DEMO, &format!("/v1/sites/demo/pages?{q}&format=csv"))
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[0].starts_with("path;title;pageviews;visits;visitors;entries;exits"),
        "{csv}"
    );
    assert!(lines[3].starts_with("other;;4;4;4;3;4;0;0;0;0;2"), "{csv}");

    // The weekly report of the week lists the same figures for the whole site.
    let yesterday = Utc::now().date_naive() - Days::new(1);
    let week = format!(
        "{}-W{:02}",
        yesterday.iso_week().year(),
        yesterday.iso_week().week()
    );
    let html = p
        .get(DEMO, &format!("/v1/sites/demo/report?week={week}"))
        .await
        .text()
        .await
        .unwrap();
    let section = html
        .split("<section id=\"pages\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_else(|| panic!("no pages section: {html}"));
    let debt_row = format!(
        "<td>{DEBT_PAGE}<br><span class=\"note\">Schuldhulp</span></td><td class=\"n\">6</td>\
         <td class=\"n\">6</td><td class=\"n\">0</td><td class=\"n\">5</td><td class=\"n\">50,0%</td>"
    );
    assert!(section.contains(&debt_row), "{section}");
    assert!(
        section.contains("<td>Overige pagina's (2)</td>"),
        "{section}"
    );

    // Bad parameters are named.
    let r = p
        .get(DEMO, &format!("/v1/sites/demo/pages?{q}&list=exits"))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("list=\\\"exits\\\""));
    p.stop().await;
    scratch.cleanup().await;
}

#[tokio::test]
async fn pages_not_found_are_listed_with_where_their_visitors_came_from() {
    let scratch = Scratch::new("api_not_found");
    let p = Pipeline::start(&scratch).await;
    let missing = "http://localhost/schulden/oude-regeling";
    // Five Matomo visitors follow a broken link on the site's debt page: Matomo's 404
    // convention puts the path and the referrer in the title.
    for v in 1..=5 {
        let title = format!(
            "404/URL = {}/From = {}",
            "%2Fschulden%2Foude-regeling",
            "http%3A%2F%2Flocalhost%2Fschulden%3Fq%3Djan%40example.nl"
        );
        let q = matomo_query(&[("url", missing), ("action_name", &title)]);
        p.track(
            v,
            reqwest::Method::GET,
            &format!("/matomo.php?{q}"),
            String::new(),
        )
        .await;
    }
    // Five Plausible visitors come from Google: a page view, then Plausible's `404`.
    for v in 6..=10 {
        for body in [
            json!({"n": "pageview", "u": missing, "d": "localhost", "r": "https://www.google.nl/search?q=regeling"}),
            json!({"n": "404", "u": missing, "d": "localhost", "r": "https://www.google.nl/search?q=regeling",
                   "p": {"path": "/schulden/oude-regeling"}}),
        ] {
            p.track(v, reqwest::Method::POST, "/api/event", body.to_string())
                .await;
        }
    }
    // One t.js page view of another missing page: below k.
    p.track(
        11,
        reqwest::Method::POST,
        "/v1/events",
        json!({"site": "demo", "type": "pageview", "url": "http://localhost/kapot", "not_found": true})
            .to_string(),
    )
    .await;

    let today = Utc::now().date_naive();
    let q = format!("from={}&to={}", today - Days::new(1), today + Days::new(1));
    let found = wait_for(Duration::from_secs(60), || async {
        let v = p.json(DEMO, &format!("/v1/sites/demo/not-found?{q}")).await;
        (v["pages"][0]["views"] == 10 && v["other"]["views"] == 1).then_some(v)
    })
    .await
    .expect("the pages not found did not reach the API within 60 s");
    assert_eq!(
        found["pages"],
        json!([{"path": "/schulden/oude-regeling", "views": 10, "visitors": 10, "paths_folded": 0,
        "referrers": [
            {"host": "localhost", "page": "/schulden", "views": 5, "visitors": 5},
            {"host": "www.google.nl", "page": "", "views": 5, "visitors": 5},
        ]}])
    );
    assert_eq!(
        found["other"],
        json!({"path": "other", "views": 1, "visitors": 1, "referrers": [], "paths_folded": 1})
    );
    // The 404 title (a URL and a referrer with an e-mail address in it) is not kept, and
    // Plausible's page view and its `404` are one page view, not two.
    let pages = wait_for(Duration::from_secs(60), || async {
        let v = p.json(DEMO, &format!("/v1/sites/demo/pages?{q}")).await;
        (page(&v, "/schulden/oude-regeling")["visits"] == 10).then_some(v)
    })
    .await
    .expect("the visits of the missing page were not counted within 60 s");
    let missing_page = page(&pages, "/schulden/oude-regeling");
    assert_eq!(
        (&missing_page["pageviews"], &missing_page["title"]),
        (&json!(10), &json!("")),
        "{pages}"
    );
    let csv = p
        .csv(DEMO, &format!("/v1/sites/demo/not-found?{q}&format=csv"))
        .await;
    assert!(
        csv.contains("/schulden/oude-regeling;10;10;localhost/schulden: 5, www.google.nl: 5;0"),
        "{csv}"
    );
    p.stop().await;
    scratch.cleanup().await;
}

fn search(visitor: u64, after_s: i64, term: &str) -> Event {
    on(
        1,
        visitor,
        after_s,
        "/zoeken",
        EventData::Search {
            query: term.into(),
            result_count: Some(4),
            category: None,
        },
    )
}

#[tokio::test]
async fn transitions_after_a_search_and_paths_to_contact_have_their_exact_counts() {
    let scratch = Scratch::new("api_transitions");
    let p = Pipeline::start(&scratch).await;
    let mut events = Vec::new();
    // Six visits: home, a search for "schulden", the debt page, a call.
    for v in 1..=6 {
        events.push(view(v, 0, "/", None));
        events.push(search(v, 20, "schulden"));
        events.push(view(v, 40, DEBT_PAGE, None));
        events.push(contact(v, 60, DEBT_PAGE));
    }
    // Five come in on the search and leave; one refines it (below k).
    for v in 7..=11 {
        events.push(search(v, 0, "schulden"));
    }
    events.push(search(12, 0, "schulden"));
    events.push(search(12, 10, "schuld hulp"));
    load(&scratch.topic, &events).await;

    let day = (Utc::now().date_naive() - Days::new(1)).to_string();
    let q = format!("from={day}&to={day}");
    let after_search = wait_for(Duration::from_secs(60), || async {
        let v = p
            .json(
                DEMO,
                &format!("/v1/sites/demo/transitions?{q}&search=Schulden"),
            )
            .await;
        (v["occurrences"] == 12 && v["after"][0]["count"] == 6).then_some(v)
    })
    .await
    .expect("the visits' steps did not reach the API within 60 s");
    assert_eq!(
        (
            &after_search["kind"],
            &after_search["value"],
            &after_search["within"]
        ),
        (&json!("search"), &json!("schulden"), &json!("visit"))
    );
    assert_eq!(
        (&after_search["visits"], &after_search["visitors"]),
        (&json!(12), &json!(12))
    );
    let cells = |side: &str| -> Vec<(String, String, u64)> {
        after_search[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["kind"].as_str().unwrap().to_owned(),
                    c["value"].as_str().unwrap().to_owned(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        cells("before"),
        [
            ("entry".into(), "direct".into(), 6),
            ("page".into(), "/".into(), 6)
        ]
    );
    assert_eq!(
        cells("after"),
        [
            ("page".into(), DEBT_PAGE.into(), 6),
            ("leave".into(), String::new(), 5)
        ]
    );
    assert_eq!(after_search["after"][0]["share_pct"], 50.0);
    assert!(after_search["before_other"].is_null());
    assert_eq!(
        (
            &after_search["after_other"]["count"],
            &after_search["after_other"]["folded"]
        ),
        (&json!(1), &json!(1)),
        "the one refinement is below k"
    );

    let page = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/transitions?{q}&path={DEBT_PAGE}"),
        )
        .await;
    assert_eq!(page["occurrences"], 6);
    assert_eq!(
        (&page["before"][0]["kind"], &page["before"][0]["value"]),
        (&json!("search"), &json!("schulden"))
    );
    assert_eq!(
        (
            &page["after"][0]["kind"],
            &page["after"][0]["value"],
            &page["after"][0]["share_pct"]
        ),
        (&json!("contact"), &json!("contact:phone"), &json!(100.0))
    );
    let csv = p
        .csv(
            DEMO,
            &format!("/v1/sites/demo/transitions?{q}&path={DEBT_PAGE}&format=csv"),
        )
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0], "direction;kind;value;count;visitors;share_pct;folded",
        "{csv}"
    );
    assert!(
        lines[1].starts_with("before;search;schulden;6;6;100"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("after;contact;contact:phone;6;6;100"),
        "{csv}"
    );

    // Paths to contact of the theme: the six callers' road, cut at the call; the six
    // who only searched (a refinement is the same step) and left without a page.
    let paths = p
        .json(DEMO, &format!("/v1/sites/demo/paths?{q}&theme=schulden"))
        .await;
    assert_eq!(
        (&paths["visits"], &paths["contact_visits"]),
        (&json!(12), &json!(6)),
        "{paths}"
    );
    assert_eq!(
        paths["to_contact"],
        json!([{"steps": ["page:none", "search", "page:schulden", "contact"], "visits": 6, "visitors": 6,
                "share_pct": 100.0, "median_seconds": 60.0, "median_steps": 4.0, "folded": 0}])
    );
    assert_eq!(
        paths["without_contact"],
        json!([{"steps": ["search"], "visits": 6, "visitors": 6, "share_pct": 100.0,
                "median_seconds": 0.0, "median_steps": 1.0, "folded": 0}])
    );
    assert_eq!(
        paths["left_from"],
        json!([{"path": "", "visits": 6, "visitors": 6, "folded": 0}])
    );
    let csv = p
        .csv(
            DEMO,
            &format!("/v1/sites/demo/paths?{q}&theme=schulden&format=csv"),
        )
        .await;
    assert!(
        csv.contains("to_contact;page:none > search > page:schulden > contact;6;6;100"),
        "{csv}"
    );
    p.stop().await;
    scratch.cleanup().await;
}
