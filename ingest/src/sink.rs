//! Where accepted events go: the [`EventSink`] trait, with [`KafkaSink`] for the real
//! broker. Routes only see the trait, so they can be unit-tested with an in-memory sink.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

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
    producer: FutureProducer,
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
        let producer: FutureProducer = kafka
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
            .create()?;
        Ok(Self {
            producer,
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

impl EventSink for KafkaSink {
    fn send_all(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            let start = Instant::now();
            // Every message is queued first (librdkafka copies it), then all are awaited
            // together: one request's events travel in the same produce batches, and no
            // task is spawned per event. A full local queue is answered with 503 at once.
            let mut deliveries = Vec::with_capacity(messages.len());
            let mut failure = None;
            for (key, payload) in &messages {
                let record = FutureRecord::to(&self.topic).key(key).payload(payload);
                match self.producer.send_result(record) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err((e, _)) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            drop(messages);
            self.metrics
                .queue
                .set(i64::from(self.producer.in_flight_count()));
            if failure.is_none() {
                for delivery in deliveries {
                    match delivery.await {
                        Ok(Ok(_)) => self.metrics.delivery.observe(start.elapsed().as_secs_f64()),
                        Ok(Err((e, _))) => {
                            failure = Some(e);
                            break;
                        }
                        Err(_canceled) => {
                            failure = Some(KafkaError::Canceled);
                            break;
                        }
                    }
                }
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
