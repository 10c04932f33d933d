//! Exact counts when ClickHouse itself dies: the shared local ClickHouse server is
//! killed with SIGKILL, many times, while the processor writes a steady stream of
//! events and the sessionizer rewrites the aggregates, and each kill is aimed at a
//! running `INSERT`. Afterwards the raw table and every aggregate must agree with a
//! ledger kept by the test: nothing lost, nothing counted twice.
//!
//! The visits fall on a settled day (four days ago, whose event counts the sessionizer
//! keeps) and, a fifth of them, on the last day of the month before it, so most inserts
//! span two monthly partitions and can be cut off with one part committed and the
//! other not.
//!
//! It kills the shared server (through `deploy/local/lib.sh`), so it is ignored in a
//! plain `cargo test`; `deploy/local/test.sh` runs it alone with `--ignored`, with
//! `LUISTER_TEST_CLICKHOUSE_KILLS` kills (default 24; `deploy/local/faults.sh` runs 100).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};

use luister_processor::config::ProcessorConfig;
use luister_schema::{Device, EventData};
use luister_store::ClickHouseConfig;
use luister_testkit::events::event;
use luister_testkit::{clickhouse, clickhouse_url, produce_many, wait_for, Running, Scratch};

/// Visitors, each with one visit of [`EVENTS_PER_VISIT`] events.
const VISITORS: u64 = 2_000;
const EVENTS_PER_VISIT: u64 = 8;

