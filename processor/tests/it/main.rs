//! Integration tests of the processor against the real Kafka broker and the real
//! ClickHouse. Run by `deploy/local/test.sh`, which starts both.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

mod helpers;

use std::collections::HashSet;
use std::time::Duration;

use luister_testkit::{consume, produce, wait_for, Scratch};

use helpers::{count, event_counts, metric, pageview, start_processor, wait_count};

#[tokio::test]
async fn events_land_in_raw_and_daily_tables_once() {
    let scratch = Scratch::new("proc_land");
    let processor = start_processor(&scratch, "g1").await;
    for i in 0..25u64 {
        produce(
            &scratch.topic,
            &format!("{i:016x}"),
            pageview(i % 5, &format!("/p/{i}")).as_bytes(),
        )
        .await;
    }
    let db = &scratch.database;
    let raw = wait_count(
        &format!("SELECT count() FROM {db}.events"),
        25,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(raw, 25, "events in ClickHouse");
    assert_eq!(
        wait_count(
            &event_counts(db, "site = 'demo' AND theme = '*' AND type = 'pageview'"),
            25,
            Duration::from_secs(30)
        )
        .await,
        25,
        "event_counts_daily (rewritten by the sessionizer)"
    );
    assert_eq!(
        count(&format!("SELECT uniqExact(visitor) FROM {db}.events")).await,
        5
    );
    assert_eq!(
        count(&format!("SELECT countIf(path = '/p/7') FROM {db}.events")).await,
        1
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn replaying_the_whole_topic_counts_nothing_twice() {
    let scratch = Scratch::new("proc_replay");
    let db = scratch.database.clone();
    let first = start_processor(&scratch, "g1").await;
    for i in 0..30u64 {
        produce(
            &scratch.topic,
            &format!("{i:016x}"),
            pageview(i, "/a").as_bytes(),
        )
        .await;
    }
    assert_eq!(
        wait_count(
            &format!("SELECT count() FROM {db}.events"),
            30,
            Duration::from_secs(30)
        )
        .await,
        30
    );
    // Kill it without a clean shutdown: no final commit.
    first.abort();

    // A new consumer group starts at the beginning of the topic: every message is a
    // replay of something ClickHouse already holds.
    let second = start_processor(&scratch, "g2").await;
    let skipped = wait_for(Duration::from_secs(30), || async {
        let n = metric(&second, "luister_processor_duplicates_skipped_total").await;
        (n == 30).then_some(n)
    })
    .await;
    assert_eq!(
        skipped,
        Some(30),
        "the replayed messages were recognised as written"
    );
    assert_eq!(count(&format!("SELECT count() FROM {db}.events")).await, 30);
    assert_eq!(
        wait_count(
            &event_counts(&db, "theme = '*'"),
            30,
            Duration::from_secs(30)
        )
        .await,
        30
    );

    for i in 0..5u64 {
        produce(
            &scratch.topic,
            &format!("{i:016x}"),
            pageview(i, "/b").as_bytes(),
        )
        .await;
    }
    assert_eq!(
        wait_count(
            &format!("SELECT count() FROM {db}.events"),
            35,
            Duration::from_secs(30)
        )
        .await,
        35
    );
    assert_eq!(
        wait_count(
            &event_counts(&db, "theme = '*'"),
            35,
            Duration::from_secs(30)
        )
        .await,
        35
    );
    second.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn unusable_messages_go_to_the_dead_letter_topic_with_the_reason() {
    let scratch = Scratch::new("proc_dlq");
    let processor = start_processor(&scratch, "g1").await;
    produce(&scratch.topic, "k1", b"this is not json").await;
    produce(&scratch.topic, "k2", pageview(1, "/ok").as_bytes()).await;
    produce(&scratch.topic, "k3", br#"{"v":9,"site":"demo"}"#).await;

    let dead = consume(&scratch.dlq, 2, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    let by_key = |k: &str| {
        dead.iter()
            .find(|m| m.key == k)
            .unwrap_or_else(|| panic!("{k} not dead-lettered: {dead:?}"))
    };
    let header = |m: &luister_testkit::Consumed, h: &str| {
        m.headers
            .iter()
            .find(|(k, _)| k == h)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(by_key("k1").payload, "this is not json");
    assert!(
        header(by_key("k1"), "luister-error").contains("not valid JSON"),
        "{dead:?}"
    );
    assert!(
        header(by_key("k3"), "luister-error").contains("schema version 9"),
        "{dead:?}"
    );
    assert!(header(by_key("k1"), "luister-origin").starts_with(&scratch.topic));

    let db = &scratch.database;
    assert_eq!(
        wait_count(
            &format!("SELECT count() FROM {db}.events"),
            1,
            Duration::from_secs(30)
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            &processor,
            "luister_processor_dead_letters_total{reason=\"invalid_event\"}"
        )
        .await,
        1
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

/// When ClickHouse refuses a batch for good (here: a column the insert names is gone),
/// its rows go to the dead-letter topic whole, decoded from what was encoded for the
/// insert, and the processor goes on with the next batches.
#[tokio::test]
async fn a_batch_clickhouse_refuses_goes_to_the_dead_letter_topic_whole() {
    let scratch = Scratch::new("proc_refused");
    let processor = start_processor(&scratch, "g1").await;
    let db = &scratch.database;
    produce(&scratch.topic, "k0", pageview(1, "/eerst").as_bytes()).await;
    let events = format!("SELECT count() FROM {db}.events");
    assert_eq!(wait_count(&events, 1, Duration::from_secs(30)).await, 1);
    luister_testkit::clickhouse(&format!("ALTER TABLE {db}.events DROP COLUMN screen_width"))
        .await
        .unwrap();
    produce(
        &scratch.topic,
        "k1",
        pageview(2, "/schulden/hulp").as_bytes(),
    )
    .await;

    let dead = consume(&scratch.dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let m = &dead[0];
    let header = |h: &str| {
        m.headers
            .iter()
            .find(|(k, _)| k == h)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(
        header("luister-error").contains("ClickHouse refused the batch"),
        "{m:?}"
    );
    let row: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
    assert_eq!(row["path"], "/schulden/hulp", "{row}");
    assert_eq!(row["type"], "pageview", "{row}");
    assert_eq!(row["visitor"], format!("{:016x}", 2), "{row}");
    assert_eq!(row["kafka_topic"], scratch.topic.as_str(), "{row}");
    assert_eq!(
        header("luister-origin"),
        format!(
            "{}/{}/{}",
            scratch.topic, row["kafka_partition"], row["kafka_offset"]
        )
    );
    assert_eq!(
        metric(
            &processor,
            "luister_processor_dead_letters_total{reason=\"clickhouse_refused\"}"
        )
        .await,
        1
    );
    assert_eq!(
        count(&events).await,
        1,
        "nothing of the refused batch landed"
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn two_processors_starting_at_once_migrate_the_database_once() {
    let scratch = Scratch::new("proc_migrate");
    let (a, b) = tokio::join!(
        start_processor(&scratch, "g1"),
        start_processor(&scratch, "g1")
    );
    let db = &scratch.database;
    let applied = luister_store::migrations::MIGRATIONS.len() as u64;
    assert_eq!(
        count(&format!("SELECT count() FROM {db}.schema_migrations")).await,
        applied,
        "each migration recorded once"
    );
    assert_eq!(
        count(&format!("SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'schema_migrations_lock'")).await,
        0,
        "the migration lock is released"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn themes_are_attributed_and_land_in_the_theme_aggregates() {
    let scratch = Scratch::new("proc_themes");
    let processor = start_processor(&scratch, "g1").await;
    let search = |visitor: u64, q: &str| {
        helpers::event_at(visitor, helpers::settled_ms(), "/zoeken", |e| {
            e.search(q, 0)
        })
    };
    for (key, payload) in [
        ("1", pageview(1, "/schulden/schuldhulpverlening")),
        ("1", pageview(1, "/afval/grofvuil")),
        ("2", search(2, "kwijtscheldng")),
        ("3", search(3, "kwijtschelding aanvragen")),
        ("3", pageview(3, "/contact")),
        ("4", search(4, "Zwembad  OPENINGSTIJDEN")),
    ] {
        produce(&scratch.topic, key, payload.as_bytes()).await;
    }
    let db = &scratch.database;
    assert_eq!(
        wait_count(
            &format!("SELECT count() FROM {db}.events"),
            6,
            Duration::from_secs(30)
        )
        .await,
        6
    );
    assert_eq!(
        luister_testkit::clickhouse(&format!(
            "SELECT themes FROM {db}.events WHERE search_query = 'kwijtscheldng' FORMAT TSV"
        ))
        .await
        .unwrap()
        .trim(),
        "['armoede/kwijtschelding','armoede']"
    );
    // The aggregates are rewritten by the sessionizer (every second here): wait for
    // their totals before looking at the details.
    assert_eq!(
        wait_count(
            &event_counts(db, "theme NOT IN ('*', '')"),
            7,
            Duration::from_secs(30)
        )
        .await,
        7
    );
    // Search terms are counted by the sessionizer (every second here), as versions of
    // each day: read the newest.
    let newest = format!(
        "FROM {db}.search_term_counts_daily WHERE (site, day, version) IN \
         (SELECT site, day, max(version) FROM {db}.search_term_counts_daily GROUP BY site, day)"
    );
    assert_eq!(
        wait_count(
            &format!("SELECT sum(searches) {newest} AND theme = '*'"),
            3,
            Duration::from_secs(30)
        )
        .await,
        3
    );
    let per_theme = |theme: &str| event_counts(db, &format!("theme = '{theme}'"));
    assert_eq!(count(&per_theme("schulden")).await, 1);
    assert_eq!(count(&per_theme("schulden/schuldhulpverlening")).await, 1);
    assert_eq!(count(&per_theme("afval")).await, 1);
    assert_eq!(count(&per_theme("armoede/kwijtschelding")).await, 2);
    assert_eq!(count(&per_theme("armoede")).await, 2);
    assert_eq!(
        count(&format!("SELECT countIf(empty(themes)) FROM {db}.events")).await,
        2,
        "/contact and zwembad have no theme"
    );
    // Site search: normalised terms for the site ('*'), per theme, zero results, and
    // unmatched terms ('').
    let terms = luister_testkit::clickhouse(&format!(
        "SELECT theme, term, sum(searches), sum(zero_results), sum(visitors) {newest} \
         GROUP BY theme, term ORDER BY theme, term FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        terms,
        "\tzwembad openingstijden\t1\t1\t1\n\
         *\tkwijtschelding aanvragen\t1\t1\t1\n\
         *\tkwijtscheldng\t1\t1\t1\n\
         *\tzwembad openingstijden\t1\t1\t1\n\
         armoede\tkwijtschelding aanvragen\t1\t1\t1\n\
         armoede\tkwijtscheldng\t1\t1\t1\n\
         armoede/kwijtschelding\tkwijtschelding aanvragen\t1\t1\t1\n\
         armoede/kwijtschelding\tkwijtscheldng\t1\t1\t1\n"
    );
    assert_eq!(
        count(&format!(
            "SELECT count() FROM {db}.events WHERE has(themes, 'afval') AND channel = 'direct' AND device = 'unknown'"
        ))
        .await,
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE 'theme_channel_daily%'"
        ))
        .await,
        0,
        "migration 10 dropped the unused aggregate and its view"
    );
    assert_eq!(
        count(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE 'search_terms_daily%'"
        ))
        .await,
        0,
        "migration 12 dropped the aggregate 11 replaced, and its view"
    );
    assert_eq!(
        metric(
            &processor,
            r#"luister_processor_theme_events_total{site="other",theme="armoede",type="search"}"#
        )
        .await,
        2
    );
    assert_eq!(
        metric(
            &processor,
            r#"luister_processor_zero_result_searches_total{site="other",theme="none"}"#
        )
        .await,
        1
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn retention_drops_old_raw_months_and_keeps_the_aggregates() {
    let scratch = Scratch::new("proc_retention");
    let processor = start_processor(&scratch, "g1").await;
    let db = &scratch.database;
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.events (site, day, ts, type, visitor, url, path, kafka_topic, kafka_partition, kafka_offset) \
         VALUES ('demo', '2020-01-15', toDateTime('2020-01-15 12:00:00'), 'pageview', 'a', 'u', '/', 'old', 0, 1)"
    ))
    .await
    .unwrap();
    produce(&scratch.topic, "k", pageview(1, "/x").as_bytes()).await;
    assert_eq!(
        wait_count(
            &format!("SELECT count() FROM {db}.events"),
            2,
            Duration::from_secs(30)
        )
        .await,
        2
    );
    assert_eq!(
        wait_count(&event_counts(db, "theme = '*'"), 2, Duration::from_secs(30)).await,
        2,
        "both days counted before the old one's raw events go"
    );

    let store = luister_store::Store::connect(&luister_store::ClickHouseConfig {
        url: luister_testkit::clickhouse_url(),
        database: db.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dropped =
        luister_processor::retention::run_once(&store, 400, chrono::Utc::now().date_naive())
            .await
            .unwrap();
    assert_eq!(dropped, vec![202001]);
    assert_eq!(
        count(&format!("SELECT count() FROM {db}.events")).await,
        1,
        "the recent event stays"
    );
    assert_eq!(
        count(&event_counts(db, "theme = '*' AND day = '2020-01-15'")).await,
        1,
        "aggregates are kept"
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn sessions_and_early_contact_for_scripted_visits_including_a_late_event() {
    let scratch = Scratch::new("proc_sessions");
    // One new event per pass: the visitors are split over several passes, which must
    // give the same visits as one pass.
    let processor =
        helpers::start_processor_with(&scratch, "g1", |c| c.sessions.events_per_pass = 1).await;
    let db = &scratch.database;
    // The visits span 3,000 s (C's two) and must fall on one day.
    let base = helpers::scripted_base(3000);
    let s = 1000;
    let visits = [
        // A: searches debt help, then fills in the contact form 4 minutes later.
        ("a", helpers::event_at(0xa, base, "/", |e| e)),
        (
            "a",
            helpers::event_at(0xa, base + 60 * s, "/zoeken", |e| e.search("schuldhulp", 4)),
        ),
        (
            "a",
            helpers::event_at(0xa, base + 300 * s, "/contact", |e| {
                e.action("contact:form")
            }),
        ),
        // B: reads about debts, no contact (yet).
        (
            "b",
            helpers::event_at(0xb, base, "/schulden/schuldhulpverlening", |e| e),
        ),
        // C: two visits about waste, 50 minutes apart.
        ("c", helpers::event_at(0xc, base, "/afval/grofvuil", |e| e)),
        (
            "c",
            helpers::event_at(0xc, base + 3000 * s, "/afval/grofvuil", |e| e),
        ),
    ];
    for (k, v) in &visits {
        produce(&scratch.topic, k, v.as_bytes()).await;
    }
    let live = format!("SELECT count() FROM {db}.sessions FINAL WHERE deleted = 0");
    assert_eq!(
        wait_count(&live, 4, Duration::from_secs(30)).await,
        4,
        "A, B and C's two visits"
    );
    // The sessionizer's metrics say that it ran, what it wrote and how far it got
    // (once the run that wrote those visits has finished).
    let written = wait_for(Duration::from_secs(30), || async {
        let n = metric(&processor, "luister_processor_sessions_written_total").await;
        (n >= 4).then_some(n)
    })
    .await;
    assert!(written.is_some(), "no session rows counted");
    assert!(
        metric(
            &processor,
            "luister_processor_sessionizer_runs_total{outcome=\"ok\"}"
        )
        .await
            >= 1
    );
    let complete = metric(
        &processor,
        "luister_processor_sessions_complete_until_timestamp_seconds",
    )
    .await as i64;
    assert!(
        (base / 1000..=base / 1000 + 3 * 3600).contains(&complete),
        "{complete}"
    );
    let early = format!(
        "SELECT count(), countIf(ct > 0), sumIf(ct - ft, ct > 0) FROM {db}.sessions FINAL \
         ARRAY JOIN themes AS theme, theme_first_ts AS ft, theme_contact_ts AS ct \
         WHERE deleted = 0 AND theme = 'schulden' FORMAT TSV"
    );
    let got = luister_testkit::clickhouse(&early).await.unwrap();
    assert_eq!(
        got.trim(),
        "2\t1\t240",
        "2 sessions touched schulden, A contacted 240 s after the first touch"
    );

    let outcomes = luister_testkit::clickhouse(&format!(
        "SELECT term, theme, next FROM {db}.sessions FINAL \
         ARRAY JOIN search_terms AS term, search_themes AS theme, search_next AS next WHERE deleted = 0 FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        outcomes, "schuldhulp\tschulden\tclicked\n",
        "A's search was followed by the contact form"
    );

    // B's phone click arrives late (and out of order): B's visit now has a contact too.
    produce(
        &scratch.topic,
        "b",
        helpers::event_at(0xb, base + 100 * s, "/schulden", |e| {
            e.action("contact:phone")
        })
        .as_bytes(),
    )
    .await;
    let converted = wait_for(Duration::from_secs(30), || async {
        let t = luister_testkit::clickhouse(&early).await.ok()?;
        (t.trim() == "2\t2\t340").then_some(t)
    })
    .await;
    assert!(
        converted.is_some(),
        "the late contact was not counted: {}",
        luister_testkit::clickhouse(&early).await.unwrap()
    );
    assert_eq!(count(&live).await, 4, "no visit counted twice");
    let c = luister_testkit::clickhouse(&format!(
        "SELECT pageviews, contacts, entry_path FROM {db}.sessions FINAL WHERE deleted = 0 AND visitor = '{:016x}' ORDER BY start_ts FORMAT TSV",
        0xc
    ))
    .await
    .unwrap();
    assert_eq!(c, "1\t0\t/afval/grofvuil\n1\t0\t/afval/grofvuil\n");

    // A late page view between C's two visits joins them into one.
    produce(
        &scratch.topic,
        "c",
        helpers::event_at(0xc, base + 1500 * s, "/afval", |e| e).as_bytes(),
    )
    .await;
    assert_eq!(
        wait_count(&live, 3, Duration::from_secs(30)).await,
        3,
        "C's visits merged, the old one marked deleted"
    );
    let c = luister_testkit::clickhouse(&format!(
        "SELECT pageviews, duration_s FROM {db}.sessions FINAL WHERE deleted = 0 AND visitor = '{:016x}' FORMAT TSV",
        0xc
    ))
    .await
    .unwrap();
    assert_eq!(c, "3\t3000\n");
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn migration_8_aggregates_the_sessions_written_before_it() {
    let scratch = Scratch::new("proc_visits_backfill");
    let db = &scratch.database;
    migrated(db).await;
    // Two visits of one day, as the sessionizer of a build before migration 8 wrote
    // them (the first also in an older version), and one deleted visit.
    insert_sessions(
        db,
        "('demo', '2026-11-02', 'a', 'a-1', 1000, 1300, 'search', 'mobile', 0, 0, ['schulden'], [1000], [0], 0, 1, [0]), \
         ('demo', '2026-11-02', 'a', 'a-1', 1000, 1300, 'search', 'mobile', 1, 1300, ['schulden'], [1000], [1300], 0, 2, [0]), \
         ('demo', '2026-11-02', 'b', 'b-1', 2000, 2000, 'direct', 'desktop', 0, 0, [], [], [], 0, 1, []), \
         ('demo', '2026-11-02', 'c', 'c-1', 3000, 3000, 'direct', 'desktop', 0, 0, [], [], [], 1, 1, [])",
    )
    .await;
    // Forget migration 8 and apply it again, as on a database made before it.
    luister_testkit::clickhouse(&format!("DROP TABLE {db}.visits_daily"))
        .await
        .unwrap();
    migrate_again(db, 8).await;
    let got = luister_testkit::clickhouse(&format!(
        "SELECT theme, channel, device, visits, contacts, zero_results, visitors, \
         quantilesExactIfMerge(0.5, 0.9)(time_to_contact) FROM {db}.visits_daily \
         GROUP BY theme, channel, device, visits, contacts, zero_results, visitors \
         ORDER BY theme, channel, device FORMAT TSV"
    ))
    .await
    .unwrap();
    // Per theme ('' = all visits): by channel, by device and in total ('*').
    assert_eq!(
        got,
        "\t*\t*\t2\t1\t1\t2\t[300,300]\n\
         \t*\tdesktop\t1\t0\t0\t1\t[0,0]\n\
         \t*\tmobile\t1\t1\t1\t1\t[300,300]\n\
         \tdirect\t*\t1\t0\t0\t1\t[0,0]\n\
         \tsearch\t*\t1\t1\t1\t1\t[300,300]\n\
         schulden\t*\t*\t1\t1\t0\t1\t[300,300]\n\
         schulden\t*\tmobile\t1\t1\t0\t1\t[300,300]\n\
         schulden\tsearch\t*\t1\t1\t0\t1\t[300,300]\n"
    );
    scratch.cleanup().await;
}

#[tokio::test]
async fn the_sessionizers_visits_refresh_gives_migration_8s_rows() {
    let scratch = Scratch::new("proc_visits_refresh");
    let db = &scratch.database;
    migrated(db).await;
    // Visits of two sites and days: channels and devices shared and not, several
    // themes, contacts (early or not), zero-result searches, a visitor with two
    // visits, an older version of a visit and a deleted one.
    insert_sessions(
        db,
        "('demo', '2026-11-02', 'a', 'a-1', 1000, 1300, 'search', 'mobile', 0, 0, ['schulden'], [1000], [0], 0, 1, [0]), \
         ('demo', '2026-11-02', 'a', 'a-1', 1000, 1300, 'search', 'mobile', 1, 1300, ['schulden'], [1000], [1300], 0, 2, [0]), \
         ('demo', '2026-11-02', 'a', 'a-9', 9000, 9100, 'direct', 'mobile', 0, 0, ['schulden', 'afval'], [9000, 9050], [0, 0], 0, 2, [3, 0, 0]), \
         ('demo', '2026-11-02', 'b', 'b-1', 2000, 2600, 'search', 'desktop', 2, 2100, ['schulden', 'inkomen'], [2000, 2050], [2100, 2100], 0, 1, []), \
         ('demo', '2026-11-02', 'c', 'c-1', 3000, 3000, 'direct', 'desktop', 0, 0, [], [], [], 1, 1, []), \
         ('demo', '2026-11-02', 'd', 'd-1', 4000, 4900, 'social', 'tablet', 1, 4900, ['inkomen'], [4000], [4900], 0, 1, [0, 5]), \
         ('demo', '2026-11-03', 'a', 'a-2', 500, 800, 'search', 'mobile', 1, 700, ['schulden'], [600], [700], 0, 1, []), \
         ('other', '2026-11-02', 'e', 'e-1', 100, 100, 'direct', 'desktop', 0, 0, ['afval'], [100], [0], 0, 1, [0])",
    )
    .await;
    let rows = |select: String| {
        let select = select
            .trim_start_matches("INSERT INTO visits_daily")
            .replace("sessions FINAL", &format!("{db}.sessions FINAL"));
        let sql = format!(
            "SELECT site, day, theme, channel, device, visits, contacts, zero_results, visitors, \
             finalizeAggregation(time_to_contact) AS q FROM ({select}) \
             ORDER BY site, day, theme, channel, device FORMAT TSV"
        );
        async move { luister_testkit::clickhouse(&sql).await }
    };
    let migration = luister_store::migrations::MIGRATIONS
        .iter()
        .filter(|m| m.version == 8)
        .flat_map(|m| m.statements())
        .find(|s| s.starts_with("INSERT INTO visits_daily"))
        .unwrap();
    let expected = rows(migration).await.unwrap();
    let refresh =
        luister_store::aggregates::visits::rewrite(&luister_store::aggregates::Scope::All)
            .sql()
            .replace('?', "7");
    assert_eq!(rows(refresh).await.unwrap(), expected);
    // Not an empty comparison: every site and day, the three cells, each theme.
    assert_eq!(expected.lines().count(), 32, "{expected}");
    assert!(
        expected.contains("demo\t2026-11-02\tschulden\t*\t*\t3\t2\t0\t2\t[300,300]\n"),
        "{expected}"
    );
    scratch.cleanup().await;
}

/// Writes sessions (the VALUES of an insert) as a sessionizer would have.
async fn insert_sessions(db: &str, values: &str) {
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.sessions (site, day, visitor, session_id, start_ts, end_ts, channel, device, \
         contacts, first_contact_ts, themes, theme_first_ts, theme_contact_ts, deleted, version, search_results) \
         VALUES {values}"
    ))
    .await
    .unwrap();
}

/// The newest version of each (site, day) of a sessionizer aggregate, of the rows
/// `filter` selects, as TSV.
async fn newest_rows(db: &str, table: &str, columns: &str, filter: &str) -> String {
    luister_testkit::clickhouse(&format!(
        "SELECT {columns} FROM {db}.{table} \
         WHERE {filter} AND (site, day, version) IN (SELECT site, day, max(version) FROM {db}.{table} GROUP BY site, day) \
         ORDER BY {columns} FORMAT TSV"
    ))
    .await
    .unwrap_or_default()
}

/// The contacts per channel (theme, channel, contacts, visitors) of the days `filter`
/// selects, once they are `expected` (the sessionizer runs every second), or as they
/// are after 30 s.
async fn contact_channels(db: &str, filter: &str, expected: &str) -> String {
    let columns = "theme, channel, contacts, visitors";
    let got = wait_for(Duration::from_secs(30), || async {
        let t = newest_rows(db, "contact_channels_daily", columns, filter).await;
        (t == expected).then_some(t)
    })
    .await;
    match got {
        Some(t) => t,
        None => newest_rows(db, "contact_channels_daily", columns, filter).await,
    }
}

#[tokio::test]
async fn contacts_per_channel_and_visit_totals_follow_every_sessionizer_run() {
    let scratch = Scratch::new("proc_contact_channels");
    let processor = start_processor(&scratch, "g1").await;
    let db = &scratch.database;
    let base = helpers::scripted_base(6);
    let action = |visitor: u64, i: i64, path: &str, name: &str| {
        helpers::event_at(visitor, base + i * 1000, path, |e| e.action(name))
    };
    // Every kind of contact on debt-help pages, one visitor each (visitor 1 twice by
    // telephone), a self-service completion, a download (no contact) and a page view.
    let events = [
        action(1, 0, "/schulden", "contact:phone"),
        action(1, 1, "/schulden", "contact:callback"),
        action(2, 2, "/schulden", "contact:balie"),
        action(3, 3, "/schulden", "contact:post"),
        action(4, 4, "/schulden", "contact:form"),
        action(5, 5, "/", "selfservice:aanvraag-kwijtschelding"),
        action(6, 6, "/schulden", "download"),
        helpers::event_at(7, base, "/schulden", |e| e),
    ];
    for e in &events {
        produce(&scratch.topic, "k", e.as_bytes()).await;
    }
    let expected = "\tcounter\t1\t1\n\tletter\t1\t1\n\ttelephone\t2\t1\n\tweb\t2\t2\n\
                    schulden\tcounter\t1\t1\nschulden\tletter\t1\t1\nschulden\ttelephone\t2\t1\nschulden\tweb\t1\t1\n";
    assert_eq!(contact_channels(db, "1", expected).await, expected);

    // A late contact: the next run rewrites the day with it, counting nothing twice.
    produce(
        &scratch.topic,
        "k",
        action(8, 8, "/schulden", "contact:telephone").as_bytes(),
    )
    .await;
    let expected = expected.replace("\ttelephone\t2\t1\n", "\ttelephone\t3\t2\n");
    assert_eq!(
        contact_channels(db, "1", &expected).await,
        expected,
        "after the late contact"
    );

    // A contact that arrives days late, together with one of today: the run covers
    // every day between them (each run reads only the days of its new events).
    produce(
        &scratch.topic,
        "k",
        action(9, -3 * 86_400, "/schulden", "contact:letter").as_bytes(),
    )
    .await;
    produce(
        &scratch.topic,
        "k",
        action(10, 10, "/", "contact:chat").as_bytes(),
    )
    .await;
    let late_day = "\tletter\t1\t1\nschulden\tletter\t1\t1\n";
    assert_eq!(
        contact_channels(db, "day <= today() - 2", late_day).await,
        late_day,
        "the late contact's day"
    );
    let expected = expected.replace("\tweb\t2\t2\n", "\tweb\t3\t3\n");
    assert_eq!(
        contact_channels(db, "day > today() - 2", &expected).await,
        expected,
        "today with the chat"
    );

    // The visit totals are visits_daily's total rows of the same version (written last
    // in a run, so wait for the run that counted the chat).
    let totals = || {
        newest_rows(
            db,
            "visit_totals_daily",
            "theme, visits, contacts, zero_results, visitors, version",
            "1",
        )
    };
    let visits_sql = format!(
        "SELECT theme, visits, contacts, zero_results, visitors, version FROM {db}.visits_daily \
         WHERE channel = '*' AND device = '*' \
         AND (site, day, version) IN (SELECT site, day, max(version) FROM {db}.visits_daily GROUP BY site, day) \
         ORDER BY theme, visits, contacts, zero_results, visitors, version FORMAT TSV"
    );
    let visits = || luister_testkit::clickhouse(&visits_sql);
    let same = wait_for(Duration::from_secs(30), || async {
        let t = totals().await;
        (t.contains("\n\t9\t") && t == visits().await.ok()?).then_some(t)
    })
    .await;
    assert!(
        same.is_some(),
        "totals {} against visits_daily {}",
        totals().await,
        visits().await.unwrap_or_default()
    );
    processor.stop().await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test]
async fn migration_9_aggregates_what_was_written_before_it_once() {
    let scratch = Scratch::new("proc_totals_backfill");
    let db = &scratch.database;
    migrated(db).await;
    // As a build before migration 9 left them: two versions of a day's visits (only
    // the newest counts) and the raw contact actions.
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.visits_daily (site, day, theme, channel, device, visits, contacts, zero_results, visitors, version) VALUES \
         ('demo', '2026-11-02', '', '*', '*', 5, 1, 0, 5, 1), ('demo', '2026-11-02', 'schulden', '*', '*', 2, 1, 0, 2, 1), \
         ('demo', '2026-11-02', '', '*', '*', 6, 2, 0, 6, 2), ('demo', '2026-11-02', '', 'direct', '*', 6, 2, 0, 6, 2)"
    ))
    .await
    .unwrap();
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.events (site, day, ts, type, visitor, action_name, themes) VALUES \
         ('demo', '2026-11-02', '2026-11-02 10:00:00', 'action', 'a', 'contact:phone', ['schulden']), \
         ('demo', '2026-11-02', '2026-11-02 10:01:00', 'action', 'b', 'contact:chat', []), \
         ('demo', '2026-11-02', '2026-11-02 10:02:00', 'action', 'b', 'download', [])"
    ))
    .await
    .unwrap();
    // Forget migration 9 and apply it twice, as on a database made before it and after
    // a crash before it was recorded.
    migrate_again(db, 9).await;
    migrate_again(db, 9).await;
    let totals = luister_testkit::clickhouse(&format!(
        "SELECT theme, visits, contacts, visitors, version FROM {db}.visit_totals_daily ORDER BY theme FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(totals, "\t6\t2\t6\t0\n");
    let contacts = luister_testkit::clickhouse(&format!(
        "SELECT theme, channel, contacts, visitors, version FROM {db}.contact_channels_daily ORDER BY theme, channel FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        contacts,
        "\ttelephone\t1\t1\t0\n\tweb\t1\t1\t0\nschulden\ttelephone\t1\t1\t0\n"
    );
    scratch.cleanup().await;
}

/// Migration 11 counts the searches of the days that still have raw events from the
/// events, copies the other days from the table it replaces, and adds nothing when it
/// runs again.
#[tokio::test]
async fn migration_11_counts_the_searches_written_before_it_once() {
    let scratch = Scratch::new("proc_terms_backfill");
    let db = &scratch.database;
    let store = migrated(db).await;
    // search_terms_daily as migration 4 made it (migration 12 dropped it), with a day
    // whose raw events are gone (2026-10-05) and one that still has them (2026-11-02).
    let create = luister_store::migrations::MIGRATIONS
        .iter()
        .filter(|m| m.version == 4)
        .flat_map(|m| m.statements())
        .find(|s| s.starts_with("CREATE TABLE IF NOT EXISTS search_terms_daily"))
        .unwrap();
    store.client().query(&create).execute().await.unwrap();
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.search_terms_daily (site, day, term, theme, searches, zero_results, visitors) \
         SELECT 'demo', toDate(d), 'schuldhulp', theme, n, 1, uniqState(v) FROM \
         (SELECT arrayJoin(['p', 'q', 'r', 's']) AS v, arrayJoin(['schulden', 'schulden/hulp']) AS theme, \
         arrayJoin([('2026-10-05', 4), ('2026-11-02', 99)]) AS dn, dn.1 AS d, dn.2 AS n) \
         GROUP BY d, theme, n"
    ))
    .await
    .unwrap();
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.events (site, day, ts, type, visitor, search_term, search_results, themes) VALUES \
         ('demo', '2026-11-02', '2026-11-02 10:00:00', 'search', 'a', 'kwijtschelding', 0, ['armoede']), \
         ('demo', '2026-11-02', '2026-11-02 10:01:00', 'search', 'b', 'kwijtschelding', 3, ['armoede']), \
         ('demo', '2026-11-02', '2026-11-02 10:02:00', 'search', 'c', 'zwembad', 2, []), \
         ('demo', '2026-11-02', '2026-11-02 10:03:00', 'pageview', 'c', '', -1, [])"
    ))
    .await
    .unwrap();
    migrate_again(db, 11).await;
    migrate_again(db, 11).await;
    let rows = luister_testkit::clickhouse(&format!(
        "SELECT theme, day, term, sum(searches), sum(zero_results), sum(visitors), max(version) \
         FROM {db}.search_term_counts_daily GROUP BY theme, day, term ORDER BY theme, day, term FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        rows,
        "\t2026-11-02\tzwembad\t1\t0\t1\t0\n\
         *\t2026-10-05\tschuldhulp\t4\t1\t4\t0\n\
         *\t2026-11-02\tkwijtschelding\t2\t1\t2\t0\n\
         *\t2026-11-02\tzwembad\t1\t0\t1\t0\n\
         armoede\t2026-11-02\tkwijtschelding\t2\t1\t2\t0\n\
         schulden\t2026-10-05\tschuldhulp\t4\t1\t4\t0\n\
         schulden/hulp\t2026-10-05\tschuldhulp\t4\t1\t4\t0\n"
    );
    scratch.cleanup().await;
}

#[tokio::test]
async fn migration_13_counts_the_events_stored_before_it_and_bounds_their_offsets() {
    let scratch = Scratch::new("proc_counts_backfill");
    let db = &scratch.database;
    let store = migrated(db).await;
    // site_daily and theme_daily as migrations 1 and 3 made them (migration 14 dropped
    // them), with a day whose raw events are gone (2026-10-05) and one that still has
    // them (2026-11-02, where the raw events are counted instead).
    for (version, table) in [(1, "site_daily"), (3, "theme_daily")] {
        let create = luister_store::migrations::MIGRATIONS
            .iter()
            .filter(|m| m.version == version)
            .flat_map(|m| m.statements())
            .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table}")))
            .unwrap();
        store.client().query(&create).execute().await.unwrap();
    }
    for sql in [
        format!(
            "INSERT INTO {db}.site_daily VALUES ('demo', '2026-10-05', 'pageview', 40), \
             ('demo', '2026-10-05', 'pageview', 2), ('demo', '2026-11-02', 'pageview', 999)"
        ),
        format!(
            "INSERT INTO {db}.theme_daily (site, day, theme, type, events) VALUES \
             ('demo', '2026-10-05', 'schulden', 'pageview', 12), ('demo', '2026-11-02', 'schulden', 'pageview', 999)"
        ),
        format!(
            "INSERT INTO {db}.events (site, day, ts, type, visitor, themes, kafka_topic, kafka_partition, kafka_offset) VALUES \
             ('demo', '2026-11-02', '2026-11-02 10:00:00', 'pageview', 'a', ['schulden/beslag', 'schulden'], 't', 0, 7), \
             ('demo', '2026-11-02', '2026-11-02 10:01:00', 'search', 'b', [], 't', 0, 9), \
             ('demo', '2026-11-02', '2026-11-02 10:02:00', 'pageview', 'c', [], 't', 2, 4)"
        ),
    ] {
        luister_testkit::clickhouse(&sql).await.unwrap();
    }
    migrate_again(db, 13).await;
    migrate_again(db, 13).await;
    let rows = luister_testkit::clickhouse(&format!(
        "SELECT theme, day, type, events FROM {db}.event_counts_daily \
         WHERE (site, day, version) IN (SELECT site, day, max(version) FROM {db}.event_counts_daily GROUP BY site, day) \
         ORDER BY theme, day, type FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        rows,
        "\t2026-11-02\tpageview\t1\n\
         \t2026-11-02\tsearch\t1\n\
         *\t2026-10-05\tpageview\t42\n\
         *\t2026-11-02\tpageview\t2\n\
         *\t2026-11-02\tsearch\t1\n\
         schulden\t2026-10-05\tpageview\t12\n\
         schulden\t2026-11-02\tpageview\t1\n\
         schulden/beslag\t2026-11-02\tpageview\t1\n"
    );
    let bounds = luister_testkit::clickhouse(&format!(
        "SELECT topic, partition, max(max_offset) FROM {db}.kafka_offsets GROUP BY topic, partition ORDER BY partition FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(bounds, "t\t0\t9\nt\t2\t4\n");
    let views = luister_testkit::clickhouse(&format!(
        "SELECT count() FROM system.tables WHERE database = '{db}' AND name IN \
         ('kafka_offsets_mv', 'site_daily_mv', 'theme_daily_mv') FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        views.trim(),
        "0",
        "no view writes beside the processor any more"
    );
    scratch.cleanup().await;
}

/// After a processor was stopped for days (or old events were imported), the settled
/// days whose counts are older than their newest events are rewritten at the next
/// start, and only those: a day whose counts are current keeps its version.
#[tokio::test]
async fn settling_rewrites_the_days_whose_counts_are_older_than_their_events() {
    let scratch = Scratch::new("proc_settle_stale");
    let db = &scratch.database;
    let store = migrated(db).await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.events (site, day, ts, type, visitor, themes, kafka_topic, kafka_partition, kafka_offset, inserted_at) VALUES \
         ('demo', '2026-11-01', '2026-11-01 10:00:00', 'pageview', 'a', ['schulden'], 't', 0, 1, '2026-11-01 10:00:01'), \
         ('demo', '2026-11-02', '2026-11-02 10:00:00', 'pageview', 'a', [], 't', 0, 2, '2026-11-02 10:00:01'), \
         ('demo', '2026-11-03', '2026-11-03 10:00:00', 'pageview', 'a', [], 't', 0, 3, '2026-11-03 10:00:01'), \
         ('demo', '2026-11-03', '2026-11-03 11:00:00', 'search', 'b', [], 't', 0, 4, '2026-11-03 11:00:01'), \
         ('demo', '2026-11-10', '2026-11-10 10:00:00', 'pageview', 'a', [], 't', 0, 5, '2026-11-10 10:00:01'), \
         ('demo', '2026-11-19', '2026-11-19 10:00:00', 'pageview', 'a', [], 't', 0, 6, '2026-11-19 10:00:01')"
    ))
    .await
    .unwrap();
    // 2026-11-02's counts were rewritten after its last event (version: 2026-11-05),
    // 2026-11-10's before a late one arrived (version: 2026-11-10 09:00).
    luister_testkit::clickhouse(&format!(
        "INSERT INTO {db}.event_counts_daily VALUES \
         ('demo', '*', '2026-11-02', 'pageview', 1, 1793836800000), \
         ('demo', '*', '2026-11-10', 'pageview', 7, 1794301200000)"
    ))
    .await
    .unwrap();
    luister_processor::sessions::settle(&store, today)
        .await
        .unwrap();
    let rows = luister_testkit::clickhouse(&format!(
        "SELECT day, type, events, version = 1793836800000 FROM {db}.event_counts_daily \
         WHERE theme = '*' AND (site, day, version) IN \
         (SELECT site, day, max(version) FROM {db}.event_counts_daily GROUP BY site, day) \
         ORDER BY day, type FORMAT TSV"
    ))
    .await
    .unwrap();
    assert_eq!(
        rows,
        "2026-11-01\tpageview\t1\t0\n\
         2026-11-02\tpageview\t1\t1\n\
         2026-11-03\tpageview\t1\t0\n\
         2026-11-03\tsearch\t1\t0\n\
         2026-11-10\tpageview\t1\t0\n",
        "the stale days rewritten, the current one kept, yesterday not settled yet"
    );
    scratch.cleanup().await;
}

/// Forgets that migration `version` was applied to `db` and runs the migrations, as
/// a service starting on a database made before it (or after a crash before the
/// migration was recorded) does.
async fn migrate_again(db: &str, version: u32) {
    for sql in [
        format!("CREATE TABLE {db}.kept AS {db}.schema_migrations"),
        format!(
            "INSERT INTO {db}.kept SELECT * FROM {db}.schema_migrations WHERE version != {version}"
        ),
        format!("DROP TABLE {db}.schema_migrations"),
        format!("RENAME TABLE {db}.kept TO {db}.schema_migrations"),
    ] {
        luister_testkit::clickhouse(&sql).await.unwrap();
    }
    luister_store::migrations::run(&migrated(db).await, &config(db))
        .await
        .unwrap();
}

fn config(db: &str) -> luister_store::ClickHouseConfig {
    luister_store::ClickHouseConfig {
        url: luister_testkit::clickhouse_url(),
        database: db.to_owned(),
        ..luister_store::ClickHouseConfig::default()
    }
}

/// A store on `db`, with every migration applied.
async fn migrated(db: &str) -> luister_store::Store {
    luister_store::Store::connect(&config(db)).await.unwrap()
}

/// The sessionizer's and retention's store runs below the event writes' at
/// ClickHouse's query priority (see `Store::with_priority`).
#[tokio::test]
async fn a_store_with_a_priority_runs_its_queries_at_that_priority() {
    let store = luister_store::Store::unconnected(&config("system"));
    let priority = |s: luister_store::Store| async move {
        s.client()
            .query("SELECT toUInt64(value) FROM system.settings WHERE name = 'priority'")
            .fetch_one::<u64>()
            .await
            .unwrap()
    };
    assert_eq!(priority(store.clone()).await, 0);
    assert_eq!(priority(store.with_priority(1)).await, 1);
    assert_eq!(priority(store.with_priority(5)).await, 5);
}

/// The processor writes RowBinary itself (`EventRow::write_row_binary`): every field
/// lands in its own column, with its value. The same rows are then found by their
/// exact Kafka positions, and the bounds read back as recorded.
#[tokio::test]
async fn every_field_of_a_row_lands_in_its_own_column_and_is_found_by_its_position() {
    use luister_processor::batch::Batch;
    use luister_processor::event_store::{ClickHouseEvents, EventStore};
    use luister_processor::positions::Probe;
    use luister_processor::row::EventRow;
    let scratch = Scratch::new("proc_row_binary");
    let store = migrated(&scratch.database).await;
    let row = EventRow {
        site: "gemeente-x".into(),
        day: 20_420,
        ts: 1_764_300_000,
        ts_milli: 999,
        kind: "search".into(),
        visitor: "00000000000000ab".into(),
        url: "https://www.gemeente.nl/zoeken?q=kwijtschelding".into(),
        path: "/zoeken".into(),
        client_ts: 1_764_299_990,
        referrer: "https://www.google.nl".into(),
        title: "Zoeken – één loket".into(),
        device: "mobile".into(),
        browser: "firefox".into(),
        screen_width: 390,
        language: "nl-NL".into(),
        search_query: "Kwijtschelding ".into(),
        search_results: 0,
        search_category: "regelingen".into(),
        action_name: "contact:phone".into(),
        action_target: "tel:14030".into(),
        action_label: "Contact:Bellen (14 030)".into(),
        content_name: "Banner energietoeslag".into(),
        content_piece: "/img/energie.png".into(),
        content_target: "https://www.gemeente.nl/energietoeslag".into(),
        content_interaction: "click".into(),
        engaged_ms: 4_000_000_000,
        scroll_depth: 100,
        not_found: 1,
        themes: vec!["armoede/kwijtschelding".into(), "armoede".into()],
        channel: "search".into(),
        search_term: "kwijtschelding".into(),
        kafka_topic: "luister.events.v1".into(),
        kafka_partition: 5,
        kafka_offset: 1 << 40,
    };
    let mut other = row.clone();
    other.kafka_offset += 1;
    other.themes.clear();
    other.search_results = -1;
    let events = ClickHouseEvents::new(store.clone());
    let mut batch = Batch::from_rows([&row, &other], &[]);
    let body = batch.body();
    events.insert(batch.rows(), body).await.unwrap();
    let columns: Vec<String> = <EventRow as clickhouse::Row>::COLUMN_NAMES
        .iter()
        .map(|c| match *c {
            "day" => "toUInt16(day) AS day".to_owned(),
            "ts" => "toUInt32(ts) AS ts".to_owned(),
            c => format!("`{c}`"),
        })
        .collect();
    let got: Vec<EventRow> = store
        .client()
        .query(&format!(
            "SELECT {} FROM events ORDER BY kafka_offset",
            columns.join(", ")
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(got, vec![row.clone(), other]);

    let topic = "luister.events.v1";
    let offset = 1i64 << 40;
    let probe = |sites: &[&str], days: &[u16], ranges: &[(i32, i64, i64)]| Probe {
        sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        days: days.to_vec(),
        ranges: ranges.to_vec(),
    };
    let found = events
        .present(
            topic,
            &probe(
                &["gemeente-x", "other"],
                &[20_420, 20_421],
                &[(5, offset - 3, offset + 9), (6, 0, offset)],
            ),
        )
        .await
        .unwrap();
    assert_eq!(found, HashSet::from([(5, offset), (5, offset + 1)]));
    for (sites, days, ranges) in [
        (
            &["gemeente-x"][..],
            &[20_421u16][..],
            &[(5, 0, offset + 9)][..],
        ),
        (&["other"][..], &[20_420][..], &[(5, 0, offset + 9)][..]),
        (
            &["gemeente-x"][..],
            &[20_420][..],
            &[(5, offset + 2, offset + 9)][..],
        ),
        (
            &["gemeente-x"][..],
            &[20_420][..],
            &[(4, 0, offset + 9)][..],
        ),
    ] {
        let none = events
            .present(topic, &probe(sites, days, ranges))
            .await
            .unwrap();
        assert!(none.is_empty(), "{sites:?} {days:?} {ranges:?}: {none:?}");
    }
    assert!(events
        .present(
            "other.topic",
            &probe(&["gemeente-x"], &[20_420], &[(5, 0, offset + 9)])
        )
        .await
        .unwrap()
        .is_empty());

    events
        .raise_bounds(topic, &[(5, offset + 100), (0, 7)])
        .await
        .unwrap();
    events
        .raise_bounds(topic, &[(5, offset + 50)])
        .await
        .unwrap();
    events.raise_bounds("other.topic", &[(5, 1)]).await.unwrap();
    assert_eq!(
        events.bounds(topic).await.unwrap(),
        std::collections::HashMap::from([(5, offset + 100), (0, 7)])
    );
    scratch.cleanup().await;
}
