//! Integration tests of the collector against the real Kafka broker.
//! Run by `deploy/local/test.sh`, which starts the broker.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

mod helpers;
mod salt;
mod snippets;
mod vendor_shapes;

use std::time::Duration;

use luister_schema::{Event, EventData};
use luister_testkit::{consume, Scratch};

use helpers::{assert_taken, start_ingest};

#[tokio::test]
async fn accepted_pageview_is_in_the_topic_without_ip_or_user_agent() {
    let scratch = Scratch::new("ingest_pv");
    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;

    let resp = reqwest::Client::new()
        .post(ingest.url("/v1/events"))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
        .header("x-forwarded-for", "203.0.113.77")
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/schulden?email=jan@example.nl&utm_source=brief"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());

    let got = consume(&scratch.topic, 1, Duration::from_secs(20)).await;
    assert_eq!(
        got.len(),
        1,
        "the accepted event is not in topic {}",
        scratch.topic
    );
    let m = &got[0];
    for secret in [
        "203.0.113.77",
        "Firefox/133.0",
        "X11",
        "Mozilla",
        "jan@example.nl",
        "email",
    ] {
        assert!(
            !m.payload.contains(secret),
            "{secret} leaked into {}",
            m.payload
        );
    }
    let event = Event::from_json(m.payload.as_bytes()).unwrap();
    assert_eq!(
        m.key,
        event.visitor.to_string(),
        "messages are keyed by visitor key"
    );
    assert_eq!(event.site.as_str(), "demo");
    assert_eq!(event.url, "http://localhost/schulden?utm_source=brief");
    assert_eq!(event.data, EventData::Pageview { title: None });

    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn browsers_on_a_registered_site_get_cors_answers() {
    let scratch = Scratch::new("ingest_cors");
    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    // A page posting JSON asks first (a preflight); only a registered site's pages
    // are allowed.
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, ingest.url("/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("http://localhost:8080").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    // The page's request itself gets an answer it may read.
    let resp = client
        .post(ingest.url("/v1/events"))
        .header("content-type", "application/json")
        .header("origin", "http://localhost:8080")
        .header("x-forwarded-for", "203.0.113.78")
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost:8080/schulden"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn personal_data_is_scrubbed_before_it_reaches_the_topic() {
    let scratch = Scratch::new("ingest_pii");
    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let body = r#"[
        {"site":"demo","type":"search","url":"http://localhost/zoeken?q=bsn%20111222333","query":"schuldhulp bsn 1112.22.333 bel 06-12345678","category":"jan@example.nl"},
        {"site":"demo","type":"pageview","url":"http://localhost/wonen/3511%20AB","title":"Rekening NL91 ABNA 0417 1643 00"},
        {"site":"demo","type":"action","url":"http://localhost/contact","name":"contact:email","target":"mailto:jan@example.nl"}
    ]"#;
    let r = reqwest::Client::new()
        .post(ingest.url("/v1/events"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let got = consume(&scratch.topic, 3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3);
    let all: String = got
        .iter()
        .map(|m| m.payload.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "111222333",
        "1112.22.333",
        "06-12345678",
        "jan@example.nl",
        "NL91",
        "0417 1643",
        "3511%20AB",
        "3511 AB",
    ] {
        assert!(!all.contains(secret), "{secret} reached the topic: {all}");
    }
    for placeholder in ["[bsn]", "[phone]", "[email]", "[iban]", "/wonen/3511"] {
        assert!(all.contains(placeholder), "{placeholder} missing: {all}");
    }
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn every_event_answered_2xx_is_in_the_topic() {
    let scratch = Scratch::new("ingest_all");
    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;

    let statuses = post_at_once(
        &ingest,
        (0..60).map(|i| {
            (
                format!("198.51.100.{}", i % 7),
                format!(r#"{{"site":"demo","type":"pageview","url":"http://localhost/page/{i}"}}"#),
            )
        }),
    )
    .await;
    let accepted = statuses.iter().filter(|s| s.as_u16() == 202).count();
    assert_eq!(accepted, 60, "{statuses:?}");

    let got = consume(&scratch.topic, accepted, Duration::from_secs(20)).await;
    let mut urls: Vec<String> = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap().url)
        .collect();
    urls.sort();
    urls.dedup();
    assert_eq!(
        urls.len(),
        60,
        "each accepted event exactly once in the topic"
    );

    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn every_way_in_produces_the_same_event() {
    let scratch = Scratch::new("ingest_ways");
    let ingest = start_ingest(scratch.kafka()).await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req
            .header("user-agent", ua)
            .header("x-forwarded-for", "192.0.2.44")
            .send()
            .await
            .unwrap();
        assert_taken(r, "request").await;
    };
    let page = "http://localhost/werk-en-inkomen/bijstand?utm_medium=email";
    let enc = "http%3A%2F%2Flocalhost%2Fwerk-en-inkomen%2Fbijstand%3Futm_medium%3Demail";
    send(client.post(ingest.url("/v1/events")).body(format!(
        r#"{{"site":"demo","type":"pageview","url":"{page}","referrer":"https://www.google.nl/search?q=x","screen_width":390}}"#
    )))
    .await;
    send(client.get(ingest.url(&format!(
        "/matomo.php?idsite=1&rec=1&url={enc}&urlref=https%3A%2F%2Fwww.google.nl%2F&res=390x844&_id=1234567890abcdef"
    ))))
    .await;
    send(client.post(ingest.url("/piwik.php")).body(format!(
        r#"{{"requests":["?idsite=1&rec=1&url={enc}&urlref=https%3A%2F%2Fwww.google.nl%2F&res=390x844"]}}"#
    )))
    .await;
    send(client.post(ingest.url("/api/event")).body(format!(
        r#"{{"n":"pageview","u":"{page}","d":"localhost","r":"https://www.google.nl/","w":390}}"#
    )))
    .await;

    let got = consume(&scratch.topic, 4, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 4);
    let shapes: Vec<Event> = got
        .iter()
        .map(|m| {
            let mut e = Event::from_json(m.payload.as_bytes()).unwrap();
            e.ts_ms = 0;
            e
        })
        .collect();
    for e in &shapes[1..] {
        assert_eq!(e, &shapes[0], "all protocols give the same event");
    }
    let e = &shapes[0];
    assert_eq!(e.url, page);
    assert_eq!(e.referrer.as_deref(), Some("https://www.google.nl/"));
    assert_eq!(
        (e.device.as_str(), e.browser.as_str(), e.screen_width),
        ("mobile", "Safari", Some(390))
    );
    assert!(got
        .iter()
        .all(|m| !m.payload.contains("192.0.2.44") && !m.payload.contains("iPhone")));
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn unreachable_broker_answers_503_with_retry_after() {
    let scratch = Scratch::new("ingest_down");
    let mut kafka = scratch.kafka();
    kafka.brokers = "127.0.0.1:1".into();
    let ingest = helpers::start_ingest_with(kafka, |c| c.producer.delivery_timeout_ms = 1000).await;

    let resp = reqwest::Client::new()
        .post(ingest.url("/v1/events"))
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = resp.text().await.unwrap();
    assert!(body.contains("retry after 5 s"), "{body}");

    let ready = reqwest::get(ingest.url("/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        503,
        "not ready while the broker is unreachable"
    );
    ingest.stop().await.unwrap();
}

/// A collector with its own per-process salt (`privacy.shared_salt = false`) makes the
/// day's salt on demand, so it is ready before any event arrived.
#[tokio::test]
async fn a_collector_with_a_local_salt_is_ready_before_the_first_event() {
    let scratch = Scratch::new("ingest_local_salt");
    let ingest =
        helpers::start_ingest_with(scratch.kafka(), |c| c.privacy.shared_salt = false).await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let resp = reqwest::Client::new()
        .post(ingest.url("/v1/events"))
        .header("x-forwarded-for", "192.0.2.8")
        .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

/// The default `producer.partitioning = "sticky"` puts the events of one window of
/// time into one partition whoever sent them (librdkafka then sends one produce
/// request instead of one per partition); `"visitor"` keeps each visitor's events in
/// the partition of its key. Either way the key is the visitor key.
#[tokio::test]
async fn events_are_spread_over_partitions_as_configured() {
    use luister_ingest::config::Partitioning;
    use std::collections::{BTreeMap, BTreeSet};

    for partitioning in [Partitioning::Sticky, Partitioning::Visitor] {
        let scratch = Scratch::new("ingest_partitions");
        let ingest = helpers::start_ingest_with(scratch.kafka(), |c| {
            c.producer.partitioning = partitioning;
            // A sticky window of a second (twice the linger): the 120 requests below
            // are produced well within two windows.
            c.producer.linger_ms = 500;
        })
        .await;
        ingest.wait_ready(Duration::from_secs(30)).await;
        // Sixty visitors (one address each), two page views each.
        let statuses = post_at_once(
            &ingest,
            (0..120).map(|i| {
                (
                    format!("198.51.100.{}", i % 60),
                    r#"{"site":"demo","type":"pageview","url":"http://localhost/"}"#.to_owned(),
                )
            }),
        )
        .await;
        assert!(statuses.iter().all(|s| s.as_u16() == 202), "{statuses:?}");

        let got = consume(&scratch.topic, 120, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 120, "{partitioning:?}");
        let mut by_visitor: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
        for m in &got {
            let event = Event::from_json(m.payload.as_bytes()).unwrap();
            assert_eq!(m.key, event.visitor.to_string(), "keyed by visitor key");
            by_visitor.entry(&m.key).or_default().insert(m.partition);
        }
        assert_eq!(by_visitor.len(), 60, "sixty visitors");
        let used: BTreeSet<i32> = got.iter().map(|m| m.partition).collect();
        match partitioning {
            Partitioning::Sticky => assert!(
                used.len() <= 2,
                "one window's events in one partition (two if a window turned): {used:?}"
            ),
            Partitioning::Visitor => {
                // Sixty keys over three partitions leave none empty (but once in 10^10).
                assert_eq!(used.len(), 3, "keys spread over every partition");
                assert!(
                    by_visitor.values().all(|p| p.len() == 1),
                    "each visitor's events in one partition: {by_visitor:?}"
                );
            }
        }
        ingest.stop().await.unwrap();
        scratch.cleanup().await;
    }
}

/// Posts native events to the collector all at once, each `(client address, body)`
/// from its own address (`x-forwarded-for`), and returns the statuses in order.
async fn post_at_once(
    ingest: &luister_testkit::Running,
    requests: impl IntoIterator<Item = (String, String)>,
) -> Vec<reqwest::StatusCode> {
    let client = reqwest::Client::new();
    let url = ingest.url("/v1/events");
    let handles: Vec<_> = requests
        .into_iter()
        .map(|(address, body)| {
            let request = client
                .post(&url)
                .header("x-forwarded-for", address)
                .body(body);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn two_replicas_share_the_salt_and_old_salts_are_destroyed() {
    let scratch = Scratch::new("ingest_salt");
    let (a, b) = tokio::join!(start_ingest(scratch.kafka()), start_ingest(scratch.kafka()));
    a.wait_ready(Duration::from_secs(30)).await;
    b.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    for replica in [&a, &b] {
        let r = client
            .post(replica.url("/v1/events"))
            .header("x-forwarded-for", "198.51.100.23")
            .body(r#"{"site":"demo","type":"pageview","url":"http://localhost/"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let got = consume(&scratch.topic, 2, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].key, got[1].key,
        "both replicas computed the same visitor key"
    );

    // Yesterday's salt disappears from the topic once today's exists, and neither was
    // ever on the broker's disk in the clear.
    let mut kafka = scratch.kafka();
    kafka.salt_topic = luister_testkit::unique("it.salt_destroy");
    let salts = salt::kafka_salts(&kafka);
    salts.ensure_topic().await.unwrap();
    let today = luister_ingest::salt::day_of(chrono_now_ms());
    let (s_yesterday, s_today) = (
        salts.salt_for(today - 1).await.unwrap(),
        salts.salt_for(today).await.unwrap(),
    );
    assert_ne!(s_yesterday, s_today);
    salts.destroy_before(today).await.unwrap();
    let left = consume(&kafka.salt_topic, 10, Duration::from_secs(5)).await;
    assert!(!left.is_empty());
    assert!(
        left.iter().all(|m| m.key == today.to_string()),
        "only today's salt is left: {:?}",
        left.iter().map(|m| &m.key).collect::<Vec<_>>()
    );
    let on_disk = salt::segment_bytes(&kafka.salt_topic);
    assert!(!on_disk.is_empty(), "the topic's segment files were found");
    for s in [s_yesterday, s_today] {
        assert!(
            !on_disk.windows(32).any(|w| w == s),
            "a salt is in the broker's segment files in the clear"
        );
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    scratch.cleanup().await;
    luister_testkit::delete_topic(&kafka.salt_topic).await;
}

#[test]
fn scrub_command_scrubs_each_line_of_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_luister-ingest"))
        .arg("scrub")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bel 06-12345678\nbsn 111222333\nbijstand 2025\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "bel [phone]\nbsn [bsn]\nbijstand 2025\n"
    );
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The tracker in a real browser: a sample municipal page served on loopback, opened
/// in headless Chromium (Debian's package), sends every kind of event to the topic.
#[tokio::test]
async fn tracker_in_headless_chromium_sends_page_views_searches_and_contacts() {
    use luister_ingest::config::ContactSelector;

    let scratch = Scratch::new("ingest_tracker");
    let ingest = helpers::start_ingest_with(scratch.kafka(), |c| {
        c.sites[0].hostnames.push("127.0.0.1".into());
        c.sites[0].contact_selectors = vec![ContactSelector {
            selector: "#chat".into(),
            action: "contact:chat".into(),
        }];
    })
    .await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let page = helpers::serve_page(&ingest.url("")).await;

    luister_testkit::chromium(
        &[
            "--virtual-time-budget=5000",
            "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "--dump-dom",
        ],
        &format!("{page}/hulp/schulden"),
    )
    .await;

    let got = consume(&scratch.topic, 7, Duration::from_secs(30)).await;
    let events: Vec<Event> = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap())
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match &e.data {
            EventData::Pageview { .. } => format!("pageview {}", e.url.trim_start_matches(&page)),
            EventData::Search {
                query,
                result_count,
                ..
            } => format!("search {query} {result_count:?}"),
            EventData::Action { name, .. } => format!("action {name}"),
            other => format!("{} {other:?}", other.type_name()),
        })
        .collect();
    for expected in [
        "pageview /hulp/schulden",
        "action contact:phone",
        "action contact:chat",
        "action download",
        "action contact:form",
        "pageview /zoeken?q=kwijtschelding",
        "search kwijtschelding Some(0)",
    ] {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let first = &events[0];
    assert_eq!(first.browser, "Chrome");
    assert!(
        events.iter().all(|e| e.visitor == first.visitor),
        "one visitor throughout"
    );
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

/// Matomo's tracker in its XMLHttpRequest POST mode (`setRequestMethod('POST')`, or a
/// browser without `sendBeacon`), in headless Chromium: it sends `withCredentials`, and
/// when the browser does not let it read the answer (a CORS error) or the answer is not
/// 2xx, it sends the same request again as a GET image. The first page view's POST must
/// be readable (so no fallback), and the second, repeated as a GET image whatever the
/// answer (as after a timeout), must be stored once.
#[tokio::test]
async fn matomo_xhr_post_with_credentials_and_its_image_fallback_store_each_event_once() {
    let scratch = Scratch::new("ingest_xhr_post");
    let ingest = helpers::start_ingest_with(scratch.kafka(), |c| {
        c.sites[0].hostnames.push("127.0.0.1".into());
    })
    .await;
    ingest.wait_ready(Duration::from_secs(30)).await;
    let tracker = ingest.url("/matomo.php");
    let html = format!(
        r#"<!doctype html><html lang="nl"><head><title>Schuldhulp</title></head><body>
<p id="log">start</p>
<script>
var tracker = {tracker:?};
function log(t) {{ document.getElementById('log').textContent += ' ' + t; }}
function request(n) {{
  return 'idsite=1&rec=1&r=' + (100000 + n) + '&h=10&m=0&s=' + n + '&pv_id=Xy' + n +
    '&url=' + encodeURIComponent(location.origin + '/schuldhulp/' + n) + '&action_name=Schuldhulp';
}}
function image(req) {{ var i = new Image(1, 1); i.onload = function () {{ log('image'); }}; i.src = tracker + '?' + req; }}
function post(req, always) {{
  var xhr = new XMLHttpRequest();
  xhr.open('POST', tracker, true);
  xhr.withCredentials = true;
  xhr.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded; charset=UTF-8');
  xhr.onreadystatechange = function () {{
    if (this.readyState !== 4) return;
    log('xhr' + this.status);
    if (always || !(this.status >= 200 && this.status < 300)) image(req);
  }};
  xhr.send(req);
}}
post(request(1), false);
post(request(2), true);
</script></body></html>"#
    );
    let page = helpers::serve_html(html).await;
    let dom = luister_testkit::chromium(
        &[
            "--virtual-time-budget=5000",
            "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "--dump-dom",
        ],
        &format!("{page}/schuldhulp"),
    )
    .await;
    let dom = String::from_utf8_lossy(&dom);
    assert!(
        dom.matches("xhr200").count() == 2,
        "both POSTs readable by the page (no CORS error): {dom}"
    );
    assert!(dom.contains("image"), "the GET image was sent: {dom}");

    // Wait for more than the two events to show that no third arrives.
    let got = consume(&scratch.topic, 3, Duration::from_secs(10)).await;
    let mut urls: Vec<String> = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap().url)
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        vec![
            format!("{page}/schuldhulp/1"),
            format!("{page}/schuldhulp/2")
        ],
        "each event once"
    );
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}