/// What the test sent, and what every table must therefore hold.
#[derive(Default)]
struct Ledger {
    messages: Vec<(String, String)>,
    /// (day, type) → events.
    by_day_type: BTreeMap<(NaiveDate, &'static str), u64>,
    /// theme (with ancestors) → events.
    by_theme: BTreeMap<&'static str, u64>,
    /// term → (searches, zero-result searches).
    terms: BTreeMap<&'static str, (u64, u64)>,
    /// contact channel → contacts.
    channels: BTreeMap<&'static str, u64>,
    visits: u64,
    visits_with_contact: u64,
}

/// The pages of a visit and the themes the default taxonomy gives them.
const PAGES: [(&str, &[&str]); 3] = [
    (
        "/schulden/schuldhulpverlening",
        &["schulden/schuldhulpverlening", "schulden"],
    ),
    ("/afval/grofvuil", &["afval"]),
    ("/zwembad", &[]),
];
/// The searches: term, result count, themes.
const SEARCHES: [(&str, u32, &[&str]); 2] = [
    ("kwijtschelding", 0, &["armoede/kwijtschelding", "armoede"]),
    ("bijstand aanvragen", 5, &["inkomen/bijstand", "inkomen"]),
];

impl Ledger {
    /// The visits of `day` and of the last day of the month before it.
    fn new(day: NaiveDate) -> Self {
        let tz = chrono_tz::Europe::Amsterdam;
        let last_month = day.with_day(1).unwrap().pred_opt().unwrap();
        let mut l = Ledger::default();
        let mut marker = 0u64;
        for v in 0..VISITORS {
            let day = if v % 5 == 0 { last_month } else { day };
            let start = day
                .and_hms_opt(0, 10, 0)
                .unwrap()
                .and_local_timezone(tz)
                .unwrap()
                .timestamp_millis()
                + (v as i64) * 1_000;
            let mut visit = Vec::new();
            for k in 0..EVENTS_PER_VISIT {
                marker += 1;
                let (path, page_themes) = PAGES[(k % 3) as usize];
                let (kind, data, themes): (&'static str, EventData, &[&str]) = match k {
                    3 | 6 => {
                        let (term, results, themes) = SEARCHES[(k as usize / 3) - 1];
                        let e = l.terms.entry(term).or_default();
                        e.0 += 1;
                        e.1 += u64::from(results == 0);
                        (
                            "search",
                            EventData::Search {
                                query: term.into(),
                                result_count: Some(results),
                                category: Some(format!("m{marker}")),
                            },
                            themes,
                        )
                    }
                    7 if v % 3 != 2 => {
                        let (name, channel) = if v % 3 == 0 {
                            ("contact:phone", "telephone")
                        } else {
                            ("contact:form", "web")
                        };
                        *l.channels.entry(channel).or_default() += 1;
                        (
                            "action",
                            EventData::Action {
                                name: name.into(),
                                target: Some(format!("m{marker}")),
                                label: None,
                            },
                            page_themes,
                        )
                    }
                    _ => (
                        "pageview",
                        EventData::Pageview {
                            title: Some(format!("m{marker}")),
                        },
                        page_themes,
                    ),
                };
                *l.by_day_type.entry((day, kind)).or_default() += 1;
                for t in themes {
                    *l.by_theme.entry(t).or_default() += 1;
                }
                visit.push(
                    event("demo", v + 1, start + (k as i64) * 10_000)
                        .path(path)
                        .device(Device::Mobile)
                        .data(data)
                        .build(),
                );
            }
            l.visits += 1;
            l.visits_with_contact += u64::from(v % 3 != 2);
            l.messages.extend(visit.iter().map(|e| {
                (
                    e.visitor.to_string(),
                    String::from_utf8(e.to_json()).unwrap(),
                )
            }));
        }
        l
    }
}

async fn number(sql: &str) -> Option<u64> {
    clickhouse(sql).await.ok()?.trim().parse().ok()
}

/// `sql` once it answers `expected` (the sessionizer runs every second), or what it
/// answers after `timeout`.
async fn settles(sql: &str, expected: &str, timeout: Duration) -> String {
    let got = wait_for(timeout, || async {
        let t = clickhouse(sql).await.ok()?;
        (t == expected).then_some(t)
    })
    .await;
    match got {
        Some(t) => t,
        None => clickhouse(sql).await.unwrap_or_else(|e| e.to_string()),
    }
}

/// The newest version of each (site, day) of a sessionizer aggregate.
fn newest(db: &str, table: &str) -> String {
    format!(
        "{db}.{table} WHERE (site, day, version) IN \
         (SELECT site, day, max(version) FROM {db}.{table} GROUP BY site, day)"
    )
}

/// The `INSERT` ClickHouse is running now, if any (its first words).
async fn running_insert() -> Option<String> {
    let text = clickhouse(
        "SELECT substring(query, 1, 40) FROM system.processes \
         WHERE query LIKE 'INSERT INTO%' LIMIT 1 FORMAT TSV",
    )
    .await
    .ok()?;
    let first = text.lines().next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

#[tokio::test]
#[ignore = "kills the shared ClickHouse; deploy/local/test.sh runs it alone"]
async fn clickhouse_killed_during_inserts_loses_and_doubles_nothing_in_any_table() {
    let kills: usize = std::env::var("LUISTER_TEST_CLICKHOUSE_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(24);
    let scratch = Scratch::new("proc_ch_kill");
    let db = scratch.database.clone();
    let tz = chrono_tz::Europe::Amsterdam;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let ledger = Ledger::new(today - chrono::Days::new(4));
    let total = ledger.messages.len() as u64;

    let mut config = ProcessorConfig {
        kafka: scratch.kafka(),
        clickhouse: ClickHouseConfig {
            url: clickhouse_url(),
            database: db.clone(),
            ..ClickHouseConfig::default()
        },
        ..ProcessorConfig::default()
    };
    config.consumer.batch_max_rows = 100;
    config.consumer.batch_max_wait_ms = 50;
    config.consumer.retry_backoff_max_s = 1;
    config.sessions.interval_s = 1;
    let processor = Running::start(move |l, s| luister_processor::serve(config, l, s)).await;
    processor.wait_ready(Duration::from_secs(60)).await;

    // A steady stream for the whole test: 200 events at a time, spread over about
    // three seconds per kill (a kill, its restart and the next aim take about that), so
    // the processor is writing whenever a kill is aimed — not only in the first
    // seconds, after which only the sessionizer would write.
    let done = Arc::new(AtomicBool::new(false));
    let chunks = ledger.messages.len().div_ceil(200).max(1) as u64;
    let pause = Duration::from_millis((kills as u64 * 3000 / chunks).max(100));
    let producer = {
        let (topic, messages, done) =
            (scratch.topic.clone(), ledger.messages.clone(), done.clone());
        tokio::spawn(async move {
            for chunk in messages.chunks(200) {
                produce_many(&topic, chunk).await;
                tokio::time::sleep(pause).await;
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    let retries = || async {
        let page = processor.metrics().await;
        (!page.is_empty())
            .then(|| luister_testkit::metric_value(&page, "luister_processor_insert_retries_total"))
    };
    let started = Instant::now();
    let mut interrupted = 0;
    let seed = chrono::Utc::now().timestamp_millis() as u64;
    println!("kill timing seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut aimed: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..kills {
        let wait = rng.random_range(200..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        // Aim at a running INSERT: look for one for up to three seconds (the stream
        // brings a write about every second).
        let deadline = Instant::now() + Duration::from_millis(3000);
        let mut target = None;
        while target.is_none() && Instant::now() < deadline {
            target = running_insert().await;
        }
        let before = retries().await;
        luister_testkit::kill_local("clickhouse");
        let what = target.map_or("no insert".to_owned(), |q| {
            q.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        });
        *aimed.entry(what).or_default() += 1;
        luister_testkit::local_stack("start_clickhouse >/dev/null");
        // Whether a write of the processor failed with this kill (it retries within
        // a second once ClickHouse is back).
        let after = wait_for(Duration::from_secs(3), || async {
            retries().await.filter(|r| Some(*r) > before)
        })
        .await;
        interrupted += usize::from(after.is_some());
    }
    let killing = started.elapsed();
    producer.await.unwrap();
    assert!(done.load(Ordering::SeqCst));

    let all = wait_for(Duration::from_secs(180), || async {
        (number(&format!("SELECT count() FROM {db}.events")).await == Some(total)).then_some(())
    })
    .await;
    let raw = number(&format!("SELECT count() FROM {db}.events")).await;
    assert!(all.is_some(), "events: {raw:?} of {total}");

    // Raw events: each message once, each marker once.
    let markers = number(&format!(
        "SELECT uniqExact(concat(title, search_category, action_target)) FROM {db}.events"
    ))
    .await;
    let positions = number(&format!(
        "SELECT uniqExact(kafka_partition, kafka_offset) FROM {db}.events"
    ))
    .await;
    assert_eq!((markers, positions), (Some(total), Some(total)));

    let timeout = Duration::from_secs(60);
    // Event counts per day and type, and per theme.
    let expected: String = ledger
        .by_day_type
        .iter()
        .map(|((d, t), n)| format!("{d}\t{t}\t{n}\n"))
        .collect();
    let got = settles(
        &format!(
            "SELECT day, type, sum(events) FROM {} AND theme = '*' GROUP BY day, type ORDER BY day, type FORMAT TSV",
            newest(&db, "event_counts_daily")
        ),
        &expected,
        timeout,
    )
    .await;
    assert_eq!(got, expected, "event_counts_daily per day and type");
    let expected: String = ledger
        .by_theme
        .iter()
        .map(|(t, n)| format!("{t}\t{n}\n"))
        .collect();
    let got = settles(
        &format!(
            "SELECT theme, sum(events) FROM {} AND theme NOT IN ('*', '') GROUP BY theme ORDER BY theme FORMAT TSV",
            newest(&db, "event_counts_daily")
        ),
        &expected,
        timeout,
    )
    .await;
    assert_eq!(got, expected, "event_counts_daily per theme");
    // Search terms, contacts per channel, sessions and visits.
    let expected: String = ledger
        .terms
        .iter()
        .map(|(t, (n, z))| format!("{t}\t{n}\t{z}\n"))
        .collect();
    let got = settles(
        &format!(
            "SELECT term, sum(searches), sum(zero_results) FROM {} AND theme = '*' GROUP BY term ORDER BY term FORMAT TSV",
            newest(&db, "search_term_counts_daily")
        ),
        &expected,
        timeout,
    )
    .await;
    assert_eq!(got, expected, "search_term_counts_daily");
    let expected: String = ledger
        .channels
        .iter()
        .map(|(c, n)| format!("{c}\t{n}\n"))
        .collect();
    let got = settles(
        &format!(
            "SELECT channel, sum(contacts) FROM {} AND theme = '' GROUP BY channel ORDER BY channel FORMAT TSV",
            newest(&db, "contact_channels_daily")
        ),
        &expected,
        timeout,
    )
    .await;
    assert_eq!(got, expected, "contact_channels_daily");
    let expected = format!("{}\t{}\n", ledger.visits, ledger.visits_with_contact);
    let got = settles(
        &format!(
            "SELECT count(), countIf(contacts > 0) FROM (SELECT * FROM {db}.sessions FINAL) WHERE deleted = 0 FORMAT TSV"
        ),
        &expected,
        timeout,
    )
    .await;
    assert_eq!(got, expected, "sessions");
    for (table, cell) in [
        ("visits_daily", " AND channel = '*' AND device = '*'"),
        ("visit_totals_daily", ""),
    ] {
        let got = settles(
            &format!(
                "SELECT sum(visits), sum(contacts) FROM {} AND theme = ''{cell} FORMAT TSV",
                newest(&db, table)
            ),
            &expected,
            timeout,
        )
        .await;
        assert_eq!(got, expected, "{table}");
    }
    let dead = luister_testkit::consume(&scratch.dlq, 1, Duration::from_secs(2)).await;
    assert!(dead.is_empty(), "dead letters: {:?}", dead.first());

    let metrics = processor.metrics().await;
    let metric = |name: &str| luister_testkit::metric_value(&metrics, name.trim_end());
    println!(
        "{kills} kills of ClickHouse in {killing:.1?}, aimed at {aimed:?}, {interrupted} of them \
         during a write of the processor; {total} events, {} write retries, {} messages found \
         already stored; every table matches the ledger",
        metric("luister_processor_insert_retries_total "),
        metric("luister_processor_duplicates_skipped_total "),
    );
    assert!(
        interrupted * 3 >= kills,
        "too few kills ({interrupted} of {kills}) interrupted a write to prove anything: {aimed:?}"
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}
