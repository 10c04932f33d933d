//! The collector while the broker is down: it answers 503 with Retry-After, never a
//! silent 2xx, and recovers by itself when the broker returns; every event it answered
//! 2xx is in the topic.
//!
//! This test stops and restarts the shared local Kafka broker through
//! `deploy/local/lib.sh`, so it cannot run beside the other tests. It is ignored in a
//! plain `cargo test`; `deploy/local/test.sh` runs it alone afterwards with `--ignored`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use luister_ingest::config::{IngestConfig, SiteConfig};
use luister_schema::{Event, SiteId};
use luister_testkit::{consume, Running, Scratch};

#[derive(Default)]
struct Tally {
    accepted: BTreeSet<String>,
    unavailable: usize,
}

impl Tally {
    fn record(&mut self, (path, status, retry_after): (String, u16, bool)) {
        match status {
            202 => {
                self.accepted.insert(path);
            }
            503 => {
                assert!(retry_after, "503 without Retry-After");
                self.unavailable += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
}

#[tokio::test]
#[ignore = "stops the shared Kafka broker; deploy/local/test.sh runs it alone"]
async fn broker_outage_gives_503_then_recovers_and_loses_nothing() {
    let scratch = Scratch::new("ingest_outage");
    let mut config = IngestConfig {
        kafka: scratch.kafka(),
        sites: vec![SiteConfig::new(
            SiteId::parse("demo").unwrap(),
            &["localhost"],
        )],
        ..IngestConfig::default()
    };
    config.producer.delivery_timeout_ms = 2000;
    config.limits.visitor_events_per_minute = 0;
    let ingest = Running::start(move |l, s| luister_ingest::serve(config, l, s)).await;
    ingest.wait_ready(Duration::from_secs(30)).await;

    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let mut n = 0;
    let mut send = || {
        n += 1;
        let path = format!("/e/{n}");
        let req = client.post(ingest.url("/v1/events")).body(format!(
            r#"{{"site":"demo","type":"pageview","url":"http://localhost{path}"}}"#
        ));
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").is_some();
            (path, status, retry_after)
        }
    };

    for _ in 0..5 {
        let r = send().await;
        assert_eq!(r.1, 202);
        tally.record(r);
    }

    luister_testkit::local_stack("stop_pid kafka");
    let down_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < down_until {
        let r = send().await;
        tally.record(r);
    }
    luister_testkit::local_stack("start_kafka");

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut recovered = false;
    while Instant::now() < deadline {
        let r = send().await;
        let ok = r.1 == 202;
        tally.record(r);
        if ok {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        tally.unavailable > 0,
        "the collector never said 503 while the broker was down"
    );
    assert!(
        recovered,
        "the collector did not recover within 90 s of the broker's return"
    );
    for _ in 0..5 {
        let r = send().await;
        assert_eq!(r.1, 202);
        tally.record(r);
    }

    let got = consume(
        &scratch.topic,
        tally.accepted.len(),
        Duration::from_secs(30),
    )
    .await;
    let in_topic: BTreeSet<String> = got
        .iter()
        .map(|m| {
            let url = Event::from_json(m.payload.as_bytes()).unwrap().url;
            url.trim_start_matches("http://localhost").to_owned()
        })
        .collect();
    let missing: Vec<_> = tally.accepted.difference(&in_topic).collect();
    assert!(
        missing.is_empty(),
        "answered 202 but not in the topic: {missing:?}"
    );
    println!(
        "outage: {} accepted, {} answered 503, {} in the topic",
        tally.accepted.len(),
        tally.unavailable,
        in_topic.len()
    );
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}
