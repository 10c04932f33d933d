//! Exactly once through a crash: the real `luister-processor` binary is killed with
//! SIGKILL while it is writing, restarted, and every table must then hold each event
//! exactly once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::time::Duration;

use luister_testkit::events::event;
use luister_testkit::{clickhouse, clickhouse_url, produce_many, wait_for, Scratch};

const EVENTS: usize = 20_000;

fn config_file(scratch: &Scratch) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.toml", scratch.database));
    let k = scratch.kafka();
    std::fs::write(
        &path,
        format!(
            r#"[http]
listen = "127.0.0.1:0"
[kafka]
brokers = "{}"
topic = "{}"
dead_letter_topic = "{}"
partitions = 3
{}[sessions]
interval_s = 1
[consumer]
group_id = "crash-test"
batch_max_rows = 150
batch_max_wait_ms = 20
session_timeout_ms = 6000
[clickhouse]
url = "{}"
database = "{}"
[log]
level = "warn"
"#,
            k.brokers,
            k.topic,
            k.dead_letter_topic,
            luister_testkit::kafka_toml(&k),
            clickhouse_url(),
            scratch.database
        ),
    )
    .unwrap();
    path
}

fn spawn(config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_luister-processor"))
        .arg("--config")
        .arg(config)
        .spawn()
        .unwrap()
}

async fn number(sql: &str) -> u64 {
    clickhouse(sql)
        .await
        .map(|s| s.trim().parse().unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_counts_every_event_once() {
    let scratch = Scratch::new("proc_crash");
    let db = scratch.database.clone();
    let config = config_file(&scratch);
    let kafka = scratch.kafka();
    luister_service::kafka::ensure_topics(&kafka, &[&kafka.topic, &kafka.dead_letter_topic])
        .await
        .unwrap();
    // Four days ago: a settled day, whose event counts the sessionizer keeps.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 4 * 86_400_000;
    let messages: Vec<(String, String)> = (0..EVENTS)
        .map(|i| {
            let path = if i % 4 == 0 {
                "/schulden/schuldhulpverlening"
            } else {
                "/afval/grofvuil"
            };
            (
                format!("{:016x}", i % 97),
                event("demo", (i % 97) as u64, now as i64)
                    .path(&format!("{path}?n={i}"))
                    .json(),
            )
        })
        .collect();
    let t0 = std::time::Instant::now();
    produce_many(&scratch.topic, &messages).await;
    println!("produced {EVENTS} in {:?}", t0.elapsed());
    // The topic is full before the processor starts, so it is busy writing when killed.
    let mut first = spawn(&config);

    // Kill it while it is writing.
    let midway = wait_for(Duration::from_secs(60), || async {
        let n = number(&format!("SELECT count() FROM {db}.events")).await;
        (n >= 1000).then_some(n)
    })
    .await;
    assert!(midway.is_some(), "nothing was written before the kill");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = number(&format!("SELECT count() FROM {db}.events")).await;
    println!(
        "killed with {at_kill} of {EVENTS} events written after {:?}",
        t0.elapsed()
    );
    assert!(
        (at_kill as usize) < EVENTS,
        "the kill came too late to prove anything"
    );

    let mut second = spawn(&config);
    let done = wait_for(Duration::from_secs(90), || async {
        let n = number(&format!("SELECT count() FROM {db}.events")).await;
        (n as usize >= EVENTS).then_some(n)
    })
    .await;
    println!("all written after {:?}", t0.elapsed());
    // Give a replay of anything uncommitted time to (wrongly) land twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(done.is_some(), "not all events arrived after the restart");

    let q = |sql: String| async move { number(&sql).await };
    assert_eq!(
        q(format!("SELECT count() FROM {db}.events")).await,
        EVENTS as u64,
        "raw events"
    );
    assert_eq!(
        q(format!(
            "SELECT uniqExact(kafka_partition, kafka_offset) FROM {db}.events"
        ))
        .await,
        EVENTS as u64,
        "each message once"
    );
    // The event counts are the sessionizer's (every second here), from the raw events.
    let counted = |theme: &'static str, expected: usize| {
        let sql = format!(
            "SELECT sum(events) FROM {db}.event_counts_daily WHERE theme = '{theme}' AND (site, day, version) IN \
             (SELECT site, day, max(version) FROM {db}.event_counts_daily GROUP BY site, day)"
        );
        async move {
            let got = wait_for(Duration::from_secs(30), || async {
                let n = number(&sql).await;
                (n == expected as u64).then_some(n)
            })
            .await;
            match got {
                Some(n) => n,
                None => number(&sql).await,
            }
        }
    };
    assert_eq!(counted("*", EVENTS).await, EVENTS as u64, "event counts");
    assert_eq!(
        counted("schulden", EVENTS / 4).await,
        (EVENTS / 4) as u64,
        "schulden"
    );
    assert_eq!(
        counted("afval", EVENTS - EVENTS / 4).await,
        (EVENTS - EVENTS / 4) as u64,
        "afval"
    );
    second.kill().unwrap();
    second.wait().unwrap();
    let _ = std::fs::remove_file(&config);
    scratch.cleanup().await;
}
