//! Starting the processor in-process and reading what it wrote.

use std::time::Duration;

use luister_processor::config::ProcessorConfig;
use luister_store::ClickHouseConfig;
use luister_testkit::events::{event, EventBuilder};
use luister_testkit::{clickhouse, clickhouse_url, wait_for, Running, Scratch};

/// The processor on the scratch topic and database, in consumer group `group`.
pub async fn start_processor(scratch: &Scratch, group: &str) -> Running {
    start_processor_with(scratch, group, |_| {}).await
}

/// [`start_processor`] with `adjust` applied to its configuration.
pub async fn start_processor_with(
    scratch: &Scratch,
    group: &str,
    adjust: impl FnOnce(&mut ProcessorConfig),
) -> Running {
    let mut config = ProcessorConfig {
        kafka: scratch.kafka(),
        clickhouse: ClickHouseConfig {
            url: clickhouse_url(),
            database: scratch.database.clone(),
            ..ClickHouseConfig::default()
        },
        ..ProcessorConfig::default()
    };
    config.consumer.group_id = group.to_owned();
    config.sessions.interval_s = 1;
    config.consumer.batch_max_wait_ms = 200;
    // Small batches fill up, so every test also runs the held-back (pipelined) path.
    config.consumer.batch_max_rows = 8;
    config.consumer.session_timeout_ms = 6000;
    adjust(&mut config);
    let running = Running::start(move |listener, shutdown| {
        luister_processor::serve(config, listener, shutdown)
    })
    .await;
    running.wait_ready(Duration::from_secs(60)).await;
    running
}

/// A page view event as the collector writes it, four days ago ([`settled_ms`]).
pub fn pageview(visitor: u64, path: &str) -> String {
    event("demo", visitor, settled_ms()).path(path).json()
}

/// Four days ago: a settled day, whose event counts the sessionizer keeps in
/// `event_counts_daily` (the last three days are counted from the raw events).
pub fn settled_ms() -> i64 {
    now_ms() - 4 * 86_400_000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A single number from ClickHouse.
pub async fn count(sql: &str) -> u64 {
    clickhouse(sql)
        .await
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits until `sql` returns `expected`; returns the last value seen.
pub async fn wait_count(sql: &str, expected: u64, timeout: Duration) -> u64 {
    let found = wait_for(timeout, || async {
        let n = count(sql).await;
        (n == expected).then_some(n)
    })
    .await;
    match found {
        Some(n) => n,
        None => count(sql).await,
    }
}

/// The value of an un-labelled counter on a `/metrics` page.
pub async fn metric(running: &Running, name: &str) -> u64 {
    luister_testkit::metric_value(&running.metrics().await, name.trim_end()) as u64
}

/// The start (ms) of scripted visits that span `span_s` seconds: two hours ago, or just
/// after the midnight that would fall within them. The processor's day is the calendar
/// day in its time zone (Europe/Amsterdam), and the tests' visitor keys, unlike real
/// ones, do not rotate at midnight: a scripted visit across it would be two visits.
pub fn scripted_base(span_s: i64) -> i64 {
    let tz = chrono_tz::Europe::Amsterdam;
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&tz)
            .date_naive()
    };
    let base = now_ms() - 2 * 3_600_000;
    let end = base + span_s * 1000;
    if day(base) == day(end) {
        return base;
    }
    day(end)
        .and_hms_opt(0, 1, 0)
        .unwrap()
        .and_local_timezone(tz)
        .earliest()
        .unwrap()
        .timestamp_millis()
}

/// The event JSON of `e` (a page view of `/` on `demo` at `ts_ms` by `visitor`,
/// changed by `e`).
pub fn event_at(
    visitor: u64,
    ts_ms: i64,
    path: &str,
    e: impl FnOnce(EventBuilder) -> EventBuilder,
) -> String {
    e(event("demo", visitor, ts_ms).path(path)).json()
}

/// SQL of the events counted in the newest version of each (site, day) of
/// `event_counts_daily`, of the rows `filter` selects (the sessionizer rewrites it).
pub fn event_counts(db: &str, filter: &str) -> String {
    format!(
        "SELECT sum(events) FROM {db}.event_counts_daily WHERE {filter} AND (site, day, version) IN \
         (SELECT site, day, max(version) FROM {db}.event_counts_daily GROUP BY site, day)"
    )
}
