//! The processor's Prometheus metrics.

use std::collections::HashMap;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::batch::Batch;

/// Messages read from the events topic.
pub const MESSAGES_CONSUMED_TOTAL: &str = "luister_processor_messages_consumed_total";
/// Events ClickHouse acknowledged.
pub const EVENTS_WRITTEN_TOTAL: &str = "luister_processor_events_written_total";
/// Messages skipped because ClickHouse already held them (a replay after a crash).
pub const DUPLICATES_SKIPPED_TOTAL: &str = "luister_processor_duplicates_skipped_total";
/// Messages sent to the dead-letter topic, by reason.
pub const DEAD_LETTERS_TOTAL: &str = "luister_processor_dead_letters_total";
/// Failed ClickHouse writes that were retried.
pub const INSERT_RETRIES_TOTAL: &str = "luister_processor_insert_retries_total";
/// Duration of successful ClickHouse inserts.
pub const INSERT_SECONDS: &str = "luister_processor_insert_seconds";
/// Taxonomy reloads, by outcome (`ok`, `failed`).
pub const TAXONOMY_RELOADS_TOTAL: &str = "luister_processor_taxonomy_reloads_total";
/// Messages behind the end of each partition, from librdkafka's statistics.
pub const CONSUMER_LAG: &str = "luister_processor_consumer_lag";
/// Written events per site, top-level theme and type.
pub const THEME_EVENTS_TOTAL: &str = "luister_processor_theme_events_total";
/// Written zero-result searches per site and top-level theme.
pub const ZERO_RESULT_SEARCHES_TOTAL: &str = "luister_processor_zero_result_searches_total";
/// Written contact actions (`contact:*`) per site and top-level theme.
pub const CONTACTS_TOTAL: &str = "luister_processor_contacts_total";
/// Events per written batch.
pub const BATCH_ROWS: &str = "luister_processor_batch_rows";
/// Gauge: event time (Unix seconds) of the newest written event per site.
pub const NEWEST_EVENT_TIMESTAMP: &str = "luister_processor_newest_event_timestamp_seconds";
/// Sessionizer runs, by outcome (`ok`, `failed`).
pub const SESSIONIZER_RUNS_TOTAL: &str = "luister_processor_sessionizer_runs_total";
/// Duration of sessionizer runs that succeeded.
pub const SESSIONIZER_RUN_SECONDS: &str = "luister_processor_sessionizer_run_seconds";
/// Session rows the sessionizer wrote (new and changed visits, and deletions).
pub const SESSIONS_WRITTEN_TOTAL: &str = "luister_processor_sessions_written_total";
/// Gauge: the visits of every event that reached ClickHouse before this time (Unix
/// seconds) are computed.
pub const SESSIONS_COMPLETE_UNTIL: &str =
    "luister_processor_sessions_complete_until_timestamp_seconds";

/// Handles to the processor's metrics.
#[derive(Clone)]
pub struct ProcessorMetrics {
    /// See [`MESSAGES_CONSUMED_TOTAL`].
    pub consumed: IntCounter,
    /// See [`EVENTS_WRITTEN_TOTAL`].
    pub written: IntCounter,
    /// See [`DUPLICATES_SKIPPED_TOTAL`].
    pub duplicates: IntCounter,
    /// See [`DEAD_LETTERS_TOTAL`].
    pub dead_letters: IntCounterVec,
    /// See [`INSERT_RETRIES_TOTAL`].
    pub retries: IntCounter,
    /// See [`INSERT_SECONDS`].
    pub insert_seconds: Histogram,
    /// See [`BATCH_ROWS`].
    pub batch_rows: Histogram,
    /// See [`TAXONOMY_RELOADS_TOTAL`].
    pub taxonomy_reloads: IntCounterVec,
    /// See [`CONSUMER_LAG`].
    pub lag: IntGaugeVec,
    /// See [`THEME_EVENTS_TOTAL`].
    pub theme_events: IntCounterVec,
    /// See [`ZERO_RESULT_SEARCHES_TOTAL`].
    pub zero_results: IntCounterVec,
    /// See [`CONTACTS_TOTAL`].
    pub contacts: IntCounterVec,
    /// See [`NEWEST_EVENT_TIMESTAMP`].
    pub newest_event: IntGaugeVec,
    /// See [`SESSIONIZER_RUNS_TOTAL`].
    pub sessionizer_runs: IntCounterVec,
    /// See [`SESSIONIZER_RUN_SECONDS`].
    pub sessionizer_seconds: Histogram,
    /// See [`SESSIONS_WRITTEN_TOTAL`].
    pub sessions_written: IntCounter,
    /// See [`SESSIONS_COMPLETE_UNTIL`].
    pub sessions_complete_until: IntGauge,
}

