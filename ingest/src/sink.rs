//! Where accepted events go: the [`EventSink`] trait, with [`KafkaSink`] for the real
//! broker. Routes only see the trait, so they can be unit-tested with an in-memory sink.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Partitioner, Producer, ProducerContext, ThreadedProducer,
    PARTITION_UA,
};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

use luister_service::kafka::KafkaConfig;

use crate::config::{Partitioning, ProducerConfig};
use crate::metrics::IngestMetrics;

/// A boxed future, so the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an event could not be handed over.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// The broker or the local queue cannot take events now; retrying later helps.
    #[error("{0}")]
    Unavailable(String),
}

/// One message for the broker: the visitor key and the event's JSON.
pub type Message = (String, Vec<u8>);

/// Takes events keyed by visitor key; `send_all` resolves once every one is durable.
pub trait EventSink: Send + Sync + 'static {
    /// Hands over the messages of one request and waits until the broker acknowledged
    /// each of them. Fails if any one was not handed over or not acknowledged.
    fn send_all(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Checks that the destination is reachable (for `/readyz`).
    fn check(&self) -> BoxFuture<'_, Result<(), SinkError>>;
    /// Hands a refusal record (see [`crate::refusals`]) to the refusals topic without
    /// waiting for it: a diagnostic, which never delays or fails a tracker's answer.
    fn send_refusal(&self, message: Message);
}

/// The Kafka producer: idempotent, `acks=all`, compressed, partitioned as
/// `producer.partitioning` says.
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<Acknowledgements, StickyPartitioner>>,
    topic: String,
    refusals_topic: String,
    metrics: IngestMetrics,
    /// The longest a request waits for its acknowledgements.
    deadline: Duration,
}

/// How long librdkafka may try to deliver a message, for a request that waits at most
/// `delivery_timeout_ms`: a second less, as it checks for timed-out messages once a
/// second (half the time for timeouts under two seconds).
pub fn librdkafka_timeout_ms(delivery_timeout_ms: u64) -> u64 {
    delivery_timeout_ms
        .saturating_sub(1000)
        .max(delivery_timeout_ms / 2)
        .max(1)
}

/// librdkafka settings of the producer that `kafka.properties` may replace. A broker
/// that went away is tried again at most every half second rather than librdkafka's
/// ten: a message's timeout is only noticed when its broker's thread wakes, so with
/// the default a request waited up to ten seconds for its 503, and the first events
/// after the broker's return waited for the next attempt too.
const PRODUCER_TUNING: [(&str, &str); 1] = [("reconnect.backoff.max.ms", "500")];

impl KafkaSink {
    /// Creates the producer (it connects lazily).
    pub fn new(
        kafka: &KafkaConfig,
        producer: &ProducerConfig,
        metrics: IngestMetrics,
    ) -> Result<Self, KafkaError> {
        let sticky = match producer.partitioning {
            Partitioning::Sticky => Some(StickyPartitioner::new(Duration::from_millis(
                (2 * producer.linger_ms).max(STICKY_WINDOW_MS),
            ))),
            Partitioning::Visitor => None,
        };
        let deadline = Duration::from_millis(producer.delivery_timeout_ms);
        let producer: ThreadedProducer<Acknowledgements, StickyPartitioner> = kafka
            .client_config_with(&PRODUCER_TUNING)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &producer.compression)
            .set("linger.ms", producer.linger_ms.to_string())
            .set(
                "message.timeout.ms",
                librdkafka_timeout_ms(producer.delivery_timeout_ms).to_string(),
            )
            .set(
                "queue.buffering.max.messages",
                producer.queue_max_messages.to_string(),
            )
            .create_with_context(Acknowledgements {
                metrics: metrics.clone(),
                sticky,
            })?;
        Ok(Self {
            producer: Arc::new(producer),
            topic: kafka.topic.clone(),
            refusals_topic: kafka.refusals_topic.clone(),
            metrics,
            deadline,
        })
    }

    /// Waits up to `timeout` for queued messages to be delivered (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::error!(error = %e, in_flight = self.producer.in_flight_count(), "flushing the producer failed");
        }
    }
}

/// Settles each request once librdkafka has reported on all its messages (it reports
/// every message once: acknowledged, or failed after `message.timeout.ms`). One
/// report counter per request, not a future per message: on batches the per-message
/// futures were a twentieth of the collector's CPU.
pub struct Acknowledgements {
    metrics: IngestMetrics,
    /// The partitioner with `producer.partitioning = "sticky"`; without it librdkafka
    /// partitions by key.
    sticky: Option<StickyPartitioner>,
}

impl ClientContext for Acknowledgements {}

impl ProducerContext<StickyPartitioner> for Acknowledgements {
    type DeliveryOpaque = Arc<Pending>;

