//! The actions register and effect estimates through the real pipeline: 18 weeks of
//! daily page views of four themes for two sites go through Kafka, the processor and
//! ClickHouse; site `demo` gets +30% visitors on `schulden` from the action's start,
//! site `zwolle` nothing. The estimate must find the first close to the truth and call
//! the second chance.

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Poisson};
use serde_json::{json, Value};

use luister_schema::{Device, Event, EventData, SiteId, VisitorKey, SCHEMA_VERSION};
use luister_testkit::{wait_for, Scratch};

use super::helpers::{load, Pipeline, ADMIN, DEMO, ZWOLLE};

const WEEKS_BEFORE: u64 = 12;
const WEEKS_AFTER: u64 = 6;
const THEMES: [(&str, &str); 4] = [
    ("schulden", "/schulden/schuldhulpverlening"),
    ("afval", "/afval"),
    ("parkeren", "/parkeren"),
    ("burgerzaken", "/burgerzaken/reisdocumenten"),
];

/// The first day of the weeks after: six whole weeks before this week's Monday, so
/// that they have all passed.
fn start_day() -> NaiveDate {
    let today = Utc::now().date_naive();
    let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    monday - Days::new(7 * WEEKS_AFTER)
}

/// Page views, one per visitor, 40 a day per theme on average (Poisson, a weekday
/// pattern); `lift` multiplies `schulden` from `start` on.
fn traffic(site: &'static str, host: &str, start: NaiveDate, lift: f64, seed: u64) -> Vec<Event> {
    let weekday = [1.2, 1.2, 1.1, 1.1, 1.0, 0.7, 0.7];
    let mut rng = StdRng::seed_from_u64(seed);
    let first = start - Days::new(7 * WEEKS_BEFORE);
    let mut out = Vec::new();
    let mut visitor = 0u64;
    for day in 0..7 * (WEEKS_BEFORE + WEEKS_AFTER) {
        let date = first + Days::new(day);
        let noon = date
            .and_hms_opt(11, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        for (theme, path) in THEMES {
            let l = if theme == "schulden" && date >= start {
                lift
            } else {
                1.0
            };
            let mean = 40.0 * weekday[date.weekday().num_days_from_monday() as usize] * l;
            let n = Poisson::new(mean).unwrap().sample(&mut rng) as u64;
            // At demo, some debt-help visitors also make contact: 4 phone and 2 forms a
            // day before the start, 3 phone and 5 forms from it (a shift to the web).
            let (phone, form) = match (site, theme, date >= start) {
                ("demo", "schulden", false) => (4, 2),
                ("demo", "schulden", true) => (3, 5),
                _ => (0, 0),
            };
            for i in 0..n {
                visitor += 1;
                let contact = if i < phone {
                    Some("contact:phone")
                } else if i < phone + form {
                    Some("contact:form")
                } else {
                    None
                };
                if let Some(name) = contact {
                    out.push(Event {
                        v: SCHEMA_VERSION,
                        site: SiteId::parse(site).unwrap(),
                        ts_ms: noon + i as i64 * 1000 + 500,
                        client_ts_ms: None,
                        visitor: VisitorKey::from_u64(visitor),
                        url: format!("http://{host}{path}"),
                        referrer: None,
                        device: Device::Desktop,
                        browser: "Firefox".into(),
                        screen_width: None,
                        language: None,
                        not_found: false,
                        data: EventData::Action {
                            name: name.into(),
                            target: None,
                            label: None,
                        },
                    });
                }
                out.push(Event {
                    v: SCHEMA_VERSION,
                    site: SiteId::parse(site).unwrap(),
                    ts_ms: noon + i as i64 * 1000,
                    client_ts_ms: None,
                    visitor: VisitorKey::from_u64(visitor),
                    url: format!("http://{host}{path}"),
                    referrer: None,
                    device: Device::Desktop,
                    browser: "Firefox".into(),
                    screen_width: None,
                    language: None,
                    not_found: false,
                    data: EventData::Pageview { title: None },
                });
            }
        }
    }
    out
}

async fn send(
    p: &Pipeline,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.clone(), p.api.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    // Every answer, error or not, matches the OpenAPI document.
    if status != 204 {
        let m = method.as_str().to_lowercase();
        super::helpers::conforms(p.openapi(), &m, status, path, &value);
    }
    (status, value)
}

fn action(start: NaiveDate, themes: &[&str]) -> Value {
    json!({"themes": themes, "channels": ["letter", "website"],
           "start": start.to_string(), "end": (start + Days::new(27)).to_string(),
           "description": "Brief aan huishoudens met een betalingsachterstand", "cost_eur": 1250.0,
           "owner": "Team Schulden"})
}

#[tokio::test]
async fn an_action_with_a_real_lift_is_found_and_one_without_is_called_chance() {
    let scratch = Scratch::new("api_actions");
    let p = Pipeline::start(&scratch).await;
    let start = start_day();
    let demo = traffic("demo", "localhost", start, 1.3, 1);
    let zwolle = traffic("zwolle", "zwolle.example", start, 1.0, 2);
    let pageviews = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e.data, EventData::Pageview { .. }))
            .count()
    };
    let expected = (pageviews(&demo), pageviews(&zwolle));
    load(&scratch.topic, &[demo, zwolle].concat()).await;
    let first = start - Days::new(7 * WEEKS_BEFORE);
    let last = start + Days::new(7 * WEEKS_AFTER - 1);
    let loaded = wait_for(Duration::from_secs(120), || async {
        let pageviews = |site: &'static str| {
            let p = &p;
            async move {
                let r = p
                    .json(
                        ADMIN,
                        &format!("/v1/sites/{site}/reach?from={first}&to={last}"),
                    )
                    .await;
                let figure = |m: &str| {
                    r["figures"].as_array()?.iter().find(|f| f["metric"] == m)?["current"].as_u64()
                };
                // Every visitor has one page view, so as many visits (from the
                // sessionizer, which the visitor figures of the effect read).
                let (pageviews, visits) = (figure("pageviews")?, figure("visits")?);
                (pageviews == visits).then_some(pageviews)
            }
        };
        let got = (pageviews("demo").await?, pageviews("zwolle").await?);
        (got == (expected.0 as u64, expected.1 as u64)).then_some(())
    })
    .await;
    assert!(
        loaded.is_some(),
        "the 18 weeks of traffic did not arrive within 120 s"
    );

    // Record the action, read it back.
    let (status, created) = send(
        &p,
        reqwest::Method::POST,
        DEMO,
        "/v1/sites/demo/actions",
        Some(action(start, &["schulden"])),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["themes"], json!(["schulden"]));
    assert_eq!(created["channels"], json!(["letter", "website"]));
    let (status, got) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!("/v1/actions/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &got), (200, &created));

    // Its effect on visitors of schulden: +30% in truth.
    let (status, effect) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!("/v1/actions/{id}/effect"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{effect}");
    println!(
        "with a +30% lift: {}\n{}",
        effect["summary"], effect["estimate"]
    );
    assert_eq!(effect["status"], json!("estimated"), "{effect}");
    assert_eq!(effect["target_themes"], json!(["schulden"]));
    assert_eq!(
        effect["control_themes"],
        json!(["afval", "burgerzaken", "parkeren"])
    );
    assert_eq!(
        effect["before"],
        json!({"from": first.to_string(), "to": (start - Days::new(1)).to_string()})
    );
    assert_eq!(
        effect["after"],
        json!({"from": start.to_string(), "to": last.to_string()})
    );
    assert_eq!(effect["weeks"].as_array().unwrap().len(), 18);
    let e = &effect["estimate"];
    let change = e["change_pct"].as_f64().unwrap();
    assert!(
        (22.0..=38.0).contains(&change),
        "estimated {change}%, truth +30%"
    );
    assert!(
        e["ci95_low_pct"].as_f64().unwrap() <= 30.0 && 30.0 <= e["ci95_high_pct"].as_f64().unwrap(),
        "{e}"
    );
    assert_eq!(e["significant"], json!(true));
    assert!(e["p_value"].as_f64().unwrap() < 0.01, "{e}");
    assert!(effect["summary"]
        .as_str()
        .unwrap()
        .contains("visitors to schulden pages"));
    assert!(effect["summary"]
        .as_str()
        .unwrap()
        .ends_with("unlikely to be chance"));

    // Euros and time: 4 phone + 2 forms a day before, 3 + 5 from the start. Contacts
    // are counted per day by the sessionizer, so they follow the events by up to its
    // interval: wait until every contact is counted.
    let shift_path = format!("/v1/sites/demo/channel-shift?from={start}&to={last}&theme=schulden&baseline_from={first}&baseline_to={}", start - Days::new(1));
    let contacts = |shift: &Value, column: &str| -> u64 {
        shift["channels"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r[column].as_u64()).sum())
            .unwrap_or(0)
    };
    let counted = wait_for(Duration::from_secs(60), || async {
        let (_, shift) = send(&p, reqwest::Method::GET, DEMO, &shift_path, None).await;
        (contacts(&shift, "contacts") >= 336 && contacts(&shift, "baseline_contacts") >= 168)
            .then_some(())
    })
    .await;
    let (status, shift) = send(&p, reqwest::Method::GET, DEMO, &shift_path, None).await;
    assert!(
        counted.is_some(),
        "the contacts were not all counted within 60 s: {shift}"
    );
    assert_eq!(status, 200, "{shift}");
    let web = |rows: &Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["channel"] == "web")
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            web(&shift["channels"])["contacts"].clone(),
            web(&shift["channels"])["baseline_contacts"].clone()
        ),
        (json!(210), json!(168))
    );
    // Web share 62.5% against 33.3% of 336 contacts: 98 moved from the telephone
    // (€6, 7 min) to the web (€1.50, 2 min).
    assert_eq!(shift["shift"]["shifted_contacts"], json!(98.0));
    assert_eq!(shift["shift"]["saved_eur"], json!(441.0));
    assert_eq!(shift["shift"]["saved_hours"], json!(8.2));
    assert_eq!(shift["assumptions"].as_array().unwrap().len(), 4);
    println!("channel shift: {}", shift["summary"]);
    // The weekly-review dashboard computes the same saving in SQL (its baseline is the
    // 4 weeks before, where the mix was the same as in the 12).
    let d = super::dashboards::dashboard("weekly-review");
    let panel = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Besparing door verschuiving naar het web")
        .unwrap();
    let mut vars: Vec<(String, String)> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "constant")
        .map(|v| {
            (
                v["name"].as_str().unwrap().into(),
                v["query"].as_str().unwrap().into(),
            )
        })
        .collect();
    vars.push(("site".into(), "demo".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let tz = chrono_tz::Europe::Amsterdam;
    let midnight = |d: NaiveDate| {
        use chrono::TimeZone;
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .timestamp()
    };
    let range = super::dashboards::Range {
        from: midnight(start),
        to: midnight(last + Days::new(1)) - 1,
    };
    let sql =
        super::dashboards::interpolate(panel["targets"][0]["rawSql"].as_str().unwrap(), &vars);
    let sql = super::dashboards::expand_macros(&sql, range).unwrap();
    let rows = super::dashboards::run(&scratch.database, &sql)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["bespaard_eur"].as_f64(),
            rows[0]["bespaard_uren"].as_f64(),
            rows[0]["verschoven_contacten"].as_f64()
        ),
        (Some(441.0), Some(8.2), Some(98.0)),
        "{rows:?}"
    );

    // The same action at zwolle, where nothing changed.
    let (status, flat) = send(
        &p,
        reqwest::Method::POST,
        ZWOLLE,
        "/v1/sites/zwolle/actions",
        Some(action(start, &["schulden"])),
    )
    .await;
    assert_eq!(status, 201, "{flat}");
    let (_, effect) = send(
        &p,
        reqwest::Method::GET,
        ZWOLLE,
        &format!("/v1/actions/{}/effect", flat["id"].as_str().unwrap()),
        None,
    )
    .await;
    println!("without a lift: {}", effect["summary"]);
    assert_eq!(effect["estimate"]["significant"], json!(false), "{effect}");
    assert!(effect["summary"]
        .as_str()
        .unwrap()
        .ends_with("within normal week-to-week variation"));
    // Zwolle had no contacts: no conversion estimate, a reason (and the sessions query ran).
    let (_, effect) = send(
        &p,
        reqwest::Method::GET,
        ZWOLLE,
        &format!(
            "/v1/actions/{}/effect?metric=conversion",
            flat["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(effect["status"], json!("insufficient_data"), "{effect}");
    assert!(
        effect["summary"]
            .as_str()
            .unwrap()
            .contains("contact conversion"),
        "{effect}"
    );

    // An action that started yesterday: too little data, a reason instead of a number.
    let yesterday = Utc::now().date_naive() - Days::new(1);
    let (_, recent) = send(
        &p,
        reqwest::Method::POST,
        DEMO,
        "/v1/sites/demo/actions",
        Some(action(yesterday, &["schulden"])),
    )
    .await;
    let (_, effect) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!(
            "/v1/actions/{}/effect?metric=searches",
            recent["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(effect["status"], json!("insufficient_data"), "{effect}");
    assert!(
        effect["estimate"].is_null() && effect["after"].is_null(),
        "{effect}"
    );
    assert!(
        effect["summary"]
            .as_str()
            .unwrap()
            .contains("2 after are needed"),
        "{effect}"
    );

    // Tenants: zwolle cannot read, change or measure demo's action.
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/actions/{id}")),
        (reqwest::Method::GET, format!("/v1/actions/{id}/effect")),
        (reqwest::Method::DELETE, format!("/v1/actions/{id}")),
        (reqwest::Method::GET, "/v1/sites/demo/actions".to_string()),
    ] {
        let (status, _) = send(&p, method.clone(), ZWOLLE, &path, None).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    let (status, _) = send(
        &p,
        reqwest::Method::PUT,
        ZWOLLE,
        &format!("/v1/actions/{id}"),
        Some(action(start, &["afval"])),
    )
    .await;
    assert_eq!(status, 403);

    // List, edit, delete.
    let (_, list) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        "/v1/sites/demo/actions",
        None,
    )
    .await;
    assert_eq!(list["actions"].as_array().unwrap().len(), 2);
    let (_, list) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!(
            "/v1/sites/demo/actions?from={first}&to={}",
            start - Days::new(1)
        ),
        None,
    )
    .await;
    assert_eq!(
        list["actions"].as_array().unwrap().len(),
        0,
        "no action ran before the start"
    );
    let mut changed = action(start, &["schulden", "armoede"]);
    changed["description"] = json!("Brief en campagne op sociale media");
    let (status, edited) = send(
        &p,
        reqwest::Method::PUT,
        DEMO,
        &format!("/v1/actions/{id}"),
        Some(changed),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["id"], &edited["created_at"]),
        (&created["id"], &created["created_at"])
    );
    assert_eq!(edited["themes"], json!(["armoede", "schulden"]));
    let (_, got) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!("/v1/actions/{id}"),
        None,
    )
    .await;
    assert_eq!(
        got["description"],
        json!("Brief en campagne op sociale media")
    );
    let (status, _) = send(
        &p,
        reqwest::Method::DELETE,
        DEMO,
        &format!("/v1/actions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, gone) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!("/v1/actions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{gone}");
    let (_, list) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        "/v1/sites/demo/actions",
        None,
    )
    .await;
    assert_eq!(list["actions"].as_array().unwrap().len(), 1);

    // Bad input says what is wrong and stores nothing.
    for (body, msg) in [
        (json!({"themes": ["schulden"]}), "missing field"),
        (
            json!({"themes": ["schulden"], "channels": ["fax"], "start": "2026-01-01", "end": "2026-01-02", "description": "x", "owner": "y"}),
            "channel \"fax\"",
        ),
        (
            json!({"themes": ["x') OR 1=1 --"], "channels": ["letter"], "start": "2026-01-01", "end": "2026-01-02", "description": "x", "owner": "y"}),
            "not a theme id",
        ),
        (
            json!({"themes": ["schulden"], "channels": ["letter"], "start": "2026-01-05", "end": "2026-01-02", "description": "x", "owner": "y"}),
            "is before start",
        ),
    ] {
        let (status, err) = send(
            &p,
            reqwest::Method::POST,
            DEMO,
            "/v1/sites/demo/actions",
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{err}");
        assert!(err["error"].as_str().unwrap().contains(msg), "{err}");
    }
    let (_, list) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        "/v1/sites/demo/actions",
        None,
    )
    .await;
    assert_eq!(list["actions"].as_array().unwrap().len(), 1);
    let (status, _) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        "/v1/actions/not-an-id",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, err) = send(
        &p,
        reqwest::Method::GET,
        DEMO,
        &format!(
            "/v1/actions/{}/effect?metric=revenue",
            recent["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 400, "{err}");

    p.stop().await;
    scratch.cleanup().await;
}
