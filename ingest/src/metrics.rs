//! The collector's Prometheus metrics, registered in the service's own registry.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Events handed to the broker and acknowledged, by type.
pub const EVENTS_ACCEPTED_TOTAL: &str = "luister_ingest_events_accepted_total";
/// Events refused, by reason.
pub const EVENTS_REJECTED_TOTAL: &str = "luister_ingest_events_rejected_total";
/// Events answered but not forwarded (bots, prefetches, Do-Not-Track), by reason.
pub const EVENTS_IGNORED_TOTAL: &str = "luister_ingest_events_ignored_total";
/// Time from handing an event to the producer until the broker acknowledged it.
pub const DELIVERY_SECONDS: &str = "luister_ingest_delivery_seconds";
/// Messages in the producer's local queue, not yet acknowledged.
pub const PRODUCER_QUEUE_MESSAGES: &str = "luister_ingest_producer_queue_messages";
/// 1 when the broker answered the last readiness check, else 0.
pub const BROKER_UP: &str = "luister_ingest_broker_up";
/// Records in the salt topic that no collector sealed (planted, or sealed with another
/// key), skipped.
pub const SALT_RECORDS_REJECTED_TOTAL: &str = "luister_ingest_salt_records_rejected_total";

/// Handles to the collector's metrics.
#[derive(Clone)]
pub struct IngestMetrics {
    /// See [`EVENTS_ACCEPTED_TOTAL`].
    pub accepted: IntCounterVec,
    /// See [`EVENTS_REJECTED_TOTAL`].
    pub rejected: IntCounterVec,
    /// See [`EVENTS_IGNORED_TOTAL`].
    pub ignored: IntCounterVec,
    /// See [`DELIVERY_SECONDS`].
    pub delivery: Histogram,
    /// See [`PRODUCER_QUEUE_MESSAGES`].
    pub queue: IntGauge,
    /// See [`BROKER_UP`].
    pub broker_up: IntGauge,
    /// See [`SALT_RECORDS_REJECTED_TOTAL`].
    pub salt_rejected: IntCounter,
}

impl IngestMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let accepted = IntCounterVec::new(
            Opts::new(
                EVENTS_ACCEPTED_TOTAL,
                "Events acknowledged by the broker, by type.",
            ),
            &["type"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                EVENTS_REJECTED_TOTAL,
                "Events refused by the collector, by reason.",
            ),
            &["reason"],
        )?;
        let ignored = IntCounterVec::new(
            Opts::new(
                EVENTS_IGNORED_TOTAL,
                "Events answered but not forwarded, by reason.",
            ),
            &["reason"],
        )?;
        let delivery = Histogram::with_opts(
            HistogramOpts::new(
                DELIVERY_SECONDS,
                "Time until the broker acknowledged an event.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        let queue = IntGauge::new(
            PRODUCER_QUEUE_MESSAGES,
            "Messages waiting in the producer queue.",
        )?;
        let broker_up = IntGauge::new(
            BROKER_UP,
            "1 when the broker answered the last readiness check.",
        )?;
        let salt_rejected = IntCounter::new(
            SALT_RECORDS_REJECTED_TOTAL,
            "Records in the salt topic that no collector sealed, skipped.",
        )?;
        registry.register(Box::new(salt_rejected.clone()))?;
        registry.register(Box::new(accepted.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(ignored.clone()))?;
        registry.register(Box::new(delivery.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(broker_up.clone()))?;
        Ok(Self {
            accepted,
            rejected,
            ignored,
            delivery,
            queue,
            broker_up,
            salt_rejected,
        })
    }
}
