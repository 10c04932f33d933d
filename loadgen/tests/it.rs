//! The load generator against the real collector and broker: every hit it sends in each
//! protocol is accepted and reaches the topic, and the Kafka mode writes one message per
//! hit.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::time::Duration;

use chrono::NaiveDate;
use luister_ingest::config::{IngestConfig, SiteConfig};
use luister_loadgen::model::{Kind, Model};
use luister_loadgen::protocol::Site;
use luister_loadgen::send::{self, Protocol};
use luister_schema::{Event, SiteId};
use luister_testkit::{consume, Running, Scratch};

fn site() -> Site {
    Site {
        id: "demo".into(),
        host: "localhost".into(),
        matomo_idsite: "1".into(),
    }
}

fn hits(n: usize) -> Vec<luister_loadgen::model::Hit> {
    let model = Model {
        seed: 3,
        sites: 1,
        visits_per_day: 400,
    };
    let mut h = model.day(
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        chrono_tz::Europe::Amsterdam,
    );
    h.truncate(n);
    h
}

#[tokio::test]
async fn every_protocol_delivers_every_hit_to_the_topic() {
    let scratch = Scratch::new("loadgen_http");
    let mut config = IngestConfig {
        kafka: scratch.kafka(),
        sites: vec![{
            let mut s = SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost"]);
            s.matomo_idsite = Some("1".into());
            s.plausible_domain = Some("localhost".into());
            s
        }],
        ..IngestConfig::default()
    };
    config.http.client_ip_header = "x-forwarded-for".into();
    config.privacy.salt_key_file = luister_testkit::salt_key_file();
    let ingest = Running::start(move |l, s| luister_ingest::serve(config, l, s)).await;
    ingest.wait_ready(Duration::from_secs(30)).await;

    let hits = hits(150);
    let base = ingest.url("");
    let mut expected = 0;
    for protocol in [Protocol::Native, Protocol::Matomo, Protocol::Plausible] {
        let sent = send::http(base.trim_end_matches('/'), protocol, &[site()], &hits, 0, 8)
            .await
            .unwrap();
        assert_eq!((sent.accepted, sent.refused), (150, 0), "{protocol:?}");
        expected += 150;
    }
    let got = consume(&scratch.topic, expected, Duration::from_secs(60)).await;
    assert_eq!(got.len(), expected);
    let events: Vec<Event> = got
        .iter()
        .map(|m| Event::from_json(m.payload.as_bytes()).unwrap())
        .collect();
    let kinds = |k: &str| events.iter().filter(|e| e.data.type_name() == k).count();
    let sent_kinds = |k: &str| {
        3 * hits
            .iter()
            .filter(|h| {
                matches!(
                    (&h.kind, k),
                    (Kind::Pageview { .. }, "pageview")
                        | (Kind::Search { .. }, "search")
                        | (Kind::Action { .. }, "action")
                )
            })
            .count()
    };
    for k in ["pageview", "search", "action"] {
        assert_eq!(kinds(k), sent_kinds(k), "{k}");
    }
    ingest.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_kafka_mode_writes_one_event_per_hit() {
    let scratch = Scratch::new("loadgen_kafka");
    let kafka = scratch.kafka();
    luister_service::kafka::ensure_topics(&kafka, &[&kafka.topic])
        .await
        .unwrap();
    let hits = hits(500);
    let sent = send::kafka(
        &luister_testkit::kafka_admin(),
        &scratch.topic,
        &[site()],
        &hits,
    )
    .await
    .unwrap();
    assert_eq!((sent.accepted, sent.refused), (500, 0));
    let got = consume(&scratch.topic, 500, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 500);
    for m in &got {
        let e = Event::from_json(m.payload.as_bytes()).unwrap();
        assert_eq!(e.site.as_str(), "demo");
    }
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_binary_creates_a_missing_topic_and_fills_it() {
    let scratch = Scratch::new("loadgen_binary");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_luister-loadgen"))
        .args(["kafka", "--brokers", &luister_testkit::kafka_brokers()])
        .envs(luister_testkit::kafka_env(&luister_testkit::kafka_admin()))
        .args(["--topic", &scratch.topic, "--partitions", "3"])
        // Two days: yesterday is whole, today may have no visit yet (the night is quiet).
        .args(["--visits-per-day", "40", "--days", "2", "--sites", "demo"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "sent N events of 2 days to … : N accepted, 0 refused …"
    let accepted: usize = stdout
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout:?}"));
    assert!(accepted > 0, "{stdout}");
    let got = consume(&scratch.topic, accepted, Duration::from_secs(60)).await;
    assert_eq!(got.len(), accepted);
    let partitions: std::collections::BTreeSet<i32> = got.iter().map(|m| m.partition).collect();
    assert!(
        partitions.iter().all(|p| (0..3).contains(p)),
        "{partitions:?}"
    );
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_binary_writes_whole_past_days_up_to_until_and_refuses_a_future_one() {
    let scratch = Scratch::new("loadgen_until");
    let run = |until: String| {
        let topic = scratch.topic.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_luister-loadgen"))
                .args(["kafka", "--brokers", &luister_testkit::kafka_brokers()])
                .envs(luister_testkit::kafka_env(&luister_testkit::kafka_admin()))
                .args(["--topic", &topic, "--partitions", "1", "--sites", "demo"])
                .args(["--visits-per-day", "30", "--days", "2", "--until", &until])
                .output()
                .await
                .unwrap()
        }
    };
    // A Wednesday and Thursday long past: whole days, the same traffic at any hour.
    let out = run("2026-11-26".into()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = Model {
        seed: 1,
        sites: 1,
        visits_per_day: 30,
    };
    let day = |d| {
        model
            .day(
                NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
                chrono_tz::Europe::Amsterdam,
            )
            .len()
    };
    let expected = day(25) + day(26);
    assert!(
        stdout.starts_with(&format!("sent {expected} events of 2 days to ")),
        "{stdout}"
    );
    let got = consume(&scratch.topic, expected, Duration::from_secs(60)).await;
    let days: std::collections::BTreeSet<String> = got
        .iter()
        .map(|m| {
            let e = Event::from_json(m.payload.as_bytes()).unwrap();
            chrono::DateTime::from_timestamp_millis(e.ts_ms)
                .unwrap()
                .with_timezone(&chrono_tz::Europe::Amsterdam)
                .date_naive()
                .to_string()
        })
        .collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2026-11-25", "2026-11-26"]
    );

    // Two days ahead in UTC is after today in Amsterdam too.
    let future = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let out = run(future.to_string()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--until {future} is after today")),
        "{stderr}"
    );
    scratch.cleanup().await;
}

#[tokio::test]
async fn delete_topics_removes_the_topics_with_the_prefix_and_no_other() {
    let prefix = luister_testkit::unique("it.loadgen_delete");
    let brokers = luister_testkit::kafka_admin();
    let keep = luister_testkit::unique("it.loadgen_keep");
    let kafka = luister_service::kafka::KafkaConfig {
        partitions: 1,
        ..brokers.clone()
    };
    let (a, b) = (format!("{prefix}.a"), format!("{prefix}.b"));
    luister_service::kafka::ensure_topics(&kafka, &[&a, &b, &keep])
        .await
        .unwrap();
    let listed = || async {
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            kafka.client_config().create().unwrap();
        admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap()
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .collect::<Vec<_>>()
    };
    // A topic just created may be missing from the broker's metadata for a moment (it
    // once was in CI, and nothing was deleted): wait until all three are listed.
    luister_testkit::wait_for(Duration::from_secs(30), || async {
        let names = listed().await;
        [&a, &b, &keep]
            .iter()
            .all(|t| names.contains(t))
            .then_some(())
    })
    .await
    .expect("the created topics are not listed after 30 s");
    assert!(
        luister_loadgen::topics::delete_with_prefix(&brokers, "")
            .await
            .is_err(),
        "an empty prefix would delete every topic"
    );
    let mut deleted = luister_loadgen::topics::delete_with_prefix(&brokers, &prefix)
        .await
        .unwrap();
    deleted.sort();
    assert_eq!(deleted, vec![a.clone(), b.clone()]);
    // Deletion completes in the background: wait until the broker no longer lists them.
    let gone = luister_testkit::wait_for(Duration::from_secs(30), || async {
        let names = listed().await;
        (!names.contains(&a) && !names.contains(&b)).then_some(names)
    })
    .await
    .expect("the deleted topics are still listed after 30 s");
    assert!(
        gone.contains(&keep),
        "a topic without the prefix was deleted"
    );
    luister_loadgen::topics::delete_with_prefix(&brokers, &keep)
        .await
        .unwrap();
}

#[test]
fn the_binary_prints_its_usage_on_help_and_with_a_wrong_option() {
    let bin = env!("CARGO_BIN_EXE_luister-loadgen");
    for args in [&["--help"][..], &["-h"], &["help"], &["kafka", "--help"]] {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {stdout}");
        assert!(
            stdout.starts_with("usage: luister-loadgen http ") && stdout.contains("--until"),
            "{args:?}: {stdout}"
        );
    }
    let out = std::process::Command::new(bin)
        .args(["kafka", "--dayz", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown option --dayz") && stderr.contains("usage: luister-loadgen"),
        "{stderr}"
    );
}
