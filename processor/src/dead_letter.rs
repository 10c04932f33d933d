//! The dead-letter topic: messages the processor cannot use, with the reason in a
//! `luister-error` header and the original topic, partition and offset beside it.
//! Delivery is awaited before the offsets move on; a crash in between may send a dead
//! letter twice, never lose one.

use std::time::Duration;

use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;

use luister_service::kafka::KafkaConfig;

use crate::metrics::ProcessorMetrics;
use crate::row::EventRow;

/// A message the processor cannot use: the message (kept whole for the dead-letter
/// topic), what is wrong with it, and the metric's reason.
pub struct Reject {
    /// The message as read.
    pub message: OwnedMessage,
    /// What is wrong, for the `luister-error` header.
    pub error: String,
    /// The `reason` label of the dead-letter metric.
    pub reason: &'static str,
}

/// One record for the dead-letter topic: the original key and bytes, with what was
/// wrong and where the message came from as headers.
struct Letter<'a> {
    key: Option<&'a [u8]>,
    payload: &'a [u8],
    /// `luister-error`.
    error: &'a str,
    /// `luister-origin`: topic/partition/offset.
    origin: String,
    /// The `reason` label of the dead-letter metric.
    reason: &'static str,
}

/// The dead-letter producer.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    metrics: ProcessorMetrics,
}

impl DeadLetters {
    /// Creates the producer (idempotent, `acks=all`).
    pub fn new(kafka: &KafkaConfig, metrics: ProcessorMetrics) -> anyhow::Result<Self> {
        let producer = kafka
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self {
            producer,
            topic: kafka.dead_letter_topic.clone(),
            metrics,
        })
    }

    /// Sends unusable messages.
    pub async fn send_all(
        &self,
        rejects: &[&Reject],
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        for Reject {
            message: m,
            error,
            reason,
        } in rejects.iter().copied()
        {
            tracing::warn!(
                partition = m.partition(),
                offset = m.offset(),
                error,
                "dead-lettering a message"
            );
            let letter = Letter {
                key: m.key(),
                payload: m.payload().unwrap_or_default(),
                error,
                origin: format!("{}/{}/{}", m.topic(), m.partition(), m.offset()),
                reason,
            };
            self.send(letter, shutdown).await?;
        }
        Ok(())
    }

    /// Sends rows ClickHouse refused, re-encoded as JSON.
    pub async fn send_rows(
        &self,
        rows: &[EventRow],
        error: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        for r in rows {
            let payload = serde_json::to_vec(r)?;
            let letter = Letter {
                key: Some(r.visitor.as_bytes()),
                payload: &payload,
                error,
                origin: format!("{}/{}/{}", r.kafka_topic, r.kafka_partition, r.kafka_offset),
                reason: "clickhouse_refused",
            };
            self.send(letter, shutdown).await?;
        }
        Ok(())
    }

    /// Sends one letter, retrying until the broker has it, and counts it by reason.
    async fn send(
        &self,
        letter: Letter<'_>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let Letter {
            key,
            payload,
            error,
            origin,
            reason,
        } = letter;
        let origin = origin.as_str();
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "luister-error",
                    value: Some(error),
                })
                .insert(Header {
                    key: "luister-origin",
                    value: Some(origin),
                });
            let mut record = FutureRecord::to(&self.topic)
                .payload(payload)
                .headers(headers);
            if let Some(k) = key {
                record = record.key(k);
            }
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => {
                    self.metrics.dead_letters.with_label_values(&[reason]).inc();
                    return Ok(());
                }
                Err((e, _)) => {
                    tracing::warn!(error = %e, topic = %self.topic, "dead letter not delivered; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {},
                        _ = shutdown.wait_for(|stop| *stop) => anyhow::bail!("shutting down before a dead letter was delivered; it is read again at the next start"),
                    }
                }
            }
        }
    }
}
