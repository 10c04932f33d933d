//! Campaigns, referrers and clicks out through the real pipeline, from the trackers'
//! own requests: Matomo page views with UTM parameters and `link=` outlinks, Plausible
//! page views with a referrer and `File Download` events, a native outlink. The
//! collector, Kafka, the processor and its sessionizer put them in ClickHouse, and
//! `/v1/sites/{site}/campaigns` and `/clicks-out` answer their exact figures, with
//! values below k folded and an outlink to a partner host counted as a contact.

use std::time::Duration;

use chrono::{Days, Utc};
use serde_json::{json, Value};

use luister_testkit::{wait_for, Scratch};

use super::helpers::{matomo_query, Pipeline, DEMO};

const DEBT_PAGE: &str = "http://localhost/schulden/schuldhulpverlening";

fn matomo(params: &[(&str, &str)]) -> String {
    format!("/matomo.php?{}", matomo_query(params))
}

fn value<'a>(list: &'a Value, key: &str, field: &str, wanted: &str) -> &'a Value {
    list[key]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r[field] == wanted))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn campaigns_referrers_and_clicks_out_have_their_exact_figures_from_tracker_requests() {
    let scratch = Scratch::new("api_sources");
    let p = Pipeline::start_with(&scratch, |c| {
        c.goals[0].outlink_hosts = vec!["geldfit.nl".into()];
    })
    .await;
    let send = |visitor: u32, method: reqwest::Method, path: String, body: String| {
        let p = &p;
        async move { p.track(visitor, method, &path, body).await }
    };
    let campaign_page =
        format!("{DEBT_PAGE}?utm_campaign=Najaar&utm_source=brief&utm_medium=print");
    // Six visitors come from a letter's QR code through Google to the debt page and go
    // on to Geldfit (a partner host: a contact).
    for v in 1..=6 {
        send(
            v,
            reqwest::Method::GET,
            matomo(&[
                ("url", &campaign_page),
                ("action_name", "Schuldhulp"),
                ("urlref", "https://www.google.nl/search?q=schulden+hulp"),
            ]),
            String::new(),
        )
        .await;
        send(
            v,
            reqwest::Method::GET,
            matomo(&[
                ("url", DEBT_PAGE),
                ("link", "https://www.geldfit.nl/zelftest"),
            ]),
            String::new(),
        )
        .await;
    }
    // Five come from Facebook without UTM and download the application form.
    for v in 7..=11 {
        send(
            v,
            reqwest::Method::POST,
            "/api/event".into(),
            json!({"n": "pageview", "u": "http://localhost/formulieren", "d": "localhost",
                   "r": "https://www.facebook.com/groups/x/posts/1"})
            .to_string(),
        )
        .await;
        send(
            v,
            reqwest::Method::POST,
            "/api/event".into(),
            json!({"n": "File Download", "u": "http://localhost/formulieren", "d": "localhost",
                   "p": {"url": "http://localhost/formulieren/aanvraag.pdf"}})
            .to_string(),
        )
        .await;
    }
    // One comes straight in with a campaign of its own and clicks to Nibud: below k.
    send(
        12,
        reqwest::Method::POST,
        "/v1/events".into(),
        json!({"site": "demo", "type": "pageview", "url": "http://localhost/?utm_campaign=klein"})
            .to_string(),
    )
    .await;
    send(
        12,
        reqwest::Method::POST,
        "/v1/events".into(),
        json!({"site": "demo", "type": "action", "name": "outlink", "url": "http://localhost/",
               "target": "https://www.nibud.nl/"})
        .to_string(),
    )
    .await;

    // Around today in every time zone: the collector stamps the events now.
    let today = Utc::now().date_naive();
    let q = format!("from={}&to={}", today - Days::new(1), today + Days::new(1));
    let campaigns = wait_for(Duration::from_secs(60), || async {
        let v = p.json(DEMO, &format!("/v1/sites/demo/campaigns?{q}")).await;
        let najaar = value(&v, "values", "value", "najaar");
        (najaar["contact_visits"] == 6 && v["without"]["visits"] == 5).then_some(v)
    })
    .await
    .expect("the visits' campaigns did not reach the API within 60 s");
    let najaar = value(&campaigns, "values", "value", "najaar");
    assert_eq!(
        (
            &najaar["visits"],
            &najaar["visitors"],
            &najaar["contact_share_pct"]
        ),
        (&json!(6), &json!(6), &json!(100.0))
    );
    assert_eq!(najaar["themes"][0]["theme"], "schulden", "{campaigns}");
    assert_eq!(najaar["themes"][0]["visits"], 6);
    assert_eq!(campaigns["values"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (
            &campaigns["other"]["visits"],
            &campaigns["other"]["values_folded"]
        ),
        (&json!(1), &json!(1)),
        "'klein' has one visitor: folded"
    );
    assert_eq!(campaigns["without"]["contact_visits"], 0);

    let by_source = p
        .json(DEMO, &format!("/v1/sites/demo/campaigns?{q}&by=source"))
        .await;
    assert_eq!(value(&by_source, "values", "value", "brief")["visits"], 6);
    // The referrer's host only: never its path or query.
    let referrers = p
        .json(DEMO, &format!("/v1/sites/demo/campaigns?{q}&by=referrer"))
        .await;
    let hosts: Vec<(&str, u64)> = referrers["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["value"].as_str().unwrap(), r["visits"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        hosts,
        [("www.google.nl", 6), ("www.facebook.com", 5)],
        "{referrers}"
    );
    assert_eq!(referrers["without"]["visits"], 1);
    assert!(!referrers.to_string().contains("schulden+hulp"));

    let clicks = p
        .json(DEMO, &format!("/v1/sites/demo/clicks-out?{q}"))
        .await;
    assert_eq!(
        clicks["clicks"],
        json!([
            {"kind": "outlink", "host": "www.geldfit.nl", "file": "", "clicks": 6, "visitors": 6,
             "previous_clicks": 0, "folded": 0},
            {"kind": "download", "host": "localhost", "file": "/formulieren/aanvraag.pdf",
             "clicks": 5, "visitors": 5, "previous_clicks": 0, "folded": 0},
        ])
    );
    assert_eq!(
        clicks["other"],
        json!({"kind": "", "host": "other", "file": "", "clicks": 1, "visitors": 1,
               "previous_clicks": 0, "folded": 1})
    );
    let downloads = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/clicks-out?{q}&kind=download"),
        )
        .await;
    assert_eq!(downloads["clicks"].as_array().map(Vec::len), Some(1));
    assert!(downloads["other"].is_null());
    let debt = p
        .json(
            DEMO,
            &format!("/v1/sites/demo/clicks-out?{q}&theme=schulden"),
        )
        .await;
    assert_eq!(debt["clicks"][0]["host"], "www.geldfit.nl");
    assert_eq!(debt["clicks"].as_array().map(Vec::len), Some(1), "{debt}");

    // CSV: the listed rows, then `other` (and `without`).
    let csv = p
        .csv(DEMO, &format!("/v1/sites/demo/campaigns?{q}&format=csv"))
        .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with("najaar;6;6;6;100"), "{csv}");
    assert!(lines[3].starts_with(";5;5;0;0"), "{csv}");

    let r = p
        .get(DEMO, &format!("/v1/sites/demo/campaigns?{q}&by=utm"))
        .await;
    assert_eq!(r.status(), 400);
    p.stop().await;
    scratch.cleanup().await;
}
