//! The processor's Prometheus metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

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
/// Events per written batch.
pub const BATCH_ROWS: &str = "luister_processor_batch_rows";

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
                ]),
            )?,
            taxonomy_reloads: IntCounterVec::new(
                Opts::new(TAXONOMY_RELOADS_TOTAL, "Taxonomy reloads, by outcome."),
                &["outcome"],
            )?,
        };
        registry.register(Box::new(m.taxonomy_reloads.clone()))?;
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
