//! The collector while the broker is down: it answers 503 with Retry-After within
//! `producer.delivery_timeout_ms`, never a silent 2xx (a Matomo bulk request neither),
//! and recovers within seconds when the broker returns; every event it answered 2xx
//! is in the topic.
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
    /// How long each 503 took.
    refusals: Vec<Duration>,
}

/// One request's outcome: the paths of its events, status, whether it carried
/// Retry-After, and how long the answer took.
struct Outcome {
    paths: Vec<String>,
    status: u16,
    retry_after: bool,
    took: Duration,
}

impl Tally {
    fn record(&mut self, o: Outcome) {
        match o.status {
            200 | 202 => self.accepted.extend(o.paths),
            503 => {
                assert!(o.retry_after, "503 without Retry-After");
                self.unavailable += 1;
                self.refusals.push(o.took);
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
        sites: vec![SiteConfig {
            matomo_idsite: Some("1".into()),
            ..SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost"])
        }],
        ..IngestConfig::default()
    };
    config.producer.delivery_timeout_ms = 2000;
    config.limits.visitor_events_per_minute = 0;
    config.privacy.salt_key_file = luister_testkit::salt_key_file();
    let ingest = Running::start(move |l, s| luister_ingest::serve(config, l, s)).await;
    ingest.wait_ready(Duration::from_secs(30)).await;

    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let mut n = 0;
    // A native page view, or (`bulk`) a Matomo bulk request of two page views.
    let mut send = |bulk: bool| {
        n += 1;
        let paths: Vec<String> = if bulk {
            vec![format!("/m/{n}/a"), format!("/m/{n}/b")]
        } else {
            vec![format!("/e/{n}")]
        };
        let req = if bulk {
            let requests: Vec<String> = paths
                .iter()
                .map(|p| {
                    format!(
                        "?idsite=1&rec=1&url=http%3A%2F%2Flocalhost{}",
                        p.replace('/', "%2F")
                    )
                })
                .collect();
            client
                .post(ingest.url("/matomo.php"))
                .body(serde_json::json!({ "requests": requests }).to_string())
        } else {
            client.post(ingest.url("/v1/events")).body(format!(
                r#"{{"site":"demo","type":"pageview","url":"http://localhost{}"}}"#,
                paths[0]
            ))
        };
        async move {
            let started = Instant::now();
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").is_some();
            let body = r.text().await.unwrap_or_default();
            if status == 200 {
                assert!(
                    body.contains(r#""invalid":0"#),
                    "a bulk request lost events: {body}"
                );
            }
            Outcome {
                paths,
                status,
                retry_after,
                took: started.elapsed(),
            }
        }
    };

    for i in 0..6 {
        let r = send(i % 2 == 1).await;
        assert!(matches!(r.status, 200 | 202), "{}", r.status);
        tally.record(r);
    }

    luister_testkit::local_stack("stop_pid kafka");
    let down_until = Instant::now() + Duration::from_secs(8);
    let mut i = 0;
    while Instant::now() < down_until {
        i += 1;
        let r = send(i % 2 == 0).await;
        tally.record(r);
    }
    luister_testkit::local_stack("start_kafka");
    let back = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut recovered = None;
    while Instant::now() < deadline {
        let r = send(false).await;
        let ok = r.status == 202;
        tally.record(r);
        if ok {
            recovered = Some(back.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        tally.unavailable > 0,
        "the collector never said 503 while the broker was down"
    );
    let recovered =
        recovered.expect("the collector did not recover within 90 s of the broker's return");
    for i in 0..6 {
        let r = send(i % 2 == 1).await;
        assert!(matches!(r.status, 200 | 202), "{}", r.status);
        tally.record(r);
    }
    let slowest = tally.refusals.iter().max().copied().unwrap_or_default();
    assert!(
        slowest <= Duration::from_millis(2000 + 200),
        "a 503 took {slowest:?}, more than producer.delivery_timeout_ms: {:?}",
        tally.refusals
    );
    assert!(
        recovered <= Duration::from_secs(3),
        "the first 2xx came {recovered:?} after the broker was back"
    );

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
        "outage: {} accepted, {} answered 503 (the slowest after {slowest:?}; {:?}), {} in the topic; \
         the first 2xx {recovered:?} after the broker was back",
        tally.accepted.len(),
        tally.unavailable,
        tally.refusals,
        in_topic.len()
    );
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}
