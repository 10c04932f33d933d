//! Where accepted events go: the [`EventSink`] trait, with [`KafkaSink`] for the real
//! broker. Routes only see the trait, so they can be unit-tested with an in-memory sink.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

use luister_service::kafka::KafkaConfig;

use crate::config::ProducerConfig;
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
}

/// The Kafka producer: idempotent, `acks=all`, compressed.
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<Acknowledgements>>,
    topic: String,
    metrics: IngestMetrics,
}

impl KafkaSink {
    /// Creates the producer (it connects lazily).
    pub fn new(
        kafka: &KafkaConfig,
        producer: &ProducerConfig,
        metrics: IngestMetrics,
    ) -> Result<Self, KafkaError> {
        let producer: ThreadedProducer<Acknowledgements> = kafka
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &producer.compression)
            .set("linger.ms", producer.linger_ms.to_string())
            .set(
                "message.timeout.ms",
                producer.delivery_timeout_ms.to_string(),
            )
            .set(
                "queue.buffering.max.messages",
                producer.queue_max_messages.to_string(),
            )
            .create_with_context(Acknowledgements {
                metrics: metrics.clone(),
            })?;
        Ok(Self {
            producer: Arc::new(producer),
            topic: kafka.topic.clone(),
            metrics,
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
}

impl ClientContext for Acknowledgements {}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        match result {
            Ok(_) => {
                self.metrics
                    .delivery
                    .observe(pending.start.elapsed().as_secs_f64());
                pending.report(None);
            }
            Err((e, _)) => pending.report(Some(e.clone())),
        }
    }
}

/// The messages of one request still waiting for their report.
pub struct Pending {
    start: Instant,
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
            start: Instant::now(),
            state: Mutex::new(PendingState {
                remaining: messages,
                waiter: Some(waiter),
            }),
        });
        (pending, settled)
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
                failure = settled.await.unwrap_or(Some(KafkaError::Canceled));
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