impl ProcessorMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            consumed: IntCounter::new(
                MESSAGES_CONSUMED_TOTAL,
                "Messages read from the events topic.",
            )?,
            written: IntCounter::new(EVENTS_WRITTEN_TOTAL, "Events acknowledged by ClickHouse.")?,
            duplicates: IntCounter::new(
                DUPLICATES_SKIPPED_TOTAL,
                "Messages skipped because ClickHouse already held them.",
            )?,
            dead_letters: IntCounterVec::new(
                Opts::new(
                    DEAD_LETTERS_TOTAL,
                    "Messages sent to the dead-letter topic, by reason.",
                ),
                &["reason"],
            )?,
            retries: IntCounter::new(
                INSERT_RETRIES_TOTAL,
                "Failed ClickHouse writes that were retried.",
            )?,
            insert_seconds: Histogram::with_opts(
                HistogramOpts::new(INSERT_SECONDS, "Duration of successful ClickHouse inserts.")
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ]),
            )?,
            batch_rows: Histogram::with_opts(
                HistogramOpts::new(BATCH_ROWS, "Events per written batch.").buckets(vec![
                    1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0,
                    250000.0, 500000.0,
                ]),
            )?,
            lag: IntGaugeVec::new(
                Opts::new(CONSUMER_LAG, "Messages behind the end of each partition."),
                &["partition"],
            )?,
            theme_events: IntCounterVec::new(
                Opts::new(
                    THEME_EVENTS_TOTAL,
                    "Written events per site, top-level theme and type.",
                ),
                &["site", "theme", "type"],
            )?,
            zero_results: IntCounterVec::new(
                Opts::new(
                    ZERO_RESULT_SEARCHES_TOTAL,
                    "Written zero-result searches per site and top-level theme.",
                ),
                &["site", "theme"],
            )?,
            contacts: IntCounterVec::new(
                Opts::new(
                    CONTACTS_TOTAL,
                    "Written contact actions per site and top-level theme.",
                ),
                &["site", "theme"],
            )?,
            newest_event: IntGaugeVec::new(
                Opts::new(
                    NEWEST_EVENT_TIMESTAMP,
                    "Event time (Unix seconds) of the newest written event per site.",
                ),
                &["site"],
            )?,
            taxonomy_reloads: IntCounterVec::new(
                Opts::new(TAXONOMY_RELOADS_TOTAL, "Taxonomy reloads, by outcome."),
                &["outcome"],
            )?,
            sessionizer_runs: IntCounterVec::new(
                Opts::new(SESSIONIZER_RUNS_TOTAL, "Sessionizer runs, by outcome."),
                &["outcome"],
            )?,
            sessionizer_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    SESSIONIZER_RUN_SECONDS,
                    "Duration of sessionizer runs that succeeded.",
                )
                .buckets(vec![
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ]),
            )?,
            sessions_written: IntCounter::new(
                SESSIONS_WRITTEN_TOTAL,
                "Session rows the sessionizer wrote.",
            )?,
            sessions_complete_until: IntGauge::new(
                SESSIONS_COMPLETE_UNTIL,
                "Visits are computed for every event that reached ClickHouse before this time (Unix seconds).",
            )?,
        };
        registry.register(Box::new(m.sessionizer_runs.clone()))?;
        registry.register(Box::new(m.sessionizer_seconds.clone()))?;
        registry.register(Box::new(m.sessions_written.clone()))?;
        registry.register(Box::new(m.sessions_complete_until.clone()))?;
        registry.register(Box::new(m.taxonomy_reloads.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.theme_events.clone()))?;
        registry.register(Box::new(m.zero_results.clone()))?;
        registry.register(Box::new(m.contacts.clone()))?;
        registry.register(Box::new(m.newest_event.clone()))?;
        registry.register(Box::new(m.consumed.clone()))?;
        registry.register(Box::new(m.written.clone()))?;
        registry.register(Box::new(m.duplicates.clone()))?;
        registry.register(Box::new(m.dead_letters.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.insert_seconds.clone()))?;
        registry.register(Box::new(m.batch_rows.clone()))?;
        Ok(m)
    }
}