    fn get_custom_partitioner(&self) -> Option<&StickyPartitioner> {
        self.sticky.as_ref()
    }

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        match result {
            Ok(_) => {
                if let Some(start) = pending.start {
                    self.metrics.delivery.observe(start.elapsed().as_secs_f64());
                }
                pending.report(None);
            }
            Err((e, _)) => pending.report(Some(e.clone())),
        }
    }
}

/// The shortest time events stay with one partition (librdkafka's own
/// `sticky.partitioning.linger.ms` for messages without a key).
const STICKY_WINDOW_MS: u64 = 10;

/// `producer.partitioning = "sticky"`: the messages of one window of time go to one
/// partition, the next window's to the next available one, so the partitions take
/// turns. Each process starts at a random partition, so collector replicas do not
/// move in step.
pub struct StickyPartitioner {
    start: Instant,
    window_ms: u64,
    first: u64,
}

impl StickyPartitioner {
    fn new(window: Duration) -> Self {
        let mut seed = [0u8; 4];
        // Without randomness every replica starts at partition 0: still correct.
        let _ = getrandom::fill(&mut seed);
        Self::starting_at(window, u32::from_le_bytes(seed))
    }

    fn starting_at(window: Duration, first: u32) -> Self {
        Self {
            start: Instant::now(),
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            first: u64::from(first),
        }
    }

    fn partition_at(
        &self,
        elapsed: Duration,
        partitions: i32,
        is_available: impl Fn(i32) -> bool,
    ) -> i32 {
        let Ok(n) = u64::try_from(partitions) else {
            return PARTITION_UA;
        };
        if n == 0 {
            return PARTITION_UA;
        }
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let slot = self.first + elapsed_ms / self.window_ms % n;
        let nth = |i: u64| i32::try_from((slot + i) % n).unwrap_or(0);
        // A partition without a leader is skipped; if none has one, librdkafka keeps
        // the message queued for the window's partition until it has one or times out.
        (0..n)
            .map(nth)
            .find(|&p| is_available(p))
            .unwrap_or_else(|| nth(0))
    }
}

impl Partitioner for StickyPartitioner {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        partition_cnt: i32,
        is_partition_available: impl Fn(i32) -> bool,
    ) -> i32 {
        self.partition_at(self.start.elapsed(), partition_cnt, is_partition_available)
    }
}

/// The messages of one request still waiting for their report.
pub struct Pending {
    /// When the request's messages were queued; `None` for a refusal record, which
    /// nobody waits for and the delivery histogram does not time.
    start: Option<Instant>,
    state: Mutex<PendingState>,
}

struct PendingState {
    remaining: usize,
    /// Taken by the first failure or the last acknowledgement.
    waiter: Option<oneshot::Sender<Option<KafkaError>>>,
}

impl Pending {
    fn new(messages: usize) -> (Arc<Self>, oneshot::Receiver<Option<KafkaError>>) {
        let (waiter, settled) = oneshot::channel();
        let pending = Arc::new(Self {
            start: Some(Instant::now()),
            state: Mutex::new(PendingState {
                remaining: messages,
                waiter: Some(waiter),
            }),
        });
        (pending, settled)
    }

    /// A diagnostic message nobody waits for (see [`EventSink::send_refusal`]).
    fn unwatched() -> Arc<Self> {
        Arc::new(Self {
            start: None,
            state: Mutex::new(PendingState {
                remaining: 1,
                waiter: None,
            }),
        })
    }

    /// One message's report: the first failure settles the request at once, otherwise
    /// the last acknowledgement does.
    fn report(&self, failure: Option<KafkaError>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.remaining = state.remaining.saturating_sub(1);
        if failure.is_some() || state.remaining == 0 {
            if let Some(waiter) = state.waiter.take() {
                // The request may have given up already (its answer was sent).
                let _ = waiter.send(failure);
            }
        }
    }
}

