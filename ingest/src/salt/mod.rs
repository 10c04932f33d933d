//! The daily visitor salt, shared by every collector replica through Kafka and
//! destroyed when its day is over.
//!
//! The salt topic (`kafka.salt_topic`, one partition) holds records keyed by the UTC
//! day number whose value is the day's 32 random bytes sealed with the collectors' own
//! key ([`seal`]): the broker, its disk and any other Kafka client see only ciphertext,
//! and a record no collector sealed is never taken for a salt (it is skipped and
//! counted). For a day, every replica uses the *first* record of that day in the
//! partition that opens with the key: a replica that finds none writes one and reads
//! again, so replicas racing at midnight still agree. Shortly before midnight the next
//! day's salt is prepared; after midnight all records before the current day's first
//! record are deleted with the Kafka DeleteRecords API (they become unreadable at once
//! and the broker removes the segment files within minutes, see docs/privacy.md). The
//! topic is also created with `retention.ms` = 48 h as a backstop. In memory, a replica
//! keeps only the salts of today and tomorrow. The deployments restrict the topic to
//! the collectors with Kafka ACLs as well.

pub mod seal;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use luister_service::kafka::{ensure_topic_specs, Doing, KafkaConfig, KafkaStepError, TopicSpec};

use self::seal::SaltKey;

/// Why a salt could not be read, written or destroyed.
#[derive(Debug, thiserror::Error)]
pub enum SaltError {
    /// A Kafka call failed.
    #[error(transparent)]
    Kafka(#[from] KafkaStepError),
    /// The operating system gave no random bytes.
    #[error("no operating-system randomness: {0}")]
    Randomness(getrandom::Error),
    /// The salt could not be sealed with the key.
    #[error("sealing the salt failed")]
    Seal,
    /// A salt was written but no sealed record of its day can be read.
    #[error("the salt of day {0} was written but cannot be read back")]
    Unreadable(i64),
    /// The topic did not give its records within the time allowed.
    #[error("timed out reading the salt topic {0}")]
    TimedOut(String),
    /// The blocking reader task did not finish.
    #[error("salt reader failed: {0}")]
    Reader(String),
}

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
    key: SaltKey,
    /// Counts records that did not open with the key (`luister_ingest_salt_records_rejected_total`).
    rejected: prometheus::IntCounter,
    /// The offsets of those already counted (the topic is read again and again).
    seen_rejected: Arc<Mutex<HashSet<i64>>>,
}

/// A salt record as read from the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    offset: i64,
    salt: [u8; 32],
}

impl KafkaSalts {
    /// Creates the producer (connects lazily); records are sealed and opened with `key`.
    pub fn new(
        config: &KafkaConfig,
        key: SaltKey,
        rejected: prometheus::IntCounter,
    ) -> Result<Self, SaltError> {
        let producer = config
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()
            .doing("cannot create the salt producer")?;
        Ok(Self {
            config: config.clone(),
            producer,
            key,
            rejected,
            seen_rejected: Arc::default(),
        })
    }

    /// Creates the salt topic when missing.
    pub async fn ensure_topic(&self) -> Result<(), SaltError> {
        ensure_topic_specs(
            &self.config,
            &[TopicSpec {
                name: &self.config.salt_topic,
                partitions: 1,
                settings: &[
                    ("cleanup.policy", "delete"),
                    ("retention.ms", "172800000"),
                    ("segment.ms", "3600000"),
                    // A segment below the deleted records goes at the broker's next
                    // retention check, not a minute after it.
                    ("file.delete.delay.ms", "0"),
                ],
            }],
        )
        .await?;
        Ok(())
    }

    /// The salt of `day`: the first one in the topic, written now when there is none.
    pub async fn salt_for(&self, day: i64) -> Result<[u8; 32], SaltError> {
        if let Some(found) = self.first_for(day).await? {
            return Ok(found.salt);
        }
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(SaltError::Randomness)?;
        let sealed = self.key.seal(&self.config.salt_topic, day, &fresh)?;
        let record_key = day.to_string();
        self.producer
            .send(
                FutureRecord::to(&self.config.salt_topic)
                    .key(&record_key)
                    .payload(&sealed),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .doing(format!("cannot write the salt of day {day}"))?;
        // Another replica may have written first: everyone takes the first record.
        self.first_for(day)
            .await?
            .map(|f| f.salt)
            .ok_or(SaltError::Unreadable(day))
    }

    /// Deletes every record before the first salt of `day`.
    pub async fn destroy_before(&self, day: i64) -> Result<(), SaltError> {
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
            .doing("cannot create Kafka admin client")?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.config.salt_topic, 0, Offset::Offset(found.offset))
            .doing("naming the salts to delete")?;
        let result = admin
            .delete_records(
                &tpl,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .doing("deleting old salts failed")?;
        for el in result.elements() {
            el.error().doing("deleting old salts failed")?;
        }
        Ok(())
    }

    /// The first record of `day` still in the topic that a collector sealed.
    async fn first_for(&self, day: i64) -> Result<Option<Found>, SaltError> {
        let config = self.config.clone();
        let key = self.key.clone();
        let (found, rejected) = tokio::task::spawn_blocking(move || read_first(&config, &key, day))
            .await
            .map_err(|e| SaltError::Reader(e.to_string()))??;
        let mut seen = self.seen_rejected.lock().unwrap_or_else(|p| p.into_inner());
        for offset in rejected {
            if seen.insert(offset) {
                self.rejected.inc();
                tracing::warn!(
                    day,
                    offset,
                    topic = %self.config.salt_topic,
                    "a record in the salt topic was not sealed by a collector; it is never used"
                );
            }
        }
        Ok(found)
    }
}

/// The first record of `day` that opens with `key`, and the offsets of the records of
/// that day before it that did not.
fn read_first(
    config: &KafkaConfig,
    key: &SaltKey,
    day: i64,
) -> Result<(Option<Found>, Vec<i64>), SaltError> {
    let consumer: BaseConsumer = config
        .client_config()
        .set("group.id", "luister-ingest-salt-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .doing("cannot create the salt reader")?;
    let topic = config.salt_topic.as_str();
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .doing(format!("cannot read the salt topic {topic}"))?;
    if high <= low {
        return Ok((None, Vec::new()));
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .doing("naming the salt partition")?;
    consumer
        .assign(&tpl)
        .doing(format!("cannot read the salt topic {topic}"))?;
    let want = day.to_string();
    let mut rejected = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if std::time::Instant::now() > deadline {
            return Err(SaltError::TimedOut(topic.to_owned()));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.doing("reading the salt topic failed")?;
        if msg.key() == Some(want.as_bytes()) {
            match msg.payload().and_then(|p| key.open(topic, day, p)) {
                Some(salt) => {
                    let found = Found {
                        offset: msg.offset(),
                        salt,
                    };
                    return Ok((Some(found), rejected));
                }
                None => rejected.push(msg.offset()),
            }
        }
        if msg.offset() + 1 >= high {
            return Ok((None, rejected));
        }
    }
}