impl ProcessorMetrics {
    /// Counts the rows of a written batch per site and top-level theme. Label values
    /// stay bounded: sites not in `metrics.sites` count as `other`, themes are the
    /// taxonomy's top levels (`none` without one), types are the three event types
    /// ([`crate::batch::Labels`]). Each label set is looked up once per batch.
    pub fn count_rows(&self, batch: &Batch) {
        let labels = batch.labels();
        let mut counts = vec![0u64; labels.len()];
        let mut newest: HashMap<&str, u32> = HashMap::new();
        for r in batch.rows() {
            counts[r.labels as usize] += 1;
            let ts = newest.entry(&labels[r.labels as usize].site).or_default();
            *ts = (*ts).max(r.ts);
        }
        for (site, ts) in newest {
            let gauge = self.newest_event.with_label_values(&[site]);
            if i64::from(ts) > gauge.get() {
                gauge.set(i64::from(ts));
            }
        }
        for (l, n) in labels.iter().zip(counts).filter(|(_, n)| *n > 0) {
            for theme in &l.themes {
                self.theme_events
                    .with_label_values(&[&l.site, theme, &l.kind])
                    .inc_by(n);
                if l.zero_result {
                    self.zero_results
                        .with_label_values(&[&l.site, theme])
                        .inc_by(n);
                }
                if l.contact {
                    self.contacts.with_label_values(&[&l.site, theme]).inc_by(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::EventRow;

    #[test]
    fn rows_are_counted_per_site_and_top_level_theme_with_bounded_labels() {
        let m = ProcessorMetrics::new(&Registry::new()).unwrap();
        let mut row = EventRow {
            site: "demo".into(),
            day: 0,
            ts: 1_764_000_000,
            kind: "search".into(),
            visitor: String::new(),
            url: String::new(),
            path: String::new(),
            client_ts: 0,
            referrer: String::new(),
            title: String::new(),
            device: String::new(),
            browser: String::new(),
            screen_width: 0,
            language: String::new(),
            search_query: "x".into(),
            search_results: 0,
            search_category: String::new(),
            action_name: String::new(),
            action_target: String::new(),
            themes: vec![
                "schulden/beslag".into(),
                "schulden".into(),
                "armoede".into(),
            ],
            channel: "direct".into(),
            search_term: "x".into(),
            kafka_topic: String::new(),
            kafka_partition: 0,
            kafka_offset: 0,
            ..EventRow::default()
        };
        let sites = vec!["demo".to_owned()];
        m.count_rows(&Batch::from_rows([&row], &sites));
        row.ts -= 3600; // an older event does not move the newest back
        m.count_rows(&Batch::from_rows([&row], &sites));
        assert_eq!(
            m.newest_event.with_label_values(&["demo"]).get(),
            1_764_000_000
        );
        assert_eq!(
            m.theme_events
                .with_label_values(&["demo", "schulden", "search"])
                .get(),
            2
        );
        assert_eq!(
            m.theme_events
                .with_label_values(&["demo", "armoede", "search"])
                .get(),
            2
        );
        assert_eq!(
            m.zero_results
                .with_label_values(&["demo", "schulden"])
                .get(),
            2
        );
        row.site = "unlisted".into();
        row.kind = "action".into();
        row.action_name = "contact:phone".into();
        row.themes.clear();
        m.count_rows(&Batch::from_rows([&row], &sites));
        assert_eq!(m.contacts.with_label_values(&["other", "none"]).get(), 1);
        // A batch counts each of its rows.
        m.count_rows(&Batch::from_rows([&row, &row, &row], &sites));
        assert_eq!(m.contacts.with_label_values(&["other", "none"]).get(), 4);
        assert_eq!(
            m.theme_events
                .with_label_values(&["other", "none", "action"])
                .get(),
            4
        );
    }
}