impl EventSink for KafkaSink {
    fn send_all(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if messages.is_empty() {
                return Ok(());
            }
            // Every message is queued first (librdkafka copies it), then the request
            // waits once for all of their reports: one request's events travel in the
            // same produce batches. A full local queue is answered with 503 at once.
            let (pending, settled) = Pending::new(messages.len());
            let mut failure = None;
            for (key, payload) in &messages {
                let record = BaseRecord::with_opaque_to(&self.topic, pending.clone())
                    .key(key)
                    .payload(payload);
                if let Err((e, _)) = self.producer.send(record) {
                    failure = Some(e);
                    break;
                }
            }
            drop(messages);
            self.metrics
                .queue
                .set(i64::from(self.producer.in_flight_count()));
            if failure.is_none() {
                failure = match tokio::time::timeout(self.deadline, settled).await {
                    Ok(report) => report.unwrap_or(Some(KafkaError::Canceled)),
                    // librdkafka gives up a second earlier, so this is a safety net: the
                    // client is told to retry, and should the broker still store the
                    // event it is the at-least-once edge of docs/delivery-guarantees.md.
                    Err(_) => {
                        tracing::warn!(
                            timeout_ms = self.deadline.as_millis() as u64,
                            "no delivery report within producer.delivery_timeout_ms"
                        );
                        Some(KafkaError::MessageProduction(
                            RDKafkaErrorCode::MessageTimedOut,
                        ))
                    }
                };
            }
            match failure {
                None => Ok(()),
                Some(e) => {
                    tracing::warn!(error = %e, topic = %self.topic, "event not delivered");
                    Err(SinkError::Unavailable(describe(&e)))
                }
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let producer = self.producer.clone();
            let topic = self.topic.clone();
            let result = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(2))
                    .map_err(|e| SinkError::Unavailable(format!("broker unreachable: {e}")))
                    .and_then(|md| match md.topics().first() {
                        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                        _ => Err(SinkError::Unavailable(format!(
                            "topic {topic} does not exist yet"
                        ))),
                    })
            })
            .await
            .unwrap_or_else(|e| {
                Err(SinkError::Unavailable(format!(
                    "readiness check failed: {e}"
                )))
            });
            self.metrics.broker_up.set(i64::from(result.is_ok()));
            result
        })
    }

    fn send_refusal(&self, (key, payload): Message) {
        let record = BaseRecord::with_opaque_to(&self.refusals_topic, Pending::unwatched())
            .key(&key)
            .payload(&payload);
        if let Err((e, _)) = self.producer.send(record) {
            tracing::debug!(error = %e, "refusal record not queued");
        }
    }
}

fn describe(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => "the collector's send queue is full".into(),
        Some(RDKafkaErrorCode::MessageTimedOut) => "the broker did not acknowledge in time".into(),
        _ => "the broker is unavailable".into(),
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory sink for unit tests of the routes.

    use std::sync::Mutex;

    use super::*;

    /// Keeps what it is sent; fails every send while `down` is set.
    #[derive(Default)]
    pub struct MemorySink {
        pub sent: Mutex<Vec<(String, Vec<u8>)>>,
        pub refusals: Mutex<Vec<(String, Vec<u8>)>>,
        pub down: std::sync::atomic::AtomicBool,
    }

    impl EventSink for MemorySink {
        fn send_all(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async move {
                if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(SinkError::Unavailable("the broker is unavailable".into()));
                }
                self.sent.lock().unwrap().extend(messages);
                Ok(())
            })
        }
        fn check(&self) -> BoxFuture<'_, Result<(), SinkError>> {
            Box::pin(async move { Ok(()) })
        }
        fn send_refusal(&self, message: Message) {
            self.refusals.lock().unwrap().push(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn sticky_partitions_take_turns_one_window_each() {
        let sticky = StickyPartitioner::starting_at(MS(10), 4);
        let at = |ms| sticky.partition_at(MS(ms), 6, |_| true);
        // Every event of one window goes to one partition, starting at 4 (mod 6).
        assert_eq!([at(0), at(5), at(9)], [4, 4, 4]);
        // Each next window to the next partition, round all of them.
        let turns: Vec<i32> = (0..7).map(|w| at(10 * w + 3)).collect();
        assert_eq!(turns, [4, 5, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn sticky_partitions_skip_those_without_a_leader() {
        let sticky = StickyPartitioner::starting_at(MS(10), 0);
        let without_1_and_2 = |p| p != 1 && p != 2;
        let turns: Vec<i32> = (0..4)
            .map(|w| sticky.partition_at(MS(10 * w), 4, without_1_and_2))
            .collect();
        assert_eq!(turns, [0, 3, 3, 3]);
        // With none available the message waits for the window's own partition.
        assert_eq!(sticky.partition_at(MS(25), 4, |_| false), 2);
    }

    #[test]
    fn sticky_partitioning_without_partitions_leaves_it_to_librdkafka() {
        let sticky = StickyPartitioner::starting_at(MS(10), 0);
        assert_eq!(sticky.partition_at(MS(0), 0, |_| true), PARTITION_UA);
        assert_eq!(sticky.partition_at(MS(0), -3, |_| true), PARTITION_UA);
    }

    #[test]
    fn a_request_is_settled_by_its_last_acknowledgement() {
        let (pending, mut settled) = Pending::new(3);
        pending.report(None);
        pending.report(None);
        assert!(settled.try_recv().is_err(), "one message still out");
        pending.report(None);
        assert_eq!(settled.try_recv().unwrap(), None);
    }

    #[test]
    fn the_first_failure_settles_a_request_at_once() {
        let (pending, mut settled) = Pending::new(3);
        pending.report(None);
        pending.report(Some(KafkaError::Canceled));
        assert_eq!(settled.try_recv().unwrap(), Some(KafkaError::Canceled));
        pending.report(None); // the last report finds the request answered already
    }

    #[test]
    fn a_request_that_gave_up_does_not_trouble_later_reports() {
        let (pending, settled) = Pending::new(2);
        drop(settled);
        pending.report(None);
        pending.report(None);
    }
}
