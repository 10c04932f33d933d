//! The daily visitor salt, shared by every collector replica through Kafka and
//! destroyed when its day is over.
//!
//! The salt topic (`kafka.salt_topic`, one partition) holds records keyed by the UTC
//! day number with 32 random bytes as value. For a day, every replica uses the *first*
//! record of that day in the partition: a replica that finds none writes one and reads
//! again, so replicas racing at midnight still agree. Shortly before midnight the next
//! day's salt is prepared; after midnight all records before the current day's first
//! record are deleted with the Kafka DeleteRecords API (they become unreadable at once
//! and the broker removes the segment files within minutes). The topic is also created
//! with `retention.ms` = 48 h as a backstop. In memory, a replica keeps only the salts
//! of today and tomorrow.
//!
//! Anyone who can read the salt topic can link today's visitor keys to IP addresses
//! and user agents: restrict it to the collectors with ACLs in production.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use luister_service::kafka::{ensure_topic_specs, KafkaConfig, TopicSpec};

/// Milliseconds per day.
pub const DAY_MS: i64 = 86_400_000;

/// The day number (days since 1970-01-01, UTC) of a timestamp.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Reads, creates and destroys salts in the salt topic.
pub struct KafkaSalts {
    config: KafkaConfig,
    producer: FutureProducer,
}

/// A salt record as read from the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    offset: i64,
    salt: [u8; 32],
}

impl KafkaSalts {
    /// Creates the producer (connects lazily).
    pub fn new(config: &KafkaConfig) -> Result<Self, String> {
        let producer = config
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()
            .map_err(|e| format!("cannot create the salt producer: {e}"))?;
        Ok(Self {
            config: config.clone(),
            producer,
        })
    }

    /// Creates the salt topic when missing.
    pub async fn ensure_topic(&self) -> Result<(), String> {
        ensure_topic_specs(
            &self.config,
            &[TopicSpec {
                name: &self.config.salt_topic,
                partitions: 1,
                settings: &[
                    ("cleanup.policy", "delete"),
                    ("retention.ms", "172800000"),
                    ("segment.ms", "3600000"),
                ],
            }],
        )
        .await
    }

    /// The salt of `day`: the first one in the topic, written now when there is none.
    pub async fn salt_for(&self, day: i64) -> Result<[u8; 32], String> {
        if let Some(found) = self.first_for(day).await? {
            return Ok(found.salt);
        }
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| format!("no operating-system randomness: {e}"))?;
        let key = day.to_string();
        self.producer
            .send(
                FutureRecord::to(&self.config.salt_topic)
                    .key(&key)
                    .payload(&fresh[..]),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| format!("cannot write the salt of day {day}: {e}"))?;
        // Another replica may have written first: everyone takes the first record.
        self.first_for(day)
            .await?
            .map(|f| f.salt)
            .ok_or_else(|| format!("the salt of day {day} was written but cannot be read back"))
    }

    /// Deletes every record before the first salt of `day`.
    pub async fn destroy_before(&self, day: i64) -> Result<(), String> {
        let Some(found) = self.first_for(day).await? else {
            return Ok(());
        };
        if found.offset == 0 {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .config
            .client_config()
            .create()
            .map_err(|e| format!("cannot create Kafka admin client: {e}"))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.config.salt_topic, 0, Offset::Offset(found.offset))
            .map_err(|e| e.to_string())?;
        let result = admin
            .delete_records(
                &tpl,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .map_err(|e| format!("deleting old salts failed: {e}"))?;
        for el in result.elements() {
            if let Err(e) = el.error() {
                return Err(format!("deleting old salts failed: {e}"));
            }
        }
        Ok(())
    }

    /// The first record of `day` still in the topic.
    async fn first_for(&self, day: i64) -> Result<Option<Found>, String> {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || read_first(&config, day))
            .await
            .map_err(|e| format!("salt reader failed: {e}"))?
    }
}

fn read_first(config: &KafkaConfig, day: i64) -> Result<Option<Found>, String> {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "luister-ingest-salt-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| format!("cannot create the salt reader: {e}"))?;
    let topic = config.salt_topic.as_str();
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .map_err(|e| format!("cannot read the salt topic {topic}: {e}"))?;
    if high <= low {
        return Ok(None);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .map_err(|e| e.to_string())?;
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let want = day.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if std::time::Instant::now() > deadline {
            return Err(format!("timed out reading the salt topic {topic}"));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.map_err(|e| format!("reading the salt topic failed: {e}"))?;
        if msg.key() == Some(want.as_bytes()) {
            if let Some(salt) = msg.payload().and_then(|p| <[u8; 32]>::try_from(p).ok()) {
                return Ok(Some(Found {
                    offset: msg.offset(),
                    salt,
                }));
            }
        }
        if msg.offset() + 1 >= high {
            return Ok(None);
        }
    }
}
